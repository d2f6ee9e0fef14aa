"""The telemetry database's schema: every table, its version, the migrations, and the questions
asked of a database's schema ("which columns has this table", "does it exist", "is this a
telemetry database at all": :func:`not_ours`).

No other module writes DDL. ``PRAGMA user_version`` holds :data:`SCHEMA_VERSION`. :func:`migrate`
brings a database of any earlier version to the current one; it runs inside the caller's
transaction (:func:`dev_system.store.db.connect` opens the database and holds the write lock), and
every step is idempotent, so a migration interrupted half-way is completed by the next one.

``telemetry_events`` keeps the documented columns, in their order and with their types, so that
existing queries keep working; columns are only ever added after them (:data:`ADDED_COLUMNS`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import sqlite3

# If you change the schema: add a step here, increment SCHEMA_VERSION and say below what it changed.

SCHEMA_VERSION = 4

# Schema versions:
# 0: The documented ``telemetry_events`` columns only (``id`` ... ``created_at``); no version set.
# 1: ``telemetry_events`` gains ``event_id`` (unique), ``span_id``, ``parent_span_id``, ``run_id``
#    and ``model``; tables ``runs``, ``test_results`` and ``dropped_events``; indexes on
#    ``event_id``, ``timestamp``, ``trace_id`` and ``run_id``.
# 2: One index on ``(run_id, trace_id)`` replaces those on ``trace_id`` and on ``run_id``. A pytest
#    run's events have the node ids of the same tests as trace ids in every run, so an index on
#    ``trace_id`` alone took each run's entries at scattered places (the pages a run wrote grew
#    with the database's history); with the run first, a run's entries are adjacent. A trace is
#    found through it run by run (:func:`dev_system.store.queries.where_clause`).
# 3: Table ``run_parts`` (the job sessions of a run split across CI jobs, kept by ``combine``).
# 4: Table ``scores`` (quality scores a test or traced code records, ``score_id`` unique so that
#    merged databases count each once; indexed by run and test, and by time for the reports of a
#    period) and table ``meta`` (settings owned by the database itself,
#    such as the random key that salts the digests of redacted node ids).

EVENTS_TABLE = """
CREATE TABLE IF NOT EXISTS telemetry_events (
    id INTEGER PRIMARY KEY,
    timestamp REAL NOT NULL,
    event_type TEXT NOT NULL,
    agent_name TEXT NOT NULL,
    function_name TEXT NOT NULL,
    input_tokens INTEGER DEFAULT 0,
    output_tokens INTEGER DEFAULT 0,
    latency_ms REAL NOT NULL,
    cost_usd REAL DEFAULT 0.0,
    success BOOLEAN NOT NULL,
    error_type TEXT,
    trace_id TEXT,
    metadata TEXT,
    created_at DATETIME DEFAULT CURRENT_TIMESTAMP
)"""

#: Columns added after the documented ones, with their SQL types (order matters).
ADDED_COLUMNS = (
    ("event_id", "TEXT"),  # unique: merged databases never count an event twice
    ("span_id", "TEXT"),
    ("parent_span_id", "TEXT"),
    ("run_id", "TEXT"),  # the pytest run that recorded the event
    ("model", "TEXT"),
)

#: The columns of a run, shared by ``runs`` (one row per run) and ``run_parts`` (one row per job
#: session of a run).
_RUN_COLUMNS = """
    started_at REAL NOT NULL,
    ended_at REAL,
    status TEXT NOT NULL DEFAULT 'running',
    command TEXT,
    git_commit TEXT,
    git_branch TEXT,
    host TEXT,
    passed INTEGER,
    failed INTEGER,
    skipped INTEGER,
    errors INTEGER,
    exit_status INTEGER,
    metadata TEXT"""

#: The other tables, in the order they are created.
TABLES = (
    # A row per pytest run recorded with --telemetry.
    f"""CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY,{_RUN_COLUMNS}
)""",
    # A row per test of a run: its outcome and the figures of the events it recorded.
    """CREATE TABLE IF NOT EXISTS test_results (
    run_id TEXT NOT NULL,
    nodeid TEXT NOT NULL,
    outcome TEXT NOT NULL,
    duration_s REAL,
    events INTEGER NOT NULL DEFAULT 0,
    input_tokens INTEGER NOT NULL DEFAULT 0,
    output_tokens INTEGER NOT NULL DEFAULT 0,
    cost_usd REAL NOT NULL DEFAULT 0.0,
    unknown_cost INTEGER NOT NULL DEFAULT 0,
    max_latency_ms REAL,
    PRIMARY KEY (run_id, nodeid)
)""",
    # A row per run of events dropped for one reason (a full buffer, a database that failed).
    """CREATE TABLE IF NOT EXISTS dropped_events (
    id INTEGER PRIMARY KEY,
    timestamp REAL NOT NULL,
    run_id TEXT,
    count INTEGER NOT NULL,
    reason TEXT NOT NULL
)""",
    # A row per job session of a run, in a combined database (part_id: a hash of what identifies
    # the session); the run's ``runs`` row is built from its parts.
    f"""CREATE TABLE IF NOT EXISTS run_parts (
    run_id TEXT NOT NULL,
    part_id TEXT NOT NULL,{_RUN_COLUMNS},
    PRIMARY KEY (run_id, part_id)
)""",
    # A row per score recorded (``telemetry.score(...)`` in a test, ``score(...)`` in traced code).
    """CREATE TABLE IF NOT EXISTS scores (
    id INTEGER PRIMARY KEY,
    score_id TEXT NOT NULL,
    timestamp REAL NOT NULL,
    run_id TEXT,
    nodeid TEXT,
    trace_id TEXT,
    name TEXT NOT NULL,
    value REAL NOT NULL,
    comment TEXT
)""",
    # Key/value settings that belong to this database (never to a run or an event).
    """CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
)""",
)

INDEXES = (
    "CREATE UNIQUE INDEX IF NOT EXISTS ix_events_event_id ON telemetry_events(event_id)",
    "CREATE INDEX IF NOT EXISTS ix_events_timestamp ON telemetry_events(timestamp)",
    "CREATE INDEX IF NOT EXISTS ix_events_run_trace ON telemetry_events(run_id, trace_id)",
    "CREATE UNIQUE INDEX IF NOT EXISTS ix_scores_score_id ON scores(score_id)",
    "CREATE INDEX IF NOT EXISTS ix_scores_run_node ON scores(run_id, nodeid)",
    "CREATE INDEX IF NOT EXISTS ix_scores_timestamp ON scores(timestamp)",
)
#: Indexes of earlier versions, dropped when a database is migrated.
DROPPED_INDEXES = ("ix_events_trace", "ix_events_run")


def schema_version(conn: sqlite3.Connection, *, schema: str | None = None) -> int:
    """The schema version the database (``schema``: an attached one) says it has (0 for a
    database this project never wrote)."""
    return conn.execute("PRAGMA user_version" if schema is None else f"PRAGMA {schema}.user_version").fetchone()[0]


def _master(schema: str | None) -> str:
    return "sqlite_master" if schema is None else f"{schema}.sqlite_master"


def table_columns(conn: sqlite3.Connection, table: str = "telemetry_events", *, schema: str | None = None) -> set[str]:
    """The names of the columns ``table`` has (empty when there is no such table, or when that
    name is a view: only tables are read); ``schema`` names an attached database (``None``: the
    main one)."""
    if not has_table(conn, table, schema=schema):
        return set()
    pragma = "PRAGMA table_info" if schema is None else f"PRAGMA {schema}.table_info"
    return {row[1] for row in conn.execute(f"{pragma}({table})")}


def has_table(conn: sqlite3.Connection, table: str, *, schema: str | None = None) -> bool:
    """True when the database (``schema``: an attached one) has a table named ``table`` (a view
    of that name does not count: a database is untrusted input, and a view can run for ever)."""
    row = conn.execute(f"SELECT 1 FROM {_master(schema)} WHERE type = 'table' AND name = ? COLLATE NOCASE",
                       (table,)).fetchone()
    return row is not None


#: The names this project's tables have (:data:`EVENTS_TABLE` and :data:`TABLES`).
OUR_TABLES = ("telemetry_events", "runs", "test_results", "dropped_events", "run_parts", "scores", "meta")
#: The columns a table must have to be a ``telemetry_events`` table: ``id`` and the documented ones.
REQUIRED_EVENT_COLUMNS = ("id", "timestamp", "event_type", "agent_name", "function_name", "input_tokens",
                          "output_tokens", "latency_ms", "cost_usd", "success", "error_type", "trace_id", "metadata")


def not_ours(conn: sqlite3.Connection, *, schema: str | None = None) -> str | None:
    """Why the database is not a telemetry database, in a few words; ``None`` when it is one.

    A *telemetry database* is either empty (no table, view, index or trigger at all: a new file)
    or one whose ``telemetry_events`` is a table with ``id`` and the documented columns
    (:data:`REQUIRED_EVENT_COLUMNS`; a database of a newer schema version only needs the table),
    and where each other name of :data:`OUR_TABLES` is a table if it exists (a plain table: not a
    view, not a virtual table). Anything else is
    someone else's database (an application's, a view where a table belongs), which this project
    neither writes nor reads. Raises :class:`sqlite3.DatabaseError` for a file that is not SQLite."""
    objects = conn.execute(
        f"SELECT CASE WHEN type = 'table' AND sql LIKE 'CREATE VIRTUAL%' THEN 'virtual table' ELSE type END, name"
        f" FROM {_master(schema)}").fetchall()
    if not objects:
        return None
    kinds = {str(name).lower(): kind for kind, name in objects if str(name).lower() in OUR_TABLES}
    if kinds.get("telemetry_events") is None:
        tables = sorted(str(name) for kind, name in objects if kind == "table" and not str(name).startswith("sqlite_"))
        shown = ", ".join(tables[:3]) + (", ..." if len(tables) > 3 else "")
        return f"it has no telemetry_events table{f' (its tables: {shown})' if tables else ''}"
    for name in OUR_TABLES:
        kind = kinds.get(name, "table")
        if kind != "table":
            return f"its {name} is a {kind}, not a table"
    if schema_version(conn, schema=schema) > SCHEMA_VERSION:
        return None
    present = table_columns(conn, schema=schema)
    missing = [name for name in REQUIRED_EVENT_COLUMNS if name not in present]
    if missing:
        return f"its telemetry_events table lacks {', '.join(missing[:3])}{', ...' if len(missing) > 3 else ''}"
    return None


def migrate(conn: sqlite3.Connection) -> None:
    """Create what is missing and bring the database to :data:`SCHEMA_VERSION`, keeping its rows.

    Every step is idempotent and the caller holds the write lock (``BEGIN IMMEDIATE``), so this
    works from any earlier version, including an empty file."""
    conn.execute(EVENTS_TABLE)
    present = table_columns(conn)
    for name, sql_type in ADDED_COLUMNS:
        if name not in present:
            conn.execute(f"ALTER TABLE telemetry_events ADD COLUMN {name} {sql_type}")
    for name in DROPPED_INDEXES:
        conn.execute(f"DROP INDEX IF EXISTS {name}")
    for statement in TABLES + INDEXES:
        conn.execute(statement)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
