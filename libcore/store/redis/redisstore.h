#pragma once

// RedisStore: the Store (store.h) on one Redis server, shared by any number of sidecars.
//
// Role: every operation is one Lua script (resources/redis/<name>.lua, prefixed with lib.lua and its
// family prelude lib_<family>.lua when there is one),
// run with EVALSHA on a RedisConnection: the checks, the writes, the store-wide revision, the
// history entry, the indexes and the change announcement are one atomic step, with times from
// Redis's clock. docs/redis.md describes the data layout and what is supported.
//
// Change feed: a second connection in subscriber mode listens to `<prefix>changes`, on which
// every mutation publishes its revision; changed() is emitted for each new revision seen, and a
// read of the revision every second covers messages lost while a link was down. Expiry: every
// 250 ms the sweep script removes lapsed keys and leases, each with its own `expire` entry.
//
// Failures: while Redis is unreachable every operation fails at once with Unavailable (for a
// write: outcome unknown) and the connections reconnect by themselves.
//
// Thread: lives on the thread that created it; every operation is called there and its
// callback runs there, from the event loop, never inside the call.
//
// Ownership: owns its connections; close() (also run by the destructor) lets the operations in
// flight finish (each within the command timeout), answers what remains with Unavailable and
// disconnects.
//
// The operations are defined by domain: redisstore.cpp (the core: connections, scripts, sweep,
// change feed), rediskv.cpp, redisworkflows.cpp, redisleases.cpp (leases and sessions),
// redishistory.cpp (history, changes, health, reset), redisimport.cpp (workflowImport, for the
// import of the original package's Redis data).

#include <QByteArray>
#include <QHash>
#include <QList>
#include <QString>
#include <QTimer>

#include <functional>
#include <memory>
#include <utility>
#include <vector>

#include "store/redis/redisconnection.h"
#include "store/store.h"

namespace sidecar::store {

// A run of the original package's Redis data for RedisStore::workflowImport (redisimport.cpp):
// run.runId, name, status, tags (one value per tag, in order), agentId, lastStep, createdAt,
// updatedAt, input, result and attempt are kept; claimExpiresAt, fence and maxAttempts are not
// used (the claim is lapsed, as the SQLite backend's import of the original's database leaves it).
struct WorkflowImportArgs
{
    WorkflowMeta run;
    std::vector<std::pair<std::int64_t, QByteArray>> steps; // step -> output (compact JSON)
};

struct WorkflowImportResult
{
    bool imported = false; // false: a run with that id exists already (left as it is)
    std::int64_t revision = 0;
    std::int64_t seq = 0;
};

class RedisStore final : public Store
{
    Q_OBJECT
public:
    RedisStore(redis::RedisEndpoint endpoint, QString prefix, StoreOptions options,
               redis::RedisConnectionOptions connectionOptions = {}, QObject *parent = nullptr);
    ~RedisStore() override;

    // Connects and checks that Redis answers (PING) within `timeoutMs`, running a local event
    // loop meanwhile; Unavailable (with the reason, never the password) when it does not. The
    // store keeps reconnecting by itself afterwards either way. Call once.
    Result<void> open(int timeoutMs = 5000);
    bool isConnected() const;

    const QString &prefix() const { return m_prefix; }
    const StoreOptions &options() const { return m_options; }

    QString backendName() const override { return QStringLiteral("redis"); }
    void close() override;

    void kvGet(const QString &key, Callback<KvEntry> done) override;
    void kvSet(const KvSetArgs &args, Callback<KvWriteResult> done) override;
    void kvDelete(const KvDeleteArgs &args, Callback<KvWriteResult> done) override;
    void kvList(const KvListArgs &args, Callback<KvListResult> done) override;

    void workflowCreate(const WorkflowCreateArgs &args, Callback<WorkflowCreateResult> done) override;
    void workflowDiscover(const WorkflowDiscoverArgs &args, Callback<WorkflowListResult> done) override;
    void workflowClaim(const WorkflowClaimArgs &args, Callback<WorkflowClaimResult> done) override;
    void workflowClaimNext(const WorkflowClaimArgs &args, Callback<WorkflowClaimResult> done) override;
    void workflowHeartbeat(const WorkflowHeartbeatArgs &args, Callback<WorkflowHeartbeatResult> done) override;
    void workflowCheckpoint(const WorkflowCheckpointArgs &args, Callback<WorkflowCheckpointResult> done) override;
    void workflowComplete(const WorkflowCompleteArgs &args, Callback<WorkflowCompleteResult> done) override;
    void workflowResume(const QString &runId, Callback<WorkflowResumeResult> done) override;
    void workflowStatus(const QString &runId, Callback<WorkflowMeta> done) override;

    void leaseAcquire(const LeaseAcquireArgs &args, Callback<LeaseAcquireResult> done) override;
    void leaseRelease(const LeaseReleaseArgs &args, Callback<bool> done) override;
    void leaseRenew(const LeaseRenewArgs &args, Callback<LeaseRenewResult> done) override;
    void leaseList(const PrefixListArgs &args, Callback<LeaseListResult> done) override;

    void sessionSave(const SessionSaveArgs &args, Callback<SessionSaveResult> done) override;
    void sessionRestore(const QString &sessionId, Callback<SessionRestoreResult> done) override;
    void sessionList(const PrefixListArgs &args, Callback<SessionListResult> done) override;
    void sessionDelete(const SessionDeleteArgs &args, Callback<bool> done) override;

    void historyLog(const HistoryQuery &query, Callback<HistoryResult> done) override;
    void changes(const ChangesQuery &query, Callback<ChangesResult> done) override;

    void mcpSessionPut(const McpSessionRecord &record, Callback<bool> done) override;
    void mcpSessionGet(const QByteArray &id, Callback<std::optional<McpSessionRecord>> done) override;
    void mcpSessionDelete(const QByteArray &id, Callback<bool> done) override;

    void health(Callback<HealthInfo> done) override;
    void reset(const QString &principal, Callback<ResetResult> done) override;

    // Not part of Store: writes a run imported from the original package's Redis data
    // (resources/redis/wf_import.lua) with its run id, indexes, steps and one 'workflow' /
    // 'create' history entry; a run id that exists is left alone (imported = false).
    void workflowImport(const WorkflowImportArgs &args, Callback<WorkflowImportResult> done);

    // For the domain files: runs resources/redis/<name>.lua with the common arguments (prefix,
    // history limits) followed by `args`, and answers `done` with decode(reply). A Redis error
    // reply "CODE message" from the script (redis.error_reply) becomes that error code
    // (INVALID_ARGUMENT, NOT_FOUND, CONFLICT, TOO_LARGE; anything else is Internal); a broken
    // link is Unavailable. After close(), fails at once (on the next event loop turn).
    template<class T>
    void run(const char *name, QList<QByteArray> args, Callback<T> done,
             std::function<Result<T>(const redis::RedisReply &)> decode);

signals:
    // Internal: the last operation in flight was answered (close() waits for it).
    void drained();

private:
    const redis::RedisScript &script(const char *name);
    void runRaw(const char *name, QList<QByteArray> args, std::function<void(Result<redis::RedisReply>)> done);
    void sweep();
    void pollRevision();
    void noteRevision(qint64 revision);

    redis::RedisEndpoint m_endpoint;
    QString m_prefix;
    QByteArray m_prefixBytes;
    StoreOptions m_options;
    redis::RedisConnectionOptions m_connectionOptions;
    std::unique_ptr<redis::RedisConnection> m_commands;
    std::unique_ptr<redis::RedisConnection> m_subscriber;
    QHash<QByteArray, std::shared_ptr<redis::RedisScript>> m_scripts;
    QTimer m_sweepTimer;
    QTimer m_pollTimer;
    bool m_sweeping = false;
    bool m_closed = false;
    int m_inFlight = 0;       // operations sent and not answered yet
    qint64 m_lastChanged = 0; // the highest revision changed() announced
};

template<class T>
void RedisStore::run(const char *name, QList<QByteArray> args, Callback<T> done,
                     std::function<Result<T>(const redis::RedisReply &)> decode)
{
    runRaw(name, std::move(args),
           [done = std::move(done), decode = std::move(decode)](Result<redis::RedisReply> reply) {
               if (!reply) {
                   done(tl::unexpected(reply.error()));
                   return;
               }
               done(decode(*reply));
           });
}

} // namespace sidecar::store
