/** Export to DVC and Verify: run them, show what was written or refused, and verify's progress and table. */
import { Button } from '@jupyterlab/ui-components';
import React from 'react';

import { NotebookModel } from '../model';
import { formatValue, Section } from './common';

export function Actions(props: { model: NotebookModel }): JSX.Element {
  const { model } = props;
  const exp = model.exportState;
  const ver = model.verifyState;
  const job = ver.result;
  const verdict = job?.result;
  return (
    <Section title="Pipeline" className="jp-mlops-Actions">
      <div className="jp-mlops-buttons">
        <Button small className="jp-mlops-export" disabled={exp.busy} onClick={() => void model.exportDvc()}
          title="Write dvc.yaml and params.yaml at the project root">
          {exp.busy ? 'Exporting…' : 'Export to DVC'}
        </Button>
        <Button small className="jp-mlops-verify" disabled={ver.busy} onClick={() => void model.verify()}
          title="Re-run the notebook in a clean kernel and compare with the last tracked session">
          {ver.busy ? 'Verifying…' : 'Verify'}
        </Button>
      </div>
      {exp.error && <div className="jp-mlops-error">Export failed: {exp.error}</div>}
      {exp.result?.refused && <div className="jp-mlops-error">Export refused: {exp.result.refused}</div>}
      {exp.result && !exp.result.refused && (
        <div className="jp-mlops-result jp-mlops-exported">
          Wrote {exp.result.written.join(', ') || 'nothing (up to date)'}
          {exp.result.stages.length > 0 && <> · stages: {exp.result.stages.join(', ')}</>}
        </div>
      )}
      {ver.error && <div className="jp-mlops-error">Verify failed: {ver.error}</div>}
      {ver.busy && job && <div className="jp-mlops-progress">{job.progress[job.progress.length - 1] ?? 'starting…'}</div>}
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
