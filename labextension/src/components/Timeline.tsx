/** Cell runs of the shown session, newest first. */
import React from 'react';

import { cellNumber, revealCell } from '../actions';
import { NotebookModel } from '../model';
import { Empty, formatDuration, Section } from './common';

const MAX_ROWS = 100;

export function Timeline(props: { model: NotebookModel }): JSX.Element {
  const { model } = props;
  const runs = model.timeline;
  return (
    <Section title="Timeline" count={runs.length} className="jp-mlops-Timeline">
      {runs.length === 0 ? (
        <Empty>No cell runs recorded.</Empty>
      ) : (
        <table className="jp-mlops-Table">
          <thead>
            <tr><th>#</th><th>Cell</th><th>Time</th><th>Status</th></tr>
          </thead>
          <tbody>
            {runs.slice(0, MAX_ROWS).map(run => {
              const number = cellNumber(model.panel, run.cell_id);
              return (
                <tr key={run.seq} className={`jp-mlops-run-${run.status}`}>
                  <td>[{run.execution_count ?? ' '}]</td>
                  <td>
                    {number === null ? (
                      <span title={run.cell_id}>deleted</span>
                    ) : (
                      <a href="#" onClick={e => { e.preventDefault(); void revealCell(model.panel, run.cell_id); }}>
                        cell {number}
                      </a>
                    )}
                  </td>
                  <td>{formatDuration(run.duration)}</td>
                  <td title={run.error ?? ''}>
                    {run.status}
                    {run.reproducible === false && <span className="jp-mlops-bad-mark" title="state not reproducible after this run"> ✗</span>}
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
