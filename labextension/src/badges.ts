/**
 * Cell badges: a small marker on each cell the kernel names in an issue, the messages as its tooltip.
 * Recomputed from the current issues on every change, so a resolved issue's badge simply disappears.
 */
import { NotebookPanel } from '@jupyterlab/notebook';

import { IIssue } from './tokens';

const BADGE_CLASS = 'jp-mlops-CellBadge';
const FLAGGED_CLASS = 'jp-mlops-flagged';

export function showBadges(panel: NotebookPanel, issues: IIssue[]): void {
  const byCell = new Map<string, IIssue[]>();
  for (const issue of issues) {
    if (issue.cell_id) {
      byCell.set(issue.cell_id, [...(byCell.get(issue.cell_id) ?? []), issue]);
    }
  }
  for (const cell of panel.content.widgets) {
    const mine = byCell.get(cell.model.id) ?? [];
    let badge = cell.node.querySelector<HTMLElement>(`:scope > .${BADGE_CLASS}`);
    if (mine.length === 0) {
      badge?.remove();
      cell.removeClass(FLAGGED_CLASS);
      continue;
    }
    if (!badge) {
      badge = document.createElement('div');
      badge.className = BADGE_CLASS;
      badge.setAttribute('role', 'img');
      cell.node.appendChild(badge);
    }
    const tooltip = mine.map(i => `${i.kind}: ${i.message} → ${i.fix}`).join('\n');
    badge.textContent = '!';
    badge.title = tooltip;
    badge.setAttribute('aria-label', tooltip);
    badge.dataset.kinds = mine.map(i => i.kind).join(' ');
    cell.addClass(FLAGGED_CLASS);
  }
}
