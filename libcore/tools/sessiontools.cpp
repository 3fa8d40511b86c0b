// Group 4, first half: session snapshots (save, restore, list, delete).

#include "toolsupport.h"

namespace sidecar::tools {

namespace {

#define SESSION_SCHEMA SIDECAR_ID_SCHEMA("The session's id.")

constexpr const char kSaveInput[] =
    "{\"type\":\"object\",\"additionalProperties\":false,\"required\":[\"session_id\",\"context\"],\"properties\":{"
    "\"session_id\":" SESSION_SCHEMA ","
    "\"context\":{\"type\":\"object\",\"description\":\"The whole context to keep (replaces the saved one); returned "
    "exactly as sent.\"},"
    "\"agent_id\":{\"type\":\"string\",\"description\":\"Who saves, recorded in history.\"}}}";

constexpr const char kSaveOutput[] =
    "{\"type\":\"object\",\"required\":[\"ok\",\"session_id\"],\"properties\":{\"ok\":{\"type\":\"boolean\"},"
    "\"session_id\":{\"type\":\"string\"},\"updated_at\":{\"type\":\"number\"},\"revision\":{\"type\":\"integer\"}}}";

constexpr const char kIdInput[] =
    "{\"type\":\"object\",\"additionalProperties\":false,\"required\":[\"session_id\"],\"properties\":{"
    "\"session_id\":" SESSION_SCHEMA "}}";

constexpr const char kRestoreOutput[] =
    "{\"type\":\"object\",\"required\":[\"found\",\"session_id\",\"context\"],\"properties\":{"
    "\"found\":{\"type\":\"boolean\"},\"session_id\":{\"type\":\"string\"},\"context\":" SIDECAR_NULLABLE("object") ","
    "\"saved_at\":{\"type\":\"number\"},\"updated_at\":{\"type\":\"number\"}}}";

constexpr const char kListInput[] =
    "{\"type\":\"object\",\"additionalProperties\":false,\"properties\":{"
    "\"prefix\":" SIDECAR_PREFIX_SCHEMA("sessions") ","
    "\"limit\":" SIDECAR_LIMIT_SCHEMA ",\"cursor\":" SIDECAR_CURSOR_SCHEMA "}}";

constexpr const char kListOutput[] =
    "{\"type\":\"object\",\"required\":[\"sessions\"],\"properties\":{\"sessions\":{\"type\":\"array\",\"items\":{"
    "\"type\":\"object\",\"required\":[\"session_id\",\"saved_at\",\"updated_at\"],\"properties\":{"
    "\"session_id\":{\"type\":\"string\"},\"saved_at\":{\"type\":\"number\"},\"updated_at\":{\"type\":\"number\"}}}},"
    "\"next_cursor\":{\"type\":\"string\"}}}";

constexpr const char kDeleteOutput[] =
    "{\"type\":\"object\",\"required\":[\"ok\"],\"properties\":{\"ok\":{\"type\":\"boolean\"}}}";

} // namespace

Result<void> registerSessionTools(protocol::ToolRegistry &registry, store::Store &store, const ToolOptions &options)
{
    using protocol::Scope;
    using protocol::ToolAnnotations;
    store::Store *s = &store;

    auto r = registry.add({
        QStringLiteral("session_save"), QStringLiteral("Save a session"),
        QStringLiteral("Save an agent session's context (a JSON object) under an id, replacing what was saved "
                       "before, so that the same or another agent can restore it later."),
        QByteArray(kSaveInput), QByteArray(kSaveOutput), ToolAnnotations{false, false, true, false}, Scope::Write,
        [s, options](const protocol::CallContext &ctx, const json::Value &a, protocol::ToolReply reply) {
            store::SessionSaveArgs args;
            auto id = idArg(a, "session_id");
            if (!id)
                return reply(argError(id.error()));
            auto agent = optIdArg(a, "agent_id");
            if (!agent)
                return reply(argError(agent.error()));
            auto context = valueArg(*a.find("context"), "context", options);
            if (!context)
                return reply(argError(context.error()));
            args.sessionId = *id;
            args.context = std::move(*context);
            args.agentId = *agent;
            args.principal = ctx.principal;
            s->sessionSave(args, answer<store::SessionSaveResult>(std::move(reply), [](json::Writer &w,
                                                                                       const auto &res) {
                               w.beginObject().field("ok", res.ok).field("session_id", res.sessionId);
                               w.field("updated_at", res.updatedAt).field("revision", res.revision).endObject();
                           }));
        }});
    if (!r)
        return r;

    r = registry.add({
        QStringLiteral("session_restore"), QStringLiteral("Restore a session"),
        QStringLiteral("Read a saved session's context, exactly as it was saved. found:false and context:null when "
                       "there is none."),
        QByteArray(kIdInput), QByteArray(kRestoreOutput), ToolAnnotations{true, false, true, false}, Scope::Read,
        [s](const protocol::CallContext &, const json::Value &a, protocol::ToolReply reply) {
            auto id = idArg(a, "session_id");
            if (!id)
                return reply(argError(id.error()));
            s->sessionRestore(*id, answer<store::SessionRestoreResult>(std::move(reply), writeSessionRestore));
        }});
    if (!r)
        return r;

    r = registry.add({
        QStringLiteral("session_list"), QStringLiteral("List sessions"),
        QStringLiteral("List saved sessions (id, first save, last save), optionally under a literal id prefix, "
                       "sorted by id. Without limit every match is returned; with limit, one page and next_cursor."),
        QByteArray(kListInput), QByteArray(kListOutput), ToolAnnotations{true, false, true, false}, Scope::Read,
        [s, options](const protocol::CallContext &, const json::Value &a, protocol::ToolReply reply) {
            store::PrefixListArgs args;
            args.prefix = strArg(a, "prefix");
            if (auto l = intArg(a, "limit"))
                args.limit = int(*l);
            args.cursor = strArg(a, "cursor");
            const bool paged = args.limit.has_value();
            const qint64 maxReply = options.maxReplyBytes;
            s->sessionList(args, [reply = std::move(reply), paged, maxReply](Result<store::SessionListResult> res) {
                if (!res)
                    return reply(argError(res.error()));
                json::Writer w(1024);
                w.beginObject().key("sessions").beginArray();
                for (const store::SessionInfo &info : res->sessions)
                    writeSessionInfo(w, info);
                w.endArray().fieldIf("next_cursor", res->nextCursor).endObject();
                replyList(reply, w, paged, maxReply);
            });
        }});
    if (!r)
        return r;

    return registry.add({
        QStringLiteral("session_delete"), QStringLiteral("Delete a session"),
        QStringLiteral("Delete a saved session. ok:false when there was none. The deleted context stays in "
                       "history."),
        QByteArray(kIdInput), QByteArray(kDeleteOutput), ToolAnnotations{false, true, true, false}, Scope::Write,
        [s](const protocol::CallContext &ctx, const json::Value &a, protocol::ToolReply reply) {
            auto id = idArg(a, "session_id");
            if (!id)
                return reply(argError(id.error()));
            s->sessionDelete({*id, ctx.principal}, answer<bool>(std::move(reply), [](json::Writer &w, bool ok) {
                                 w.beginObject().field("ok", ok).endObject();
                             }));
        }});
}

} // namespace sidecar::tools
