/** Past sessions of this notebook from the journal; pick two to compare them side by side. */
import { Button } from '@jupyterlab/ui-components';
import React from 'react';

import { NotebookModel } from '../model';
import { ICompareRow } from '../tokens';
import { Empty, formatTime, formatValue, Section, shortHash } from './common';

export function Sessions(props: { model: NotebookModel }): JSX.Element {
  const { model } = props;
  const [checked, setChecked] = React.useState<string[]>([]);
  const sessions = model.sessions;
  const toggle = (id: string) =>
    setChecked(now => (now.includes(id) ? now.filter(x => x !== id) : [...now, id].slice(-2)));
  return (
    <Section title="Sessions" count={sessions.length} className="jp-mlops-Sessions">
      {sessions.length === 0 ? (
        <Empty>{model.historyNote ?? 'No past sessions.'}</Empty>
      ) : (
        <>
          <table className="jp-mlops-Table">
            <thead>
              <tr><th title="pick two to compare"></th><th>Started</th><th>Cells</th><th></th><th>Metrics</th></tr>
            </thead>
            <tbody>
              {sessions.map(s => {
                const live = s.id === model.live?.session ? model.live : null;
                const reproducible = live ? live.reproducible : s.reproducible;
                return (
                <tr
                  key={s.id}
                  className={s.id === model.shownSession ? 'jp-mlops-shown' : ''}
                  title={`session ${s.id} · ${s.state} · ${s.mode} mode — click to show it`}
                  onClick={() => !model.live && void model.pick(s.id)}
                >
                  <td onClick={e => e.stopPropagation()}>
                    <input type="checkbox" aria-label={`compare ${s.id}`} checked={checked.includes(s.id)} onChange={() => toggle(s.id)} />
                  </td>
                  <td>{formatTime(s.started_at)}{s.state === 'running' && <span className="jp-mlops-tag">live</span>}</td>
                  <td>{live ? live.cells : s.cells}</td>
                  <td>{reproducible === null ? '' : reproducible ? '✓' : '✗'}</td>
                  <td className="jp-mlops-metricsummary">
                    {Object.entries(s.metrics).map(([k, v]) => `${k}=${formatValue(v)}`).join(' ')}
                  </td>
                </tr>
                );
              })}
            </tbody>
          </table>
          <Button
            small
            disabled={checked.length !== 2 || model.compare.busy}
            onClick={() => void model.compareSessions(checked[0], checked[1])}
          >
            Compare the two checked
          </Button>
          <Comparison model={model} />
        </>
      )}
    </Section>
  );
}

function Comparison(props: { model: NotebookModel }): JSX.Element | null {
  const { busy, error, result } = props.model.compare;
  if (busy) {
    return <Empty>Comparing…</Empty>;
  }
  if (error) {
    return <div className="jp-mlops-error">{error}</div>;
  }
  if (!result) {
    return null;
  }
  const block = (title: string, rows: ICompareRow[], hash = false) =>
    rows.length > 0 && (
      <>
        <tr className="jp-mlops-subhead"><th colSpan={3}>{title}</th></tr>
        {rows.map(r => (
          <tr key={`${title}-${r.name}`} className={r.differs ? 'jp-mlops-changed' : ''}>
            <td className="jp-mlops-name" title={r.name}>{r.name}</td>
            <td>{hash ? shortHash(r.a as string | null) : formatValue(r.a)}</td>
            <td>{hash ? shortHash(r.b as string | null) : formatValue(r.b)}</td>
          </tr>
        ))}
      </>
    );
  return (
    <table className="jp-mlops-Table jp-mlops-Compare">
      <thead>
        <tr><th></th><th>{formatTime(result.a.started_at)}</th><th>{formatTime(result.b.started_at)}</th></tr>
      </thead>
      <tbody>
        {block('Params', result.params)}
        {block('Metrics', result.metrics)}
        {block('Data (md5)', result.files, true)}
      </tbody>
    </table>
  );
}
