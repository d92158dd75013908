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
import json
import os
import platform
import re
import sqlite3
import sys
import time
import types
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jupyter_mlops import project_files, provenance
from jupyter_mlops.core.analysis import analyze, is_ipython_internal
from jupyter_mlops.core.history import not_established, unbound_state
from jupyter_mlops.core.notebook import Cell
from jupyter_mlops.core.options import TrackOptions
from jupyter_mlops.core.redact import Redactor, code_digest
from jupyter_mlops.core.verdict.detector import Detector
from jupyter_mlops.core.verdict.model import Execution, Issue, Verdict
from jupyter_mlops.hashing import Hasher
from jupyter_mlops.journal import (
    CellRunRecord,
    FileRecord,
    Journal,
    JournalError,
    MetricRecord,
    ParamRecord,
    Provenance,
    explain,
)
from jupyter_mlops.kernel import backlog, lineage, plugins
from jupyter_mlops.kernel.backlog import Backlog
from jupyter_mlops.kernel.fingerprint import fingerprints
from jupyter_mlops.kernel.notebook_file import PAPERMILL_PATHS
from jupyter_mlops.kernel.notebook_view import NotebookView, locate_notebook
from jupyter_mlops.kernel.pending import PendingDigests
from jupyter_mlops.kernel.values import assigned_names, metric_value, param_value
from jupyter_mlops.project import DataPaths, find_root, home_root, journal_path
from jupyter_mlops.sweep import identity

_MAX_WARNINGS_PER_CELL = 3
# Set by an exported DVC stage: where the run leaves its metrics as JSON (latest value of each).
METRICS_FILE_ENV = "JUPYTER_MLOPS_METRICS_FILE"


@dataclass
class _OpenRun:
    """What is known about the cell between pre_run_cell and post_run_cell."""

    cell_id: str
    code: str
    started_at: float
    t0: float
    watched: frozenset[str] | None  # the names it can rebind (``_names_to_watch``); None: scan the namespace
    bound_before: dict[str, Any]
    deleted_cells: frozenset[str]
    params: list[ParamRecord] = field(default_factory=list)
    metrics: list[MetricRecord] = field(default_factory=list)
    used_bad_state: tuple[Issue, ...] = ()   # what the detector says this run reads that is not reproducible


class TrackingSession:
    """One ``%mlops_track`` session: owns the journal connection, the hasher and the IPython hooks."""

    def __init__(self, shell: Any, options: TrackOptions, cwd: Path) -> None:
        self.shell = shell
        self.options = options
        self.id = uuid.uuid4().hex[:12]
        notebook_path, candidates = locate_notebook(options, shell, cwd)
        self.root = Path(cwd / options.root).resolve() if options.root else find_root(
            notebook_path.parent if notebook_path else cwd
        )
        # Where the journal and the MLflow mirror live: the root, except in a DVC experiment's copy of it.
        self.home = home_root(self.root)
        self._cwd = cwd
        self.notebook = NotebookView(shell, cwd, self.root, notebook_path, candidates,
                                     warn=self.warn_once, found=self._notebook_found)
        self.paths = DataPaths(self.root, notebook_path)
        self.journal = Journal(journal_path(self.home), busy_timeout=backlog.busy_timeout())
        self._warned: set[str] = set()
        self.capture = lineage.CellFiles(str(self.root), lambda: shell.user_ns,
                                         lambda message: self.warn_once(f"files:{message[:40]}", message))
        self.hasher = Hasher(own_open=self.capture.own_open)
        self.detector = Detector()
        # Secrets never leave the kernel: stored code, errors and params are masked (the detector, in
        # memory, judges the code as it ran).
        self.redact = Redactor(options.secrets)
        self.verdict = Verdict(reproducible=True, issues=())
        self.unestablished: Issue | None = None  # why a late start cannot vouch for the state, if it cannot
        self.cells = 0
        self.errors = 0
        self.files: dict[tuple[str, str], FileRecord] = {}
        self.params: dict[str, Any] = {}
        self.metrics: dict[str, float | None] = {}
        self._run: _OpenRun | None = None
        self._refusal: str | None = None
        self._seq = 0
        self._opaque: set[str] = set()
        self._declared: dict[str, tuple[int, int]] = {}
        self.backlog = Backlog(self.journal, warn=self._warn)  # every journal write, kept while it cannot be done
        self.pending = PendingDigests(self.hasher, self.journal, self.backlog)  # digests the records wait for
        self._transformer = _StrictGate(self)
        # Subscribers to one event per finished cell run (the lab's comm, the MLflow mirror). Each is
        # called on the kernel thread and must return at once; a failing one is dropped with a warning.
        self.listeners: list[Callable[[dict[str, Any]], None]] = []
        # The notebook as the frontend shows it (unsaved edits included), when a frontend tells us.
        self.live_order: list[Cell] | None = None
        self._metrics_file = os.environ.get(METRICS_FILE_ENV)
        self._plugins: list[plugins.Plugin] = []
        self.provenance: Provenance | None = None

    # --- lifecycle ---------------------------------------------------------------------------------

    def start(self) -> None:
        try:
            self.journal.start_session(
                self.id,
                experiment=self.options.experiment or (self.notebook.path.stem if self.notebook.path else None),
                notebook=self.notebook.relative_path(),
                root=str(self.root),
                python=platform.python_version(),
                ipython=_ipython_version(),
                options={**self.options.as_dict(), **identity.session_options()},
            )
        except sqlite3.Error as exc:  # full, locked for longer than the timeout, damaged past its header
            self.journal.close()
            self.hasher.close()
            self.capture.close()
            raise JournalError(f"cannot start a session in {self.journal.path}: {explain(exc, self.journal.path)}"
                               ) from exc
        self._guarded("record the git commit and the environment", self._record_provenance)
        self._record_declared_data()
        self._guarded("read the cells run before tracking", self._record_history)
        self.shell.events.register("pre_run_cell", self.pre_run_cell)
        self.shell.events.register("post_run_cell", self.post_run_cell)
        if self.options.strict:
            self.shell.ast_transformers.append(self._transformer)
        self._plugins = plugins.start_for(self)
        atexit.register(self._end_at_exit)

    def _record_provenance(self) -> None:
        """Where the session runs, captured now, while the cell that starts tracking runs: no record is open,
        so what git reads is no cell's (``provenance.py``)."""
        captured = self.provenance = provenance.capture(self.root)
        self.backlog.write("the session's provenance", lambda: self.journal.save_provenance(self.id, captured))

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
        for plugin in self._plugins:  # after the last record: the mirror's last pass must see it
            self._guarded("close a plug-in", plugin.close)
        if self.backlog:
            self.warn_once("lost", f"{len(self.backlog)} records could not be written to {self.journal.path} "
                                   "before tracking stopped; they are lost")
        self.journal.close()

    # --- the hot path -------------------------------------------------------------------------------

    def pre_run_cell(self, info: Any) -> None:
        if not getattr(info, "store_history", True):
            # A frontend's own request (the panel's Start, VS Code's variable queries), not a notebook cell
            self._run = None
            return
        try:
            code = info.raw_cell or ""
            cell_id = self.notebook.cell_id(info.cell_id, code)
            deleted = self.notebook.deleted_cells(cell_id)
            watched = _names_to_watch(code)
            self._run = _OpenRun(
                cell_id=cell_id, code=code, started_at=time.time(), t0=time.perf_counter(), watched=watched,
                bound_before=_bindings(self.shell.user_ns, watched), deleted_cells=deleted,
            )
            try:
                self._run.used_bad_state = self.detector.preflight(self.notebook.cells(self.live_order), cell_id, code)
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
        rebound = (_rebound(run.bound_before, self.shell.user_ns, run.watched)
                   if status != "refused" else frozenset())
        self._note_opaque(rebound)
        self._guarded("remember which cell made the values", lambda: self.capture.made(rebound))
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
            values=fingerprints(self.shell.user_ns, rebound),
        )
        self.notebook.ran(execution)
        previous, judged = self.verdict, self._judge(execution, status)
        for metric in run.metrics:
            metric.reproducible = self.verdict.reproducible if judged else None
        record = CellRunRecord(
            seq=self._seq, cell_id=run.cell_id, execution_count=getattr(result, "execution_count", None),
            code=self.redact.code(run.code), code_hash=code_digest(run.code),
            started_at=run.started_at, duration=duration, status=status,
            error=None if error is None else self.redact.text(error),
            reproducible=self.verdict.reproducible if judged else None,
            issues=[i.to_dict() for i in self.verdict.issues] if judged else [],
            rebound=sorted(rebound), files=files, params=run.params, metrics=run.metrics,
        )
        self._remember(record)
        self._save(record)
        if status != "refused" and judged:
            self._report_issues(previous, run.used_bad_state)
        self.notebook.warn_if_unreadable()
        if run.metrics and self._metrics_file:
            self._guarded("write the metrics file", self._write_metrics_file)
        self._publish(record)

    def _judge(self, execution: Execution, status: str) -> bool:
        """Give the detector the run and take its verdict; False (verdict unknown) if it fails."""
        try:
            if status != "refused":
                self.detector.record(execution)
            self.verdict = self._with_history(
                self.detector.verdict(self.notebook.cells(self.live_order), frozenset(self._opaque)))
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
        source = self.notebook.parameters_source(run.cell_id, run.code)
        if source:
            for name in assigned_names(run.code):
                if name in ns and name not in PAPERMILL_PATHS:  # where papermill ran, not a parameter
                    out.append(ParamRecord(name, param_value(name, ns[name], self.redact), source))
        for name in self.options.params:
            if name in rebound and name in ns and not any(p.name == name for p in out):
                out.append(ParamRecord(name, param_value(name, ns[name], self.redact), "watched"))
        return out

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
        record = ParamRecord(name, param_value(name, value, self.redact), "api")
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

    def use_live_order(self, cells: list[Cell]) -> None:
        """The notebook's code cells as a frontend shows them (unsaved edits included): the next verdicts
        judge this order instead of the saved file's."""
        self.live_order = cells

    # --- verdicts -----------------------------------------------------------------------------------

    def _report_issues(self, previous: Verdict, used: tuple[Issue, ...]) -> None:
        """Warn mode: one line per problem this run used or created; old problems are not repeated. What
        the run used is said once: the verdict's "used df" replaces the check before it ("would use df")."""
        seen = {(i.kind, i.cell_id, i.names) for i in previous.issues}
        judged = [i for i in self.verdict.issues if (i.kind, i.cell_id, i.names) not in seen]
        said = {(i.kind, i.cell_id) for i in judged}
        new = [i for i in used if (i.kind, i.cell_id) not in said] + judged
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
        """Non-interactive runs (a DVC stage) leave their metrics where ``dvc.yaml`` says to find them (a
        path from the kernel's folder; inside the project, or refused with a warning)."""
        project_files.write_text(self.root, self._cwd / self._metrics_file,
                                 json.dumps(self.metrics, indent=2, sort_keys=True) + "\n")

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
            "rebound": record.rebound,
        }
        for listener in list(self.listeners):
            try:
                listener(event)
            except Exception as exc:
                self.listeners.remove(listener)
                self._warn("notify a listener", exc)

    # --- small helpers ------------------------------------------------------------------------------

    def _record_history(self) -> None:
        """The cells run before tracking started (imports above ``%mlops_track``, or a whole notebook run
        in a plain kernel) count as run, in the order they ran, and the verdict judges them at once. A
        history that does not explain the state (code no cell holds now, names no run bound) makes the
        session's verdict *not established* for as long as it runs (``core.history``). The cell running
        now, which started the session, is never a cell run of its own: the journal keeps its id and code
        (``certify`` counts it as run with its code)."""
        executions, why = self.notebook.history()
        for execution in executions:
            self.detector.record(execution)
        started_in = self.notebook.tracking_cell
        if started_in is not None:
            code, digest = self.redact.code(started_in.code), code_digest(started_in.code)
            self._write("note the cell tracking started in",
                        lambda: self.journal.set_tracking_cell(self.id, started_in.cell_id, code, digest))
        if why is None:
            hidden = getattr(self.shell, "user_ns_hidden", {})  # what IPython put there itself (open, In…)
            why = unbound_state((e.code for e in executions), (
                n for n, v in self.shell.user_ns.items() if n not in hidden and not isinstance(v, types.ModuleType)))
        if why is not None:
            self.unestablished = not_established(executions[-1].cell_id if executions else "", why)
        if executions or why is not None:
            self._judge_now()

    def _judge_now(self) -> None:
        """The verdict on what ran before tracking, said under the cell that starts it."""
        try:
            self.verdict = self._with_history(
                self.detector.verdict(self.notebook.cells(self.live_order), frozenset(self._opaque)))
        except Exception as exc:
            self._warn("judge the cells run before tracking", exc)
            return
        self._report_issues(Verdict(True, ()), ())

    def _with_history(self, verdict: Verdict) -> Verdict:
        """A late start that could not establish the state never vouches for it."""
        if self.unestablished is None:
            return verdict
        return Verdict(False, (self.unestablished, *verdict.issues))

    def _notebook_found(self, renamed: dict[str, str], early: list[Execution]) -> None:
        """The notebook became known after tracking started: the journal names it, and cells recorded under
        their code's id so far take the notebook's ids, in the journal and in a detector they are replayed
        into, so nothing looks deleted."""
        self.paths = DataPaths(self.root, self.notebook.path)
        notebook = self.notebook.relative_path()
        self._guarded("name the notebook", lambda: self.journal.set_notebook(self.id, notebook))
        if not renamed:
            return
        self.detector = Detector()
        for execution in early:
            self.detector.record(execution)
        self._write("rename the cells run so far", lambda: self.journal.rename_cells(self.id, renamed))

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
    changed = {k for k, v in ns.items() if before.get(k, _MISSING) is not v and not is_ipython_internal(k)}
    changed.update(k for k in before.keys() - ns.keys() if not is_ipython_internal(k))
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
