// Crash safety beyond a process crash: simulated power loss and injected I/O faults, through the
// real server binary with the fault-injecting VFS (tests/support/faultvfs/faultvfs.h) preloaded
// into it (LD_PRELOAD=$FAULTVFS_LIB). This suite links the VFS too: it applies power loss with
// faultvfs_power_loss() and checks the VFS itself in-process.
//
// - vfsRollsBackUnsyncedWrites (in-process, a forked child writes and dies without closing):
//   the files the child left hold every row (the writes reached the OS), and after power loss
//   exactly the rows whose commits were followed by a sync remain: the model is exact.
// - vfsInjectsErrorsInProcess: SQLITE_FULL, SQLITE_IOERR on write, read and fsync reach SQLite's
//   API, and clearing them restores service; the test process's default VFS is faultvfs.
// - preloadedVfsSeesTheServersFiles: QtSql's connections in the server go through the VFS.
// - powerLossKeepsAcknowledgedWrites (durability full): cycles of several HTTP clients writing
//   (state_set on keys of their own and on one shared per client, lease_acquire, workflow_create),
//   SIGKILL at a random moment with writes in flight, power loss (every write not followed by an
//   fsync of its file undone, -shm deleted), restart on the same file. Each restart checks:
//   `PRAGMA integrity_check` is ok; every acknowledged write is there (same value, its version or a
//   later one, the lease's fence, the run); history and data agree (no entry without its data, no
//   data without its entry); history revisions are strictly increasing and gapless and end at the
//   store's revision; a new write gets the next revision.
// - powerLossInNormalDurability: the same with --durability normal, where acknowledged writes MAY
//   be lost: the WAL is synced only before a checkpoint (every ~1000 WAL pages) and when a new WAL
//   header is written, so every commit after the last such sync is lost. Checked: the file is
//   never corrupt, and what survives is a prefix in revision order (every acknowledged write at or
//   below the surviving revision R is there, none above it; history gapless up to R).
// - injectedWriteFaults (full disk, full disk after 2 writes, write I/O error, failing fsync, slow
//   fsync): writes during the fault fail with `unavailable` and a readable message (the slow
//   fsync only slows them), the server stays up and keeps answering reads, and once the fault is
//   cleared writes succeed with the next revision: nothing of a failed batch is visible, not even
//   after a restart.
// - checkpointFaultsDoNotFailWrites: a full disk that only the database file meets (the WAL
//   reuses its space; checkpoints grow the file) fails no write, and loses nothing.
// - failedFsyncThenCrash: a write whose fsync failed is `unavailable` (outcome unknown): after a
//   process crash right after it, SQLite's recovery finds it committed; after power loss it is
//   gone; either way whole (value, history entry, revision) or not at all.
// - injectedReadFault: a read that meets an I/O error is `unavailable`; the next one works.
// - lockedDatabase: another process holds the write lock (BEGIN IMMEDIATE) for 11.5 s, longer than
//   one busy timeout (10 s): reads go on, the write waits (its batch meets SQLITE_BUSY once and is
//   retried) and succeeds once the lock is released. The whole budget (5 x 10 s) is not waited
//   for here: a write held up longer fails with `unavailable`.
//
// Bounded: a few cycles of at most a few hundred writes each; nothing asserts speed.

#include <QtTest>

#include <QDeadlineTimer>
#include <QFile>
#include <QRandomGenerator>
#include <QSaveFile>
#include <QThread>

#include <map>
#include <memory>
#include <optional>
#include <set>
#include <vector>

#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include "faultvfs.h"
#include "httpserverprocess.h"
#include "serverprocess.h"
#include "sidecartestclient.h"
#include "testutil.h"

using namespace sidecar;
using namespace sidecar::test;

namespace {

constexpr int kClients = 4;
constexpr int kFullCycles = 5;
constexpr int kNormalCycles = 4;

// ---------------------------------------------------------------- the file, from the test process

// A connection of the test's own (through faultvfs, which passes everything through here).
class SqlFile
{
public:
    explicit SqlFile(const QString &path)
    {
        m_rc = sqlite3_open_v2(QFile::encodeName(path).constData(), &m_db, SQLITE_OPEN_READWRITE, nullptr);
        if (m_db)
            sqlite3_busy_timeout(m_db, 10000);
    }
    ~SqlFile()
    {
        if (m_db)
            sqlite3_close_v2(m_db);
    }
    SqlFile(const SqlFile &) = delete;
    SqlFile &operator=(const SqlFile &) = delete;

    bool isOpen() const { return m_rc == SQLITE_OK; }
    QString error() const
    {
        return m_db ? QString::fromUtf8(sqlite3_errmsg(m_db)) : QStringLiteral("no handle");
    }
    int exec(const char *sql) { return sqlite3_exec(m_db, sql, nullptr, nullptr, nullptr); }

    // Every row of `sql` (text binds), each column as text; a NULL is a null QByteArray.
    std::optional<QList<QByteArrayList>> rows(const QByteArray &sql, const QByteArrayList &binds = {})
    {
        sqlite3_stmt *st = nullptr;
        if (sqlite3_prepare_v2(m_db, sql.constData(), int(sql.size()), &st, nullptr) != SQLITE_OK)
            return std::nullopt;
        for (int i = 0; i < binds.size(); ++i)
            sqlite3_bind_text(st, i + 1, binds[i].constData(), int(binds[i].size()), SQLITE_TRANSIENT);
        QList<QByteArrayList> out;
        int rc;
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
            QByteArrayList row;
            for (int c = 0; c < sqlite3_column_count(st); ++c) {
                if (sqlite3_column_type(st, c) == SQLITE_NULL) {
                    row.append(QByteArray());
                } else {
                    const auto *text = reinterpret_cast<const char *>(sqlite3_column_text(st, c));
                    row.append(QByteArray(text, sqlite3_column_bytes(st, c)));
                }
            }
            out.append(row);
        }
        sqlite3_finalize(st);
        if (rc != SQLITE_DONE)
            return std::nullopt;
        return out;
    }
    // The first column of the first row as an integer (`fallback` without a row).
    std::optional<qint64> integer(const QByteArray &sql, const QByteArrayList &binds = {},
                                  qint64 fallback = 0)
    {
        auto r = rows(sql, binds);
        if (!r)
            return std::nullopt;
        return r->isEmpty() || r->front().front().isNull() ? fallback : r->front().front().toLongLong();
    }

private:
    sqlite3 *m_db = nullptr;
    int m_rc = SQLITE_ERROR;
};

QString integrityCheck(SqlFile &file)
{
    auto r = file.rows("PRAGMA integrity_check");
    if (!r)
        return QStringLiteral("integrity_check failed: ") + file.error();
    QStringList lines;
    for (const QByteArrayList &row : *r)
        lines.append(QString::fromUtf8(row.front()));
    return lines.join(u'\n');
}

// ---------------------------------------------------------------- the VFS in the server

QProcessEnvironment faultEnvironment(const QString &control, const QString &stats, bool powerLoss)
{
    QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
    env.insert(QStringLiteral("LD_PRELOAD"), qEnvironmentVariable("FAULTVFS_LIB"));
    // A sanitizer build wants its runtime first in the list of libraries; the VFS is not instrumented.
    const QString asan = env.value(QStringLiteral("ASAN_OPTIONS"));
    env.insert(QStringLiteral("ASAN_OPTIONS"),
               (asan.isEmpty() ? QString() : asan + u':') + QStringLiteral("verify_asan_link_order=0"));
    if (powerLoss)
        env.insert(QStringLiteral("FAULTVFS_POWERLOSS"), QStringLiteral("1"));
    if (!control.isEmpty())
        env.insert(QStringLiteral("FAULTVFS_CONTROL"), control);
    if (!stats.isEmpty())
        env.insert(QStringLiteral("FAULTVFS_STATS"), stats);
    return env;
}

// Replaces the control file atomically, then waits past the VFS's 5 ms look-again interval.
bool setFaults(const QString &control, const QByteArray &settings)
{
    QSaveFile f(control);
    if (!f.open(QIODevice::WriteOnly) || f.write(settings + '\n') < 0 || !f.commit())
        return false;
    QThread::msleep(30);
    return true;
}

std::map<QByteArray, qint64> readStats(const QString &path)
{
    std::map<QByteArray, qint64> out;
    QFile f(path);
    if (f.open(QIODevice::ReadOnly)) {
        for (const QByteArray &line : f.readAll().split('\n')) {
            const qsizetype eq = line.indexOf('=');
            if (eq > 0)
                out[line.left(eq)] = line.mid(eq + 1).toLongLong();
        }
    }
    return out;
}

// Power loss on `db` (no process has it open); what it undid is added to *total.
bool powerLoss(const QString &db, QString *problem, faultvfs_power_loss_report *total = nullptr)
{
    char error[512];
    faultvfs_power_loss_report report;
    const int n = faultvfs_power_loss(QFile::encodeName(db).constData(), &report, error, sizeof error);
    if (n < 0)
        *problem = QString::fromUtf8(error);
    if (total) {
        total->files += report.files;
        total->records_undone += report.records_undone;
        total->bytes_restored += report.bytes_restored;
        total->bytes_truncated += report.bytes_truncated;
    }
    return n >= 0;
}

// ---------------------------------------------------------------- answers

// The message of a tool error (isError), or empty.
QString toolErrorMessage(const json::Document &answer)
{
    const json::Value *result = answer.root().find("result");
    const json::Value *content = result ? result->find("content") : nullptr;
    if (!content || content->items().empty() || !content->items().front().find("text"))
        return {};
    auto inner = json::parse(QByteArray::fromStdString(content->items().front().find("text")->text()));
    const json::Value *error = inner ? inner->root().find("error") : nullptr;
    return error && error->find("message") ? error->find("message")->toQString() : QString();
}

qint64 field(const json::Value *sc, std::string_view key)
{
    const json::Value *v = sc ? sc->find(key) : nullptr;
    return v ? v->toInt64().value_or(-1) : -1;
}

bool flag(const json::Value *sc, std::string_view key)
{
    const json::Value *v = sc ? sc->find(key) : nullptr;
    return v && v->isBool() && v->toBool();
}

std::optional<json::Document> readAnswer(HttpConnection *connection, int timeoutMs)
{
    if (!connection)
        return std::nullopt;
    auto reply = connection->readResponse(timeoutMs);
    if (!reply || reply->status != 200)
        return std::nullopt;
    return jsonRpcAnswer(*reply);
}

// ---------------------------------------------------------------- what was acknowledged

// Every write the server acknowledged, over every cycle of a test.
struct Ledger
{
    struct Write
    {
        QByteArray value;
        qint64 revision = 0;
    };
    std::map<QByteArray, Write> sets;    // keys written once
    std::map<QByteArray, Write> lasts;   // one key per client, overwritten: its newest acknowledged write
    std::map<QByteArray, qint64> leases; // resource -> fence (the grant's revision)
    std::set<QByteArray> runs;           // run ids (durability full only: a run has no revision)
    qint64 acknowledged = 0;             // over all cycles
    qint64 inFlightAtKill = 0;
    qint64 lost = 0; // normal durability: acknowledged, then lost to power loss
};

// One write of the workload.
struct Op
{
    enum Kind { Set, Last, Lease, Run } kind = Set;
    QByteArray key;   // key, resource id; empty for a run
    QByteArray value; // state_set's value
    QString tool;
    QByteArray args;
};

Op makeOp(int cycle, int client, int i)
{
    const QByteArray tag = QByteArray::number(cycle) + '/' + QByteArray::number(client) + '/'
                           + QByteArray::number(i);
    const QByteArray body = R"({"c":)" + QByteArray::number(cycle) + R"(,"k":)" + QByteArray::number(client)
                            + R"(,"i":)" + QByteArray::number(i);
    Op op;
    switch (i % 10) {
    case 6:
    case 7:
        op.kind = Op::Last;
        op.key = "pl/last/" + QByteArray::number(client);
        op.value = body + "}";
        break;
    case 8:
        op.kind = Op::Lease;
        op.key = "pl/lease/" + tag;
        op.tool = QStringLiteral("lease_acquire");
        op.args = R"({"resource_id":")" + op.key + R"(","holder_id":"h)" + QByteArray::number(client)
                  + R"(","ttl_seconds":3600})";
        return op;
    case 9:
        op.kind = Op::Run;
        op.tool = QStringLiteral("workflow_create");
        op.args = R"({"name":"pl","input":)" + body + "}}";
        return op;
    default:
        op.kind = Op::Set;
        op.key = "pl/set/" + tag;
        // Padding fills pages faster, so that checkpoints come within a cycle.
        op.value = body + R"(,"pad":")" + QByteArray(120, 'x') + "\"}";
        break;
    }
    op.tool = QStringLiteral("state_set");
    op.args = R"({"key":")" + op.key + R"(","value":)" + op.value + "}";
    return op;
}

// Records an acknowledged answer; false when it is not a success.
bool record(const Op &op, const json::Document &answer, Ledger &ledger)
{
    const json::Value *sc = structured(answer);
    if (!sc)
        return false;
    switch (op.kind) {
    case Op::Set:
        if (!flag(sc, "ok"))
            return false;
        ledger.sets[op.key] = {op.value, field(sc, "revision")};
        break;
    case Op::Last: {
        if (!flag(sc, "ok"))
            return false;
        Ledger::Write &w = ledger.lasts[op.key];
        if (field(sc, "revision") > w.revision)
            w = {op.value, field(sc, "revision")};
        break;
    }
    case Op::Lease:
        if (!flag(sc, "acquired"))
            return false;
        ledger.leases[op.key] = field(sc, "fence");
        break;
    case Op::Run:
        if (!sc->find("run_id"))
            return false;
        ledger.runs.insert(sc->find("run_id")->toQString().toUtf8());
        break;
    }
    ++ledger.acknowledged;
    return true;
}

} // namespace

class TestPowerLoss : public QObject
{
    Q_OBJECT
private slots:
    void initTestCase();
    void vfsRollsBackUnsyncedWrites_data();
    void vfsRollsBackUnsyncedWrites();
    void vfsInjectsErrorsInProcess();
    void preloadedVfsSeesTheServersFiles();
    void powerLossKeepsAcknowledgedWrites();
    void powerLossInNormalDurability();
    void injectedWriteFaults_data();
    void injectedWriteFaults();
    void checkpointFaultsDoNotFailWrites();
    void failedFsyncThenCrash_data();
    void failedFsyncThenCrash();
    void injectedReadFault();
    void lockedDatabase();

private:
    void powerLossCycles(bool durable, int cycles);
    // Writes from kClients HTTP clients until `stopAfter` were acknowledged, then SIGKILLs the
    // server with the others in flight; answers that arrived before the kill count too.
    void writeUntilKilled(HttpServerProcess &server, int cycle, int stopAfter, Ledger &ledger);
    // Checks the recovered file (the server that recovered it runs) against the ledger; in normal
    // durability removes from it what the power loss took.
    void verify(const QString &db, bool durable, McpHttpClient &client, Ledger &ledger);

    QRandomGenerator m_rng;
};

void TestPowerLoss::initTestCase()
{
    QVERIFY2(!qEnvironmentVariable("FAULTVFS_LIB").isEmpty(), "FAULTVFS_LIB is not set (CTest sets it)");
    QVERIFY(QFile::exists(qEnvironmentVariable("FAULTVFS_LIB")));
    QVERIFY2(!qEnvironmentVariable("SIDECAR_BIN").isEmpty(), "SIDECAR_BIN is not set (CTest sets it)");
    const quint32 seed = QRandomGenerator::global()->generate();
    m_rng.seed(seed);
    qInfo() << "random seed" << seed;
}

// ---------------------------------------------------------------- the VFS itself

namespace {

// The forked child: 100 rows committed and synced, then 100 more committed without a sync; it
// dies without closing (no checkpoint, no sync at close). 0 on success.
int childWrites(const QByteArray &path, bool normal)
{
    sqlite3 *db = nullptr;
    if (sqlite3_open_v2(path.constData(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr)
        != SQLITE_OK)
        return 10;
    const char *setup = normal ? "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
                                 "CREATE TABLE t(i INTEGER PRIMARY KEY, v TEXT NOT NULL);"
                               : "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
                                 "CREATE TABLE t(i INTEGER PRIMARY KEY, v TEXT NOT NULL);";
    if (sqlite3_exec(db, setup, nullptr, nullptr, nullptr) != SQLITE_OK)
        return 11;
    for (int i = 0; i < 200; ++i) {
        if (i == 100) {
            // full: nothing is synced from here on. normal: a checkpoint syncs the WAL and the
            // database; the commits after it are never synced.
            const char *turn = normal ? "PRAGMA wal_checkpoint(PASSIVE)" : "PRAGMA synchronous=OFF";
            if (sqlite3_exec(db, turn, nullptr, nullptr, nullptr) != SQLITE_OK)
                return 12;
        }
        const QByteArray sql = "INSERT INTO t VALUES (" + QByteArray::number(i) + ", '" + QByteArray(200, 'v')
                               + "')";
        if (sqlite3_exec(db, sql.constData(), nullptr, nullptr, nullptr) != SQLITE_OK)
            return 13;
    }
    return 0; // the caller _exit()s: the connection is never closed
}

} // namespace

void TestPowerLoss::vfsRollsBackUnsyncedWrites_data()
{
    QTest::addColumn<bool>("normal");
    QTest::newRow("synchronous full, then off") << false;
    QTest::newRow("synchronous normal, checkpoint") << true;
}

void TestPowerLoss::vfsRollsBackUnsyncedWrites()
{
    QFETCH(bool, normal);
    TempDir dir;
    QVERIFY(dir.isValid());
    const QString db = dir.file(QStringLiteral("inproc.db"));
    const QByteArray path = QFile::encodeName(db);

    faultvfs_set_power_loss_journal(1);
    const pid_t child = ::fork();
    if (child == 0)
        ::_exit(childWrites(path, normal));
    faultvfs_set_power_loss_journal(0);
    QVERIFY(child > 0);
    int status = 0;
    QCOMPARE(::waitpid(child, &status, 0), child);
    QVERIFY2(WIFEXITED(status) && WEXITSTATUS(status) == 0,
             qPrintable(QStringLiteral("child status %1").arg(status)));
    QVERIFY(QFile::exists(db + QStringLiteral(".unsynced")));
    QVERIFY(QFile::exists(db + QStringLiteral("-wal.unsynced")));

    // The files as the crash left them (a process crash keeps every write): all 200 rows.
    const QString copy = dir.file(QStringLiteral("copy.db"));
    QVERIFY(QFile::copy(db, copy));
    QVERIFY(QFile::copy(db + QStringLiteral("-wal"), copy + QStringLiteral("-wal")));
    {
        SqlFile file(copy);
        QVERIFY2(file.isOpen(), qPrintable(file.error()));
        QCOMPARE(file.integer("SELECT count(*) FROM t").value_or(-999), qint64(200));
    }

    QString problem;
    faultvfs_power_loss_report undone{};
    QVERIFY2(powerLoss(db, &problem, &undone), qPrintable(problem));
    qInfo() << "power loss put back" << undone.records_undone << "ranges (" << undone.bytes_restored
            << "bytes), cut" << undone.bytes_truncated << "bytes";
    // full, then off: the WAL grew past its last sync and is cut back. normal: after the
    // checkpoint the WAL starts over from its beginning, and what was overwritten is put back.
    QVERIFY(normal ? undone.records_undone > 0 : undone.bytes_truncated > 0);
    QVERIFY(!QFile::exists(db + QStringLiteral("-shm")));
    QVERIFY(!QFile::exists(db + QStringLiteral(".unsynced")));
    QVERIFY(!QFile::exists(db + QStringLiteral("-wal.unsynced")));
    SqlFile file(db);
    QVERIFY2(file.isOpen(), qPrintable(file.error()));
    QCOMPARE(integrityCheck(file), QStringLiteral("ok"));
    // Exactly the synced commits.
    QCOMPARE(file.integer("SELECT count(*) FROM t").value_or(-999), qint64(100));
    QCOMPARE(file.integer("SELECT max(i) FROM t").value_or(-999), qint64(99));
}

void TestPowerLoss::vfsInjectsErrorsInProcess()
{
    QCOMPARE(QByteArray(sqlite3_vfs_find(nullptr)->zName), QByteArray("faultvfs"));
    TempDir dir;
    const QString db = dir.file(QStringLiteral("errors.db"));
    sqlite3 *h = nullptr;
    QCOMPARE(sqlite3_open_v2(QFile::encodeName(db).constData(), &h,
                             SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr),
             SQLITE_OK);
    auto exec = [h](const char *sql) { return sqlite3_exec(h, sql, nullptr, nullptr, nullptr); };
    QCOMPARE(exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; CREATE TABLE t(x)"), SQLITE_OK);
    faultvfs_stats before;
    faultvfs_get_stats(&before);

    QCOMPARE(faultvfs_configure("write_fault=full"), 0);
    QCOMPARE(exec("INSERT INTO t VALUES (1)"), SQLITE_FULL);
    QCOMPARE(faultvfs_configure("write_fault=ioerr"), 0);
    QCOMPARE(exec("INSERT INTO t VALUES (2)") & 0xff, SQLITE_IOERR);
    QCOMPARE(faultvfs_configure("sync_fault=ioerr"), 0);
    QCOMPARE(exec("INSERT INTO t VALUES (3)") & 0xff, SQLITE_IOERR);
    QCOMPARE(sqlite3_extended_errcode(h), SQLITE_IOERR_FSYNC);
    QCOMPARE(faultvfs_configure(nullptr), 0);
    QCOMPARE(exec("INSERT INTO t VALUES (4)"), SQLITE_OK);
    // A read of a page that is not cached: a second connection, whose cache is empty.
    sqlite3 *reader = nullptr;
    QCOMPARE(sqlite3_open_v2(QFile::encodeName(db).constData(), &reader, SQLITE_OPEN_READONLY, nullptr),
             SQLITE_OK);
    QCOMPARE(faultvfs_configure("read_fault=ioerr"), 0);
    QCOMPARE(sqlite3_exec(reader, "SELECT count(*) FROM t", nullptr, nullptr, nullptr) & 0xff, SQLITE_IOERR);
    QCOMPARE(faultvfs_configure(""), 0);
    sqlite3_stmt *st = nullptr;
    QCOMPARE(sqlite3_prepare_v2(reader, "SELECT group_concat(x) FROM t", -1, &st, nullptr), SQLITE_OK);
    QCOMPARE(sqlite3_step(st), SQLITE_ROW);
    QCOMPARE(QByteArray(reinterpret_cast<const char *>(sqlite3_column_text(st, 0))), QByteArray("4"));
    sqlite3_finalize(st);
    sqlite3_close_v2(reader);
    QCOMPARE(faultvfs_configure("bogus=1"), -1);
    QCOMPARE(faultvfs_configure("write_fault=sometimes"), -1);
    sqlite3_close_v2(h);

    faultvfs_stats after;
    faultvfs_get_stats(&after);
    QCOMPARE(after.injected_full - before.injected_full, 1LL);
    QVERIFY(after.injected_write > before.injected_write);
    QVERIFY(after.injected_sync > before.injected_sync);
    QVERIFY(after.injected_read > before.injected_read);
}

void TestPowerLoss::preloadedVfsSeesTheServersFiles()
{
    TempDir dir;
    const QString db = dir.file(QStringLiteral("preload.db"));
    const QString stats = dir.file(QStringLiteral("stats"));
    ServerProcess server;
    QVERIFY2(server.start({QStringLiteral("--db-path"), db}, faultEnvironment({}, stats, true)),
             qPrintable(server.errorString()));
    QVERIFY2(server.initialize(), qPrintable(server.errorString()));
    auto set = server.call(QStringLiteral("state_set"), R"({"key":"k","value":1})");
    QVERIFY(set && structured(*set));
    // The server's connections (QtSql's, through the default VFS) opened the database and its WAL
    // through faultvfs, wrote and synced them, and journaled what was not yet synced.
    QVERIFY(QFile::exists(db + QStringLiteral(".unsynced")));
    QVERIFY(QFile::exists(db + QStringLiteral("-wal.unsynced")));
    server.closeInput();
    QVERIFY(server.waitForExit(30000));
    QCOMPARE(server.process().exitCode(), 0);
    auto s = readStats(stats); // written at exit
    QVERIFY2(s["opens"] >= 3 && s["writes"] > 0 && s["syncs"] > 0 && s["undo_records"] > 0,
             qPrintable(QStringLiteral("opens %1 writes %2 syncs %3 undo records %4")
                            .arg(s["opens"])
                            .arg(s["writes"])
                            .arg(s["syncs"])
                            .arg(s["undo_records"])));
    // A clean shutdown checkpoints and deletes the WAL, and its journal with it.
    QVERIFY(!QFile::exists(db + QStringLiteral("-wal")));
    QVERIFY(!QFile::exists(db + QStringLiteral("-wal.unsynced")));
}

// ---------------------------------------------------------------- power loss through the server

void TestPowerLoss::writeUntilKilled(HttpServerProcess &server, int cycle, int stopAfter, Ledger &ledger)
{
    std::vector<std::unique_ptr<McpHttpClient>> clients;
    for (int c = 0; c < kClients; ++c) {
        clients.push_back(std::make_unique<McpHttpClient>(server.port()));
        QVERIFY2(clients.back()->initialize(), qPrintable(clients.back()->errorString()));
    }
    struct Slot
    {
        std::unique_ptr<HttpConnection> connection;
        Op op;
        int next = 0;
    };
    std::vector<Slot> flights(kClients);
    auto send = [&](int c) {
        Slot &s = flights[std::size_t(c)];
        s.op = makeOp(cycle, c, s.next++);
        s.connection = clients[std::size_t(c)]->startCall(s.op.tool, s.op.args);
        return s.connection != nullptr;
    };
    for (int c = 0; c < kClients; ++c)
        QVERIFY2(send(c), qPrintable(clients[std::size_t(c)]->errorString()));

    int acknowledged = 0;
    QDeadlineTimer deadline(60000);
    for (bool killed = false; !killed;) {
        for (int c = 0; c < kClients && !killed; ++c) {
            Slot &s = flights[std::size_t(c)];
            auto answer = readAnswer(s.connection.get(), 30000);
            s.connection.reset();
            QVERIFY2(answer, "a write got no answer");
            QVERIFY2(record(s.op, *answer, ledger), answer->root().compact().constData());
            QVERIFY2(send(c), qPrintable(clients[std::size_t(c)]->errorString()));
            if (++acknowledged >= stopAfter || deadline.hasExpired()) {
                // Every client has a write out: on the wire, in the batch being committed or in
                // its fsync, or just answered.
                QThread::usleep(m_rng.bounded(600u));
                server.kill();
                killed = true;
            }
        }
    }
    QVERIFY(server.waitForExit(30000));
    // An answer that left the server before it died was acknowledged too.
    for (Slot &s : flights) {
        if (!s.connection)
            continue;
        auto answer = readAnswer(s.connection.get(), 2000);
        if (answer && structured(*answer))
            QVERIFY2(record(s.op, *answer, ledger), answer->root().compact().constData());
        else
            ++ledger.inFlightAtKill;
    }
}

void TestPowerLoss::verify(const QString &db, bool durable, McpHttpClient &client, Ledger &ledger)
{
    SqlFile file(db);
    QVERIFY2(file.isOpen(), qPrintable(file.error()));
    QCOMPARE(integrityCheck(file), QStringLiteral("ok"));

    // History: strictly increasing in insertion order, gapless, ending at the store's revision.
    const auto history = file.rows("SELECT revision FROM history ORDER BY id");
    QVERIFY2(history, qPrintable(file.error()));
    const auto storeRevision = file.integer("SELECT value FROM meta WHERE name = 'revision'");
    QVERIFY(storeRevision);
    qint64 previous = 0;
    for (const QByteArrayList &row : *history) {
        const qint64 revision = row.front().toLongLong();
        QVERIFY2(revision > previous,
                 qPrintable(QStringLiteral("history revision %1 after %2").arg(revision).arg(previous)));
        QVERIFY2(previous == 0 || revision == previous + 1,
                 qPrintable(QStringLiteral("history jumps from %1 to %2").arg(previous).arg(revision)));
        previous = revision;
    }
    QCOMPARE(previous, *storeRevision);

    // History and data agree: no data without its entry, no entry without its data.
    const std::pair<const char *, const char *> agreement[] = {
        {"kv rows without their history entry",
         "SELECT count(*) FROM kv WHERE NOT EXISTS (SELECT 1 FROM history h "
         "WHERE h.kind = 'kv' AND h.op = 'set' AND h.key = kv.key AND h.revision = kv.version "
         "AND h.new_value = kv.value)"},
        {"kv history entries without their data",
         "SELECT count(*) FROM history h WHERE h.kind = 'kv' AND h.op = 'set' AND NOT EXISTS "
         "(SELECT 1 FROM kv WHERE kv.key = h.key AND kv.version >= h.revision)"},
        {"leases without their grant",
         "SELECT count(*) FROM leases l WHERE NOT EXISTS (SELECT 1 FROM history h "
         "WHERE h.kind = 'lease' AND h.op = 'acquire' AND h.key = l.resource_id AND h.revision = l.fence)"},
        {"lease grants without their lease",
         "SELECT count(*) FROM history h WHERE h.kind = 'lease' AND h.op = 'acquire' AND NOT EXISTS "
         "(SELECT 1 FROM leases l WHERE l.resource_id = h.key AND l.fence = h.revision)"},
        {"runs without their creation",
         "SELECT count(*) FROM workflows w WHERE NOT EXISTS (SELECT 1 FROM history h "
         "WHERE h.kind = 'workflow' AND h.op = 'create' AND h.key = w.run_id)"},
        {"run creations without their run",
         "SELECT count(*) FROM history h WHERE h.kind = 'workflow' AND h.op = 'create' AND NOT EXISTS "
         "(SELECT 1 FROM workflows w WHERE w.run_id = h.key)"},
    };
    for (const auto &[what, sql] : agreement) {
        const auto n = file.integer(sql);
        QVERIFY2(n, qPrintable(file.error()));
        QVERIFY2(*n == 0, qPrintable(QStringLiteral("%1: %2").arg(QLatin1String(what)).arg(*n)));
    }

    // The acknowledged writes. Durability full: all of them. Normal: those at or below the
    // surviving revision R are there, those above are gone (a prefix).
    const qint64 R = *storeRevision;
    qint64 lost = 0;
    for (auto it = ledger.sets.begin(); it != ledger.sets.end();) {
        const auto row = file.rows("SELECT value, version FROM kv WHERE key = ?", {it->first});
        QVERIFY(row);
        const QString where = QString::fromUtf8(it->first)
                              + QStringLiteral(" (revision %1, store at %2)").arg(it->second.revision).arg(R);
        if (!durable && it->second.revision > R) {
            QVERIFY2(row->isEmpty(),
                     qPrintable(where + QStringLiteral(" is there past the surviving revision")));
            ++lost;
            it = ledger.sets.erase(it);
            continue;
        }
        QVERIFY2(!row->isEmpty(), qPrintable(where + QStringLiteral(" was acknowledged but is lost")));
        QCOMPARE(row->front().at(0), it->second.value);
        QCOMPARE(row->front().at(1).toLongLong(), it->second.revision);
        ++it;
    }
    for (auto it = ledger.lasts.begin(); it != ledger.lasts.end();) {
        const auto row = file.rows("SELECT value, version FROM kv WHERE key = ?", {it->first});
        QVERIFY(row);
        const qint64 version = row->isEmpty() ? 0 : row->front().at(1).toLongLong();
        if (!durable && it->second.revision > R) {
            QVERIFY(version <= R);
            ++lost;
            it = ledger.lasts.erase(it);
            continue;
        }
        QVERIFY2(
            version >= it->second.revision,
            qPrintable(
                QString::fromUtf8(it->first)
                + QStringLiteral(": version %1, acknowledged %2").arg(version).arg(it->second.revision)));
        if (version == it->second.revision)
            QCOMPARE(row->front().at(0), it->second.value);
        ++it;
    }
    for (auto it = ledger.leases.begin(); it != ledger.leases.end();) {
        const auto fence = file.integer("SELECT fence FROM leases WHERE resource_id = ?", {it->first}, -1);
        QVERIFY(fence);
        if (!durable && it->second > R) {
            QCOMPARE(*fence, qint64(-1));
            ++lost;
            it = ledger.leases.erase(it);
            continue;
        }
        QVERIFY2(*fence == it->second,
                 qPrintable(QString::fromUtf8(it->first)
                            + QStringLiteral(": fence %1, acknowledged %2").arg(*fence).arg(it->second)));
        ++it;
    }
    if (durable) {
        for (const QByteArray &run : ledger.runs)
            QVERIFY2(file.integer("SELECT count(*) FROM workflows WHERE run_id = ?", {run})
                         == std::optional<qint64>(1),
                     qPrintable(QString::fromUtf8(run) + QStringLiteral(" was acknowledged but is lost")));
    }
    ledger.lost += lost;

    // Through the server that recovered the file: a sample of the keys, then a new write that gets
    // the next revision (the revision never goes back below what survived).
    int sampled = 0;
    for (const auto &[key, write] : ledger.sets) {
        if (m_rng.bounded(std::max<quint32>(1, quint32(ledger.sets.size() / 20))) != 0 || ++sampled > 25)
            continue;
        auto got = client.call(QStringLiteral("state_get"), R"({"key":")" + key + R"("})");
        QVERIFY2(got, qPrintable(client.errorString()));
        const json::Value *sc = structured(*got);
        QVERIFY2(flag(sc, "found"), got->root().compact().constData());
        QCOMPARE(sc->find("value")->compact(), write.value);
        QCOMPARE(field(sc, "version"), write.revision);
    }
    auto probe = client.call(QStringLiteral("state_set"),
                             R"({"key":"probe","value":)" + QByteArray::number(R) + "}");
    QVERIFY2(probe && structured(*probe), probe ? probe->root().compact().constData() : "no answer");
    QCOMPARE(field(structured(*probe), "revision"), R + 1);
}

void TestPowerLoss::powerLossCycles(bool durable, int cycles)
{
    TempDir dir;
    QVERIFY(dir.isValid());
    const QString db = dir.file(durable ? QStringLiteral("full.db") : QStringLiteral("normal.db"));
    const QString stats = dir.file(QStringLiteral("stats"));
    const QStringList args{QStringLiteral("--durability"),
                           durable ? QStringLiteral("full") : QStringLiteral("normal")};
    Ledger ledger;
    faultvfs_power_loss_report undone{};
    QElapsedTimer timer;
    timer.start();
    for (int cycle = 0; cycle <= cycles; ++cycle) {
        // The last start only checks, without the VFS: the plain server reads what power loss left.
        const bool last = cycle == cycles;
        HttpServerProcess server;
        QVERIFY2(
            server.start(args, db,
                         last ? QProcessEnvironment::systemEnvironment() : faultEnvironment({}, stats, true)),
            qPrintable(server.errorString()));
        McpHttpClient checker(server.port());
        QVERIFY2(checker.initialize(), qPrintable(checker.errorString()));
        const qint64 lostBefore = ledger.lost;
        verify(db, durable, checker, ledger);
        if (QTest::currentTestFailed())
            return;
        if (cycle > 0)
            qInfo().noquote() << QStringLiteral(
                                     "cycle %1: %2 acknowledged writes checked, %3 lost to power loss")
                                     .arg(cycle)
                                     .arg(ledger.sets.size() + ledger.lasts.size() + ledger.leases.size()
                                          + (durable ? ledger.runs.size() : 0))
                                     .arg(ledger.lost - lostBefore);
        if (last) {
            server.terminate();
            QVERIFY(server.waitForExit(30000));
            break;
        }
        const int stopAfter = durable ? 100 + int(m_rng.bounded(300u)) : 300 + int(m_rng.bounded(1200u));
        writeUntilKilled(server, cycle, stopAfter, ledger);
        if (QTest::currentTestFailed())
            return;
        QString problem;
        QVERIFY2(powerLoss(db, &problem, &undone), qPrintable(problem));
    }
    qInfo().noquote()
        << QStringLiteral("%1: %2 power losses, %3 writes acknowledged (%4 lost: normal durability "
                          "promises nothing past the last WAL sync), %5 unanswered at a kill; power "
                          "loss put back %6 overwritten ranges (%7 bytes) and cut %8 appended bytes; %9 ms")
               .arg(durable ? QStringLiteral("full") : QStringLiteral("normal"))
               .arg(cycles)
               .arg(ledger.acknowledged)
               .arg(ledger.lost)
               .arg(ledger.inFlightAtKill)
               .arg(undone.records_undone)
               .arg(undone.bytes_restored)
               .arg(undone.bytes_truncated)
               .arg(timer.elapsed());
    if (durable)
        QCOMPARE(ledger.lost, qint64(0));
}

void TestPowerLoss::powerLossKeepsAcknowledgedWrites()
{
    powerLossCycles(true, kFullCycles);
}

void TestPowerLoss::powerLossInNormalDurability()
{
    powerLossCycles(false, kNormalCycles);
}

// ---------------------------------------------------------------- injected faults

void TestPowerLoss::injectedWriteFaults_data()
{
    QTest::addColumn<QByteArray>("settings");
    QTest::addColumn<QByteArray>("counter"); // the VFS's count of what was injected
    QTest::addColumn<bool>("writesFail");
    QTest::addColumn<QString>("message"); // in the error's message
    QTest::newRow("disk full") << QByteArray("write_fault=full") << QByteArray("injected_full") << true
                               << QStringLiteral("full");
    QTest::newRow("disk full after 2 writes")
        << QByteArray("write_fault=full\nwrite_fault_after=2") << QByteArray("injected_full") << true
        << QStringLiteral("full");
    QTest::newRow("write I/O error") << QByteArray("write_fault=ioerr") << QByteArray("injected_write")
                                     << true << QStringLiteral("I/O");
    QTest::newRow("WAL write I/O error") << QByteArray("write_fault=ioerr\ntarget=wal")
                                         << QByteArray("injected_write") << true << QStringLiteral("I/O");
    QTest::newRow("fsync fails") << QByteArray("sync_fault=ioerr") << QByteArray("injected_sync") << true
                                 << QStringLiteral("I/O");
    QTest::newRow("slow fsync") << QByteArray("sync_delay_ms=150") << QByteArray("delayed_syncs") << false
                                << QString();
}

void TestPowerLoss::injectedWriteFaults()
{
    QFETCH(QByteArray, settings);
    QFETCH(QByteArray, counter);
    QFETCH(bool, writesFail);
    QFETCH(QString, message);
    TempDir dir;
    const QString db = dir.file(QStringLiteral("faults.db"));
    const QString control = dir.file(QStringLiteral("control"));
    const QString stats = dir.file(QStringLiteral("stats"));
    QVERIFY(setFaults(control, "# no faults"));
    const QStringList args{QStringLiteral("--db-path"), db, QStringLiteral("--durability"),
                           QStringLiteral("full")};

    qint64 lastRevision = 0;
    {
        ServerProcess server;
        QVERIFY2(server.start(args, faultEnvironment(control, stats, false)),
                 qPrintable(server.errorString()));
        QVERIFY2(server.initialize(), qPrintable(server.errorString()));
        auto before = server.call(QStringLiteral("state_set"), R"({"key":"before","value":1})");
        QVERIFY(before && structured(*before));
        lastRevision = field(structured(*before), "revision");

        QVERIFY(setFaults(control, settings));
        // Several writes at once (one batch or a few), of three kinds.
        QList<QByteArray> ids;
        for (int i = 0; i < 6; ++i) {
            const QByteArray id = QByteArray::number(server.nextId());
            ids.append(id);
            QByteArray params;
            if (i == 4)
                params =
                    R"({"name":"lease_acquire","arguments":{"resource_id":"failed/lease","holder_id":"h","ttl_seconds":60}})";
            else if (i == 5)
                params =
                    R"({"name":"workflow_create","arguments":{"name":"failed","idempotency_key":"failed/run"}})";
            else
                params = R"({"name":"state_set","arguments":{"key":"failed/)" + QByteArray::number(i)
                         + R"(","value":1}})";
            server.sendLine(R"({"jsonrpc":"2.0","id":)" + id + R"(,"method":"tools/call","params":)" + params
                            + "}");
        }
        int failed = 0;
        for (const QByteArray &id : ids) {
            auto answer = server.waitFor(id, 30000);
            QVERIFY2(answer, "no answer during the fault");
            if (structured(*answer)) {
                QVERIFY2(!writesFail, answer->root().compact().constData());
                continue;
            }
            QVERIFY2(writesFail, answer->root().compact().constData());
            QCOMPARE(toolErrorCode(*answer), QStringLiteral("unavailable"));
            const QString text = toolErrorMessage(*answer);
            QVERIFY2(text.contains(message, Qt::CaseInsensitive), qPrintable(text));
            if (++failed == 1)
                qInfo().noquote() << "the error:" << text;
        }
        // The server answers during the fault: reads, and a ping.
        auto read = server.call(QStringLiteral("state_get"), R"({"key":"before"})");
        QVERIFY2(read && flag(structured(*read), "found"),
                 read ? read->root().compact().constData() : "no answer");
        QVERIFY(server.request(QStringLiteral("ping")));
        const auto injected = readStats(stats);
        QVERIFY2(injected.count(counter) && injected.at(counter) > 0, counter.constData());

        QVERIFY(setFaults(control, "# cleared"));
        // The next write gets the next revision: the failed writes took none, and are nowhere.
        auto after = server.call(QStringLiteral("state_set"), R"({"key":"after","value":2})");
        QVERIFY2(after && structured(*after), after ? after->root().compact().constData() : "no answer");
        const qint64 expected = writesFail ? lastRevision + 1 : lastRevision + 7;
        QCOMPARE(field(structured(*after), "revision"), expected);
        lastRevision = expected;
        if (writesFail) {
            auto list = server.call(QStringLiteral("state_list"), R"({"prefix":"failed/"})");
            QVERIFY(list && structured(*list));
            QCOMPARE(structured(*list)->find("keys")->compact(), QByteArray("[]"));
            auto leases = server.call(QStringLiteral("lease_list"), R"({"prefix":"failed/"})");
            QVERIFY(leases && structured(*leases));
            auto history = server.call(QStringLiteral("history_log"), R"({"prefix":"failed/","n":100})");
            QVERIFY(history && structured(*history));
            QCOMPARE(field(structured(*history), "total"), qint64(0));
        }
        QVERIFY(server.process().state() == QProcess::Running);
        server.closeInput();
        QVERIFY(server.waitForExit(30000));
        QCOMPARE(server.process().exitCode(), 0);
    }
    // After a restart too (without the VFS): the file is whole, the failed batch absent.
    SqlFile file(db);
    QVERIFY2(file.isOpen(), qPrintable(file.error()));
    QCOMPARE(integrityCheck(file), QStringLiteral("ok"));
    QCOMPARE(file.integer("SELECT value FROM meta WHERE name = 'revision'").value_or(-999),
             qint64(lastRevision));
    QCOMPARE(file.integer("SELECT count(*) FROM history WHERE key LIKE 'failed/%'").value_or(-999),
             qint64(writesFail ? 0 : 5));
    QCOMPARE(file.integer("SELECT count(*) FROM kv WHERE key = 'after'").value_or(-999), qint64(1));
}

void TestPowerLoss::checkpointFaultsDoNotFailWrites()
{
    // The disk fills up where only the database file grows: commits append to the WAL (which
    // reuses its space), checkpoints copy pages into the database file and fail. Writes go on
    // succeeding: a checkpoint is not part of any write.
    TempDir dir;
    const QString db = dir.file(QStringLiteral("ckpt.db"));
    const QString control = dir.file(QStringLiteral("control"));
    const QString stats = dir.file(QStringLiteral("stats"));
    QVERIFY(setFaults(control, ""));
    const QByteArray big = '"' + QByteArray(6000, 'b') + '"';
    qint64 revision = 0;
    {
        ServerProcess server;
        QVERIFY2(server.start({QStringLiteral("--db-path"), db}, faultEnvironment(control, stats, false)),
                 qPrintable(server.errorString()));
        QVERIFY2(server.initialize(), qPrintable(server.errorString())); // the file is created
        QVERIFY(setFaults(control, "write_fault=full\ntarget=db"));
        // Each write puts the value in the key's row and in its history entry (overflow pages):
        // well past the 200 WAL pages at which durability full checkpoints.
        for (int i = 0; i < 80; ++i) {
            auto set = server.call(QStringLiteral("state_set"),
                                   R"({"key":"big/)" + QByteArray::number(i) + R"(","value":)" + big + "}");
            QVERIFY2(set && structured(*set), set ? set->root().compact().constData() : "no answer");
            QVERIFY(field(structured(*set), "revision") > revision);
            revision = field(structured(*set), "revision");
        }
        QVERIFY2(readStats(stats)["injected_full"] > 0, "no checkpoint met the full disk");
        QVERIFY(setFaults(control, ""));
        auto after = server.call(QStringLiteral("state_set"), R"({"key":"after","value":1})");
        QVERIFY(after && structured(*after));
        QCOMPARE(field(structured(*after), "revision"), revision + 1);
        server.closeInput(); // the last checkpoint, at close, now succeeds
        QVERIFY(server.waitForExit(30000));
        QCOMPARE(server.process().exitCode(), 0);
    }
    QVERIFY(!QFile::exists(db + QStringLiteral("-wal")));
    SqlFile file(db);
    QVERIFY2(file.isOpen(), qPrintable(file.error()));
    QCOMPARE(integrityCheck(file), QStringLiteral("ok"));
    QCOMPARE(file.integer("SELECT count(*) FROM kv WHERE key LIKE 'big/%' AND length(value) = 6002")
                 .value_or(-999),
             qint64(80));
    QCOMPARE(file.integer("SELECT value FROM meta WHERE name = 'revision'").value_or(-999), revision + 1);
}

void TestPowerLoss::failedFsyncThenCrash_data()
{
    QTest::addColumn<bool>("powerLossToo");
    QTest::newRow("process crash") << false;
    QTest::newRow("power loss") << true;
}

void TestPowerLoss::failedFsyncThenCrash()
{
    // A write whose commit met a failed fsync is answered `unavailable`, which for a write means
    // that its outcome is unknown (TOOLS.md): its WAL frames were written, only not synced. Killed
    // right after, before any other commit overwrote them, the server finds the write committed
    // after a process crash (the frames are complete and SQLite's recovery keeps them) and gone
    // after a power loss (they were never synced); never half of it.
    QFETCH(bool, powerLossToo);
    TempDir dir;
    const QString db = dir.file(QStringLiteral("fsync.db"));
    const QString control = dir.file(QStringLiteral("control"));
    QVERIFY(setFaults(control, ""));
    qint64 before = 0;
    {
        ServerProcess server;
        QVERIFY2(server.start({QStringLiteral("--db-path"), db}, faultEnvironment(control, {}, powerLossToo)),
                 qPrintable(server.errorString()));
        QVERIFY2(server.initialize(), qPrintable(server.errorString()));
        auto base = server.call(QStringLiteral("state_set"), R"({"key":"base","value":1})");
        QVERIFY(base && structured(*base));
        before = field(structured(*base), "revision");
        QVERIFY(setFaults(control, "sync_fault=ioerr"));
        auto failed = server.call(QStringLiteral("state_set"), R"({"key":"maybe","value":{"n":1}})");
        QVERIFY(failed);
        QCOMPARE(toolErrorCode(*failed), QStringLiteral("unavailable"));
        server.process().kill();
        QVERIFY(server.waitForExit(30000));
    }
    if (powerLossToo) {
        QString problem;
        QVERIFY2(powerLoss(db, &problem), qPrintable(problem));
    }
    ServerProcess again;
    QVERIFY2(again.start({QStringLiteral("--db-path"), db}), qPrintable(again.errorString()));
    QVERIFY2(again.initialize(), qPrintable(again.errorString()));
    SqlFile file(db);
    QVERIFY2(file.isOpen(), qPrintable(file.error()));
    QCOMPARE(integrityCheck(file), QStringLiteral("ok"));
    const qint64 revision = file.integer("SELECT value FROM meta WHERE name = 'revision'").value_or(-999);
    const auto row = file.rows("SELECT value, version FROM kv WHERE key = 'maybe'");
    QVERIFY(row);
    const qint64 entries = file.integer("SELECT count(*) FROM history WHERE key = 'maybe'").value_or(-999);
    if (row->isEmpty()) {
        QCOMPARE(revision, before);
        QCOMPARE(entries, qint64(0));
    } else {
        QCOMPARE(revision, before + 1);
        QCOMPARE(row->front().at(0), QByteArray(R"({"n":1})"));
        QCOMPARE(row->front().at(1).toLongLong(), before + 1);
        QCOMPARE(entries, qint64(1));
    }
    if (powerLossToo)
        QVERIFY2(row->isEmpty(), "an unsynced commit survived power loss");
    qInfo().noquote() << (row->isEmpty() ? "the write answered `unavailable` is absent"
                                         : "the write answered `unavailable` was committed after all");
    auto next = again.call(QStringLiteral("state_set"), R"({"key":"next","value":2})");
    QVERIFY(next && structured(*next));
    QCOMPARE(field(structured(*next), "revision"), revision + 1);
    again.closeInput();
    QVERIFY(again.waitForExit(30000));
}

void TestPowerLoss::injectedReadFault()
{
    TempDir dir;
    const QString db = dir.file(QStringLiteral("reads.db"));
    const QString control = dir.file(QStringLiteral("control"));
    const QString stats = dir.file(QStringLiteral("stats"));
    QVERIFY(setFaults(control, ""));
    ServerProcess server;
    QVERIFY2(server.start({QStringLiteral("--db-path"), db}, faultEnvironment(control, stats, false)),
             qPrintable(server.errorString()));
    QVERIFY2(server.initialize(), qPrintable(server.errorString()));
    auto set = server.call(QStringLiteral("state_set"), R"({"key":"k","value":"v"})");
    QVERIFY(set && structured(*set));

    // The reader's cache is stale after that write: it reads the new pages, and meets the error.
    QVERIFY(setFaults(control, "read_fault=ioerr"));
    auto failed = server.call(QStringLiteral("state_get"), R"({"key":"k"})");
    QVERIFY2(failed, "no answer");
    QCOMPARE(toolErrorCode(*failed), QStringLiteral("unavailable"));
    QVERIFY2(toolErrorMessage(*failed).contains(QStringLiteral("I/O")),
             qPrintable(toolErrorMessage(*failed)));
    qInfo().noquote() << "the error:" << toolErrorMessage(*failed);
    QVERIFY(readStats(stats)["injected_read"] > 0);

    QVERIFY(setFaults(control, ""));
    auto got = server.call(QStringLiteral("state_get"), R"({"key":"k"})");
    QVERIFY2(got && flag(structured(*got), "found"), got ? got->root().compact().constData() : "no answer");
    QCOMPARE(structured(*got)->find("value")->compact(), QByteArray("\"v\""));
    auto next = server.call(QStringLiteral("state_set"), R"({"key":"k2","value":2})");
    QVERIFY(next && structured(*next));
    QCOMPARE(field(structured(*next), "revision"), field(structured(*set), "revision") + 1);
}

void TestPowerLoss::lockedDatabase()
{
    TempDir dir;
    const QString db = dir.file(QStringLiteral("locked.db"));
    ServerProcess server;
    QVERIFY2(server.start({QStringLiteral("--db-path"), db}), qPrintable(server.errorString()));
    QVERIFY2(server.initialize(), qPrintable(server.errorString()));
    auto first = server.call(QStringLiteral("state_set"), R"({"key":"before","value":1})");
    QVERIFY(first && structured(*first));

    // Another process's write transaction: this test process, on its own connection.
    SqlFile other(db);
    QVERIFY2(other.isOpen(), qPrintable(other.error()));
    QCOMPARE(other.exec("BEGIN IMMEDIATE"), SQLITE_OK);
    QElapsedTimer held;
    held.start();
    const QByteArray id = QByteArray::number(server.nextId());
    server.sendLine(
        R"({"jsonrpc":"2.0","id":)" + id
        + R"(,"method":"tools/call","params":{"name":"state_set","arguments":{"key":"during","value":2}}})");
    // Reads go on (WAL: readers never wait for a writer).
    auto read = server.call(QStringLiteral("state_get"), R"({"key":"before"})");
    QVERIFY2(read && flag(structured(*read), "found"),
             read ? read->root().compact().constData() : "no answer");
    // Past one busy timeout (10 s): the batch meets SQLITE_BUSY and is retried.
    while (held.elapsed() < 11500)
        server.pump(100);
    const QByteArray answerTag = R"("id":)" + id + ',';
    for (const QByteArray &line : server.unclaimed())
        QVERIFY2(!line.contains(answerTag), "the write was answered while the lock was held");
    QCOMPARE(other.exec("ROLLBACK"), SQLITE_OK);
    auto answer = server.waitFor(id, 30000);
    QVERIFY2(answer && structured(*answer), answer ? answer->root().compact().constData() : "no answer");
    QCOMPARE(field(structured(*answer), "revision"), field(structured(*first), "revision") + 1);
    qInfo() << "the write waited" << held.elapsed() << "ms for the lock";
    QVERIFY2(server.stderrText().contains("SQLITE_BUSY, retrying"), server.stderrText().constData());
    server.closeInput();
    QVERIFY(server.waitForExit(30000));
    QCOMPARE(server.process().exitCode(), 0);
}

QTEST_GUILESS_MAIN(TestPowerLoss)
#include "tst_powerloss.moc"
