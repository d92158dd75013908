/**
 * The extension's token (`IMlopsTracker`, for other extensions) and the shapes exchanged with the kernel
 * (comm "jupyter_mlops") and the server (`/mlops/...`). The shapes mirror `jupyter_mlops/kernel/status.py`,
 * `kernel/comm.py`, `core/verdict/model.py` (`Issue.to_dict`) and `server/history.py`. It imports nothing of ours:
 * the model (`model.ts`, `tracker.ts`) implements the interfaces declared here, and views depend on these.
 */
import { NotebookPanel } from '@jupyterlab/notebook';
import { Token } from '@lumino/coreutils';
import { ISignal } from '@lumino/signaling';

export const COMM_TARGET = 'jupyter_mlops';
/** The `ename` of `%mlops_track`'s refusal to replace a running session with other options (kernel/magic.py). */
export const TRACKING_RUNNING = 'TrackingRunning';
/** The main plugin's id, which is also the id of its settings (schema/plugin.json). */
export const PLUGIN_ID = 'jupyter-mlops:plugin';
export const PANEL_ID = 'jupyter-mlops-panel';
/** The gettext domain of every string a user reads. */
export const TRANSLATION_DOMAIN = 'jupyter_mlops';

export const CommandIDs = {
  openPanel: 'jupyter-mlops:open',
  startTracking: 'jupyter-mlops:start-tracking',
  verify: 'jupyter-mlops:verify'
} as const;

/** One reason the notebook's state is not reproducible, as the kernel's detector reports it. */
export interface IIssue {
  kind: string;
  /** The cell the user must look at. */
  cell_id: string | null;
  names?: string[];
  message: string;
  /** The fix in words, for people ("run cells 2–3"); programs use `restart` and `run`. */
  fix: string;
  /** The fix is "restart the kernel and run all". Absent in records of older versions. */
  restart?: boolean;
  /** The ids of the cells to run, in order. Absent in records of older versions. */
  run?: string[];
}

export interface IFileState {
  path: string;
  mode: string;
  md5: string | null;
  size: number | null;
  pending: boolean;
  error?: string | null;
}

/** `jupyter_mlops.status()`: the live session as the kernel sees it now. */
export interface IStatus {
  session: string | null;
  tracking: boolean;
  mode?: 'warn' | 'strict';
  notebook?: string | null;
  reproducible: boolean | null;
  issues: IIssue[];
  cells: number;
  errors: number;
  files: IFileState[];
  params: Record<string, unknown>;
  metrics: Record<string, number | null>;
}

/** Kernel → frontend messages. */
export type KernelMessage =
  | { type: 'hello'; protocol: number; snapshot: IStatus }
  | ({ type: 'cell_run'; snapshot: IStatus } & ICellRunEvent)
  | { type: 'status'; snapshot: IStatus }
  | { type: 'stopped' };

export interface ICellRunEvent {
  session: string;
  seq: number;
  cell_id: string;
  execution_count: number | null;
  status: string;
  error: string | null;
  duration: number;
  reproducible: boolean | null;
  issues: IIssue[];
  files: IFileState[];
  params: Record<string, unknown>;
  metrics: Record<string, number | null>;
}

/** A journal row of a cell run (`Journal.session_detail`). */
export interface ICellRun {
  seq: number;
  cell_id: string;
  execution_count: number | null;
  code?: string;
  started_at?: number;
  duration: number;
  status: string;
  error: string | null;
  reproducible: boolean | null;
  issues: IIssue[];
}

export interface IFileAccess extends IFileState {
  seq: number | null;
  cell_id: string | null;
}

export interface IParam {
  name: string;
  value: unknown;
  source: string;
  seq: number | null;
}

export interface IMetric {
  name: string;
  value: number | null;
  step: number | null;
  logged_at: number;
  source: string;
  seq: number | null;
  reproducible: boolean | null;
}

export interface ISessionHeader {
  id: string;
  experiment: string | null;
  notebook: string | null;
  started_at: number;
  ended_at: number | null;
  state: string;
  mode: 'warn' | 'strict';
}

export interface ISessionSummary extends ISessionHeader {
  cells: number;
  errors: number;
  reproducible: boolean | null;
  issues: number;
  params: Record<string, unknown>;
  metrics: Record<string, number | null>;
}

export interface ISessionDetail {
  id: string;
  state: string;
  options: Record<string, unknown>;
  cell_runs: ICellRun[];
  files: IFileAccess[];
  params: IParam[];
  metrics: IMetric[];
}

export interface ISessionList {
  notebook: string;
  sessions: ISessionSummary[];
  note: string | null;
}

export interface ICompareRow {
  name: string;
  a: unknown;
  b: unknown;
  differs: boolean;
}

export interface ICompare {
  a: ISessionHeader;
  b: ISessionHeader;
  params: ICompareRow[];
  metrics: ICompareRow[];
  files: ICompareRow[];
}

export interface IExportResult {
  written: string[];
  stages: string[];
}

export interface IVerifyResult {
  ok: boolean;
  rows: Record<string, unknown>[];
  message: string;
}

export interface IJob {
  id: string;
  kind: string;
  state: 'running' | 'done' | 'failed';
  progress: string[];
  result: IVerifyResult | null;
  /** Why a failed job failed, and what to do about it (absent from servers before the hint). */
  message: string | null;
  hint?: string | null;
}

/** User settings (schema/plugin.json). */
export interface ISettings {
  defaultMode: 'warn' | 'strict';
  cellBadges: boolean;
}

/** A refusal or failure the user reads: what happened and, when the server knows one, what to do. */
/** A registry version made from a session's model, with the aliases pointing at it now. */
export interface IModelVersion {
  name: string;
  version: string;
  aliases: string[];
}

/** A model file the session wrote, as the MLflow mirror judged it (`model_id` null: not an MLflow model). */
export interface ISessionModel {
  path: string;
  md5: string;
  model_id: string | null;
  flavor: string | null;
  note: string | null;
  versions: IModelVersion[];
}

/** `GET /mlops/models`: a session's models; `suggested_name` is its experiment, `note` why MLflow was not read. */
export interface IModelList {
  session: string;
  store: string;
  suggested_name: string;
  note: string | null;
  models: ISessionModel[];
}

/** `POST /mlops/register`'s answer: the new version and its lineage. */
export interface IRegistered {
  name: string;
  version: string;
  aliases: string[];
  uri: string;
}

export interface IProblem {
  message: string;
  hint: string | null;
  /** The server refused because of the project's state (409: a hand-edited dvc.yaml, a state not reproducible). */
  refused?: boolean;
}

/** One data file as the panel lists it: its latest access, and whether its digest changed. */
export interface IDataFile {
  path: string;
  mode: string;
  md5: string | null;
  size: number | null;
  pending: boolean;
  cellId: string | null;
  seq: number | null;
  changed: boolean;
}

/** A user action's progress: running, its result, or what went wrong. */
export interface IActionState<T> {
  busy: boolean;
  result: T | null;
  error: IProblem | null;
}

/**
 * One open notebook's tracking (`TrackedNotebook` in model.ts): the live session (from the comm) merged
 * with the journal's history (from REST). Views read the getters; every change emits `changed`.
 */
export interface ITrackedNotebook {
  readonly panel: NotebookPanel;
  readonly changed: ISignal<ITrackedNotebook, void>;
  readonly path: string;
  /** The kernel's status when it is tracking and connected; null otherwise. */
  readonly live: IStatus | null;
  readonly sessions: ISessionSummary[];
  /** Why history is empty, as the server says it ("not tracked yet"…). */
  readonly historyNote: string | null;
  /** Why history could not be read (server extension not installed, a journal it refuses…). */
  readonly historyError: IProblem | null;
  /** The server answers without our extension: no history, Export or Verify. */
  readonly serverExtensionMissing: boolean;
  /** The session the panel details: the live one, else the one picked in the list, else the newest. */
  readonly shownSession: string | null;
  readonly reproducible: boolean | null;
  readonly issues: IIssue[];
  readonly timeline: ICellRun[];
  readonly files: IDataFile[];
  readonly params: Record<string, unknown>;
  readonly metrics: Map<string, IMetric[]>;
  metricAcrossSessions(name: string): { session: string; value: number }[];
  readonly compare: IActionState<ICompare> & { a: string | null; b: string | null };
  readonly exportState: IActionState<IExportResult>;
  readonly verifyState: IActionState<IJob>;
  /** Show a past session (ignored while a live session is shown). */
  pick(sessionId: string): Promise<void>;
  reloadHistory(): Promise<void>;
  compareSessions(a: string, b: string): Promise<void>;
  exportDvc(): Promise<void>;
  /** Start a verify job and follow it until it ends (ignored while one is being followed). */
  verify(): Promise<void>;
}

/** The tracking state of every open notebook, provided by `jupyter-mlops:plugin`. */
export interface IMlopsTracker {
  /** The current notebook's tracking; null when no notebook is current. */
  readonly current: ITrackedNotebook | null;
  /** The tracking of an open notebook, if it is open. */
  find(panel: NotebookPanel): ITrackedNotebook | undefined;
  /** Every open notebook's tracking. */
  readonly notebooks: readonly ITrackedNotebook[];
  /** Emitted when the current notebook, or anything of its tracking, changes. */
  readonly currentChanged: ISignal<IMlopsTracker, ITrackedNotebook | null>;
  /** Emitted when any notebook's tracking changes (opened, updated, closed). */
  readonly notebookChanged: ISignal<IMlopsTracker, ITrackedNotebook>;
  readonly settings: ISettings;
  readonly settingsChanged: ISignal<IMlopsTracker, ISettings>;
}

export const IMlopsTracker = new Token<IMlopsTracker>(
  'jupyter-mlops:IMlopsTracker',
  'The tracked runs and reproducibility verdict of every open notebook.'
);

/** `GET /mlops/profiles`: one column of a data profile, compacted for the panel (`server/profiles.py`). */
export interface IProfileField {
  name: string;
  kind: 'numeric' | 'discrete';
  dtype: string;
  null_fraction: number;
  psi: number | null;
  verdict: 'ok' | 'warn' | 'drift' | null;
  min?: number | null;
  max?: number | null;
  mean?: number | null;
  median?: number | null;
  histogram?: number[];
  cardinality?: number;
  top?: [string, number][];
  other?: number;
}

/** One tabular input of the latest session: its profile and its drift against the previous session. */
export interface IProfiledInput {
  name: string;
  md5: string | null;
  verdict: 'ok' | 'warn' | 'drift' | 'unknown' | null;
  note: string | null;
  rows?: number;
  columns?: number;
  sampled?: boolean;
  sample_rows?: number;
  fields: IProfileField[];
}

export interface IProfiles {
  session: string | null;
  previous: string | null;
  inputs: IProfiledInput[];
}

/** `GET /mlops/sweeps`: one experiment of a sweep, a row of its table (`sweep/results.py`, `server/sweeps.py`). */
export interface ISweepRow {
  experiment: string;
  state: 'queued' | 'running' | 'success' | 'failed';
  params: Record<string, unknown>;
  metrics: Record<string, number>;
  session: string | null;
  best: boolean;
  log: string | null;
  /** Its tracked session's summary (cells, verdict, every param and metric); null while it has none. */
  details: ISessionSummary | null;
}

/** One sweep: the table `jupyter mlops sweep --show ID --json` prints, and what was asked. */
export interface ISweep {
  sweep: string;
  notebook: string;
  created_at: number;
  jobs: number;
  metric: string | null;
  order: 'ascending' | 'descending';
  params: string[];
  metrics: string[];
  best: string | null;
  rows: ISweepRow[];
}

export interface ISweeps {
  notebook: string;
  /** The project's sweeps, newest first. */
  sweeps: ISweep[];
}

/** `POST /mlops/sweeps/apply`: the params of params.yaml that changed (name → new value). */
export interface IApplyResult {
  experiment: string;
  changed: Record<string, unknown>;
  params: Record<string, string>;
}

/** `GET /mlops/serving`: one running `jupyter mlops serve` of a model registered from this notebook. */
export interface IServedColumn {
  name: string;
  psi: number | null;
  verdict: 'ok' | 'warn' | 'drift' | 'unknown';
  note: string | null;
}

export interface IServerStatus {
  requests_per_s?: number;
  p50_ms?: number | null;
  p99_ms?: number | null;
  window_rows?: number;
  verdict?: string | null;
  drift_note?: string | null;
  accuracy?: number | null;
  columns?: IServedColumn[];
}

export interface IServedModel {
  url: string;
  model: string;
  version: string;
  aliases: string[];
  session: string | null;
  commit: string | null;
  started_at: number;
  updated_at: number;
  status: IServerStatus;
}

export interface IServing {
  servers: IServedModel[];
}
