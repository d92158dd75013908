/**
 * The status-bar item: the current notebook's verdict before the panel is ever opened. It is a real
 * `<button>`, so it is in the tab order, named for screen readers, and Enter or Space opens the panel.
 */
import { TranslationBundle } from '@jupyterlab/translation';
import { ReactWidget } from '@jupyterlab/ui-components';
import { ISignal, Signal } from '@lumino/signaling';
import React from 'react';

import { IMlopsTracker } from '../tokens';

export class MlopsStatusItem extends ReactWidget {
  constructor(
    private readonly tracker: IMlopsTracker,
    private readonly trans: TranslationBundle,
    private readonly open: () => void
  ) {
    super();
    this.addClass('jp-mlops-StatusItem');
    tracker.currentChanged.connect(this._refresh, this);
    tracker.notebookChanged.connect((_, notebook) => notebook === tracker.current && this._refresh(), this);
  }

  /** Emitted when the current notebook, or anything the item shows of it, changes. */
  get stateChanged(): ISignal<this, void> {
    return this._stateChanged;
  }

  render(): JSX.Element | null {
    const notebook = this.tracker.current;
    const live = notebook?.live;
    if (!notebook || !live) {
      return null;
    }
    const { trans } = this;
    const ok = notebook.reproducible;
    const count = notebook.issues.length;
    const text = ok === null ? trans.__('MLOps: tracking') : ok ? trans.__('MLOps ✓') : trans.__('MLOps ✗ %1', count);
    const state =
      ok === null
        ? trans.__('Tracked by jupyter-mlops, no verdict yet')
        : ok
          ? trans.__('Tracked by jupyter-mlops: reproducible')
          : trans._n('Not reproducible: %1 issue', 'Not reproducible: %1 issues', count);
    const title = ok === false ? `${state} (${notebook.issues.map(i => i.message).join('; ')})` : state;
    return (
      <button
        type="button"
        className={`jp-mlops-status ${ok === false ? 'jp-mlops-bad' : 'jp-mlops-ok'}`}
        title={trans.__('%1 — open the MLOps panel', title)}
        aria-label={trans.__('%1. Open the MLOps panel', state)}
        onClick={this.open}
      >
        {text}
      </button>
    );
  }

  private _refresh(): void {
    this.update();
    this._stateChanged.emit();
  }

  private _stateChanged = new Signal<this, void>(this);
}
