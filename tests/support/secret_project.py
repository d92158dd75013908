"""A tracked notebook full of secrets, run by papermill with one more injected: what must never be written
in clear by the journal, the server, the MLflow mirror, export or a certificate.

``secret.ipynb`` tracks itself with the MLflow mirror and ``--secret salt``; its parameters cell assigns
secret-named literals (``api_token``, ``db_password``), a name only ``--secret`` makes secret (``salt``) and a
URL holding a password under an ordinary name (``db_url``); a later cell repeats a secret's value, builds a
connection URL and a bearer header. papermill injects ``-p api_token`` over the literal.
"""

from __future__ import annotations

import sys
from pathlib import Path

from tests.support.hostile import notebook_text
from tests.support.repo import run
from tests.support.wait import followers_done, wait_for

NOTEBOOK = "secret.ipynb"
INJECTED = "tok-injected-0002"
SECRETS = ("tok-literal-0001", INJECTED, "hunter2-literal", "pepper-literal-77", "url-pass-9", "conn-pass-3",
           "bearer-token-12345")
ENVIRONMENT = {"API_TOKEN": "env-token", "DB_PASSWORD": "env-password", "SALT": "env-salt",
               "DB_URL": "postgresql://bob:env-pass@db/x"}
CELLS = [
    ("track", "%load_ext jupyter_mlops\n%mlops_track --secret salt", []),
    ("params", 'lr = 0.1\napi_token = "tok-literal-0001"\ndb_password = "hunter2-literal"\n'
               'salt = "pepper-literal-77"\ndb_url = "postgresql://bob:url-pass-9@db/x"\n', ["parameters"]),
    ("load", "rows = open('data/raw.csv').read()", []),
    ("use", 'conn = "postgresql://alice:conn-pass-3@h/db"\nsame = "hunter2-literal" == db_password\n'
            'headers = {"Authorization": "Bearer bearer-token-12345"}\n'
            "n = len(api_token) + len(salt) + len(db_url) + len(conn)", []),
    ("save", "open('out.txt', 'w').write(rows * 2)", []),
]


def secret_project(repo: Path) -> Path:
    """The notebook and its data in a new git + DVC repository, run once by papermill, once the MLflow
    follower's last pass is over."""
    repo.mkdir(parents=True, exist_ok=True)
    run(repo, "git", "init", "-q")
    run(repo, "dvc", "init", "-q")
    (repo / "data").mkdir()
    (repo / "data" / "raw.csv").write_text("a,b\n1,2\n")
    (repo / NOTEBOOK).write_text(notebook_text(CELLS))
    run(repo, sys.executable, "-m", "papermill", NOTEBOOK, str(repo.parent / "executed.ipynb"), "--cwd", str(repo),
        "-k", "python3", "-p", "api_token", INJECTED)
    wait_for(lambda: followers_done(repo), timeout=180, what="the MLflow follower's last pass")
    return repo


def in_clear(text: str | bytes) -> list[str]:
    """The secrets ``text`` holds in clear."""
    data = text.encode() if isinstance(text, str) else text
    return [s for s in SECRETS if s.encode() in data]
