"""Where export puts things, relative to the project root: one place so planner, writer and tests agree.

Everything generated lives under ``pipeline/`` beside ``dvc.yaml``, which therefore always exists in a clone
(the stage notebooks are committed), so papermill never meets a missing output folder.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass

PIPELINE_DIR = "pipeline"
TARGETS = ("dvc", "kfp")  # export --to: dvc.yaml, or a Kubeflow pipeline.py + pipeline.yaml


def slug(text: str) -> str:
    """A DVC-safe stage name part: lowercase letters, digits and dashes."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "stage"


def join(*parts: str) -> str:
    return posixpath.normpath(posixpath.join(*parts))


@dataclass(frozen=True)
class Layout:
    out_dir: str  # root-relative folder of dvc.yaml and params.yaml ("." for the root)

    @property
    def dvc_yaml(self) -> str:
        return join(self.out_dir, "dvc.yaml")

    @property
    def params_yaml(self) -> str:
        return join(self.out_dir, "params.yaml")

    @property
    def kfp_pipeline(self) -> str:
        return join(self.out_dir, "pipeline.py")

    @property
    def kfp_package(self) -> str:
        return join(self.out_dir, "pipeline.yaml")

    def stage_notebook(self, stage: str) -> str:
        return join(self.out_dir, PIPELINE_DIR, f"{stage}.ipynb")

    def executed(self, stage: str) -> str:
        return join(self.out_dir, PIPELINE_DIR, f"{stage}.out.ipynb")

    def handoff(self, stage: str) -> str:
        return join(self.out_dir, PIPELINE_DIR, "handoff", stage)

    def metrics(self, stage: str) -> str:
        return join(self.out_dir, PIPELINE_DIR, "metrics", f"{stage}.json")

    def generated(self, path: str) -> bool:
        """A path export itself produces: never a data dependency of the notebook."""
        prefix = join(self.out_dir, PIPELINE_DIR) + "/"
        return path.startswith(prefix) or path in self.outputs()[1:]

    def outputs(self) -> tuple[str, ...]:
        """What export reads back and writes: the pipeline folder, then the files beside it."""
        return (join(self.out_dir, PIPELINE_DIR), self.dvc_yaml, self.params_yaml, join(self.out_dir, "dvc.lock"),
                self.kfp_pipeline, self.kfp_package)
