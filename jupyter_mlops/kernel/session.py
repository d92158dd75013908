"""A tracked experiment in one kernel: each cell run opened, closed, judged and written to the journal.

The hot path reads like a short story: ``pre_run_cell`` opens a record and starts the file capture;
``post_run_cell`` closes it, hashes what the cell touched (large files on the hasher's threads, their
digests joined later by :mod:`~jupyter_mlops.kernel.pending`), asks the detector for a verdict and
writes one transaction through :mod:`~jupyter_mlops.kernel.backlog`, which keeps the records in memory,
in order, while the journal cannot take them. Nothing here may break or lose the user's cell: every
failure becomes one warning and tracking carries on or pauses.
"""

from __future__ import annotations

import atexit
import functools
import hashlib
import json
import os
import platform
import re
import sqlite3
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from jupyter_mlops import sinks
from jupyter_mlops.core.analysis import analyze
from jupyter_mlops.core.options import TrackOptions
from jupyter_mlops.core.order import Detector, Execution, Issue, NotebookCell, Verdict
from jupyter_mlops.hashing import Hasher
from jupyter_mlops.journal import (
    CellRunRecord,
    FileRecord,
    Journal,
    JournalError,
    MetricRecord,
    ParamRecord,
    explain,
)
from jupyter_mlops.kernel import backlog, comm, lineage
from jupyter_mlops.kernel.backlog import Backlog
from jupyter_mlops.kernel.notebook_file import (
    PAPERMILL_PATHS,
    CodeDiscovery,
    NotebookFile,
    SavedCell,
    find_notebook_with_cell,
    notebooks_with_cell,
    papermill_input,
)
from jupyter_mlops.kernel.pending import PendingDigests
from jupyter_mlops.kernel.values import assigned_names, is_papermill_parameters, metric_value, param_value
from jupyter_mlops.project import DataPaths, find_root, journal_path

# IPython's own history variables (_, __, _i3, _3, In, Out …) are not the user's state.
_IPYTHON_NAMES = re.compile(r"^(_+|_i+|_i?\d+|_oh|_ih|_dh|In|Out|get_ipython|exit|quit)$")
_PARAMETER_TAGS = frozenset({"parameters", "injected-parameters"})
_MAX_WARNINGS_PER_CELL = 3
# Cells whose ids are looked for in the notebooks beside the kernel before giving up on finding it.
_DISCOVERY_ATTEMPTS = 3
# The id of a cell no notebook names (yet): its code's digest.
_CODE_ID_PREFIX = "code-"
# Set by an exported DVC stage: where the run leaves its metrics as JSON (latest value of each).
METRICS_FILE_ENV = "JUPYTER_MLOPS_METRICS_FILE"


@dataclass
class _OpenRun:
    """What is known about the cell between pre_run_cell and post_run_cell."""

    cell_id: str
    code: str
    started_at: float
    t0: float
    bound_before: dict[str, Any]
    deleted_cells: frozenset[str]
    params: list[ParamRecord] = field(default_factory=list)
    metrics: list[MetricRecord] = field(default_factory=list)
    used_bad_state: tuple[Issue, ...] = ()   # what the detector says this run reads that is not reproducible


@dataclass
class _View:
    """The notebook as ``_notebook_as_known`` last built it from one read of the file."""

    saved: list[SavedCell]         # the file's code cells (the same list until the file is read again)
    saved_at: float                # the file's mtime then
    cells: list[NotebookCell]
    position: dict[str, int]       # cell id -> index in ``cells``
    source: dict[str, str]         # cell id -> saved source


class TrackingSession:
    """One ``%mlops_track`` session: owns the journal connection, the hasher and the IPython hooks."""

    def __init__(self, shell: Any, options: TrackOptions, cwd: Path) -> None:
        self.shell = shell
        self.options = options
        self.id = uuid.uuid4().hex[:12]
        self.notebook_path, candidates = _notebook_from(options, shell, cwd)
        # papermill sends no cell ids: with several notebooks holding the tracking cell, later cells decide
        self._discovery = CodeDiscovery(candidates) if len(candidates) > 1 else None
        self._early: list[Execution] = []  # executions while the notebook is being discovered by code
        self.root = Path(cwd / options.root).resolve() if options.root else find_root(
            self.notebook_path.parent if self.notebook_path else cwd
        )
        self._cwd = cwd
        self._notebook = NotebookFile(self.notebook_path) if self.notebook_path else None
        self.paths = DataPaths(self.root, self.notebook_path)
        self.journal = Journal(journal_path(self.root), busy_timeout=backlog.busy_timeout())
        self._warned: set[str] = set()
        self.capture = lineage.CellFiles(str(self.root), lambda: shell.user_ns,
                                         lambda message: self.warn_once(f"files:{message[:40]}", message))
        self.hasher = Hasher(own_open=self.capture.own_open)
        self.detector = Detector()
        self.verdict = Verdict(reproducible=True, issues=())
        self.cells = 0
        self.errors = 0
        self.files: dict[tuple[str, str], FileRecord] = {}
        self.params: dict[str, Any] = {}
        self.metrics: dict[str, float | None] = {}
        self._run: _OpenRun | None = None
        self._refusal: str | None = None
        self._seq = 0
        self._order: list[str] = []          # cell ids in first-execution order, for notebooks we cannot see
        self._deleted: set[str] = set()      # cells the frontend said it deleted
        self._cells: dict[tuple[str, str], NotebookCell] = {}
        self._view: _View | None = None            # the notebook as last built, and the cells run since
        self._ran_since_view: set[str] = set()
        self._last_code: dict[str, tuple[str, float]] = {}
        self._last_cell: str | None = None  # the cell run last, where a cell without an id most likely follows
        # The saved cells (that very list), their positions by code and by id: built once per read of the file.
        self._code_index: tuple[list[SavedCell], dict[str, list[int]], dict[str, int]] | None = None
        self._opaque: set[str] = set()
        self._declared: dict[str, tuple[int, int]] = {}
        self.backlog = Backlog(self.journal, warn=self._warn)  # every journal write, kept while it cannot be done
        self.pending = PendingDigests(self.hasher, self.journal, self.backlog)  # digests the records wait for
        self._transformer = _StrictGate(self)
        # Subscribers to one event per finished cell run (the lab's comm, the MLflow mirror). Each is
        # called on the kernel thread and must return at once; a failing one is dropped with a warning.
        self.listeners: list[Callable[[dict[str, Any]], None]] = []
        # The notebook as the frontend shows it (unsaved edits included), when a frontend tells us.
        self.live_order: list[NotebookCell] | None = None
        self._metrics_file = os.environ.get(METRICS_FILE_ENV)
        self._sinks: list[sinks.Sink] = []

    # --- lifecycle ---------------------------------------------------------------------------------

    def start(self) -> None:
        try:
            self.journal.start_session(
                self.id,
                experiment=self.options.experiment or (self.notebook_path.stem if self.notebook_path else None),
                notebook=self._notebook_rel(),
                root=str(self.root),
                python=platform.python_version(),
                ipython=_ipython_version(),
                options=self.options.as_dict(),
            )
        except sqlite3.Error as exc:  # full, locked for longer than the timeout, damaged past its header
            self.journal.close()
            self.hasher.close()
            self.capture.close()
            raise JournalError(f"cannot start a session in {self.journal.path}: {explain(exc, self.journal.path)}"
                               ) from exc
        self._record_declared_data()
        self._guarded("read the cells run before tracking", self._adopt_history)
        self.shell.events.register("pre_run_cell", self.pre_run_cell)
        self.shell.events.register("post_run_cell", self.post_run_cell)
        if self.options.strict:
            self.shell.ast_transformers.append(self._transformer)
        self._sinks = sinks.start_for(self)
        atexit.register(self._end_at_exit)
        self._guarded("connect the lab panel", lambda: comm.attach(self))

    def _end_at_exit(self) -> None:
        """A kernel shut down while tracking (papermill, nbclient, closing a notebook) ended its session."""
        if self.journal.is_open:
            self.stop()

    def stop(self) -> None:
        atexit.unregister(self._end_at_exit)
        for event, callback in (("pre_run_cell", self.pre_run_cell), ("post_run_cell", self.post_run_cell)):
            try:
                self.shell.events.unregister(event, callback)
            except ValueError:
                pass
        if self._transformer in self.shell.ast_transformers:
            self.shell.ast_transformers.remove(self._transformer)
        self.capture.close()
        self.hasher.wait(timeout=30)
        self.backlog.be_patient()
        self.backlog.flush()
        self._guarded("end the session", lambda: self.journal.end_session(self.id))
        self.hasher.close()  # digests still running end as "cancelled" and are written now
        self.backlog.flush()
        for sink in self._sinks:  # after the last record: the mirror's last pass must see it
            self._guarded("close a mirror", sink.close)
        if self.backlog:
            self.warn_once("lost", f"{len(self.backlog)} records could not be written to {self.journal.path} "
                                   "before tracking stopped; they are lost")
        self.journal.close()

    # --- the hot path -------------------------------------------------------------------------------

    def pre_run_cell(self, info: Any) -> None:
        try:
            code = info.raw_cell or ""
            if self._notebook is None and not info.cell_id:
                self._discover_from_code(code)
            cell_id = info.cell_id or self._fallback_cell_id(code)
            if self._notebook is None and info.cell_id and self.cells < _DISCOVERY_ATTEMPTS:
                self._discover_notebook(info.cell_id)
            deleted = self._deleted_cells()
            self._deleted |= deleted
            self._deleted.discard(cell_id)
            self._run = _OpenRun(
                cell_id=cell_id, code=code, started_at=time.time(), t0=time.perf_counter(),
                bound_before=_bindings(self.shell.user_ns, _names_to_watch(code)), deleted_cells=deleted,
            )
            try:
                self._run.used_bad_state = self.detector.preflight(self._notebook_cells(), cell_id, code)
            except Exception as exc:  # the detector failing must not cost the cell its record
                self._warn("check the cell's inputs", exc)
            self._refusal = _refusal(self._run.used_bad_state) if self.options.strict else None
            self.capture.start(code)
        except Exception as exc:
            self._run = None
            self._warn("open the cell record", exc)

    def post_run_cell(self, result: Any) -> None:
        try:
            reads, writes = self.capture.stop()
        except Exception as exc:  # the files are lost, the cell's record is not
            reads, writes = set(), set()
            self._warn("collect the cell's files", exc)
        run, self._run = self._run, None
        if run is None:  # the cell that started tracking, or a record that failed to open
            return
        try:
            self._close(run, result, reads, writes)
        except Exception as exc:
            self._warn("record the cell", exc)

    def _close(self, run: _OpenRun, result: Any, reads: set[str], writes: set[str]) -> None:
        duration = time.perf_counter() - run.t0
        status, error = _status(result)
        self._seq += 1
        self.cells += 1
        self.errors += status != "ok"
        if run.cell_id not in self._last_code:
            self._order.append(run.cell_id)
        self._last_code[run.cell_id] = (run.code, time.time())
        self._last_cell = run.cell_id
        self._ran_since_view.add(run.cell_id)
        rebound = (_rebound(run.bound_before, self.shell.user_ns, _names_to_watch(run.code))
                   if status != "refused" else frozenset())
        self._note_opaque(rebound)
        files = self._file_records(reads, writes)
        files += self._declared_changes({f.path for f in files if f.mode == "write"})
        if status != "refused":
            run.params += self._params_from(run, rebound)
            run.metrics += self._watched_metrics(rebound)
        execution = Execution(
            cell_id=run.cell_id, code=run.code,
            files_read={f.path: f.md5 for f in files if f.mode == "read"},
            files_written={f.path: f.md5 for f in files if f.mode == "write"},
            ok=status == "ok", rebound=rebound, deleted_cells=run.deleted_cells, error=error,
        )
        if self._discovery is not None:
            self._early.append(execution)
        previous, judged = self.verdict, self._judge(execution, status)
        for metric in run.metrics:
            metric.reproducible = self.verdict.reproducible if judged else None
        record = CellRunRecord(
            seq=self._seq, cell_id=run.cell_id, execution_count=getattr(result, "execution_count", None),
            code=run.code, code_hash=hashlib.md5(run.code.encode("utf-8", "surrogatepass")).hexdigest(),
            started_at=run.started_at, duration=duration, status=status, error=error,
            reproducible=self.verdict.reproducible if judged else None,
            issues=[i.to_dict() for i in self.verdict.issues] if judged else [],
            rebound=sorted(rebound), files=files, params=run.params, metrics=run.metrics,
        )
        self._remember(record)
        self._save(record)
        if status != "refused" and judged:
            self._report_issues(previous, run.used_bad_state)
        if self._notebook is not None and self._notebook.error:
            self.warn_once("notebook", f"{self._notebook.error}; cell order falls back to execution order "
                                       "until the notebook is saved again")
        if run.metrics and self._metrics_file:
            self._guarded("write the metrics file", self._write_metrics_file)
        self._publish(record)

    def _judge(self, execution: Execution, status: str) -> bool:
        """Give the detector the run and take its verdict; False (verdict unknown) if it fails."""
        try:
            if status != "refused":
                self.detector.record(execution)
            self.verdict = self.detector.verdict(self._notebook_cells(), frozenset(self._opaque))
        except Exception as exc:  # the detector failing must not cost the cell its record
            self._warn("judge the cell", exc)
            return False
        return True

    # --- files --------------------------------------------------------------------------------------

    def _file_records(self, reads: set[str], writes: set[str]) -> list[FileRecord]:
        """Records for the data files the cell opened; big ones wait for their digest (``self.pending``)."""
        records: list[FileRecord] = []
        for mode, paths in (("read", reads), ("write", writes)):
            for path in sorted(paths):
                rel = self.paths.relative(path)
                if rel is None:
                    continue
                if mode == "read" and path in writes:
                    # A file the cell read and rewrote: what it read is what we last knew of it.
                    known = self.files.get((rel, "write")) or self.files.get((rel, "read"))
                    if known is not None:
                        records.append(FileRecord(rel, "read", known.size, known.mtime_ns, known.md5))
                        continue
                record = self.pending.record(rel, path, mode)
                if record is not None:
                    records.append(record)
        return records

    def _record_declared_data(self) -> None:
        """Declared inputs as the session's first records; big ones are hashed in background like any file."""
        records: list[FileRecord] = []
        for declared in self.options.data:
            path = str((self._cwd / declared).resolve())
            rel = self.paths.relative(path) or declared
            self._declared[path] = _stamp(path)
            record = self.pending.record(rel, path, "declared")
            if record is not None:
                self.files[(record.path, record.mode)] = record
                records.append(record)
        if records:
            self.backlog.write("the declared data", lambda: self.pending.written(
                records, self.journal.add_session_records(self.id, files=records)))

    def _declared_changes(self, written: set[str]) -> list[FileRecord]:
        """Declared data that changed during the cell counts as written by it (one stat each), unless the
        cell's record has it already."""
        changed = []
        for path, stamp in self._declared.items():
            now = _stamp(path)
            if now != stamp:
                self._declared[path] = now
                rel = self.paths.relative(path) or path
                if rel in written:
                    continue
                record = self.pending.record(rel, path, "write")
                if record is not None:
                    changed.append(record)
        return changed

    # --- params and metrics -------------------------------------------------------------------------

    def _params_from(self, run: _OpenRun, rebound: frozenset[str]) -> list[ParamRecord]:
        ns = self.shell.user_ns
        out = []
        source = self._parameters_source(run)
        if source:
            for name in assigned_names(run.code):
                if name in ns and name not in PAPERMILL_PATHS:  # where papermill ran, not a parameter
                    out.append(ParamRecord(name, param_value(name, ns[name]), source))
        for name in self.options.params:
            if name in rebound and name in ns and not any(p.name == name for p in out):
                out.append(ParamRecord(name, param_value(name, ns[name]), "watched"))
        return out

    def _parameters_source(self, run: _OpenRun) -> str | None:
        if is_papermill_parameters(run.code):
            return "injected"
        if self._notebook is not None:
            for cell in self._notebook.code_cells():
                if cell.cell_id == run.cell_id and cell.tags & _PARAMETER_TAGS:
                    return "injected" if "injected-parameters" in cell.tags else "parameters"
        return None

    def _watched_metrics(self, rebound: frozenset[str]) -> list[MetricRecord]:
        ns = self.shell.user_ns
        out = []
        for name in self.options.metrics:
            if name not in rebound or name not in ns:
                continue
            try:
                value = metric_value(ns[name])
            except TypeError as exc:
                self.warn_once(f"metric-type:{name}", f"--metrics {name}: {exc}; not logged")
                continue
            out.append(MetricRecord(name, value, None, time.time(), "watched"))
        return out

    def log_param(self, name: str, value: Any) -> None:
        record = ParamRecord(name, param_value(name, value), "api")
        if self._run is not None:
            self._run.params.append(record)
        else:
            self.params[name] = record.value
            self.backlog.write(f"param {name}", lambda: self.journal.add_session_records(self.id, params=[record]))

    def log_metric(self, name: str, value: Any, step: int | None = None) -> None:
        try:
            number = metric_value(value)
        except TypeError as exc:
            self.warn_once(f"metric-type:{name}", f"log_metric({name!r}): {exc}; not logged")
            return
        record = MetricRecord(name, number, step, time.time(), "api", self.verdict.reproducible)
        if self._run is not None:
            self._run.metrics.append(record)
        else:
            self.metrics[name] = record.value
            self.backlog.write(f"metric {name}",
                               lambda: self.journal.add_session_records(self.id, metrics=[record]))

    def use_live_order(self, cells: list[NotebookCell]) -> None:
        """The notebook's code cells as a frontend shows them (unsaved edits included): the next verdicts
        judge this order instead of the saved file's."""
        self.live_order = cells

    # --- verdicts -----------------------------------------------------------------------------------

    def _notebook_cells(self) -> list[NotebookCell]:
        cells = self._notebook_as_known()
        return [c for c in cells if c.cell_id not in self._deleted] if self._deleted else cells

    def _notebook_as_known(self) -> list[NotebookCell]:
        """The notebook as it stands: saved order and code, newer for cells run since the last save.

        Cells run but not in the saved file are placed after the cell run before them, which is where a
        user usually inserts one; without any file, execution order is the notebook order. Built once per
        save of the file; after that only the cells run since change, so a cell costs the same in a
        2,000-cell notebook as in a short one.
        """
        if self.live_order is not None:
            return self.live_order
        saved = self._notebook.code_cells() if self._notebook is not None else []
        if self._notebook is None or not self._notebook.ever_read:  # none, or corrupt since we first looked
            return [self._cell(c, self._last_code[c][0]) for c in self._order]
        saved_at = self._notebook_mtime()
        view, ran = self._view, self._ran_since_view
        self._ran_since_view = set()
        if view is None or view.saved is not saved or view.saved_at != saved_at or not ran <= view.position.keys():
            view = self._view = self._build_view(saved, saved_at)
        else:
            for cell_id in ran:
                code, ran_at = self._last_code[cell_id]
                source = view.source.get(cell_id)
                view.cells[view.position[cell_id]] = self._cell(
                    cell_id, code if source is None or ran_at > saved_at else source)
        return list(view.cells)

    def _build_view(self, saved: list[SavedCell], saved_at: float) -> _View:
        cells: list[NotebookCell] = []
        present = set()
        for cell in saved:
            code, ran_at = self._last_code.get(cell.cell_id, (cell.source, 0.0))
            cells.append(self._cell(cell.cell_id, code if ran_at > saved_at else cell.source))
            present.add(cell.cell_id)
        for index, cell_id in enumerate(self._order):
            if cell_id in present or self._last_code[cell_id][1] < saved_at:
                continue  # saved without it: deleted
            after = self._order[index - 1] if index else None  # the first cell run goes on top
            at = next((i + 1 for i, c in enumerate(cells) if c.cell_id == after), len(cells)) if after else 0
            cells.insert(at, self._cell(cell_id, self._last_code[cell_id][0]))
            present.add(cell_id)
        return _View(saved, saved_at, cells, {c.cell_id: i for i, c in enumerate(cells)},
                     {c.cell_id: c.source for c in saved})

    def _cell(self, cell_id: str, code: str) -> NotebookCell:
        """One object per (cell, code): the notebook is rebuilt twice per cell run, and the detector
        compares it with the last one it saw, which costs nothing when the cells are the same objects."""
        key = (cell_id, code)
        cell = self._cells.get(key)
        if cell is None:
            cell = self._cells[key] = NotebookCell(cell_id, code)
        return cell

    def _notebook_mtime(self) -> float:
        try:
            return os.stat(self._notebook.path).st_mtime if self._notebook else 0.0
        except OSError:
            return 0.0

    def _report_issues(self, previous: Verdict, used: tuple[Issue, ...]) -> None:
        """Warn mode: one line per problem this run used or created; old problems are not repeated."""
        seen = {(i.kind, i.cell_id, i.names) for i in previous.issues}
        new = list(used) + [i for i in self.verdict.issues
                            if (i.kind, i.cell_id, i.names) not in seen and i not in used]
        for issue in new[:_MAX_WARNINGS_PER_CELL]:
            print(f"jupyter-mlops: {issue.kind}: {issue.message} → {issue.fix}", file=sys.stderr)
        if len(new) > _MAX_WARNINGS_PER_CELL:
            print(f"jupyter-mlops: +{len(new) - _MAX_WARNINGS_PER_CELL} more issues: %mlops_status lists them",
                  file=sys.stderr)

    # --- saving -------------------------------------------------------------------------------------

    def _remember(self, record: CellRunRecord) -> None:
        """The latest files, params and metrics, as ``status()`` shows them (written to the journal or not)."""
        for f in record.files:
            self.files[(f.path, f.mode)] = f
        for p in record.params:
            self.params[p.name] = p.value
        for m in record.metrics:
            self.metrics[m.name] = m.value

    def _save(self, record: CellRunRecord) -> None:
        """Write the cell (after anything still waiting); its background digests follow when they arrive."""
        self.backlog.write(f"cell #{record.seq}", lambda: self.pending.written(
            record.files, self.journal.add_cell_run(self.id, record)[1]))

    def _write(self, what: str, write: Callable[[], None]) -> None:
        """Queue a journal write; the next record saved (the running cell's, at the latest) writes it first."""
        self.backlog.add(what, write)

    def _write_metrics_file(self) -> None:
        """Non-interactive runs (a DVC stage) leave their metrics where ``dvc.yaml`` says to find them."""
        path = Path(self._metrics_file)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(self.metrics, indent=2, sort_keys=True) + "\n")
        os.replace(tmp, path)

    def _publish(self, record: CellRunRecord) -> None:
        if not self.listeners:
            return
        event = {
            "type": "cell_run", "session": self.id, "seq": record.seq, "cell_id": record.cell_id,
            "execution_count": record.execution_count, "status": record.status, "error": record.error,
            "duration": record.duration, "reproducible": record.reproducible, "issues": record.issues,
            "files": [{"path": f.path, "mode": f.mode, "md5": f.md5, "size": f.size, "pending": f.pending}
                      for f in record.files],
            "params": {p.name: p.value for p in record.params},
            "metrics": {m.name: m.value for m in record.metrics},
        }
        for listener in list(self.listeners):
            try:
                listener(event)
            except Exception as exc:
                self.listeners.remove(listener)
                self._warn("notify a listener", exc)

    # --- small helpers ------------------------------------------------------------------------------

    def _adopt_history(self) -> None:
        """Give the detector the cells run before tracking started, this one included.

        Without them a notebook whose imports ran before ``%mlops_track`` would look as if those cells
        never ran. IPython keeps their code, not their ids: the cell running now has its id from the
        frontend; the others are matched to the notebook by their code.
        """
        history = list(getattr(self.shell.history_manager, "input_hist_raw", None) or [])[1:]
        if not history:
            return
        current = (_parent(self.shell).get("metadata") or {}).get("cellId")
        if self._notebook is None and current:
            self._discover_notebook(str(current))
        for index, code in enumerate(history):
            if not code.strip():
                continue
            cell_id = str(current) if current and index == len(history) - 1 else self._fallback_cell_id(code)
            if cell_id not in self._last_code:
                self._order.append(cell_id)
            self._last_code[cell_id] = (code, time.time())
            self._last_cell = cell_id
            self._ran_since_view.add(cell_id)
            execution = Execution(cell_id=cell_id, code=code)
            if self._discovery is not None:
                self._early.append(execution)  # replayed under the notebook's ids once it is known
            self.detector.record(execution)

    def _fallback_cell_id(self, code: str) -> str:
        """Frontends that send no cell id (papermill, plain IPython): the cell is the one with this code.

        Several cells may hold the same code (``df.head()``): the one right after the cell run last is
        taken (papermill runs in order), else the first not run yet, else the first.
        """
        if self._notebook is not None:
            cells = self._notebook.code_cells()
            if self._code_index is None or self._code_index[0] is not cells:
                by_code: dict[str, list[int]] = {}
                for i, cell in enumerate(cells):
                    by_code.setdefault(cell.source.strip(), []).append(i)
                self._code_index = (cells, by_code, {cell.cell_id: i for i, cell in enumerate(cells)})
            _, by_code, position = self._code_index
            matches = by_code.get(code.strip())
            if matches:
                after = position[self._last_cell] + 1 if self._last_cell in position else 0
                unrun = [i for i in matches if cells[i].cell_id not in self._last_code]
                chosen = after if after in matches else (unrun or matches)[0]
                return cells[chosen].cell_id
        elif self._discovery is not None and (agreed := self._discovery.agreed_id(code)):
            return agreed
        return _CODE_ID_PREFIX + hashlib.md5(code.encode("utf-8", "surrogatepass")).hexdigest()[:12]

    def _discover_notebook(self, cell_id: str) -> None:
        found = find_notebook_with_cell(self._cwd, cell_id=cell_id)
        if found is not None:
            self._adopt_notebook(found)

    def _discover_from_code(self, code: str) -> None:
        """papermill's injected input path, else one more cell's code among the candidates; one warning
        when the candidates cannot be told apart."""
        discovery = self._discovery
        found = papermill_input(self.shell.user_ns, self._cwd) or (discovery.observe(code) if discovery else None)
        if found is not None:
            self._adopt_notebook(found)
        elif discovery is not None and discovery.exhausted():
            self._discovery, self._early = None, []
            names = ", ".join(p.name for p in discovery.candidates)
            self.warn_once("notebook-ambiguous", f"cannot tell which notebook this is ({names} hold the same "
                           "cells); pass --notebook to %mlops_track (or papermill --inject-input-path): "
                           "cell order falls back to execution order")

    def _adopt_notebook(self, found: Path) -> None:
        """The notebook became known after tracking started: cells recorded under their code's id so far
        take the notebook's ids, in the journal and in the detector (replayed), so nothing looks deleted."""
        self.notebook_path = found.resolve()
        self._notebook = NotebookFile(self.notebook_path)
        self.paths = DataPaths(self.root, self.notebook_path)
        notebook = self._notebook_rel() or str(found)
        self._guarded("name the notebook", lambda: self.journal.set_notebook(self.id, notebook))
        early, self._discovery, self._early = self._early, None, []
        saved = {c.source.strip(): c.cell_id for c in reversed(self._notebook.code_cells())}
        renamed = {old: saved[self._last_code[old][0].strip()] for old in self._order
                   if old.startswith(_CODE_ID_PREFIX) and self._last_code[old][0].strip() in saved}
        if not renamed:
            return
        self._view = None
        self._order = list(dict.fromkeys(renamed.get(c, c) for c in self._order))
        self._last_code = {renamed.get(c, c): v for c, v in self._last_code.items()}
        self.detector = Detector()
        for execution in early:
            self.detector.record(replace(execution, cell_id=renamed.get(execution.cell_id, execution.cell_id)))
        self._write("rename the cells run so far", lambda: self.journal.rename_cells(self.id, renamed))

    def _notebook_rel(self) -> str | None:
        if self.notebook_path is None:
            return None
        try:
            return self.notebook_path.resolve().relative_to(self.root).as_posix()
        except ValueError:
            return str(self.notebook_path)

    def _deleted_cells(self) -> frozenset[str]:
        deleted = (_parent(self.shell).get("metadata") or {}).get("deletedCells") or ()
        return frozenset(str(c) for c in deleted)

    def _note_opaque(self, rebound: frozenset[str]) -> None:
        """Values compared only by identity (modules, functions, figures) cannot be checked for equality."""
        ns = self.shell.user_ns
        for name in rebound:
            if name in ns and type(ns[name]).__eq__ is object.__eq__:
                self._opaque.add(name)
            else:
                self._opaque.discard(name)

    def _guarded(self, what: str, action: Any) -> None:
        try:
            action()
        except Exception as exc:
            self._warn(what, exc)

    def _warn(self, what: str, exc: BaseException) -> None:
        self.warn_once(f"{what}:{type(exc).__name__}",
                        f"could not {what} ({type(exc).__name__}: {exc}); tracking continues, your cell ran")

    def warn_once(self, key: str, message: str) -> None:
        if key not in self._warned:
            self._warned.add(key)
            print(f"jupyter-mlops: {message}", file=sys.stderr)


class _StrictGate:
    """An AST transformer: IPython's only way to stop a cell before any of it runs."""

    def __init__(self, session: TrackingSession) -> None:
        self.session = session

    def visit(self, node: Any) -> Any:
        refusal, self.session._refusal = self.session._refusal, None
        if refusal:
            from IPython.core.error import InputRejected

            raise InputRejected(refusal)
        return node


def _refusal(issues: tuple[Issue, ...]) -> str | None:
    if not issues:
        return None
    first = issues[0]
    more = f" (+{len(issues) - 1} more)" if len(issues) > 1 else ""
    return f"jupyter-mlops --strict refused this cell: {first.message}; {first.fix}{more}"


def _notebook_from(options: TrackOptions, shell: Any, cwd: Path) -> tuple[Path | None, list[Path]]:
    """The notebook being run: --notebook; else what the frontend tells the kernel (Jupyter's session
    path, VS Code's variable, papermill's injected input path); else the notebook next to the kernel that
    holds the cell now starting tracking (papermill and nbclient send no cell ids). With several such
    notebooks, none yet, and the candidates for the later cells to decide between."""
    if options.notebook:
        return (cwd / options.notebook).resolve(), []
    ns = shell.user_ns
    for told in (os.environ.get("JPY_SESSION_NAME"), ns.get("__session__"), ns.get("__vsc_ipynb_file__")):
        if isinstance(told, str) and told.endswith(".ipynb"):
            for candidate in (Path(told), cwd / told, cwd / Path(told).name):
                if candidate.is_file():
                    return candidate.resolve(), []
    injected = papermill_input(ns, cwd)
    if injected is not None:
        return injected, []
    request = _parent(shell)
    cell_id = (request.get("metadata") or {}).get("cellId")
    code = (request.get("content") or {}).get("code")
    if cell_id or code:
        found = notebooks_with_cell(cwd, cell_id=cell_id, code=None if cell_id else code)
        if len(found) == 1:
            return found[0].resolve(), []
        return None, [] if cell_id else [p.resolve() for p in found]
    return None, []


def _parent(shell: Any) -> dict[str, Any]:
    """The execute_request being handled (metadata: cellId, deletedCells); empty outside ipykernel."""
    get_parent = getattr(getattr(shell, "kernel", None), "get_parent", None)
    return (get_parent() or {}) if get_parent is not None else {}


_MISSING = object()
_MAGIC_LINE = re.compile(r"^\s*[%!]", re.M)


@functools.lru_cache(maxsize=4096)
def _names_to_watch(code: str) -> frozenset[str] | None:
    """The names a cell can rebind, from its AST; None when only a scan of the namespace can tell.

    Watching only these keeps the cost per cell independent of the namespace, which IPython grows by two
    history variables per cell. Magics, star imports, exec() and code that does not parse get the scan.
    """
    effects = analyze(code)
    if not effects.parsed or effects.dynamic or _MAGIC_LINE.search(code):
        return None
    return frozenset(effects.changes) | effects.deletes


def _bindings(ns: dict[str, Any], names: frozenset[str] | None) -> dict[str, Any]:
    """The objects bound to these names before the cell (all names: None).

    The objects, not their ids: holding them until the cell ends keeps an id from being reused, which
    CPython does at once for an object freed in a loop (``mask = labels == k``), and which would make a
    binding the cell did look like none.
    """
    if names is None:
        return dict(ns)
    return {k: ns.get(k, _MISSING) for k in names}


def _rebound(before: dict[str, Any], ns: dict[str, Any], watched: frozenset[str] | None) -> frozenset[str]:
    """Names the cell bound anew: their object changed, appeared, or was deleted."""
    if watched is not None:
        return frozenset(k for k in watched if ns.get(k, _MISSING) is not before[k])
    changed = {k for k, v in ns.items() if before.get(k, _MISSING) is not v and not _IPYTHON_NAMES.match(k)}
    changed.update(k for k in before.keys() - ns.keys() if not _IPYTHON_NAMES.match(k))
    return frozenset(changed)


def _status(result: Any) -> tuple[str, str | None]:
    error = getattr(result, "error_before_exec", None) or getattr(result, "error_in_exec", None)
    if error is None:
        return "ok", None
    if type(error).__name__ == "InputRejected":
        return "refused", str(error)
    return "error", f"{type(error).__name__}: {error}"[:500]


def _stamp(path: str) -> tuple[int, int]:
    try:
        st = os.stat(path)
    except OSError:
        return (-1, -1)
    return (st.st_size, st.st_mtime_ns)


def _ipython_version() -> str:
    ipython = sys.modules.get("IPython")
    return getattr(ipython, "__version__", "unknown")
