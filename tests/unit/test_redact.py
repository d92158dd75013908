"""Which names and shapes are secrets, and how code and text are masked (core/redact.py, pure)."""

from __future__ import annotations

import ast

import pytest

from jupyter_mlops.check import replay
from jupyter_mlops.core.notebook import Cell
from jupyter_mlops.core.redact import (
    REDACTED,
    NotebookCode,
    Redactor,
    code_digest,
    environment_variable,
    looks_secret,
    masked_notebook,
)
from jupyter_mlops.export.nbgen import _secrets_from_environment
from jupyter_mlops.session_diff import diff_sessions

R = repr(REDACTED)


@pytest.mark.parametrize("name", [
    "api_token", "apiToken", "API_TOKEN", "hf_token", "auth_token", "password", "DB_PASSWORD", "dbPassword2",
    "passwd", "passphrase", "pwd", "db_pwd", "db_pass", "secret", "client_secret", "credentials", "creds",
    "bearer", "bearer_value", "authorization", "session_cookie", "dsn", "pg_dsn", "api_key", "APIKey", "apikey",
    "aws_secret_access_key", "private_key_path", "connection_string", "conn_str", "key", "sort_key", "basic_auth",
])
def test_secret_names(name):
    assert looks_secret(name)


@pytest.mark.parametrize("name", [
    "lr", "max_tokens", "token_count", "n_tokens", "tokenizer", "monkey", "keyboard_layout", "keys", "passenger",
    "compass", "bypass_cache", "n_estimators", "auth_method", "author", "data_path", "",
])
def test_ordinary_names(name):
    assert not looks_secret(name)


def test_names_the_user_adds_are_secrets():
    assert not looks_secret("salt") and looks_secret("salt", ["salt"]) and Redactor(["salt"]).is_secret("salt")


@pytest.mark.parametrize(("code", "masked"), [
    ('api_token = "abc123xyz"', f"api_token = {R}"),
    ("# Parameters\napi_token = 'injected-1'\nlr = 0.1\n", f"# Parameters\napi_token = {R}\nlr = 0.1\n"),
    ('api_key: str = "zzzz"  # the key', f"api_key: str = {R}  # the key"),
    ("password = 123456", f"password = {R}"),
    ('connect(host="db", password="pw12345")', f'connect(host="db", password={R})'),
    ('cfg = {"user": "bob", "password": "pw12345"}', f'cfg = {{"user": "bob", "password": {R}}}'),
    ('os.environ["OPENAI_API_KEY"] = "sk-abcdef"', f'os.environ["OPENAI_API_KEY"] = {R}'),
    ('if (token := "tok-99999"):\n    pass', f"if (token := {R}):\n    pass"),
    ('engine = create_engine("postgresql://bob:hunter2@db:5432/x")',
     f'engine = create_engine("postgresql://bob:{REDACTED}@db:5432/x")'),
    ('remote = "https://user:ghp_abcdef@github.com/o/r.git"', f'remote = "https://user:{REDACTED}@github.com/o/r.git"'),
    ('conn = "Server=x;Uid=bob;Pwd=s3cr3t;"', f'conn = "Server=x;Uid=bob;Pwd={REDACTED};"'),
    ('h = "Bearer abcdefghijk123"', f'h = "Bearer {REDACTED}"'),
    ("print('see https://u:pw12@host')  # https://v:pw34@host", f"print('see https://u:{REDACTED}@host')  "
                                                                  f"# https://v:{REDACTED}@host"),
    ('%time token = "abcd1234"', f"%time token = {R}"),
])
def test_code_is_masked_where_a_secret_is_written(code, masked):
    assert Redactor().code(code) == masked


@pytest.mark.parametrize("code", [
    "x = 1", "max_tokens = 512", "token_count = 3", "sorted(d, key=len)", "if password == other: pass",
    'url = "https://example.com/a:b"', "print('no secrets here')", "df = pd.read_csv('data.csv')",
])
def test_code_without_a_secret_is_the_same_object(code):
    assert Redactor().code(code) is code


def test_masked_code_keeps_its_structure():
    code = ('token = """multi\nline"""\nf(password=f"{x}abcd")\ncfg = {"api_key": b"bytes"}\n'
            'url = "postgresql://bob:pw@h/db"\n')
    masked = Redactor().code(code)
    assert "multi" not in masked and "bytes" not in masked and ":pw@" not in masked
    ast.parse(masked)  # still Python: the detector reads masked code the same way


def test_a_secret_seen_once_is_masked_wherever_it_shows_up_again():
    redactor = Redactor()
    redactor.code('db_password = "hunter2-literal"')
    redactor.learn("papermill-injected-9")
    later = 'same = "hunter2-literal" == db_password\nclient("papermill-injected-9")'
    assert redactor.code(later) == f'same = "{REDACTED}" == db_password\nclient("{REDACTED}")'
    assert redactor.text("KeyError: 'papermill-injected-9'") == f"KeyError: '{REDACTED}'"
    redactor.learn("abc")  # too short to mask by value: "abc" is in too much code
    assert redactor.code("abcdef = 1") == "abcdef = 1"


def test_text_is_masked_by_shape():
    text = "OperationalError: postgresql://bob:pw-9@db/x; password=hunter2&x=1; Authorization: Bearer abcdefgh12"
    assert Redactor().text(text) == (f"OperationalError: postgresql://bob:{REDACTED}@db/x; password={REDACTED}&x=1; "
                                     f"Authorization: Bearer {REDACTED}")


def test_environment_variables_of_secret_params():
    assert [environment_variable(n) for n in ("api_token", "apiToken", "db-pass", "DSN")] == [
        "API_TOKEN", "API_TOKEN", "DB_PASS", "DSN"]


# --- comparing stored code with the notebook's -----------------------------------------------------------


def run(cell_id: str, code: str, seq: int, redactor: Redactor) -> dict:
    return {"seq": seq, "cell_id": cell_id, "code": redactor.code(code), "code_hash": code_digest(code),
            "status": "ok", "error": None, "rebound": None}


def test_masked_runs_replay_as_their_cells():
    # Given a session whose stored code is masked, and the notebook as saved
    cells = [Cell("p", 'api_token = "tok-12345"\nlr = 0.1', tags=frozenset({"parameters"})),
             Cell("use", "n = len(api_token) * lr")]
    redactor = Redactor()
    session = {"files": [], "cell_runs": [run(c.cell_id, c.source, i, redactor) for i, c in enumerate(cells, 1)]}
    assert REDACTED in session["cell_runs"][0]["code"]
    # Then the replay finds every cell run with its code (a masked literal is no edit)...
    assert replay(session, cells).reproducible
    assert NotebookCode(c.source for c in cells).of(session["cell_runs"][0]) == cells[0].source
    # ...and a cell whose secret was changed since is one
    edited = [Cell("p", 'api_token = "tok-67890"\nlr = 0.1', tags=frozenset({"parameters"})), cells[1]]
    assert not replay(session, edited).reproducible


def test_an_older_journals_code_in_clear_still_matches():
    cells = [Cell("a", "x = 1"), Cell("b", "y = x + 1")]
    session = {"files": [], "cell_runs": [{"seq": i, "cell_id": c.cell_id, "code": c.source, "code_hash": "md5-of-old",
                                           "status": "ok", "error": None, "rebound": None}
                                          for i, c in enumerate(cells, 1)]}
    assert replay(session, cells).reproducible


def test_diff_counts_a_changed_secret_and_not_a_secret_masked_on_one_side_only():
    def detail(sid: str, code: str, stored: str) -> dict:
        runs = [{"cell_id": "c", "code": stored, "code_hash": code_digest(code), "reproducible": True, "issues": []}]
        return {"id": sid, "notebook": "nb.ipynb", "experiment": "e", "started_at": 0.0, "params": [],
                "metrics": [], "files": [], "cell_runs": runs}
    one = detail("a", 'client("tok-11111")', f'client("{REDACTED}")')
    same_unmasked = detail("b", 'client("tok-11111")', 'client("tok-11111")')
    changed = detail("c", 'client("tok-22222")', f'client("{REDACTED}")')
    assert not diff_sessions(one, same_unmasked).cells[0].differs
    assert diff_sessions(one, changed).cells[0].differs


def test_the_mlflow_copy_of_a_notebook_has_its_cells_masked():
    doc = {"metadata": {"k": 1}, "cells": [
        {"cell_type": "code", "id": "p", "source": ['token = "abc12345"\n', "lr = 0.1"], "outputs": []},
        {"cell_type": "markdown", "id": "m", "source": "the DSN is postgresql://u:pw-77@h/db"}]}
    masked = masked_notebook(doc, Redactor())
    assert [c["source"] for c in masked["cells"]] == [f"token = {R}\nlr = 0.1",
                                                      f"the DSN is postgresql://u:{REDACTED}@h/db"]
    assert masked["metadata"] == {"k": 1} and [c["id"] for c in masked["cells"]] == ["p", "m"]


# --- export's parameters cell ----------------------------------------------------------------------------


def test_the_stage_notebooks_parameters_cell_reads_secrets_from_the_environment():
    source = 'lr = 0.1\napi_token = "tok-é-12345"  # keep me\nsalt: str = (\n    "multi"\n)\nepochs = 3\n'
    rewritten = _secrets_from_environment(source, {"api_token": "API_TOKEN", "salt": "SALT"}, ("api_token",))
    assert rewritten == ("import os  # generated: secrets are read from the environment, never written by export\n"
                         "lr = 0.1\napi_token = os.environ['API_TOKEN']  # keep me\n"
                         "salt: str = (\n    os.environ.get('SALT')\n)\nepochs = 3\n")


def test_a_parameters_cell_that_is_not_python_keeps_no_secret():
    source = '%env X=1\napi_token = "tok-12345"\n'
    rewritten = _secrets_from_environment(source, {"api_token": "API_TOKEN"}, ("api_token",))
    assert "tok-12345" not in rewritten and rewritten.endswith("\napi_token = os.environ['API_TOKEN']")
