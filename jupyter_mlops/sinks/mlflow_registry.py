"""MLflow's Model Registry side of ``register`` and ``show --model``: imports MLflow, so only those load it.

A version is made from the LoggedModel the mirror logged (its artifacts as ``source``, the run and the
model id linked), its aliases set (aliases, not the deprecated stages), and its tags carry the lineage:
session, notebook, commit, data md5s, the verify verdict. ``lineage`` reads a version back from its tags,
so "where did ``churn@champion`` come from" needs nothing but the store.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from jupyter_mlops.errors import BadInput, NotFound
from jupyter_mlops.sinks.mlflow_batch import SESSION_TAG
from jupyter_mlops.sinks.mlflow_model import DATA_TAG_PREFIX

VERIFY_TAG = "mlops.verify"
MODEL_ID_TAG = "mlops.model.id"
UNVERIFIED_TAG = "mlops.allow_unverified"
_LINEAGE_PREFIXES = ("mlops.", "mlflow.source.git.commit")
_REF = re.compile(r"(?P<name>[^@]+?)(?:@(?P<alias>[\w-]+)|/(?P<version>[0-9]+))?")


@dataclass(frozen=True)
class Registered:
    name: str
    version: str
    aliases: tuple[str, ...]
    model_id: str | None
    run_id: str | None
    source: str
    tags: dict[str, str]
    created_ms: int | None

    def to_dict(self) -> dict[str, Any]:
        data = {k: v for k, v in self.tags.items() if k.startswith(DATA_TAG_PREFIX)}
        return {
            "name": self.name, "version": self.version, "aliases": list(self.aliases), "model_id": self.model_id,
            "run_id": self.run_id, "source": self.source, "uri": f"models:/{self.name}/{self.version}",
            "session": self.tags.get(SESSION_TAG), "notebook": self.tags.get("mlops.notebook"),
            "cell": self.tags.get("mlops.model.cell"), "model_file": self.tags.get("mlops.model.path"),
            "model_md5": self.tags.get("mlops.model.md5"), "commit": self.tags.get("mlflow.source.git.commit"),
            "reproducible": self.tags.get("mlops.reproducible"), "verify": self.tags.get(VERIFY_TAG),
            "allow_unverified": self.tags.get(UNVERIFIED_TAG) == "true",
            "data": {k[len(DATA_TAG_PREFIX):]: v for k, v in data.items()},
            "signature": self.tags.get("mlops.model.signature"), "created_ms": self.created_ms,
        }


def create_version(client: MlflowClient, name: str, model_id: str, run_id: str, extra_tags: Mapping[str, str],
                   aliases: Sequence[str]) -> Registered:
    """A new version of ``name`` (created if missing) from the LoggedModel, with its lineage as tags."""
    model = client.get_logged_model(model_id)
    tags = {k: v for k, v in model.tags.items() if k.startswith(_LINEAGE_PREFIXES)} | dict(extra_tags)
    try:
        client.create_registered_model(name, description="Registered by jupyter-mlops from a tracked notebook session")
    except MlflowException as exc:
        if exc.error_code != "RESOURCE_ALREADY_EXISTS":
            raise
    tags[MODEL_ID_TAG] = model_id
    # The LoggedModel's own artifact location, not ``models:/<id>``: the registry resolves that through the
    # process's global tracking URI, which in Jupyter's server (or with --to) is not this client's store.
    version = client.create_model_version(name, source=model.artifact_location, run_id=run_id, tags=tags,
                                          model_id=model_id)
    for alias in aliases:
        client.set_registered_model_alias(name, alias, version.version)
    return _registered(client, client.get_model_version(name, version.version))


def lineage(client: MlflowClient, ref: str) -> Registered:
    """``NAME@alias``, ``NAME/version`` or ``NAME`` (its latest version), read back from the registry."""
    match = _REF.fullmatch(ref.strip())
    if not match:
        raise BadInput(f"--model {ref!r}: write NAME@alias, NAME/VERSION or NAME")
    name, alias, number = match.group("name"), match.group("alias"), match.group("version")
    try:
        if alias:
            version = client.get_model_version_by_alias(name, alias)
        elif number:
            version = client.get_model_version(name, number)
        else:
            versions = client.search_model_versions(f"name = '{name}'")
            if not versions:
                raise NotFound(f"no registered model {name!r}", hint="`jupyter mlops register --name NAME` makes one")
            version = max(versions, key=lambda v: int(v.version))
    except MlflowException as exc:
        if exc.error_code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE", "NOT_FOUND"):
            raise NotFound(f"no registered model version {ref!r} in this store ({exc.message.splitlines()[0]})",
                           hint="check the name and alias, and MLFLOW_TRACKING_URI") from exc
        raise
    return _registered(client, version)


def versions_of_session(client: MlflowClient, session_id: str) -> dict[str, list[dict[str, Any]]]:
    """The registry versions made from a session's models, by LoggedModel id, with their current aliases."""
    found = client.search_model_versions(f"tags.`mlops.session` = '{session_id}'")
    aliases: dict[str, dict[str, str]] = {}
    out: dict[str, list[dict[str, Any]]] = {}
    for version in sorted(found, key=lambda v: (v.name, int(v.version))):
        reg = _registered(client, version)
        if reg.name not in aliases:  # search does not return aliases: the registered model has them
            aliases[reg.name] = dict(client.get_registered_model(reg.name).aliases or {})
        pointing = sorted(a for a, v in aliases[reg.name].items() if str(v) == reg.version)
        out.setdefault(reg.model_id or "", []).append({"name": reg.name, "version": reg.version, "aliases": pointing})
    return out


def _registered(client: MlflowClient, version: Any) -> Registered:
    """A version as we show it; its LoggedModel id from our tag when the store does not return it (the SQL
    store keeps ``model_id`` but does not give it back)."""
    aliases = tuple(getattr(version, "aliases", None) or ())
    model_id = getattr(version, "model_id", None) or (version.tags or {}).get(MODEL_ID_TAG)
    return Registered(version.name, str(version.version), aliases, model_id, version.run_id, version.source,
                      dict(version.tags or {}), version.creation_timestamp)


def render(reg: Registered) -> str:
    """The lineage as a person reads it: which session, notebook, cell, commit and data made the model."""
    d = reg.to_dict()
    aliases = f" (aliases: {', '.join('@' + a for a in d['aliases'])})" if d["aliases"] else ""
    lines = [f"{reg.name} version {reg.version}{aliases}  {d['uri']}  from {reg.source}"]

    def add(label: str, value: Any) -> None:
        if value:
            lines.append(f"  {label:<10} {value}")

    cell = f" (cell {d['cell']})" if d["cell"] else ""
    add("session", d["session"] and f"{d['session']}  notebook {d['notebook'] or '?'}{cell}")
    add("model", d["model_file"] and f"{d['model_file']}  md5 {d['model_md5']}")
    add("commit", d["commit"] or "not recorded (no git commit when the session ran)")
    for path, md5 in sorted(d["data"].items()):
        add("data", f"{path}  md5 {md5}")
    add("verdict", {"true": "reproducible", "false": "NOT reproducible"}.get(d["reproducible"] or ""))
    add("verify", d["verify"])
    add("run", reg.run_id)
    add("signature", d["signature"])
    return "\n".join(lines)
