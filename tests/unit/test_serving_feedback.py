"""Ground truth by request id: accuracy and AUC as computed by hand and by scikit-learn; refusals count nothing."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from jupyter_mlops.errors import BadInput, NotFound
from jupyter_mlops.serving.feedback import Feedback, roc_auc


def test_accuracy_auc_and_class_rates_of_the_labelled_rows():
    rng = np.random.default_rng(1)
    fb = Feedback(limit=1000)
    scores = rng.random(60)
    predictions = (scores > 0.5).astype(int)
    fb.remember("big", predictions[:50], inputs=scores[:50])
    for i in range(50, 60):
        fb.remember(f"one-{i}", predictions[i:i + 1], inputs=scores[i:i + 1])
    labels = (rng.random(60) < scores).astype(int)
    result = fb.label({"ids": ["big", *[f"one-{i}" for i in range(50, 60)]],
                       "labels": [labels[:50].tolist(), *labels[50:].tolist()]}, lambda x: list(x))
    assert result == {"labelled_rows": 60, "window_labelled_rows": 60}
    quality = fb.quality(positive=1)
    assert quality["accuracy"] == np.mean(predictions == labels)
    assert quality["auc"] == pytest.approx(roc_auc_score(labels, scores), abs=1e-12)
    assert quality["class_rate"] == {"0": np.mean(predictions == 0), "1": np.mean(predictions == 1)}
    assert fb.pending_rows == 0


def test_refused_feedback_counts_nothing_and_says_why():
    fb = Feedback(limit=10)
    fb.remember("a", [1, 0])
    with pytest.raises(NotFound, match="unknown request id"):
        fb.label({"ids": ["a", "zz"], "labels": [[1, 0], 1]})
    with pytest.raises(BadInput, match="scored 2 row"):
        fb.label({"ids": ["a"], "labels": [1]})
    for body in ({"ids": ["a"]}, {"ids": "a", "labels": 1}, {"ids": [1], "labels": [1]}, [1, 2],
                 {"ids": ["a"], "labels": [{"x": 1}]}, {"ids": ["a"], "labels": [1], "more": 0}):
        with pytest.raises(BadInput):
            fb.label(body)
    assert fb.quality()["labelled_rows"] == 0 and "a" in fb.pending


def test_pending_is_bounded_by_rows_and_survives_a_restart_without_inputs():
    fb = Feedback(limit=5)
    for i in range(4):
        fb.remember(f"r{i}", [i % 2, 1], inputs=object())
    assert list(fb.pending) == ["r2", "r3"] and fb.pending_rows == 4
    restored = Feedback.from_state(fb.to_state(), 5)
    restored.label({"ids": ["r3"], "labels": [[1, 1]]})
    assert restored.quality()["accuracy"] == 1.0 and restored.pending["r2"].inputs is None


def test_roc_auc_with_ties_and_one_class():
    assert roc_auc([0.5, 0.5, 0.5, 0.5], [True, False, True, False]) == 0.5
    assert roc_auc([0.1, 0.2], [True, True]) is None
