"""The public face of export and verify: what the CLI and the JupyterLab server call.

``export_notebook`` plans (pure modules), then writes only files whose content changes, so a second export
of an unchanged notebook touches nothing and DVC sees nothing new. Every file it reads or writes goes
through ``project_files`` (inside the project, no link out, regular files, atomic writes), and an export
that writes holds the project's write lock: four exports of one notebook at once run one after the
other, the later ones finding the files written. ``verify_notebook`` re-runs the notebook (see
``rerun``) and compares (see ``compare``).
"""

from __future__ import annotations

import contextlib
import posixpath
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from jupyter_mlops import own_io, project_files
from jupyter_mlops.core.notebook import NotebookError, read_notebook
from jupyter_mlops.errors import BadInput, NotFound, Refused
from jupyter_mlops.export import (
    kfp_pipeline,  # pure; the kfp SDK is imported by compile_package only
    verify_log,
)
from jupyter_mlops.export.compare import compare_runs, parse_expectation, summarize
from jupyter_mlops.export.dvccmd import check_config
from jupyter_mlops.export.dvcfile import merge_dvc_yaml, stage_entries
from jupyter_mlops.export.layout import TARGETS, Layout
from jupyter_mlops.export.nbgen import stage_notebooks
from jupyter_mlops.export.observed import journal_facts
from jupyter_mlops.export.paramsfile import merge_params, param_values
from jupyter_mlops.export.rawdata import check_targets, raw_inputs, version_raw_inputs
from jupyter_mlops.export.remote import CONFIG, default_remote, push, set_default_remote
from jupyter_mlops.export.stages import PipelinePlan, plan_pipeline
from jupyter_mlops.journal import Journal
from jupyter_mlops.project import find_root, journal_path


@dataclass(frozen=True)
class ExportResult:
    """What an export wrote; one that refuses to (the user's own files, a dirty state) raises Refused."""

    written: list[str]          # paths relative to the project root
    stages: list[str]


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    rows: list[dict]            # {"what": "metric auc" | "file model.joblib" | "param lr", "tracked", "now", "ok"}
    message: str


@dataclass(frozen=True)
class ExportReport:
    """The result plus what the CLI tells the user (notes) and shows on ``--dry-run`` (the plan)."""

    result: ExportResult
    plan: PipelinePlan
    notes: list[str] = field(default_factory=list)


def export_notebook(notebook: Path, *, out: Path | None = None, stages: str = "auto", force: bool = False,
                    dry_run: bool = False, allow_dirty: bool = False,
                    lock_wait_s: float = project_files.LOCK_WAIT_S) -> ExportResult:
    """Write ``dvc.yaml``, ``params.yaml`` and the stage notebooks for ``notebook`` (see ``export_report``)."""
    return export_report(notebook, out=out, stages=stages, force=force, dry_run=dry_run,
                         allow_dirty=allow_dirty, lock_wait_s=lock_wait_s).result


def export_report(notebook: Path, *, out: Path | None = None, stages: str = "auto", force: bool = False,
                  dry_run: bool = False, allow_dirty: bool = False, remote: str | None = None,
                  push_data: bool = False, to: str = "dvc", image: str | None = None,
                  root: Path | None = None, lock_wait_s: float = project_files.LOCK_WAIT_S) -> ExportReport:
    """Plan and write the pipeline; put its raw inputs under DVC; ``remote``: the default DVC remote to set
    up when the project has none; ``push_data``: ``dvc push`` afterwards. ``to``: ``dvc`` writes
    ``dvc.yaml``, ``kfp`` a Kubeflow pipeline of the same stages (``pipeline.py`` and its compiled
    ``pipeline.yaml``, its steps running in ``image``). ``root``: the project (default: the notebook's git root).
    ``lock_wait_s``: how long to wait for another writer of the project before a Conflict (a server request
    waits seconds, the command line minutes)."""
    if to not in TARGETS:
        raise BadInput(f"--to {to}: expected one of {', '.join(TARGETS)}")
    if image is not None and to != "kfp":
        raise BadInput("--image names the Kubeflow steps' image: it goes with --to kfp")
    path = Path(notebook).resolve()
    root = root or find_root(path.parent)
    with project_files.writing(root, "this export", wait_s=lock_wait_s) if not dry_run else contextlib.nullcontext():
        return _export(path, root, out=out, stages=stages, force=force, dry_run=dry_run, allow_dirty=allow_dirty,
                       remote=remote, push_data=push_data, to=to, image=image)


def _export(path: Path, root: Path, *, out: Path | None, stages: str, force: bool, dry_run: bool,
            allow_dirty: bool, remote: str | None, push_data: bool, to: str, image: str | None) -> ExportReport:
    nb = read_notebook(path)
    key = path.relative_to(root).as_posix()
    layout = Layout(_out_dir(out, root))
    facts = journal_facts(root, key, nb)
    notes = [] if facts.found else ["no tracked session of this notebook: deps and outs come from the code alone"]
    if facts.dirty and not allow_dirty:
        raise Refused(f"{key}'s tracked state is not reproducible ({facts.dirty})",
                      hint="restart the kernel and run all cells, then export again (or pass --allow-dirty)",
                      panel_hint="restart the kernel and run all cells, then export again")
    # Reading back and rewriting its own files, export is not a running cell's I/O (own_io.py).
    with own_io.announced(root, [root / p for p in layout.outputs()]):
        plan = plan_pipeline(nb, notebook=key, layout=layout, mode=stages, observed=facts.cells,
                             declared=facts.declared, exists=lambda p: (root / p).exists())
        names = [s.name for s in plan.stages]
        files = _stage_notebooks(stage_notebooks(plan, nb.document), root, force)
        if to == "dvc":
            merged = merge_dvc_yaml(_read(root, layout.dvc_yaml), key, stage_entries(plan, nb.kernel_name),
                                    force=force)
            files[layout.dvc_yaml] = dvc_text = merged.text
            dropped = list(map(layout.stage_notebook, merged.dropped))
        else:
            dvc_text = _read(root, layout.dvc_yaml) or ""
            before = kfp_pipeline.stage_notebooks(_read(root, layout.kfp_pipeline))
            # the stage notebooks the last pipeline.py ran that neither the new one nor dvc.yaml does
            dropped = [p for p in before if p not in files and posixpath.relpath(p, layout.out_dir) not in dvc_text]
        values: dict = {}
        if plan.params:
            params = merge_params(_read(root, layout.params_yaml), plan.params, force=force)
            files[layout.params_yaml] = params.text
            values = param_values(params.text)
            notes += [f"params.yaml keeps {k}: {old!r} (the notebook says {new!r}); --force takes the notebook's"
                      for k, (old, new) in params.kept.items()]
            if params.skipped:
                notes.append(f"{', '.join(params.skipped)}: not YAML values, left out of params.yaml")
        if plan.secrets:  # the user's own entries: export never writes one, nor deletes one
            held = param_values(files.get(layout.params_yaml) or _read(root, layout.params_yaml) or "")
            notes += [f"{layout.params_yaml} holds {name}, a secret, in clear: delete it there (papermill would "
                      f"inject it over ${env}, which the stages read)" for name, env in plan.secrets.items()
                      if name in held]
        if to == "kfp":
            notes += _kubeflow_files(files, plan, values, root, key, nb.kernel_name, image, force)
        notes += plan.notes
        written = [p for p, text in files.items() if _read(root, p) != text]
        stale = [p for p in dropped if _generated_from(root, p) == key]
        notes += [f"removed {p}: its stage is no longer part of the pipeline" for p in stale]
        raw = raw_inputs(plan, dvc_text, root)
        check_targets(root, raw)  # what DVC will read and write: refused before anything is written
        if remote is not None or push_data:
            check_config(root)
        if dry_run:
            notes += [f"would put {path} under DVC (dvc add)" for path in raw]
        else:
            for rel in stale:
                project_files.remove(root, rel)
            for rel in written:
                project_files.write_text(root, rel, files[rel])
            data = version_raw_inputs(root, raw, facts.read_md5)
            written += [p for p in data.written if p not in written]
            notes += data.notes
            if remote is not None:
                config = _read(root, CONFIG)
                notes.append(set_default_remote(root, remote))
                if _read(root, CONFIG) != config:
                    written.append(CONFIG)
            elif raw and (root / ".dvc").is_dir() and default_remote(root) is None:
                notes.append("no DVC remote yet, so the data lives on this machine only: --remote DIR_OR_URL sets "
                             "one up (a local folder, s3://, gs://, ssh://…), --push sends the data there")
            if push_data:
                notes.append(push(root))
        return ExportReport(ExportResult(written, names), plan, notes)


def verify_notebook(notebook: Path, *, tolerance: float = 1e-9, expect: Sequence[str] = (),
                    progress: Callable[[int, int], None] | None = None, root: Path | None = None) -> VerifyResult:
    """Re-run ``notebook`` in a clean kernel and compare with its last tracked session (of the project at
    ``root``, by default the notebook's git root)."""
    path = Path(notebook).resolve()
    nb = read_notebook(path)
    gates = [parse_expectation(e) for e in expect]
    root = root or find_root(path.parent)
    key = path.relative_to(root).as_posix()
    tracked = _last_session(root, key)
    from jupyter_mlops.export.rerun import rerun_notebook  # papermill and jupyter_client: only when verifying

    rerun = rerun_notebook(root, key, tracked, kernel=nb.kernel_name, progress=progress)
    rows = compare_runs(tracked, rerun, tolerance=tolerance, gates=gates)
    ok, message = summarize(key, tracked, rerun, rows)
    verify_log.record(root, key, tracked["id"], ok, message, expect)  # the gate `register` asks
    return VerifyResult(ok, rows, message)


def _last_session(root: Path, key: str) -> dict:
    if not journal_path(root).exists():
        raise NotFound(f"nothing to verify {key} against: no journal at {journal_path(root)}",
                       hint=f"run {key} with `%load_ext jupyter_mlops` and `%mlops_track` first")
    journal = Journal(journal_path(root), create=False)  # a damaged one: its own JournalError
    try:
        sessions = journal.sessions(key)
        if not sessions:
            raise NotFound(f"nothing to verify {key} against: no tracked session of it in {journal.path}",
                           hint=f"run {key} with `%mlops_track` first")
        return journal.session_detail(sessions[-1]["id"])
    finally:
        journal.close()


def _out_dir(out: Path | None, root: Path) -> str:
    if out is None:
        return "."
    folder = Path(out).resolve()
    try:
        return folder.relative_to(root).as_posix() or "."
    except ValueError as exc:
        raise BadInput(f"--out {out} is outside the project {root}",
                       hint="DVC paths must stay inside it: give a folder of the project") from exc


def _kubeflow_files(files: dict[str, str], plan: PipelinePlan, values: dict, root: Path, key: str, kernel: str,
                    image: str | None, force: bool) -> list[str]:
    """Add ``pipeline.py`` and ``pipeline.yaml`` to ``files``; Refused when either is another notebook's or
    the user's. Without ``--image`` the image of the ``pipeline.py`` export wrote before stays."""
    layout = plan.layout
    existing = _read(root, layout.kfp_pipeline)
    owner = kfp_pipeline.generated_from(existing)
    if not force and owner != key and (existing is not None or (root / layout.kfp_package).exists()):
        mine = f"is the pipeline of {owner}" if owner else "exists and was not generated by export"
        raise Refused(f"{layout.kfp_pipeline if existing is not None else layout.kfp_package} {mine}",
                      hint="export into another folder (--out DIR), or pass --force to overwrite it",
                      panel_hint=f"move {layout.kfp_pipeline} and {layout.kfp_package}, then export again")
    chosen = image or (kfp_pipeline.image_of(existing) if owner == key else None) or kfp_pipeline.DEFAULT_IMAGE
    rendered = kfp_pipeline.render(plan, values, kernel=kernel, image=chosen)
    files[layout.kfp_pipeline] = rendered.text
    files[layout.kfp_package] = kfp_pipeline.compile_package(rendered.text)
    notes = list(rendered.notes)
    if chosen == kfp_pipeline.DEFAULT_IMAGE:
        notes.append(f"the steps run in image {chosen!r}: build one holding the project, jupyter-mlops, "
                     "papermill and kfp (README: Kubeflow), then export with --image NAME")
    return notes


def _stage_notebooks(files: dict[str, str], root: Path, force: bool) -> dict[str, str]:
    """The stage notebooks; Refused when a file export did not generate is at a stage notebook's path."""
    for rel in files:
        if not force and (root / rel).exists() and _generated_from(root, rel) is None:
            raise Refused(f"{rel} exists and was not generated by export",
                          hint="move it, or pass --force to overwrite it",
                          panel_hint=f"move or delete {rel}, then export again")
    return dict(files)


def _generated_from(root: Path, rel: str) -> str | None:
    """The source notebook of a stage notebook export wrote; None for any other file."""
    data = project_files.read_bytes(root, rel)  # a link out of the project or a FIFO: refused
    if data is None:
        return None
    try:
        return str(read_notebook(data, name=rel).metadata["jupyter_mlops"]["generated_from"])
    except (NotebookError, KeyError, TypeError):
        return None


def _read(root: Path, rel: str) -> str | None:
    return project_files.read_text(root, rel)
