/**
 * `MlopsTracker`, the `IMlopsTracker` token's implementation: one `TrackedNotebook` for every open
 * notebook from the moment it opens (so badges and the status item work before the panel is ever shown),
 * which one is current, and the user's settings.
 */
import { INotebookTracker, NotebookPanel } from '@jupyterlab/notebook';
import { TranslationBundle } from '@jupyterlab/translation';
import { ISignal, Signal } from '@lumino/signaling';

import { TrackedNotebook } from './model';
import { IMlopsTracker, ISettings } from './tokens';

export const DEFAULT_SETTINGS: ISettings = { defaultMode: 'warn', cellBadges: true };

export class MlopsTracker implements IMlopsTracker {
  constructor(
    private readonly notebookTracker: INotebookTracker,
    private readonly trans: TranslationBundle
  ) {
    notebookTracker.widgetAdded.connect((_, panel) => this._add(panel));
    notebookTracker.currentChanged.connect(() => this._currentChanged.emit(this.current));
    notebookTracker.forEach(panel => this._add(panel));
  }

  get current(): TrackedNotebook | null {
    const panel = this.notebookTracker.currentWidget;
    return panel ? this._notebooks.get(panel) ?? null : null;
  }

  find(panel: NotebookPanel): TrackedNotebook | undefined {
    return this._notebooks.get(panel);
  }

  get notebooks(): readonly TrackedNotebook[] {
    return [...this._notebooks.values()];
  }

  get currentChanged(): ISignal<this, TrackedNotebook | null> {
    return this._currentChanged;
  }

  get notebookChanged(): ISignal<this, TrackedNotebook> {
    return this._notebookChanged;
  }

  get settings(): ISettings {
    return this._settings;
  }

  /** Set by the plugin from the setting registry; missing keys keep their defaults. */
  set settings(settings: ISettings) {
    this._settings = { ...DEFAULT_SETTINGS, ...settings };
    this._settingsChanged.emit(this._settings);
  }

  get settingsChanged(): ISignal<this, ISettings> {
    return this._settingsChanged;
  }

  private _add(panel: NotebookPanel): void {
    if (this._notebooks.has(panel)) {
      return;
    }
    const notebook = new TrackedNotebook(panel, this.trans);
    this._notebooks.set(panel, notebook);
    notebook.changed.connect(() => this._notebookChanged.emit(notebook));
    panel.disposed.connect(() => {
      this._notebooks.delete(panel);
      notebook.dispose();
      this._notebookChanged.emit(notebook);
    });
    this._notebookChanged.emit(notebook);
    if (this.notebookTracker.currentWidget === panel) {
      this._currentChanged.emit(notebook);
    }
  }

  private _notebooks = new Map<NotebookPanel, TrackedNotebook>();
  private _settings: ISettings = { ...DEFAULT_SETTINGS };
  private _currentChanged = new Signal<this, TrackedNotebook | null>(this);
  private _notebookChanged = new Signal<this, TrackedNotebook>(this);
  private _settingsChanged = new Signal<this, ISettings>(this);
}
