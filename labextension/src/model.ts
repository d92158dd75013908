/**
 * `TrackedNotebook`: one open notebook's tracking, as the panel, badges and status item show it: the live
 * session (from the comm) merged with the journal's history (from REST). Views read the derived getters;
 * every change emits `changed`.
 */
import { NotebookPanel } from '@jupyterlab/notebook';
import { TranslationBundle } from '@jupyterlab/translation';
import { Poll } from '@lumino/polling';
import { ISignal, Signal } from '@lumino/signaling';

import { KernelLink } from './comm';
import { api, ApiError } from './server';
import {
  IActionState,
  ICellRun,
  ICompare,
  IExportResult,
  IDataFile,
  IFileAccess,
  IIssue,
  IJob,
  IMetric,
  IProblem,
  ISessionDetail,
  ISessionSummary,
  IStatus,
  ITrackedNotebook,
  KernelMessage
} from './tokens';

const JOB_POLL_MS = 1000;
const HASH_REFRESH_MS = 1500;
// The session list (cells, latest metrics) is re-read once runs pause, not after every cell.
const HISTORY_REFRESH_MS = 800;

/** What went wrong, in the user's language where the words are ours, with the server's hint if any. */
export function describeError(error: unknown, trans: TranslationBundle): IProblem {
  if (error instanceof ApiError && error.failure === 'missing-extension') {
    return {
      message: trans.__('server extension not installed: history, Export and Verify are unavailable'),
      hint: trans.__('run `pip install jupyter-mlops` in the server’s environment and restart Jupyter')
    };
  }
  if (error instanceof ApiError && error.failure === 'unreachable') {
    return { message: trans.__('cannot reach the Jupyter server: %1', error.message), hint: null };
  }
  return {
    message: error instanceof Error ? error.message : String(error),
    hint: error instanceof ApiError ? error.hint : null,
    refused: error instanceof ApiError && error.status === 409
  };
}

export class TrackedNotebook implements ITrackedNotebook {
  constructor(
    readonly panel: NotebookPanel,
    private readonly trans: TranslationBundle
  ) {
    this.link = new KernelLink(panel);
    this.link.received.connect(this._onKernelMessage, this);
    panel.context.pathChanged.connect(() => void this.reloadHistory(), this);
    // "Start tracking" and "no kernel" depend on the kernel, which comes and goes without a message.
    panel.sessionContext.kernelChanged.connect(() => this._changed.emit(), this);
    panel.sessionContext.statusChanged.connect(() => this._changed.emit(), this);
    void this.reloadHistory();
  }

  readonly link: KernelLink;

  get changed(): ISignal<this, void> {
    return this._changed;
  }

  get path(): string {
    return this.panel.context.path;
  }

  /** The kernel's status when it is tracking and connected; null otherwise. */
  get live(): IStatus | null {
    return this._live;
  }

  get sessions(): ISessionSummary[] {
    return this._sessions;
  }

  /** Why history is empty, as the server says it ("not tracked yet"…). */
  get historyNote(): string | null {
    return this._historyNote;
  }

  /** Why history could not be read (server extension not installed, a journal it refuses…). */
  get historyError(): IProblem | null {
    return this._historyError;
  }

  /** The server answers without our extension: no history, Export or Verify. */
  get serverExtensionMissing(): boolean {
    return this._serverExtensionMissing;
  }

  /** The session the panel details: the live one, else the one picked in the list, else the newest. */
  get shownSession(): string | null {
    return this._live?.session ?? this._picked ?? this._sessions[0]?.id ?? null;
  }

  get reproducible(): boolean | null {
    if (this._live) {
      return this._live.reproducible;
    }
    const runs = this._detail?.cell_runs ?? [];
    return runs.length ? runs[runs.length - 1].reproducible : null;
  }

  get issues(): IIssue[] {
    if (this._live) {
      return this._live.issues;
    }
    const runs = this._detail?.cell_runs ?? [];
    return runs.length ? runs[runs.length - 1].issues : [];
  }

  /** Cell runs of the shown session, newest first. */
  get timeline(): ICellRun[] {
    return [...this._runs()].reverse();
  }

  get files(): IDataFile[] {
    const latest = new Map<string, IDataFile>();
    for (const f of this._fileAccesses()) {
      const key = `${f.path}\u0000${f.mode}`;
      const before = latest.get(key);
      const changed =
        (before?.changed ?? false) ||
        (before !== undefined && !!before.md5 && !!f.md5 && before.md5 !== f.md5);
      latest.set(key, {
        path: f.path,
        mode: f.mode,
        md5: f.md5 ?? (f.pending ? null : before?.md5 ?? null),
        size: f.size ?? before?.size ?? null,
        pending: f.pending,
        cellId: f.cell_id,
        seq: f.seq,
        changed
      });
    }
    for (const now of this._live?.files ?? []) {
      const known = latest.get(`${now.path}\u0000${now.mode}`);
      if (known && known.pending && !now.pending) {
        Object.assign(known, { md5: now.md5, size: now.size, pending: false });
      }
    }
    return [...latest.values()].sort((a, b) => a.path.localeCompare(b.path));
  }

  get params(): Record<string, unknown> {
    if (this._live) {
      return this._live.params;
    }
    const out: Record<string, unknown> = {};
    for (const p of this._detail?.params ?? []) {
      out[p.name] = p.value;
    }
    return out;
  }

  /** Every logged value of each metric in the shown session, in logging order (the chart's steps). */
  get metrics(): Map<string, IMetric[]> {
    const out = new Map<string, IMetric[]>();
    const stored = this._detail?.metrics ?? [];
    const runs = this._detail?.cell_runs ?? [];
    const last = runs.length ? runs[runs.length - 1].seq : 0;
    for (const m of [...stored, ...this._liveMetrics.filter(l => (l.seq ?? 0) > last)]) {
      out.set(m.name, [...(out.get(m.name) ?? []), m]);
    }
    return out;
  }

  /** The last value of `name` in each past session of this notebook, oldest first (the other chart). */
  metricAcrossSessions(name: string): { session: string; value: number }[] {
    return [...this._sessions]
      .reverse()
      .filter(s => typeof s.metrics[name] === 'number')
      .map(s => ({ session: s.id, value: s.metrics[name] as number }));
  }

  get compare(): IActionState<ICompare> & { a: string | null; b: string | null } {
    return this._compare;
  }

  get exportState(): IActionState<IExportResult> {
    return this._export;
  }

  get verifyState(): IActionState<IJob> {
    return this._verify;
  }

  /** Show a past session (ignored while a live session is shown). */
  async pick(sessionId: string): Promise<void> {
    this._picked = sessionId;
    await this._loadDetail();
  }

  async reloadHistory(): Promise<void> {
    await this._reloadSessions();
    await this._loadDetail();
  }

  async compareSessions(a: string, b: string): Promise<void> {
    this._compare = { a, b, busy: true, result: null, error: null };
    this._changed.emit();
    try {
      this._compare = { ...this._compare, busy: false, result: await api.compare(this.path, a, b) };
    } catch (error) {
      this._compare = { ...this._compare, busy: false, error: describeError(error, this.trans) };
    }
    this._changed.emit();
  }

  async exportDvc(): Promise<void> {
    this._export = { busy: true, result: null, error: null };
    this._changed.emit();
    try {
      await this._saveFirst();
      this._export = { busy: false, result: await api.exportDvc(this.path), error: null };
    } catch (error) {
      this._export = { busy: false, result: null, error: describeError(error, this.trans) };
    }
    this._changed.emit();
  }

  /** Start a verify job and follow it until it ends (ignored while one is being followed). */
  async verify(): Promise<void> {
    if (this._verify.busy) {
      return;
    }
    this._verify = { busy: true, result: null, error: null };
    this._changed.emit();
    try {
      await this._saveFirst();
      const job = await this._follow(await api.verify(this.path));
      const failed = job.state === 'failed' ? { message: job.message ?? job.state, hint: job.hint ?? null } : null;
      this._verify = { busy: false, result: job, error: failed };
    } catch (error) {
      this._verify = { busy: false, result: null, error: describeError(error, this.trans) };
    }
    this._changed.emit();
  }

  dispose(): void {
    window.clearTimeout(this._hashTimer);
    window.clearTimeout(this._historyTimer);
    this._jobPoll?.dispose();
    this.link.dispose();
    Signal.clearData(this);
  }

  /** The job once it is no longer running, its progress shown on the way. Polled with Lumino's `Poll`,
   * which stands by while the page is hidden; disposing the notebook stops it. */
  private _follow(started: IJob): Promise<IJob> {
    if (started.state !== 'running') {
      return Promise.resolve(started);
    }
    return new Promise<IJob>((resolve, reject) => {
      let job = started;
      let failure: unknown = null;
      const poll = new Poll({
        name: 'jupyter-mlops:verify',
        frequency: { interval: JOB_POLL_MS, backoff: false },
        standby: 'when-hidden',
        auto: false,
        factory: async () => {
          try {
            job = await api.job(job.id);
          } catch (error) {
            failure = error;
          }
          if (failure !== null || job.state !== 'running') {
            poll.dispose();
            return;
          }
          this._verify = { busy: true, result: job, error: null };
          this._changed.emit();
        }
      });
      poll.disposed.connect(() => {
        this._jobPoll = null;
        if (failure !== null) {
          reject(failure);
        } else {
          resolve(job);
        }
      });
      this._jobPoll = poll;
      this._verify = { busy: true, result: job, error: null };
      this._changed.emit();
      void poll.start();
    });
  }

  private async _saveFirst(): Promise<void> {
    if (this.panel.context.model.dirty) {
      await this.panel.context.save();
    }
  }

  private _runs(): ICellRun[] {
    const stored = this._detail?.cell_runs ?? [];
    const last = stored.length ? stored[stored.length - 1].seq : 0;
    return [...stored, ...this._liveRuns.filter(r => r.seq > last)];
  }

  private _fileAccesses(): IFileAccess[] {
    const stored = this._detail?.files ?? [];
    const last = Math.max(0, ...stored.map(f => f.seq ?? 0));
    return [...stored, ...this._liveFiles.filter(f => (f.seq ?? 0) > last)];
  }

  private async _reloadSessions(): Promise<void> {
    try {
      const list = await api.sessions(this.path);
      this._sessions = list.sessions;
      this._historyNote = list.note;
      this._historyError = null;
      this._serverExtensionMissing = false;
    } catch (error) {
      this._sessions = [];
      this._historyNote = null;
      this._historyError = describeError(error, this.trans);
      this._serverExtensionMissing = error instanceof ApiError && error.failure === 'missing-extension';
    }
    this._changed.emit();
  }

  private async _loadDetail(): Promise<void> {
    const id = this.shownSession;
    if (!id || this._serverExtensionMissing) {
      this._detail = null;
      this._changed.emit();
      return;
    }
    try {
      const detail = await api.session(this.path, id);
      if (id === this.shownSession) {
        this._detail = detail;
      }
    } catch (error) {
      // A session that has not written its first cell yet is not in the journal: live data will do.
      this._detail = error instanceof ApiError && error.status === 404 ? null : this._detail;
    }
    this._changed.emit();
  }

  private _onKernelMessage(_: KernelLink, message: KernelMessage | null): void {
    if (message === null || message.type === 'stopped') {
      this._live = null;
      this._resetLive();
      void this.reloadHistory();
      return;
    }
    const newSession = message.snapshot.session !== this._live?.session;
    this._live = message.snapshot.tracking ? message.snapshot : null;
    if (newSession) {
      this._resetLive();
      this._detail = null;
      void this.reloadHistory();
    }
    if (message.type === 'cell_run') {
      const { snapshot: _, type: __, ...run } = message;
      this._liveRuns.push(run);
      this._liveFiles.push(...message.files.map(f => ({ ...f, seq: message.seq, cell_id: message.cell_id })));
      this._liveMetrics.push(
        ...Object.entries(message.metrics).map(([name, value]) => ({
          name, value, step: null, logged_at: Date.now() / 1000, source: 'live', seq: message.seq,
          reproducible: message.reproducible
        }))
      );
    }
    if (message.type === 'cell_run') {
      window.clearTimeout(this._historyTimer);
      this._historyTimer = window.setTimeout(() => void this._reloadSessions(), HISTORY_REFRESH_MS);
    }
    if (message.snapshot.files.some(f => f.pending)) {
      window.clearTimeout(this._hashTimer);
      this._hashTimer = window.setTimeout(() => this.link.refresh(), HASH_REFRESH_MS);
    }
    this._changed.emit();
  }

  private _resetLive(): void {
    this._liveRuns = [];
    this._liveFiles = [];
    this._liveMetrics = [];
  }

  private _changed = new Signal<this, void>(this);
  private _live: IStatus | null = null;
  private _liveRuns: ICellRun[] = [];
  private _liveFiles: IFileAccess[] = [];
  private _liveMetrics: IMetric[] = [];
  private _sessions: ISessionSummary[] = [];
  private _historyNote: string | null = null;
  private _historyError: IProblem | null = null;
  private _serverExtensionMissing = false;
  private _picked: string | null = null;
  private _detail: ISessionDetail | null = null;
  private _compare: IActionState<ICompare> & { a: string | null; b: string | null } = {
    a: null, b: null, busy: false, result: null, error: null
  };
  private _export: IActionState<IExportResult> = { busy: false, result: null, error: null };
  private _verify: IActionState<IJob> = { busy: false, result: null, error: null };
  private _hashTimer = 0;
  private _historyTimer = 0;
  private _jobPoll: Poll | null = null;
}
