/** Export to DVC and Verify: run them, show what was written or refused, and verify's progress and table. */
import { TranslationBundle } from '@jupyterlab/translation';
import { Button } from '@jupyterlab/ui-components';
import React from 'react';

import { ITrackedNotebook } from '../tokens';
import { formatValue, Problem, Section } from './common';

export function Actions(props: { notebook: ITrackedNotebook; trans: TranslationBundle }): JSX.Element {
  const { notebook, trans } = props;
  const exp = notebook.exportState;
  const ver = notebook.verifyState;
  const job = ver.result;
  const verdict = job?.result;
  return (
    <Section title={trans.__('Pipeline')} className="jp-mlops-Actions">
      <div className="jp-mlops-buttons">
        <Button small className="jp-mlops-export" disabled={exp.busy} onClick={() => void notebook.exportDvc()}
          title={trans.__('Write dvc.yaml and params.yaml at the project root')}>
          {exp.busy ? trans.__('Exporting…') : trans.__('Export to DVC')}
        </Button>
        <Button small className="jp-mlops-verify" disabled={ver.busy} onClick={() => void notebook.verify()}
          title={trans.__('Re-run the notebook in a clean kernel and compare with the last tracked session')}>
          {ver.busy ? trans.__('Verifying…') : trans.__('Verify')}
        </Button>
      </div>
      {exp.error && (
        <Problem
          prefix={exp.error.refused ? trans.__('Export refused: ') : trans.__('Export failed: ')}
          problem={exp.error}
        />
      )}
      {exp.result && (
        <div className="jp-mlops-result jp-mlops-exported">
          {exp.result.written.length
            ? trans.__('Wrote %1', exp.result.written.join(', '))
            : trans.__('Wrote nothing (up to date)')}
          {exp.result.stages.length > 0 && <> · {trans.__('stages: %1', exp.result.stages.join(', '))}</>}
        </div>
      )}
      {ver.error && <Problem prefix={trans.__('Verify failed: ')} problem={ver.error} />}
      {ver.busy && job && (
        <div className="jp-mlops-progress">{job.progress[job.progress.length - 1] ?? trans.__('starting…')}</div>
      )}
      {verdict && (
        <div className={`jp-mlops-result ${verdict.ok ? 'jp-mlops-ok' : 'jp-mlops-bad'}`}>
          {verdict.ok ? '✓ ' : '✗ '}
          {verdict.message}
          <VerifyTable rows={verdict.rows} />
        </div>
      )}
    </Section>
  );
}

function VerifyTable(props: { rows: Record<string, unknown>[] }): JSX.Element | null {
  if (props.rows.length === 0) {
    return null;
  }
  const columns = Object.keys(props.rows[0]);
  return (
    <table className="jp-mlops-Table">
      <thead><tr>{columns.map(c => <th key={c}>{c}</th>)}</tr></thead>
      <tbody>
        {props.rows.map((row, i) => (
          <tr key={i} className={row.ok === false || row.differs === true ? 'jp-mlops-changed' : ''}>
            {columns.map(c => <td key={c}>{formatValue(row[c])}</td>)}
          </tr>
        ))}
      </tbody>
    </table>
  );
}
