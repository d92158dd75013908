"""What the mirror makes of each kind of model file a session wrote (mlflow_model.py), on a real MLflow
SQLite store with real scikit-learn objects, pushed as the follower pushes (no kernel needed: the journal
is the queue): a pipeline fitted on the raw frame, an ``mlflow.sklearn.save_model`` folder, a pickle that
is no estimator, torch weights; and a pass sent again logs nothing twice."""

from __future__ import annotations

import pickle
from pathlib import Path

import joblib
import pandas as pd
import pytest
import sklearn
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder

from jupyter_mlops.hashing import file_digest
from jupyter_mlops.journal import CellRunRecord, FileRecord, Journal

pytestmark = pytest.mark.e2e

TABLE = pd.DataFrame({"plan": ["a", "b", "a", "c", "b", "a", "c", "b"], "usage": [1.0, 5, 2, 8, 3, 1, 9, 4],
                      "left": [0, 1, 0, 1, 0, 0, 1, 1]})


def record(root: Path, rel: str, mode: str) -> FileRecord:
    d = file_digest(root / rel)
    return FileRecord(rel, mode, d.size, d.mtime_ns, d.md5, d.nfiles)


def run(seq: int, cell: str, files: list[FileRecord]) -> CellRunRecord:
    return CellRunRecord(seq=seq, cell_id=cell, execution_count=seq, code=f"# {cell}", code_hash=cell,
                         started_at=float(seq), duration=0.0, status="ok", reproducible=True, files=files)


def test_each_kind_of_model_file_becomes_a_model_or_a_one_line_note(project):
    import mlflow.artifacts
    import mlflow.sklearn
    from mlflow import MlflowClient

    from jupyter_mlops.sinks.bookkeeping import Bookkeeping
    from jupyter_mlops.sinks.mlflow_push import Pusher

    TABLE.to_csv(project / "train.csv", index=False)
    pipeline = make_pipeline(ColumnTransformer([("plan", OneHotEncoder(), ["plan"])], remainder="passthrough"),
                             LogisticRegression()).fit(TABLE[["plan", "usage"]], TABLE["left"])
    joblib.dump(pipeline, project / "pipe.joblib")
    mlflow.sklearn.save_model(LogisticRegression().fit(TABLE[["usage"]], TABLE["left"]), str(project / "saved"),
                              serialization_format="cloudpickle")
    (project / "stats.pkl").write_bytes(pickle.dumps({"mean": 1.5}))
    (project / "net.pt").write_bytes(b"\x80\x02weights")

    journal = Journal(project / ".mlops" / "journal.sqlite")
    journal.start_session("s1", experiment="formats", notebook="nb.ipynb", root=str(project), python="3",
                          ipython="9", options={"mlflow": True})
    journal.add_cell_run("s1", run(1, "load", [record(project, "train.csv", "read")]))
    journal.add_cell_run("s1", run(2, "fit", [record(project, p, "write")
                                             for p in ("pipe.joblib", "saved", "stats.pkl", "net.pt")]))
    journal.end_session("s1")
    uri = f"sqlite:///{project / 'mlflow.db'}"
    book = Bookkeeping(journal.path)
    try:
        pusher = Pusher(book, uri)
        assert pusher.push("s1").complete
        assert pusher.push("s1").complete  # sent again: nothing new
        by_path = {m.path: m for m in book.logged_models("s1", uri)}
    finally:
        book.close()
        journal.close()

    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name("formats")
    logged = {m.tags["mlops.model.path"]: m for m in client.search_logged_models([experiment.experiment_id])}
    assert sorted(logged) == ["pipe.joblib", "saved"]  # each once
    pipe = logged["pipe.joblib"]
    assert pipe.tags["mlops.model.flavor"] == "sklearn" and pipe.tags["mlops.model.cell"] == "fit"
    assert pipe.tags["mlops.model.signature"].startswith("inferred from the first 5 rows of train.csv")
    assert pipe.tags["mlops.data.train.csv"] == file_digest(project / "train.csv").md5
    requirements = mlflow.artifacts.download_artifacts(pipe.artifact_location + "/requirements.txt",
                                                       dst_path=str(project / "dl"))
    assert f"scikit-learn=={sklearn.__version__}" in Path(requirements).read_text().split()
    served = mlflow.pyfunc.load_model(pipe.artifact_location)
    assert served.metadata.signature.inputs.input_names() == ["plan", "usage"]
    head = TABLE[["plan", "usage"]].head(3)
    assert served.predict(head).tolist() == pipeline.predict(head).tolist()
    assert logged["saved"].tags["mlops.model.flavor"] == "sklearn"
    assert logged["saved"].tags["mlops.model.signature"] == "unknown: it was saved without one"

    assert by_path["stats.pkl"].model_id is None and "a pickled builtins.dict, not a scikit-learn estimator" \
        in by_path["stats.pkl"].note
    assert by_path["net.pt"].model_id is None and "mlflow.pytorch.save_model" in by_path["net.pt"].note
    tags = client.get_run(pipe.source_run_id).data.tags
    assert tags["mlops.model.net.pt"].startswith("not an MLflow model: pytorch weights only")
    assert tags["mlops.model.pipe.joblib"] == f"models:/{pipe.model_id} (sklearn)"
