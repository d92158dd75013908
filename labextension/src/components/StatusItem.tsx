/** The status-bar item: the current notebook's verdict before the panel is ever opened. */
import { ReactWidget, UseSignal } from '@jupyterlab/ui-components';
import { ISignal } from '@lumino/signaling';
import React from 'react';

import { NotebookModel } from '../model';

export class MlopsStatusItem extends ReactWidget {
  constructor(
    private readonly current: () => NotebookModel | null,
    private readonly stateChanged: ISignal<unknown, unknown>,
    private readonly open: () => void
  ) {
    super();
    this.addClass('jp-mlops-StatusItem');
  }

  render(): JSX.Element {
    return (
      <UseSignal signal={this.stateChanged}>
        {() => {
          const model = this.current();
          return model ? <Label model={model} open={this.open} /> : <span />;
        }}
      </UseSignal>
    );
  }
}

function Label(props: { model: NotebookModel; open: () => void }): JSX.Element {
  const { model } = props;
  if (!model.live) {
    return <span />;
  }
  const ok = model.reproducible;
  const text = ok === null ? 'MLOps: tracking' : ok ? 'MLOps ✓' : `MLOps ✗ ${model.issues.length}`;
  const title = ok === false
    ? `Not reproducible: ${model.issues.map(i => i.message).join('; ')} — click for the MLOps panel`
    : 'Tracked by jupyter-mlops — click for the MLOps panel';
  return (
    <span className={`jp-mlops-status ${ok === false ? 'jp-mlops-bad' : 'jp-mlops-ok'}`} title={title} onClick={props.open}>
      {text}
    </span>
  );
}
