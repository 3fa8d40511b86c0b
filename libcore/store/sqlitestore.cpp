#include "sqlitestore.h"

#include <QElapsedTimer>

#include <QLoggingCategory>
#include <QMetaObject>
#include <QThread>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <future>
#include <mutex>
#include <vector>

#include "store/sqlitedb.h"
#include "store/sqlitemigration.h"
#include "store/sqliteops.h"

Q_LOGGING_CATEGORY(lcSqliteStore, "sidecar.store.sqlite")

namespace sidecar::store {

namespace {

using Clock = std::chrono::steady_clock;

constexpr int kBusyRetries = 5;        // whole-batch retries when SQLITE_BUSY still happens
constexpr auto kSweepInterval = std::chrono::milliseconds(250);
constexpr auto kPollInterval = std::chrono::milliseconds(50);
constexpr int kSweepBatch = 1000;      // expiries per sweep transaction
constexpr std::size_t kMaxBatch = 10000; // operations per write transaction
// The commit that takes the WAL past this many pages copies them into the database file and
// syncs it before its batch is answered. With durability full every commit already waits for an
// fsync, and SQLite's default (1000 pages) made the checkpointing batches the durable write's p99;
// 200 pages halved it (state_set over HTTP, 16 connections: 4.3-6.3 -> 2.0-2.4 ms with 1k keys,
// 6.2-6.6 -> 2.6-3.2 ms with 200k) for about 5% of throughput. With durability normal the
// checkpoints are the only syncs, and fewer of them is what that mode is for: 200 pages cost it
// about 15% of its calls/s (p99 6.5 -> 2.7 ms), so it keeps the default.
constexpr int kWalAutocheckpointFull = 200;
constexpr int kWalAutocheckpointNormal = 1000;

Error closedError()
{
    return Error{ErrorCode::Unavailable, QStringLiteral("The SQLite store is closed")};
}

} // namespace

// One queued operation. Exactly one of write/read is set. It returns false when the operation
// failed (its Result holds an error), so that the writer rolls back its savepoint; finish() posts
// the answer to the owning thread, with `batchError` when the whole transaction failed.
struct SqliteStore::Job
{
    std::function<bool(sqlite::WriteTxn &)> write;
    std::function<bool(sqlite::Connection &)> read;
    std::function<void(const Error *batchError)> finish;
};

// Completions waiting to run on the owning thread.
struct SqliteStore::Outbox
{
    std::mutex mutex;
    std::vector<std::function<void()>> items;
    bool scheduled = false;
};

// ---------------------------------------------------------------- threads

// A thread with its own connection and a queue of jobs. Subclasses implement run(); they
// report their start-up result through ready() before serving.
class SqliteStore::Worker : public QThread
{
public:
    Worker(SqliteStore *store, QString connectionName)
        : m_store(store), m_connectionName(std::move(connectionName)), m_readyFuture(m_ready.get_future())
    {
    }

    // False once stop() was called: the job was not taken.
    bool enqueue(Job job)
    {
        {
            std::lock_guard lock(m_mutex);
            if (m_stopping)
                return false;
            m_queue.push_back(std::move(job));
        }
        m_cv.notify_one();
        return true;
    }

    // Stops taking jobs; run() finishes those queued and returns.
    void stop()
    {
        {
            std::lock_guard lock(m_mutex);
            m_stopping = true;
        }
        m_cv.notify_all();
    }

    // Blocks until run() opened its connection (or failed to).
    Result<void> ready() { return m_readyFuture.get(); }

protected:
    // Moves queued jobs (up to kMaxBatch) into `out`, waiting until there is one, stop() was
    // called, or `deadline`. Returns false when the thread should end after handling `out`.
    bool take(std::vector<Job> &out, Clock::time_point deadline)
    {
        std::unique_lock lock(m_mutex);
        m_cv.wait_until(lock, deadline, [this] { return !m_queue.empty() || m_stopping; });
        while (!m_queue.empty() && out.size() < kMaxBatch) {
            out.push_back(std::move(m_queue.front()));
            m_queue.pop_front();
        }
        return !(m_stopping && m_queue.empty());
    }

    SqliteStore *m_store;
    const QString m_connectionName;
    std::promise<Result<void>> m_ready;

private:
    std::future<Result<void>> m_readyFuture;
    std::mutex m_mutex;
    std::condition_variable m_cv;
    std::deque<Job> m_queue;
    bool m_stopping = false;
};

// The single writer: group commit of everything queued, plus the expiry sweep.
class SqliteStore::Writer final : public SqliteStore::Worker
{
public:
    using Worker::Worker;
    QString backupPath() const { return m_backupPath; } // valid after ready()

protected:
    void run() override
    {
        sqlite::Connection db(m_connectionName);
        Result<void> opened = db.open(m_store->m_path, sqlite::kBusyTimeoutMs);
        if (opened) {
            auto report = sqlite::migrate(db, m_store->m_options);
            if (report)
                m_backupPath = report->backupPath;
            else
                opened = tl::unexpected(report.error());
        }
        if (opened)
            opened = db.exec(m_store->m_options.durable ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL");
        if (opened)
            opened = db.exec(QStringLiteral("PRAGMA wal_autocheckpoint=%1")
                                 .arg(m_store->m_options.durable ? kWalAutocheckpointFull : kWalAutocheckpointNormal));
        const bool ok = opened.has_value();
        m_ready.set_value(std::move(opened));
        if (!ok)
            return;

        Clock::time_point nextSweep = Clock::now() + kSweepInterval;
        for (;;) {
            std::vector<Job> jobs;
            const bool more = take(jobs, nextSweep);
            if (!jobs.empty())
                runBatch(db, jobs);
            if (!more)
                break;
            if (Clock::now() >= nextSweep) {
                const bool backlog = sweep(db);
                nextSweep = Clock::now() + (backlog ? std::chrono::milliseconds(0) : kSweepInterval);
            }
        }
    }

private:
    enum class Outcome { Committed, Busy, Failed };

    // Runs every job in one BEGIN IMMEDIATE transaction and answers them after COMMIT.
    void runBatch(sqlite::Connection &db, std::vector<Job> &jobs)
    {
        const auto &observe = m_store->m_options.commitObserver;
        for (int attempt = 1;; ++attempt) {
            Error error;
            std::int64_t revision = 0;
            QElapsedTimer timer;
            timer.start();
            const Outcome outcome = tryBatch(db, jobs, error, revision);
            if (observe)
                observe(std::int64_t(jobs.size()), double(timer.nsecsElapsed()) / 1e9, outcome == Outcome::Committed);
            if (outcome == Outcome::Committed) {
                for (Job &job : jobs)
                    job.finish(nullptr);
                if (revision > 0)
                    m_store->noteRevision(revision);
                return;
            }
            if (outcome == Outcome::Busy && attempt < kBusyRetries) {
                qCWarning(lcSqliteStore) << "Write batch met SQLITE_BUSY, retrying:" << error.message;
                QThread::msleep(20 * attempt);
                continue;
            }
            qCWarning(lcSqliteStore) << "Write batch of" << jobs.size() << "operations failed:" << error.message;
            for (Job &job : jobs)
                job.finish(&error);
            return;
        }
    }

    Outcome tryBatch(sqlite::Connection &db, std::vector<Job> &jobs, Error &error, std::int64_t &revision)
    {
        auto abort = [&](const Error &e) {
            error = e;
            const bool busy = db.lastErrorWasBusy();
            (void)db.exec("ROLLBACK");
            return busy ? Outcome::Busy : Outcome::Failed;
        };
        if (auto r = db.exec("BEGIN IMMEDIATE"); !r) {
            error = r.error();
            return db.lastErrorWasBusy() ? Outcome::Busy : Outcome::Failed;
        }
        sqlite::WriteTxn txn(db, m_store->m_options);
        if (auto r = txn.load(); !r)
            return abort(r.error());
        for (Job &job : jobs) {
            const auto counters = txn.counters();
            if (auto r = db.exec("SAVEPOINT op"); !r)
                return abort(r.error());
            if (!job.write(txn)) {
                // This operation alone is undone. If SQLite already rolled back the whole
                // transaction (I/O error, full disk), ROLLBACK TO fails and the batch fails.
                if (auto r = db.exec("ROLLBACK TO op"); !r)
                    return abort(r.error());
                txn.restore(counters);
            }
            if (auto r = db.exec("RELEASE op"); !r)
                return abort(r.error());
        }
        const bool changed = txn.changed();
        if (changed) {
            if (auto r = txn.save(); !r)
                return abort(r.error());
        }
        if (auto r = db.exec("COMMIT"); !r)
            return abort(r.error());
        revision = changed ? txn.revision() : 0;
        return Outcome::Committed;
    }

    // Removes expired keys and leases; true when more are waiting.
    bool sweep(sqlite::Connection &db)
    {
        auto due = sqlite::hasExpired(db);
        if (!due || !*due)
            return false;
        auto removed = std::make_shared<int>(0);
        std::vector<Job> jobs(1);
        jobs[0].write = [removed](sqlite::WriteTxn &t) {
            auto r = sqlite::sweepExpired(t, kSweepBatch);
            if (!r)
                return false;
            *removed = *r;
            return true;
        };
        jobs[0].finish = [](const Error *) {};
        runBatch(db, jobs);
        return *removed >= kSweepBatch;
    }

    QString m_backupPath;
};

// The reader: one read transaction per job, and the data_version poll.
class SqliteStore::Reader final : public SqliteStore::Worker
{
public:
    using Worker::Worker;
    qint64 initialRevision() const { return m_lastRevision; } // valid after ready()

protected:
    void run() override
    {
        sqlite::Connection db(m_connectionName);
        Result<void> opened = db.open(m_store->m_path, sqlite::kBusyTimeoutMs, /*readOnly=*/true);
        if (opened) {
            auto rev = sqlite::readRevision(db);
            auto dv = db.scalar(QStringLiteral("PRAGMA data_version"));
            if (rev && dv) {
                m_lastRevision = *rev;
                m_dataVersion = *dv;
            } else {
                opened = tl::unexpected(rev ? dv.error() : rev.error());
            }
        }
        const bool ok = opened.has_value();
        m_ready.set_value(std::move(opened));
        if (!ok)
            return;

        Clock::time_point nextPoll = Clock::now() + kPollInterval;
        for (;;) {
            std::vector<Job> jobs;
            const bool more = take(jobs, nextPoll);
            if (!jobs.empty())
                runReads(db, jobs);
            if (!more)
                break;
            if (Clock::now() >= nextPoll) {
                poll(db);
                nextPoll = Clock::now() + kPollInterval;
            }
        }
    }

private:
    // Everything taken at once shares one read transaction: one snapshot, taken after every job
    // in `jobs` was queued, so each still sees every write answered before it was asked (WAL: it
    // never waits for the writer). Each job is answered as soon as it has read.
    void runReads(sqlite::Connection &db, std::vector<Job> &jobs)
    {
        if (auto r = db.exec("BEGIN"); !r) {
            for (Job &job : jobs)
                job.finish(&r.error());
            return;
        }
        for (Job &job : jobs) {
            job.read(db);
            job.finish(nullptr);
        }
        if (!db.exec("COMMIT"))
            (void)db.exec("ROLLBACK");
    }

    // Another connection (this store's writer, or another process) committed: announce it.
    void poll(sqlite::Connection &db)
    {
        auto dv = db.scalar(QStringLiteral("PRAGMA data_version"));
        if (!dv || *dv == m_dataVersion)
            return;
        m_dataVersion = *dv;
        auto rev = sqlite::readRevision(db);
        if (rev && *rev > m_lastRevision) {
            m_lastRevision = *rev;
            m_store->noteRevision(*rev);
        }
    }

    qint64 m_lastRevision = 0;
    qint64 m_dataVersion = 0;
};

// ---------------------------------------------------------------- SqliteStore

SqliteStore::SqliteStore(QString path, StoreOptions options, QObject *parent)
    : Store(parent), m_path(std::move(path)), m_options(options), m_outbox(std::make_unique<Outbox>())
{
}

SqliteStore::~SqliteStore()
{
    close();
}

Result<void> SqliteStore::open()
{
    Q_ASSERT(QThread::currentThread() == thread());
    if (m_open || m_closed)
        return fail(ErrorCode::Internal, QStringLiteral("SqliteStore::open() called twice"));
    static std::atomic<int> instances{0};
    const QString base = QStringLiteral("sidecar-sqlite-%1").arg(++instances);
    if (auto r = sqlite::createPrivateFile(m_path); !r)
        return r;

    m_writer = std::make_unique<Writer>(this, base + QStringLiteral("-writer"));
    m_writer->start();
    if (auto r = m_writer->ready(); !r) {
        m_writer->wait();
        m_writer.reset();
        return r;
    }
    m_backupPath = m_writer->backupPath();

    m_reader = std::make_unique<Reader>(this, base + QStringLiteral("-reader"));
    m_reader->start();
    if (auto r = m_reader->ready(); !r) {
        m_reader->wait();
        m_reader.reset();
        m_writer->stop();
        m_writer->wait();
        m_writer.reset();
        return r;
    }
    m_lastChanged = m_reader->initialRevision();
    m_open = true;
    return {};
}

bool SqliteStore::isOpen() const
{
    return m_open && !m_closed;
}

void SqliteStore::close()
{
    Q_ASSERT(QThread::currentThread() == thread());
    if (m_closed)
        return;
    m_closed = true;
    // Each worker finishes what is queued (answers are posted to the outbox), then ends.
    if (m_writer) {
        m_writer->stop();
        m_writer->wait();
    }
    if (m_reader) {
        m_reader->stop();
        m_reader->wait();
    }
    m_writer.reset();
    m_reader.reset();
    // Answer everything now rather than on a later turn of the event loop, which may never come.
    for (;;) {
        {
            std::lock_guard lock(m_outbox->mutex);
            if (m_outbox->items.empty())
                break;
        }
        deliver();
    }
}

void SqliteStore::post(std::function<void()> fn)
{
    {
        std::lock_guard lock(m_outbox->mutex);
        m_outbox->items.push_back(std::move(fn));
        if (m_outbox->scheduled)
            return;
        m_outbox->scheduled = true;
    }
    QMetaObject::invokeMethod(this, [this] { deliver(); }, Qt::QueuedConnection);
}

void SqliteStore::deliver()
{
    std::vector<std::function<void()>> items;
    {
        std::lock_guard lock(m_outbox->mutex);
        items.swap(m_outbox->items);
        m_outbox->scheduled = false;
    }
    for (auto &fn : items)
        fn();
}

void SqliteStore::noteRevision(qint64 revision)
{
    post([this, revision] {
        if (revision > m_lastChanged) {
            m_lastChanged = revision;
            emit changed(revision);
        }
    });
}

template<class T>
std::function<void(const Error *)> SqliteStore::finisher(Callback<T> done,
                                                         std::shared_ptr<std::optional<Result<T>>> slot)
{
    // Called once, on the worker thread: the callback and the result move to the owning thread.
    return [this, done = std::move(done), slot = std::move(slot)](const Error *batchError) mutable {
        Result<T> result = batchError ? Result<T>(tl::unexpected(*batchError))
                           : *slot    ? std::move(**slot)
                                      : Result<T>(tl::unexpected(Error{ErrorCode::Internal,
                                                                       QStringLiteral("operation did not run")}));
        post([done = std::move(done), result = std::move(result)]() mutable { done(std::move(result)); });
    };
}

void SqliteStore::submit(Worker *worker, Job job)
{
    Q_ASSERT(QThread::currentThread() == thread());
    if (!m_open || m_closed || !worker || !worker->enqueue(job)) {
        const Error e = closedError();
        job.finish(&e); // posts: the callback still runs later, never inside the call
    }
}

template<class T, class Fn>
void SqliteStore::write(Callback<T> done, Fn fn)
{
    auto slot = std::make_shared<std::optional<Result<T>>>();
    Job job;
    job.write = [slot, fn = std::move(fn)](sqlite::WriteTxn &t) {
        *slot = fn(t);
        return (*slot)->has_value();
    };
    job.finish = finisher<T>(std::move(done), slot);
    submit(m_writer.get(), std::move(job));
}

template<class T, class Fn>
void SqliteStore::read(Callback<T> done, Fn fn)
{
    auto slot = std::make_shared<std::optional<Result<T>>>();
    Job job;
    job.read = [slot, fn = std::move(fn)](sqlite::Connection &db) {
        *slot = fn(db);
        return (*slot)->has_value();
    };
    job.finish = finisher<T>(std::move(done), slot);
    submit(m_reader.get(), std::move(job));
}

// ---------------------------------------------------------------- operations

void SqliteStore::kvGet(const QString &key, Callback<KvEntry> done)
{
    read<KvEntry>(std::move(done), [key](sqlite::Connection &db) { return sqlite::kvGet(db, key); });
}

void SqliteStore::kvSet(const KvSetArgs &args, Callback<KvWriteResult> done)
{
    write<KvWriteResult>(std::move(done), [args](sqlite::WriteTxn &t) { return sqlite::kvSet(t, args); });
}

void SqliteStore::kvDelete(const KvDeleteArgs &args, Callback<KvWriteResult> done)
{
    write<KvWriteResult>(std::move(done), [args](sqlite::WriteTxn &t) { return sqlite::kvDelete(t, args); });
}

void SqliteStore::kvList(const KvListArgs &args, Callback<KvListResult> done)
{
    read<KvListResult>(std::move(done),
                       [args, o = m_options](sqlite::Connection &db) { return sqlite::kvList(db, args, o); });
}

void SqliteStore::workflowCreate(const WorkflowCreateArgs &args, Callback<WorkflowCreateResult> done)
{
    write<WorkflowCreateResult>(std::move(done),
                                [args](sqlite::WriteTxn &t) { return sqlite::workflowCreate(t, args); });
}

void SqliteStore::workflowDiscover(const WorkflowDiscoverArgs &args, Callback<WorkflowListResult> done)
{
    read<WorkflowListResult>(std::move(done), [args, o = m_options](sqlite::Connection &db) {
        return sqlite::workflowDiscover(db, args, o);
    });
}

void SqliteStore::workflowClaim(const WorkflowClaimArgs &args, Callback<WorkflowClaimResult> done)
{
    write<WorkflowClaimResult>(std::move(done), [args](sqlite::WriteTxn &t) { return sqlite::workflowClaim(t, args); });
}

void SqliteStore::workflowClaimNext(const WorkflowClaimArgs &args, Callback<WorkflowClaimResult> done)
{
    write<WorkflowClaimResult>(std::move(done),
                               [args](sqlite::WriteTxn &t) { return sqlite::workflowClaimNext(t, args); });
}

void SqliteStore::workflowHeartbeat(const WorkflowHeartbeatArgs &args, Callback<WorkflowHeartbeatResult> done)
{
    write<WorkflowHeartbeatResult>(std::move(done),
                                   [args](sqlite::WriteTxn &t) { return sqlite::workflowHeartbeat(t, args); });
}

void SqliteStore::workflowCheckpoint(const WorkflowCheckpointArgs &args, Callback<WorkflowCheckpointResult> done)
{
    write<WorkflowCheckpointResult>(std::move(done),
                                    [args](sqlite::WriteTxn &t) { return sqlite::workflowCheckpoint(t, args); });
}

void SqliteStore::workflowComplete(const WorkflowCompleteArgs &args, Callback<WorkflowCompleteResult> done)
{
    write<WorkflowCompleteResult>(std::move(done),
                                  [args](sqlite::WriteTxn &t) { return sqlite::workflowComplete(t, args); });
}

void SqliteStore::workflowResume(const QString &runId, Callback<WorkflowResumeResult> done)
{
    read<WorkflowResumeResult>(std::move(done),
                               [runId](sqlite::Connection &db) { return sqlite::workflowResume(db, runId); });
}

void SqliteStore::workflowStatus(const QString &runId, Callback<WorkflowMeta> done)
{
    read<WorkflowMeta>(std::move(done), [runId](sqlite::Connection &db) { return sqlite::workflowStatus(db, runId); });
}

void SqliteStore::leaseAcquire(const LeaseAcquireArgs &args, Callback<LeaseAcquireResult> done)
{
    write<LeaseAcquireResult>(std::move(done), [args](sqlite::WriteTxn &t) { return sqlite::leaseAcquire(t, args); });
}

void SqliteStore::leaseRelease(const LeaseReleaseArgs &args, Callback<bool> done)
{
    write<bool>(std::move(done), [args](sqlite::WriteTxn &t) { return sqlite::leaseRelease(t, args); });
}

void SqliteStore::leaseRenew(const LeaseRenewArgs &args, Callback<LeaseRenewResult> done)
{
    write<LeaseRenewResult>(std::move(done), [args](sqlite::WriteTxn &t) { return sqlite::leaseRenew(t, args); });
}

void SqliteStore::leaseList(const PrefixListArgs &args, Callback<LeaseListResult> done)
{
    read<LeaseListResult>(std::move(done),
                          [args, o = m_options](sqlite::Connection &db) { return sqlite::leaseList(db, args, o); });
}

void SqliteStore::sessionSave(const SessionSaveArgs &args, Callback<SessionSaveResult> done)
{
    write<SessionSaveResult>(std::move(done), [args](sqlite::WriteTxn &t) { return sqlite::sessionSave(t, args); });
}

void SqliteStore::sessionRestore(const QString &sessionId, Callback<SessionRestoreResult> done)
{
    read<SessionRestoreResult>(std::move(done),
                               [sessionId](sqlite::Connection &db) { return sqlite::sessionRestore(db, sessionId); });
}

void SqliteStore::sessionList(const PrefixListArgs &args, Callback<SessionListResult> done)
{
    read<SessionListResult>(std::move(done),
                            [args, o = m_options](sqlite::Connection &db) { return sqlite::sessionList(db, args, o); });
}

void SqliteStore::mcpSessionPut(const McpSessionRecord &record, Callback<bool> done)
{
    write<bool>(std::move(done), [record](sqlite::WriteTxn &t) { return sqlite::mcpSessionPut(t, record); });
}

void SqliteStore::mcpSessionGet(const QByteArray &id, Callback<std::optional<McpSessionRecord>> done)
{
    read<std::optional<McpSessionRecord>>(std::move(done),
                                          [id](sqlite::Connection &db) { return sqlite::mcpSessionGet(db, id); });
}

void SqliteStore::mcpSessionDelete(const QByteArray &id, Callback<bool> done)
{
    write<bool>(std::move(done), [id](sqlite::WriteTxn &t) { return sqlite::mcpSessionDelete(t, id); });
}

void SqliteStore::sessionDelete(const SessionDeleteArgs &args, Callback<bool> done)
{
    write<bool>(std::move(done), [args](sqlite::WriteTxn &t) { return sqlite::sessionDelete(t, args); });
}

void SqliteStore::historyLog(const HistoryQuery &query, Callback<HistoryResult> done)
{
    read<HistoryResult>(std::move(done), [query](sqlite::Connection &db) { return sqlite::historyLog(db, query); });
}

void SqliteStore::changes(const ChangesQuery &query, Callback<ChangesResult> done)
{
    read<ChangesResult>(std::move(done), [query](sqlite::Connection &db) { return sqlite::changes(db, query); });
}

void SqliteStore::health(Callback<HealthInfo> done)
{
    read<HealthInfo>(std::move(done), [](sqlite::Connection &db) {
        auto h = sqlite::health(db);
        if (!h) {
            // Health never fails: it reports what it could not read.
            HealthInfo info;
            info.backend = QStringLiteral("sqlite");
            info.status = QStringLiteral("error");
            qCWarning(lcSqliteStore) << "Health check failed:" << h.error().message;
            return Result<HealthInfo>(info);
        }
        return h;
    });
}

void SqliteStore::reset(const QString &principal, Callback<ResetResult> done)
{
    write<ResetResult>(std::move(done), [principal](sqlite::WriteTxn &t) { return sqlite::reset(t, principal); });
}

} // namespace sidecar::store
