"""Raw data under DVC: every input of the pipeline that no stage makes and git does not track.

``dvc.yaml`` lists such a file as a dependency, but nothing versions it: on a colleague's clone the stage
cannot run and nothing says what is missing. Export puts it under DVC the way ``dvc add`` does (a ``.dvc``
file, the ``.gitignore`` entry, the cache), by calling DVC itself, so any remote DVC supports works later.
Run again after the data changed, it updates the ``.dvc`` file (``dvc commit``'s effect) and says which
inputs changed, by md5, against the ``.dvc`` file and against what the tracked session read. Files git
already tracks stay in git; a directory input becomes one ``.dvc`` entry. DVC reads the data and writes
the ``.dvc`` and ``.gitignore`` files itself: each is checked by ``project_files`` first (inside the
project, no link out of it, no FIFO), so a link planted in a cloned repository cannot make DVC copy a
file from outside the project into its cache, or write outside it.
"""

from __future__ import annotations

import posixpath
import re
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from ruamel.yaml import YAML, YAMLError

from jupyter_mlops import own_io, project_files
from jupyter_mlops.export.dvccmd import check_config, reason, run_dvc
from jupyter_mlops.export.stages import PipelinePlan

_MD5 = re.compile(r"^\s*-?\s*md5:\s*([0-9a-f]{32}(?:\.dir)?)\s*$", re.M)


@dataclass(frozen=True)
class RawData:
    """What versioning the raw inputs did: the files it wrote (for ``git add``) and what to tell the user."""

    written: tuple[str, ...] = ()  # root-relative: the .dvc files and .gitignore files DVC wrote or changed
    notes: tuple[str, ...] = ()


def raw_inputs(plan: PipelinePlan, dvc_yaml: str, root: Path) -> list[str]:
    """The pipeline's inputs that no stage (of this or another notebook's pipeline) writes, that exist,
    and that git does not track."""
    produced = {out for stage in plan.stages for out in stage.outs} | _outs_of(dvc_yaml)
    handoffs = {h.folder for stage in plan.stages for h in stage.loads}
    candidates = [
        dep for stage in plan.stages for dep in stage.deps
        if dep not in handoffs and dep != plan.notebook and not _under_any(dep, produced)
        and not plan.layout.generated(dep) and (root / dep).exists()
    ]
    candidates = list(dict.fromkeys(candidates))
    tracked = _git_tracked(root, candidates)
    return [dep for dep in candidates if dep not in tracked]


def version_raw_inputs(root: Path, paths: list[str], session_md5: Mapping[str, str | None]) -> RawData:
    """``dvc add`` for ``paths`` (root-relative), with one line per file saying what happened."""
    if not paths:
        return RawData()
    if not (root / ".dvc").is_dir():
        return RawData(notes=(f"{', '.join(paths)}: not versioned (no git history, no DVC): run `dvc init` at "
                              f"{root}, then export again to put {'them' if len(paths) > 1 else 'it'} under DVC",))
    # DVC reads and caches the data and writes each one's .dvc file, its folder's .gitignore and temporary files
    # beside them, and we read those back: no running cell's I/O (own_io.py). So their folders are announced,
    # and the .dvcignore DVC reads.
    with own_io.announced(root, [root / posixpath.dirname(p) for p in paths] + [root / ".dvcignore"]):
        return _dvc_add(root, paths, session_md5)


def _dvc_add(root: Path, paths: list[str], session_md5: Mapping[str, str | None]) -> RawData:
    check_targets(root, paths)  # again, at the moment of use
    before = {p: _dvc_md5(root, p) for p in paths}
    ignores = {p: _read(root, _gitignore(p)) for p in paths}
    done = run_dvc(root, "add", "--quiet", *paths, touches=())
    if done.returncode != 0:
        return RawData(notes=(f"DVC could not version {', '.join(paths)}: {reason(done)}; run "
                              f"`dvc add {' '.join(paths)}` to see why",))
    written: list[str] = []
    notes: list[str] = []
    for path in paths:
        dvc_file = f"{path}.dvc"
        now, then = _dvc_md5(root, path), before[path]
        if then != now:
            written.append(dvc_file)
        ignore = _gitignore(path)
        if _read(root, ignore) != ignores[path]:
            written.append(ignore)
        if then is None:
            notes.append(f"{path}: put under DVC ({dvc_file}, md5 {now}); git ignores the data itself")
        elif then != now:
            notes.append(f"{path} changed since {dvc_file} was written (md5 {then} → {now}): {dvc_file} updated")
        read = session_md5.get(path)
        if read and now and read != now.removesuffix(".dir"):
            notes.append(f"{path} is not the data the tracked session read (md5 {read}, now {now}): the "
                         "pipeline will run on the new data")
    return RawData(tuple(dict.fromkeys(written)), tuple(notes))


def check_targets(root: Path, paths: list[str]) -> None:
    """What ``dvc add`` of ``paths`` reads (the data, every file of a folder; DVC's configuration) and writes
    (the ``.dvc`` files, the folders' ``.gitignore``), held to ``project_files``' rule: Conflict naming the
    first link out of the project or FIFO. Export asks before it writes anything."""
    if paths:
        check_config(root)
    for path in paths:
        project_files.check_tree(root, path)
        project_files.check(root, f"{path}.dvc")
        project_files.check(root, _gitignore(path))


def _outs_of(dvc_yaml: str) -> set[str]:
    """Every output the project's ``dvc.yaml`` declares, whichever notebook's stage it is."""
    try:
        doc = YAML(typ="safe").load(dvc_yaml) or {}
    except YAMLError:
        return set()
    outs: set[str] = set()
    for stage in (doc.get("stages") or {}).values() if isinstance(doc, dict) else ():
        for kind in ("outs", "metrics", "plots"):
            for out in (stage or {}).get(kind) or ():
                outs.add(next(iter(out)) if isinstance(out, dict) else str(out))
    return outs


def _under_any(path: str, folders: set[str]) -> bool:
    return path in folders or any(path.startswith(f.rstrip("/") + "/") for f in folders)


def _git_tracked(root: Path, paths: list[str]) -> set[str]:
    """The paths git tracks (a directory: any file in it); none when the project is not a git repository."""
    if not paths:
        return set()
    try:
        done = subprocess.run(["git", "ls-files", "-z", "--", *paths], cwd=root, capture_output=True,
                              timeout=60, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return set()
    if done.returncode != 0:
        return set()
    files = [f for f in done.stdout.decode("utf-8", "replace").split("\0") if f]
    return {p for p in paths if any(f == p or f.startswith(p.rstrip("/") + "/") for f in files)}


def _dvc_md5(root: Path, path: str) -> str | None:
    """The md5 a ``.dvc`` file records for its data (``….dir`` for a directory), None without one."""
    text = _read(root, f"{path}.dvc")
    match = _MD5.search(text or "")
    return match.group(1) if match else None


def _gitignore(path: str) -> str:
    return posixpath.join(posixpath.dirname(path), ".gitignore")


def _read(root: Path, rel: str) -> str | None:
    return project_files.read_text(root, rel)

