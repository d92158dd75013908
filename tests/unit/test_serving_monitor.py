"""The serving monitor's pacing: the statistics share the requests' interpreter, so they keep to a budget."""

from __future__ import annotations

import pytest

from jupyter_mlops.serving.monitor import STATS_S, STATS_SHARE, next_refresh


def test_the_statistics_are_spaced_out_to_their_share_of_a_core():
    assert next_refresh(100.0, 0.005) == 100.0 + STATS_S  # a quick pass: the usual interval
    assert next_refresh(100.0, 0.2) == pytest.approx(100.0 + 0.2 / STATS_SHARE)  # a slow one: later
    assert 0.2 / (next_refresh(100.0, 0.2) - 100.0) <= STATS_SHARE
