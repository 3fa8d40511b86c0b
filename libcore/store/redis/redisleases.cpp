// RedisStore's leases (lease_acquire, lease_release, lease_renew, lease_list) and sessions
// (session_save, session_restore, session_list, session_delete): each is one script
// (resources/redis/lease_*.lua, session_*.lua) over `P lease:<id>`, `P lease`, `P lease_exp`,
// `P session:<id>` and `P session` (docs/redis.md), with the semantics of the SQLite backend
// (sqlitewrites.cpp, sqlitereads.cpp): the same results, reasons, fences, history entries and
// expiry. The lists share the SQLite backend's paging rules, reply budget and cursors
// (sqlitecursor.h), so that both backends page identically.
//
// Thread: the store's thread; callbacks run there, from the event loop.

#include "store/redis/redisstore.h"

#include <QTimer>

#include <functional>
#include <utility>
#include <vector>

#include "store/redis/redisdecode.h"
#include "store/sqlitecursor.h"

namespace sidecar::store {

using redis::RedisReply;

namespace {

// An error found before any script runs, answered on the next event loop turn (never inside the
// call, as every Store operation).
template<class T>
void failLater(QObject *context, Callback<T> done, Error error)
{
    QTimer::singleShot(0, context, [done = std::move(done), error = std::move(error)] { done(tl::unexpected(error)); });
}

Error badReply(const char *script)
{
    return Error{ErrorCode::Internal, QStringLiteral("Unexpected reply from the Redis script %1").arg(QLatin1String(script))};
}

bool isArray(const RedisReply &r, std::size_t minSize)
{
    return r.type == RedisReply::Type::Array && r.elements.size() >= minSize;
}

QByteArray number(double v)
{
    return QByteArray::number(v, 'g', 17);
}

// One page of a list sorted by a text id (leases, sessions), as the SQLite backend's listById():
// the call's paging, the scan's bounds for the script, and the page made from its reply.
struct IdPage
{
    sqlite::Paging paging;
    QByteArray filters;
    QList<QByteArray> scriptArgs; // start, start inclusive, upper bound, page size, reply budget
};

Result<IdPage> prepareIdPage(const char *list, const PrefixListArgs &args, const StoreOptions &options)
{
    using namespace sqlite;
    auto page = paging(args.limit, args.cursor, options.maxList);
    if (!page)
        return tl::unexpected(page.error());
    IdPage p;
    p.paging = *page;
    p.filters = filterHash(QLatin1String(list), {args.prefix});
    // id >= prefix, and id > the cursor's id: whichever bound is the higher.
    QByteArray from = args.prefix.toUtf8();
    bool inclusive = true;
    if (!args.cursor.isEmpty()) {
        auto cursor = decodeCursor(args.cursor, QLatin1String(list), p.filters);
        if (!cursor)
            return tl::unexpected(cursor.error());
        if (cursor->afterKey.isNull())
            return fail(ErrorCode::InvalidArgument, QStringLiteral("Invalid cursor: no position"));
        const QByteArray after = cursor->afterKey.toUtf8();
        if (after >= from) {
            from = after;
            inclusive = false;
        }
    }
    QByteArray upper;
    if (!args.prefix.isEmpty()) {
        if (const auto succ = prefixSuccessor(args.prefix))
            upper = succ->toUtf8();
    }
    p.scriptArgs = {from, inclusive ? QByteArrayLiteral("1") : QByteArray(), upper, QByteArray::number(p.paging.size),
                    QByteArray::number(qlonglong(options.maxReplyBytes))};
    return p;
}

// The script's reply {cut, item fields..., ...} (`width` fields per item, the first its id) as
// one page: the reply budget, the probe, too_large for an unpaged list, and the cursor.
template<class Item>
Result<std::pair<std::vector<Item>, std::optional<QString>>>
finishIdPage(const RedisReply &r, const char *script, const char *list, std::size_t width, const IdPage &page,
             qint64 maxReplyBytes, qint64 maxList, const std::function<Item(const RedisReply &, std::size_t)> &readItem,
             const std::function<qint64(const Item &)> &estimate)
{
    using namespace sqlite;
    if (!isArray(r, 1) || (r.elements.size() - 1) % width != 0)
        return tl::unexpected(badReply(script));
    const std::size_t sent = (r.elements.size() - 1) / width;
    std::vector<Item> items;
    std::vector<QString> ids;
    items.reserve(sent);
    ids.reserve(sent);
    ReplyBudget budget(maxReplyBytes);
    for (std::size_t i = 0; i < sent; ++i) {
        const std::size_t base = 1 + i * width;
        Item item = readItem(r, base);
        const qint64 count = qint64(items.size());
        if (count < page.paging.size && !budget.fits(estimate(item), count))
            break;
        items.push_back(std::move(item));
        ids.push_back(QString::fromUtf8(r.at(base).str));
    }
    // The script stopped where its own estimate passed the budget: more may remain.
    const bool cut = budget.exhausted() || (r.at(0).toInt64() != 0 && items.size() == sent);
    if (cut && !page.paging.paged)
        return tl::unexpected(replyTooLarge(maxReplyBytes));
    std::optional<QString> next;
    if (cut || qint64(items.size()) > page.paging.size) {
        if (!page.paging.paged)
            return tl::unexpected(tooManyMatches(maxList));
        if (!cut) {
            items.pop_back(); // the probe: more remain
            ids.pop_back();
        }
        if (ids.empty())
            return tl::unexpected(badReply(script));
        ListCursor c;
        c.list = QLatin1String(list);
        c.filters = page.filters;
        c.afterKey = ids.back();
        next = encodeCursor(c);
    }
    return std::make_pair(std::move(items), next);
}

} // namespace

// ---------------------------------------------------------------- leases

void RedisStore::leaseAcquire(const LeaseAcquireArgs &args, Callback<LeaseAcquireResult> done)
{
    const QString resourceId = args.resourceId;
    run<LeaseAcquireResult>(
        "lease_acquire",
        {args.resourceId.toUtf8(), args.holderId.toUtf8(), number(args.ttlSeconds), args.principal.toUtf8()},
        std::move(done), [resourceId](const RedisReply &r) -> Result<LeaseAcquireResult> {
            if (!isArray(r, 5))
                return tl::unexpected(badReply("lease_acquire"));
            LeaseAcquireResult res;
            res.resourceId = resourceId;
            res.acquired = r.at(0).toInt64() != 0;
            res.holder = redis::optText(r.at(1));
            res.expiresAt = redis::optDouble(r.at(2));
            res.reason = redis::optText(r.at(3));
            res.fence = redis::optInt64(r.at(4));
            return res;
        });
}

void RedisStore::leaseRelease(const LeaseReleaseArgs &args, Callback<bool> done)
{
    run<bool>("lease_release",
              {args.resourceId.toUtf8(), args.holderId.toUtf8(), redis::argOf(args.fence), args.principal.toUtf8()},
              std::move(done), [](const RedisReply &r) -> Result<bool> {
                  if (r.type != RedisReply::Type::Integer)
                      return tl::unexpected(badReply("lease_release"));
                  return r.integer != 0;
              });
}

void RedisStore::leaseRenew(const LeaseRenewArgs &args, Callback<LeaseRenewResult> done)
{
    const QString resourceId = args.resourceId;
    run<LeaseRenewResult>("lease_renew",
                          {args.resourceId.toUtf8(), args.holderId.toUtf8(), number(args.ttlSeconds),
                           redis::argOf(args.fence), args.principal.toUtf8()},
                          std::move(done), [resourceId](const RedisReply &r) -> Result<LeaseRenewResult> {
                              if (!isArray(r, 3))
                                  return tl::unexpected(badReply("lease_renew"));
                              LeaseRenewResult res;
                              res.resourceId = resourceId;
                              res.renewed = r.at(0).toInt64() != 0;
                              res.expiresAt = redis::optDouble(r.at(1));
                              res.fence = redis::optInt64(r.at(2));
                              return res;
                          });
}

void RedisStore::leaseList(const PrefixListArgs &args, Callback<LeaseListResult> done)
{
    auto page = prepareIdPage("leases", args, m_options);
    if (!page) {
        failLater(this, std::move(done), page.error());
        return;
    }
    QList<QByteArray> argv = page->scriptArgs;
    const qint64 maxReplyBytes = m_options.maxReplyBytes;
    const qint64 maxList = m_options.maxList;
    run<LeaseListResult>(
        "lease_list", std::move(argv), std::move(done),
        [page = *page, maxReplyBytes, maxList](const RedisReply &r) -> Result<LeaseListResult> {
            auto items = finishIdPage<LeaseInfo>(
                r, "lease_list", "leases", 4, page, maxReplyBytes, maxList,
                [](const RedisReply &reply, std::size_t base) {
                    return LeaseInfo{QString::fromUtf8(reply.at(base).str), QString::fromUtf8(reply.at(base + 1).str),
                                     reply.at(base + 2).toDouble(), reply.at(base + 3).toInt64()};
                },
                [](const LeaseInfo &l) {
                    return sqlite::ReplyBudget::text(l.resourceId) + sqlite::ReplyBudget::text(l.holder) + 96;
                });
            if (!items)
                return tl::unexpected(items.error());
            LeaseListResult res;
            res.leases = std::move(items->first);
            res.nextCursor = std::move(items->second);
            return res;
        });
}

// ---------------------------------------------------------------- sessions

void RedisStore::sessionSave(const SessionSaveArgs &args, Callback<SessionSaveResult> done)
{
    const QString sessionId = args.sessionId;
    run<SessionSaveResult>("session_save",
                           {args.sessionId.toUtf8(), args.context, redis::argOf(args.agentId), args.principal.toUtf8()},
                           std::move(done), [sessionId](const RedisReply &r) -> Result<SessionSaveResult> {
                               if (!isArray(r, 2))
                                   return tl::unexpected(badReply("session_save"));
                               SessionSaveResult res;
                               res.ok = true;
                               res.sessionId = sessionId;
                               res.revision = r.at(0).toInt64();
                               res.updatedAt = r.at(1).toDouble();
                               return res;
                           });
}

void RedisStore::sessionRestore(const QString &sessionId, Callback<SessionRestoreResult> done)
{
    run<SessionRestoreResult>("session_restore", {sessionId.toUtf8()}, std::move(done),
                              [sessionId](const RedisReply &r) -> Result<SessionRestoreResult> {
                                  if (!isArray(r, 4))
                                      return tl::unexpected(badReply("session_restore"));
                                  SessionRestoreResult res;
                                  res.sessionId = sessionId;
                                  res.found = r.at(0).toInt64() != 0;
                                  if (res.found) {
                                      res.context = redis::optJson(r.at(1));
                                      res.savedAt = redis::optDouble(r.at(2));
                                      res.updatedAt = redis::optDouble(r.at(3));
                                  }
                                  return res;
                              });
}

void RedisStore::sessionList(const PrefixListArgs &args, Callback<SessionListResult> done)
{
    auto page = prepareIdPage("sessions", args, m_options);
    if (!page) {
        failLater(this, std::move(done), page.error());
        return;
    }
    QList<QByteArray> argv = page->scriptArgs;
    const qint64 maxReplyBytes = m_options.maxReplyBytes;
    const qint64 maxList = m_options.maxList;
    run<SessionListResult>(
        "session_list", std::move(argv), std::move(done),
        [page = *page, maxReplyBytes, maxList](const RedisReply &r) -> Result<SessionListResult> {
            auto items = finishIdPage<SessionInfo>(
                r, "session_list", "sessions", 3, page, maxReplyBytes, maxList,
                [](const RedisReply &reply, std::size_t base) {
                    return SessionInfo{QString::fromUtf8(reply.at(base).str), reply.at(base + 1).toDouble(),
                                       reply.at(base + 2).toDouble()};
                },
                [](const SessionInfo &i) { return sqlite::ReplyBudget::text(i.sessionId) + 96; });
            if (!items)
                return tl::unexpected(items.error());
            SessionListResult res;
            res.sessions = std::move(items->first);
            res.nextCursor = std::move(items->second);
            return res;
        });
}

void RedisStore::sessionDelete(const SessionDeleteArgs &args, Callback<bool> done)
{
    run<bool>("session_delete", {args.sessionId.toUtf8(), args.principal.toUtf8()}, std::move(done),
              [](const RedisReply &r) -> Result<bool> {
                  if (r.type != RedisReply::Type::Integer)
                      return tl::unexpected(badReply("session_delete"));
                  return r.integer != 0;
              });
}

} // namespace sidecar::store
