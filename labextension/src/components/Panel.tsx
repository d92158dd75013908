/** The "MLOps" sidebar: the current notebook's tracked state, history and pipeline actions. */
import { Button, ReactWidget, UseSignal } from '@jupyterlab/ui-components';
import React from 'react';

import { startTracking } from '../actions';
import { NotebookModel } from '../model';
import { MISSING_EXTENSION } from '../server';
import { ISettings } from '../tokens';
import { Actions } from './Actions';
import { DataFiles } from './DataFiles';
import { ParamsMetrics } from './ParamsMetrics';
import { Sessions } from './Sessions';
import { Timeline } from './Timeline';
import { Verdict } from './Verdict';

export class MlopsPanel extends ReactWidget {
  constructor(private readonly settings: () => ISettings) {
    super();
    this.addClass('jp-mlops-Panel');
  }

  /** Show `model` (the current notebook's), or the "open a notebook" note for null. */
  set model(model: NotebookModel | null) {
    if (model !== this._model) {
      this._model = model;
      this.update();
    }
  }

  render(): JSX.Element {
    const model = this._model;
    if (!model) {
      return <div className="jp-mlops-empty">Open a notebook to see its tracked runs.</div>;
    }
    return (
      <UseSignal signal={model.changed} initialSender={model}>
        {() => <Body model={model} settings={this.settings()} />}
      </UseSignal>
    );
  }

  private _model: NotebookModel | null = null;
}

function Body(props: { model: NotebookModel; settings: ISettings }): JSX.Element {
  const { model, settings } = props;
  const live = model.live;
  const hasKernel = !!model.panel.sessionContext.session?.kernel;
  const missing = model.historyNote === MISSING_EXTENSION;
  return (
    <div className="jp-mlops-Body">
      <header className="jp-mlops-Header">
        <div className="jp-mlops-title" title={model.path}>{model.panel.title.label}</div>
        <div className="jp-mlops-state">
          {live ? (
            <>
              <span className="jp-mlops-pill jp-mlops-on">tracking</span>
              <span className="jp-mlops-pill">{live.mode} mode</span>
              <span className="jp-mlops-session" title="session id">{live.session}</span>
            </>
          ) : (
            <>
              <span className="jp-mlops-pill jp-mlops-off">not tracking</span>
              {hasKernel && (
                <Button small onClick={() => void startTracking(model.panel, settings.defaultMode)}
                  title={`Run %mlops_track${settings.defaultMode === 'strict' ? ' --strict' : ''} in this notebook's kernel`}>
                  Start tracking ({settings.defaultMode})
                </Button>
              )}
              {!hasKernel && <span className="jp-mlops-note">no kernel: showing history</span>}
            </>
          )}
        </div>
        {missing && <div className="jp-mlops-warning">{MISSING_EXTENSION}</div>}
      </header>
      <Verdict model={model} />
      <Timeline model={model} />
      <DataFiles model={model} />
      <ParamsMetrics model={model} />
      <Sessions model={model} />
      {!missing && <Actions model={model} />}
    </div>
  );
}
