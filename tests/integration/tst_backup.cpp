// `mcp-state-sidecar --backup-to <path>`: the online backup of the SQLite database, run by the
// real binary while the real server keeps answering writes from another process. Each copy must
// pass SQLite's integrity check, be private to its owner, hold every write answered before the
// backup started, and be a snapshot of one moment: every key at the value answered for its
// version, nothing newer than the copy's revision, one history entry per revision up to it. A
// server started on a copy (the restore) serves exactly that state and goes on from its revision.
// Also: a directory as the target (twice), the original package's file copied
// unconverted, and the refusals (no database, an existing file even empty, a missing directory,
// the database itself, the Redis backend: exit code 2, the source untouched; a source SQLite
// cannot read: exit code 1, no copy left).

#include <QtTest>

#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <QProcess>
#include <QRegularExpression>
#include <QSqlDatabase>
#include <QSqlError>
#include <QSqlQuery>
#include <QUuid>

#include <map>
#include <optional>

#include "serverprocess.h"
#include "testutil.h"

using namespace sidecar;
using namespace sidecar::test;

namespace {

constexpr int kStepMs = 60000;

struct Run
{
    int exitCode = -1;
    QByteArray err;
};

// The binary's one-off action: waits for it to exit.
Run runBinary(const QStringList &arguments,
              const QProcessEnvironment &env = QProcessEnvironment::systemEnvironment())
{
    QProcess p;
    p.setProcessEnvironment(env);
    p.start(qEnvironmentVariable("SIDECAR_BIN"), arguments);
    Run out;
    if (!p.waitForStarted(kStepMs) || !p.waitForFinished(kStepMs)) {
        p.kill();
        p.waitForFinished();
        out.err = "did not finish: " + p.readAllStandardError();
        return out;
    }
    out.exitCode = p.exitStatus() == QProcess::NormalExit ? p.exitCode() : -1;
    out.err = p.readAllStandardError();
    return out;
}

// What a copy holds, read with QtSql (not through the sidecar).
struct Snapshot
{
    QString integrity;
    qint64 revision = -1;
    std::map<QString, std::pair<QByteArray, qint64>> keys; // key -> (value, version)
    qint64 historyCount = -1;
    qint64 historyMin = -1;
    qint64 historyMax = -1;
    QString error;
};

Snapshot readSnapshot(const QString &path)
{
    Snapshot s;
    const QString name = QUuid::createUuid().toString();
    {
        QSqlDatabase db = QSqlDatabase::addDatabase(QStringLiteral("QSQLITE"), name);
        db.setDatabaseName(path);
        db.setConnectOptions(QStringLiteral("QSQLITE_OPEN_READONLY"));
        if (!db.open()) {
            s.error = db.lastError().text();
        } else {
            QSqlQuery q(db);
            if (q.exec(QStringLiteral("PRAGMA integrity_check")) && q.next())
                s.integrity = q.value(0).toString();
            if (q.exec(QStringLiteral("SELECT value FROM meta WHERE name = 'revision'")) && q.next())
                s.revision = q.value(0).toLongLong();
            if (q.exec(QStringLiteral("SELECT key, value, version FROM kv"))) {
                while (q.next())
                    s.keys[q.value(0).toString()] = {q.value(1).toString().toUtf8(), q.value(2).toLongLong()};
            }
            if (q.exec(QStringLiteral("SELECT COUNT(*), MIN(revision), MAX(revision) FROM history"))
                && q.next()) {
                s.historyCount = q.value(0).toLongLong();
                s.historyMin = q.value(1).toLongLong();
                s.historyMax = q.value(2).toLongLong();
            }
            if (q.lastError().isValid())
                s.error = q.lastError().text();
        }
    }
    QSqlDatabase::removeDatabase(name);
    return s;
}

// One successful tool call by a stdio server on `db`, which then exits.
bool writeThroughServer(const QString &db, const QString &tool, const QByteArray &arguments)
{
    ServerProcess server;
    if (!server.start({QStringLiteral("--db-path"), db}) || !server.initialize())
        return false;
    const auto answer = server.call(tool, arguments);
    server.closeInput();
    return server.waitForExit() && answer && structured(*answer);
}

qint64 integerField(const json::Document &answer, const char *field)
{
    const json::Value *content = structured(answer);
    const json::Value *v = content ? content->find(field) : nullptr;
    return v ? v->toInt64().value_or(-1) : -1;
}

} // namespace

class TestBackup : public QObject
{
    Q_OBJECT

private slots:
    void initTestCase();
    void copiesWhileServing();
    void intoADirectory();
    void originalPackageFile();
    void refusals();

private:
    TempDir m_dir;
};

void TestBackup::initTestCase()
{
    QVERIFY(!qEnvironmentVariable("SIDECAR_BIN").isEmpty());
    QVERIFY(m_dir.isValid());
}

void TestBackup::copiesWhileServing()
{
    const QString db = m_dir.file(QStringLiteral("serving.db"));
    ServerProcess server;
    QVERIFY(server.start({QStringLiteral("--db-path"), db}));
    QVERIFY(server.initialize());

    // Answered writes: key -> version -> value sent. Values are the write's sequence number in a
    // few JSON shapes, so that a copy holding a value for the wrong version shows.
    std::map<QString, std::map<qint64, QByteArray>> answered;
    qint64 lastAnswered = 0;
    int written = 0;
    const auto writeOne = [&]() -> bool {
        const QString key = QStringLiteral("doc/%1").arg(written % 37);
        const QByteArray n = QByteArray::number(written);
        QByteArray value = n;
        if (written % 3 == 1)
            value = "{\"n\":" + n + ",\"s\":\"é\\u0000\"}";
        else if (written % 3 == 2)
            value = "[" + n + ",1.50,null]";
        const auto answer = server.call(QStringLiteral("state_set"), "{\"key\":\"" + key.toUtf8()
                                                                         + "\",\"value\":" + value
                                                                         + ",\"agent_id\":\"writer\"}");
        const qint64 version = answer ? integerField(*answer, "version") : -1;
        if (version <= 0)
            return false;
        answered[key][version] = value;
        lastAnswered = std::max(lastAnswered, version);
        ++written;
        return true;
    };
    for (int i = 0; i < 200; ++i)
        QVERIFY2(writeOne(), server.stderrText().constData());
    // Some bulk (about 10 MB with its history), so that each copy takes a while and writes land
    // while SQLite writes it.
    const QByteArray pad(16 * 1024, 'x');
    for (int i = 0; i < 300; ++i) {
        const auto answer = server.call(QStringLiteral("state_set"), "{\"key\":\"bulk/"
                                                                         + QByteArray::number(i)
                                                                         + "\",\"value\":\"" + pad + "\"}");
        QVERIFY(answer && integerField(*answer, "version") > 0);
        lastAnswered = integerField(*answer, "version");
    }

    constexpr int kBackups = 4;
    for (int b = 0; b < kBackups; ++b) {
        const QString copy = m_dir.file(QStringLiteral("copy-%1.db").arg(b));
        const qint64 answeredBefore = lastAnswered;
        QProcess backup;
        backup.start(qEnvironmentVariable("SIDECAR_BIN"),
                     {QStringLiteral("--db-path"), db, QStringLiteral("--backup-to"), copy});
        QVERIFY(backup.waitForStarted(kStepMs));
        // Writes go on while the copy is taken.
        int during = 0;
        while (backup.state() != QProcess::NotRunning) {
            QVERIFY2(writeOne(), server.stderrText().constData());
            ++during;
            backup.waitForFinished(0);
        }
        const QByteArray err = backup.readAllStandardError();
        QVERIFY2(backup.exitStatus() == QProcess::NormalExit && backup.exitCode() == 0, err.constData());
        QVERIFY2(err.contains("backed up") && err.contains("integrity check ok"), err.constData());
        QVERIFY2(backup.readAllStandardOutput().isEmpty(), "the backup writes nothing to stdout");

        // Private to its owner, whatever the umask.
        QCOMPARE(QFile::permissions(copy)
                     & (QFileDevice::ReadGroup | QFileDevice::ReadOther | QFileDevice::WriteGroup
                        | QFileDevice::WriteOther),
                 QFileDevice::Permissions());

        const Snapshot s = readSnapshot(copy);
        QVERIFY2(s.error.isEmpty(), qPrintable(s.error));
        QCOMPARE(s.integrity, QStringLiteral("ok"));
        QVERIFY2(s.revision >= answeredBefore,
                 qPrintable(QStringLiteral("copy at revision %1, answered before it %2")
                                .arg(s.revision)
                                .arg(answeredBefore)));
        QVERIFY2(err.contains(QByteArray("revision " + QByteArray::number(s.revision))), err.constData());
        // One moment: every key at a version the copy's revision covers, with the value answered
        // for that version; no key missing that was written at or before that revision.
        for (const auto &[key, versions] : answered) {
            const auto atOrBefore = versions.upper_bound(s.revision);
            const auto it = s.keys.find(key);
            if (atOrBefore == versions.begin()) {
                QVERIFY2(it == s.keys.end(), qPrintable(key));
                continue;
            }
            const auto expected = std::prev(atOrBefore);
            QVERIFY2(it != s.keys.end(), qPrintable(key + QStringLiteral(" missing")));
            QCOMPARE(it->second.second, expected->first);
            QCOMPARE(it->second.first, expected->second);
        }
        QCOMPARE(s.historyCount, s.revision);
        QCOMPARE(s.historyMin, qint64(1));
        QCOMPARE(s.historyMax, s.revision);
        qInfo("backup %d: revision %lld, %d writes answered while it ran", b, s.revision, during);
    }

    // The server kept serving: its next write is above everything answered.
    QVERIFY(writeOne());
    server.closeInput();
    QVERIFY(server.waitForExit());

    // Restore: a server on the last copy serves exactly that snapshot and goes on from its revision.
    const QString restored = m_dir.file(QStringLiteral("copy-%1.db").arg(kBackups - 1));
    const Snapshot s = readSnapshot(restored);
    ServerProcess onCopy;
    QVERIFY(onCopy.start({QStringLiteral("--db-path"), restored}));
    QVERIFY(onCopy.initialize());
    int checked = 0;
    for (const auto &[key, row] : s.keys) {
        if (!key.startsWith(QLatin1String("doc/")))
            continue;
        const auto got = onCopy.call(QStringLiteral("state_get"), "{\"key\":\"" + key.toUtf8() + "\"}");
        QVERIFY(got && structured(*got));
        QCOMPARE(structured(*got)->find("value")->compact(), row.first);
        QCOMPARE(integerField(*got, "version"), row.second);
        ++checked;
    }
    QCOMPARE(checked, 37);
    const auto next = onCopy.call(QStringLiteral("state_set"), R"({"key":"after/restore","value":1})");
    QVERIFY(next);
    QCOMPARE(integerField(*next, "version"), s.revision + 1);
    onCopy.closeInput();
    QVERIFY(onCopy.waitForExit());
}

void TestBackup::intoADirectory()
{
    const QString db = m_dir.file(QStringLiteral("named.db"));
    QVERIFY(writeThroughServer(db, QStringLiteral("session_save"),
                               R"({"session_id":"s1","context":{"a":[1,2]}})"));
    const QString dir = m_dir.file(QStringLiteral("backups"));
    QVERIFY(QDir().mkpath(dir));
    const Run run = runBinary({QStringLiteral("--db-path"), db, QStringLiteral("--backup-to"), dir});
    QVERIFY2(run.exitCode == 0, run.err.constData());
    const QStringList made = QDir(dir).entryList(QDir::Files);
    QCOMPARE(made.size(), 1);
    QVERIFY2(QRegularExpression(QStringLiteral("^named-\\d{8}-\\d{6}\\.db$")).match(made.front()).hasMatch(),
             qPrintable(made.front()));
    QVERIFY2(run.err.contains("1 sessions"), run.err.constData());
    QCOMPARE(readSnapshot(QDir(dir).filePath(made.front())).integrity, QStringLiteral("ok"));

    // A second copy gets a name of its own (with -2 when made within the same second).
    const Run again = runBinary({QStringLiteral("--db-path"), db, QStringLiteral("--backup-to"), dir});
    QVERIFY2(again.exitCode == 0, again.err.constData());
    QCOMPARE(QDir(dir).entryList(QDir::Files).size(), 2);
}

// The original package's file (schema 0) is copied as it is, and left unconverted.
void TestBackup::originalPackageFile()
{
    const QString db = m_dir.file(QStringLiteral("original.db"));
    const QString name = QUuid::createUuid().toString();
    {
        QSqlDatabase sql = QSqlDatabase::addDatabase(QStringLiteral("QSQLITE"), name);
        sql.setDatabaseName(db);
        QVERIFY(sql.open());
        QSqlQuery q(sql);
        QVERIFY(q.exec(QStringLiteral(
            "CREATE TABLE kv_store (key TEXT PRIMARY KEY, value_json TEXT NOT NULL, expires_at REAL)")));
        QVERIFY(q.exec(
            QStringLiteral("INSERT INTO kv_store VALUES ('a', '1', NULL), ('b', '{\"x\": 2}', NULL)")));
    }
    QSqlDatabase::removeDatabase(name);
    const QString copy = m_dir.file(QStringLiteral("original-copy.db"));
    const Run run = runBinary({QStringLiteral("--db-path"), db, QStringLiteral("--backup-to"), copy});
    QVERIFY2(run.exitCode == 0, run.err.constData());
    QVERIFY2(run.err.contains("schema 0, revision 0; 2 keys"), run.err.constData());
    for (const QString &file : {db, copy}) {
        const QString check = QUuid::createUuid().toString();
        {
            QSqlDatabase sql = QSqlDatabase::addDatabase(QStringLiteral("QSQLITE"), check);
            sql.setDatabaseName(file);
            QVERIFY(sql.open());
            QSqlQuery q(sql);
            QVERIFY(q.exec(QStringLiteral("SELECT COUNT(*) FROM kv_store")) && q.next());
            QCOMPARE(q.value(0).toInt(), 2);
            QVERIFY(q.exec(QStringLiteral("PRAGMA user_version")) && q.next());
            QCOMPARE(q.value(0).toInt(), 0);
        }
        QSqlDatabase::removeDatabase(check);
    }
}

void TestBackup::refusals()
{
    const QString db = m_dir.file(QStringLiteral("refusals.db"));
    QVERIFY(writeThroughServer(db, QStringLiteral("state_set"), R"({"key":"k","value":"v"})"));
    const QByteArray before = readSnapshot(db).keys.at(QStringLiteral("k")).first;

    // No database there: nothing is created at either path.
    const QString missing = m_dir.file(QStringLiteral("missing.db"));
    const QString target = m_dir.file(QStringLiteral("never.db"));
    Run run = runBinary({QStringLiteral("--db-path"), missing, QStringLiteral("--backup-to"), target});
    QCOMPARE(run.exitCode, 2);
    QVERIFY2(run.err.contains("no database at"), run.err.constData());
    QVERIFY(!QFile::exists(missing));
    QVERIFY(!QFile::exists(target));

    // An existing file is never overwritten.
    const QString existing = m_dir.file(QStringLiteral("existing.db"));
    {
        QFile f(existing);
        QVERIFY(f.open(QIODevice::WriteOnly));
        f.write("precious");
    }
    run = runBinary({QStringLiteral("--db-path"), db, QStringLiteral("--backup-to"), existing});
    QCOMPARE(run.exitCode, 2);
    QVERIFY2(run.err.contains("exists already"), run.err.constData());
    {
        QFile f(existing);
        QVERIFY(f.open(QIODevice::ReadOnly));
        QCOMPARE(f.readAll(), QByteArray("precious"));
    }

    // A directory that does not exist.
    run = runBinary({QStringLiteral("--db-path"), db, QStringLiteral("--backup-to"),
                     m_dir.file(QStringLiteral("no/such/dir/copy.db"))});
    QCOMPARE(run.exitCode, 2);
    QVERIFY2(run.err.contains("does not exist"), run.err.constData());

    // The database itself.
    run = runBinary({QStringLiteral("--db-path"), db, QStringLiteral("--backup-to"), db});
    QCOMPARE(run.exitCode, 2);
    QVERIFY2(run.err.contains("the database itself"), run.err.constData());

    // An empty file is a file too: never written over.
    const QString empty = m_dir.file(QStringLiteral("empty.db"));
    {
        QFile f(empty);
        QVERIFY(f.open(QIODevice::WriteOnly));
    }
    run = runBinary({QStringLiteral("--db-path"), db, QStringLiteral("--backup-to"), empty});
    QCOMPARE(run.exitCode, 2);
    QCOMPARE(QFileInfo(empty).size(), qint64(0));

    // A source SQLite cannot read: exit 1, and no copy left behind.
    const QString garbage = m_dir.file(QStringLiteral("garbage.db"));
    {
        QFile f(garbage);
        QVERIFY(f.open(QIODevice::WriteOnly));
        f.write(QByteArray(8192, 'g'));
    }
    run = runBinary({QStringLiteral("--db-path"), garbage, QStringLiteral("--backup-to"), target});
    QCOMPARE(run.exitCode, 1);
    QVERIFY2(run.err.contains("backup failed"), run.err.constData());
    QVERIFY(!QFile::exists(target));

    // The Redis backend has its own means.
    run = runBinary(
        {QStringLiteral("--backend"), QStringLiteral("redis"), QStringLiteral("--backup-to"), target});
    QCOMPARE(run.exitCode, 2);
    QVERIFY2(run.err.contains("BGSAVE"), run.err.constData());

    // The source is untouched by all of it.
    QCOMPARE(readSnapshot(db).integrity, QStringLiteral("ok"));
    QCOMPARE(readSnapshot(db).keys.at(QStringLiteral("k")).first, before);
}

QTEST_GUILESS_MAIN(TestBackup)
#include "tst_backup.moc"
