/**
 * Cell badges: a "!" on each cell the kernel names in an issue (the messages as its tooltip), and a "▶" on
 * each cell an issue's fix runs (found by the ids in `run`). Recomputed from the current issues on every
 * change, so a resolved issue's badges simply disappear.
 */
import { NotebookPanel } from '@jupyterlab/notebook';
import { TranslationBundle } from '@jupyterlab/translation';

import { cellsToRun, fixLabel, resolveFix } from './actions';
import { IIssue } from './tokens';

const BADGE_CLASS = 'jp-mlops-CellBadge';
const RUN_BADGE_CLASS = 'jp-mlops-RunBadge';
const FLAGGED_CLASS = 'jp-mlops-flagged';
const TO_RUN_CLASS = 'jp-mlops-torun';

export function showBadges(panel: NotebookPanel, issues: IIssue[], trans: TranslationBundle): void {
  const flagged = new Map<string, string[]>();
  const toRun = new Map<string, string[]>();
  const add = (into: Map<string, string[]>, id: string, line: string) =>
    into.set(id, [...(into.get(id) ?? []), line]);
  for (const issue of issues) {
    const fix = resolveFix(panel, issue);
    const todo = fix ? fixLabel(panel, fix, trans) : issue.fix;
    if (issue.cell_id) {
      add(flagged, issue.cell_id, `${issue.kind}: ${issue.message} → ${todo}`);
    }
    for (const id of cellsToRun(issue)) {
      add(toRun, id, trans.__('Run to fix %1: %2', issue.kind, issue.message));
    }
  }
  for (const cell of panel.content.widgets) {
    const id = cell.model.id;
    mark(cell.node, BADGE_CLASS, '!', flagged.get(id) ?? []);
    mark(cell.node, RUN_BADGE_CLASS, '▶', toRun.get(id) ?? []);
    cell.toggleClass(FLAGGED_CLASS, flagged.has(id));
    cell.toggleClass(TO_RUN_CLASS, toRun.has(id));
  }
}

/** Put (or update, or remove when `lines` is empty) one badge of `className` on a cell's node. */
function mark(node: HTMLElement, className: string, text: string, lines: string[]): void {
  let badge = node.querySelector<HTMLElement>(`:scope > .${className}`);
  if (lines.length === 0) {
    badge?.remove();
    return;
  }
  if (!badge) {
    badge = document.createElement('div');
    badge.className = `jp-mlops-Badge ${className}`;
    badge.setAttribute('role', 'img');
    node.appendChild(badge);
  }
  const tooltip = lines.join('\n');
  badge.textContent = text;
  badge.title = tooltip;
  badge.setAttribute('aria-label', tooltip);
}
