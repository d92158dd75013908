/**
 * jupyter-mlops for JupyterLab, as five plugins around one token:
 *
 * - `jupyter-mlops:plugin` (the settings' id too) provides `IMlopsTracker`: every open notebook's tracking;
 * - `jupyter-mlops:panel`: the "MLOps" sidebar, restored with the layout, opened by a palette command;
 * - `jupyter-mlops:badges`: the cell badges;
 * - `jupyter-mlops:status`: the status-bar item (in Notebook 7, which has no status bar: in the menu bar,
 *   beside the kernel's status);
 * - `jupyter-mlops:commands`: "start tracking" and "verify" for the current notebook, in the palette.
 *
 * Other extensions can require `IMlopsTracker` (exported from `tokens.ts`) to read the same state. Every
 * plugin activates in JupyterLab and in Notebook 7: what only one of them provides is optional.
 */
import {
  ILayoutRestorer,
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { ICommandPalette } from '@jupyterlab/apputils';
import { INotebookTracker } from '@jupyterlab/notebook';
import { ISettingRegistry } from '@jupyterlab/settingregistry';
import { IStatusBar } from '@jupyterlab/statusbar';
import { ITranslator, nullTranslator, TranslationBundle } from '@jupyterlab/translation';

import { startTracking } from './actions';
import { showBadges } from './badges';
import { MlopsPanel } from './components/Panel';
import { MlopsStatusItem } from './components/StatusItem';
import { mlopsIcon } from './icon';
import { CommandIDs, IMlopsTracker, ISettings, ITrackedNotebook, PANEL_ID, PLUGIN_ID, TRANSLATION_DOMAIN } from './tokens';
import { MlopsTracker } from './tracker';

const PALETTE_CATEGORY = 'MLOps';

function bundle(translator: ITranslator | null): TranslationBundle {
  return (translator ?? nullTranslator).load(TRANSLATION_DOMAIN);
}

const trackerPlugin: JupyterFrontEndPlugin<IMlopsTracker> = {
  id: PLUGIN_ID,
  description: 'The tracked runs and reproducibility verdict of every open notebook, and the settings.',
  autoStart: true,
  requires: [INotebookTracker],
  optional: [ISettingRegistry, ITranslator],
  provides: IMlopsTracker,
  activate: (
    _: JupyterFrontEnd,
    notebooks: INotebookTracker,
    registry: ISettingRegistry | null,
    translator: ITranslator | null
  ): IMlopsTracker => {
    const tracker = new MlopsTracker(notebooks, bundle(translator));
    if (registry) {
      void registry
        .load(PLUGIN_ID)
        .then(loaded => {
          const apply = () => {
            tracker.settings = loaded.composite as unknown as ISettings;
          };
          loaded.changed.connect(apply);
          apply();
        })
        .catch(reason => console.warn('jupyter-mlops: settings not loaded, using defaults', reason));
    }
    return tracker;
  }
};

const panelPlugin: JupyterFrontEndPlugin<void> = {
  id: 'jupyter-mlops:panel',
  description: 'The MLOps sidebar: tracked runs, verdict, data, params, metrics, sessions, Export and Verify.',
  autoStart: true,
  requires: [IMlopsTracker],
  optional: [ILayoutRestorer, ICommandPalette, ITranslator],
  activate: (
    app: JupyterFrontEnd,
    tracker: IMlopsTracker,
    restorer: ILayoutRestorer | null,
    palette: ICommandPalette | null,
    translator: ITranslator | null
  ) => {
    const trans = bundle(translator);
    const panel = new MlopsPanel(tracker, trans);
    panel.id = PANEL_ID;
    panel.title.icon = mlopsIcon;
    panel.title.label = trans.__('MLOps');
    panel.title.caption = trans.__('MLOps: tracked runs of this notebook');
    app.shell.add(panel, 'left', { rank: 650 });
    restorer?.add(panel, PANEL_ID);

    app.commands.addCommand(CommandIDs.openPanel, {
      label: trans.__('Show the MLOps panel'),
      caption: trans.__('Tracked runs and reproducibility of the current notebook'),
      icon: mlopsIcon,
      execute: () => app.shell.activateById(PANEL_ID)
    });
    palette?.addItem({ command: CommandIDs.openPanel, category: PALETTE_CATEGORY });
  }
};

const badgesPlugin: JupyterFrontEndPlugin<void> = {
  id: 'jupyter-mlops:badges',
  description: 'Marks the cells that make the notebook not reproducible, and the cells their fixes run.',
  autoStart: true,
  requires: [IMlopsTracker],
  optional: [ITranslator],
  activate: (_: JupyterFrontEnd, tracker: IMlopsTracker, translator: ITranslator | null) => {
    const trans = bundle(translator);
    const badge = (notebook: ITrackedNotebook) => {
      if (!notebook.panel.isDisposed) {
        const shown = tracker.settings.cellBadges && notebook.live ? notebook.issues : [];
        showBadges(notebook.panel, shown, trans);
      }
    };
    tracker.notebookChanged.connect((_, notebook) => badge(notebook));
    tracker.settingsChanged.connect(() => tracker.notebooks.forEach(badge));
    tracker.notebooks.forEach(badge);
  }
};

const statusPlugin: JupyterFrontEndPlugin<void> = {
  id: 'jupyter-mlops:status',
  description: "The current notebook's verdict in the status bar (Notebook 7: the menu bar); it opens the MLOps panel.",
  autoStart: true,
  requires: [IMlopsTracker],
  optional: [IStatusBar, ITranslator],
  activate: (
    app: JupyterFrontEnd,
    tracker: IMlopsTracker,
    statusBar: IStatusBar | null,
    translator: ITranslator | null
  ) => {
    const item = new MlopsStatusItem(tracker, bundle(translator), () => {
      void app.commands.execute(CommandIDs.openPanel);
    });
    const isActive = () => tracker.current?.live != null;
    if (statusBar) {
      statusBar.registerStatusItem('jupyter-mlops:status', {
        item,
        align: 'left',
        rank: 4,
        isActive,
        activeStateChanged: item.stateChanged
      });
      return;
    }
    // Notebook 7 shows the kernel's status at the right of its menu bar (rank 10 010): ours goes before it.
    item.id = 'jupyter-mlops-status';
    item.addClass('jp-mlops-MenuStatus');
    const show = () => item.setHidden(!isActive());
    item.stateChanged.connect(show);
    show();
    app.shell.add(item, 'menu', { rank: 10_000 });
  }
};

const commandsPlugin: JupyterFrontEndPlugin<void> = {
  id: 'jupyter-mlops:commands',
  description: 'Start tracking and Verify for the current notebook, from the command palette.',
  autoStart: true,
  requires: [IMlopsTracker],
  optional: [ICommandPalette, ITranslator],
  activate: (
    app: JupyterFrontEnd,
    tracker: IMlopsTracker,
    palette: ICommandPalette | null,
    translator: ITranslator | null
  ) => {
    const trans = bundle(translator);
    const { commands } = app;
    const showPanel = () => commands.hasCommand(CommandIDs.openPanel) && commands.execute(CommandIDs.openPanel);

    commands.addCommand(CommandIDs.startTracking, {
      label: args =>
        trans.__('Start tracking this notebook (%1 mode)', (args.mode as string) ?? tracker.settings.defaultMode),
      caption: trans.__("Run %mlops_track in the current notebook's kernel"),
      isEnabled: () => {
        const current = tracker.current;
        return !!current && !current.live && !!current.panel.sessionContext.session?.kernel;
      },
      // `mode` ("warn" | "strict") overrides the setting's default mode
      execute: async args => {
        const current = tracker.current;
        const mode = args.mode === 'strict' || args.mode === 'warn' ? args.mode : tracker.settings.defaultMode;
        if (current) {
          await startTracking(current.panel, mode, trans);
        }
      }
    });
    commands.addCommand(CommandIDs.verify, {
      label: trans.__('Verify this notebook in a clean kernel'),
      caption: trans.__('Re-run the notebook in a clean kernel and compare with the last tracked session'),
      isEnabled: () => {
        const current = tracker.current;
        return !!current && !current.serverExtensionMissing && !current.verifyState.busy;
      },
      execute: async () => {
        const current = tracker.current;
        if (current) {
          await showPanel();
          await current.verify();
        }
      }
    });
    // The palette greys a command out from isEnabled: ask again whenever the current notebook changes.
    const refresh = () => commands.notifyCommandChanged();
    tracker.currentChanged.connect(refresh);
    tracker.notebookChanged.connect((_, notebook) => notebook === tracker.current && refresh());
    tracker.settingsChanged.connect(refresh);
    for (const command of [CommandIDs.startTracking, CommandIDs.verify]) {
      palette?.addItem({ command, category: PALETTE_CATEGORY });
    }
  }
};

const plugins: JupyterFrontEndPlugin<any>[] = [
  trackerPlugin,
  panelPlugin,
  badgesPlugin,
  statusPlugin,
  commandsPlugin
];

export default plugins;
