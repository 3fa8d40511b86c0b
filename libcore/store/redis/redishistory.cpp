// RedisStore's store-wide operations: the history log (history_log), the change feed's reads
// (state_watch, resource subscriptions), health counts (sidecar_health) and reset
// (sidecar_reset). Each is one script (resources/redis/history_log.lua, changes.lua, health.lua,
// reset.lua) over `P history` and its indexes `P hkey:<key>`, `P hkind:<kind>` and the data
// layout of docs/redis.md, with the semantics of the SQLite backend (sqlitereads.cpp,
// sqlitewrites.cpp): the same filters, order, limits, `more`, `compacted` rule, counts, and the
// same reset (data and history cleared, the revision kept, one 'store'/'reset' entry).
//
// Thread: the store's thread; callbacks run there, from the event loop.

#include "store/redis/redisstore.h"

#include <QLoggingCategory>

#include <algorithm>

#include "store/redis/redisdecode.h"

Q_DECLARE_LOGGING_CATEGORY(lcRedisStore) // redisstore.cpp

namespace sidecar::store {

using redis::badReply;
using redis::isArray;
using redis::RedisReply;

namespace {

// A reply of `header` items followed by history entries, each an array as lib.lua's
// historyReply() makes it: the entries.
Result<std::vector<HistoryEntry>> entriesAfter(const RedisReply &r, std::size_t header, const char *script)
{
    if (!isArray(r, header))
        return tl::unexpected(badReply(script));
    std::vector<HistoryEntry> entries;
    entries.reserve(r.elements.size() - header);
    for (std::size_t i = header; i < r.elements.size(); ++i) {
        if (!isArray(r.elements[i], 10))
            return tl::unexpected(badReply(script));
        entries.push_back(redis::historyEntryOf(r.elements[i]));
    }
    return entries;
}

} // namespace

void RedisStore::historyLog(const HistoryQuery &query, Callback<HistoryResult> done)
{
    const int n = std::clamp(query.n, 1, 1000);
    QList<QByteArray> args{query.key.toUtf8(), query.prefix.toUtf8(), query.kind.toUtf8(),
                           QByteArray::number(n), redis::argOf(query.beforeRevision)};
    // history_log: {more, entry, entry, ...}, newest first.
    run<HistoryResult>("history_log", std::move(args), std::move(done),
                       [](const RedisReply &r) -> Result<HistoryResult> {
                           auto entries = entriesAfter(r, 1, "history_log");
                           if (!entries)
                               return tl::unexpected(entries.error());
                           HistoryResult res;
                           res.entries = std::move(*entries);
                           res.more = r.at(0).toInt64() != 0;
                           return res;
                       });
}

void RedisStore::changes(const ChangesQuery &query, Callback<ChangesResult> done)
{
    const int limit = std::clamp(query.limit, 1, 100000);
    QList<QByteArray> args{QByteArray::number(qlonglong(query.sinceRevision)), query.key.toUtf8(),
                           query.prefix.toUtf8(), query.kind.toUtf8(), QByteArray::number(limit)};
    // changes: {revision, compacted, more, entry, entry, ...}, oldest first.
    run<ChangesResult>("changes", std::move(args), std::move(done),
                       [](const RedisReply &r) -> Result<ChangesResult> {
                           auto entries = entriesAfter(r, 3, "changes");
                           if (!entries)
                               return tl::unexpected(entries.error());
                           ChangesResult res;
                           res.revision = r.at(0).toInt64();
                           res.compacted = r.at(1).toInt64() != 0;
                           res.more = r.at(2).toInt64() != 0;
                           res.entries = std::move(*entries);
                           return res;
                       });
}

void RedisStore::health(Callback<HealthInfo> done)
{
    // health: {keys, workflows, leases, sessions, revision, status, count, status, count, ...}.
    // An outage stays an error (Unavailable: the tools report 'degraded'); any other failure is
    // reported as status 'error', as the SQLite backend does: health never fails otherwise.
    run<HealthInfo>(
        "health", {},
        [done = std::move(done)](Result<HealthInfo> h) {
            if (!h && h.error().code != ErrorCode::Unavailable) {
                qCWarning(lcRedisStore).noquote() << "Health check failed:" << h.error().message;
                HealthInfo info;
                info.backend = QStringLiteral("redis");
                info.status = QStringLiteral("error");
                done(info);
                return;
            }
            done(std::move(h));
        },
        [](const RedisReply &r) -> Result<HealthInfo> {
            if (!isArray(r, 5) || (r.elements.size() - 5) % 2 != 0)
                return tl::unexpected(badReply("health"));
            HealthInfo h;
            h.backend = QStringLiteral("redis");
            h.keyCount = r.at(0).toInt64();
            h.workflowCount = r.at(1).toInt64();
            h.leaseCount = r.at(2).toInt64();
            h.sessionCount = r.at(3).toInt64();
            h.revision = r.at(4).toInt64();
            for (std::size_t i = 5; i + 1 < r.elements.size(); i += 2)
                h.workflowsByStatus.emplace_back(r.at(i).text(), r.at(i + 1).toInt64());
            h.status = QStringLiteral("ok");
            return h;
        });
}

void RedisStore::reset(const QString &principal, Callback<ResetResult> done)
{
    // reset: {cleared, revision of the reset entry}.
    run<ResetResult>("reset", {principal.toUtf8()}, std::move(done),
                     [](const RedisReply &r) -> Result<ResetResult> {
                         if (!isArray(r, 2))
                             return tl::unexpected(badReply("reset"));
                         return ResetResult{true, r.at(0).toInt64()};
                     });
}

} // namespace sidecar::store
