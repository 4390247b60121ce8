"""The state store's schema: every table of `{home}/state.sqlite`, by the feature that uses it.

Nothing else in lineflow creates a state table. A feature's tables are created the first time a
process opens the feature on a store (`StateStore.ensure`), not when the store opens: reports
read a table's absence as "this feature never ran here" (`lineflow status` on a home without
locks says nothing of locks), and read-only commands open the store without writing to it.
"""

#: Each feature's tables (idempotent SQLite DDL), by feature name.
FEATURES: dict[str, str] = {
    "locks": """
CREATE TABLE IF NOT EXISTS locks (
    key TEXT PRIMARY KEY, pipeline TEXT NOT NULL, stage TEXT NOT NULL, partition TEXT NOT NULL,
    host TEXT NOT NULL, pid INTEGER NOT NULL, run_id TEXT NOT NULL,
    acquired_at REAL NOT NULL, heartbeat_at REAL NOT NULL, expires_at REAL NOT NULL);
""",
    "work": """
CREATE TABLE IF NOT EXISTS work_items (
    kind TEXT NOT NULL, key TEXT NOT NULL, partition TEXT, payload_ref TEXT NOT NULL,
    status TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, last_error TEXT,
    next_attempt_at REAL, claimed_by TEXT, created_at REAL NOT NULL, updated_at REAL NOT NULL,
    result TEXT,
    PRIMARY KEY (kind, key));
CREATE TABLE IF NOT EXISTS dead_letters (
    id INTEGER PRIMARY KEY AUTOINCREMENT, kind TEXT NOT NULL, key TEXT NOT NULL,
    partition TEXT, reason TEXT NOT NULL, permanent INTEGER NOT NULL, attempts INTEGER NOT NULL,
    payload_ref TEXT NOT NULL, payload TEXT, created_at REAL NOT NULL, replayed_at REAL);
CREATE INDEX IF NOT EXISTS dead_letters_open ON dead_letters (replayed_at);
""",
    "backfill": """
CREATE TABLE IF NOT EXISTS backfills (
    id TEXT PRIMARY KEY, created_at TEXT NOT NULL, start_date TEXT NOT NULL,
    end_date TEXT NOT NULL, sources TEXT NOT NULL, snapshot TEXT NOT NULL,
    fallback_snapshots TEXT NOT NULL, reprocess TEXT NOT NULL, sort_order TEXT NOT NULL,
    status TEXT NOT NULL, finished_at TEXT);
CREATE TABLE IF NOT EXISTS backfill_partitions (
    backfill_id TEXT NOT NULL, slate_date TEXT NOT NULL, status TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0, requests INTEGER NOT NULL DEFAULT 0,
    rows INTEGER NOT NULL DEFAULT 0, credits INTEGER NOT NULL DEFAULT 0,
    snapshot_used TEXT, last_error TEXT, note TEXT, updated_at TEXT NOT NULL,
    PRIMARY KEY (backfill_id, slate_date));
-- The process running a backfill (the last to start or resume it): a backfill still marked
-- running whose owner is gone was killed, and `backfill status` says so.
CREATE TABLE IF NOT EXISTS backfill_owners (
    backfill_id TEXT PRIMARY KEY, host TEXT NOT NULL, pid INTEGER NOT NULL,
    started_at TEXT NOT NULL);
""",
    "proxy_health": """
CREATE TABLE IF NOT EXISTS proxy_health (
    pool TEXT NOT NULL,
    proxy TEXT NOT NULL,          -- host:port of the proxy, '-' for direct; no credentials
    host TEXT NOT NULL,           -- target host
    failures INTEGER NOT NULL,    -- consecutive link failures
    opens INTEGER NOT NULL,       -- consecutive opens (the cooldown grows with them)
    opened_at TEXT,
    retry_at TEXT,                -- open until then, half-open after
    requests INTEGER NOT NULL,
    successes INTEGER NOT NULL,
    statuses TEXT NOT NULL,       -- JSON: {"200": 41, "403": 3, "ConnectError": 1}
    latency_ms_total REAL NOT NULL,
    last_status TEXT,
    last_latency_ms REAL,
    last_error TEXT,
    updated_at TEXT,
    PRIMARY KEY (pool, proxy, host)
);
""",
    "quota": """
CREATE TABLE IF NOT EXISTS source_quota (
    source TEXT PRIMARY KEY,
    remaining INTEGER,
    used INTEGER,
    last INTEGER,
    seen_at TEXT NOT NULL
);
""",
    "predictions": """
CREATE TABLE IF NOT EXISTS prediction_batch_state (
    batch_id TEXT PRIMARY KEY, slate_date TEXT NOT NULL, status TEXT NOT NULL,
    owner TEXT NOT NULL, run_id TEXT NOT NULL, started_at TEXT NOT NULL,
    heartbeat_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS prediction_items (
    batch_id TEXT NOT NULL, player_key TEXT NOT NULL, market TEXT NOT NULL,
    status TEXT NOT NULL, reasons TEXT, error TEXT, updated_at TEXT NOT NULL,
    PRIMARY KEY (batch_id, player_key, market));
""",
}
