#pragma once

// SqliteStore: the Store (store.h) on one SQLite file through QtSql (QSQLITE, system SQLite).
//
// Role: durable state for one or more sidecar processes sharing a file. open() creates or
// migrates the schema (sqlitemigration.h: embedded versioned scripts, PRAGMA user_version, the
// original package's file converted in place after a backup) and starts two threads:
//  - the writer, with its own connection, takes every queued mutation at once and runs them in
//    ONE `BEGIN IMMEDIATE` transaction, each in its own SAVEPOINT (a failing operation is rolled
//    back alone), reads the store revision from the file at the start (another process may
//    have advanced it) and writes it back before COMMIT; only after COMMIT does it answer the
//    batch (group commit). With StoreOptions::durable it runs `PRAGMA synchronous=FULL`: an
//    answered write is on disk. It also sweeps expired keys and leases every 250 ms.
//  - the reader, with its own connection, serves reads; the reads queued together share one
//    read transaction (one snapshot, taken after all of them were asked); in WAL mode reads
//    never wait for a write batch. Every ~50 ms it polls `PRAGMA data_version` to
//    notice commits by other connections (other processes included) and emits changed() for
//    them.
// Two processes on one file work: BEGIN IMMEDIATE with a 10 s busy timeout serialises writers
// (a batch that still meets SQLITE_BUSY is retried), and each transaction re-reads the counters.
//
// Thread: the object lives on the thread that created it (its owning thread). Every operation
// is called there and returns at once; its callback runs later on that thread, through the
// event loop (never inside the call), or in close().
//
// Ownership: owns its threads and connections; close() (also run by the destructor) stops
// accepting work, finishes everything queued, answers every callback and releases the file.

#include <QString>

#include <functional>
#include <memory>
#include <optional>

#include "store/store.h"

namespace sidecar::store {

class SqliteStore final : public Store
{
    Q_OBJECT
public:
    SqliteStore(QString path, StoreOptions options, QObject *parent = nullptr);
    ~SqliteStore() override;

    // Opens (creating it if needed) and migrates the database, then starts the threads. Blocks
    // until the file is ready. Unavailable when it cannot be opened, is of a newer schema, or is
    // not a sidecar database. Call once.
    Result<void> open();
    bool isOpen() const;

    const QString &path() const { return m_path; }
    const StoreOptions &options() const { return m_options; }
    // The backup copy made when open() converted an original-package database; else empty.
    QString backupPath() const { return m_backupPath; }

    QString backendName() const override { return QStringLiteral("sqlite"); }
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

private:
    class Worker;
    class Writer;
    class Reader;
    struct Job;

    // Queues `fn` (Result<T>(sqlite::WriteTxn &)) for the writer's next batch.
    template<class T, class Fn>
    void write(Callback<T> done, Fn fn);
    // Queues `fn` (Result<T>(sqlite::Connection &)) for the reader.
    template<class T, class Fn>
    void read(Callback<T> done, Fn fn);
    template<class T>
    std::function<void(const Error *)> finisher(Callback<T> done, std::shared_ptr<std::optional<Result<T>>> slot);
    void submit(Worker *worker, Job job);

    // Hands `fn` to the owning thread (any thread may call it).
    void post(std::function<void()> fn);
    // Runs everything posted so far (owning thread).
    void deliver();
    // A commit up to `revision` was seen (any thread).
    void noteRevision(qint64 revision);

    // Thread contract: m_path, m_options and m_backupPath are set before the threads start and
    // only read afterwards (by them too); m_writer, m_reader, m_open, m_closed and m_lastChanged
    // belong to the owning thread; m_outbox has its own mutex, since every thread posts to it.
    QString m_path;
    StoreOptions m_options;
    QString m_backupPath;
    std::unique_ptr<Writer> m_writer;
    std::unique_ptr<Reader> m_reader;
    bool m_open = false;
    bool m_closed = false;
    qint64 m_lastChanged = 0; // owning thread: the highest revision changed() announced

    struct Outbox;
    std::unique_ptr<Outbox> m_outbox; // completions waiting for the owning thread
};

} // namespace sidecar::store
