#pragma once

// RedisImporter: copies the data the original Python package (mcp-state-sidecar 0.1.0) kept in
// Redis, under the unprefixed key patterns `kv:*`, `wf:*`, `lease:*` and `session:*`, into a
// RedisStore (docs/redis.md, "Moving from the original package's Redis data": the shapes read and
// what is not carried over). The command `mcp-state-sidecar --import-redis-from <url>` runs it.
//
// Role: everything is written through the store's own operations, so that indexes, revisions and
// history stay consistent: keys with kvSet (if_version 0: only when absent), leases with
// leaseAcquire, sessions with sessionSave (each after checking that it is not there yet), runs
// with workflowImport (resources/redis/wf_import.lua), keeping their run ids. Running it again
// imports nothing twice: what the target has already is counted as "already present" and left
// as it is. What cannot be imported (expired, invalid JSON, unknown shapes) is skipped and
// counted with the reason and a few of its source keys.
//
// How: the source is only read, with SCAN (MATCH, COUNT) and plain reads; never KEYS, never a
// script. The key names found are first staged in sorted sets of the target under
// `<prefix>import:<token>:` (with a one-day expiry as a backstop, deleted at the end), which also
// drops SCAN's duplicates and orders the work: keys, leases and sessions by name, runs by
// created_at (so the newest-first lists and claim_next's oldest-first order follow the original
// runs' ages), and gathers each run's step keys. The importer itself holds one batch of names and
// one item at a time: memory stays bounded whatever the size of the data.
//
// The source may be the target's own Redis and database: the patterns never match the
// target's keys unless the prefix is empty or starts with one of them, and that case is refused
// (InvalidArgument) before anything but the marker that detects it is written (and removed).
//
// Thread: lives on the thread of the connections and the store; run() returns at once, and its
// callback runs there, from the event loop.
//
// Ownership: borrows the source connection, the scratch connection (to the target's Redis, for
// the staging sets) and the target store, all of which must be connected and outlive it.

#include <QByteArray>
#include <QObject>
#include <QString>
#include <QStringList>

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <utility>
#include <vector>

#include "protocol/result.h"

namespace sidecar::store {

class RedisStore;
struct RedisImportItem; // one source key as read (redisimport.cpp)
struct RedisImportRun;  // one run as read, with its steps (redisimport.cpp)
namespace redis {
class RedisConnection;
struct RedisReply;
} // namespace redis

struct RedisImportOptions
{
    std::int64_t maxValueBytes = std::int64_t(1) << 20; // SIDECAR_MAX_VALUE_BYTES: larger JSON is skipped
    int batchSize = 256;                                // SCAN COUNT, and names staged or popped at once
    QString sourceDisplay;                              // the source for the summary, without credentials
    QString targetDisplay;                              // the target, likewise
};

// What happened to one family of items.
struct RedisImportCounts
{
    struct Reason
    {
        QString text; // "expired", "not valid JSON", ...
        std::int64_t count = 0;
        QStringList examples; // the first few source keys skipped for it
    };
    std::int64_t imported = 0;
    std::int64_t present = 0; // already in the target: left as it is
    std::int64_t skipped = 0;
    std::vector<Reason> reasons; // in the order first seen

    void skip(const QString &why, const QByteArray &sourceKey);
};

struct RedisImportSummary
{
    QString source;
    QString target;
    QString prefix;
    RedisImportCounts keys;
    RedisImportCounts runs;
    RedisImportCounts leases;
    RedisImportCounts sessions;
    RedisImportCounts stepKeys; // step keys of no importable run (only skipped)
    std::int64_t steps = 0;     // step outputs written with the imported runs

    // The report printed to stderr: one line per family, then one per skip reason.
    QString text() const;
};

class RedisImporter : public QObject
{
    Q_OBJECT
public:
    RedisImporter(redis::RedisConnection &source, redis::RedisConnection &scratch, RedisStore &target,
                  RedisImportOptions options = {}, QObject *parent = nullptr);
    ~RedisImporter() override;

    // Starts the import. `done` runs once, from the event loop: the summary, or the error that
    // stopped it (InvalidArgument: the source is the target's keyspace and the prefix overlaps
    // the patterns; Unavailable or Internal: Redis failed, and part of the data may be imported:
    // running the import again completes it). Call once.
    void run(std::function<void(Result<RedisImportSummary>)> done);

private:
    using Each = std::function<void(const QByteArray &member)>;

    QByteArray scratchKey(const char *name) const;
    void prepare();
    void stage(int pattern, const QByteArray &cursor);
    void stageBatch(int pattern, const std::vector<QByteArray> &keys, std::function<void()> next);
    void importKeys(); // then the runs, leases, sessions, one after the other

    // Pops the members of a staging set a batch at a time (lowest score first, then byte order)
    // and hands them to `each` one by one; `each` calls itemDone() once it is through with one.
    // `after` runs when the set is empty.
    void drain(const QByteArray &set, Each each, std::function<void()> after);
    void popBatch();
    void nextItem();
    void itemDone();

    void readSource(const QByteArray &key, std::function<void(const RedisImportItem &)> done);
    void readItem(const char *family, const QByteArray &name, RedisImportCounts &counts,
                  std::function<void(const QString &, const QByteArray &, const RedisImportItem &)> next);
    void importKey(const QByteArray &name);
    void classifyRun(const QByteArray &name);
    void importRun(const QByteArray &name);
    void gatherSteps(const QByteArray &name, std::shared_ptr<RedisImportRun> run,
                     std::shared_ptr<std::optional<QString>> problem, std::function<void()> done);
    void readSteps(const QByteArray &name, std::shared_ptr<std::vector<QByteArray>> members,
                   std::size_t index, std::shared_ptr<RedisImportRun> run,
                   std::shared_ptr<std::optional<QString>> problem, std::function<void()> done);
    void orphanStep(const QByteArray &member);
    void importLease(const QByteArray &name);
    void importSession(const QByteArray &name);
    void cleanUp(std::function<void()> then);

    // An unexpected failure of Redis: stops the import and answers with it (after cleaning up).
    bool failed(const Result<redis::RedisReply> &reply);
    void fail(Error error);
    void finish();

    redis::RedisConnection &m_source;
    redis::RedisConnection &m_scratch;
    RedisStore &m_target;
    RedisImportOptions m_options;
    QByteArray m_base; // "<prefix>import:<token>"
    RedisImportSummary m_summary;
    std::function<void(Result<RedisImportSummary>)> m_done;
    bool m_sameKeyspace = false;
    bool m_stopped = false;

    // drain()'s state: one drain at a time.
    QByteArray m_drainSet;
    Each m_each;
    std::function<void()> m_after;
    std::deque<QByteArray> m_batch;
    bool m_inEach = false;
    bool m_again = false;
    std::int64_t m_handled = 0; // items handled, for the progress log
};

} // namespace sidecar::store
