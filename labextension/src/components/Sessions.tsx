/** Past sessions of this notebook from the journal; pick two to compare them side by side. */
import { TranslationBundle } from '@jupyterlab/translation';
import { Button } from '@jupyterlab/ui-components';
import React from 'react';

import { ICompareRow, ITrackedNotebook } from '../tokens';
import { Empty, formatTime, formatValue, Problem, Section, shortHash } from './common';

export function Sessions(props: { notebook: ITrackedNotebook; trans: TranslationBundle }): JSX.Element {
  const { notebook, trans } = props;
  const [checked, setChecked] = React.useState<string[]>([]);
  const sessions = notebook.sessions;
  const error = notebook.historyError;
  const toggle = (id: string) =>
    setChecked(now => (now.includes(id) ? now.filter(x => x !== id) : [...now, id].slice(-2)));
  return (
    <Section title={trans.__('Sessions')} count={sessions.length} className="jp-mlops-Sessions">
      {sessions.length === 0 ? (
        error && !notebook.serverExtensionMissing ? (
          <Problem problem={error} />
        ) : (
          <Empty>{notebook.historyNote ?? trans.__('No past sessions.')}</Empty>
        )
      ) : (
        <>
          <table className="jp-mlops-Table">
            <thead>
              <tr>
                <th title={trans.__('pick two to compare')}></th>
                <th>{trans.__('Started')}</th>
                <th>{trans.__('Cells')}</th>
                <th></th>
                <th>{trans.__('Metrics')}</th>
              </tr>
            </thead>
            <tbody>
              {sessions.map(s => {
                const live = s.id === notebook.live?.session ? notebook.live : null;
                const reproducible = live ? live.reproducible : s.reproducible;
                return (
                <tr
                  key={s.id}
                  data-session={s.id}
                  data-state={s.state}
                  className={s.id === notebook.shownSession ? 'jp-mlops-shown' : ''}
                  title={trans.__('session %1 · %2 · %3 mode — click to show it', s.id, s.state, s.mode)}
                  onClick={() => !notebook.live && void notebook.pick(s.id)}
                >
                  <td onClick={e => e.stopPropagation()}>
                    <input type="checkbox" aria-label={trans.__('compare %1', s.id)} checked={checked.includes(s.id)} onChange={() => toggle(s.id)} />
                  </td>
                  <td>{formatTime(s.started_at)}{s.state === 'running' && <span className="jp-mlops-tag">{trans.__('live')}</span>}</td>
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
            disabled={checked.length !== 2 || notebook.compare.busy}
            onClick={() => void notebook.compareSessions(checked[0], checked[1])}
          >
            {trans.__('Compare the two checked')}
          </Button>
          <Comparison notebook={notebook} trans={trans} />
        </>
      )}
    </Section>
  );
}

function Comparison(props: { notebook: ITrackedNotebook; trans: TranslationBundle }): JSX.Element | null {
  const { trans } = props;
  const { busy, error, result } = props.notebook.compare;
  if (busy) {
    return <Empty>{trans.__('Comparing…')}</Empty>;
  }
  if (error) {
    return <Problem problem={error} />;
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
        {block(trans.__('Params'), result.params)}
        {block(trans.__('Metrics'), result.metrics)}
        {block(trans.__('Data (md5)'), result.files, true)}
      </tbody>
    </table>
  );
}
