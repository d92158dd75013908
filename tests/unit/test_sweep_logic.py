"""The sweep's pure parts: the grid, the stuck-queue verdict, the table, and DVC's JSON as the sweep reads it."""

import io

import pytest

from jupyter_mlops.errors import BadInput, Conflict
from jupyter_mlops.sweep import grid, results, watch
from jupyter_mlops.sweep.queue import FAILED, QUEUED, RUNNING, SUCCESS, Experiment, Workers, parse_exp_show

PARAMS = {"max_depth": 6, "n_estimators": 100, "train": {"lr": 0.1}}


def test_the_grid_crosses_every_axis_first_slowest_and_checks_names_against_params_yaml():
    axes = grid.parse_axes(["max_depth=4,6,8", "n_estimators=50,100", "train.lr=0.01"], PARAMS)
    combos = grid.combinations(axes)
    assert len(combos) == 6
    assert combos[0] == (("max_depth", "4"), ("n_estimators", "50"), ("train.lr", "0.01"))
    assert combos[1][1] == ("n_estimators", "100") and combos[2][0] == ("max_depth", "6")
    assert grid.typed("4") == 4 and grid.typed("0.01") == 0.01 and grid.typed("gini") == "gini"
    for bad, said in [(["depth=3"], "not a param"), (["max_depth"], "NAME=VALUE"), (["max_depth=1,,2"], "NAME=VALUE"),
                      (["max_depth=1,1"], "twice"), (["max_depth=1", "max_depth=2"], "given twice"), ([], "nothing")]:
        with pytest.raises(BadInput, match=said):
            grid.parse_axes(bad, PARAMS)


def test_random_draws_distinct_combinations_the_same_for_the_same_seed():
    axes = grid.parse_axes(["max_depth=1,2,3,4,5", "n_estimators=10,20,30,40"], PARAMS)
    drawn = grid.combinations(axes, sample=7, seed=3)
    assert len(set(drawn)) == 7 and drawn == grid.combinations(axes, sample=7, seed=3)
    assert set(drawn) <= set(grid.combinations(axes))
    assert drawn != grid.combinations(axes, sample=7, seed=4)
    with pytest.raises(BadInput, match="20 combinations"):
        grid.combinations(axes, sample=21, seed=0)


def test_a_queue_is_stuck_only_when_nothing_moved_for_the_patience_and_no_worker_is_busy():
    names = ["s-1", "s-2", "s-3"]
    w = watch.QueueWatch(names, patience_s=10)
    assert w.observe(0, {}) == [] and w.counts == watch.Counts(3, 0, 0, 0)
    assert w.observe(5, {"s-1": RUNNING}) == [("s-1", RUNNING)]
    assert not w.needs_worker_check(14) and w.stuck(14, Workers(0, 0)) is None   # 9 s quiet: not yet
    assert w.needs_worker_check(15)
    assert w.stuck(15, Workers(1, 0)) is None       # a worker busy with a long cell is progress to come
    assert not w.needs_worker_check(24)             # ... and DVC is asked again only a patience later
    stuck = w.stuck(25, Workers(0, 0))
    assert stuck is not None and stuck.running == ("s-1",) and stuck.queued == ("s-2", "s-3")
    remedies = " ".join(stuck.remedies(jobs=2))
    assert "dvc queue kill s-1" in remedies and "dvc queue start -j 2" in remedies
    assert "dvc queue remove --queued" in remedies and "no worker is running" in stuck.message()
    assert "idle" in w.stuck(25, Workers(0, 2)).message()  # workers alive but taking nothing
    assert w.stuck(25, None) is not None                     # DVC did not say: counted as none
    w.observe(16, {"s-1": SUCCESS, "s-2": FAILED, "s-3": SUCCESS})
    assert w.finished and not w.needs_worker_check(100) and w.stuck(100, None) is None
    assert watch.summary(w.counts) == "3/3 finished: 2 done, 1 failed, 0 running, 0 queued"
    assert watch.bar(w.counts, width=6).startswith("[######] 3/3")


def exp(name, state, auc=None, loss=None, depth=1):
    metrics = {k: v for k, v in (("auc", auc), ("loss", loss)) if v is not None}
    return Experiment(name, state, params={"max_depth": depth, "seed": 1}, metrics=metrics)


def test_the_table_is_best_first_by_the_metric_with_failed_and_unfinished_rows_last():
    found = {"s-1": exp("s-1", SUCCESS, 0.7, 0.5, 2), "s-2": exp("s-2", FAILED, depth=0),
             "s-3": exp("s-3", SUCCESS, 0.9, 0.6, 4), "s-4": exp("s-4", QUEUED, depth=5)}
    table = results.build_table("sweep-000001", ["s-1", "s-2", "s-3", "s-4"], found, ["max_depth"], {"s-1": "abc"})
    assert table.metric == "auc" and not table.minimize
    assert [r.experiment for r in table.rows] == ["s-3", "s-1", "s-2", "s-4"]
    assert table.best.experiment == "s-3" and [r.experiment for r in table.failed] == ["s-2"]
    text = results.render(table).splitlines()
    assert text[1].startswith("*  s-3") and "abc" in text[2] and text[3].split()[-1] == "failed"
    assert text[-1] == "sorted by auc, highest first; * best"
    by_loss = results.build_table("sweep-000001", list(found), found, ["max_depth"], {}, metric="loss")
    assert by_loss.minimize and by_loss.best.experiment == "s-1" and by_loss.metrics[0] == "loss"
    forced = results.build_table("sweep-000001", list(found), found, ["max_depth"], {}, metric="loss", minimize=False)
    assert forced.best.experiment == "s-3"
    assert table.to_dict()["best"] == "s-3" and table.to_dict()["rows"][0]["params"] == {"max_depth": 4}


def test_dvc_exp_show_json_gives_each_named_experiment_its_state_params_metrics_and_log():
    doc = [
        {"rev": "workspace", "name": None, "data": {}, "error": None, "experiments": None},
        {"rev": "abc", "name": "main", "data": {}, "error": None, "experiments": [
            {"executor": {"state": "success", "name": "dvc-task", "local": {"log": "/r/a.out"}}, "name": "s-1",
             "revs": [{"rev": "r1", "name": "s-1", "error": None, "experiments": None, "data": {
                 "params": {"params.yaml": {"data": {"max_depth": 4, "train": {"lr": 0.1}}}},
                 "metrics": {"m.json": {"data": {"auc": 0.8, "note": "x", "ok": True}},
                             "gone.json": {"error": {"type": "FileNotFoundError"}}}}}]},
            {"executor": {"state": "failed", "local": {"log": "/r/b.out"}}, "name": "s-2",
             "revs": [{"rev": "r2", "name": "s-2", "error": {"msg": "Experiment run failed"}, "data": {
                 "params": {"params.yaml": {"data": {"max_depth": 0}}},
                 "metrics": {"m.json": {"error": {"type": "FileNotFoundError"}}}}}]},
            {"executor": {"state": "queued"}, "name": "s-3", "revs": [{"rev": "r3", "name": "s-3", "data": {}}]},
            {"executor": None, "name": None, "revs": [{"rev": "r4", "name": None, "data": {}}]},
        ]},
    ]
    found = parse_exp_show(doc)
    assert set(found) == {"s-1", "s-2", "s-3"}
    assert found["s-1"] == Experiment("s-1", SUCCESS, "r1", {"max_depth": 4, "train.lr": 0.1}, {"auc": 0.8},
                                      "/r/a.out")
    assert (found["s-2"].state, found["s-2"].metrics, found["s-2"].log) == (FAILED, {}, "/r/b.out")
    assert found["s-3"].state == QUEUED


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_is_a_bar_rewritten_in_place_on_a_terminal_and_plain_lines_elsewhere():
    counts = [watch.Counts(1, 1, 0, 0), watch.Counts(1, 1, 0, 0), watch.Counts(0, 0, 1, 1)]
    changes = [[("s-1", RUNNING)], [], [("s-1", SUCCESS), ("s-2", FAILED)]]
    plain, tty = io.StringIO(), _Terminal()
    for out in (plain, tty):
        display = watch.Display(out, {"s-1": "max_depth=4", "s-2": "max_depth=0"})
        for c, n in zip(changes, counts, strict=True):
            display.show(c, n)
        display.close()
    assert plain.getvalue().splitlines() == [
        "s-1 running  max_depth=4", "0/2 finished: 0 done, 0 failed, 1 running, 1 queued",
        "s-1 success  max_depth=4", "s-2 failed  max_depth=0", "2/2 finished: 1 done, 1 failed, 0 running, 0 queued"]
    text = tty.getvalue()
    assert "\r\033[K[" in text and text.endswith("0 queued · 1 failed\n") and text.count("\n") == 4


def test_a_dvc_exp_show_that_hangs_is_killed_and_asked_again_a_bounded_number_of_times(monkeypatch, tmp_path):
    """DVC's `exp show` can hang for good on an experiment being cleaned up (seen in CI): the poll asks again."""
    import subprocess

    from jupyter_mlops.export.dvccmd import TIMED_OUT
    from jupyter_mlops.sweep import queue

    answers = [subprocess.CompletedProcess([], TIMED_OUT, "", "ERROR: `dvc exp show` did not finish within 60 s"),
               subprocess.CompletedProcess([], 0, '[{"experiments": [{"executor": {"state": "queued"}, '
                                                  '"name": "s-1", "revs": [{"rev": "r1", "name": "s-1"}]}]}]', "")]
    calls = []
    monkeypatch.setattr(queue, "run_dvc", lambda *a, **k: calls.append(k["timeout_s"]) or answers.pop(0))
    assert queue.experiments(tmp_path, "HEAD")["s-1"].state == QUEUED
    assert calls == [queue.EXP_SHOW_TIMEOUT_S] * 2

    hung = subprocess.CompletedProcess([], TIMED_OUT, "", "ERROR: `dvc exp show` did not finish within 60 s")
    calls.clear()
    monkeypatch.setattr(queue, "run_dvc", lambda *a, **k: calls.append(1) or hung)
    with pytest.raises(Conflict, match="did not finish within 60 s"):
        queue.experiments(tmp_path, "HEAD")
    assert len(calls) == queue.EXP_SHOW_TRIES
