/**
 * The frontend's side of the comm "jupyter_mlops" for one notebook view: receives the kernel's live events
 * and keeps the kernel told of the notebook's cell order (unsaved edits included).
 *
 * The frontend opens the comm, the JupyterLab way: the kernel registers the target "jupyter_mlops" when
 * `%mlops_track` starts (or joins) and says so in that cell's execute_reply (a payload with `source:
 * "jupyter_mlops"`), so a kernel without a frontend (papermill) never opens a comm nobody listens to. The
 * reply goes only to the client that ran the cell: every other view of the kernel (a second tab, a
 * collaborator, a reload, Notebook 7) asks `comm_info` when it connects and whenever a cell run by another
 * client ends, and opens its own comm when the kernel lists one of our target (it does while it tracks).
 * Each open comm gets every cell's event, whichever view ran it. A kernel restart loses the link; the
 * next `%mlops_track` reopens it.
 */
import { ISessionContext } from '@jupyterlab/apputils';
import { NotebookActions, NotebookPanel } from '@jupyterlab/notebook';
import { Kernel, KernelMessage as KM } from '@jupyterlab/services';
import { ISignal, Signal } from '@lumino/signaling';

import { COMM_TARGET, KernelMessage } from './tokens';

const ORDER_DEBOUNCE_MS = 400;

export interface IOrderedCell {
  id: string;
  source: string;
}

/** The notebook's code cells in their current order and with their current (maybe unsaved) source. */
export function notebookOrder(panel: NotebookPanel): IOrderedCell[] {
  const cells = panel.content.model?.cells;
  const out: IOrderedCell[] = [];
  if (!cells) {
    return out;
  }
  for (let i = 0; i < cells.length; i++) {
    const cell = cells.get(i);
    if (cell.type === 'code') {
      out.push({ id: cell.id, source: cell.sharedModel.getSource() });
    }
  }
  return out;
}

export class KernelLink {
  constructor(private readonly panel: NotebookPanel) {
    const context = panel.sessionContext;
    context.kernelChanged.connect(this._onKernelChanged, this);
    context.statusChanged.connect(this._onStatus, this);
    panel.content.model?.contentChanged.connect(this._scheduleOrder, this);
    NotebookActions.executionScheduled.connect(this._onExecutionScheduled, this);
    void context.ready.then(() => this._connect(context.session?.kernel ?? null));
  }

  /** One signal per kernel message; `null` when the link is lost (restart, kernel change, stop). */
  get received(): ISignal<this, KernelMessage | null> {
    return this._received;
  }

  get connected(): boolean {
    return this._comm !== null;
  }

  /** Sent only once the kernel said `hello` on this comm: before that, ipykernel may handle a message
   * (dispatched at once while a cell runs) ahead of the comm_open still waiting for the cell, and drop it. */
  send(message: object): void {
    if (this._comm && this._greeted && !this._comm.isDisposed) {
      this._comm.send(message as any);
    }
  }

  /** Ask the kernel for a fresh status (e.g. once background hashes are done). */
  refresh(): void {
    this.send({ type: 'refresh' });
  }

  dispose(): void {
    if (this._disposed) {
      return;
    }
    this._disposed = true;
    window.clearTimeout(this._orderTimer);
    NotebookActions.executionScheduled.disconnect(this._onExecutionScheduled, this);
    Signal.clearData(this);
  }

  private _onKernelChanged(
    _: ISessionContext,
    change: {
      oldValue: Kernel.IKernelConnection | null;
      newValue: Kernel.IKernelConnection | null;
    }
  ): void {
    this._lose();
    change.oldValue?.anyMessage.disconnect(this._onAnyMessage, this);
    this._connect(change.newValue);
  }

  private _onStatus(_: ISessionContext, status: Kernel.Status): void {
    if (status === 'restarting' || status === 'autorestarting' || status === 'dead') {
      this._lose();
    }
  }

  private _connect(kernel: Kernel.IKernelConnection | null): void {
    if (!kernel || this._disposed) {
      return;
    }
    kernel.anyMessage.connect(this._onAnyMessage, this);
    void this._reopenIfTracking(kernel);
  }

  /** The reply of the cell that started (or joined) tracking names our target: open a comm to it unless
   * this view has one (a session replaced with `--restart` greets the open comms itself). A cell run by
   * another client (another tab, a collaborator, a console) may have started tracking: ask the kernel. */
  private _onAnyMessage(kernel: Kernel.IKernelConnection, args: Kernel.IAnyMessageArgs): void {
    const msg = args.msg;
    if (args.direction !== 'recv' || this._comm) {
      return;
    }
    if (msg.header.msg_type === 'execute_reply') {
      const payload = (msg.content as { payload?: { source?: string }[] }).payload;
      if (Array.isArray(payload) && payload.some(item => item?.source === COMM_TARGET)) {
        this._open(kernel);
      }
    } else if (
      msg.header.msg_type === 'status' &&
      (msg.content as KM.IStatusMsg['content']).execution_state === 'idle' &&
      msg.parent_header &&
      (msg.parent_header as KM.IHeader).msg_type === 'execute_request' &&
      (msg.parent_header as KM.IHeader).session !== kernel.clientId
    ) {
      void this._reopenIfTracking(kernel);
    }
  }

  private _open(kernel: Kernel.IKernelConnection): void {
    if (this._disposed || kernel.isDisposed) {
      return;
    }
    const comm = kernel.createComm(COMM_TARGET);
    this._wire(comm);
    comm.open({});
  }

  /** The kernel may be tracking already (a reload, another view started it): ask, and open our own comm
   * if so. One question at a time; a reason to ask that comes meanwhile asks once more after it. */
  private async _reopenIfTracking(kernel: Kernel.IKernelConnection): Promise<void> {
    if (this._asking) {
      this._askAgain = true;
      return;
    }
    this._asking = true;
    try {
      do {
        this._askAgain = false;
        const reply = await kernel.requestCommInfo({ target_name: COMM_TARGET });
        const content = reply.content as KM.ICommInfoReply;
        if (content.status === 'ok' && Object.keys(content.comms).length > 0 && !this._comm && !kernel.isDisposed) {
          this._open(kernel);
        }
      } while (this._askAgain && !this._comm && !this._disposed && !kernel.isDisposed);
    } catch {
      // no answer (kernel gone or busy forever): history still works, live updates start with %mlops_track
    } finally {
      this._asking = false;
    }
  }

  private _wire(comm: Kernel.IComm): void {
    if (this._comm && this._comm !== comm && !this._comm.isDisposed) {
      this._comm.dispose();
    }
    this._comm = comm;
    this._greeted = false;
    this._lastOrder = '';
    comm.onMsg = msg => {
      if (this._comm === comm) {
        this._handle(msg.content.data as unknown as KernelMessage);
      }
    };
    // The kernel closes the comm when tracking stops, or at once when no target is registered (yet)
    comm.onClose = () => {
      if (this._comm === comm) {
        this._lose();
      }
    };
  }

  private _handle(message: KernelMessage): void {
    if (!message || typeof message !== 'object') {
      return;
    }
    if (message.type === 'hello') {
      // also when `--restart` replaced the session: the new one is told the order afresh
      this._greeted = true;
      this._lastOrder = '';
      this._sendOrder();
    }
    this._received.emit(message);
    if (message.type === 'stopped') {
      this._lose();
    }
  }

  private _lose(): void {
    if (this._comm === null) {
      return;
    }
    this._comm = null;
    this._received.emit(null);
  }

  private _scheduleOrder(): void {
    if (!this._comm) {
      return;
    }
    window.clearTimeout(this._orderTimer);
    this._orderTimer = window.setTimeout(() => this._sendOrder(), ORDER_DEBOUNCE_MS);
  }

  /** A cell is about to run: the kernel must know the order (and the edits) before it judges that run. */
  private _onExecutionScheduled(_: unknown, args: { notebook: unknown }): void {
    if (args.notebook === this.panel.content) {
      window.clearTimeout(this._orderTimer);
      this._sendOrder();
    }
  }

  private _sendOrder(): void {
    const cells = notebookOrder(this.panel);
    const serialised = JSON.stringify(cells);
    if (serialised !== this._lastOrder && this._comm && this._greeted) {
      this._lastOrder = serialised;
      this.send({ type: 'order', cells });
    }
  }

  private _comm: Kernel.IComm | null = null;
  private _asking = false;
  private _askAgain = false;
  private _greeted = false;
  private _disposed = false;
  private _lastOrder = '';
  private _orderTimer = 0;
  private _received = new Signal<this, KernelMessage | null>(this);
}
