"""``dvc.yaml``: our stages as DVC wants them, merged into whatever the file already holds. Pure (text in,
text out).

Every stage we write carries ``meta`` naming the notebook and a digest of the stage as written. On the next
export a stage whose digest still matches is ours to replace; one that does not was edited by hand, and a
stage of the same name without our ``meta`` is the user's: both are refused unless ``force``. Everything
else in the file (other stages, ``vars``, ``plots``, comments) is kept by a ruamel round-trip.
"""

from __future__ import annotations

import hashlib
import io
import json
import posixpath
import shlex
from dataclasses import dataclass
from typing import Any

from ruamel.yaml import YAML, YAMLError
from ruamel.yaml.comments import CommentedMap

from jupyter_mlops.errors import BadInput, Refused
from jupyter_mlops.export.nbgen import kernel_path, papermill_command
from jupyter_mlops.export.stages import PipelinePlan

GENERATOR = "jupyter mlops export"
# The tracker's variable (kernel/session.py); not imported, so the CLI does not load the kernel side.
METRICS_FILE_ENV = "JUPYTER_MLOPS_METRICS_FILE"


@dataclass(frozen=True)
class DvcMerge:
    text: str                 # the new dvc.yaml
    dropped: tuple[str, ...] = ()  # stages this notebook had that the new plan no longer has


def stage_entries(plan: PipelinePlan, kernel: str) -> dict[str, dict[str, Any]]:
    """Stage name → the stage mapping for ``dvc.yaml``, paths relative to the folder of ``dvc.yaml``."""
    layout = plan.layout

    def here(path: str) -> str:
        return posixpath.relpath(path, layout.out_dir)

    entries = {}
    for stage in plan.stages:
        cmd = shlex.join(papermill_command(
            here(layout.stage_notebook(stage.name)), here(layout.executed(stage.name)), kernel,
            params_file=here(layout.params_yaml) if plan.params else None,
            cwd=here(posixpath.dirname(plan.notebook) or ".")))
        if stage.logs_metrics and plan.tracking is not None:
            # the kernel's cwd is the notebook's folder, so the path is relative to it
            cmd = f"{METRICS_FILE_ENV}={shlex.quote(kernel_path(plan, layout.metrics(stage.name)))} {cmd}"
        entry: dict[str, Any] = {"cmd": cmd,
                                 "deps": [here(p) for p in (layout.stage_notebook(stage.name), *stage.deps)]}
        if stage.params:
            entry["params"] = list(stage.params)
        outs = [*stage.outs, *([layout.handoff(stage.name)] if stage.saves else []), layout.executed(stage.name)]
        entry["outs"] = [here(p) for p in outs]
        if stage.logs_metrics and plan.tracking is not None:
            entry["metrics"] = [{here(layout.metrics(stage.name)): {"cache": False}}]
        entry["meta"] = {"generated_by": GENERATOR, "notebook": plan.notebook, "digest": _digest(entry)}
        entries[stage.name] = entry
    return entries


def merge_dvc_yaml(existing: str | None, notebook: str, stages: dict[str, dict[str, Any]], *,
                   force: bool) -> DvcMerge:
    """The file with this notebook's stages replaced by ``stages``; :class:`Refused` when that would
    replace a stage the user wrote or edited (unless ``force``)."""
    yaml = _yaml()
    try:
        doc = yaml.load(existing) if existing and existing.strip() else None
    except YAMLError as exc:
        raise BadInput(f"dvc.yaml is not valid YAML ({str(exc).splitlines()[0]})",
                       hint="fix it, then export again") from exc
    if doc is None:
        doc = CommentedMap()
    if not isinstance(doc, dict) or not isinstance(doc.get("stages", {}), dict):
        raise BadInput("dvc.yaml has no `stages:` mapping", hint="fix it, then export again")
    current = doc.setdefault("stages", CommentedMap())
    ours = [name for name, body in current.items() if _owner(body) == notebook]
    for name in ours:
        if not force and _edited(current[name]):
            raise Refused(f"dvc.yaml stage {name} was edited by hand since it was exported",
                          hint="pass --force to replace it, or remove its `meta` to keep it as yours",
                          panel_hint=f"to replace it, delete stage {name} from dvc.yaml and export again; "
                          "to keep it as yours, remove its `meta`")
    for name in stages:
        if name in current and name not in ours and not force:
            raise Refused(f"dvc.yaml already has a stage {name} that export did not write",
                          hint="rename it, or pass --force to replace it",
                          panel_hint=f"rename or delete stage {name} in dvc.yaml, then export again")
    position = next((i for i, name in enumerate(current) if name in ours or name in stages), len(current))
    for name in [*ours, *(n for n in stages if n in current)]:
        current.pop(name, None)
    for offset, (name, body) in enumerate(stages.items()):
        current.insert(position + offset, name, body)
    out = io.StringIO()
    yaml.dump(doc, out)
    return DvcMerge(out.getvalue(), tuple(n for n in ours if n not in stages))


def _yaml() -> YAML:
    yaml = YAML()  # round-trip: comments and order survive
    yaml.width = 4096  # a long papermill cmd stays on one line
    yaml.indent(mapping=2, sequence=4, offset=2)
    return yaml


def _owner(body: Any) -> str | None:
    meta = body.get("meta") if isinstance(body, dict) else None
    if isinstance(meta, dict) and meta.get("generated_by") == GENERATOR:
        return str(meta.get("notebook"))
    return None


def _edited(body: dict) -> bool:
    return _digest({k: v for k, v in body.items() if k != "meta"}) != body["meta"].get("digest")


def _digest(entry: dict[str, Any]) -> str:
    plain = {k: v for k, v in entry.items() if k != "meta"}
    return hashlib.md5(json.dumps(plain, sort_keys=True).encode()).hexdigest()[:12]
