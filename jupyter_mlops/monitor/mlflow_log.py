"""Profiles to MLflow: with the dataset input, and as a JSON artifact per input. Runs in the pusher (follower
or ``sync``), never in the kernel.

A data file read is an MLflow dataset (name = path, digest = md5); when its profile is in the journal by the
time the dataset is logged, the whole profile is the dataset's ``profile`` (MLflow shows it with the run's
inputs). The profiler works beside the follower, so a profile may come later than its dataset, and MLflow
keeps a dataset's first ``profile``: every profile is therefore also logged as ``profiles/<input>.json``
on the run, on the first pass that finds it (a frame's as ``profiles/frame-<name>.json``). What was sent
is kept in the journal's ``mlflow_profiles_sent``, so a pass, or ``sync``, sends each once per store.
The follower's last pass of a session waits while the profiler is still making one of its profiles
(``awaiting_profiles``): a notebook that ends right after reading its data still gets them.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from jupyter_mlops.journal import Journal
from jupyter_mlops.project import journal_path

# Stdlib at import: the follower process imports it at start, long before it needs MLflow.

def _session_profiles(home: Path, session_id: str) -> dict[str, list[dict]]:
    """``home``, here and below: the project holding the journal (``Bookkeeping.home``), not a session's root."""
    journal = Journal(journal_path(home), create=False)
    try:
        return journal.session_profiles(session_id)
    finally:
        journal.close()


def dataset_profiles(home: Path, session_id: str) -> dict[str, str]:
    """The profile JSON of each file content the session read and the profiler has profiled, by md5."""
    return {f["md5"]: json.dumps(f["profile"], allow_nan=False)
            for f in _session_profiles(home, session_id)["files"] if f["profile"]}


def awaiting_profiles(home: Path, session_id: str) -> bool:
    """Whether a profile of the session's inputs is still to come: one is missing and a profiler runs."""
    from jupyter_mlops.monitor.drift import missing_profiles
    from jupyter_mlops.monitor.profiler import running

    return bool(missing_profiles(_session_profiles(home, session_id))) and running(home)


def artifact_name(input_name: str) -> str:
    """``profiles/data/churn.csv.json`` for a file, ``profiles/frame-df.json`` for a frame."""
    name = input_name.replace("frame:", "frame-", 1) if input_name.startswith("frame:") else input_name
    return "profiles/" + re.sub(r"[^\w./-]", "_", name).lstrip("./") + ".json"


def send_profiles(client: Any, home: Path, session_id: str, run_id: str, uri: str) -> int:
    """Log each profile of the session not yet sent to this store as a run artifact; returns how many."""
    from jupyter_mlops.monitor.drift import inputs_of

    inputs = inputs_of(_session_profiles(home, session_id))
    journal = Journal(journal_path(home), create=False)
    try:
        with journal.reading() as db:
            sent = {(r[0], r[1]) for r in db.execute(
                "SELECT artifact, md5 FROM mlflow_profiles_sent WHERE session_id=? AND uri=?", (session_id, uri))}
        count = 0
        for name, entry in inputs.items():
            if entry["profile"] is None:
                continue
            artifact = artifact_name(name)
            md5 = entry["md5"]
            if (artifact, md5) in sent:
                continue
            document = {"input": name, "md5": md5, "profile": entry["profile"]}
            client.log_text(run_id, json.dumps(document, indent=1, allow_nan=False), artifact)
            with journal.writing() as db:
                db.execute("INSERT OR IGNORE INTO mlflow_profiles_sent VALUES (?, ?, ?, ?)",
                           (session_id, uri, artifact, md5))
            count += 1
        return count
    finally:
        journal.close()
