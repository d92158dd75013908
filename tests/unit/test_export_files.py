"""dvc.yaml and params.yaml merges, and the stage notebooks: text in, text out."""

import json
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from jupyter_mlops.core.notebook import read_notebook
from jupyter_mlops.errors import BadInput, Refused
from jupyter_mlops.export.dvcfile import METRICS_FILE_ENV, merge_dvc_yaml, stage_entries
from jupyter_mlops.export.layout import Layout
from jupyter_mlops.export.nbgen import stage_notebooks
from jupyter_mlops.export.paramsfile import merge_params
from jupyter_mlops.export.stages import plan_pipeline
from jupyter_mlops.kernel.session import METRICS_FILE_ENV as TRACKER_METRICS_FILE_ENV

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "churn.ipynb"


def example_plan(mode: str = "auto", notebook: str = "churn.ipynb", out: str = "."):
    nb = read_notebook(EXAMPLE)
    return plan_pipeline(nb, notebook=notebook, layout=Layout(out), mode=mode), nb.document


def load(text: str) -> dict:
    return YAML(typ="safe").load(text)


def test_metrics_variable_is_the_trackers():
    assert METRICS_FILE_ENV == TRACKER_METRICS_FILE_ENV


def test_stage_runs_papermill_with_params_file_and_metrics_variable():
    plan, _ = example_plan("single")
    entry = stage_entries(plan, "python3")["churn"]
    assert entry["cmd"] == (f"{METRICS_FILE_ENV}=pipeline/metrics/churn.json papermill pipeline/churn.ipynb "
                            "pipeline/churn.out.ipynb -k python3 -f params.yaml --cwd . --inject-input-path "
                            "--no-progress-bar")
    assert entry["deps"] == ["pipeline/churn.ipynb", "data/churn.csv"]
    assert "params.yaml" not in entry["deps"] and "n_estimators" in entry["params"]
    assert entry["outs"] == ["model.joblib", "pipeline/churn.out.ipynb"]
    assert entry["metrics"] == [{"pipeline/metrics/churn.json": {"cache": False}}]


def test_paths_are_relative_to_dvc_yaml_and_the_kernel_runs_in_the_notebooks_folder():
    plan, _ = example_plan("single", notebook="examples/churn.ipynb", out="ml")
    entry = stage_entries(plan, "python3")["churn"]
    assert "--cwd ../examples" in entry["cmd"] and "-f params.yaml" in entry["cmd"]
    assert entry["cmd"].startswith(f"{METRICS_FILE_ENV}=../ml/pipeline/metrics/churn.json ")
    assert entry["deps"] == ["pipeline/churn.ipynb", "../examples/data/churn.csv"]


def test_first_export_and_idempotent_re_export():
    plan, _ = example_plan()
    stages = stage_entries(plan, "python3")
    first = merge_dvc_yaml(None, "churn.ipynb", stages, force=False)
    assert list(load(first.text)["stages"]) == [s.name for s in plan.stages]
    again = merge_dvc_yaml(first.text, "churn.ipynb", stages, force=False)
    assert again.text == first.text and again.dropped == ()


def test_other_stages_and_comments_survive_and_dropped_stages_are_named():
    user = "# my pipeline\nstages:\n  prepare:  # keep me\n    cmd: python prep.py\n"
    single = stage_entries(example_plan("single")[0], "python3")
    merged = merge_dvc_yaml(user, "churn.ipynb", single, force=False)
    assert "# my pipeline" in merged.text and "# keep me" in merged.text
    split = merge_dvc_yaml(merged.text, "churn.ipynb", stage_entries(example_plan()[0], "python3"), force=False)
    assert split.dropped == ("churn",)
    assert next(iter(load(split.text)["stages"])) == "prepare" and "churn" not in load(split.text)["stages"]


def test_hand_edited_stage_is_refused_unless_forced():
    stages = stage_entries(example_plan("single")[0], "python3")
    text = merge_dvc_yaml(None, "churn.ipynb", stages, force=False).text
    edited = text.replace("--no-progress-bar", "--no-progress-bar --log-output")
    with pytest.raises(Refused, match="churn was edited by hand") as refused:
        merge_dvc_yaml(edited, "churn.ipynb", stages, force=False)
    assert "--force" in refused.value.hint and "--force" not in refused.value.panel_hint
    assert merge_dvc_yaml(edited, "churn.ipynb", stages, force=True).text == text


def test_a_users_stage_with_our_name_is_refused_unless_forced():
    stages = stage_entries(example_plan("single")[0], "python3")
    with pytest.raises(Refused, match="export did not write"):
        merge_dvc_yaml("stages:\n  churn:\n    cmd: make\n", "churn.ipynb", stages, force=False)
    assert "papermill" in merge_dvc_yaml("stages:\n  churn:\n    cmd: make\n", "churn.ipynb", stages, force=True).text


def test_broken_dvc_yaml_is_bad_input():
    with pytest.raises(BadInput, match="not valid YAML"):
        merge_dvc_yaml("stages: [\n", "churn.ipynb", {}, force=False)


def test_params_merge_keeps_user_values_comments_and_order():
    existing = "# tuned by hand\nn_estimators: 50  # faster\nother: x\n"
    merged = merge_params(existing, {"n_estimators": 100, "seed": 42}, force=False)
    assert merged.text == "# tuned by hand\nn_estimators: 50  # faster\nother: x\nseed: 42\n"
    assert merged.kept == {"n_estimators": (50, 100)}
    forced = merge_params(existing, {"n_estimators": 100}, force=True)
    assert forced.text.startswith("# tuned by hand\nn_estimators: 100 # faster\n") and not forced.kept


def test_params_merge_equal_values_and_unrepresentable_ones():
    merged = merge_params("lr: 1\nflag: true\n", {"lr": 1.0, "flag": 1, "dims": (1, 2), "s": {1, 2}}, force=False)
    assert "lr" not in merged.kept and merged.kept["flag"] == (True, 1)
    assert "dims:\n- 1\n- 2\n" in merged.text and merged.skipped == ("s",)


def test_stage_notebooks_are_generated_with_header_tracking_and_handoffs():
    plan, doc = example_plan()
    notebooks = stage_notebooks(plan, doc)
    assert list(notebooks) == [f"pipeline/{s.name}.ipynb" for s in plan.stages]
    evaluate = json.loads(notebooks["pipeline/churn-evaluate.ipynb"])
    sources = ["".join(c["source"]) for c in evaluate["cells"]]
    assert sources[0].startswith("**Generated by `jupyter mlops export` from `churn.ipynb`")
    assert "--notebook pipeline/churn-evaluate.ipynb" in sources[1]
    assert evaluate["cells"][2]["metadata"]["tags"] == ["parameters"]
    assert "X_test, y_test = handoff.load('pipeline/handoff/churn-features', 'X_test', 'y_test')" in sources[4]
    assert "model = handoff.load('pipeline/handoff/churn-train', 'model')" in sources[4]
    assert all(c.get("outputs", []) == [] for c in evaluate["cells"])
    assert evaluate["metadata"]["jupyter_mlops"] == {"generated_from": "churn.ipynb", "stage": "churn-evaluate"}
    load = json.loads(notebooks["pipeline/churn-load.ipynb"])
    assert "handoff.save('pipeline/handoff/churn-load', df=df)" in load["cells"][-1]["source"]
    assert stage_notebooks(plan, doc) == notebooks  # deterministic: no spurious DVC changes
