/**
 * What the panel's buttons do in the notebook: reveal a cell, run an issue's fix, start tracking.
 *
 * Cells are numbered as the kernel's detector numbers them: 1-based among the notebook's code cells,
 * so a fix reading "run cells 4–6" means the 4th to 6th code cells.
 */
import { Cell } from '@jupyterlab/cells';
import { NotebookActions, NotebookPanel } from '@jupyterlab/notebook';

import { IIssue } from './tokens';

export type Fix =
  | { kind: 'restart-run-all'; label: string }
  | { kind: 'run'; label: string; cells: Cell[] };

/** The code cells of the notebook, in order (index + 1 is the number shown to the user). */
export function codeCells(panel: NotebookPanel): Cell[] {
  return panel.content.widgets.filter(cell => cell.model.type === 'code');
}

export function cellNumber(panel: NotebookPanel, cellId: string | null): number | null {
  const index = codeCells(panel).findIndex(cell => cell.model.id === cellId);
  return index < 0 ? null : index + 1;
}

/** Scroll to the cell, select it and bring the notebook to front. */
export async function revealCell(panel: NotebookPanel, cellId: string): Promise<boolean> {
  const notebook = panel.content;
  const index = notebook.widgets.findIndex(cell => cell.model.id === cellId);
  if (index < 0) {
    return false;
  }
  notebook.deselectAll();
  notebook.activeCellIndex = index;
  notebook.mode = 'command';
  await notebook.scrollToCell(notebook.widgets[index], 'center');
  return true;
}

/** How to carry out `issue.fix`: explicit cell ids, "restart…", "run cell(s) N[–M]", else run up to it. */
export function resolveFix(panel: NotebookPanel, issue: IIssue): Fix | null {
  const label = issue.fix || 'run up to this cell';
  const ids = Array.isArray(issue.cells) ? (issue.cells as unknown[]) : null;
  if (ids && ids.every(id => typeof id === 'string')) {
    const cells = panel.content.widgets.filter(cell => ids.includes(cell.model.id));
    return cells.length ? { kind: 'run', label, cells } : null;
  }
  if (/restart/i.test(label)) {
    return { kind: 'restart-run-all', label };
  }
  const code = codeCells(panel);
  const range = /\brun cells?\s+(\d+)(?:\s*(?:[–—-]|to)\s*(\d+))?/i.exec(label);
  if (range) {
    const first = Number(range[1]);
    const last = Number(range[2] ?? range[1]);
    const cells = code.slice(first - 1, last);
    return cells.length ? { kind: 'run', label, cells } : null;
  }
  const at = code.findIndex(cell => cell.model.id === issue.cell_id);
  return at < 0 ? null : { kind: 'run', label, cells: code.slice(0, at + 1) };
}

export async function applyFix(panel: NotebookPanel, fix: Fix): Promise<void> {
  const { content, sessionContext } = panel;
  if (fix.kind === 'restart-run-all') {
    await sessionContext.restartKernel();
    await NotebookActions.runAll(content, sessionContext);
    return;
  }
  await NotebookActions.runCells(content, fix.cells, sessionContext);
}

/** `%mlops_track` in the notebook's kernel, not recorded in the notebook (the panel's "Start" button). */
export async function startTracking(panel: NotebookPanel, mode: 'warn' | 'strict'): Promise<void> {
  const kernel = panel.sessionContext.session?.kernel;
  if (!kernel) {
    throw new Error('no kernel: start one for this notebook first');
  }
  const code = `%load_ext jupyter_mlops\n%mlops_track${mode === 'strict' ? ' --strict' : ''}`;
  await kernel.requestExecute({ code, silent: false, store_history: false }).done;
}
