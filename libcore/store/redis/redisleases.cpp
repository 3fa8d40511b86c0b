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

#include <vector>

#include "store/redis/redisdecode.h"
#include "store/sqlitecursor.h"

namespace sidecar::store {

using redis::badReply;
using redis::failLater;
using redis::isArray;
using redis::numberArg;
using redis::RedisReply;

namespace {

// One page of a list sorted by a text id (leases, sessions), as the SQLite backend's listById():
// the call's paging, the cursor's filters, and the scan's bounds for the script.
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
    p.scriptArgs = {from, redis::flag(inclusive), upper, QByteArray::number(p.paging.size),
                    QByteArray::number(qlonglong(options.maxReplyBytes))};
    return p;
}

// How a list by id reads its script's reply {cut, item fields..., ...} (leaseList, sessionList).
template<class R, class Item>
struct IdList
{
    const char *script; // resources/redis/<script>.lua
    const char *list;   // the cursor's list name
    std::size_t width;  // reply fields per item, the first its id
    std::vector<Item> R::*items;
    Item (*readItem)(const RedisReply &r, std::size_t first);
    qint64 (*estimate)(const Item &item); // ReplyBudget's estimate
};

// The script's reply as one page: the reply budget, the probe, too_large for an unpaged list,
// and the cursor.
template<class R, class Item>
Result<R> idPageOf(const RedisReply &r, const IdList<R, Item> &spec, const IdPage &page, qint64 maxReplyBytes,
                   qint64 maxList)
{
    using namespace sqlite;
    if (!isArray(r, 1) || (r.elements.size() - 1) % spec.width != 0)
        return tl::unexpected(badReply(spec.script));
    const std::size_t sent = (r.elements.size() - 1) / spec.width;
    R res;
    std::vector<Item> &items = res.*spec.items;
    std::vector<QString> ids;
    items.reserve(sent);
    ids.reserve(sent);
    ReplyBudget budget(maxReplyBytes);
    for (std::size_t i = 0; i < sent; ++i) {
        const std::size_t first = 1 + i * spec.width;
        Item item = spec.readItem(r, first);
        const qint64 count = qint64(items.size());
        if (count < page.paging.size && !budget.fits(spec.estimate(item), count))
            break;
        items.push_back(std::move(item));
        ids.push_back(QString::fromUtf8(r.at(first).str));
    }
    // The script stopped where its own estimate passed the budget: more may remain.
    const bool cut = budget.exhausted() || (r.at(0).toInt64() != 0 && items.size() == sent);
    if (cut && !page.paging.paged)
        return tl::unexpected(replyTooLarge(maxReplyBytes));
    if (cut || qint64(items.size()) > page.paging.size) {
        if (!page.paging.paged)
            return tl::unexpected(tooManyMatches(maxList));
        if (!cut) {
            items.pop_back(); // the probe: more remain
            ids.pop_back();
        }
        if (ids.empty())
            return tl::unexpected(badReply(spec.script));
        ListCursor c;
        c.list = QLatin1String(spec.list);
        c.filters = page.filters;
        c.afterKey = ids.back();
        res.nextCursor = encodeCursor(c);
    }
    return res;
}

// One page of a list by id: the paging and the cursor checked, the script run, its reply read.
template<class R, class Item>
void listById(RedisStore *store, const IdList<R, Item> &spec, const PrefixListArgs &args, Callback<R> done)
{
    auto page = prepareIdPage(spec.list, args, store->options());
    if (!page) {
        failLater(store, std::move(done), page.error());
        return;
    }
    QList<QByteArray> argv = page->scriptArgs;
    store->run<R>(spec.script, std::move(argv), std::move(done),
                  [spec, page = *page, maxReplyBytes = store->options().maxReplyBytes,
                   maxList = store->options().maxList](const RedisReply &r) {
                      return idPageOf(r, spec, page, maxReplyBytes, maxList);
                  });
}

// lease_list: resource_id, holder, expires_at, fence.
LeaseInfo leaseAt(const RedisReply &r, std::size_t first)
{
    return LeaseInfo{QString::fromUtf8(r.at(first).str), QString::fromUtf8(r.at(first + 1).str),
                     r.at(first + 2).toDouble(), r.at(first + 3).toInt64()};
}

qint64 leaseCost(const LeaseInfo &l)
{
    return sqlite::ReplyBudget::text(l.resourceId) + sqlite::ReplyBudget::text(l.holder) + 96;
}

const IdList<LeaseListResult, LeaseInfo> kLeaseList{"lease_list", "leases", 4, &LeaseListResult::leases, leaseAt,
                                                    leaseCost};

// session_list: session_id, saved_at, updated_at.
SessionInfo sessionAt(const RedisReply &r, std::size_t first)
{
    return SessionInfo{QString::fromUtf8(r.at(first).str), r.at(first + 1).toDouble(), r.at(first + 2).toDouble()};
}

qint64 sessionCost(const SessionInfo &s)
{
    return sqlite::ReplyBudget::text(s.sessionId) + 96;
}

const IdList<SessionListResult, SessionInfo> kSessionList{"session_list", "sessions", 3, &SessionListResult::sessions,
                                                          sessionAt, sessionCost};

} // namespace

// ---------------------------------------------------------------- leases

void RedisStore::leaseAcquire(const LeaseAcquireArgs &args, Callback<LeaseAcquireResult> done)
{
    const QString resourceId = args.resourceId;
    run<LeaseAcquireResult>(
        "lease_acquire",
        {args.resourceId.toUtf8(), args.holderId.toUtf8(), numberArg(args.ttlSeconds), args.principal.toUtf8()},
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
                          {args.resourceId.toUtf8(), args.holderId.toUtf8(), numberArg(args.ttlSeconds),
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
    listById(this, kLeaseList, args, std::move(done));
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
    listById(this, kSessionList, args, std::move(done));
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
