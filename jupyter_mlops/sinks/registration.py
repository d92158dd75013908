"""Registration: the model a tracked session wrote becomes a version in MLflow's Model Registry. The command
(``jupyter mlops register``) and the panel's Register button both call :func:`register_model`.

The CI gate the registry exists for: a version is made only from a session whose state was reproducible
(the verdict ``check`` gives: its history replayed against the notebook as saved now) and whose code passed
``verify`` (a clean re-run that agreed with it, at the session's commit; ``export/verify_log.py``).
``--allow-unverified`` waives the verify requirement, never the reproducibility one, and says so in the
version's tags. The session is first sent to the store as ``sync`` would (so a register run right after
papermill does not race the follower), which also logs its model as a LoggedModel (``mlflow_model.py``);
the version then points at that LoggedModel, and carries the lineage ``show --model`` reads back.

MLflow is imported only once it is needed (``mlflow_registry.py``): neither the CLI nor the server waits for it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from jupyter_mlops.check import replay
from jupyter_mlops.core.notebook import NotebookError, read_notebook
from jupyter_mlops.errors import BadInput, NotFound, Refused
from jupyter_mlops.export import verify_log
from jupyter_mlops.journal import Journal
from jupyter_mlops.project import journal_path
from jupyter_mlops.session_ref import resolve_session
from jupyter_mlops.sinks import tracking_uri

if TYPE_CHECKING:
    from jupyter_mlops.sinks.mlflow_registry import Registered


@dataclass(frozen=True)
class Gate:
    """What the session proved, as the version's tags will say it."""

    verify: str
    allow_unverified: bool

    def tags(self) -> dict[str, str]:
        tags = {"mlops.reproducible": "true", "mlops.verify": self.verify[:5000]}
        if self.allow_unverified:
            tags["mlops.allow_unverified"] = "true"
        return tags


def register_model(root: Path, session: str, name: str, *, notebook: str | None = None, model: str | None = None,
                   aliases: Sequence[str] = (), allow_unverified: bool = False,
                   uri: str | None = None) -> tuple[str, Registered]:
    """The session (as people name it) checked by the gate, sent to the store, its model registered.
    The command and the panel's Register button both come here."""
    journal = Journal(journal_path(root), create=False)
    try:
        sid = resolve_session(journal, root, notebook, session)
        detail = journal.session_detail(sid)
    finally:
        journal.close()
    from jupyter_mlops.sinks.bookkeeping import Bookkeeping

    book = Bookkeeping(journal_path(root))
    try:
        provenance = book.provenance(sid)
        commit = provenance.git.commit if provenance else None
        gate = check_gate(root, detail, commit, allow_unverified=allow_unverified)
        store = tracking_uri.resolve(root, uri)
        run_id, model_id = _logged_model(book, store, detail, model, root)
        from jupyter_mlops.sinks.mlflow_registry import create_version

        return sid, create_version(_client(store), name, model_id, run_id, gate.tags(), aliases)
    finally:
        book.close()


def session_models(root: Path, session_id: str, uri: str | None = None) -> dict:
    """The models a session wrote (each path's last version) as the mirror judged them, each with the registry
    versions made from it. MLflow is read only when there is a model to look up, and only if it answers."""
    from jupyter_mlops.sinks import mlflow_batch
    from jupyter_mlops.sinks.bookkeeping import Bookkeeping

    store = tracking_uri.resolve(root, uri)
    book = Bookkeeping(journal_path(root))
    try:
        session = book.session(session_id)
        if session is None:
            raise NotFound(f"no session {session_id} in {journal_path(root)}")
        last = {w.path: w.md5 for w in book.written_files(session_id)}
        records = [m for m in book.logged_models(session_id, store) if last.get(m.path) == m.md5]
        name = mlflow_batch.experiment_name(session)
    finally:
        book.close()
    versions: dict[str, list[dict]] = {}
    note = None
    if any(m.model_id for m in records):
        note = tracking_uri.unreachable(store)
        if note is None:
            from jupyter_mlops.sinks.mlflow_registry import versions_of_session

            versions = versions_of_session(_client(store), session_id)
    return {
        "session": session_id, "store": store, "suggested_name": name, "note": note,
        "models": [{"path": m.path, "md5": m.md5, "model_id": m.model_id, "flavor": m.flavor, "note": m.note,
                    "versions": versions.get(m.model_id or "", [])} for m in records],
    }


def check_gate(root: Path, session: dict, commit: str | None, *, allow_unverified: bool) -> Gate:
    """Refused unless the session is reproducible and a verify passed for it (or ``allow_unverified``)."""
    sid, notebook = session["id"], session["notebook"]
    issue = _first_issue(root, session)
    if issue is not None:
        raise Refused(f"session {sid} is not reproducible ({issue})",
                      hint="restart the kernel and run all cells (tracked), then register that session")
    found = verify_log.latest_for(verify_log.results(root, notebook), sid, commit) if notebook else None
    if found is not None and found.ok:
        return Gate(found.summary(), allow_unverified=False)
    at = f" at commit {commit[:12]}" if commit else ""
    if not notebook:
        why = f"session {sid} names no notebook, so no `jupyter mlops verify` can speak for it"
    else:
        why = (f"`jupyter mlops verify` has not passed for session {sid} of {notebook}{at}: " +
               (f"the last one {found.summary()}: {found.message}" if found else "no verify compared with it"))
    if allow_unverified:
        return Gate(f"unverified (--allow-unverified): {why}", allow_unverified=True)
    raise Refused(why, hint=f"run `jupyter mlops verify {notebook or 'NOTEBOOK'}` (with your --expect gates) until it "
                            "passes, or pass --allow-unverified to register anyway (the version's tags say so)",
                  panel_hint="press Verify in this panel; once the clean re-run agrees, register again")


def _first_issue(root: Path, session: dict) -> str | None:
    """The first reason the session's state is not what Restart & Run All gives; None when it is."""
    runs = session["cell_runs"]
    if not runs:
        return "it ran no cell"
    try:
        notebook = read_notebook(root / session["notebook"]) if session["notebook"] else None
    except NotebookError:
        notebook = None
    if notebook is not None:
        verdict = replay(session, notebook.code_cells)
        if verdict.reproducible:
            return None
        first = verdict.issues[0]
        return f"{first.kind}: {first.message}; fix: {first.fix}"
    last = runs[-1]
    if last["reproducible"]:
        return None
    issues = last["issues"]
    return f"{issues[0]['kind']}: {issues[0]['message']}" if issues else "its last verdict was not reproducible"


def _logged_model(book, uri: str, session: dict, wanted: str | None, root: Path) -> tuple[str, str]:
    """(run id, LoggedModel id) of the session's model, once the session is in the store."""
    from jupyter_mlops.sinks.mlflow_push import Pusher, StoreUnavailable, limit_http_retries
    from jupyter_mlops.sinks.sync import push_when_free

    limit_http_retries()
    try:
        result = push_when_free(Pusher(book, uri), session["id"])
    except StoreUnavailable as exc:
        raise Refused(f"cannot reach the MLflow store {uri}: {exc}",
                      hint="start it (or set MLFLOW_TRACKING_URI / --to), then register again",
                      panel_hint="start the MLflow store (Jupyter's MLFLOW_TRACKING_URI), then register again") from exc
    if result.run_id is None:
        raise Refused(f"session {session['id']} is still being sent to {uri} by another process",
                      hint="register again in a minute")
    last_write = {f["path"]: f["md5"] for f in session["files"] if f["mode"] == "write" and f["md5"]}
    records = {(m.path, m.md5): m for m in book.logged_models(session["id"], uri)}
    current = [records[(p, md5)] for p, md5 in last_write.items() if (p, md5) in records]
    if wanted is not None:
        path = _relative(wanted, root)
        chosen = [m for m in current if m.path == path]
        if not chosen:
            written = path in last_write
            raise NotFound(f"session {session['id']} {'wrote' if written else 'did not write'} {path}"
                           + (", but not as a model file" if written else ""),
                           hint=_models_hint(current))
    else:
        chosen = [m for m in current if m.model_id] or current
        if len(chosen) > 1:
            raise BadInput(f"session {session['id']} wrote {len(chosen)} models: "
                           f"{', '.join(m.path for m in chosen)}", hint="name one with --model PATH",
                           panel_hint="press Register beside the model you mean")
        if not chosen:
            raise NotFound(f"session {session['id']} wrote no model file (joblib/pickle, or an MLflow model folder)",
                           hint="save the fitted model from a tracked cell, e.g. joblib.dump(model, 'model.joblib')")
    record = chosen[0]
    if record.model_id is None:
        raise Refused(f"{record.path} is not an MLflow model: {record.note}",
                      hint="save it with mlflow.<flavor>.save_model(model, 'DIR') from a tracked cell")
    return result.run_id, record.model_id


def _models_hint(records: Sequence) -> str:
    models = [m.path for m in records if m.model_id]
    return f"its models: {', '.join(models)}" if models else "it wrote no model the mirror could log"


def _relative(path: str, root: Path) -> str:
    full = (Path.cwd() / path).resolve()
    try:
        return full.relative_to(root).as_posix()
    except ValueError:
        return Path(path).as_posix()


def _client(uri: str):
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def model_lineage(root: Path, model: str) -> Registered:
    """Where a registered version (``NAME@alias``, ``NAME/VERSION``, ``NAME``) came from, read from the project's
    store (``show --model``); NotFound when there is no store, Refused when it does not answer."""
    uri = tracking_uri.resolve(root)
    if uri.startswith("sqlite:///") and not Path(uri[len("sqlite:///"):]).exists():  # MLflow would create one
        raise NotFound(f"no MLflow store at {uri}", hint="run the notebook tracked, then `jupyter mlops register`, "
                                                         "or set MLFLOW_TRACKING_URI to the store that has the model")
    reason = tracking_uri.unreachable(uri)
    if reason:
        raise Refused(f"cannot reach the MLflow store: {reason}", hint="start it, or set MLFLOW_TRACKING_URI")
    from jupyter_mlops.sinks.mlflow_push import limit_http_retries
    from jupyter_mlops.sinks.mlflow_registry import lineage

    limit_http_retries()
    return lineage(_client(uri), model)
