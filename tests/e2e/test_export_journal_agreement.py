"""Issue 11: on one tracked notebook, the export's deps and outs are what the journal recorded.

The notebook reads and writes through native code (polars, duckdb) with paths the code builds at run time,
and names a file it never reads in a branch that does not run: the static view of the code gets both wrong,
the journal gets both right, and ``dvc.yaml`` must say what the journal says.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import yaml

from jupyter_mlops.export.api import export_notebook
from jupyter_mlops.journal import Journal
from tests.support.kernel import Kernel

pytestmark = pytest.mark.e2e

CELLS = [
    ("track", "code", "%load_ext jupyter_mlops\n%mlops_track --no-mlflow --notebook pipeline_nb.ipynb"),
    ("h1", "markdown", "## Prepare"),
    ("prep", "code", "import os\nimport polars as pl\nname = 'raw'\n"
                     "pl.read_csv(f'data/{name}.csv').write_parquet(os.path.join('data', 'clean' + '.parquet'))"),
    ("dead", "code", "import pandas as pd\nif os.path.exists('data/old.csv') and False:\n"
                     "    old = pd.read_csv('data/old.csv')"),
    ("h2", "markdown", "## Train"),
    ("train", "code", "import duckdb\nclean = pl.read_parquet('data/' + 'clean.parquet')\n"
                      "os.makedirs('out', exist_ok=True)\n"
                      "duckdb.sql(\"copy (select count(*) as n from clean) to 'out/stats.csv' (header)\")"),
]


def write_notebook(path: Path) -> None:
    cells = [{"id": cid, "cell_type": kind, "metadata": {}, "source": src,
              **({"outputs": [], "execution_count": None} if kind == "code" else {})} for cid, kind, src in CELLS]
    path.write_text(json.dumps({"cells": cells, "nbformat": 4, "nbformat_minor": 5,
                                "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                            "language": "python"}}}))


def journal_files(project: Path) -> dict[str, tuple[set[str], set[str]]]:
    j = Journal(project / ".mlops" / "journal.sqlite", create=False)
    try:
        detail = j.session_detail(j.find_session("latest"))
    finally:
        j.close()
    out: dict[str, tuple[set[str], set[str]]] = {}
    for f in detail["files"]:
        reads, writes = out.setdefault(f["cell_id"], (set(), set()))
        (reads if f["mode"] == "read" else writes).add(f["path"])
    return out


def test_dvc_yaml_deps_and_outs_are_the_journals(project):
    (project / "data").mkdir()
    (project / "data" / "raw.csv").write_text("a,b\n1,2\n3,4\n")
    (project / "data" / "old.csv").write_text("never read\n")
    write_notebook(project / "pipeline_nb.ipynb")
    kernel = Kernel(project)
    try:
        for cid, kind, src in CELLS:
            if kind == "code":
                kernel.cell(src, cid)
    finally:
        kernel.shutdown()
    subprocess.run(["git", "-C", str(project), "add", "-A"], check=True)

    recorded = journal_files(project)
    assert recorded == {"prep": ({"data/raw.csv"}, {"data/clean.parquet"}),
                        "train": ({"data/clean.parquet"}, {"out/stats.csv"})}

    result = export_notebook(project / "pipeline_nb.ipynb")
    assert "dvc.yaml" in result.written
    stages = yaml.safe_load((project / "dvc.yaml").read_text())["stages"]
    data = {name: ({d for d in s.get("deps", []) if not d.startswith("pipeline/")},
                   {o if isinstance(o, str) else next(iter(o)) for o in s.get("outs", [])
                    if not (o if isinstance(o, str) else next(iter(o))).startswith("pipeline/")})
            for name, s in stages.items()}
    assert sorted(data.values(), key=sorted) == sorted(recorded.values(), key=sorted)
    assert all("data/old.csv" not in deps for deps, _ in data.values())
