"""What the journal recorded, read the way tests and benchmarks check it."""

from __future__ import annotations

from pathlib import Path

from jupyter_mlops.journal import Journal


def files_of(project: Path, cell_id: str) -> dict[tuple[str, str], str | None]:
    """{(path, mode): md5} of the latest session's runs of ``cell_id``."""
    j = Journal(project / ".mlops" / "journal.sqlite", create=False)
    try:
        detail = j.session_detail(j.find_session("latest"))
    finally:
        j.close()
    return {(f["path"], f["mode"]): f["md5"] for f in detail["files"] if f["cell_id"] == cell_id}
