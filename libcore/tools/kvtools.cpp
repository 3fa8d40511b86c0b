// Group 1: the key-value store (state_set, state_get, state_delete, state_list).

#include "changefeed.h"
#include "toolsupport.h"

namespace sidecar::tools {

namespace {

#define GUARD_SCHEMA                                                                                               \
    "{\"type\":\"object\",\"additionalProperties\":false,\"required\":[\"resource_id\",\"holder_id\"],"          \
    "\"description\":\"Write only while this holder holds this lease (and, with fence, only under that grant).\"," \
    "\"properties\":{\"resource_id\":" SIDECAR_ID_SCHEMA("The lease's resource.") ",\"holder_id\":"               \
    SIDECAR_ID_SCHEMA("The lease's holder.") ",\"fence\":" SIDECAR_FENCE_SCHEMA "}}"

#define IF_VERSION_SCHEMA                                                                                         \
    "{\"type\":\"integer\",\"minimum\":0,\"description\":\"Write only if the key's current version is this (0: only " \
    "if the key is absent).\"}"

constexpr const char kSetInput[] =
    "{\"type\":\"object\",\"additionalProperties\":false,\"required\":[\"key\",\"value\"],\"properties\":{"
    "\"key\":" SIDECAR_ID_SCHEMA("The key (UTF-8, at most 512 bytes).") ","
    "\"value\":{\"description\":\"Any JSON value; it is returned exactly as sent.\"},"
    "\"ttl_seconds\":" SIDECAR_TTL_SCHEMA("Seconds until the key expires; without it the key never expires.") ","
    "\"agent_id\":{\"type\":\"string\",\"description\":\"Who writes, recorded in history.\"},"
    "\"if_version\":" IF_VERSION_SCHEMA ","
    "\"require_lease\":" GUARD_SCHEMA "}}";

constexpr const char kWriteOutput[] =
    "{\"type\":\"object\",\"required\":[\"ok\"],\"properties\":{"
    "\"ok\":{\"type\":\"boolean\"},\"key\":{\"type\":\"string\"},\"version\":{\"type\":\"integer\"},"
    "\"revision\":{\"type\":\"integer\"},\"expires_at\":{\"type\":\"number\"},\"conflict\":{\"type\":\"boolean\"},"
    "\"current_version\":{\"type\":\"integer\"},\"reason\":{\"type\":\"string\"}}}";

constexpr const char kGetInput[] =
    "{\"type\":\"object\",\"additionalProperties\":false,\"required\":[\"key\"],\"properties\":{"
    "\"key\":" SIDECAR_ID_SCHEMA("The key to read.") "}}";

constexpr const char kGetOutput[] =
    "{\"type\":\"object\",\"required\":[\"key\",\"value\",\"found\"],\"properties\":{"
    "\"key\":{\"type\":\"string\"},\"value\":{},\"found\":{\"type\":\"boolean\"},\"version\":{\"type\":\"integer\"},"
    "\"expires_at\":" SIDECAR_NULLABLE("number") ",\"updated_at\":{\"type\":\"number\"},"
    "\"agent_id\":" SIDECAR_NULLABLE("string") ",\"revision\":{\"type\":\"integer\"}}}";

constexpr const char kDeleteInput[] =
    "{\"type\":\"object\",\"additionalProperties\":false,\"required\":[\"key\"],\"properties\":{"
    "\"key\":" SIDECAR_ID_SCHEMA("The key to delete.") ","
    "\"agent_id\":{\"type\":\"string\",\"description\":\"Who deletes, recorded in history.\"},"
    "\"if_version\":" IF_VERSION_SCHEMA ","
    "\"require_lease\":" GUARD_SCHEMA "}}";

constexpr const char kListInput[] =
    "{\"type\":\"object\",\"additionalProperties\":false,\"properties\":{"
    "\"prefix\":" SIDECAR_PREFIX_SCHEMA("keys") ","
    "\"delimiter\":{\"type\":\"string\",\"minLength\":1,\"maxLength\":1,\"description\":\"One character: keys with "
    "it after the prefix are rolled up into 'prefixes' (as S3 does), to walk keys as a tree.\"},"
    "\"limit\":" SIDECAR_LIMIT_SCHEMA ",\"cursor\":" SIDECAR_CURSOR_SCHEMA "}}";

constexpr const char kListOutput[] =
    "{\"type\":\"object\",\"required\":[\"keys\"],\"properties\":{"
    "\"keys\":{\"type\":\"array\",\"items\":{\"type\":\"string\"}},"
    "\"prefixes\":{\"type\":\"array\",\"items\":{\"type\":\"string\"}},"
    "\"next_cursor\":{\"type\":\"string\"},\"revision\":{\"type\":\"integer\"}}}";

constexpr const char kWatchInput[] =
    "{\"type\":\"object\",\"additionalProperties\":false,\"required\":[\"since_revision\"],\"properties\":{"
    "\"prefix\":" SIDECAR_PREFIX_SCHEMA("changes to keys") ","
    "\"key\":{\"type\":\"string\",\"description\":\"Only changes to this key (or run, resource, session id with "
    "kind).\"},"
    "\"kind\":{\"type\":\"string\",\"enum\":[\"kv\",\"workflow\",\"lease\",\"session\",\"store\"],"
    "\"description\":\"What to watch (default kv: keys).\"},"
    "\"since_revision\":{\"type\":\"integer\",\"minimum\":0,\"description\":\"Return changes after this revision "
    "(exclusive): 0 at first, then the 'revision' of the previous answer.\"},"
    "\"timeout_seconds\":{\"type\":\"number\",\"minimum\":0,\"maximum\":30,\"description\":\"How long to wait "
    "for a change when there is none yet (default 10).\"}}}";

constexpr const char kWatchOutput[] =
    "{\"type\":\"object\",\"required\":[\"events\",\"revision\"],\"properties\":{"
    "\"events\":{\"type\":\"array\",\"items\":{\"type\":\"object\"}},\"revision\":{\"type\":\"integer\"},"
    "\"more\":{\"type\":\"boolean\"},\"compacted\":{\"type\":\"boolean\"}}}";

constexpr double kDefaultWatchSeconds = 10;

void writeWriteResult(json::Writer &w, const store::KvWriteResult &r, const QString *key)
{
    w.beginObject().field("ok", r.ok);
    if (r.ok) {
        if (key) {
            w.field("key", *key).field("version", r.version);
        }
        w.field("revision", r.revision);
        if (key)
            w.fieldIf("expires_at", r.expiresAt);
    } else {
        if (r.conflict)
            w.field("conflict", true).fieldIf("current_version", r.currentVersion);
        w.fieldIf("reason", r.reason);
    }
    w.endObject();
}

} // namespace

Result<void> registerKvTools(protocol::ToolRegistry &registry, store::Store &store, ChangeFeed &feed,
                             const ToolOptions &options)
{
    using protocol::Scope;
    using protocol::ToolAnnotations;
    store::Store *s = &store;

    auto r = registry.add({
        QStringLiteral("state_set"), QStringLiteral("Set a key"),
        QStringLiteral("Store any JSON value under a key, optionally with a TTL. Use if_version for compare-and-set "
                       "(0 = create only if absent) and require_lease to write only while holding a lease. Returns "
                       "the key's new version and the store's revision; a failed condition returns ok:false with a "
                       "reason instead of writing."),
        QByteArray(kSetInput), QByteArray(kWriteOutput), ToolAnnotations{false, false, false, false}, Scope::Write,
        [s, options](const protocol::CallContext &ctx, const json::Value &a, protocol::ToolReply reply) {
            store::KvSetArgs args;
            auto key = idArg(a, "key");
            if (!key)
                return reply(argError(key.error()));
            auto value = valueArg(*a.find("value"), "value", options);
            if (!value)
                return reply(argError(value.error()));
            auto agent = optIdArg(a, "agent_id");
            if (!agent)
                return reply(argError(agent.error()));
            auto guard = leaseGuardArg(a, "require_lease");
            if (!guard)
                return reply(argError(guard.error()));
            args.key = *key;
            args.value = std::move(*value);
            args.ttlSeconds = numArg(a, "ttl_seconds");
            args.agentId = *agent;
            args.ifVersion = intArg(a, "if_version");
            args.requireLease = *guard;
            args.principal = ctx.principal;
            const QString k = args.key;
            s->kvSet(args, answer<store::KvWriteResult>(std::move(reply), [k](json::Writer &w, const auto &res) {
                         writeWriteResult(w, res, &k);
                     }));
        }});
    if (!r)
        return r;

    r = registry.add({
        QStringLiteral("state_get"), QStringLiteral("Get a key"),
        QStringLiteral("Read the JSON value stored under a key. A missing or expired key answers found:false and "
                       "value:null. Also returns the key's version (use it with state_set's if_version), its expiry "
                       "and the store's revision at the read."),
        QByteArray(kGetInput), QByteArray(kGetOutput), ToolAnnotations{true, false, true, false}, Scope::Read,
        [s](const protocol::CallContext &, const json::Value &a, protocol::ToolReply reply) {
            auto key = idArg(a, "key");
            if (!key)
                return reply(argError(key.error()));
            s->kvGet(*key, answer<store::KvEntry>(std::move(reply), writeKvEntry));
        }});
    if (!r)
        return r;

    r = registry.add({
        QStringLiteral("state_delete"), QStringLiteral("Delete a key"),
        QStringLiteral("Delete a key. ok:false when there was no live key or a condition (if_version, "
                       "require_lease) failed. The deleted value stays in history."),
        QByteArray(kDeleteInput), QByteArray(kWriteOutput), ToolAnnotations{false, true, false, false}, Scope::Write,
        [s](const protocol::CallContext &ctx, const json::Value &a, protocol::ToolReply reply) {
            store::KvDeleteArgs args;
            auto key = idArg(a, "key");
            if (!key)
                return reply(argError(key.error()));
            auto agent = optIdArg(a, "agent_id");
            if (!agent)
                return reply(argError(agent.error()));
            auto guard = leaseGuardArg(a, "require_lease");
            if (!guard)
                return reply(argError(guard.error()));
            args.key = *key;
            args.agentId = *agent;
            args.ifVersion = intArg(a, "if_version");
            args.requireLease = *guard;
            args.principal = ctx.principal;
            s->kvDelete(args, answer<store::KvWriteResult>(std::move(reply), [](json::Writer &w, const auto &res) {
                            writeWriteResult(w, res, nullptr);
                        }));
        }});
    if (!r)
        return r;

    r = registry.add({
        QStringLiteral("state_list"), QStringLiteral("List keys"),
        QStringLiteral("List live keys in byte order, optionally under a literal prefix. With a one-character "
                       "delimiter, deeper keys are rolled up into 'prefixes' so a key tree can be walked level by "
                       "level. Without limit every match is returned; with limit, one page and next_cursor."),
        QByteArray(kListInput), QByteArray(kListOutput), ToolAnnotations{true, false, true, false}, Scope::Read,
        [s, options](const protocol::CallContext &, const json::Value &a, protocol::ToolReply reply) {
            store::KvListArgs args;
            args.prefix = strArg(a, "prefix");
            if (const QString d = strArg(a, "delimiter"); !d.isEmpty()) {
                if (d.size() != 1)
                    return reply(argError({ErrorCode::InvalidArgument,
                                           QStringLiteral("'delimiter' must be one character of the Basic "
                                                          "Multilingual Plane.")}));
                args.delimiter = d.at(0);
            }
            if (auto l = intArg(a, "limit"))
                args.limit = int(*l);
            args.cursor = strArg(a, "cursor");
            const bool paged = args.limit.has_value();
            const qint64 maxReply = options.maxReplyBytes;
            s->kvList(args, [reply = std::move(reply), paged, maxReply](Result<store::KvListResult> res) {
                if (!res)
                    return reply(argError(res.error()));
                json::Writer w(1024);
                w.beginObject().key("keys").beginArray();
                for (const QString &k : res->keys)
                    w.value(k);
                w.endArray();
                if (res->prefixes) {
                    w.key("prefixes").beginArray();
                    for (const QString &p : *res->prefixes)
                        w.value(p);
                    w.endArray();
                }
                w.fieldIf("next_cursor", res->nextCursor).field("revision", res->revision).endObject();
                replyList(reply, w, paged, maxReply);
            });
        }});
    if (!r)
        return r;

    ChangeFeed *changes = &feed;
    r = registry.add({
        QStringLiteral("state_watch"), QStringLiteral("Watch for changes"),
        QStringLiteral("Wait for changes after a revision: returns every change (a history entry) with a revision "
                       "greater than since_revision that matches key or prefix (and kind), oldest first, waiting up "
                       "to timeout_seconds for the first one. Call again with since_revision set to the answer's "
                       "'revision' to follow a live feed. compacted:true means history was trimmed past "
                       "since_revision: re-read the state, then watch from 'revision'."),
        QByteArray(kWatchInput), QByteArray(kWatchOutput), ToolAnnotations{true, false, true, false}, Scope::Read,
        [changes, options](const protocol::CallContext &, const json::Value &a, protocol::ToolReply reply) {
            store::ChangesQuery q;
            q.key = strArg(a, "key");
            q.prefix = strArg(a, "prefix");
            if (!q.key.isEmpty() && !q.prefix.isEmpty())
                return reply(argError({ErrorCode::InvalidArgument,
                                       QStringLiteral("Give either 'key' or 'prefix', not both.")}));
            q.kind = strArg(a, "kind");
            if (q.kind.isEmpty())
                q.kind = QStringLiteral("kv");
            q.sinceRevision = intArg(a, "since_revision").value_or(0);
            q.limit = 1000;
            const double timeout = numArg(a, "timeout_seconds").value_or(kDefaultWatchSeconds);
            const qint64 maxReply = options.maxReplyBytes;
            changes->wait(q, int(timeout * 1000), [reply = std::move(reply), maxReply](Result<store::ChangesResult> res) {
                if (!res)
                    return reply(argError(res.error()));
                // Stops early, with more:true, before the reply would pass the limit; the
                // revision is then the last event's, to continue from.
                json::Writer w(4096);
                w.beginObject().key("events");
                const EntriesWritten written = writeEntries(w, res->entries, maxReply);
                const bool more = res->more || written.cut;
                w.field("revision", more && written.count > 0 ? written.lastRevision : res->revision);
                if (more)
                    w.field("more", true);
                if (res->compacted)
                    w.field("compacted", true);
                w.endObject();
                reply(w.take());
            });
        }});
    return r;

}

} // namespace sidecar::tools
