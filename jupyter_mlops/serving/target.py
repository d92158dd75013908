"""Which registered version ``serve`` names, where it came from, and loading it: errors say what to run next.

``NAME@ALIAS``, ``NAME/VERSION``, ``NAME`` (its latest version) or the same behind ``models:/``, read from
the project's MLflow store (``MLFLOW_TRACKING_URI``, else ``<root>/mlflow.db``) with ``register``'s own
reader (``sinks/mlflow_registry.lineage``), so the session, notebook and commit are the version's tags.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jupyter_mlops.errors import NotFound, Refused, one_line
from jupyter_mlops.sinks import tracking_uri


@dataclass(frozen=True)
class ServedVersion:
    ref: str                      # as the user wrote it
    name: str
    version: str
    aliases: tuple[str, ...]
    source: str
    session: str | None
    notebook: str | None
    commit: str | None
    tracking_uri: str

    @property
    def uri(self) -> str:
        return f"models:/{self.name}/{self.version}"

    def lineage(self) -> str:
        """One line: which version, with which aliases, from which session, notebook and commit."""
        aliases = f" (@{', @'.join(self.aliases)})" if self.aliases else ""
        origin = (f"session {self.session[:12]}, notebook {self.notebook or '?'}, "
                  f"commit {self.commit[:12] if self.commit else 'not recorded'}" if self.session
                  else "not from a tracked session")
        return f"{self.name} version {self.version}{aliases}: {origin}"

    def labels(self) -> dict[str, str]:
        """The lineage as the ``mlops_serving_model_info`` metric's labels."""
        return {"aliases": ",".join(self.aliases), "session": self.session or "", "notebook": self.notebook or "",
                "commit": self.commit or ""}


def resolve(root: Path, ref: str, uri: str | None = None) -> ServedVersion:
    """The registered version ``ref`` names (see the module doc); NotFound / Refused with the next command."""
    from jupyter_mlops.sinks.mlflow_push import limit_http_retries

    store = tracking_uri.resolve(root, uri)
    if store.startswith("sqlite:///") and not Path(store[len("sqlite:///"):]).exists():
        raise NotFound(f"no MLflow store at {store}, so no registered model {ref!r}",
                       hint="register one first: `jupyter mlops register --name NAME --alias candidate`, "
                            "or set MLFLOW_TRACKING_URI to the store that has it")
    reason = tracking_uri.unreachable(store)
    if reason:
        raise Refused(f"cannot reach the MLflow store: {reason}", hint="start it, or set MLFLOW_TRACKING_URI")
    limit_http_retries()
    from mlflow import MlflowClient

    from jupyter_mlops.sinks.mlflow_registry import lineage

    bare = ref[len("models:/"):] if ref.startswith("models:/") else ref
    client = MlflowClient(tracking_uri=store, registry_uri=store)
    try:
        found = lineage(client, bare)
    except NotFound as exc:
        name = bare.split("@")[0].split("/")[0]
        raise NotFound(f"{exc.message}", hint=f"`jupyter mlops show --model {name}` shows its latest version and "
                                              "aliases; `jupyter mlops register --name NAME --alias ALIAS` makes "
                                              "one") from exc
    d = found.to_dict()
    return ServedVersion(ref, found.name, found.version, found.aliases, found.source, d["session"], d["notebook"],
                         d["commit"], store)


def load(version: ServedVersion) -> Any:
    """The version as MLflow's pyfunc model; Refused (with what to check) when MLflow cannot load it."""
    import mlflow

    mlflow.set_tracking_uri(version.tracking_uri)
    mlflow.set_registry_uri(version.tracking_uri)
    try:
        return mlflow.pyfunc.load_model(version.uri)
    except Exception as exc:
        raise Refused(f"MLflow cannot load {version.name} version {version.version} from {version.source}: "
                      f"{one_line(exc)}",
                      hint=f"`jupyter mlops show --model {version.name}/{version.version}` shows where it came from; "
                           "its artifacts must be readable from here, and its flavor's library installed") from exc
