-- 001: the schema of mcp-state-sidecar's SQLite backend.
--
-- Applied in one transaction by SqliteStore::open() (libcore/store/sqlitemigration.cpp), which
-- then sets PRAGMA user_version = 1. Later changes go into new files (002_*.sql, ...): never edit
-- an applied migration. Text columns hold UTF-8; keys and ids compare with the BINARY collation,
-- which is UTF-8 byte order, so prefix listing is an index range (key >= p AND key < succ(p)).
-- Times are Unix epoch seconds (REAL, sub-second). JSON values are stored as the compact text
-- the client sent, byte for byte.

-- Store-wide counters. 'revision' is the last revision handed out (strictly increasing, never
-- reset); 'history_floor' the highest revision dropped from history (by retention or reset), so
-- that a change feed from an older revision knows it missed something; 'history_count' and
-- 'history_bytes' track retention without scanning.
CREATE TABLE meta (
    name TEXT NOT NULL PRIMARY KEY,
    value INTEGER NOT NULL
) WITHOUT ROWID;

INSERT INTO meta (name, value) VALUES
    ('revision', 0), ('history_floor', 0), ('history_count', 0), ('history_bytes', 0);

-- Keys. version = revision of the key's last write. An expired row is invisible to every read
-- (each read filters on expires_at) until the writer's sweep removes it with an 'expire' entry.
CREATE TABLE kv (
    key TEXT NOT NULL PRIMARY KEY,
    value TEXT NOT NULL,
    version INTEGER NOT NULL,
    expires_at REAL,
    updated_at REAL NOT NULL,
    agent_id TEXT
);
-- Covers state_list (range on key, filter on expires_at) without touching the rows.
CREATE INDEX kv_list ON kv (key, expires_at);
-- The sweep: expired keys, oldest deadline first.
CREATE INDEX kv_expiry ON kv (expires_at) WHERE expires_at IS NOT NULL;

-- Workflow runs. seq orders runs by creation (lists are newest first, claim_next oldest first).
-- A claim is a lease on the run: agent_id holds it while claim_expires_at > now; fence is the
-- revision of the write that granted it, attempt counts grants, claim_ttl is the claim's own
-- duration (heartbeats and checkpoints extend by it).
CREATE TABLE workflows (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    status TEXT NOT NULL,
    agent_id TEXT,
    last_step INTEGER NOT NULL DEFAULT 0,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    input TEXT,
    result TEXT,
    idempotency_key TEXT UNIQUE,
    max_attempts INTEGER,
    attempt INTEGER NOT NULL DEFAULT 0,
    fence INTEGER,
    claim_expires_at REAL,
    claim_ttl REAL
);
CREATE INDEX workflows_status ON workflows (status, seq);
CREATE INDEX workflows_name ON workflows (name, seq);
-- Runs that may be claimable (status not finished), oldest first: workflow_claim_next.
CREATE INDEX workflows_open ON workflows (seq) WHERE status IN ('created', 'claimed', 'running');

-- Tags of a run, in the order sent (pos).
CREATE TABLE run_tags (
    seq INTEGER NOT NULL,
    tag TEXT NOT NULL,
    value TEXT NOT NULL,
    pos INTEGER NOT NULL,
    PRIMARY KEY (seq, tag)
) WITHOUT ROWID;
CREATE INDEX run_tags_match ON run_tags (tag, value, seq);

-- Checkpoints: one output per step; rewriting a step replaces it.
CREATE TABLE step_outputs (
    seq INTEGER NOT NULL,
    step INTEGER NOT NULL,
    output TEXT NOT NULL,
    written_at REAL NOT NULL,
    agent_id TEXT,
    fence INTEGER,
    PRIMARY KEY (seq, step)
);

-- Leases: exclusive per resource while expires_at > now; fence = revision of the grant.
CREATE TABLE leases (
    resource_id TEXT NOT NULL PRIMARY KEY,
    holder TEXT NOT NULL,
    expires_at REAL NOT NULL,
    fence INTEGER NOT NULL,
    granted_at REAL NOT NULL
);
CREATE INDEX leases_list ON leases (resource_id, expires_at);
CREATE INDEX leases_expiry ON leases (expires_at);

-- Sessions: saved_at is the first save, updated_at the last.
CREATE TABLE sessions (
    session_id TEXT NOT NULL PRIMARY KEY,
    context TEXT NOT NULL,
    saved_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    agent_id TEXT
);

-- One entry per mutation, written in the mutation's transaction. size = bytes of new_value and
-- previous_value, for SIDECAR_HISTORY_MAX_BYTES. Retention drops the lowest ids first (id order
-- is revision order).
CREATE TABLE history (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    revision INTEGER NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    op TEXT NOT NULL,
    key TEXT NOT NULL,
    new_value TEXT,
    previous_value TEXT,
    agent_id TEXT,
    principal TEXT,
    written_at REAL NOT NULL,
    size INTEGER NOT NULL DEFAULT 0
);
-- history_log / changes by exact key, by key prefix (range), and by kind, in revision order.
CREATE INDEX history_key ON history (key, revision);
CREATE INDEX history_kind ON history (kind, revision);
