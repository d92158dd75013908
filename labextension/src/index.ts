/**
 * jupyter-mlops for JupyterLab: the "MLOps" sidebar, cell badges and a status-bar item, per notebook.
 *
 * A model (and its comm link) exists for every open notebook from the moment it opens, so badges and
 * the status item work before the panel is ever shown.
 */
import { JupyterFrontEnd, JupyterFrontEndPlugin } from '@jupyterlab/application';
import { INotebookTracker, NotebookPanel } from '@jupyterlab/notebook';
import { ISettingRegistry } from '@jupyterlab/settingregistry';
import { IStatusBar } from '@jupyterlab/statusbar';
import { Signal } from '@lumino/signaling';

import { showBadges } from './badges';
import { MlopsPanel } from './components/Panel';
import { MlopsStatusItem } from './components/StatusItem';
import { mlopsIcon } from './icon';
import { NotebookModel } from './model';
import { ISettings, PANEL_ID, PLUGIN_ID } from './tokens';

const OPEN_COMMAND = 'jupyter-mlops:open';
const DEFAULTS: ISettings = { defaultMode: 'warn', cellBadges: true };

const plugin: JupyterFrontEndPlugin<void> = {
  id: PLUGIN_ID,
  description: 'Tracked runs, reproducibility verdicts, data, params and metrics of the current notebook.',
  autoStart: true,
  requires: [INotebookTracker],
  optional: [ISettingRegistry, IStatusBar],
  activate: (
    app: JupyterFrontEnd,
    tracker: INotebookTracker,
    registry: ISettingRegistry | null,
    statusBar: IStatusBar | null
  ) => {
    let settings: ISettings = { ...DEFAULTS };
    const models = new Map<NotebookPanel, NotebookModel>();
    const current = () => (tracker.currentWidget ? models.get(tracker.currentWidget) ?? null : null);
    // Fires when the current notebook, or anything the status item shows of it, changes.
    const stateChanged = new Signal<unknown, void>(plugin);

    const panel = new MlopsPanel(() => settings);
    panel.id = PANEL_ID;
    panel.title.icon = mlopsIcon;
    panel.title.caption = 'MLOps: tracked runs of this notebook';
    app.shell.add(panel, 'left', { rank: 650 });

    const badge = (model: NotebookModel) =>
      showBadges(model.panel, settings.cellBadges && model.live ? model.issues : []);

    tracker.widgetAdded.connect((_, notebook) => {
      const model = new NotebookModel(notebook);
      models.set(notebook, model);
      model.changed.connect(() => {
        badge(model);
        if (model === current()) {
          stateChanged.emit();
        }
      });
      notebook.disposed.connect(() => {
        models.delete(notebook);
        model.dispose();
        stateChanged.emit();
      });
      if (tracker.currentWidget === notebook) {
        panel.model = model;
        stateChanged.emit();
      }
    });
    tracker.currentChanged.connect(() => {
      panel.model = current();
      stateChanged.emit();
    });

    app.commands.addCommand(OPEN_COMMAND, {
      label: 'Show the MLOps panel',
      execute: () => app.shell.activateById(PANEL_ID)
    });

    if (statusBar) {
      statusBar.registerStatusItem(PLUGIN_ID + ':status', {
        item: new MlopsStatusItem(current, stateChanged, () => void app.commands.execute(OPEN_COMMAND)),
        align: 'left',
        rank: 4,
        isActive: () => current()?.live != null,
        activeStateChanged: stateChanged
      });
    }

    if (registry) {
      void registry.load(PLUGIN_ID).then(loaded => {
        const apply = () => {
          settings = { ...DEFAULTS, ...(loaded.composite as Partial<ISettings>) };
          models.forEach(badge);
          panel.update();
        };
        loaded.changed.connect(apply);
        apply();
      }).catch(reason => console.warn('jupyter-mlops: settings not loaded, using defaults', reason));
    }
  }
};

export default plugin;
