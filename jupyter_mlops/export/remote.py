"""Where DVC keeps the data for other machines: the project's default remote, and ``export --push``.

Export only drives DVC: ``--remote URL`` makes URL the project's default remote when it has none (a local
folder works; so does anything ``dvc remote add`` takes: ``s3://``, ``gs://``, ``ssh://``…), and ``--push``
runs ``dvc push``. What DVC refuses (no remote, an unreachable one, a damaged cache) becomes one message
with DVC's reason and the next command to run.
"""

from __future__ import annotations

from pathlib import Path

from jupyter_mlops.errors import BadInput, Conflict
from jupyter_mlops.export.dvccmd import reason, run_dvc

REMOTE_NAME = "storage"
CONFIG = ".dvc/config"  # what ``dvc remote add`` changes, to be committed with the pipeline


def default_remote(root: Path) -> str | None:
    """The project's default remote's name, None without one (or without DVC)."""
    done = run_dvc(root, "remote", "default", touches=())
    name = done.stdout.strip()
    return name if done.returncode == 0 and name and "No default remote" not in name else None


def set_default_remote(root: Path, url: str) -> str:
    """Make ``url`` the default remote unless the project has one; the line that says what happened."""
    current = default_remote(root)
    if current is not None:
        return (f"DVC's default remote stays {current!r} (`dvc remote list` shows it); "
                f"`dvc remote modify {current} url {url}` would point it at {url}")
    if "://" not in url:
        folder = Path(url).expanduser()
        folder = folder if folder.is_absolute() else (Path.cwd() / folder)
        folder.mkdir(parents=True, exist_ok=True)
        url = str(folder.resolve())
    done = run_dvc(root, "remote", "add", "--default", REMOTE_NAME, url, touches=())
    if done.returncode != 0:
        raise BadInput(f"DVC did not take the remote {url}: {reason(done)}",
                       hint=f"check the URL, then `dvc remote add --default {REMOTE_NAME} URL`")
    return (f"DVC remote {REMOTE_NAME!r} → {url} is the project's default ({CONFIG}); for S3, GCS or SSH "
            f"instead: `dvc remote modify {REMOTE_NAME} url s3://bucket/path` (any remote DVC supports)")


def push(root: Path) -> str:
    """``dvc push``: the data and the outputs in DVC's cache go to the default remote."""
    remote = default_remote(root)
    if remote is None:
        raise BadInput("nothing to push to: the project has no default DVC remote",
                       hint="pass --remote DIR_OR_URL (a local folder works), or `dvc remote add --default NAME URL`",
                       panel_hint="set a remote with `jupyter mlops export --remote DIR_OR_URL` or "
                                  "`dvc remote add --default NAME URL`")
    done = run_dvc(root, "push")
    if done.returncode != 0:
        raise Conflict(f"dvc push to {remote!r} failed: {reason(done)}",
                       hint="check the remote (`dvc remote list`, its credentials, `dvc status -c`), then `dvc push`")
    pushed = next((line.strip() for line in done.stdout.splitlines() if "pushed" in line or "up to date" in line),
                  "pushed")
    return f"dvc push to {remote!r}: {pushed}"
