// Group 3: leases with TTL and fencing tokens (acquire, release, renew, list).

#include "toolsupport.h"

namespace sidecar::tools {

namespace {

#define RESOURCE_SCHEMA SIDECAR_ID_SCHEMA("The resource the lease guards.")
#define HOLDER_SCHEMA SIDECAR_ID_SCHEMA("Who holds (or wants) the lease.")

constexpr const char kAcquireInput[] =
    "{\"type\":\"object\",\"additionalProperties\":false,\"required\":[\"resource_id\",\"holder_id\",\"ttl_seconds\"],"
    "\"properties\":{\"resource_id\":" RESOURCE_SCHEMA ",\"holder_id\":" HOLDER_SCHEMA ","
    "\"ttl_seconds\":" SIDECAR_TTL_SCHEMA("How long the lease lasts unless renewed.") "}}";

constexpr const char kAcquireOutput[] =
    "{\"type\":\"object\",\"required\":[\"acquired\",\"resource_id\",\"holder\",\"expires_at\",\"reason\"],"
    "\"properties\":{\"acquired\":{\"type\":\"boolean\"},\"resource_id\":{\"type\":\"string\"},"
    "\"holder\":" SIDECAR_NULLABLE("string") ",\"expires_at\":" SIDECAR_NULLABLE("number") ","
    "\"reason\":" SIDECAR_NULLABLE("string") ",\"fence\":{\"type\":\"integer\"}}}";

constexpr const char kReleaseInput[] =
    "{\"type\":\"object\",\"additionalProperties\":false,\"required\":[\"resource_id\",\"holder_id\"],"
    "\"properties\":{\"resource_id\":" RESOURCE_SCHEMA ",\"holder_id\":" HOLDER_SCHEMA ","
    "\"fence\":" SIDECAR_FENCE_SCHEMA "}}";

constexpr const char kReleaseOutput[] =
    "{\"type\":\"object\",\"required\":[\"released\",\"resource_id\"],\"properties\":{"
    "\"released\":{\"type\":\"boolean\"},\"resource_id\":{\"type\":\"string\"}}}";

constexpr const char kRenewInput[] =
    "{\"type\":\"object\",\"additionalProperties\":false,\"required\":[\"resource_id\",\"holder_id\",\"ttl_seconds\"],"
    "\"properties\":{\"resource_id\":" RESOURCE_SCHEMA ",\"holder_id\":" HOLDER_SCHEMA ","
    "\"ttl_seconds\":" SIDECAR_TTL_SCHEMA("The lease's new duration, from now.") ","
    "\"fence\":" SIDECAR_FENCE_SCHEMA "}}";

constexpr const char kRenewOutput[] =
    "{\"type\":\"object\",\"required\":[\"renewed\",\"resource_id\",\"expires_at\"],\"properties\":{"
    "\"renewed\":{\"type\":\"boolean\"},\"resource_id\":{\"type\":\"string\"},"
    "\"expires_at\":" SIDECAR_NULLABLE("number") ",\"fence\":{\"type\":\"integer\"}}}";

constexpr const char kListInput[] =
    "{\"type\":\"object\",\"additionalProperties\":false,\"properties\":{"
    "\"prefix\":" SIDECAR_PREFIX_SCHEMA("resources") ","
    "\"limit\":" SIDECAR_LIMIT_SCHEMA ",\"cursor\":" SIDECAR_CURSOR_SCHEMA "}}";

constexpr const char kListOutput[] =
    "{\"type\":\"object\",\"required\":[\"leases\"],\"properties\":{\"leases\":{\"type\":\"array\",\"items\":{"
    "\"type\":\"object\",\"required\":[\"resource_id\",\"holder\",\"expires_at\",\"fence\"],\"properties\":{"
    "\"resource_id\":{\"type\":\"string\"},\"holder\":{\"type\":\"string\"},\"expires_at\":{\"type\":\"number\"},"
    "\"fence\":{\"type\":\"integer\"}}}},\"next_cursor\":{\"type\":\"string\"}}}";

struct LeaseIds
{
    QString resource;
    QString holder;
};

Result<LeaseIds> leaseIds(const json::Value &a)
{
    auto resource = idArg(a, "resource_id");
    if (!resource)
        return tl::unexpected(resource.error());
    auto holder = idArg(a, "holder_id");
    if (!holder)
        return tl::unexpected(holder.error());
    return LeaseIds{*resource, *holder};
}

} // namespace

Result<void> registerLeaseTools(protocol::ToolRegistry &registry, store::Store &store, const ToolOptions &options)
{
    using protocol::Scope;
    using protocol::ToolAnnotations;
    store::Store *s = &store;

    auto r = registry.add({
        QStringLiteral("lease_acquire"), QStringLiteral("Acquire a lease"),
        QStringLiteral("Take an exclusive, expiring lock on a resource. Exactly one holder wins; others get "
                       "acquired:false with the current holder. The winner gets a fence (fencing token) that is "
                       "greater than every fence granted before: pass it to guarded writes so a stale holder cannot "
                       "overwrite a newer one. Acquiring a lease you hold extends it."),
        QByteArray(kAcquireInput), QByteArray(kAcquireOutput), ToolAnnotations{false, false, false, false},
        Scope::Write,
        [s](const protocol::CallContext &ctx, const json::Value &a, protocol::ToolReply reply) {
            auto ids = leaseIds(a);
            if (!ids)
                return reply(argError(ids.error()));
            store::LeaseAcquireArgs args{ids->resource, ids->holder, numArg(a, "ttl_seconds").value_or(0),
                                         ctx.principal};
            s->leaseAcquire(args, answer<store::LeaseAcquireResult>(std::move(reply), [](json::Writer &w,
                                                                                         const auto &res) {
                                w.beginObject().field("acquired", res.acquired).field("resource_id", res.resourceId);
                                w.field("holder", res.holder).field("expires_at", res.expiresAt);
                                w.field("reason", res.reason).fieldIf("fence", res.fence).endObject();
                            }));
        }});
    if (!r)
        return r;

    r = registry.add({
        QStringLiteral("lease_release"), QStringLiteral("Release a lease"),
        QStringLiteral("Give up a lease you hold (with fence: only that grant). released:false when the caller does "
                       "not hold the live lease."),
        QByteArray(kReleaseInput), QByteArray(kReleaseOutput), ToolAnnotations{false, false, true, false},
        Scope::Write,
        [s](const protocol::CallContext &ctx, const json::Value &a, protocol::ToolReply reply) {
            auto ids = leaseIds(a);
            if (!ids)
                return reply(argError(ids.error()));
            store::LeaseReleaseArgs args{ids->resource, ids->holder, intArg(a, "fence"), ctx.principal};
            const QString resource = ids->resource;
            s->leaseRelease(args, answer<bool>(std::move(reply), [resource](json::Writer &w, bool released) {
                                w.beginObject().field("released", released).field("resource_id", resource);
                                w.endObject();
                            }));
        }});
    if (!r)
        return r;

    r = registry.add({
        QStringLiteral("lease_renew"), QStringLiteral("Renew a lease"),
        QStringLiteral("Extend a lease you hold to ttl_seconds from now, keeping its fence. A lapsed lease cannot be "
                       "renewed (renewed:false): acquire it again."),
        QByteArray(kRenewInput), QByteArray(kRenewOutput), ToolAnnotations{false, false, false, false}, Scope::Write,
        [s](const protocol::CallContext &ctx, const json::Value &a, protocol::ToolReply reply) {
            auto ids = leaseIds(a);
            if (!ids)
                return reply(argError(ids.error()));
            store::LeaseRenewArgs args{ids->resource, ids->holder, numArg(a, "ttl_seconds").value_or(0),
                                       intArg(a, "fence"), ctx.principal};
            s->leaseRenew(args, answer<store::LeaseRenewResult>(std::move(reply), [](json::Writer &w,
                                                                                     const auto &res) {
                              w.beginObject().field("renewed", res.renewed).field("resource_id", res.resourceId);
                              w.field("expires_at", res.expiresAt).fieldIf("fence", res.fence).endObject();
                          }));
        }});
    if (!r)
        return r;

    return registry.add({
        QStringLiteral("lease_list"), QStringLiteral("List leases"),
        QStringLiteral("List live leases (holder, expiry, fence), optionally under a literal resource prefix, "
                       "sorted by resource. Without limit every match is returned; with limit, one page and "
                       "next_cursor."),
        QByteArray(kListInput), QByteArray(kListOutput), ToolAnnotations{true, false, true, false}, Scope::Read,
        [s, options](const protocol::CallContext &, const json::Value &a, protocol::ToolReply reply) {
            store::PrefixListArgs args;
            args.prefix = strArg(a, "prefix");
            if (auto l = intArg(a, "limit"))
                args.limit = int(*l);
            args.cursor = strArg(a, "cursor");
            const bool paged = args.limit.has_value();
            const qint64 maxReply = options.maxReplyBytes;
            s->leaseList(args, [reply = std::move(reply), paged, maxReply](Result<store::LeaseListResult> res) {
                if (!res)
                    return reply(argError(res.error()));
                json::Writer w(1024);
                w.beginObject().key("leases").beginArray();
                for (const store::LeaseInfo &l : res->leases)
                    writeLeaseInfo(w, l);
                w.endArray().fieldIf("next_cursor", res->nextCursor).endObject();
                replyList(reply, w, paged, maxReply);
            });
        }});
}

} // namespace sidecar::tools
