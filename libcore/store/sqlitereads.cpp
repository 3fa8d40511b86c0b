// The SQLite backend's reads. Each runs inside one read transaction on the reader's connection
// (sqlitestore.cpp), so everything it returns, the store revision included, is one snapshot.
// Every read filters by the current time: a key or lease past its deadline is invisible at
// once, whether or not the sweep has removed it yet.

#include "sqliteops.h"

#include <algorithm>

#include "store/sqlitecursor.h"

namespace sidecar::store::sqlite {

namespace {

#define HISTORY_COLUMNS "id, revision, kind, op, key, new_value, previous_value, agent_id, principal, written_at"

HistoryEntry readHistory(const Statement &st)
{
    HistoryEntry e;
    e.id = st.int64(0);
    e.revision = st.int64(1);
    e.kind = st.text(2);
    e.op = st.text(3);
    e.key = st.text(4);
    e.newValue = st.optJson(5);
    e.previousValue = st.optJson(6);
    e.agentId = st.optText(7);
    e.principal = st.optText(8);
    e.writtenAt = st.real(9);
    return e;
}

// Appends "AND <column> >= ? AND <column> < ?" for a literal prefix (nothing for an empty one).
void prefixRange(QString &sql, QVariantList &binds, const char *column, const QString &prefix)
{
    if (prefix.isEmpty())
        return;
    sql += QStringLiteral(" AND %1 >= ?").arg(QLatin1String(column));
    binds << bindable(prefix);
    if (const auto succ = prefixSuccessor(prefix)) {
        sql += QStringLiteral(" AND %1 < ?").arg(QLatin1String(column));
        binds << bindable(*succ);
    }
}

Result<std::int64_t> metaValue(Connection &db, const char *name)
{
    // Read on every kvGet (its revision): run() keys the statement cache by this literal.
    TRY_ASSIGN(st, db.run("SELECT value FROM meta WHERE name = ?", name));
    return st.next() && !st.isNull(0) ? std::int64_t(st.int64(0)) : std::int64_t(0);
}

// Lists sorted by a text id (leases, sessions): one page after the cursor's id.
template<class Item, class ReadRow, class Estimate>
Result<std::pair<std::vector<Item>, std::optional<QString>>>
listById(Connection &db, const char *list, const char *table, const char *idColumn, const char *columns,
         const char *liveFilter, const PrefixListArgs &args, const StoreOptions &options, ReadRow readRow,
         Estimate estimate)
{
    TRY_ASSIGN(page, paging(args.limit, args.cursor, options.maxList));
    const QByteArray filters = filterHash(QLatin1String(list), {args.prefix});
    QString sql = QStringLiteral("SELECT %1 FROM %2 WHERE 1 = 1").arg(QLatin1String(columns), QLatin1String(table));
    QVariantList binds;
    if (liveFilter) {
        sql += QStringLiteral(" AND ") + QLatin1String(liveFilter);
        binds << bindable(nowSeconds());
    }
    prefixRange(sql, binds, idColumn, args.prefix);
    if (!args.cursor.isEmpty()) {
        TRY_ASSIGN(cursor, decodeCursor(args.cursor, QLatin1String(list), filters));
        if (cursor.afterKey.isNull())
            return fail(ErrorCode::InvalidArgument, QStringLiteral("Invalid cursor: no position"));
        sql += QStringLiteral(" AND %1 > ?").arg(QLatin1String(idColumn));
        binds << bindable(cursor.afterKey);
    }
    sql += QStringLiteral(" ORDER BY %1 LIMIT ?").arg(QLatin1String(idColumn));
    binds << bindable(page.size + 1);
    std::vector<Item> items;
    std::vector<QString> ids;
    ReplyBudget budget(options.maxReplyBytes);
    {
        TRY_ASSIGN(st, db.query(sql, binds));
        while (st.next()) {
            Item item = readRow(st);
            const qint64 count = qint64(items.size());
            if (count < page.size && !budget.fits(estimate(item), count))
                break;
            items.push_back(std::move(item));
            ids.push_back(st.text(0));
        }
    }
    if (budget.exhausted() && !page.paged)
        return tl::unexpected(replyTooLarge(options.maxReplyBytes));
    std::optional<QString> next;
    if (budget.exhausted() || qint64(items.size()) > page.size) {
        if (!page.paged)
            return tl::unexpected(tooManyMatches(options.maxList));
        if (!budget.exhausted()) {
            items.pop_back(); // the probe: more remain
            ids.pop_back();
        }
        ListCursor c;
        c.list = QLatin1String(list);
        c.filters = filters;
        c.afterKey = ids.back();
        next = encodeCursor(c);
    }
    return std::make_pair(std::move(items), next);
}

} // namespace

// ---------------------------------------------------------------- shared helpers

void appendTagFilter(QString &sql, QVariantList &binds, const std::vector<std::pair<QString, QString>> &tags)
{
    if (tags.empty())
        return;
    sql += QStringLiteral(" AND w.seq IN (SELECT seq FROM run_tags WHERE tag = ? AND value = ?)");
    binds << bindable(tags.front().first) << bindable(tags.front().second);
    appendTagsExist(sql, binds, tags, 1);
}

void appendTagsExist(QString &sql, QVariantList &binds, const std::vector<std::pair<QString, QString>> &tags,
                     std::size_t from)
{
    for (std::size_t i = from; i < tags.size(); ++i) {
        sql += QStringLiteral(" AND EXISTS (SELECT 1 FROM run_tags o WHERE o.seq = w.seq AND o.tag = ? AND o.value = ?)");
        binds << bindable(tags[i].first) << bindable(tags[i].second);
    }
}

bool isFinished(const QString &status)
{
    return status == QLatin1String("done") || status == QLatin1String("failed");
}

QString runNotFoundReason(const QString &runId)
{
    return QStringLiteral("Workflow '%1' not found").arg(runId);
}

QString runStatusReason(const WorkflowMeta &run)
{
    // The original package formatted a missing agent as Python's None.
    return QStringLiteral("Workflow is in status '%1' (agent: %2)")
        .arg(run.status, run.agentId.value_or(QStringLiteral("None")));
}

QString heldByReason(const QString &holder)
{
    return QStringLiteral("Held by '%1'").arg(holder);
}

RunRow readRun(const Statement &st)
{
    RunRow r;
    r.seq = st.int64(0);
    WorkflowMeta &m = r.meta;
    m.runId = st.text(1);
    m.name = st.text(2);
    m.status = st.text(3);
    m.agentId = st.optText(4);
    m.lastStep = st.int64(5);
    m.createdAt = st.real(6);
    m.updatedAt = st.real(7);
    m.input = st.optJson(8);
    m.result = st.optJson(9);
    m.maxAttempts = st.optInt64(10);
    const std::int64_t attempt = st.int64(11);
    if (attempt > 0)
        m.attempt = attempt;
    m.fence = st.optInt64(12);
    m.claimExpiresAt = st.optReal(13);
    r.claimTtl = st.optReal(14);
    return r;
}

Result<void> loadTags(Connection &db, RunRow &run)
{
    TRY_ASSIGN(st, db.run("SELECT tag, value FROM run_tags WHERE seq = ? ORDER BY pos", run.seq));
    run.meta.tags.clear();
    while (st.next())
        run.meta.tags.emplace_back(st.text(0), st.text(1));
    return {};
}

Result<std::optional<RunRow>> loadRun(Connection &db, const QString &runId)
{
    std::optional<RunRow> run;
    {
        TRY_ASSIGN(st, db.run("SELECT " SIDECAR_RUN_COLUMNS " FROM workflows WHERE run_id = ?", runId));
        if (st.next())
            run = readRun(st);
    }
    if (run)
        TRY(loadTags(db, *run));
    return run;
}

Result<std::int64_t> readRevision(Connection &db)
{
    return metaValue(db, "revision");
}

// ---------------------------------------------------------------- keys

Result<KvEntry> kvGet(Connection &db, const QString &key)
{
    KvEntry e;
    e.key = key;
    {
        TRY_ASSIGN(st, db.run("SELECT value, version, expires_at, updated_at, agent_id FROM kv WHERE key = ? AND "
                              "(expires_at IS NULL OR expires_at > ?)",
                              key, nowSeconds()));
        if (st.next()) {
            e.found = true;
            e.value = st.json(0);
            e.version = st.int64(1);
            e.expiresAt = st.optReal(2);
            e.updatedAt = st.real(3);
            e.agentId = st.optText(4);
        }
    }
    TRY_ASSIGN(rev, readRevision(db));
    e.revision = rev;
    return e;
}

Result<KvListResult> kvList(Connection &db, const KvListArgs &args, const StoreOptions &options)
{
    TRY_ASSIGN(page, paging(args.limit, args.cursor, options.maxList));
    const QString delimiter = args.delimiter ? QString(*args.delimiter) : QString();
    const QByteArray filters = filterHash(QStringLiteral("kv"), {args.prefix, delimiter});

    // Where the scan starts: the prefix itself, or just past the cursor's last item.
    QString from = args.prefix;
    bool inclusive = true;
    bool exhausted = false;
    if (!args.cursor.isEmpty()) {
        TRY_ASSIGN(cursor, decodeCursor(args.cursor, QStringLiteral("kv"), filters));
        if (cursor.afterKey.isNull())
            return fail(ErrorCode::InvalidArgument, QStringLiteral("Invalid cursor: no position"));
        if (cursor.afterPrefix) {
            const auto succ = prefixSuccessor(cursor.afterKey);
            if (succ)
                from = *succ;
            else
                exhausted = true;
        } else {
            from = cursor.afterKey;
            inclusive = false;
        }
    }
    const std::optional<QString> upper = prefixSuccessor(args.prefix);
    const double now = nowSeconds();

    struct Item
    {
        QString text;
        bool isPrefix = false;
    };
    std::vector<Item> items;
    ReplyBudget budget(options.maxReplyBytes);
    // Adds an item unless the reply budget is spent (the probe past a full page always goes in).
    auto add = [&](const QString &text, bool isPrefix) {
        const qint64 count = qint64(items.size());
        if (count < page.size && !budget.fits(ReplyBudget::text(text), count))
            return false;
        items.push_back({text, isPrefix});
        return true;
    };
    const qint64 want = page.size + 1; // one more than a page tells whether more remain
    while (!exhausted && !budget.exhausted() && qint64(items.size()) < want) {
        const qint64 batch = want - qint64(items.size());
        QString sql = inclusive ? QStringLiteral("SELECT key FROM kv WHERE key >= ?")
                                : QStringLiteral("SELECT key FROM kv WHERE key > ?");
        QVariantList binds{bindable(from)};
        if (upper) {
            sql += QStringLiteral(" AND key < ?");
            binds << bindable(*upper);
        }
        sql += QStringLiteral(" AND (expires_at IS NULL OR expires_at > ?) ORDER BY key LIMIT ?");
        binds << bindable(now) << bindable(batch);
        TRY_ASSIGN(st, db.query(sql, binds));
        qint64 rows = 0;
        std::optional<QString> restartAt;
        QString lastKey;
        while (st.next()) {
            ++rows;
            const QString key = st.text(0);
            lastKey = key;
            if (!delimiter.isEmpty()) {
                const qsizetype at = key.indexOf(delimiter, args.prefix.size());
                if (at >= 0) {
                    // Rolled up S3-style: the prefix up to and including the delimiter, once;
                    // the scan goes on past every key under it.
                    const QString rolled = key.left(at + 1);
                    if (!add(rolled, true))
                        break;
                    restartAt = prefixSuccessor(rolled);
                    if (!restartAt)
                        exhausted = true;
                    break;
                }
            }
            if (!add(key, false) || qint64(items.size()) >= want)
                break;
        }
        st.finish();
        if (budget.exhausted())
            break;
        if (restartAt) {
            from = *restartAt;
            inclusive = true;
        } else if (rows < batch) {
            exhausted = true;
        } else {
            from = lastKey;
            inclusive = false;
        }
    }

    KvListResult res;
    if (budget.exhausted() && !page.paged)
        return tl::unexpected(replyTooLarge(options.maxReplyBytes));
    if (budget.exhausted() || qint64(items.size()) > page.size) {
        if (!page.paged)
            return tl::unexpected(tooManyMatches(options.maxList));
        if (!budget.exhausted())
            items.pop_back(); // the probe: more remain
        ListCursor c;
        c.list = QStringLiteral("kv");
        c.filters = filters;
        c.afterKey = items.back().text;
        c.afterPrefix = items.back().isPrefix;
        res.nextCursor = encodeCursor(c);
    }
    if (!delimiter.isEmpty())
        res.prefixes = QStringList();
    for (Item &item : items) {
        if (item.isPrefix)
            res.prefixes->append(std::move(item.text));
        else
            res.keys.append(std::move(item.text));
    }
    TRY_ASSIGN(rev, readRevision(db));
    res.revision = rev;
    return res;
}

// ---------------------------------------------------------------- workflows

Result<WorkflowListResult> workflowDiscover(Connection &db, const WorkflowDiscoverArgs &args,
                                            const StoreOptions &options)
{
    TRY_ASSIGN(page, paging(args.limit, args.cursor, options.maxList));
    auto tags = args.tags;
    std::sort(tags.begin(), tags.end());
    QStringList parts{args.status, args.name,
                      args.claimable ? (*args.claimable ? QStringLiteral("1") : QStringLiteral("0")) : QString()};
    for (const auto &[tag, value] : tags)
        parts << tag << value;
    const QByteArray filters = filterHash(QStringLiteral("workflows"), parts);

    QString sql = QStringLiteral("SELECT " SIDECAR_RUN_COLUMNS " FROM workflows w ");
    // Claimable runs without a tag filter: walk the open runs (partial index) instead of
    // sorting every open run for each page.
    if (args.claimable.value_or(false) && tags.empty())
        sql += QStringLiteral("INDEXED BY workflows_open ");
    sql += QStringLiteral("WHERE 1 = 1");
    QVariantList binds;
    if (!args.status.isEmpty()) {
        sql += QStringLiteral(" AND status = ?");
        binds << bindable(args.status);
    }
    if (!args.name.isEmpty()) {
        sql += QStringLiteral(" AND name = ?");
        binds << bindable(args.name);
    }
    appendTagFilter(sql, binds, tags);
    if (args.claimable) {
        // Claimable: not finished and no live claim (never claimed, or the claim lapsed).
        if (*args.claimable) {
            sql += QStringLiteral(" AND status IN ('created', 'claimed', 'running') AND "
                                  "(claim_expires_at IS NULL OR claim_expires_at <= ?)");
        } else {
            sql += QStringLiteral(" AND NOT (status IN ('created', 'claimed', 'running') AND "
                                  "(claim_expires_at IS NULL OR claim_expires_at <= ?))");
        }
        binds << bindable(nowSeconds());
    }
    if (!args.cursor.isEmpty()) {
        TRY_ASSIGN(cursor, decodeCursor(args.cursor, QStringLiteral("workflows"), filters));
        if (!cursor.afterKey.isNull())
            return fail(ErrorCode::InvalidArgument, QStringLiteral("Invalid cursor: no position"));
        sql += QStringLiteral(" AND seq < ?");
        binds << bindable(cursor.afterSeq);
    }
    sql += QStringLiteral(" ORDER BY seq DESC LIMIT ?");
    binds << bindable(page.size + 1);

    std::vector<RunRow> rows;
    ReplyBudget budget(options.maxReplyBytes);
    {
        TRY_ASSIGN(st, db.query(sql, binds));
        while (st.next()) {
            RunRow row = readRun(st);
            const WorkflowMeta &m = row.meta;
            const qint64 estimate = (m.input ? m.input->size() : 0) + (m.result ? m.result->size() : 0) +
                                    ReplyBudget::text(m.runId) + ReplyBudget::text(m.name) +
                                    ReplyBudget::text(m.agentId.value_or(QString())) + 512;
            const qint64 count = qint64(rows.size());
            if (count < page.size && !budget.fits(estimate, count))
                break;
            rows.push_back(std::move(row));
        }
    }
    if (budget.exhausted() && !page.paged)
        return tl::unexpected(replyTooLarge(options.maxReplyBytes));
    WorkflowListResult res;
    if (budget.exhausted() || qint64(rows.size()) > page.size) {
        if (!page.paged)
            return tl::unexpected(tooManyMatches(options.maxList));
        if (!budget.exhausted())
            rows.pop_back(); // the probe: more remain
        ListCursor c;
        c.list = QStringLiteral("workflows");
        c.filters = filters;
        c.afterSeq = rows.back().seq;
        res.nextCursor = encodeCursor(c);
    }
    res.runs.reserve(rows.size());
    for (RunRow &r : rows) {
        TRY(loadTags(db, r));
        res.runs.push_back(std::move(r.meta));
    }
    return res;
}

Result<WorkflowResumeResult> workflowResume(Connection &db, const QString &runId)
{
    TRY_ASSIGN(run, loadRun(db, runId));
    if (!run)
        return fail(ErrorCode::NotFound, runNotFoundReason(runId));
    WorkflowResumeResult res;
    res.runId = runId;
    res.lastStep = run->meta.lastStep;
    {
        TRY_ASSIGN(st, db.run("SELECT step, output, written_at, agent_id, fence FROM step_outputs WHERE seq = ? "
                              "ORDER BY step",
                              run->seq));
        while (st.next()) {
            const std::int64_t step = st.int64(0);
            res.stepOutputs.emplace_back(step, st.json(1));
            res.stepMeta.emplace_back(step, StepMeta{st.real(2), st.optText(3), st.optInt64(4)});
        }
    }
    res.meta = std::move(run->meta);
    return res;
}

Result<WorkflowMeta> workflowStatus(Connection &db, const QString &runId)
{
    TRY_ASSIGN(run, loadRun(db, runId));
    if (!run)
        return fail(ErrorCode::NotFound, runNotFoundReason(runId));
    return std::move(run->meta);
}

// ---------------------------------------------------------------- leases and sessions

Result<LeaseListResult> leaseList(Connection &db, const PrefixListArgs &args, const StoreOptions &options)
{
    TRY_ASSIGN(page, listById<LeaseInfo>(db, "leases", "leases", "resource_id", "resource_id, holder, expires_at, fence",
                                         "expires_at > ?", args, options,
                                         [](const Statement &st) {
                                             return LeaseInfo{st.text(0), st.text(1), st.real(2), st.int64(3)};
                                         },
                                         [](const LeaseInfo &l) {
                                             return ReplyBudget::text(l.resourceId) + ReplyBudget::text(l.holder) + 96;
                                         }));
    LeaseListResult res;
    res.leases = std::move(page.first);
    res.nextCursor = std::move(page.second);
    return res;
}

Result<SessionRestoreResult> sessionRestore(Connection &db, const QString &sessionId)
{
    SessionRestoreResult res;
    res.sessionId = sessionId;
    TRY_ASSIGN(st, db.run("SELECT context, saved_at, updated_at FROM sessions WHERE session_id = ?", sessionId));
    if (st.next()) {
        res.found = true;
        res.context = st.json(0);
        res.savedAt = st.real(1);
        res.updatedAt = st.real(2);
    }
    return res;
}

Result<SessionListResult> sessionList(Connection &db, const PrefixListArgs &args, const StoreOptions &options)
{
    TRY_ASSIGN(page, listById<SessionInfo>(db, "sessions", "sessions", "session_id", "session_id, saved_at, updated_at",
                                           nullptr, args, options,
                                           [](const Statement &st) {
                                               return SessionInfo{st.text(0), st.real(1), st.real(2)};
                                           },
                                           [](const SessionInfo &i) { return ReplyBudget::text(i.sessionId) + 96; }));
    SessionListResult res;
    res.sessions = std::move(page.first);
    res.nextCursor = std::move(page.second);
    return res;
}

// ---------------------------------------------------------------- history

namespace {

void historyFilters(QString &sql, QVariantList &binds, const QString &key, const QString &prefix, const QString &kind)
{
    if (!key.isEmpty()) {
        sql += QStringLiteral(" AND key = ?");
        binds << bindable(key);
    }
    prefixRange(sql, binds, "key", prefix);
    if (!kind.isEmpty()) {
        sql += QStringLiteral(" AND kind = ?");
        binds << bindable(kind);
    }
}

} // namespace

Result<HistoryResult> historyLog(Connection &db, const HistoryQuery &query)
{
    const int n = std::clamp(query.n, 1, 1000);
    QString sql = QStringLiteral("SELECT " HISTORY_COLUMNS " FROM history WHERE 1 = 1");
    QVariantList binds;
    historyFilters(sql, binds, query.key, query.prefix, query.kind);
    if (query.beforeRevision) {
        sql += QStringLiteral(" AND revision < ?");
        binds << bindable(*query.beforeRevision);
    }
    sql += QStringLiteral(" ORDER BY revision DESC LIMIT ?");
    binds << bindable(n + 1);
    HistoryResult res;
    TRY_ASSIGN(st, db.query(sql, binds));
    while (st.next())
        res.entries.push_back(readHistory(st));
    if (res.entries.size() > std::size_t(n)) {
        res.entries.pop_back();
        res.more = true;
    }
    return res;
}

Result<ChangesResult> changes(Connection &db, const ChangesQuery &query)
{
    ChangesResult res;
    TRY_ASSIGN(rev, readRevision(db));
    TRY_ASSIGN(floor, metaValue(db, "history_floor"));
    res.revision = rev;
    // Something after sinceRevision was dropped (retention or reset): the caller must re-read.
    if (query.sinceRevision < floor) {
        res.compacted = true;
        return res;
    }
    const int limit = std::clamp(query.limit, 1, 100000);
    QString sql = QStringLiteral("SELECT " HISTORY_COLUMNS " FROM history WHERE revision > ?");
    QVariantList binds{bindable(query.sinceRevision)};
    historyFilters(sql, binds, query.key, query.prefix, query.kind);
    sql += QStringLiteral(" ORDER BY revision LIMIT ?");
    binds << bindable(limit + 1);
    TRY_ASSIGN(st, db.query(sql, binds));
    while (st.next())
        res.entries.push_back(readHistory(st));
    if (res.entries.size() > std::size_t(limit)) {
        res.entries.pop_back();
        res.more = true;
    }
    return res;
}

// ---------------------------------------------------------------- observability

Result<HealthInfo> health(Connection &db)
{
    HealthInfo h;
    h.backend = QStringLiteral("sqlite");
    const double now = nowSeconds();
    TRY_ASSIGN(keys, db.scalar(QStringLiteral("SELECT COUNT(*) FROM kv WHERE expires_at IS NULL OR expires_at > ?"),
                               {bindable(now)}));
    TRY_ASSIGN(runs, db.scalar(QStringLiteral("SELECT COUNT(*) FROM workflows")));
    TRY_ASSIGN(leases, db.scalar(QStringLiteral("SELECT COUNT(*) FROM leases WHERE expires_at > ?"), {bindable(now)}));
    TRY_ASSIGN(sessions, db.scalar(QStringLiteral("SELECT COUNT(*) FROM sessions")));
    TRY_ASSIGN(rev, readRevision(db));
    h.keyCount = keys;
    h.workflowCount = runs;
    h.leaseCount = leases;
    h.sessionCount = sessions;
    h.revision = rev;
    {
        TRY_ASSIGN(st, db.run("SELECT status, COUNT(*) FROM workflows GROUP BY status ORDER BY status"));
        while (st.next())
            h.workflowsByStatus.emplace_back(st.text(0), st.int64(1));
    }
    h.status = QStringLiteral("ok");
    return h;
}

} // namespace sidecar::store::sqlite
