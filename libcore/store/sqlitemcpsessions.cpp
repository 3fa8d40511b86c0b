// The SQLite backend's MCP session records (store.h, McpSessionRecord; table mcp_sessions of
// migration 002): plain rows, no revision and no history. Writes run on the writer thread inside
// its batch transaction, reads on the reader thread.

#include "sqliteops.h"

#include "store/mcpsessions.h"

namespace sidecar::store::sqlite {

Result<bool> mcpSessionPut(WriteTxn &t, const McpSessionRecord &record)
{
    const double now = nowSeconds();
    TRY(t.db().run("DELETE FROM mcp_sessions WHERE expires_at <= ?", now));
    TRY(t.db().run("INSERT INTO mcp_sessions (id, protocol_version, principal, subscriptions, expires_at) "
                   "VALUES (?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET protocol_version = excluded.protocol_version, "
                   "principal = excluded.principal, subscriptions = excluded.subscriptions, "
                   "expires_at = excluded.expires_at",
                   QString::fromLatin1(record.id), record.protocolVersion, record.principal,
                   encodeSubscriptions(record.subscriptions), record.expiresAt));
    return true;
}

Result<bool> mcpSessionDelete(WriteTxn &t, const QByteArray &id)
{
    const double now = nowSeconds();
    TRY_ASSIGN(live, t.db().scalar(QStringLiteral("SELECT COUNT(*) FROM mcp_sessions WHERE id = ? AND expires_at > ?"),
                                   {bindable(QString::fromLatin1(id)), bindable(now)}));
    TRY(t.db().run("DELETE FROM mcp_sessions WHERE id = ?", QString::fromLatin1(id)));
    return live != 0;
}

Result<std::optional<McpSessionRecord>> mcpSessionGet(Connection &db, const QByteArray &id)
{
    TRY_ASSIGN(st, db.run("SELECT protocol_version, principal, subscriptions, expires_at FROM mcp_sessions "
                          "WHERE id = ? AND expires_at > ?",
                          QString::fromLatin1(id), nowSeconds()));
    if (!st.next())
        return std::optional<McpSessionRecord>();
    McpSessionRecord record;
    record.id = id;
    record.protocolVersion = st.text(0);
    record.principal = st.text(1);
    record.subscriptions = decodeSubscriptions(st.json(2));
    record.expiresAt = st.real(3);
    return std::optional<McpSessionRecord>(std::move(record));
}

} // namespace sidecar::store::sqlite
