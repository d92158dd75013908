"""What a sweep asked, kept in ``.mlops/sweeps/<id>.json``: DVC holds the results, this the question."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jupyter_mlops import project_files
from jupyter_mlops.errors import BadInput, Conflict, NotFound
from jupyter_mlops.project import JOURNAL_DIR
from jupyter_mlops.sweep import identity

SWEEPS_DIR = "sweeps"


@dataclass(frozen=True)
class SweepRecord:
    """What was asked, kept in ``.mlops/sweeps/<id>.json``: DVC holds the results, this the question."""

    sweep: str
    notebook: str
    baseline: str
    params: list[str]
    experiments: dict[str, dict[str, str]]   # experiment name → {param: value as typed}
    jobs: int
    created_at: float

    @staticmethod
    def path(root: Path, sweep: str) -> Path:
        return root / JOURNAL_DIR / SWEEPS_DIR / f"{sweep}.json"

    def save(self, root: Path) -> None:
        project_files.write_text(root, self.path(root, self.sweep), json.dumps(self.__dict__, indent=2) + "\n")

    @classmethod
    def all(cls, root: Path) -> list[SweepRecord]:
        """Every sweep of the project, newest first (the panel's list; a file not named by a sweep id is
        someone else's and skipped)."""
        folder = root / JOURNAL_DIR / SWEEPS_DIR
        found = [cls.load(root, f.stem) for f in sorted(folder.glob("*.json")) if identity.is_sweep_id(f.stem)]
        return sorted(found, key=lambda r: r.created_at, reverse=True)

    @classmethod
    def load(cls, root: Path, sweep: str) -> SweepRecord:
        if not identity.is_sweep_id(sweep):
            raise BadInput(f"{sweep!r} is not a sweep id",
                           hint="sweep ids look like sweep-3fa91c (see `ls .mlops/sweeps`)")
        path = cls.path(root, sweep)
        text = project_files.read_text(root, path)  # a link out of the project, a FIFO: refused
        if text is None:
            raise NotFound(f"no sweep {sweep} in {root}", hint=f"`ls {root / JOURNAL_DIR / SWEEPS_DIR}` lists them")
        try:
            return cls._checked(sweep, json.loads(text))
        except (ValueError, TypeError) as exc:  # not JSON, or not a record's fields
            raise Conflict(f"{path} is not a sweep record: {exc}",
                           hint="restore it, or delete it to forget that sweep (DVC keeps its experiments)") from exc

    @classmethod
    def _checked(cls, sweep: str, data: Any) -> SweepRecord:
        """The record in ``data``, every field of the type it must have (TypeError saying which is not)."""
        if not isinstance(data, dict) or set(data) != set(cls.__dataclass_fields__):
            raise TypeError(f"expected the fields {', '.join(cls.__dataclass_fields__)}")
        experiments = data["experiments"]
        fine = {
            "sweep": data["sweep"] == sweep,
            "notebook": isinstance(data["notebook"], str),
            "baseline": isinstance(data["baseline"], str),
            "params": isinstance(data["params"], list) and all(isinstance(p, str) for p in data["params"]),
            "experiments": isinstance(experiments, dict) and all(
                isinstance(name, str) and identity.sweep_of(name) == sweep and isinstance(values, dict)
                and all(isinstance(k, str) and isinstance(v, str) for k, v in values.items())
                for name, values in experiments.items()),
            "jobs": type(data["jobs"]) is int and data["jobs"] >= 1,
            "created_at": type(data["created_at"]) in (int, float) and math.isfinite(data["created_at"]),
        }
        wrong = [name for name, ok in fine.items() if not ok]
        if wrong:
            raise TypeError(f"{', '.join(wrong)} {'is' if len(wrong) == 1 else 'are'} not what a sweep writes")
        return cls(**data)
