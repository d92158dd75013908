"""Every table of the journal file, and how a journal of each older version is brought up to date.

The journal owns this schema (``journal.py`` is its only reader): the kernel's records, the profiles of
``monitor/``, each session's provenance, the MLflow mirror's marks and subscriptions (``sinks/bookkeeping.py``)
and what each ``verify`` concluded (``export/verify_log.py``). Features ask the journal for a connection;
none creates a table of its own.

The mirror's and ``verify``'s tables (``FEATURE_TABLES``) are not versioned: earlier releases created them,
with these very statements, the first time the feature ran, so a journal may hold them or not at any
version. The journal adds the ones missing when it opens the file, as it adds indexes, and an earlier
jupyter-mlops sharing the project (another environment's kernel) still reads the file as before.
"""

from __future__ import annotations

SCHEMA_VERSION = 4

# The profiles of tabular data (monitor/): one per content (md5) however many sessions read it, the frames a
# session profiled with --profile, and why a file read could not be profiled (it changed since).
PROFILES = (
    """CREATE TABLE IF NOT EXISTS profiles (
    md5 TEXT PRIMARY KEY,             -- the file's md5 as file_accesses has it; a frame's: of its profile
    profile TEXT,                     -- JSON (monitor/profile.py); NULL when it could not be made
    error TEXT,                       -- why not (not a table this reader understands)
    profiled_at REAL NOT NULL
)""",
    """CREATE TABLE IF NOT EXISTS frame_profiles (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    session_id TEXT NOT NULL REFERENCES sessions(id),
    seq INTEGER,                      -- the cell run that bound it
    name TEXT NOT NULL,
    md5 TEXT NOT NULL REFERENCES profiles(md5)
)""",
    """CREATE TABLE IF NOT EXISTS profile_notes (
    file_id INTEGER PRIMARY KEY REFERENCES file_accesses(id),
    note TEXT NOT NULL                -- why this read was not profiled (the file changed since the cell read it)
)""",
)
# Where each session ran (provenance.py captures it while the tracking cell runs): the git commit, branch and
# dirtiness of the work tree and the environment. Schema 4 made it the journal's; before, the MLflow follower
# kept the same table in the same file for the sessions it mirrored, and those rows are kept as they are.
PROVENANCE = (
    """CREATE TABLE IF NOT EXISTS session_provenance (
    session_id TEXT PRIMARY KEY,
    git_commit TEXT,                  -- NULL with git_note saying why (not a repository, no commit, no git)
    git_branch TEXT,                  -- NULL on a detached HEAD
    git_dirty INTEGER,                -- tracked files differ from HEAD (untracked ones do not count)
    git_remote TEXT,
    git_note TEXT,
    python TEXT NOT NULL,
    packages TEXT NOT NULL,           -- one "name==version" a line, sorted
    packages_hash TEXT NOT NULL,      -- md5 of packages: equal hashes, equal environments
    captured_at REAL NOT NULL
)""",
    "CREATE INDEX IF NOT EXISTS session_provenance_commit ON session_provenance(git_commit)",
)
# The MLflow mirror (sinks/bookkeeping.py): how far each session was sent to each store (the marks, the lease),
# which sessions a kernel asked to mirror, the models logged, the profiles sent (monitor/mlflow_log.py); and
# what each `verify` concluded (export/verify_log.py): the record `register`'s gate asks.
FEATURE_TABLES = {
    "mlflow_sync": """CREATE TABLE IF NOT EXISTS mlflow_sync (
    session_id TEXT NOT NULL,
    tracking_uri TEXT NOT NULL,
    experiment_id TEXT,
    run_id TEXT,
    last_param_id INTEGER NOT NULL DEFAULT 0,
    last_metric_id INTEGER NOT NULL DEFAULT 0,
    last_file_id INTEGER NOT NULL DEFAULT 0,
    last_cell_run_id INTEGER NOT NULL DEFAULT 0,
    metric_steps TEXT NOT NULL DEFAULT '{}',   -- JSON: the last step sent per metric name
    params_sent TEXT NOT NULL DEFAULT '{}',    -- JSON: the value MLflow holds per param (immutable there)
    provenance_sent INTEGER NOT NULL DEFAULT 0,
    notebook_stamp TEXT,                       -- size:mtime_ns of the notebook last uploaded
    finished INTEGER NOT NULL DEFAULT 0,       -- run terminated with everything sent
    lease_owner TEXT,
    lease_until REAL,
    updated_at REAL,
    PRIMARY KEY (session_id, tracking_uri)
)""",
    "mlflow_follow": """CREATE TABLE IF NOT EXISTS mlflow_follow (
    session_id TEXT NOT NULL,
    tracking_uri TEXT NOT NULL,
    python TEXT NOT NULL,                      -- the kernel's interpreter: its follower runs the same one
    closed INTEGER NOT NULL DEFAULT 0,         -- the kernel wrote its last record: one more pass, then done
    PRIMARY KEY (session_id, tracking_uri)
)""",
    "mlflow_models": """CREATE TABLE IF NOT EXISTS mlflow_models (
    session_id TEXT NOT NULL,
    tracking_uri TEXT NOT NULL,
    path TEXT NOT NULL,                        -- the model file or folder a cell wrote, root-relative
    md5 TEXT NOT NULL,                         -- the version of it that was logged (or judged)
    model_id TEXT,                             -- the MLflow LoggedModel, NULL when it could not be one
    flavor TEXT,
    note TEXT,                                 -- what is missing, in one line (no signature, not a model)
    logged_at REAL NOT NULL,
    PRIMARY KEY (session_id, tracking_uri, path, md5)
)""",
    "mlflow_profiles_sent": """CREATE TABLE IF NOT EXISTS mlflow_profiles_sent (
    session_id TEXT NOT NULL, uri TEXT NOT NULL, artifact TEXT NOT NULL, md5 TEXT NOT NULL,
    PRIMARY KEY (session_id, uri, artifact, md5))""",
    "verify_results": """CREATE TABLE IF NOT EXISTS verify_results (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    session_id TEXT NOT NULL,      -- the tracked session the re-run was compared with
    notebook TEXT NOT NULL,
    git_commit TEXT,               -- HEAD of the tree verify ran in; NULL outside git
    git_dirty INTEGER,
    ok INTEGER NOT NULL,
    expect TEXT NOT NULL,          -- JSON list of the --expect gates, as written
    message TEXT NOT NULL,
    verified_at REAL NOT NULL
)""",
}
# How a journal of each older version is brought to the next (statements run in one transaction):
# journals are kept across upgrades.
MIGRATIONS: dict[int, tuple[str, ...]] = {
    1: ("ALTER TABLE cell_runs ADD COLUMN rebound TEXT",),
    2: PROFILES,
    3: PROVENANCE,
}

# The journal is append-only (no row of these tables is ever deleted), so a plain INTEGER PRIMARY KEY
# never reuses an id and readers may page by id. AUTOINCREMENT would promise the same at the price of a
# third page written per cell (its sqlite_sequence row): journals created before keep it, harmlessly.
CORE = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS sessions (
    id TEXT PRIMARY KEY,
    experiment TEXT,
    notebook TEXT,
    root TEXT NOT NULL,
    started_at REAL NOT NULL,
    ended_at REAL,
    state TEXT NOT NULL,              -- running | ended | abandoned
    host TEXT NOT NULL,
    pid INTEGER NOT NULL,
    python TEXT,
    ipython TEXT,
    options TEXT NOT NULL             -- JSON of the %mlops_track options
);
CREATE TABLE IF NOT EXISTS cell_runs (
    id INTEGER PRIMARY KEY,
    session_id TEXT NOT NULL REFERENCES sessions(id),
    seq INTEGER NOT NULL,
    cell_id TEXT NOT NULL,
    execution_count INTEGER,
    code TEXT NOT NULL,
    code_hash TEXT NOT NULL,
    started_at REAL NOT NULL,
    duration REAL NOT NULL,
    status TEXT NOT NULL,             -- ok | error | refused
    error TEXT,
    reproducible INTEGER,             -- the verdict after this cell; NULL when not assessed
    issues TEXT,                      -- JSON list of the issues of that verdict
    rebound TEXT                      -- JSON list of the names the run bound anew (the detector's runtime facts)
);
CREATE INDEX IF NOT EXISTS cell_runs_session ON cell_runs(session_id, seq);
CREATE TABLE IF NOT EXISTS file_accesses (
    id INTEGER PRIMARY KEY,
    session_id TEXT NOT NULL REFERENCES sessions(id),
    cell_run_id INTEGER REFERENCES cell_runs(id),
    path TEXT NOT NULL,               -- relative to the project root, POSIX separators
    mode TEXT NOT NULL,               -- read | write | declared
    size INTEGER,
    mtime_ns INTEGER,
    md5 TEXT,
    nfiles INTEGER,
    pending INTEGER NOT NULL DEFAULT 0,
    error TEXT
);
CREATE INDEX IF NOT EXISTS file_accesses_session ON file_accesses(session_id);
CREATE TABLE IF NOT EXISTS params (
    id INTEGER PRIMARY KEY,
    session_id TEXT NOT NULL REFERENCES sessions(id),
    cell_run_id INTEGER REFERENCES cell_runs(id),
    name TEXT NOT NULL,
    value TEXT NOT NULL,              -- JSON
    source TEXT NOT NULL              -- parameters | watched | api
);
CREATE TABLE IF NOT EXISTS metrics (
    id INTEGER PRIMARY KEY,
    session_id TEXT NOT NULL REFERENCES sessions(id),
    cell_run_id INTEGER REFERENCES cell_runs(id),
    name TEXT NOT NULL,
    value REAL,                       -- NULL is NaN: SQLite has no NaN and stores it as NULL; ±inf are kept
    step INTEGER,
    logged_at REAL NOT NULL,
    source TEXT NOT NULL,             -- api | watched
    reproducible INTEGER              -- was the state reproducible when it was logged
);
"""
# Indexes every reader's per-session query needs. Added to existing journals when a kernel opens them
# (no schema version: an index changes no row, and an older jupyter-mlops reads the file as before).
INDEXES = {
    "params_session": "CREATE INDEX IF NOT EXISTS params_session ON params(session_id)",
    "metrics_session": "CREATE INDEX IF NOT EXISTS metrics_session ON metrics(session_id)",
    "sessions_notebook": "CREATE INDEX IF NOT EXISTS sessions_notebook ON sessions(notebook, started_at)",
}
CREATE = CORE + ";".join(PROFILES + PROVENANCE + tuple(FEATURE_TABLES.values())) + ";"
"""A new journal, as one script (its comments hold semicolons: it is not split into statements)."""

