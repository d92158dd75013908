/** Cell runs of the shown session, newest first. */
import { TranslationBundle } from '@jupyterlab/translation';
import React from 'react';

import { cellNumber, revealCell } from '../actions';
import { ITrackedNotebook } from '../tokens';
import { Empty, formatDuration, Section } from './common';

const MAX_ROWS = 100;

export function Timeline(props: { notebook: ITrackedNotebook; trans: TranslationBundle }): JSX.Element {
  const { notebook, trans } = props;
  const runs = notebook.timeline;
  return (
    <Section title={trans.__('Timeline')} count={runs.length} className="jp-mlops-Timeline">
      {runs.length === 0 ? (
        <Empty>{trans.__('No cell runs recorded.')}</Empty>
      ) : (
        <table className="jp-mlops-Table">
          <thead>
            <tr><th>#</th><th>{trans.__('Cell')}</th><th>{trans.__('Time')}</th><th>{trans.__('Status')}</th></tr>
          </thead>
          <tbody>
            {runs.slice(0, MAX_ROWS).map(run => {
              const number = cellNumber(notebook.panel, run.cell_id);
              return (
                <tr key={run.seq} className={`jp-mlops-run-${run.status}`}>
                  <td>[{run.execution_count ?? ' '}]</td>
                  <td>
                    {number === null ? (
                      <span title={run.cell_id}>{trans.__('deleted')}</span>
                    ) : (
                      <a href="#" onClick={e => { e.preventDefault(); void revealCell(notebook.panel, run.cell_id); }}>
                        {trans.__('cell %1', number)}
                      </a>
                    )}
                  </td>
                  <td>{formatDuration(run.duration, trans)}</td>
                  <td title={run.error ?? ''}>
                    {run.status}
                    {run.reproducible === false && (
                      <span className="jp-mlops-bad-mark" title={trans.__('state not reproducible after this run')}> ✗</span>
                    )}
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      )}
    </Section>
  );
}
