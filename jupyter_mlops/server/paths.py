"""Which files a request may name: only notebooks inside the Jupyter server root, and only their journal.

Every path in a request is untrusted. It must be text (``inputs.text``), relative, stay below the root
after every ``..`` and symlink is resolved (``project_files.resolve``, the rule every file we touch
follows), and name a ``.ipynb``; the project and journal it leads to must be below the root as well. The
files an action then reads and writes in the project are held to the same rule by ``project_files``, so
the server never reads or writes anywhere the user did not open to Jupyter.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from jupyter_mlops import inputs, project_files
from jupyter_mlops.errors import Conflict, MlopsError
from jupyter_mlops.project import find_root, journal_path

MAX_PATH_CHARS = 1024


class RequestError(MlopsError):
    """A request the HTTP layer refuses for its own reasons (its shape or size, a path out of the root, a
    job that is not there): ``status`` is the HTTP status, with no meaning outside the server, and the
    message tells the user what to do. Answered like every other MlopsError (``handlers.refusal``)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class NotebookRef:
    """A notebook the request may use, with the project (git root) whose journal records it."""

    path: Path          # absolute, symlinks resolved
    project: Path       # the folder holding .mlops/, inside the server root
    key: str            # the notebook as the journal names it: relative to the project, POSIX

    @property
    def journal(self) -> Path:
        return journal_path(self.project)


def notebook_ref(root: Path, requested: object) -> NotebookRef:
    """Validate ``requested`` (a root-relative API path such as ``examples/churn.ipynb``)."""
    if not isinstance(requested, str) or not requested:
        raise RequestError(400, "give the notebook as a path relative to the Jupyter root, e.g. 'churn.ipynb'")
    inputs.text(requested, "the notebook path", max_chars=MAX_PATH_CHARS)  # NUL, a lone surrogate: 400
    if "\\" in requested:
        # a backslash is a separator to Windows and to many tools: refused rather than guessed at
        raise RequestError(400, "the notebook path is malformed (a backslash); use '/' between folders")
    pure = PurePosixPath(requested)
    if pure.is_absolute() or requested.startswith(("\\", "~")) or ":" in pure.parts[0]:
        raise RequestError(403, f"{requested}: absolute paths are refused; use a path relative to the Jupyter root")
    if ".." in pure.parts:
        raise RequestError(403, f"{requested}: '..' is refused; the notebook must be inside the Jupyter root")
    if pure.suffix != ".ipynb":
        raise RequestError(400, f"{requested}: expected a .ipynb notebook")
    real_root = root.resolve()
    try:
        path = project_files.resolve(real_root, pure)
    except Conflict as exc:
        raise RequestError(403, f"{requested}: {exc.message}") from None
    project = _project(real_root, path.parent)
    return NotebookRef(path=path, project=project, key=path.relative_to(project).as_posix())


def _project(root: Path, folder: Path) -> Path:
    """The notebook's project as the kernel finds it (its git root, else its folder), inside the root.

    Only the existence of ``.git`` is looked at above the root, to say why a history cannot be shown.
    """
    project = find_root(folder)
    if not project.is_relative_to(root):
        raise RequestError(
            403, "this notebook's project (its git root) is outside the Jupyter root, and so is its journal; "
            "start jupyter lab at the project root to see its history")
    try:
        project_files.resolve(root, journal_path(project))
    except Conflict as exc:
        raise RequestError(403, f"the journal cannot be used: {exc.message}") from None
    return project
