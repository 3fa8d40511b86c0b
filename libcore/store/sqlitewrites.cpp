// The SQLite backend's mutations. Each runs inside the writer's BEGIN IMMEDIATE transaction,
// in its own SAVEPOINT (sqlitestore.cpp), and records every change it makes through WriteTxn:
// one revision and one history entry per mutation.

#include "sqliteops.h"

#include <QRandomGenerator>

#include <cmath>
#include <string_view>

#include "protocol/json.h"

namespace sidecar::store::sqlite {

namespace {

std::string_view view(const QByteArray &b)
{
    return std::string_view(b.constData(), std::size_t(b.size()));
}

Result<void> checkTtl(double ttl)
{
    if (!std::isfinite(ttl) || ttl <= 0)
        return fail(ErrorCode::InvalidArgument, QStringLiteral("ttl_seconds must be a positive number of seconds"));
    return {};
}

std::optional<QString> nonEmpty(const QString &s)
{
    if (s.isEmpty())
        return std::nullopt;
    return s;
}

// ---------------------------------------------------------------- keys


struct KvRow
{
    QByteArray value;
    std::int64_t version = 0;
    std::optional<double> expiresAt;
    std::optional<QString> agentId;
};

Result<std::optional<KvRow>> loadKv(Connection &db, const QString &key)
{
    TRY_ASSIGN(st, db.run("SELECT value, version, expires_at, agent_id FROM kv WHERE key = ?", key));
    if (!st.next())
        return std::optional<KvRow>();
    return std::optional<KvRow>(KvRow{st.json(0), st.int64(1), st.optReal(2), st.optText(3)});
}

// A key whose deadline passed but that the sweep has not removed yet is removed here, with its
// own 'expire' entry, before the write that found it: every expiry is in history exactly once.
Result<void> expireKvIfLapsed(WriteTxn &t, const QString &key, std::optional<KvRow> &row, double now)
{
    if (!row || !row->expiresAt || *row->expiresAt > now)
        return {};
    TRY(t.db().run("DELETE FROM kv WHERE key = ?", key));
    TRY(t.mutate("kv", "expire", key, std::nullopt, row->value, std::nullopt, QString(), now));
    row.reset();
    return {};
}

// ---------------------------------------------------------------- leases

struct LeaseRow
{
    QString holder;
    double expiresAt = 0;
    std::int64_t fence = 0;
};

Result<std::optional<LeaseRow>> loadLease(Connection &db, const QString &resourceId)
{
    TRY_ASSIGN(st, db.run("SELECT holder, expires_at, fence FROM leases WHERE resource_id = ?", resourceId));
    if (!st.next())
        return std::optional<LeaseRow>();
    return std::optional<LeaseRow>(LeaseRow{st.text(0), st.real(1), st.int64(2)});
}

QByteArray leaseJson(const QString &holder, double expiresAt, std::int64_t fence)
{
    json::Writer w(96);
    w.beginObject().field("holder", holder).field("expires_at", expiresAt).field("fence", fence).endObject();
    return w.take();
}

Result<void> expireLeaseIfLapsed(WriteTxn &t, const QString &resourceId, std::optional<LeaseRow> &row, double now)
{
    if (!row || row->expiresAt > now)
        return {};
    TRY(t.db().run("DELETE FROM leases WHERE resource_id = ?", resourceId));
    TRY(t.mutate("lease", "expire", resourceId, std::nullopt, leaseJson(row->holder, row->expiresAt, row->fence),
                 std::nullopt, QString(), now));
    row.reset();
    return {};
}

// require_lease: nullopt when the guard holds, else the reason it does not.
Result<std::optional<QString>> checkGuard(Connection &db, const std::optional<LeaseGuard> &guard, double now)
{
    if (!guard)
        return std::optional<QString>();
    TRY_ASSIGN(lease, loadLease(db, guard->resourceId));
    if (!lease || lease->expiresAt <= now)
        return std::optional<QString>(QStringLiteral("Lease '%1' is not held").arg(guard->resourceId));
    if (lease->holder != guard->holderId)
        return std::optional<QString>(heldByReason(lease->holder));
    if (guard->fence && *guard->fence != lease->fence)
        return std::optional<QString>(QStringLiteral("Stale fence %1: lease '%2' is held under fence %3")
                                          .arg(*guard->fence)
                                          .arg(guard->resourceId)
                                          .arg(lease->fence));
    return std::optional<QString>();
}

// ---------------------------------------------------------------- workflows

QString newRunId()
{
    const quint64 bits = QRandomGenerator::system()->generate64() & 0xffffffffffffULL;
    return QStringLiteral("wf-%1").arg(bits, 12, 16, QLatin1Char('0'));
}

bool claimLive(const WorkflowMeta &m, double now)
{
    return !isFinished(m.status) && m.agentId && m.claimExpiresAt && *m.claimExpiresAt > now;
}

QByteArray claimJson(const WorkflowMeta &m)
{
    json::Writer w(160);
    w.beginObject().field("status", m.status).field("agent_id", m.agentId);
    w.fieldIf("fence", m.fence).fieldIf("attempt", m.attempt).fieldIf("claim_expires_at", m.claimExpiresAt);
    w.endObject();
    return w.take();
}

QByteArray statusJson(const QString &status, const std::optional<QByteArray> &result = std::nullopt,
                      const char *reason = nullptr)
{
    json::Writer w(64);
    w.beginObject().field("status", status);
    if (result)
        w.fieldRaw("result", *result);
    if (reason)
        w.field("reason", reason);
    w.endObject();
    return w.take();
}

// Why a call naming `agentId` / `fence` is not the live claim of `run`; nullopt when it is.
std::optional<QString> claimMismatch(const WorkflowMeta &run, const std::optional<QString> &agentId,
                                     const std::optional<std::int64_t> &fence, double now)
{
    if (!claimLive(run, now)) {
        if (run.claimExpiresAt)
            return QStringLiteral("The claim on workflow '%1' has lapsed").arg(run.runId);
        return QStringLiteral("Workflow '%1' is not claimed").arg(run.runId);
    }
    if (agentId && *agentId != *run.agentId)
        return runStatusReason(run);
    if (fence && (!run.fence || *fence != *run.fence))
        return QStringLiteral("Stale fence %1: the live claim on workflow '%2' has fence %3")
            .arg(*fence)
            .arg(run.runId)
            .arg(run.fence.value_or(0));
    return std::nullopt;
}

// The run named by a holder's call (heartbeat, complete): loaded when `agentId` holds its live
// claim (under `fence` when given); else `refusal` says why not: unknown, finished, or not the
// holder's claim.
struct HeldRun
{
    std::optional<RunRow> run;
    std::optional<QString> refusal;
};

Result<HeldRun> loadHeldRun(Connection &db, const QString &runId, const QString &agentId,
                            const std::optional<std::int64_t> &fence, double now)
{
    TRY_ASSIGN(run, loadRun(db, runId));
    if (!run)
        return HeldRun{std::nullopt, runNotFoundReason(runId)};
    if (isFinished(run->meta.status))
        return HeldRun{std::nullopt, runStatusReason(run->meta)};
    if (auto why = claimMismatch(run->meta, agentId, fence, now))
        return HeldRun{std::nullopt, why};
    return HeldRun{std::move(run), std::nullopt};
}

Result<void> updateClaim(Connection &db, const RunRow &run)
{
    const WorkflowMeta &m = run.meta;
    TRY(db.run("UPDATE workflows SET status = ?, agent_id = ?, attempt = ?, fence = ?, claim_expires_at = ?, "
               "claim_ttl = ?, updated_at = ? WHERE seq = ?",
               m.status, m.agentId, m.attempt.value_or(0), m.fence, m.claimExpiresAt, run.claimTtl, m.updatedAt,
               run.seq));
    return {};
}

// Claims `run` for `agentId` (workflow_claim and workflow_claim_next).
Result<WorkflowClaimResult> claimRun(WriteTxn &t, RunRow &run, const QString &agentId, double ttl,
                                     const QString &principal, double now)
{
    WorkflowMeta &m = run.meta;
    WorkflowClaimResult res;
    res.runId = m.runId;
    if (isFinished(m.status)) {
        res.reason = runStatusReason(m);
        return res;
    }
    if (claimLive(m, now)) {
        if (*m.agentId != agentId) {
            res.reason = runStatusReason(m); // names the holder
            return res;
        }
        // The live holder claiming again: extend, keeping fence and attempt.
        m.claimExpiresAt = now + ttl;
        run.claimTtl = ttl;
        m.updatedAt = now;
        TRY(t.mutate("workflow", "claim", m.runId, claimJson(m), std::nullopt, agentId, principal, now));
        TRY(updateClaim(t.db(), run));
        res.claimed = true;
        res.agentId = agentId;
        res.fence = m.fence;
        res.claimExpiresAt = m.claimExpiresAt;
        res.attempt = m.attempt;
        return res;
    }
    // A new grant: never claimed, or the last claim lapsed (which wrote nothing).
    const std::int64_t attempt = m.attempt.value_or(0) + 1;
    if (m.maxAttempts && attempt > *m.maxAttempts) {
        const QByteArray previous = statusJson(m.status);
        m.status = QStringLiteral("failed");
        m.claimExpiresAt.reset();
        m.updatedAt = now;
        TRY(t.mutate("workflow", "complete", m.runId, statusJson(m.status, std::nullopt, "max attempts reached"),
                     previous, agentId, principal, now));
        TRY(t.db().run("UPDATE workflows SET status = ?, claim_expires_at = NULL, updated_at = ? WHERE seq = ?",
                       m.status, now, run.seq));
        res.reason = QStringLiteral("max attempts reached");
        return res;
    }
    const std::int64_t rev = t.nextRevision();
    // A run that was already running (its last claim lapsed) stays running: its checkpoints
    // are kept and the new holder resumes from them.
    if (m.status == QLatin1String("created"))
        m.status = QStringLiteral("claimed");
    m.agentId = agentId;
    m.attempt = attempt;
    m.fence = rev;
    m.claimExpiresAt = now + ttl;
    run.claimTtl = ttl;
    m.updatedAt = now;
    TRY(t.record(rev, "workflow", "claim", m.runId, claimJson(m), std::nullopt, agentId, principal, now));
    TRY(updateClaim(t.db(), run));
    res.claimed = true;
    res.agentId = agentId;
    res.fence = rev;
    res.claimExpiresAt = m.claimExpiresAt;
    res.attempt = attempt;
    return res;
}

} // namespace

// ---------------------------------------------------------------- WriteTxn

WriteTxn::WriteTxn(Connection &connection, const StoreOptions &options) : m_db(connection), m_options(options) {}

Result<void> WriteTxn::load()
{
    TRY_ASSIGN(st, m_db.run("SELECT name, value FROM meta"));
    const std::pair<const char *, std::int64_t *> fields[] = {{"revision", &m_revision},
                                                              {"history_floor", &m_historyFloor},
                                                              {"history_count", &m_historyCount},
                                                              {"history_bytes", &m_historyBytes}};
    int found = 0;
    while (st.next()) {
        const QString name = st.text(0);
        for (const auto &[field, target] : fields) {
            if (name == QLatin1String(field)) {
                *target = st.int64(1);
                ++found;
            }
        }
    }
    if (found != 4)
        return fail(ErrorCode::Internal, QStringLiteral("The database's meta table is incomplete"));
    m_loaded = counters();
    return {};
}

void WriteTxn::restore(const Counters &c)
{
    m_revision = c.revision;
    m_historyFloor = c.historyFloor;
    m_historyCount = c.historyCount;
    m_historyBytes = c.historyBytes;
}

Result<void> WriteTxn::save()
{
    TRY(trimHistory());
    const Counters now = counters();
    const std::pair<const char *, std::pair<std::int64_t, std::int64_t>> values[] = {
        {"revision", {now.revision, m_loaded.revision}},
        {"history_floor", {now.historyFloor, m_loaded.historyFloor}},
        {"history_count", {now.historyCount, m_loaded.historyCount}},
        {"history_bytes", {now.historyBytes, m_loaded.historyBytes}},
    };
    for (const auto &[name, v] : values) {
        if (v.first != v.second)
            TRY(m_db.run("UPDATE meta SET value = ? WHERE name = ?", v.first, name));
    }
    m_loaded = now;
    return {};
}

Result<void> WriteTxn::record(std::int64_t rev, const char *kind, const char *op, const QString &key,
                              const std::optional<QByteArray> &newValue,
                              const std::optional<QByteArray> &previousValue, const std::optional<QString> &agentId,
                              const QString &principal, double at)
{
    const std::int64_t size = (newValue ? newValue->size() : 0) + (previousValue ? previousValue->size() : 0);
    TRY(m_db.run("INSERT INTO history (revision, kind, op, key, new_value, previous_value, agent_id, principal, "
                 "written_at, size) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                 rev, kind, op, key, newValue, previousValue, agentId, nonEmpty(principal), at, size));
    ++m_historyCount;
    m_historyBytes += size;
    return {};
}

Result<std::int64_t> WriteTxn::mutate(const char *kind, const char *op, const QString &key,
                                      const std::optional<QByteArray> &newValue,
                                      const std::optional<QByteArray> &previousValue,
                                      const std::optional<QString> &agentId, const QString &principal, double at)
{
    const std::int64_t rev = nextRevision();
    TRY(record(rev, kind, op, key, newValue, previousValue, agentId, principal, at));
    return rev;
}

Result<void> WriteTxn::clearHistory()
{
    TRY(m_db.run("DELETE FROM history"));
    m_historyFloor = m_revision;
    m_historyCount = 0;
    m_historyBytes = 0;
    return {};
}

Result<void> WriteTxn::trimHistory()
{
    const std::int64_t limit = std::max<std::int64_t>(1, m_options.historyLimit);
    const std::int64_t maxBytes = m_options.historyMaxBytes;
    auto over = [&] {
        // The newest entry always stays, even when it alone is over the byte budget.
        return m_historyCount > 1 && (m_historyCount > limit || (maxBytes > 0 && m_historyBytes > maxBytes));
    };
    while (over()) {
        TRY_ASSIGN(st, m_db.run("SELECT id, revision, size FROM history ORDER BY id LIMIT 1000"));
        std::int64_t lastId = -1;
        std::int64_t lastRev = 0;
        while (over() && st.next()) {
            lastId = st.int64(0);
            lastRev = st.int64(1);
            --m_historyCount;
            m_historyBytes -= st.int64(2);
        }
        st.finish();
        if (lastId < 0) {
            // The counters disagree with the table (it is empty): trust the table.
            m_historyCount = 0;
            m_historyBytes = 0;
            break;
        }
        TRY(m_db.run("DELETE FROM history WHERE id <= ?", lastId));
        m_historyFloor = std::max(m_historyFloor, lastRev);
    }
    return {};
}

// ---------------------------------------------------------------- keys

namespace {

// The conditions of state_set / state_delete (require_lease, then if_version). True when one
// failed: `res` then holds ok:false with the reason (and conflict/current_version).
Result<bool> checkKvConditions(WriteTxn &t, const QString &key, const std::optional<KvRow> &row,
                               const std::optional<std::int64_t> &ifVersion,
                               const std::optional<LeaseGuard> &requireLease, double now, KvWriteResult &res)
{
    TRY_ASSIGN(guardFailure, checkGuard(t.db(), requireLease, now));
    if (guardFailure) {
        res.reason = guardFailure;
        return true;
    }
    const std::int64_t current = row ? row->version : 0;
    if (!ifVersion || (*ifVersion == 0 ? !row.has_value() : current == *ifVersion))
        return false;
    res.conflict = true;
    res.currentVersion = current;
    res.reason = *ifVersion == 0 ? QStringLiteral("Key '%1' already exists (version %2)").arg(key).arg(current)
                                 : QStringLiteral("Version conflict: key '%1' is at version %2, not %3")
                                       .arg(key)
                                       .arg(current)
                                       .arg(*ifVersion);
    return true;
}

} // namespace

Result<KvWriteResult> kvSet(WriteTxn &t, const KvSetArgs &args)
{
    if (args.ttlSeconds)
        TRY(checkTtl(*args.ttlSeconds));
    const double now = nowSeconds();
    TRY_ASSIGN(row, loadKv(t.db(), args.key));
    TRY(expireKvIfLapsed(t, args.key, row, now));
    KvWriteResult res;
    TRY_ASSIGN(refused, checkKvConditions(t, args.key, row, args.ifVersion, args.requireLease, now, res));
    if (refused)
        return res;
    std::optional<double> expiresAt;
    if (args.ttlSeconds)
        expiresAt = now + *args.ttlSeconds;
    TRY_ASSIGN(rev, t.mutate("kv", "set", args.key, args.value,
                             row ? std::optional<QByteArray>(row->value) : std::nullopt, args.agentId,
                             args.principal, now));
    TRY(t.db().run("INSERT INTO kv (key, value, version, expires_at, updated_at, agent_id) VALUES (?, ?, ?, ?, ?, ?) "
                   "ON CONFLICT (key) DO UPDATE SET value = excluded.value, version = excluded.version, "
                   "expires_at = excluded.expires_at, updated_at = excluded.updated_at, agent_id = excluded.agent_id",
                   args.key, args.value, rev, expiresAt, now, args.agentId));
    res.ok = true;
    res.version = rev;
    res.revision = rev;
    res.expiresAt = expiresAt;
    return res;
}

Result<KvWriteResult> kvDelete(WriteTxn &t, const KvDeleteArgs &args)
{
    const double now = nowSeconds();
    TRY_ASSIGN(row, loadKv(t.db(), args.key));
    TRY(expireKvIfLapsed(t, args.key, row, now));
    KvWriteResult res;
    TRY_ASSIGN(refused, checkKvConditions(t, args.key, row, args.ifVersion, args.requireLease, now, res));
    if (refused)
        return res;
    if (!row) {
        res.reason = QStringLiteral("Key '%1' not found").arg(args.key);
        return res;
    }
    TRY(t.db().run("DELETE FROM kv WHERE key = ?", args.key));
    TRY_ASSIGN(rev, t.mutate("kv", "delete", args.key, std::nullopt, row->value, args.agentId, args.principal, now));
    res.ok = true;
    res.revision = rev;
    return res;
}

// ---------------------------------------------------------------- workflows

Result<WorkflowCreateResult> workflowCreate(WriteTxn &t, const WorkflowCreateArgs &args)
{
    if (args.maxAttempts && *args.maxAttempts < 1)
        return fail(ErrorCode::InvalidArgument, QStringLiteral("max_attempts must be at least 1"));
    if (args.idempotencyKey) {
        TRY_ASSIGN(st, t.db().run("SELECT run_id FROM workflows WHERE idempotency_key = ?", *args.idempotencyKey));
        if (st.next()) {
            const QString runId = st.text(0);
            st.finish();
            TRY_ASSIGN(existing, loadRun(t.db(), runId));
            if (!existing)
                return fail(ErrorCode::Internal, QStringLiteral("Run '%1' vanished").arg(runId));
            if (existing->meta.name != args.name)
                return fail(ErrorCode::Conflict,
                            QStringLiteral("Idempotency key '%1' already belongs to run '%2' of workflow '%3', not "
                                           "'%4'")
                                .arg(*args.idempotencyKey, runId, existing->meta.name, args.name));
            return WorkflowCreateResult{existing->meta, false};
        }
    }
    QString runId;
    for (int i = 0;; ++i) {
        runId = newRunId();
        TRY_ASSIGN(taken, t.db().scalar(QStringLiteral("SELECT COUNT(*) FROM workflows WHERE run_id = ?"),
                                        {bindable(runId)}));
        if (taken == 0)
            break;
        if (i > 16)
            return fail(ErrorCode::Internal, QStringLiteral("Could not find a free run id"));
    }
    const double now = nowSeconds();
    WorkflowMeta m;
    m.runId = runId;
    m.name = args.name;
    m.status = QStringLiteral("created");
    m.tags = args.tags;
    m.createdAt = now;
    m.updatedAt = now;
    m.input = args.input;
    m.maxAttempts = args.maxAttempts;

    json::Writer w(256);
    w.beginObject().field("name", m.name).field("status", m.status).key("tags").beginObject();
    for (const auto &[tag, value] : m.tags) {
        const QByteArray k = tag.toUtf8();
        w.key(view(k)).value(value);
    }
    w.endObject();
    if (m.input)
        w.fieldRaw("input", *m.input);
    w.fieldIf("idempotency_key", args.idempotencyKey).fieldIf("max_attempts", m.maxAttempts).endObject();
    TRY(t.mutate("workflow", "create", runId, w.take(), std::nullopt, std::nullopt, args.principal, now));

    TRY_ASSIGN(ins, t.db().run("INSERT INTO workflows (run_id, name, status, created_at, updated_at, input, "
                               "idempotency_key, max_attempts) VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING seq",
                               runId, m.name, m.status, now, now, m.input, args.idempotencyKey, m.maxAttempts));
    if (!ins.next())
        return fail(ErrorCode::Internal, QStringLiteral("INSERT ... RETURNING gave no row"));
    const std::int64_t seq = ins.int64(0);
    ins.finish();
    int pos = 0;
    for (const auto &[tag, value] : m.tags)
        TRY(t.db().run("INSERT OR REPLACE INTO run_tags (seq, tag, value, pos) VALUES (?, ?, ?, ?)", seq, tag, value,
                       pos++));
    return WorkflowCreateResult{m, true};
}

Result<WorkflowClaimResult> workflowClaim(WriteTxn &t, const WorkflowClaimArgs &args)
{
    TRY(checkTtl(args.ttlSeconds));
    TRY_ASSIGN(run, loadRun(t.db(), args.runId));
    if (!run) {
        WorkflowClaimResult res;
        res.runId = args.runId;
        res.reason = runNotFoundReason(args.runId);
        return res;
    }
    return claimRun(t, *run, args.agentId, args.ttlSeconds, args.principal, nowSeconds());
}

Result<WorkflowClaimResult> workflowClaimNext(WriteTxn &t, const WorkflowClaimArgs &args)
{
    TRY(checkTtl(args.ttlSeconds));
    // The oldest claimable match. A candidate at its max_attempts is marked failed by
    // claimRun() and the search goes on with the next one.
    for (;;) {
        const double now = nowSeconds();
        // Walk the open runs oldest first and stop at the first claimable one: without tags on
        // the partial index workflows_open, with tags on run_tags_open (the open runs carrying
        // the first tag; migration 003), so finished runs are never visited.
        QString sql;
        QVariantList binds;
        if (args.tags.empty()) {
            sql = QStringLiteral("SELECT w.seq FROM workflows w INDEXED BY workflows_open WHERE 1");
        } else {
            sql = QStringLiteral("SELECT w.seq FROM run_tags t INDEXED BY run_tags_open JOIN workflows w ON w.seq = t.seq "
                                 "WHERE t.tag = ? AND t.value = ? AND t.open = 1");
            binds << bindable(args.tags.front().first) << bindable(args.tags.front().second);
            appendTagsExist(sql, binds, args.tags, 1);
        }
        sql += QStringLiteral(" AND w.status IN ('created', 'claimed', 'running') AND "
                              "(w.claim_expires_at IS NULL OR w.claim_expires_at <= ?)");
        binds << bindable(now);
        if (!args.name.isEmpty()) {
            sql += QStringLiteral(" AND w.name = ?");
            binds << bindable(args.name);
        }
        // Ordered by the walked index's own seq, so that SQLite stops at the first match instead
        // of sorting every candidate.
        sql += args.tags.empty() ? QStringLiteral(" ORDER BY w.seq LIMIT 1") : QStringLiteral(" ORDER BY t.seq LIMIT 1");
        std::optional<std::int64_t> seq;
        {
            TRY_ASSIGN(st, t.db().query(sql, binds));
            if (st.next())
                seq = st.int64(0);
        }
        std::optional<RunRow> run;
        if (seq) {
            TRY_ASSIGN(st, t.db().run("SELECT " SIDECAR_RUN_COLUMNS " FROM workflows WHERE seq = ?", *seq));
            if (st.next())
                run = readRun(st);
        }
        if (!run) {
            WorkflowClaimResult res;
            res.reason = QStringLiteral("No claimable workflow run");
            return res;
        }
        TRY(loadTags(t.db(), *run));
        TRY_ASSIGN(res, claimRun(t, *run, args.agentId, args.ttlSeconds, args.principal, now));
        if (res.claimed || run->meta.status != QLatin1String("failed"))
            return res;
    }
}

Result<WorkflowHeartbeatResult> workflowHeartbeat(WriteTxn &t, const WorkflowHeartbeatArgs &args)
{
    if (args.ttlSeconds)
        TRY(checkTtl(*args.ttlSeconds));
    WorkflowHeartbeatResult res;
    res.runId = args.runId;
    const double now = nowSeconds();
    TRY_ASSIGN(held, loadHeldRun(t.db(), args.runId, args.agentId, args.fence, now));
    if (held.refusal) {
        res.reason = held.refusal;
        return res;
    }
    RunRow *run = &*held.run;
    WorkflowMeta &m = run->meta;
    const double ttl = args.ttlSeconds.value_or(run->claimTtl.value_or(t.options().defaultClaimTtl));
    m.claimExpiresAt = now + ttl;
    m.updatedAt = now;
    json::Writer w(64);
    w.beginObject().field("claim_expires_at", *m.claimExpiresAt).fieldIf("fence", m.fence).endObject();
    TRY(t.mutate("workflow", "heartbeat", m.runId, w.take(), std::nullopt, args.agentId, args.principal, now));
    TRY(t.db().run("UPDATE workflows SET claim_expires_at = ?, updated_at = ? WHERE seq = ?", *m.claimExpiresAt, now,
                   run->seq));
    res.ok = true;
    res.claimExpiresAt = m.claimExpiresAt;
    return res;
}

Result<WorkflowCheckpointResult> workflowCheckpoint(WriteTxn &t, const WorkflowCheckpointArgs &args)
{
    if (args.step < 0)
        return fail(ErrorCode::InvalidArgument, QStringLiteral("step must be at least 0"));
    WorkflowCheckpointResult res;
    res.runId = args.runId;
    res.step = args.step;
    TRY_ASSIGN(run, loadRun(t.db(), args.runId));
    if (!run) {
        res.reason = runNotFoundReason(args.runId);
        return res;
    }
    WorkflowMeta &m = run->meta;
    const double now = nowSeconds();
    if (isFinished(m.status)) {
        res.reason = runStatusReason(m);
        return res;
    }
    // With agent_id or fence the caller says it holds the claim: refuse unless it does. Without
    // both it is the original package's unfenced path, accepted as is.
    const bool fenced = args.agentId || args.fence;
    if (fenced) {
        if (auto why = claimMismatch(m, args.agentId, args.fence, now)) {
            res.reason = why;
            return res;
        }
    }
    std::optional<QByteArray> previous;
    {
        TRY_ASSIGN(st, t.db().run("SELECT output FROM step_outputs WHERE seq = ? AND step = ?", run->seq, args.step));
        if (st.next())
            previous = st.json(0);
    }
    auto stepJson = [&](const QByteArray &output) {
        json::Writer w(output.size() + 32);
        w.beginObject().field("step", args.step).fieldRaw("output", output).endObject();
        return w.take();
    };
    const std::optional<QString> agent = fenced ? m.agentId : args.agentId;
    // A fence value or NULL (spelled as a QVariant: g++ 12 warns, falsely, that an optional
    // built by ?: may be used uninitialised at -O2).
    const QVariant fence = fenced && m.fence ? QVariant(qlonglong(*m.fence)) : QVariant();
    TRY_ASSIGN(rev, t.mutate("workflow", "checkpoint", m.runId, stepJson(args.output),
                             previous ? std::optional<QByteArray>(stepJson(*previous)) : std::nullopt, agent,
                             args.principal, now));
    TRY(t.db().run("INSERT INTO step_outputs (seq, step, output, written_at, agent_id, fence) VALUES (?, ?, ?, ?, ?, ?) "
                   "ON CONFLICT (seq, step) DO UPDATE SET output = excluded.output, written_at = excluded.written_at, "
                   "agent_id = excluded.agent_id, fence = excluded.fence",
                   run->seq, args.step, args.output, now, agent, fence));
    if (m.status == QLatin1String("created") || m.status == QLatin1String("claimed"))
        m.status = QStringLiteral("running");
    m.lastStep = std::max(m.lastStep, args.step);
    // The holder's checkpoint extends its claim by the claim's own ttl.
    if (fenced)
        m.claimExpiresAt = now + run->claimTtl.value_or(t.options().defaultClaimTtl);
    TRY(t.db().run("UPDATE workflows SET status = ?, last_step = ?, claim_expires_at = ?, updated_at = ? WHERE seq = ?",
                   m.status, m.lastStep, m.claimExpiresAt, now, run->seq));
    res.ok = true;
    res.revision = rev;
    return res;
}

Result<WorkflowCompleteResult> workflowComplete(WriteTxn &t, const WorkflowCompleteArgs &args)
{
    WorkflowCompleteResult res;
    res.runId = args.runId;
    res.status = args.status;
    if (args.status != QLatin1String("done") && args.status != QLatin1String("failed"))
        return fail(ErrorCode::InvalidArgument, QStringLiteral("status must be 'done' or 'failed'"));
    const double now = nowSeconds();
    TRY_ASSIGN(held, loadHeldRun(t.db(), args.runId, args.agentId, args.fence, now));
    if (held.refusal) {
        res.reason = held.refusal;
        return res;
    }
    const RunRow *run = &*held.run;
    const WorkflowMeta &m = run->meta;
    const QByteArray previous = statusJson(m.status);
    TRY(t.mutate("workflow", "complete", m.runId, statusJson(args.status, args.result), previous, args.agentId,
                 args.principal, now));
    TRY(t.db().run("UPDATE workflows SET status = ?, result = ?, claim_expires_at = NULL, updated_at = ? WHERE seq = ?",
                   args.status, args.result, now, run->seq));
    res.ok = true;
    return res;
}

// ---------------------------------------------------------------- leases

Result<LeaseAcquireResult> leaseAcquire(WriteTxn &t, const LeaseAcquireArgs &args)
{
    TRY(checkTtl(args.ttlSeconds));
    const double now = nowSeconds();
    LeaseAcquireResult res;
    res.resourceId = args.resourceId;
    TRY_ASSIGN(lease, loadLease(t.db(), args.resourceId));
    TRY(expireLeaseIfLapsed(t, args.resourceId, lease, now));
    if (lease && lease->holder != args.holderId) {
        res.holder = lease->holder;
        res.reason = heldByReason(lease->holder);
        return res;
    }
    const double expiresAt = now + args.ttlSeconds;
    if (lease) {
        // The live holder acquiring again: extend, keeping the grant's fence.
        TRY(t.mutate("lease", "acquire", args.resourceId, leaseJson(args.holderId, expiresAt, lease->fence),
                     leaseJson(lease->holder, lease->expiresAt, lease->fence), args.holderId, args.principal, now));
        TRY(t.db().run("UPDATE leases SET expires_at = ? WHERE resource_id = ?", expiresAt, args.resourceId));
        res.fence = lease->fence;
    } else {
        const std::int64_t rev = t.nextRevision();
        TRY(t.record(rev, "lease", "acquire", args.resourceId, leaseJson(args.holderId, expiresAt, rev), std::nullopt,
                     args.holderId, args.principal, now));
        TRY(t.db().run("INSERT INTO leases (resource_id, holder, expires_at, fence, granted_at) VALUES (?, ?, ?, ?, ?)",
                       args.resourceId, args.holderId, expiresAt, rev, now));
        res.fence = rev;
    }
    res.acquired = true;
    res.holder = args.holderId;
    res.expiresAt = expiresAt;
    return res;
}

Result<bool> leaseRelease(WriteTxn &t, const LeaseReleaseArgs &args)
{
    const double now = nowSeconds();
    TRY_ASSIGN(lease, loadLease(t.db(), args.resourceId));
    if (!lease || lease->expiresAt <= now || lease->holder != args.holderId || (args.fence && *args.fence != lease->fence))
        return false;
    TRY(t.db().run("DELETE FROM leases WHERE resource_id = ?", args.resourceId));
    TRY(t.mutate("lease", "release", args.resourceId, std::nullopt,
                 leaseJson(lease->holder, lease->expiresAt, lease->fence), args.holderId, args.principal, now));
    return true;
}

Result<LeaseRenewResult> leaseRenew(WriteTxn &t, const LeaseRenewArgs &args)
{
    TRY(checkTtl(args.ttlSeconds));
    const double now = nowSeconds();
    LeaseRenewResult res;
    res.resourceId = args.resourceId;
    TRY_ASSIGN(lease, loadLease(t.db(), args.resourceId));
    if (!lease || lease->expiresAt <= now || lease->holder != args.holderId || (args.fence && *args.fence != lease->fence))
        return res;
    const double expiresAt = now + args.ttlSeconds;
    TRY(t.mutate("lease", "renew", args.resourceId, leaseJson(lease->holder, expiresAt, lease->fence),
                 leaseJson(lease->holder, lease->expiresAt, lease->fence), args.holderId, args.principal, now));
    TRY(t.db().run("UPDATE leases SET expires_at = ? WHERE resource_id = ?", expiresAt, args.resourceId));
    res.renewed = true;
    res.expiresAt = expiresAt;
    res.fence = lease->fence;
    return res;
}

// ---------------------------------------------------------------- sessions

namespace {

Result<std::optional<QByteArray>> loadSessionContext(Connection &db, const QString &sessionId)
{
    TRY_ASSIGN(st, db.run("SELECT context FROM sessions WHERE session_id = ?", sessionId));
    if (!st.next())
        return std::optional<QByteArray>();
    return std::optional<QByteArray>(st.json(0));
}

} // namespace

Result<SessionSaveResult> sessionSave(WriteTxn &t, const SessionSaveArgs &args)
{
    const double now = nowSeconds();
    TRY_ASSIGN(previous, loadSessionContext(t.db(), args.sessionId));
    TRY_ASSIGN(rev, t.mutate("session", "save", args.sessionId, args.context, previous, args.agentId, args.principal,
                             now));
    TRY(t.db().run("INSERT INTO sessions (session_id, context, saved_at, updated_at, agent_id) VALUES (?, ?, ?, ?, ?) "
                   "ON CONFLICT (session_id) DO UPDATE SET context = excluded.context, "
                   "updated_at = excluded.updated_at, agent_id = excluded.agent_id",
                   args.sessionId, args.context, now, now, args.agentId));
    SessionSaveResult res;
    res.ok = true;
    res.sessionId = args.sessionId;
    res.updatedAt = now;
    res.revision = rev;
    return res;
}

Result<bool> sessionDelete(WriteTxn &t, const SessionDeleteArgs &args)
{
    const double now = nowSeconds();
    TRY_ASSIGN(previous, loadSessionContext(t.db(), args.sessionId));
    if (!previous)
        return false;
    TRY(t.db().run("DELETE FROM sessions WHERE session_id = ?", args.sessionId));
    TRY(t.mutate("session", "delete", args.sessionId, std::nullopt, previous, std::nullopt, args.principal, now));
    return true;
}

// ---------------------------------------------------------------- store

Result<ResetResult> reset(WriteTxn &t, const QString &principal)
{
    const double now = nowSeconds();
    TRY_ASSIGN(cleared, t.db().scalar(QStringLiteral("SELECT (SELECT COUNT(*) FROM kv) + (SELECT COUNT(*) FROM "
                                                     "workflows) + (SELECT COUNT(*) FROM leases) + (SELECT COUNT(*) "
                                                     "FROM sessions)")));
    for (const char *sql : {"DELETE FROM kv", "DELETE FROM workflows", "DELETE FROM run_tags",
                            "DELETE FROM step_outputs", "DELETE FROM leases", "DELETE FROM sessions"})
        TRY(t.db().run(sql));
    TRY(t.clearHistory());
    json::Writer w(32);
    w.beginObject().field("cleared", std::int64_t(cleared)).endObject();
    TRY(t.mutate("store", "reset", QString(), w.take(), std::nullopt, std::nullopt, principal, now));
    return ResetResult{true, cleared};
}

Result<bool> hasExpired(Connection &db)
{
    const double now = nowSeconds();
    TRY_ASSIGN(n, db.scalar(QStringLiteral("SELECT EXISTS (SELECT 1 FROM kv WHERE expires_at <= ?) OR "
                                           "EXISTS (SELECT 1 FROM leases WHERE expires_at <= ?)"),
                            {bindable(now), bindable(now)}));
    return n != 0;
}

Result<int> sweepExpired(WriteTxn &t, int max)
{
    const double now = nowSeconds();
    int removed = 0;
    struct Expired
    {
        QString id;
        QByteArray value;
    };
    std::vector<Expired> keys;
    {
        TRY_ASSIGN(st, t.db().run("SELECT key, value FROM kv WHERE expires_at <= ? ORDER BY expires_at LIMIT ?", now,
                                  max));
        while (st.next())
            keys.push_back({st.text(0), st.json(1)});
    }
    for (const Expired &e : keys) {
        TRY(t.db().run("DELETE FROM kv WHERE key = ?", e.id));
        TRY(t.mutate("kv", "expire", e.id, std::nullopt, e.value, std::nullopt, QString(), now));
        ++removed;
    }
    std::vector<Expired> leases;
    {
        TRY_ASSIGN(st, t.db().run("SELECT resource_id, holder, expires_at, fence FROM leases WHERE expires_at <= ? "
                                  "ORDER BY expires_at LIMIT ?",
                                  now, max));
        while (st.next())
            leases.push_back({st.text(0), leaseJson(st.text(1), st.real(2), st.int64(3))});
    }
    for (const Expired &e : leases) {
        TRY(t.db().run("DELETE FROM leases WHERE resource_id = ?", e.id));
        TRY(t.mutate("lease", "expire", e.id, std::nullopt, e.value, std::nullopt, QString(), now));
        ++removed;
    }
    return removed;
}

} // namespace sidecar::store::sqlite
