"""The serving window: a uniform, seeded, bounded sample of the last rows, kept across a restart."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from jupyter_mlops.serving.window import Deferred, Window, as_columns, plain, rows_at


def feed(window: Window, values: range, batch: int) -> None:
    numbers = np.array(values)
    for start in range(0, len(numbers), batch):
        part = numbers[start:start + batch]
        window.add(len(part), lambda positions, part=part: [[{"x": int(part[p])}, {}] for p in positions])


def sampled(window: Window) -> list[int]:
    return [row[0]["x"] for row in window.sample()]


def test_the_sample_is_bounded_and_covers_only_the_last_rows():
    window = Window(rows=1000, sample=100, slices=10, seed=3)
    feed(window, range(5000), 37)
    xs = sampled(window)
    assert len(xs) <= 100 and len(set(xs)) == len(xs)
    assert min(xs) >= 5000 - 1000 and window.window_rows <= 1000 and window.total_rows == 5000


def test_the_sample_is_uniform_over_the_window():
    """Each row of the window is in the sample with the same chance: over many seeds, the sampled share of
    each tenth of the window is a tenth (within sampling error), whatever the batch sizes."""
    counts = np.zeros(10)
    for seed in range(200):
        window = Window(rows=1000, sample=100, slices=10, seed=seed)
        feed(window, range(2500), 1 + seed % 50)
        for x in sampled(window):
            counts[(x - (2500 - window.window_rows)) * 10 // window.window_rows] += 1
    shares = counts / counts.sum()
    assert np.all(np.abs(shares - 0.1) < 0.015), shares


def test_the_same_traffic_gives_the_same_sample_and_another_seed_another():
    def run(seed: int) -> list[int]:
        window = Window(rows=500, sample=50, slices=5, seed=seed)
        feed(window, range(3000), 7)
        return sampled(window)

    assert run(1) == run(1) and run(1) != run(2)


def test_the_sample_does_not_depend_on_how_the_traffic_was_batched():
    def run(batch: int) -> list[int]:
        window = Window(rows=500, sample=50, slices=5, seed=4)
        feed(window, range(3000), batch)
        return sampled(window)

    assert run(1) == run(7) == run(499) == run(3000)


def test_rows_left_in_their_requests_columns_are_the_same_sample_once_read_or_saved():
    eager, deferred = (Window(rows=500, sample=50, slices=5, seed=6) for _ in range(2))
    feed(eager, range(2000), 37)
    numbers = np.arange(2000)
    for start in range(0, 2000, 37):
        part = {"x": numbers[start:start + 37]}
        deferred.add(len(part["x"]), lambda positions, part=part: [Deferred(part, {}, p) for p in positions])
    assert json.loads(json.dumps(deferred.to_state())) == json.loads(json.dumps(eager.to_state()))
    assert deferred.sample() == eager.sample()


def test_only_the_rows_taken_are_copied():
    window = Window(rows=10_000, sample=100, slices=10, seed=0)
    asked: list[int] = []
    window.add(100_000, lambda positions: asked.extend(positions) or [[{}, {}] for _ in positions])
    assert len(asked) < 8_000  # Algorithm L: about k·(1 + ln(n/k)) = 56 per slice of 1,000 rows, not n


def test_a_saved_window_carries_on_exactly_as_if_never_stopped():
    a = Window(rows=600, sample=60, slices=6, seed=5)
    feed(a, range(1000), 13)
    b = Window.from_state(json.loads(json.dumps(a.to_state())))
    assert sampled(b) == sampled(a) and b.window_rows == a.window_rows and b.total_rows == 1000
    feed(a, range(1000, 1700), 13)
    feed(b, range(1000, 1700), 13)
    assert sampled(b) == sampled(a)
    with pytest.raises(ValueError):
        Window.from_state({"format": 99})


def test_model_inputs_and_outputs_as_columns():
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame({"a": [1, 2], "b": ["x", None]})
    columns, n = as_columns(frame, "input")
    assert n == 2 and rows_at(columns, [1]) == [{"a": 2, "b": None}]
    assert as_columns(np.array([0, 1, 1]), "prediction")[0].keys() == {"prediction"}
    assert as_columns(np.array([[0.2, 0.8]]), "prediction")[0].keys() == {"prediction_0", "prediction_1"}
    assert as_columns({"a": [1, 2], "b": [3]}, "x") is None and as_columns("text", "x") is None
    assert plain(np.float64("nan")) is None and plain(np.int64(3)) == 3 and plain(pd.NA) is None


def test_a_numeric_frame_is_converted_at_once_to_the_float64_the_statistics_read():
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame({"tenure": [14, 2], "charges": [23.8, float("nan")]})
    columns, n = as_columns(frame, "input")
    assert n == 2 and all(v.dtype == np.float64 for v in columns.values())
    (row,) = rows_at(columns, [1])
    assert row["tenure"] == 2.0 and math.isnan(row["charges"])


def test_the_serving_state_keeps_to_the_project_rule(tmp_path):
    """``.mlops/serving`` linked out of the project: nothing is written there, and nothing is read from there."""
    from jupyter_mlops.errors import Conflict
    from jupyter_mlops.serving import state

    project, outside = tmp_path / "project", tmp_path / "outside"
    (project / ".mlops").mkdir(parents=True)
    outside.mkdir()
    path = state.window_path(project, "churn-v1-127.0.0.1-5001")
    state.write_json(project, path, {"model": "churn"})
    assert state.read_json(project, path) == {"model": "churn"}
    state.remove(project, path)
    (project / ".mlops" / "serving").rename(outside / "serving")
    (project / ".mlops" / "serving").symlink_to(outside / "serving")
    with pytest.raises(Conflict, match="symlink"):
        state.write_json(project, path, {"model": "churn"})
    (outside / "serving" / "windows" / path.name).write_text('{"model": "elsewhere"}')
    with pytest.raises(ValueError, match="symlink"):
        state.read_json(project, path)
    assert list(state.running_servers(project)) == []
