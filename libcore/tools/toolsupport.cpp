#include "toolsupport.h"

namespace sidecar::tools {

Result<std::optional<QString>> optIdArg(const json::Value &args, std::string_view name)
{
    const json::Value *v = args.find(name);
    if (!v)
        return std::optional<QString>();
    const std::string &s = v->text();
    const QString arg = QString::fromUtf8(name.data(), qsizetype(name.size()));
    if (s.empty())
        return fail(ErrorCode::InvalidArgument, QStringLiteral("'%1' must not be empty.").arg(arg));
    if (s.size() > std::size_t(kMaxIdBytes))
        return fail(ErrorCode::InvalidArgument,
                    QStringLiteral("'%1' is %2 bytes long; at most %3 bytes of UTF-8 are allowed.")
                        .arg(arg)
                        .arg(s.size())
                        .arg(kMaxIdBytes));
    if (s.find('\0') != std::string::npos)
        return fail(ErrorCode::InvalidArgument, QStringLiteral("'%1' must not contain NUL characters.").arg(arg));
    return std::optional<QString>(v->toQString());
}

Result<QString> idArg(const json::Value &args, std::string_view name)
{
    auto id = optIdArg(args, name);
    if (!id)
        return tl::unexpected(id.error());
    if (!*id)
        return fail(ErrorCode::InvalidArgument,
                    QStringLiteral("'%1' is required.").arg(QString::fromUtf8(name.data(), qsizetype(name.size()))));
    return **id;
}

QString strArg(const json::Value &args, std::string_view name)
{
    const json::Value *v = args.find(name);
    return v && v->isString() ? v->toQString() : QString();
}

std::optional<std::int64_t> intArg(const json::Value &args, std::string_view name)
{
    const json::Value *v = args.find(name);
    return v ? v->toInt64() : std::nullopt;
}

std::optional<double> numArg(const json::Value &args, std::string_view name)
{
    const json::Value *v = args.find(name);
    return v ? v->toDouble() : std::nullopt;
}

std::optional<bool> boolArg(const json::Value &args, std::string_view name)
{
    const json::Value *v = args.find(name);
    return v && v->isBool() ? std::optional<bool>(v->toBool()) : std::nullopt;
}

Result<QByteArray> valueArg(const json::Value &value, std::string_view name, const ToolOptions &options)
{
    QByteArray text = value.compact();
    if (text.size() > options.maxValueBytes)
        return fail(ErrorCode::TooLarge, QStringLiteral("'%1' is %2 bytes as compact JSON; the limit is %3 bytes.")
                                             .arg(QString::fromUtf8(name.data(), qsizetype(name.size())))
                                             .arg(text.size())
                                             .arg(options.maxValueBytes));
    return text;
}

std::vector<std::pair<QString, QString>> tagsArg(const json::Value &args, std::string_view name)
{
    std::vector<std::pair<QString, QString>> tags;
    if (const json::Value *v = args.find(name); v && v->isObject()) {
        tags.reserve(v->members().size());
        for (const json::Member &m : v->members())
            tags.emplace_back(QString::fromStdString(m.key), m.value.toQString());
    }
    return tags;
}

Result<std::optional<store::LeaseGuard>> leaseGuardArg(const json::Value &args, std::string_view name)
{
    const json::Value *v = args.find(name);
    if (!v)
        return std::optional<store::LeaseGuard>();
    auto resource = idArg(*v, "resource_id");
    if (!resource)
        return tl::unexpected(resource.error());
    auto holder = idArg(*v, "holder_id");
    if (!holder)
        return tl::unexpected(holder.error());
    return std::optional<store::LeaseGuard>(store::LeaseGuard{*resource, *holder, intArg(*v, "fence")});
}

void writeRun(json::Writer &w, const store::WorkflowMeta &run)
{
    w.beginObject();
    w.field("run_id", run.runId).field("name", run.name).field("status", run.status);
    w.key("tags").beginObject();
    for (const auto &[k, v] : run.tags)
        w.key(k.toStdString()).value(v);
    w.endObject();
    w.field("agent_id", run.agentId).field("last_step", run.lastStep);
    w.field("created_at", run.createdAt).field("updated_at", run.updatedAt);
    if (run.input)
        w.fieldRaw("input", *run.input);
    if (run.result)
        w.fieldRaw("result", *run.result);
    w.fieldIf("claim_expires_at", run.claimExpiresAt).fieldIf("fence", run.fence).fieldIf("attempt", run.attempt);
    w.fieldIf("max_attempts", run.maxAttempts);
    w.endObject();
}

void writeHistoryEntry(json::Writer &w, const store::HistoryEntry &e)
{
    w.beginObject();
    w.field("id", e.id).field("revision", e.revision).field("kind", e.kind).field("op", e.op).field("key", e.key);
    w.fieldRawOrNull("new_value", e.newValue).fieldRawOrNull("previous_value", e.previousValue);
    w.field("agent_id", e.agentId);
    w.fieldIf("principal", e.principal);
    w.field("written_at", e.writtenAt);
    w.endObject();
}

EntriesWritten writeEntries(json::Writer &w, const std::vector<store::HistoryEntry> &entries, qint64 maxReply)
{
    EntriesWritten out;
    w.beginArray();
    for (const store::HistoryEntry &e : entries) {
        const qint64 estimate = e.key.size() * 3 + (e.newValue ? e.newValue->size() : 0) +
                                (e.previousValue ? e.previousValue->size() : 0) + 256;
        if (out.count > 0 && w.size() + estimate > maxReply) {
            out.cut = true;
            break;
        }
        writeHistoryEntry(w, e);
        ++out.count;
        out.lastRevision = e.revision;
    }
    w.endArray();
    return out;
}

void replyList(const protocol::ToolReply &reply, json::Writer &w, bool paged, qint64 maxReply)
{
    if (!paged && w.size() > maxReply) {
        reply(argError({ErrorCode::TooLarge, QStringLiteral("The list would exceed the reply limit of %1 bytes; page "
                                                            "through it with 'limit' and 'cursor'.")
                                                 .arg(maxReply)}));
        return;
    }
    reply(w.take());
}

Result<void> registerAllTools(protocol::ToolRegistry &registry, store::Store &store, ChangeFeed &feed,
                              const ToolOptions &options)
{
    if (auto r = registerKvTools(registry, store, feed, options); !r)
        return r;
    for (auto reg : {registerWorkflowTools, registerLeaseTools, registerSessionTools,
                     registerObservabilityTools}) {
        if (auto r = reg(registry, store, options); !r)
            return r;
    }
    return {};
}

void writeKvEntry(json::Writer &w, const store::KvEntry &e)
{
    w.beginObject().field("key", e.key);
    if (e.found)
        w.fieldRaw("value", e.value);
    else
        w.fieldNull("value");
    w.field("found", e.found);
    if (e.found) {
        w.field("version", e.version).field("expires_at", e.expiresAt);
        w.field("updated_at", e.updatedAt).field("agent_id", e.agentId);
    }
    w.field("revision", e.revision).endObject();
}

void writeWorkflowStatus(json::Writer &w, const store::WorkflowMeta &m)
{
    w.beginObject().field("run_id", m.runId).field("status", m.status);
    w.field("last_step", m.lastStep).field("agent_id", m.agentId);
    w.field("created_at", m.createdAt).field("updated_at", m.updatedAt);
    w.fieldIf("claim_expires_at", m.claimExpiresAt).fieldIf("attempt", m.attempt);
    w.fieldIf("fence", m.fence).endObject();
}

void writeLeaseInfo(json::Writer &w, const store::LeaseInfo &l)
{
    w.beginObject().field("resource_id", l.resourceId).field("holder", l.holder);
    w.field("expires_at", l.expiresAt).field("fence", l.fence).endObject();
}

void writeSessionRestore(json::Writer &w, const store::SessionRestoreResult &r)
{
    w.beginObject().field("found", r.found).field("session_id", r.sessionId);
    w.fieldRawOrNull("context", r.context);
    w.fieldIf("saved_at", r.savedAt).fieldIf("updated_at", r.updatedAt);
    w.endObject();
}

void writeSessionInfo(json::Writer &w, const store::SessionInfo &s)
{
    w.beginObject().field("session_id", s.sessionId).field("saved_at", s.savedAt);
    w.field("updated_at", s.updatedAt).endObject();
}

} // namespace sidecar::tools
