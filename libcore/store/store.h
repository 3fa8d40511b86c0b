#pragma once

// The storage seam. Every backend (SqliteStore, later RedisStore) implements the same
// asynchronous interface, and one contract test suite (tests/unit/storecontract.*) runs
// the same cases over each of them.
//
// Threading: a Store is a QObject owned by one thread (the server's main thread). Every
// operation returns at once; its callback runs later on that owning thread, never inside
// the call itself. Callbacks run even on failure (with an Error) and on shutdown (pending
// operations are finished, not dropped: see close()).
//
// Semantics are the contract's (docs/contract/TOOLS.md). Every mutation takes the next
// value of one store-wide, strictly increasing revision and writes one history entry in the
// same atomic step. JSON values (`value`, `input`, `output`, `result`, `context`, history
// values) travel as their compact JSON text, byte for byte as the client sent them.
// Identifiers are UTF-8 strings. Times are Unix epoch seconds (double).
//
// Conditions that fail are results (ok:false + reason), not errors. Errors are for bad
// arguments the tools layer could not catch, missing runs where the contract says
// not_found, too-large lists, and backend failures (Unavailable / Internal).

#include <QByteArray>
#include <QObject>
#include <QString>
#include <QStringList>

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <vector>

#include "protocol/result.h"

namespace sidecar::store {

template<class T>
using Callback = std::function<void(Result<T>)>;

// ---------------------------------------------------------------- key-value

struct LeaseGuard
{
    QString resourceId;
    QString holderId;
    std::optional<std::int64_t> fence;
};

struct KvSetArgs
{
    QString key;
    QByteArray value; // compact JSON text
    std::optional<double> ttlSeconds;
    std::optional<QString> agentId;
    std::optional<std::int64_t> ifVersion; // 0 = only if absent
    std::optional<LeaseGuard> requireLease;
    QString principal; // empty when tokens are off
};

struct KvDeleteArgs
{
    QString key;
    std::optional<QString> agentId;
    std::optional<std::int64_t> ifVersion;
    std::optional<LeaseGuard> requireLease;
    QString principal;
};

// Result of state_set / state_delete.
struct KvWriteResult
{
    bool ok = false;
    std::int64_t version = 0;  // ok: the key's new version (set) ; 0 on delete
    std::int64_t revision = 0; // ok: the revision of this write
    std::optional<double> expiresAt;
    bool conflict = false;              // a failed if_version
    std::optional<std::int64_t> currentVersion; // with conflict: 0 when absent
    std::optional<QString> reason;      // why ok is false
};

struct KvEntry
{
    QString key;
    bool found = false;
    QByteArray value; // compact JSON, empty when not found
    std::int64_t version = 0;
    std::optional<double> expiresAt;
    double updatedAt = 0;
    std::optional<QString> agentId;
    std::int64_t revision = 0; // the store's revision at the read
};

struct KvListArgs
{
    QString prefix;              // empty = all
    std::optional<QChar> delimiter;
    std::optional<int> limit;    // absent: every match up to maxList
    QString cursor;              // opaque; empty = start
};

struct KvListResult
{
    QStringList keys;
    std::optional<QStringList> prefixes; // present when a delimiter was given
    std::optional<QString> nextCursor;
    std::int64_t revision = 0;
};

// ---------------------------------------------------------------- workflows

struct WorkflowCreateArgs
{
    QString name;
    std::vector<std::pair<QString, QString>> tags; // in the order sent
    std::optional<QByteArray> input;               // compact JSON
    std::optional<QString> idempotencyKey;
    std::optional<std::int64_t> maxAttempts;
    QString principal;
};

struct WorkflowMeta
{
    QString runId;
    QString name;
    QString status; // created | claimed | running | done | failed
    std::vector<std::pair<QString, QString>> tags;
    std::optional<QString> agentId;
    std::int64_t lastStep = 0;
    double createdAt = 0;
    double updatedAt = 0;
    std::optional<QByteArray> input;
    std::optional<QByteArray> result;
    std::optional<double> claimExpiresAt;
    std::optional<std::int64_t> fence;
    std::optional<std::int64_t> attempt;
    std::optional<std::int64_t> maxAttempts;
};

struct WorkflowCreateResult
{
    WorkflowMeta run;
    bool created = true; // false: an existing run returned for a known idempotency key
};

struct WorkflowDiscoverArgs
{
    std::vector<std::pair<QString, QString>> tags; // all must match; empty = no filter
    QString status;                                // empty = no filter
    QString name;                                  // empty = no filter
    std::optional<bool> claimable;
    std::optional<int> limit;
    QString cursor;
};

struct WorkflowListResult
{
    std::vector<WorkflowMeta> runs; // newest first
    std::optional<QString> nextCursor;
};

struct WorkflowClaimArgs
{
    QString runId;   // empty for claim_next
    QString agentId;
    double ttlSeconds = 300;
    // claim_next filters
    std::vector<std::pair<QString, QString>> tags;
    QString name;
    QString principal;
};

struct WorkflowClaimResult
{
    bool claimed = false;
    std::optional<QString> runId; // null only for claim_next with nothing to claim
    std::optional<QString> agentId; // null when not claimed
    std::optional<QString> reason;  // null when claimed
    std::optional<std::int64_t> fence;
    std::optional<double> claimExpiresAt;
    std::optional<std::int64_t> attempt;
};

struct WorkflowHeartbeatArgs
{
    QString runId;
    QString agentId;
    std::optional<double> ttlSeconds; // absent: the claim's own ttl
    std::optional<std::int64_t> fence;
    QString principal;
};

struct WorkflowHeartbeatResult
{
    bool ok = false;
    QString runId;
    std::optional<double> claimExpiresAt;
    std::optional<QString> reason;
};

struct WorkflowCheckpointArgs
{
    QString runId;
    std::int64_t step = 0;
    QByteArray output; // compact JSON
    std::optional<QString> agentId;
    std::optional<std::int64_t> fence;
    QString principal;
};

struct WorkflowCheckpointResult
{
    bool ok = false;
    QString runId;
    std::int64_t step = 0;
    std::optional<std::int64_t> revision;
    std::optional<QString> reason;
};

struct WorkflowCompleteArgs
{
    QString runId;
    QString agentId;
    QString status; // done | failed
    std::optional<QByteArray> result;
    std::optional<std::int64_t> fence;
    QString principal;
};

struct WorkflowCompleteResult
{
    bool ok = false;
    QString runId;
    QString status;
    std::optional<QString> reason;
};

struct StepMeta
{
    double writtenAt = 0;
    std::optional<QString> agentId;
    std::optional<std::int64_t> fence;
};

struct WorkflowResumeResult
{
    QString runId;
    std::int64_t lastStep = 0;
    // ascending by step
    std::vector<std::pair<std::int64_t, QByteArray>> stepOutputs;
    std::vector<std::pair<std::int64_t, StepMeta>> stepMeta;
    WorkflowMeta meta;
};

// ---------------------------------------------------------------- leases

struct LeaseAcquireArgs
{
    QString resourceId;
    QString holderId;
    double ttlSeconds = 0;
    QString principal;
};

struct LeaseAcquireResult
{
    bool acquired = false;
    QString resourceId;
    std::optional<QString> holder;   // winner, or the current holder when refused
    std::optional<double> expiresAt; // null when refused
    std::optional<QString> reason;   // null when acquired
    std::optional<std::int64_t> fence;
};

struct LeaseReleaseArgs
{
    QString resourceId;
    QString holderId;
    std::optional<std::int64_t> fence;
    QString principal;
};

struct LeaseRenewArgs
{
    QString resourceId;
    QString holderId;
    double ttlSeconds = 0;
    std::optional<std::int64_t> fence;
    QString principal;
};

struct LeaseRenewResult
{
    bool renewed = false;
    QString resourceId;
    std::optional<double> expiresAt;
    std::optional<std::int64_t> fence;
};

struct LeaseInfo
{
    QString resourceId;
    QString holder;
    double expiresAt = 0;
    std::int64_t fence = 0;
};

struct PrefixListArgs
{
    QString prefix;
    std::optional<int> limit;
    QString cursor;
};

struct LeaseListResult
{
    std::vector<LeaseInfo> leases;
    std::optional<QString> nextCursor;
};

// ---------------------------------------------------------------- sessions

struct SessionSaveArgs
{
    QString sessionId;
    QByteArray context; // compact JSON object
    std::optional<QString> agentId;
    QString principal;
};

struct SessionSaveResult
{
    bool ok = false;
    QString sessionId;
    double updatedAt = 0;
    std::int64_t revision = 0;
};

struct SessionRestoreResult
{
    bool found = false;
    QString sessionId;
    std::optional<QByteArray> context;
    std::optional<double> savedAt;
    std::optional<double> updatedAt;
};

struct SessionInfo
{
    QString sessionId;
    double savedAt = 0;
    double updatedAt = 0;
};

struct SessionListResult
{
    std::vector<SessionInfo> sessions;
    std::optional<QString> nextCursor;
};

struct SessionDeleteArgs
{
    QString sessionId;
    QString principal;
};

// ---------------------------------------------------------------- history

struct HistoryEntry
{
    std::int64_t id = 0;
    std::int64_t revision = 0;
    QString kind; // kv | workflow | lease | session | store
    QString op;   // set | delete | expire | create | claim | heartbeat | checkpoint | complete
                  // | acquire | renew | release | save | reset
    QString key;
    std::optional<QByteArray> newValue;      // compact JSON
    std::optional<QByteArray> previousValue; // compact JSON
    std::optional<QString> agentId;
    std::optional<QString> principal;
    double writtenAt = 0;
};

struct HistoryQuery
{
    QString key;    // exact; empty = any
    QString prefix; // empty = any
    QString kind;   // empty = any
    int n = 10;     // 1..1000
    std::optional<std::int64_t> beforeRevision;
};

struct HistoryResult
{
    std::vector<HistoryEntry> entries; // newest first
    bool more = false;
};

// Changes after a revision, oldest first (for state_watch and resource subscriptions).
struct ChangesQuery
{
    std::int64_t sinceRevision = 0; // exclusive
    QString key;                    // exact; empty = any
    QString prefix;                 // empty = any
    QString kind;                   // empty = any
    int limit = 1000;
};

struct ChangesResult
{
    std::vector<HistoryEntry> entries; // ascending revision
    bool more = false;
    bool compacted = false;  // sinceRevision is older than the oldest retained history
    std::int64_t revision = 0; // the store's revision when read
};

// ---------------------------------------------------------------- observability

struct HealthInfo
{
    QString status; // ok | degraded | error
    QString backend;
    std::int64_t keyCount = 0;
    std::int64_t workflowCount = 0;
    std::int64_t leaseCount = 0;
    std::int64_t sessionCount = 0;
    std::int64_t revision = 0;
    std::vector<std::pair<QString, std::int64_t>> workflowsByStatus; // statuses with runs
};

struct ResetResult
{
    bool ok = false;
    std::int64_t cleared = 0;
};

// ---------------------------------------------------------------- MCP sessions

// What an MCP HTTP session is, kept in the store so that every sidecar sharing it can serve the
// session's next request (no sticky sessions behind a load balancer), and so that a session
// outlives a restart. Not state: no revision, no history, not counted or listed by any tool,
// not cleared by reset. A record past expiresAt is gone.
struct McpSessionRecord
{
    QByteArray id;           // Mcp-Session-Id
    QString protocolVersion; // negotiated at initialize
    QString principal;       // the token name that created it (empty: tokens off)
    QStringList subscriptions; // resource URIs as the client spelled them
    double expiresAt = 0;    // Unix seconds: the session ends when idle past it
};

// ---------------------------------------------------------------- the seam

class Store : public QObject
{
    Q_OBJECT
public:
    using QObject::QObject;
    ~Store() override = default;

    // Name for sidecar_health.backend ("sqlite", "redis").
    virtual QString backendName() const = 0;

    // Finishes every queued operation (answering its callback) and releases the backend.
    // Blocks the caller until done. Idempotent.
    virtual void close() = 0;

    virtual void kvGet(const QString &key, Callback<KvEntry> done) = 0;
    virtual void kvSet(const KvSetArgs &args, Callback<KvWriteResult> done) = 0;
    virtual void kvDelete(const KvDeleteArgs &args, Callback<KvWriteResult> done) = 0;
    virtual void kvList(const KvListArgs &args, Callback<KvListResult> done) = 0;

    virtual void workflowCreate(const WorkflowCreateArgs &args, Callback<WorkflowCreateResult> done) = 0;
    virtual void workflowDiscover(const WorkflowDiscoverArgs &args, Callback<WorkflowListResult> done) = 0;
    virtual void workflowClaim(const WorkflowClaimArgs &args, Callback<WorkflowClaimResult> done) = 0;
    virtual void workflowClaimNext(const WorkflowClaimArgs &args, Callback<WorkflowClaimResult> done) = 0;
    virtual void workflowHeartbeat(const WorkflowHeartbeatArgs &args, Callback<WorkflowHeartbeatResult> done) = 0;
    virtual void workflowCheckpoint(const WorkflowCheckpointArgs &args, Callback<WorkflowCheckpointResult> done) = 0;
    virtual void workflowComplete(const WorkflowCompleteArgs &args, Callback<WorkflowCompleteResult> done) = 0;
    // NotFound for an unknown run.
    virtual void workflowResume(const QString &runId, Callback<WorkflowResumeResult> done) = 0;
    virtual void workflowStatus(const QString &runId, Callback<WorkflowMeta> done) = 0;

    virtual void leaseAcquire(const LeaseAcquireArgs &args, Callback<LeaseAcquireResult> done) = 0;
    virtual void leaseRelease(const LeaseReleaseArgs &args, Callback<bool> done) = 0;
    virtual void leaseRenew(const LeaseRenewArgs &args, Callback<LeaseRenewResult> done) = 0;
    virtual void leaseList(const PrefixListArgs &args, Callback<LeaseListResult> done) = 0;

    virtual void sessionSave(const SessionSaveArgs &args, Callback<SessionSaveResult> done) = 0;
    virtual void sessionRestore(const QString &sessionId, Callback<SessionRestoreResult> done) = 0;
    virtual void sessionList(const PrefixListArgs &args, Callback<SessionListResult> done) = 0;
    virtual void sessionDelete(const SessionDeleteArgs &args, Callback<bool> done) = 0;

    virtual void historyLog(const HistoryQuery &query, Callback<HistoryResult> done) = 0;
    virtual void changes(const ChangesQuery &query, Callback<ChangesResult> done) = 0;

    // MCP sessions (see McpSessionRecord): put replaces the whole record; get answers nullopt for
    // an unknown or expired id; delete answers whether a live record was there.
    virtual void mcpSessionPut(const McpSessionRecord &record, Callback<bool> done) = 0;
    virtual void mcpSessionGet(const QByteArray &id, Callback<std::optional<McpSessionRecord>> done) = 0;
    virtual void mcpSessionDelete(const QByteArray &id, Callback<bool> done) = 0;

    virtual void health(Callback<HealthInfo> done) = 0;
    virtual void reset(const QString &principal, Callback<ResetResult> done) = 0;

signals:
    // Emitted on the owning thread after this store (or, where the backend can tell, another
    // process sharing it) committed changes up to `revision`. Drives watches and subscriptions.
    void changed(qint64 revision);
};

// Limits and policies every backend applies; filled from the configuration.
struct StoreOptions
{
    double defaultClaimTtl = 300;
    std::int64_t historyLimit = 1000000;
    std::int64_t historyMaxBytes = std::int64_t(1) << 30;
    std::int64_t maxList = 100000;
    std::int64_t maxReplyBytes = std::int64_t(16) << 20;
    bool durable = true; // SIDECAR_DURABILITY=full
    // Told about every write transaction (its size, how long it took, whether it committed);
    // called on the backend's own thread, so it must be thread-safe. For metrics.
    std::function<void(std::int64_t batchSize, double seconds, bool committed)> commitObserver;
};

} // namespace sidecar::store
