// Group 4, second half, and group 5: history_log, sidecar_health, sidecar_reset.

#include "toolsupport.h"

namespace sidecar::tools {

namespace {

#define KIND_SCHEMA                                                                                             \
    "{\"type\":\"string\",\"description\":\"Only entries of this kind: kv, workflow, lease, session or store.\"}"

constexpr const char kHistoryInput[] =
    "{\"type\":\"object\",\"additionalProperties\":false,\"properties\":{"
    "\"key\":{\"type\":\"string\",\"description\":\"Only entries for this key, run id, resource id or session id.\"},"
    "\"prefix\":" SIDECAR_PREFIX_SCHEMA("entries whose key is") ","
    "\"kind\":" KIND_SCHEMA ","
    "\"n\":{\"type\":\"integer\",\"minimum\":1,\"maximum\":1000,\"description\":\"How many entries (default 10).\"},"
    "\"before_revision\":{\"type\":\"integer\",\"minimum\":0,\"description\":\"Only entries older than this "
    "revision: pass the last entry's revision to read further back.\"}}}";

constexpr const char kHistoryOutput[] =
    "{\"type\":\"object\",\"required\":[\"entries\",\"total\"],\"properties\":{\"entries\":{\"type\":\"array\","
    "\"items\":{\"type\":\"object\",\"required\":[\"id\",\"revision\",\"kind\",\"op\",\"key\",\"new_value\","
    "\"previous_value\",\"agent_id\",\"written_at\"],\"properties\":{\"id\":{\"type\":\"integer\"},"
    "\"revision\":{\"type\":\"integer\"},\"kind\":{\"type\":\"string\"},\"op\":{\"type\":\"string\"},"
    "\"key\":{\"type\":\"string\"},\"new_value\":{},\"previous_value\":{},\"agent_id\":" SIDECAR_NULLABLE("string") ","
    "\"principal\":{\"type\":\"string\"},\"written_at\":{\"type\":\"number\"}}}},"
    "\"total\":{\"type\":\"integer\"},\"more\":{\"type\":\"boolean\"}}}";

constexpr const char kNoInput[] = "{\"type\":\"object\",\"additionalProperties\":false,\"properties\":{}}";

constexpr const char kHealthOutput[] =
    "{\"type\":\"object\",\"required\":[\"status\",\"backend\",\"uptime_s\",\"key_count\",\"workflow_count\","
    "\"version\"],\"properties\":{\"status\":{\"type\":\"string\",\"enum\":[\"ok\",\"degraded\",\"error\"]},"
    "\"backend\":{\"type\":\"string\"},\"uptime_s\":{\"type\":\"number\"},\"key_count\":{\"type\":\"integer\"},"
    "\"workflow_count\":{\"type\":\"integer\"},\"version\":{\"type\":\"string\"},"
    "\"lease_count\":{\"type\":\"integer\"},\"session_count\":{\"type\":\"integer\"},"
    "\"revision\":{\"type\":\"integer\"}}}";

constexpr const char kResetInput[] =
    "{\"type\":\"object\",\"additionalProperties\":false,\"properties\":{\"confirm\":{\"type\":\"string\","
    "\"description\":\"Must be the string RESET.\"}}}";

constexpr const char kResetOutput[] =
    "{\"type\":\"object\",\"required\":[\"ok\",\"cleared\"],\"properties\":{\"ok\":{\"type\":\"boolean\"},"
    "\"cleared\":{\"type\":\"integer\"}}}";

} // namespace

Result<void> registerObservabilityTools(protocol::ToolRegistry &registry, store::Store &store,
                                        const ToolOptions &options)
{
    using protocol::Scope;
    using protocol::ToolAnnotations;
    store::Store *s = &store;

    auto r = registry.add({
        QStringLiteral("history_log"), QStringLiteral("Read the change history"),
        QStringLiteral("Read the audit history of changes, newest first: every set, delete, expiry, workflow step, "
                       "lease and session change, with old and new values and who made it. Filter by key, prefix or "
                       "kind; page back with before_revision while 'more' is true."),
        QByteArray(kHistoryInput), QByteArray(kHistoryOutput), ToolAnnotations{true, false, true, false}, Scope::Read,
        [s, options](const protocol::CallContext &, const json::Value &a, protocol::ToolReply reply) {
            store::HistoryQuery q;
            q.key = strArg(a, "key");
            q.prefix = strArg(a, "prefix");
            q.kind = strArg(a, "kind");
            q.n = int(intArg(a, "n").value_or(10));
            q.beforeRevision = intArg(a, "before_revision");
            const qint64 maxReply = options.maxReplyBytes;
            s->historyLog(q, [reply = std::move(reply), maxReply](Result<store::HistoryResult> res) {
                if (!res)
                    return reply(argError(res.error()));
                // Stops early, with more:true, before the reply would pass the limit (continue
                // with before_revision = the last entry's revision).
                json::Writer w(4096);
                w.beginObject().key("entries");
                const EntriesWritten written = writeEntries(w, res->entries, maxReply);
                w.field("total", written.count);
                if (res->more || written.cut)
                    w.field("more", true);
                w.endObject();
                reply(w.take());
            });
        }});
    if (!r)
        return r;

    auto uptime = std::make_shared<QElapsedTimer>();
    uptime->start();
    r = registry.add({
        QStringLiteral("sidecar_health"), QStringLiteral("Check the sidecar's health"),
        QStringLiteral("Report whether the sidecar and its backend work, with counts of keys, workflows, leases and "
                       "sessions, the store's revision, uptime and version. Never fails: a backend outage is "
                       "status 'degraded'."),
        QByteArray(kNoInput), QByteArray(kHealthOutput), ToolAnnotations{true, false, true, false}, Scope::Read,
        [s, uptime](const protocol::CallContext &, const json::Value &, protocol::ToolReply reply) {
            const QString backend = s->backendName();
            s->health([reply = std::move(reply), uptime, backend](Result<store::HealthInfo> res) {
                json::Writer w(256);
                w.beginObject();
                w.field("status", res ? res->status : QStringLiteral("degraded")).field("backend", backend);
                w.field("uptime_s", double(uptime->elapsed()) / 1000.0);
                w.field("key_count", res ? res->keyCount : 0).field("workflow_count", res ? res->workflowCount : 0);
                w.field("version", SIDECAR_VERSION);
                if (res) {
                    w.field("lease_count", res->leaseCount).field("session_count", res->sessionCount);
                    w.field("revision", res->revision);
                }
                w.endObject();
                reply(w.take());
            });
        }});
    if (!r)
        return r;

    const bool allowReset = options.allowReset;
    return registry.add({
        QStringLiteral("sidecar_reset"), QStringLiteral("Erase all state"),
        QStringLiteral("Erase every key, workflow, lease, session and the history (the revision counter keeps "
                       "counting). Disabled unless the operator set SIDECAR_ALLOW_RESET; needs the admin scope and "
                       "confirm:\"RESET\"."),
        QByteArray(kResetInput), QByteArray(kResetOutput), ToolAnnotations{false, true, false, false}, Scope::Admin,
        [s, allowReset](const protocol::CallContext &ctx, const json::Value &a, protocol::ToolReply reply) {
            if (!allowReset)
                return reply(argError({ErrorCode::Forbidden,
                                       QStringLiteral("Reset is disabled on this sidecar (SIDECAR_ALLOW_RESET is "
                                                      "off).")}));
            if (strArg(a, "confirm") != QLatin1String("RESET"))
                return reply(argError({ErrorCode::InvalidArgument,
                                       QStringLiteral("Reset erases everything: call again with "
                                                      "confirm:\"RESET\".")}));
            s->reset(ctx.principal, answer<store::ResetResult>(std::move(reply), [](json::Writer &w, const auto &res) {
                         w.beginObject().field("ok", res.ok).field("cleared", res.cleared).endObject();
                     }));
        }});
}

} // namespace sidecar::tools
