/** The verdict at a glance and the issues, each with a link to its cell and its fix as a button. */
import { Button } from '@jupyterlab/ui-components';
import React from 'react';

import { applyFix, cellNumber, fixLabel, resolveFix, revealCell } from '../actions';
import { NotebookModel } from '../model';
import { IIssue } from '../tokens';

export function Verdict(props: { model: NotebookModel }): JSX.Element {
  const { model } = props;
  const ok = model.reproducible;
  const issues = model.issues;
  const heading =
    ok === null ? (
      <div className="jp-mlops-Verdict jp-mlops-unknown">No verdict yet: no tracked cell has run</div>
    ) : ok ? (
      <div className="jp-mlops-Verdict jp-mlops-ok">✓ Reproducible</div>
    ) : (
      <div className="jp-mlops-Verdict jp-mlops-bad">
        ✗ Not reproducible · {issues.length} issue{issues.length === 1 ? '' : 's'}
      </div>
    );
  return (
    <div className="jp-mlops-VerdictBox">
      {heading}
      {issues.length > 0 && (
        <ul className="jp-mlops-Issues">
          {issues.map((issue, i) => (
            <IssueItem key={`${issue.kind}-${issue.cell_id}-${i}`} model={model} issue={issue} />
          ))}
        </ul>
      )}
    </div>
  );
}

function IssueItem(props: { model: NotebookModel; issue: IIssue }): JSX.Element {
  const { model, issue } = props;
  const panel = model.panel;
  const number = cellNumber(panel, issue.cell_id);
  const fix = model.live ? resolveFix(panel, issue) : null;
  const label = fix ? fixLabel(panel, fix) : null;
  const [running, setRunning] = React.useState(false);
  return (
    <li className="jp-mlops-Issue" data-kind={issue.kind} data-cell={issue.cell_id ?? ''}>
      <button
        className="jp-mlops-Issue-link"
        title="Scroll to the cell and select it"
        disabled={!issue.cell_id}
        onClick={() => issue.cell_id && void revealCell(panel, issue.cell_id)}
      >
        <span className="jp-mlops-kind">{issue.kind}</span>
        {number !== null && <span className="jp-mlops-cellref">cell {number}</span>}
        <span className="jp-mlops-Issue-message">{issue.message}</span>
      </button>
      {fix ? (
        <Button
          small
          className="jp-mlops-fix"
          disabled={running}
          title={issue.fix}
          onClick={async () => {
            setRunning(true);
            try {
              await applyFix(panel, fix);
            } finally {
              setRunning(false);
            }
          }}
        >
          {running ? 'running…' : label}
        </Button>
      ) : (
        <span className="jp-mlops-fixtext">{issue.fix}</span>
      )}
    </li>
  );
}
