/**
 * What the panel's buttons do in the notebook: reveal a cell, carry out an issue's fix, start tracking.
 *
 * A fix is data from the kernel (`restart`, and `run`: the ids of the cells to run, in order); its sentence
 * (`fix`) is for people only. Cells are shown by number as the kernel's detector numbers them: 1-based
 * among the notebook's code cells, counted in the notebook as it stands now.
 */
import { Dialog, showDialog } from '@jupyterlab/apputils';
import { Cell } from '@jupyterlab/cells';
import { NotebookActions, NotebookPanel } from '@jupyterlab/notebook';
import { KernelMessage } from '@jupyterlab/services';
import { TranslationBundle } from '@jupyterlab/translation';

import { IIssue, TRACKING_RUNNING } from './tokens';

export type Fix = { kind: 'restart-run-all' } | { kind: 'run'; cells: Cell[] };

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

/**
 * How to carry out an issue's fix in this notebook, or null when it cannot be done from here (a cell it
 * names is no longer in the notebook). Records of older versions carry no `run`: run up to the issue's cell.
 */
export function resolveFix(panel: NotebookPanel, issue: IIssue): Fix | null {
  if (issue.restart === true) {
    return { kind: 'restart-run-all' };
  }
  const code = codeCells(panel);
  if (Array.isArray(issue.run)) {
    const byId = new Map(code.map(cell => [cell.model.id, cell]));
    const cells = issue.run.map(id => byId.get(id));
    return cells.length > 0 && cells.every(cell => cell !== undefined)
      ? { kind: 'run', cells: cells as Cell[] }
      : null;
  }
  const at = code.findIndex(cell => cell.model.id === issue.cell_id);
  return at < 0 ? null : { kind: 'run', cells: code.slice(0, at + 1) };
}

/** The cell ids an issue asks to run (none for a restart, or in records of older versions). */
export function cellsToRun(issue: IIssue): string[] {
  return issue.restart === true || !Array.isArray(issue.run) ? [] : issue.run;
}

/** Cell numbers as a short list: [2, 3, 4, 7] → "2–4, 7". */
export function numberList(numbers: number[]): string {
  const parts: string[] = [];
  let i = 0;
  while (i < numbers.length) {
    let j = i;
    while (j + 1 < numbers.length && numbers[j + 1] === numbers[j] + 1) {
      j++;
    }
    parts.push(j > i ? `${numbers[i]}–${numbers[j]}` : `${numbers[i]}`);
    i = j + 1;
  }
  return parts.join(', ');
}

/** The fix's button label, numbered from the notebook as it stands now. */
export function fixLabel(panel: NotebookPanel, fix: Fix, trans: TranslationBundle): string {
  if (fix.kind === 'restart-run-all') {
    return trans.__('Restart and run all');
  }
  const numbers = fix.cells.map(cell => cellNumber(panel, cell.model.id) as number);
  return trans._n('Run cell %2', 'Run cells %2', numbers.length, numberList(numbers));
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

/**
 * `%mlops_track` in the notebook's kernel, not recorded in the notebook (the panel's "Start" button). A
 * kernel already tracking (started from another view, or by a cell) is joined; when it tracks with other
 * options the kernel changes nothing and says what would change, and the user chooses: keep that session,
 * or restart tracking with this view's options (`--restart`).
 */
export async function startTracking(
  panel: NotebookPanel,
  mode: 'warn' | 'strict',
  trans: TranslationBundle
): Promise<void> {
  const kernel = panel.sessionContext.session?.kernel;
  if (!kernel) {
    throw new Error(trans.__('no kernel: start one for this notebook first'));
  }
  const line = `%mlops_track${mode === 'strict' ? ' --strict' : ''}`;
  const run = async (restart: boolean) =>
    (
      await kernel.requestExecute({
        code: `%load_ext jupyter_mlops\n${line}${restart ? ' --restart' : ''}`,
        silent: false,
        store_history: false
      }).done
    ).content;
  const reply = await run(false);
  if (reply.status !== 'error' || (reply as KernelMessage.IReplyErrorContent).ename !== TRACKING_RUNNING) {
    return;
  }
  const refusal = (reply as KernelMessage.IReplyErrorContent).evalue;
  const choice = await showDialog({
    title: trans.__('This kernel is already tracking'),
    body: refusal,
    buttons: [
      Dialog.cancelButton({ label: trans.__('Keep that session') }),
      Dialog.warnButton({ label: trans.__('Restart tracking') })
    ],
    defaultButton: 0 // Enter keeps the running session: ending it is the choice that must be made
  });
  if (choice.button.accept) {
    await run(true);
  }
}
