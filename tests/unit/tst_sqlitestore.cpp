// SqliteStore: the storage contract suite on a real temporary SQLite file (a fresh file per
// test), then what only the SQLite backend has: reopening, two instances on one file (as two
// processes would share it), schema versions, and the conversion of the original package's
// database.

#include <cmath>

#include <sys/stat.h>

#include <QDateTime>
#include <QFile>
#include <QProcess>
#include <QScopeGuard>
#include <QSignalSpy>
#include <QSqlDatabase>
#include <QSqlQuery>
#include <QStandardPaths>
#include <QtTest>

#include "storecontract.h"
#include "store/sqlitecursor.h"
#include "store/sqlitemigration.h"
#include "store/sqlitestore.h"
#include "testutil.h"

using namespace sidecar;
using namespace sidecar::store;
using sidecar::test::await;
using sidecar::test::describe;
using sidecar::test::waitUntil;

namespace {

#define CALL(T, s, method, ...) await<T>([&](Callback<T> cb_) { (s).method(__VA_OPT__(__VA_ARGS__, ) std::move(cb_)); })

#define REQUIRE_OK(var, expr)                                                         \
    auto var##_result = (expr);                                                       \
    QVERIFY2(var##_result.has_value(), qPrintable(describe(var##_result)));           \
    auto var = std::move(*var##_result)

QString str(const char *s)
{
    return QString::fromUtf8(s);
}

double now()
{
    return double(QDateTime::currentMSecsSinceEpoch()) / 1000.0;
}

KvSetArgs setArgs(const QString &key, const QByteArray &value, std::optional<std::int64_t> ifVersion = std::nullopt,
                  std::optional<double> ttl = std::nullopt)
{
    KvSetArgs a;
    a.key = key;
    a.value = value;
    a.ifVersion = ifVersion;
    a.ttlSeconds = ttl;
    return a;
}

// Runs SQL through the sqlite3 command-line shell, as an outside tool (or the original
// package) would write the file.
bool runSqlite3(const QString &path, const QByteArray &sql, QString *error = nullptr)
{
    const QString exe = QStandardPaths::findExecutable(QStringLiteral("sqlite3"));
    if (exe.isEmpty()) {
        if (error)
            *error = QStringLiteral("sqlite3 not found");
        return false;
    }
    QProcess p;
    p.start(exe, {path});
    if (!p.waitForStarted(10000))
        return false;
    p.write(sql);
    p.closeWriteChannel();
    if (!p.waitForFinished(30000))
        return false;
    if (error)
        *error = QString::fromUtf8(p.readAllStandardError());
    return p.exitStatus() == QProcess::NormalExit && p.exitCode() == 0 && p.readAllStandardError().isEmpty();
}

// A query on the file through a separate QtSql connection of the test's own.
QVariant queryValue(const QString &path, const QString &sql)
{
    static int counter = 0;
    const QString name = QStringLiteral("tst-sqlitestore-%1").arg(++counter);
    QVariant v;
    {
        QSqlDatabase db = QSqlDatabase::addDatabase(QStringLiteral("QSQLITE"), name);
        db.setDatabaseName(path);
        if (db.open()) {
            QSqlQuery q(db);
            if (q.exec(sql) && q.next())
                v = q.value(0);
            q.finish();
        }
        db.close();
    }
    QSqlDatabase::removeDatabase(name);
    return v;
}

} // namespace

class TestSqliteStore : public QObject
{
    Q_OBJECT
public:
    explicit TestSqliteStore(test::TempDir &dir) : m_dir(dir) {}

private slots:
    void prefixSuccessor();
    void cursorCodec();
    void reopenKeepsDataAndRevision();
    void walAndSchemaVersion();
    void scriptSplitKeepsTriggerBodies();
    void runTagsFollowRunStatus();
    void failingOperationRollsBackAlone();
    void readsQueuedTogetherAnswerAlone();
    void writeWaitsForAnotherWriterWhileReadsGoOn();
    void twoInstancesRaceClaims();
    void twoInstancesRaceLeases();
    void twoInstancesCompareAndSet();
    void revisionSharedAcrossInstances();
    void changedFiresForOtherInstance();
    void expiryRecordedOnceWithTwoInstances();
    void migratesOriginalDatabase();
    void refusesNewerSchema();
    void refusesForeignDatabase();
    void refusesUnopenablePath();
    void databaseFilesArePrivate();

private:
    std::unique_ptr<SqliteStore> openStore(const QString &path, StoreOptions options = {})
    {
        auto s = std::make_unique<SqliteStore>(path, options);
        if (auto r = s->open(); !r) {
            qWarning("open failed: %s", qPrintable(describe(r.error())));
            return nullptr;
        }
        return s;
    }
    QString freshPath() { return m_dir.uniqueFile(QStringLiteral("sqlite"), QStringLiteral(".db")); }

    test::TempDir &m_dir;
};

void TestSqliteStore::prefixSuccessor()
{
    using sqlite::prefixSuccessor;
    QVERIFY(!prefixSuccessor(QString()));
    QCOMPARE(*prefixSuccessor(str("a")), str("b"));
    QCOMPARE(*prefixSuccessor(str("a/")), str("a0"));
    QCOMPARE(*prefixSuccessor(str("ab\xc3\xa9")), str("ab\xc3\xaa"));
    // After U+D7FF comes U+E000 (surrogates are not characters).
    QCOMPARE(*prefixSuccessor(QString(QChar(0xD7FF))), QString(QChar(0xE000)));
    // A non-BMP last character.
    QCOMPARE(*prefixSuccessor(str("x\xf0\x9f\x98\x80")), str("x\xf0\x9f\x98\x81"));
    // U+10FFFF has no successor: that of the shorter prefix.
    QCOMPARE(*prefixSuccessor(str("a\xf4\x8f\xbf\xbf")), str("b"));
    QVERIFY(!prefixSuccessor(str("\xf4\x8f\xbf\xbf")));
}

void TestSqliteStore::cursorCodec()
{
    using namespace sqlite;
    const QByteArray f = filterHash(str("kv"), {str("p"), QString()});
    QVERIFY(f != filterHash(str("kv"), {str("p"), str("/")}));
    QVERIFY(filterHash(str("kv"), {str("ab"), str("c")}) != filterHash(str("kv"), {str("a"), str("bc")}));
    ListCursor c;
    c.list = str("kv");
    c.filters = f;
    c.afterKey = str("k\xc3\xa9/\"x");
    c.afterPrefix = true;
    const QString text = encodeCursor(c);
    QVERIFY(!text.contains(u'=') && !text.contains(u'+') && !text.contains(u'/'));
    auto back = decodeCursor(text, str("kv"), f);
    QVERIFY(back);
    QCOMPARE(back->afterKey, c.afterKey);
    QVERIFY(back->afterPrefix);
    QVERIFY(!decodeCursor(text, str("leases"), f));
    QVERIFY(!decodeCursor(text, str("kv"), filterHash(str("kv"), {str("q")})));
    QVERIFY(!decodeCursor(text.left(text.size() - 3), str("kv"), f));
    ListCursor n;
    n.list = str("workflows");
    n.filters = f;
    n.afterSeq = 1234567890123;
    auto seq = decodeCursor(encodeCursor(n), str("workflows"), f);
    QVERIFY(seq);
    QCOMPARE(qint64(seq->afterSeq), qint64(1234567890123));
    QVERIFY(seq->afterKey.isNull());
}

void TestSqliteStore::reopenKeepsDataAndRevision()
{
    const QString path = freshPath();
    std::int64_t revision = 0;
    QString runId;
    {
        auto s = openStore(path);
        QVERIFY(s);
        REQUIRE_OK(w, CALL(KvWriteResult, *s, kvSet, setArgs(str("k"), R"({"kept":[1.0]})")));
        WorkflowCreateArgs c;
        c.name = str("wf");
        REQUIRE_OK(created, CALL(WorkflowCreateResult, *s, workflowCreate, c));
        runId = created.run.runId;
        REQUIRE_OK(h, CALL(HealthInfo, *s, health));
        revision = h.revision;
        QVERIFY(revision >= w.revision);
        s->close();
    }
    auto s = openStore(path);
    QVERIFY(s);
    REQUIRE_OK(g, CALL(KvEntry, *s, kvGet, str("k")));
    QVERIFY(g.found);
    QCOMPARE(g.value, QByteArray(R"({"kept":[1.0]})"));
    REQUIRE_OK(m, CALL(WorkflowMeta, *s, workflowStatus, runId));
    QCOMPARE(m.name, str("wf"));
    REQUIRE_OK(h, CALL(HealthInfo, *s, health));
    QCOMPARE(qint64(h.revision), qint64(revision));
    REQUIRE_OK(w2, CALL(KvWriteResult, *s, kvSet, setArgs(str("k2"), "1")));
    QCOMPARE(qint64(w2.revision), qint64(revision + 1));
    QVERIFY(s->backupPath().isEmpty());
}

void TestSqliteStore::walAndSchemaVersion()
{
    const QString path = freshPath();
    auto s = openStore(path);
    QVERIFY(s);
    QCOMPARE(queryValue(path, str("PRAGMA journal_mode")).toString(), str("wal"));
    QCOMPARE(queryValue(path, str("PRAGMA user_version")).toInt(), sqlite::latestSchemaVersion());
    QCOMPARE(queryValue(path, str("SELECT value FROM meta WHERE name = 'revision'")).toLongLong(), 0LL);
    QCOMPARE(s->backendName(), str("sqlite"));
}

void TestSqliteStore::scriptSplitKeepsTriggerBodies()
{
    const QStringList parts = sqlite::splitSqlScript(
        str("CREATE TABLE a (x); -- one; comment\n"
            "CREATE TRIGGER t AFTER INSERT ON a BEGIN UPDATE a SET x = 1; DELETE FROM a WHERE x = ';'; END;\n"
            "create temp trigger u after delete on a begin select 1; end;INSERT INTO a VALUES ('end;');"));
    QCOMPARE(parts.size(), 4);
    QVERIFY(parts[1].startsWith(str("CREATE TRIGGER t")));
    QVERIFY(parts[1].endsWith(str("END")));
    QVERIFY(parts[2].startsWith(str("create temp trigger u")));
    QCOMPARE(parts[3], str("INSERT INTO a VALUES ('end;')"));
}

// run_tags.open (migration 003) follows the run's status through the triggers: claim_next by tag
// walks only open runs.
void TestSqliteStore::runTagsFollowRunStatus()
{
    const QString path = freshPath();
    auto s = openStore(path);
    QVERIFY(s);
    WorkflowCreateArgs c;
    c.name = str("job");
    c.tags = {{str("queue"), str("q")}, {str("lane"), str("a")}};
    REQUIRE_OK(run, CALL(WorkflowCreateResult, *s, workflowCreate, c));
    const QString openTags = str("SELECT COUNT(*) FROM run_tags WHERE open = 1");
    QCOMPARE(queryValue(path, openTags).toInt(), 2);
    WorkflowClaimArgs a;
    a.runId = run.run.runId;
    a.agentId = str("W");
    a.ttlSeconds = 60;
    REQUIRE_OK(claimed, CALL(WorkflowClaimResult, *s, workflowClaim, a));
    QVERIFY(claimed.claimed);
    QCOMPARE(queryValue(path, openTags).toInt(), 2);
    WorkflowCompleteArgs d;
    d.runId = run.run.runId;
    d.agentId = str("W");
    d.status = str("done");
    REQUIRE_OK(done, CALL(WorkflowCompleteResult, *s, workflowComplete, d));
    QVERIFY(done.ok);
    QCOMPARE(queryValue(path, openTags).toInt(), 0);
    QCOMPARE(queryValue(path, str("SELECT COUNT(*) FROM run_tags WHERE open = 0")).toInt(), 2);
}

void TestSqliteStore::failingOperationRollsBackAlone()
{
    auto s = openStore(freshPath());
    QVERIFY(s);
    // Three writes in one batch; the middle one fails (a TTL the store refuses).
    std::optional<Result<KvWriteResult>> a, b, c;
    s->kvSet(setArgs(str("a"), "1"), [&](Result<KvWriteResult> r) { a = r; });
    s->kvSet(setArgs(str("b"), "2", std::nullopt, -1.0), [&](Result<KvWriteResult> r) { b = r; });
    s->kvSet(setArgs(str("c"), "3"), [&](Result<KvWriteResult> r) { c = r; });
    QVERIFY(waitUntil([&] { return a && b && c; }));
    QVERIFY(a->has_value() && (*a)->ok);
    QVERIFY(!b->has_value());
    QCOMPARE(b->error().code, ErrorCode::InvalidArgument);
    QVERIFY(c->has_value() && (*c)->ok);
    QCOMPARE(qint64((*c)->revision), qint64((*a)->revision + 1)); // the failed one took no revision
    REQUIRE_OK(gb, CALL(KvEntry, *s, kvGet, str("b")));
    QVERIFY(!gb.found);
    REQUIRE_OK(gc, CALL(KvEntry, *s, kvGet, str("c")));
    QVERIFY(gc.found);
}

void TestSqliteStore::readsQueuedTogetherAnswerAlone()
{
    auto s = openStore(freshPath());
    QVERIFY(s);
    constexpr int kKeys = 300;
    for (int i = 0; i < kKeys; ++i)
        s->kvSet(setArgs(QStringLiteral("k%1").arg(i), QByteArray::number(i)), [](Result<KvWriteResult>) {});
    REQUIRE_OK(last, CALL(KvWriteResult, *s, kvSet, setArgs(str("last"), "\"x\"")));
    // Many reads queued at once (the reader runs them in one read transaction), a failing one
    // among them: each gets its own answer, and all see every write answered before.
    std::vector<std::optional<Result<KvEntry>>> gets(kKeys);
    std::optional<Result<KvListResult>> badList;
    std::optional<Result<KvEntry>> lastGet;
    for (int i = 0; i < kKeys; ++i) {
        s->kvGet(QStringLiteral("k%1").arg(i), [&gets, i](Result<KvEntry> r) { gets[std::size_t(i)] = std::move(r); });
        if (i == kKeys / 2) {
            KvListArgs bad;
            bad.cursor = QStringLiteral("not-a-cursor");
            s->kvList(bad, [&](Result<KvListResult> r) { badList = std::move(r); });
        }
    }
    s->kvGet(str("last"), [&](Result<KvEntry> r) { lastGet = std::move(r); });
    QVERIFY(waitUntil([&] { return lastGet.has_value() && badList.has_value(); }));
    QVERIFY(!badList->has_value());
    QCOMPARE(badList->error().code, ErrorCode::InvalidArgument);
    for (int i = 0; i < kKeys; ++i) {
        const auto &g = gets[std::size_t(i)];
        QVERIFY2(g && g->has_value(), qPrintable(QStringLiteral("read %1").arg(i)));
        QVERIFY((*g)->found);
        QCOMPARE((*g)->value, QByteArray::number(i));
        QVERIFY((*g)->revision >= last.revision);
    }
    QVERIFY(lastGet->has_value() && (*lastGet)->found);
    QCOMPARE((*lastGet)->revision, last.revision);
}

void TestSqliteStore::writeWaitsForAnotherWriterWhileReadsGoOn()
{
    const QString path = freshPath();
    auto s = openStore(path);
    QVERIFY(s);
    REQUIRE_OK(w0, CALL(KvWriteResult, *s, kvSet, setArgs(str("before"), "1")));
    // Another process holds the write lock.
    const QString name = QStringLiteral("tst-sqlitestore-locker");
    {
        QSqlDatabase other = QSqlDatabase::addDatabase(QStringLiteral("QSQLITE"), name);
        other.setDatabaseName(path);
        QVERIFY(other.open());
        QSqlQuery q(other);
        QVERIFY(q.exec(QStringLiteral("BEGIN IMMEDIATE")));
        QVERIFY(q.exec(QStringLiteral("UPDATE meta SET value = value WHERE name = 'revision'")));
        q.finish();

        std::optional<Result<KvWriteResult>> write;
        s->kvSet(setArgs(str("during"), "2"), [&](Result<KvWriteResult> r) { write = std::move(r); });
        QTest::qWait(300);
        QVERIFY(!write); // waiting for the lock (busy timeout), not failed
        // Reads are served meanwhile, from the last committed state.
        REQUIRE_OK(g, CALL(KvEntry, *s, kvGet, str("before")));
        QVERIFY(g.found);
        QVERIFY(q.exec(QStringLiteral("COMMIT")));
        q.finish();
        QVERIFY(waitUntil([&] { return write.has_value(); }, 15000));
        QVERIFY2(write->has_value(), qPrintable(describe(*write)));
        QVERIFY((*write)->ok);
        QCOMPARE(qint64((*write)->revision), qint64(w0.revision + 1));
        other.close();
    }
    QSqlDatabase::removeDatabase(name);
}

void TestSqliteStore::twoInstancesRaceClaims()
{
    const QString path = freshPath();
    auto a = openStore(path);
    auto b = openStore(path);
    QVERIFY(a && b);
    for (int round = 0; round < 3; ++round) {
        WorkflowCreateArgs c;
        c.name = str("race");
        REQUIRE_OK(created, CALL(WorkflowCreateResult, *a, workflowCreate, c));
        const int n = 10;
        std::vector<std::optional<Result<WorkflowClaimResult>>> results(2 * n);
        int answered = 0;
        for (int i = 0; i < n; ++i) {
            for (int side = 0; side < 2; ++side) {
                WorkflowClaimArgs args;
                args.runId = created.run.runId;
                args.agentId = QStringLiteral("agent-%1-%2").arg(side).arg(i);
                args.ttlSeconds = 60;
                const std::size_t slot = std::size_t(2 * i + side);
                (side ? *b : *a).workflowClaim(args, [&, slot](Result<WorkflowClaimResult> r) {
                    results[slot] = std::move(r);
                    ++answered;
                });
            }
        }
        QVERIFY(waitUntil([&] { return answered == 2 * n; }, 60000));
        int winners = 0;
        for (const auto &r : results) {
            QVERIFY2(r->has_value(), qPrintable(describe(*r)));
            winners += (*r)->claimed ? 1 : 0;
        }
        QCOMPARE(winners, 1);
    }
}

void TestSqliteStore::twoInstancesRaceLeases()
{
    const QString path = freshPath();
    auto a = openStore(path);
    auto b = openStore(path);
    QVERIFY(a && b);
    const int n = 10;
    std::vector<std::optional<Result<LeaseAcquireResult>>> results(2 * n);
    int answered = 0;
    for (int i = 0; i < n; ++i) {
        for (int side = 0; side < 2; ++side) {
            LeaseAcquireArgs args;
            args.resourceId = str("shared");
            args.holderId = QStringLiteral("holder-%1-%2").arg(side).arg(i);
            args.ttlSeconds = 60;
            const std::size_t slot = std::size_t(2 * i + side);
            (side ? *b : *a).leaseAcquire(args, [&, slot](Result<LeaseAcquireResult> r) {
                results[slot] = std::move(r);
                ++answered;
            });
        }
    }
    QVERIFY(waitUntil([&] { return answered == 2 * n; }, 60000));
    QString winner;
    int winners = 0;
    for (const auto &r : results) {
        QVERIFY2(r->has_value(), qPrintable(describe(*r)));
        if ((*r)->acquired) {
            ++winners;
            winner = *(*r)->holder;
        }
    }
    QCOMPARE(winners, 1);
    for (const auto &r : results) {
        if (!(*r)->acquired)
            QCOMPARE((*r)->holder.value_or(QString()), winner);
    }
}

void TestSqliteStore::twoInstancesCompareAndSet()
{
    const QString path = freshPath();
    auto a = openStore(path);
    auto b = openStore(path);
    QVERIFY(a && b);
    // Create-if-absent from both sides at once: one wins.
    const int n = 10;
    int answered = 0;
    int ok = 0;
    for (int i = 0; i < n; ++i) {
        for (SqliteStore *s : {a.get(), b.get()}) {
            s->kvSet(setArgs(str("once"), QByteArray::number(i), 0), [&](Result<KvWriteResult> r) {
                ++answered;
                ok += (r && r->ok) ? 1 : 0;
            });
        }
    }
    QVERIFY(waitUntil([&] { return answered == 2 * n; }, 60000));
    QCOMPARE(ok, 1);
    // Both read version v, then both write with if_version v: no lost update.
    REQUIRE_OK(v, CALL(KvEntry, *a, kvGet, str("once")));
    answered = 0;
    ok = 0;
    for (SqliteStore *s : {a.get(), b.get()}) {
        s->kvSet(setArgs(str("once"), "\"next\"", v.version), [&](Result<KvWriteResult> r) {
            ++answered;
            ok += (r && r->ok) ? 1 : 0;
        });
    }
    QVERIFY(waitUntil([&] { return answered == 2; }, 60000));
    QCOMPARE(ok, 1);
}

void TestSqliteStore::revisionSharedAcrossInstances()
{
    const QString path = freshPath();
    auto a = openStore(path);
    auto b = openStore(path);
    QVERIFY(a && b);
    std::int64_t previous = 0;
    for (int i = 0; i < 10; ++i) {
        SqliteStore &s = (i % 2) ? *b : *a;
        REQUIRE_OK(w, CALL(KvWriteResult, s, kvSet, setArgs(QStringLiteral("k%1").arg(i), "1")));
        QVERIFY(w.revision > previous);
        previous = w.revision;
    }
    REQUIRE_OK(ha, CALL(HealthInfo, *a, health));
    QCOMPARE(qint64(ha.revision), qint64(previous));
    REQUIRE_OK(hist, CALL(HistoryResult, *a, historyLog, HistoryQuery{}));
    QCOMPARE(hist.entries.size(), std::size_t(10));
}

void TestSqliteStore::changedFiresForOtherInstance()
{
    const QString path = freshPath();
    auto a = openStore(path);
    auto b = openStore(path);
    QVERIFY(a && b);
    QSignalSpy spy(b.get(), &Store::changed);
    REQUIRE_OK(w, CALL(KvWriteResult, *a, kvSet, setArgs(str("k"), "1")));
    QVERIFY(waitUntil([&] { return !spy.isEmpty() && spy.last().at(0).toLongLong() >= w.revision; }, 5000));
}

void TestSqliteStore::expiryRecordedOnceWithTwoInstances()
{
    const QString path = freshPath();
    auto a = openStore(path);
    auto b = openStore(path);
    QVERIFY(a && b);
    REQUIRE_OK(w, CALL(KvWriteResult, *a, kvSet, setArgs(str("t"), "1", std::nullopt, 0.2)));
    HistoryQuery q;
    q.key = str("t");
    QVERIFY(waitUntil(
        [&] {
            auto h = CALL(HistoryResult, *b, historyLog, q);
            return h && !h->entries.empty() && h->entries.front().op == QLatin1String("expire");
        },
        5000));
    QTest::qWait(700); // both sweepers ran again meanwhile
    REQUIRE_OK(h, CALL(HistoryResult, *a, historyLog, q));
    QCOMPARE(h.entries.size(), std::size_t(2)); // set, expire: exactly once
}

void TestSqliteStore::migratesOriginalDatabase()
{
    QVERIFY2(!QStandardPaths::findExecutable(QStringLiteral("sqlite3")).isEmpty(),
             "the sqlite3 command-line shell is missing (scripts/setup.sh installs it)");
    const QString path = freshPath();
    const double t = now();
    const QByteArray sql = QStringLiteral(R"SQL(
CREATE TABLE kv_store (key TEXT PRIMARY KEY, value_json TEXT NOT NULL, expires_at REAL);
CREATE TABLE history (id INTEGER PRIMARY KEY AUTOINCREMENT, key TEXT NOT NULL, new_value_json TEXT NOT NULL, previous_value_json TEXT, agent_id TEXT, written_at REAL NOT NULL);
CREATE TABLE leases (resource_id TEXT PRIMARY KEY, holder_id TEXT NOT NULL, expires_at REAL NOT NULL);
CREATE TABLE workflows (run_id TEXT PRIMARY KEY, name TEXT NOT NULL, status TEXT NOT NULL DEFAULT 'created', tags_json TEXT NOT NULL DEFAULT '{}', agent_id TEXT, last_step INTEGER NOT NULL DEFAULT 0, created_at REAL NOT NULL, updated_at REAL NOT NULL);
CREATE TABLE step_outputs (run_id TEXT NOT NULL, step INTEGER NOT NULL, output_json TEXT NOT NULL, PRIMARY KEY (run_id, step));
INSERT INTO kv_store VALUES ('config', '{"a": 1, "b": [1, 2]}', NULL);
INSERT INTO kv_store VALUES ('temp', '"soon"', %1);
INSERT INTO kv_store VALUES ('gone', '"old"', %2);
INSERT INTO kv_store VALUES ('nohist', '{"x": "y z", "n": 12345678901234567890}', NULL);
INSERT INTO history (key, new_value_json, previous_value_json, agent_id, written_at) VALUES ('config', '{"a": 0}', NULL, 'agent-1', 1700000000.5);
INSERT INTO history (key, new_value_json, previous_value_json, agent_id, written_at) VALUES ('config', '{"a": 1, "b": [1, 2]}', '{"a": 0}', 'agent-2', 1700000001.25);
INSERT INTO history (key, new_value_json, previous_value_json, agent_id, written_at) VALUES ('temp', '"soon"', NULL, NULL, 1700000002);
INSERT INTO history (key, new_value_json, previous_value_json, agent_id, written_at) VALUES ('gone', '"old"', NULL, NULL, 1700000003);
INSERT INTO workflows VALUES ('wf-aaaaaaaaaaaa', 'build', 'running', '{"team": "a", "env": "prod"}', 'agent-1', 2, 1700000000, 1700000100);
INSERT INTO workflows VALUES ('wf-bbbbbbbbbbbb', 'deploy', 'created', '{}', NULL, 0, 1700000200, 1700000200);
INSERT INTO step_outputs VALUES ('wf-aaaaaaaaaaaa', 2, '[1, 2, 3]');
INSERT INTO step_outputs VALUES ('wf-aaaaaaaaaaaa', 1, '{"out": 1}');
INSERT INTO leases VALUES ('res-live', 'holder-1', %1);
INSERT INTO leases VALUES ('res-dead', 'holder-2', %2);
)SQL")
                              .arg(t + 3600, 0, 'f', 3)
                              .arg(t - 10, 0, 'f', 3)
                              .toUtf8();
    QString err;
    QVERIFY2(runSqlite3(path, sql, &err), qPrintable(err));

    auto s = openStore(path);
    QVERIFY(s);
    // A backup of the original file beside it.
    QVERIFY(!s->backupPath().isEmpty());
    QVERIFY(s->backupPath().startsWith(path + QStringLiteral(".bak-")));
    QVERIFY(QFile::exists(s->backupPath()));
    QCOMPARE(QFile::permissions(s->backupPath()) & (QFileDevice::ReadGroup | QFileDevice::ReadOther),
             QFileDevice::Permissions()); // a copy of everything: its owner's alone
    QCOMPARE(queryValue(s->backupPath(), str("SELECT COUNT(*) FROM kv_store")).toInt(), 4);
    QCOMPARE(queryValue(path, str("PRAGMA user_version")).toInt(), sqlite::latestSchemaVersion());

    // Keys, re-minified, with versions from the migrated history.
    REQUIRE_OK(config, CALL(KvEntry, *s, kvGet, str("config")));
    QVERIFY(config.found);
    QCOMPARE(config.value, QByteArray(R"({"a":1,"b":[1,2]})"));
    QCOMPARE(qint64(config.version), qint64(2));
    QCOMPARE(config.agentId.value_or(QString()), str("agent-2"));
    REQUIRE_OK(temp, CALL(KvEntry, *s, kvGet, str("temp")));
    QVERIFY(temp.found);
    QVERIFY(temp.expiresAt && std::abs(*temp.expiresAt - (t + 3600)) < 1);
    REQUIRE_OK(gone, CALL(KvEntry, *s, kvGet, str("gone")));
    QVERIFY(!gone.found);
    REQUIRE_OK(nohist, CALL(KvEntry, *s, kvGet, str("nohist")));
    QCOMPARE(nohist.value, QByteArray(R"({"x":"y z","n":12345678901234567890})"));
    QCOMPARE(qint64(nohist.version), qint64(5)); // after the 4 history rows

    // History: the original rows in id order, then one set for the key without history, then
    // one acquire per live lease. The store's revision is their count.
    HistoryQuery q;
    q.n = 100;
    REQUIRE_OK(h, CALL(HistoryResult, *s, historyLog, q));
    QCOMPARE(h.entries.size(), std::size_t(6));
    const HistoryEntry &firstEntry = h.entries.back();
    QCOMPARE(qint64(firstEntry.revision), qint64(1));
    QCOMPARE(firstEntry.key, str("config"));
    QCOMPARE(firstEntry.kind, str("kv"));
    QCOMPARE(firstEntry.op, str("set"));
    QCOMPARE(firstEntry.newValue.value_or(QByteArray()), QByteArray(R"({"a":0})"));
    QCOMPARE(firstEntry.agentId.value_or(QString()), str("agent-1"));
    QCOMPARE(firstEntry.writtenAt, 1700000000.5);
    QCOMPARE(h.entries[4].previousValue.value_or(QByteArray()), QByteArray(R"({"a":0})"));
    REQUIRE_OK(health, CALL(HealthInfo, *s, health));
    QCOMPARE(qint64(health.revision), qint64(6));
    QCOMPARE(qint64(health.keyCount), qint64(3));
    QCOMPARE(qint64(health.workflowCount), qint64(2));
    QCOMPARE(qint64(health.leaseCount), qint64(1));

    // Workflows with their tags and steps; newest first.
    REQUIRE_OK(runs, CALL(WorkflowListResult, *s, workflowDiscover, WorkflowDiscoverArgs{}));
    QCOMPARE(runs.runs.size(), std::size_t(2));
    QCOMPARE(runs.runs[0].runId, str("wf-bbbbbbbbbbbb"));
    const WorkflowMeta &build = runs.runs[1];
    QCOMPARE(build.status, str("running"));
    QCOMPARE(build.tags.size(), std::size_t(2));
    QCOMPARE(build.tags[0], std::make_pair(str("team"), str("a")));
    QCOMPARE(build.tags[1], std::make_pair(str("env"), str("prod")));
    QCOMPARE(qint64(build.lastStep), qint64(2));
    QCOMPARE(build.agentId.value_or(QString()), str("agent-1"));
    QCOMPARE(build.createdAt, 1700000000.0);
    REQUIRE_OK(resume, CALL(WorkflowResumeResult, *s, workflowResume, str("wf-aaaaaaaaaaaa")));
    QCOMPARE(resume.stepOutputs.size(), std::size_t(2));
    QCOMPARE(resume.stepOutputs[0].second, QByteArray(R"({"out":1})"));
    QCOMPARE(resume.stepOutputs[1].second, QByteArray("[1,2,3]"));
    // The original's claims never lapsed: imported as lapsed, so the run can be claimed again.
    WorkflowClaimArgs ca;
    ca.runId = str("wf-aaaaaaaaaaaa");
    ca.agentId = str("agent-new");
    ca.ttlSeconds = 60;
    REQUIRE_OK(claimed, CALL(WorkflowClaimResult, *s, workflowClaim, ca));
    QVERIFY(claimed.claimed);
    QCOMPARE(qint64(*claimed.attempt), qint64(2));
    QCOMPARE(qint64(*claimed.fence), qint64(7));

    // Leases: the live one with a fence, the lapsed one dropped.
    REQUIRE_OK(leases, CALL(LeaseListResult, *s, leaseList, PrefixListArgs{}));
    QCOMPARE(leases.leases.size(), std::size_t(1));
    QCOMPARE(leases.leases[0].resourceId, str("res-live"));
    QCOMPARE(leases.leases[0].holder, str("holder-1"));
    QCOMPARE(qint64(leases.leases[0].fence), qint64(6));
    LeaseAcquireArgs la;
    la.resourceId = str("res-live");
    la.holderId = str("other");
    la.ttlSeconds = 60;
    REQUIRE_OK(refused, CALL(LeaseAcquireResult, *s, leaseAcquire, la));
    QVERIFY(!refused.acquired);
    QCOMPARE(refused.reason.value_or(QString()), str("Held by 'holder-1'"));

    // Reopening does not convert or back up again.
    s->close();
    s = openStore(path);
    QVERIFY(s);
    QVERIFY(s->backupPath().isEmpty());
    REQUIRE_OK(again, CALL(KvEntry, *s, kvGet, str("config")));
    QCOMPARE(again.value, QByteArray(R"({"a":1,"b":[1,2]})"));
}

void TestSqliteStore::refusesNewerSchema()
{
    const QString path = freshPath();
    {
        auto s = openStore(path);
        QVERIFY(s);
    }
    QString err;
    QVERIFY2(runSqlite3(path, "PRAGMA user_version = 99;\n", &err), qPrintable(err));
    SqliteStore s(path, StoreOptions{});
    auto r = s.open();
    QVERIFY(!r);
    QCOMPARE(r.error().code, ErrorCode::Unavailable);
    QVERIFY2(r.error().message.contains(str("newer")), qPrintable(r.error().message));
    QVERIFY(r.error().message.contains(str("99")));
    // Nothing was changed.
    QCOMPARE(queryValue(path, str("PRAGMA user_version")).toInt(), 99);
    // Calls on a store that did not open are answered with an error, later.
    bool answered = false;
    s.kvGet(str("k"), [&](Result<KvEntry> res) {
        answered = true;
        QVERIFY(!res);
    });
    QVERIFY(!answered);
    QVERIFY(waitUntil([&] { return answered; }));
}

void TestSqliteStore::refusesForeignDatabase()
{
    const QString path = freshPath();
    QString err;
    QVERIFY2(runSqlite3(path, "CREATE TABLE accounts (id INTEGER PRIMARY KEY, owner TEXT);\n", &err), qPrintable(err));
    SqliteStore s(path, StoreOptions{});
    auto r = s.open();
    QVERIFY(!r);
    QVERIFY2(r.error().message.contains(str("not an mcp-state-sidecar database")), qPrintable(r.error().message));
    QCOMPARE(queryValue(path, str("SELECT COUNT(*) FROM sqlite_master")).toInt(), 1);
}

void TestSqliteStore::refusesUnopenablePath()
{
    SqliteStore s(m_dir.file(QStringLiteral("no/such/dir/x.db")), StoreOptions{});
    auto r = s.open();
    QVERIFY(!r);
    QCOMPARE(r.error().code, ErrorCode::Unavailable);
}

void TestSqliteStore::databaseFilesArePrivate()
{
    // Whatever the umask, a database the store creates (and its -wal and -shm) is its owner's
    // alone; an existing file keeps its mode.
    const mode_t previous = ::umask(022);
    auto restore = qScopeGuard([previous] { ::umask(previous); });
    const QString path = freshPath();
    {
        auto s = openStore(path);
        QVERIFY(s);
        REQUIRE_OK(w, CALL(KvWriteResult, *s, kvSet, setArgs(str("secret"), "1")));
        const auto owner = QFileDevice::ReadOwner | QFileDevice::WriteOwner;
        for (const QString &f : QStringList{path, path + QStringLiteral("-wal"), path + QStringLiteral("-shm")}) {
            QVERIFY2(QFileInfo::exists(f), qPrintable(f));
            const auto group = QFileDevice::ReadGroup | QFileDevice::WriteGroup | QFileDevice::ExeGroup;
            const auto other = QFileDevice::ReadOther | QFileDevice::WriteOther | QFileDevice::ExeOther;
            QVERIFY2((QFile::permissions(f) & (group | other)) == 0, qPrintable(f));
            QVERIFY2((QFile::permissions(f) & owner) == owner, qPrintable(f));
        }
    }
    const QString shared = freshPath();
    {
        QFile f(shared);
        QVERIFY(f.open(QIODevice::WriteOnly));
    }
    QVERIFY(QFile::setPermissions(shared, QFileDevice::ReadOwner | QFileDevice::WriteOwner | QFileDevice::ReadGroup
                                              | QFileDevice::WriteGroup));
    auto s = openStore(shared);
    QVERIFY(s);
    QVERIFY(QFile::permissions(shared) & QFileDevice::ReadGroup);
}

// Runs the contract suite, then the SQLite-specific tests. Test function names given on the
// command line go to whichever of the two objects has them.
int main(int argc, char *argv[])
{
    QCoreApplication app(argc, argv);
    test::TempDir dir;
    if (!dir.isValid())
        return 1;
    test::StoreContract contract([&dir](const StoreOptions &options) -> std::unique_ptr<Store> {
        auto s = std::make_unique<SqliteStore>(dir.uniqueFile(QStringLiteral("contract"), QStringLiteral(".db")),
                                               options);
        if (auto r = s->open(); !r) {
            qWarning("SqliteStore::open failed: %s", qPrintable(describe(r.error())));
            return nullptr;
        }
        return s;
    });
    TestSqliteStore specific(dir);

    return test::runSuites(app.arguments(), {&contract, &specific});
}

#include "tst_sqlitestore.moc"
