-- 002: MCP HTTP sessions, shared by every sidecar on this file so that any of them can serve a
-- session's next request, and kept across restarts. Not state: no revision, no history; a row
-- past expires_at is gone (removed by the next put). subscriptions is a JSON array of the
-- resource URIs the client subscribed to, as it spelled them.
CREATE TABLE mcp_sessions (
    id TEXT NOT NULL PRIMARY KEY,
    protocol_version TEXT NOT NULL,
    principal TEXT NOT NULL DEFAULT '',
    subscriptions TEXT NOT NULL DEFAULT '[]',
    expires_at REAL NOT NULL
) WITHOUT ROWID;
CREATE INDEX mcp_sessions_expiry ON mcp_sessions (expires_at);
