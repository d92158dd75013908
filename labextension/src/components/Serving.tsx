/**
 * Serving: each running `jupyter mlops serve` of a model registered from this notebook (found through the
 * project's `.mlops/serving/`, `GET /mlops/serving`), read again every few seconds while the section is
 * shown: requests/s, p50 and p99 over the last minute, the window's size, accuracy once labels arrived, and
 * the drift flag of each model input against the training data (PSI ≥ 0.2 drift, ≥ 0.1 warn, as
 * `jupyter mlops drift --live` says). Nothing is shown for a notebook none of whose models is served.
 */
import { TranslationBundle } from '@jupyterlab/translation';
import React, { useEffect, useState } from 'react';

import { describeError, TrackedNotebook } from '../model';
import { api } from '../server';
import { IServedModel } from '../tokens';
import { Flag, formatTime, Problem, Section, useServerRead } from './common';

const REFRESH_MS = 3000;

export function Serving(props: { notebook: TrackedNotebook; trans: TranslationBundle }): JSX.Element | null {
  const { notebook, trans } = props;
  const [tick, setTick] = useState(0);
  useEffect(() => {
    const timer = window.setInterval(() => setTick(n => n + 1), REFRESH_MS);
    return () => window.clearInterval(timer);
  }, []);
  const { data, error } = useServerRead(
    () => (notebook.serverExtensionMissing ? null : api.serving(notebook.path)),
    [notebook.path, tick]
  );
  const servers = data?.servers ?? [];
  if (servers.length === 0) {
    return null;
  }
  const failed = error ? describeError(error, trans) : null;
  return (
    <Section title={trans.__('Serving')} count={servers.length} className="jp-mlops-Serving">
      {failed && <Problem problem={failed} className="jp-mlops-warning" />}
      {servers.map(s => <Served key={`${s.url}-${s.version}`} server={s} trans={trans} />)}
    </Section>
  );
}

function ms(value: number | null | undefined): string {
  return value === null || value === undefined ? '—' : value < 10 ? value.toFixed(2) : value.toFixed(0);
}

function Served(props: { server: IServedModel; trans: TranslationBundle }): JSX.Element {
  const { server, trans } = props;
  const status = server.status;
  const columns = status.columns ?? [];
  const drifting = columns.filter(c => c.verdict === 'drift').length;
  const aliases = server.aliases.length ? ` (@${server.aliases.join(', @')})` : '';
  return (
    <div className="jp-mlops-Served" data-model={server.model} data-version={server.version}
      data-verdict={status.verdict ?? ''}>
      <div className="jp-mlops-Served-title">
        {trans.__('%1 version %2%3', server.model, server.version, aliases)}
      </div>
      <div className="jp-mlops-Served-meta">
        <a href={server.url} target="_blank" rel="noreferrer">{server.url}</a>
        {' · '}
        {trans.__('since %1', formatTime(server.started_at))}
      </div>
      <div className="jp-mlops-Served-figures">
        <span className="jp-mlops-Served-figure jp-mlops-Served-rate">
          {trans.__('requests/s')} <b>{(status.requests_per_s ?? 0).toFixed(1)}</b>
        </span>
        <span className="jp-mlops-Served-figure jp-mlops-Served-p50">p50 <b>{ms(status.p50_ms)}</b> ms</span>
        <span className="jp-mlops-Served-figure jp-mlops-Served-p99">p99 <b>{ms(status.p99_ms)}</b> ms</span>
        <span className="jp-mlops-Served-figure">{trans.__('window')} <b>{status.window_rows ?? 0}</b></span>
        {status.accuracy !== null && status.accuracy !== undefined && (
          <span className="jp-mlops-Served-figure">{trans.__('accuracy')} <b>{status.accuracy.toFixed(3)}</b></span>
        )}
      </div>
      {status.drift_note && <div className="jp-mlops-note">{status.drift_note}</div>}
      {columns.length > 0 && (
        <table className="jp-mlops-Table jp-mlops-Served-columns"
          aria-label={trans.__('drift of each input against the training data')}>
          <thead>
            <tr>
              <th>{trans.__('Input')}</th>
              <th title={trans.__('PSI against the training data')}>
                {trans.__('Drift (%1 of %2)', drifting, columns.length)}
              </th>
            </tr>
          </thead>
          <tbody>
            {columns.map(c => (
              <tr key={c.name} data-column={c.name} data-verdict={c.verdict}
                className={c.verdict !== 'ok' ? `jp-mlops-${c.verdict}` : ''} title={c.note ?? ''}>
                <td>{c.name}</td>
                <td><Flag verdict={c.verdict} psi={c.psi} against={trans.__('the training data')} trans={trans} /></td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </div>
  );
}
