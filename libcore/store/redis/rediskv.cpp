// RedisStore's key-value operations (state_get, state_set, state_delete, state_list): each is one
// script (resources/redis/kv_*.lua) over `P kv:<key>`, `P kv` and `P kv_exp` (docs/redis.md),
// with the semantics of the SQLite backend (sqlitewrites.cpp, sqlitereads.cpp): the same results,
// reasons, history entries and expiry. kvList shares the SQLite backend's paging rules, reply
// budget and cursors (sqlitecursor.h), so that both backends page identically.
//
// Thread: the store's thread; callbacks run there, from the event loop.

#include "store/redis/redisstore.h"

#include <vector>

#include "store/redis/redisdecode.h"
#include "store/sqlitecursor.h"

namespace sidecar::store {

using redis::badReply;
using redis::failLater;
using redis::flag;
using redis::isArray;
using redis::RedisReply;

namespace {

// The require_lease arguments of kv_set / kv_delete: given, resource_id, holder_id, fence.
void appendGuard(QList<QByteArray> &argv, const std::optional<LeaseGuard> &guard)
{
    if (!guard) {
        argv << QByteArray() << QByteArray() << QByteArray() << QByteArray();
        return;
    }
    argv << flag(true) << guard->resourceId.toUtf8() << guard->holderId.toUtf8() << redis::argOf(guard->fence);
}

// kv_set / kv_delete: {ok, version, revision, expires_at, conflict, current_version, reason}.
Result<KvWriteResult> decodeWrite(const RedisReply &r, const char *script)
{
    if (!isArray(r, 7))
        return tl::unexpected(badReply(script));
    KvWriteResult res;
    res.ok = r.at(0).toInt64() != 0;
    res.version = r.at(1).toInt64();
    res.revision = r.at(2).toInt64();
    res.expiresAt = redis::optDouble(r.at(3));
    res.conflict = r.at(4).toInt64() != 0;
    res.currentVersion = redis::optInt64(r.at(5));
    res.reason = redis::optText(r.at(6));
    return res;
}

} // namespace

void RedisStore::kvGet(const QString &key, Callback<KvEntry> done)
{
    run<KvEntry>("kv_get", {key.toUtf8()}, std::move(done), [key](const RedisReply &r) -> Result<KvEntry> {
        if (!isArray(r, 7))
            return tl::unexpected(badReply("kv_get"));
        KvEntry e;
        e.key = key;
        e.found = r.at(0).toInt64() != 0;
        if (e.found) {
            e.value = r.at(1).str;
            e.version = r.at(2).toInt64();
            e.expiresAt = redis::optDouble(r.at(3));
            e.updatedAt = r.at(4).toDouble();
            e.agentId = redis::optText(r.at(5));
        }
        e.revision = r.at(6).toInt64();
        return e;
    });
}

void RedisStore::kvSet(const KvSetArgs &args, Callback<KvWriteResult> done)
{
    QList<QByteArray> argv{args.key.toUtf8(), args.value, redis::argOf(args.ttlSeconds), redis::argOf(args.agentId),
                           redis::argOf(args.ifVersion)};
    appendGuard(argv, args.requireLease);
    argv << args.principal.toUtf8();
    run<KvWriteResult>("kv_set", std::move(argv), std::move(done),
                       [](const RedisReply &r) { return decodeWrite(r, "kv_set"); });
}

void RedisStore::kvDelete(const KvDeleteArgs &args, Callback<KvWriteResult> done)
{
    QList<QByteArray> argv{args.key.toUtf8(), redis::argOf(args.agentId), redis::argOf(args.ifVersion)};
    appendGuard(argv, args.requireLease);
    argv << args.principal.toUtf8();
    run<KvWriteResult>("kv_delete", std::move(argv), std::move(done),
                       [](const RedisReply &r) { return decodeWrite(r, "kv_delete"); });
}

void RedisStore::kvList(const KvListArgs &args, Callback<KvListResult> done)
{
    using namespace sqlite;
    auto page = paging(args.limit, args.cursor, m_options.maxList);
    if (!page) {
        failLater(this, std::move(done), page.error());
        return;
    }
    const QString delimiter = args.delimiter ? QString(*args.delimiter) : QString();
    const QByteArray filters = filterHash(QStringLiteral("kv"), {args.prefix, delimiter});

    // Where the scan starts: the prefix itself, or just past the cursor's last item (past every
    // key under it when that was a rolled-up prefix).
    QString from = args.prefix;
    bool inclusive = true;
    bool exhausted = false;
    if (!args.cursor.isEmpty()) {
        auto cursor = decodeCursor(args.cursor, QStringLiteral("kv"), filters);
        if (!cursor) {
            failLater(this, std::move(done), cursor.error());
            return;
        }
        if (cursor->afterKey.isNull()) {
            failLater(this, std::move(done),
                      Error{ErrorCode::InvalidArgument, QStringLiteral("Invalid cursor: no position")});
            return;
        }
        if (cursor->afterPrefix) {
            const auto succ = prefixSuccessor(cursor->afterKey);
            if (succ)
                from = *succ;
            else
                exhausted = true;
        } else {
            from = cursor->afterKey;
            inclusive = false;
        }
    }
    const std::optional<QString> upper = prefixSuccessor(args.prefix);
    QList<QByteArray> argv{args.prefix.toUtf8(),
                           delimiter.toUtf8(),
                           from.toUtf8(),
                           flag(inclusive),
                           upper ? upper->toUtf8() : QByteArray(),
                           QByteArray::number(page->size),
                           QByteArray::number(qlonglong(m_options.maxReplyBytes)),
                           flag(exhausted)};
    const Paging pg = *page;
    const qint64 maxReplyBytes = m_options.maxReplyBytes;
    const qint64 maxList = m_options.maxList;
    const bool withDelimiter = args.delimiter.has_value();
    run<KvListResult>(
        "kv_list", std::move(argv), std::move(done),
        [pg, filters, maxReplyBytes, maxList, withDelimiter](const RedisReply &r) -> Result<KvListResult> {
            if (!isArray(r, 2) || r.elements.size() % 2 != 0)
                return tl::unexpected(badReply("kv_list"));
            struct Item
            {
                QString text;
                bool isPrefix = false;
            };
            const std::size_t sent = (r.elements.size() - 2) / 2;
            std::vector<Item> items;
            items.reserve(sent);
            ReplyBudget budget(maxReplyBytes);
            for (std::size_t i = 0; i < sent; ++i) {
                QString text = QString::fromUtf8(r.at(2 + 2 * i).str);
                const qint64 count = qint64(items.size());
                if (count < pg.size && !budget.fits(ReplyBudget::text(text), count))
                    break;
                items.push_back({std::move(text), r.at(3 + 2 * i).toInt64() != 0});
            }
            // The script stopped where its own estimate passed the budget: more may remain.
            const bool cut = budget.exhausted() || (r.at(1).toInt64() != 0 && items.size() == sent);

            KvListResult res;
            if (cut && !pg.paged)
                return tl::unexpected(replyTooLarge(maxReplyBytes));
            if (cut || qint64(items.size()) > pg.size) {
                if (!pg.paged)
                    return tl::unexpected(tooManyMatches(maxList));
                if (!cut)
                    items.pop_back(); // the probe: more remain
                if (items.empty())
                    return tl::unexpected(badReply("kv_list"));
                ListCursor c;
                c.list = QStringLiteral("kv");
                c.filters = filters;
                c.afterKey = items.back().text;
                c.afterPrefix = items.back().isPrefix;
                res.nextCursor = encodeCursor(c);
            }
            if (withDelimiter)
                res.prefixes = QStringList();
            for (Item &item : items) {
                if (item.isPrefix)
                    res.prefixes->append(std::move(item.text));
                else
                    res.keys.append(std::move(item.text));
            }
            res.revision = r.at(0).toInt64();
            return res;
        });
}

} // namespace sidecar::store
