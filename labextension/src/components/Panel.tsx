/** The "MLOps" sidebar: the current notebook's tracked state, history and pipeline actions. */
import { TranslationBundle } from '@jupyterlab/translation';
import { Button, ReactWidget, UseSignal } from '@jupyterlab/ui-components';
import React from 'react';

import { startTracking } from '../actions';
import { TrackedNotebook } from '../model';
import { IMlopsTracker } from '../tokens';
import { Actions } from './Actions';
import { Problem } from './common';
import { DataFiles } from './DataFiles';
import { Models } from './Models';
import { ParamsMetrics } from './ParamsMetrics';
import { Profiles } from './Profiles';
import { Serving } from './Serving';
import { Sessions } from './Sessions';
import { Sweeps } from './Sweeps';
import { Timeline } from './Timeline';
import { Verdict } from './Verdict';

export class MlopsPanel extends ReactWidget {
  constructor(
    private readonly tracker: IMlopsTracker,
    private readonly trans: TranslationBundle
  ) {
    super();
    this.addClass('jp-mlops-Panel');
    tracker.currentChanged.connect(() => this.update(), this);
    tracker.settingsChanged.connect(() => this.update(), this);
  }

  render(): JSX.Element {
    const notebook = this.tracker.current;
    if (!notebook) {
      return <div className="jp-mlops-empty">{this.trans.__('Open a notebook to see its tracked runs.')}</div>;
    }
    return (
      <UseSignal signal={notebook.changed} initialSender={notebook}>
        {() => <Body notebook={notebook} tracker={this.tracker} trans={this.trans} />}
      </UseSignal>
    );
  }
}

function Body(props: { notebook: TrackedNotebook; tracker: IMlopsTracker; trans: TranslationBundle }): JSX.Element {
  const { notebook, trans } = props;
  const mode = props.tracker.settings.defaultMode;
  const live = notebook.live;
  const hasKernel = !!notebook.panel.sessionContext.session?.kernel;
  const missing = notebook.serverExtensionMissing;
  return (
    <div className="jp-mlops-Body">
      <header className="jp-mlops-Header">
        <div className="jp-mlops-title" title={notebook.path}>{notebook.panel.title.label}</div>
        <div className="jp-mlops-state">
          {live ? (
            <>
              <span className="jp-mlops-pill jp-mlops-on">{trans.__('tracking')}</span>
              <span className="jp-mlops-pill">{live.mode === 'strict' ? trans.__('strict mode') : trans.__('warn mode')}</span>
              <span className="jp-mlops-session" title={trans.__('session id')}>{live.session}</span>
            </>
          ) : (
            <>
              <span className="jp-mlops-pill jp-mlops-off">{trans.__('not tracking')}</span>
              {hasKernel && (
                <Button small onClick={() => void startTracking(notebook.panel, mode, trans)}
                  title={trans.__("Run %1 in this notebook's kernel", `%mlops_track${mode === 'strict' ? ' --strict' : ''}`)}>
                  {trans.__('Start tracking (%1)', mode)}
                </Button>
              )}
              {!hasKernel && <span className="jp-mlops-note">{trans.__('no kernel: showing history')}</span>}
            </>
          )}
        </div>
        {missing && notebook.historyError && <Problem className="jp-mlops-warning" problem={notebook.historyError} />}
      </header>
      <Verdict notebook={notebook} trans={trans} />
      <Timeline notebook={notebook} trans={trans} />
      <DataFiles notebook={notebook} trans={trans} />
      <Profiles notebook={notebook} trans={trans} />
      <ParamsMetrics notebook={notebook} trans={trans} />
      <Models notebook={notebook} trans={trans} />
      <Serving notebook={notebook} trans={trans} />
      <Sessions notebook={notebook} trans={trans} />
      <Sweeps notebook={notebook} trans={trans} />
      {!missing && <Actions notebook={notebook} trans={trans} />}
    </div>
  );
}
