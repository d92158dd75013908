"""``GET /mlops/profiles``: the panel's data profiles with drift against the previous session, real server."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from tornado.httpclient import HTTPClientError

from jupyter_mlops.journal import FileRecord, Journal
from jupyter_mlops.monitor.profile import profile_frame
from tests.support.server import notebook_project


def churn(seed: int, shift: float = 0.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"monthly_charges": rng.normal(65.0, 12.0, 3000) + shift,
                         "contract": rng.choice(["month", "year"], 3000)})


@pytest.fixture
def drifted(jp_root_dir):
    """Two sessions of churn.ipynb, the second on a batch whose monthly charges moved up."""
    notebook_project(jp_root_dir)
    journal = Journal(jp_root_dir / ".mlops" / "journal.sqlite")
    for number, (sid, df) in enumerate([("aaaa00000001", churn(1)), ("bbbb00000002", churn(2, shift=15.0))]):
        journal.start_session(sid, experiment="churn", notebook="churn.ipynb", root=str(jp_root_dir),
                              python="3", ipython="9", options={})
        journal._db.execute("UPDATE sessions SET started_at=? WHERE id=?", (float(number), sid))
        md5 = f"{number + 1}" * 32
        journal.add_session_records(sid, files=[FileRecord("data/churn.csv", "read", 10, 1, md5)])
        journal.save_profile(md5, profile_frame(df))
    journal.add_session_records("bbbb00000002", files=[FileRecord("data/extra.parquet", "read", 10, 1, "9" * 32)])
    journal.close()
    return jp_root_dir


async def test_profiles_of_the_latest_session_carry_drift_flags_against_the_previous(jp_fetch, drifted):
    data = json.loads((await jp_fetch("mlops", "profiles", params={"notebook": "churn.ipynb"})).body)
    assert (data["session"], data["previous"]) == ("bbbb00000002", "aaaa00000001")
    churn_csv, extra = data["inputs"]
    assert (churn_csv["name"], churn_csv["verdict"], churn_csv["rows"], churn_csv["sampled"]) == (
        "data/churn.csv", "drift", 3000, False)
    fields = {f["name"]: f for f in churn_csv["fields"]}
    assert fields["monthly_charges"]["verdict"] == "drift" and fields["monthly_charges"]["psi"] > 0.2
    assert sum(fields["monthly_charges"]["histogram"]) == 3000
    assert fields["contract"]["verdict"] == "ok" and dict(fields["contract"]["top"]).keys() == {"month", "year"}
    assert (extra["name"], extra["verdict"], extra["fields"]) == ("data/extra.parquet", None, [])
    assert "not profiled yet" in extra["note"]


async def test_an_untracked_notebook_has_no_profiles(jp_fetch, jp_root_dir):
    (jp_root_dir / "new.ipynb").write_text("{}")
    data = json.loads((await jp_fetch("mlops", "profiles", params={"notebook": "new.ipynb"})).body)
    assert data == {"session": None, "previous": None, "inputs": []}


async def test_a_notebook_outside_the_root_is_refused_with_a_4xx(jp_fetch, jp_root_dir):
    with pytest.raises(HTTPClientError) as caught:
        await jp_fetch("mlops", "profiles", params={"notebook": "../elsewhere.ipynb"})
    assert 400 <= caught.value.code < 500
    assert json.loads(caught.value.response.body)["message"]
