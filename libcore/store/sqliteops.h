#pragma once

// The SQLite backend's operations as plain functions over a connection, apart from the
// threads and queues of SqliteStore (sqlitestore.h) that call them.
//
// Writes run inside the writer's open BEGIN IMMEDIATE transaction, each in its own SAVEPOINT,
// through a WriteTxn that hands out revisions and writes history entries. Reads run inside a
// read transaction on the reader's connection (one consistent snapshot per read). Semantics
// are the contract's (docs/contract/TOOLS.md); the comments here say only how.
//
// Thread: every function runs on the thread that owns the connection it is given.

#include <QString>

#include <cstdint>
#include <optional>

#include "protocol/result.h"
#include "store/sqlitedb.h"
#include "store/store.h"

// Inside functions returning a Result: return the error of a failed Result expression
// (TRY), or declare `var` as the value of a successful one (TRY_ASSIGN).
#define TRY(expr)                                  \
    do {                                           \
        if (auto r_ = (expr); !r_)                 \
            return tl::unexpected(r_.error());     \
    } while (0)

#define TRY_ASSIGN(var, expr)                      \
    auto var##_r = (expr);                         \
    if (!var##_r)                                  \
        return tl::unexpected(var##_r.error());    \
    auto var = std::move(*var##_r)

namespace sidecar::store::sqlite {

// The writer's view of one transaction: the store-wide counters (read from `meta` at BEGIN,
// since another process may have advanced them, and written back before COMMIT) and the
// history writer.
class WriteTxn
{
public:
    WriteTxn(Connection &connection, const StoreOptions &options);

    // Reads the counters from `meta`; call right after BEGIN IMMEDIATE.
    Result<void> load();
    // Applies history retention and writes the counters back; call right before COMMIT.
    Result<void> save();

    Connection &db() { return m_db; }
    const StoreOptions &options() const { return m_options; }

    std::int64_t revision() const { return m_revision; }
    // The next revision, for the mutation about to be recorded.
    std::int64_t nextRevision() { return ++m_revision; }

    // Writes one history entry for revision `rev` (from nextRevision()).
    Result<void> record(std::int64_t rev, const char *kind, const char *op, const QString &key,
                        const std::optional<QByteArray> &newValue, const std::optional<QByteArray> &previousValue,
                        const std::optional<QString> &agentId, const QString &principal, double at);
    // nextRevision() + record().
    Result<std::int64_t> mutate(const char *kind, const char *op, const QString &key,
                                const std::optional<QByteArray> &newValue,
                                const std::optional<QByteArray> &previousValue,
                                const std::optional<QString> &agentId, const QString &principal, double at);

    // Empties the history (reset): everything up to the current revision counts as dropped.
    Result<void> clearHistory();

    // The counters, saved before each operation's SAVEPOINT and restored when it rolls back.
    struct Counters
    {
        std::int64_t revision = 0;
        std::int64_t historyFloor = 0;
        std::int64_t historyCount = 0;
        std::int64_t historyBytes = 0;
    };
    Counters counters() const { return {m_revision, m_historyFloor, m_historyCount, m_historyBytes}; }
    void restore(const Counters &c);
    bool changed() const { return m_revision != m_loaded.revision || m_historyFloor != m_loaded.historyFloor; }

private:
    Result<void> trimHistory();
    Connection &m_db;
    const StoreOptions &m_options;
    std::int64_t m_revision = 0;
    std::int64_t m_historyFloor = 0;
    std::int64_t m_historyCount = 0;
    std::int64_t m_historyBytes = 0;
    Counters m_loaded;
};

// ---------------------------------------------------------------- shared row helpers

// The columns readRun() expects, in order.
#define SIDECAR_RUN_COLUMNS                                                                        \
    "seq, run_id, name, status, agent_id, last_step, created_at, updated_at, input, result, "      \
    "max_attempts, attempt, fence, claim_expires_at, claim_ttl"

struct RunRow
{
    std::int64_t seq = 0;
    WorkflowMeta meta;
    std::optional<double> claimTtl;
};

// A RunRow from the current row of a "SELECT " SIDECAR_RUN_COLUMNS statement (tags not loaded).
RunRow readRun(const Statement &st);
Result<void> loadTags(Connection &db, RunRow &run);
// The run with that id, tags included; nullopt when unknown.
Result<std::optional<RunRow>> loadRun(Connection &db, const QString &runId);

// Appends "AND <the run has every tag>" to a query on `workflows w`: the first tag as an IN
// list from the run_tags_match index (so that a selective tag drives the query), the others
// as EXISTS probes.
void appendTagFilter(QString &sql, QVariantList &binds, const std::vector<std::pair<QString, QString>> &tags);
// The runs (alias w) that also carry tags[from..]: one EXISTS per tag.
void appendTagsExist(QString &sql, QVariantList &binds, const std::vector<std::pair<QString, QString>> &tags,
                     std::size_t from);

bool isFinished(const QString &status);
// Contract wording (TOOLS.md, "Compatibility").
QString runNotFoundReason(const QString &runId);
QString runStatusReason(const WorkflowMeta &run);
QString heldByReason(const QString &holder);

// ---------------------------------------------------------------- writes
Result<KvWriteResult> kvSet(WriteTxn &t, const KvSetArgs &args);
Result<KvWriteResult> kvDelete(WriteTxn &t, const KvDeleteArgs &args);

Result<WorkflowCreateResult> workflowCreate(WriteTxn &t, const WorkflowCreateArgs &args);
Result<WorkflowClaimResult> workflowClaim(WriteTxn &t, const WorkflowClaimArgs &args);
Result<WorkflowClaimResult> workflowClaimNext(WriteTxn &t, const WorkflowClaimArgs &args);
Result<WorkflowHeartbeatResult> workflowHeartbeat(WriteTxn &t, const WorkflowHeartbeatArgs &args);
Result<WorkflowCheckpointResult> workflowCheckpoint(WriteTxn &t, const WorkflowCheckpointArgs &args);
Result<WorkflowCompleteResult> workflowComplete(WriteTxn &t, const WorkflowCompleteArgs &args);

Result<LeaseAcquireResult> leaseAcquire(WriteTxn &t, const LeaseAcquireArgs &args);
Result<bool> leaseRelease(WriteTxn &t, const LeaseReleaseArgs &args);
Result<LeaseRenewResult> leaseRenew(WriteTxn &t, const LeaseRenewArgs &args);

Result<SessionSaveResult> sessionSave(WriteTxn &t, const SessionSaveArgs &args);
Result<bool> sessionDelete(WriteTxn &t, const SessionDeleteArgs &args);

Result<ResetResult> reset(WriteTxn &t, const QString &principal);

// MCP session records (no revision, no history); sqlitemcpsessions.cpp.
Result<bool> mcpSessionPut(WriteTxn &t, const McpSessionRecord &record);
Result<bool> mcpSessionDelete(WriteTxn &t, const QByteArray &id);

// Removes keys and leases whose deadline passed, each with an 'expire' history entry of its
// own revision; at most `max` of each per call. Returns how many were removed.
Result<int> sweepExpired(WriteTxn &t, int max);
// Whether sweepExpired() has anything to do (a cheap indexed probe, outside a transaction).
Result<bool> hasExpired(Connection &db);

// ---------------------------------------------------------------- reads
Result<std::int64_t> readRevision(Connection &db);

Result<KvEntry> kvGet(Connection &db, const QString &key);
Result<KvListResult> kvList(Connection &db, const KvListArgs &args, const StoreOptions &options);

Result<WorkflowListResult> workflowDiscover(Connection &db, const WorkflowDiscoverArgs &args,
                                            const StoreOptions &options);
Result<WorkflowResumeResult> workflowResume(Connection &db, const QString &runId);
Result<WorkflowMeta> workflowStatus(Connection &db, const QString &runId);

Result<LeaseListResult> leaseList(Connection &db, const PrefixListArgs &args, const StoreOptions &options);

Result<SessionRestoreResult> sessionRestore(Connection &db, const QString &sessionId);
Result<SessionListResult> sessionList(Connection &db, const PrefixListArgs &args, const StoreOptions &options);

Result<HistoryResult> historyLog(Connection &db, const HistoryQuery &query);
Result<ChangesResult> changes(Connection &db, const ChangesQuery &query);

Result<HealthInfo> health(Connection &db);

Result<std::optional<McpSessionRecord>> mcpSessionGet(Connection &db, const QByteArray &id);

} // namespace sidecar::store::sqlite
