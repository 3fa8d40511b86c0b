// RedisStore's MCP session records (store.h, McpSessionRecord): resources/redis/mcp_session_*.lua
// over `P mcp_session:<id>` hashes with a native TTL (docs/redis.md). No revision, no history.
//
// Thread: the store's thread; callbacks run there, from the event loop.

#include "store/redis/redisstore.h"

#include "store/mcpsessions.h"
#include "store/redis/redisdecode.h"

namespace sidecar::store {

using redis::RedisReply;

void RedisStore::mcpSessionPut(const McpSessionRecord &record, Callback<bool> done)
{
    run<bool>("mcp_session_put",
              {record.id, record.protocolVersion.toUtf8(), record.principal.toUtf8(),
               encodeSubscriptions(record.subscriptions), QByteArray::number(record.expiresAt, 'f', 6)},
              std::move(done), [](const RedisReply &) -> Result<bool> { return true; });
}

void RedisStore::mcpSessionGet(const QByteArray &id, Callback<std::optional<McpSessionRecord>> done)
{
    run<std::optional<McpSessionRecord>>(
        "mcp_session_get", {id}, std::move(done), [id](const RedisReply &r) -> Result<std::optional<McpSessionRecord>> {
            if (r.isNil())
                return std::optional<McpSessionRecord>();
            if (!redis::isArray(r, 4))
                return tl::unexpected(redis::badReply("mcp_session_get"));
            McpSessionRecord record;
            record.id = id;
            record.protocolVersion = r.at(0).text();
            record.principal = QString::fromUtf8(r.at(1).str);
            record.subscriptions = decodeSubscriptions(r.at(2).str);
            record.expiresAt = r.at(3).toDouble();
            return std::optional<McpSessionRecord>(std::move(record));
        });
}

void RedisStore::mcpSessionDelete(const QByteArray &id, Callback<bool> done)
{
    run<bool>("mcp_session_delete", {id}, std::move(done),
              [](const RedisReply &r) -> Result<bool> { return r.toInt64() != 0; });
}

} // namespace sidecar::store
