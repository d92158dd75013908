/** The verdict at a glance and the issues, each with a link to its cell and its fix as a button. */
import { TranslationBundle } from '@jupyterlab/translation';
import { Button } from '@jupyterlab/ui-components';
import React from 'react';

import { applyFix, cellNumber, fixLabel, resolveFix, revealCell } from '../actions';
import { IIssue, ITrackedNotebook } from '../tokens';

export function Verdict(props: { notebook: ITrackedNotebook; trans: TranslationBundle }): JSX.Element {
  const { notebook, trans } = props;
  const ok = notebook.reproducible;
  const issues = notebook.issues;
  const heading =
    ok === null ? (
      <div className="jp-mlops-Verdict jp-mlops-unknown">{trans.__('No verdict yet: no tracked cell has run')}</div>
    ) : ok ? (
      <div className="jp-mlops-Verdict jp-mlops-ok">✓ {trans.__('Reproducible')}</div>
    ) : (
      <div className="jp-mlops-Verdict jp-mlops-bad">
        ✗ {trans._n('Not reproducible · %1 issue', 'Not reproducible · %1 issues', issues.length)}
      </div>
    );
  return (
    <div className="jp-mlops-VerdictBox">
      {heading}
      {issues.length > 0 && (
        <ul className="jp-mlops-Issues">
          {issues.map((issue, i) => (
            <IssueItem key={`${issue.kind}-${issue.cell_id}-${i}`} notebook={notebook} issue={issue} trans={trans} />
          ))}
        </ul>
      )}
    </div>
  );
}

function IssueItem(props: { notebook: ITrackedNotebook; issue: IIssue; trans: TranslationBundle }): JSX.Element {
  const { notebook, issue, trans } = props;
  const panel = notebook.panel;
  const number = cellNumber(panel, issue.cell_id);
  const fix = notebook.live ? resolveFix(panel, issue) : null;
  const [running, setRunning] = React.useState(false);
  return (
    <li className="jp-mlops-Issue" data-kind={issue.kind} data-cell={issue.cell_id ?? ''}>
      <button
        className="jp-mlops-Issue-link"
        title={trans.__('Scroll to the cell and select it')}
        disabled={!issue.cell_id}
        onClick={() => issue.cell_id && void revealCell(panel, issue.cell_id)}
      >
        <span className="jp-mlops-kind">{issue.kind}</span>
        {number !== null && <span className="jp-mlops-cellref">{trans.__('cell %1', number)}</span>}
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
          {running ? trans.__('running…') : fixLabel(panel, fix, trans)}
        </Button>
      ) : (
        <span className="jp-mlops-fixtext">{issue.fix}</span>
      )}
    </li>
  );
}
