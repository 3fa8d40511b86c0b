// A database file written by the original package (its exact SQLite schema, built here with the
// sqlite3 CLI, with Python's JSON text) opened by the real binary: everything is there through
// the tools afterwards, a backup copy lies beside it, and the migration happens once. Also: a
// database of a newer schema, and a foreign SQLite file, are refused with a clear message.

#include <QtTest>

#include <QDir>
#include <QFileInfo>
#include <QProcess>

#include "sidecartestclient.h"

using namespace sidecar;
using namespace sidecar::test;

namespace {

const char kOriginalSchema[] = R"sql(
CREATE TABLE kv_store (key TEXT PRIMARY KEY, value_json TEXT NOT NULL, expires_at REAL);
CREATE TABLE history (id INTEGER PRIMARY KEY AUTOINCREMENT, key TEXT NOT NULL, new_value_json TEXT NOT NULL, previous_value_json TEXT, agent_id TEXT, written_at REAL NOT NULL);
CREATE TABLE leases (resource_id TEXT PRIMARY KEY, holder_id TEXT NOT NULL, expires_at REAL NOT NULL);
CREATE TABLE workflows (run_id TEXT PRIMARY KEY, name TEXT NOT NULL, status TEXT NOT NULL DEFAULT 'created', tags_json TEXT NOT NULL DEFAULT '{}', agent_id TEXT, last_step INTEGER NOT NULL DEFAULT 0, created_at REAL NOT NULL, updated_at REAL NOT NULL);
CREATE TABLE step_outputs (run_id TEXT NOT NULL, step INTEGER NOT NULL, output_json TEXT NOT NULL, PRIMARY KEY (run_id, step));
)sql";

// Runs SQL through the sqlite3 CLI; returns its stdout, or nullopt (with the reason in *error).
std::optional<QByteArray> sqlite(const QString &db, const QByteArray &sql, QString *error)
{
    QProcess p;
    p.start(QStringLiteral("sqlite3"), {QStringLiteral("-batch"), QStringLiteral("-bail"), db});
    if (!p.waitForStarted(10000)) {
        *error = QStringLiteral("cannot run the sqlite3 CLI: ") + p.errorString();
        return std::nullopt;
    }
    p.write(sql);
    p.closeWriteChannel();
    if (!p.waitForFinished(30000) || p.exitStatus() != QProcess::NormalExit || p.exitCode() != 0) {
        *error = QStringLiteral("sqlite3 failed: ") + QString::fromUtf8(p.readAllStandardError());
        return std::nullopt;
    }
    return p.readAllStandardOutput();
}

QByteArray num(double v)
{
    return QByteArray::number(v, 'f', 6);
}

} // namespace

class TestMigration : public QObject
{
    Q_OBJECT
private slots:
    void initTestCase();
    void originalDatabaseIsMigrated();
    void newerSchemaIsRefused();
    void foreignDatabaseIsRefused();

private:
    QString m_error;
};

void TestMigration::initTestCase()
{
    QVERIFY2(!qEnvironmentVariableIsEmpty("SIDECAR_BIN"), "SIDECAR_BIN is not set (run through ctest)");
    QVERIFY2(sqlite(QStringLiteral(":memory:"), "SELECT 1;", &m_error), qPrintable(m_error));
}

void TestMigration::originalDatabaseIsMigrated()
{
    const QString db = freshDbPath(QStringLiteral("original"));
    const double now = nowSeconds();
    const double t0 = now - 1000;
    // Python's json.dumps text: ", " and ": " separators, ensure_ascii escapes.
    const QByteArray data =
        QByteArray(kOriginalSchema)
        + "INSERT INTO kv_store VALUES ('config', '{\"b\": 2, \"a\": [1, 2.50, 12345678901234567890]}', "
          "NULL);\n"
          "INSERT INTO kv_store VALUES ('plain', '42', NULL);\n"
          "INSERT INTO kv_store VALUES ('unicode', '\"caf\\u00e9\"', NULL);\n"
          "INSERT INTO kv_store VALUES ('ttl-live', '\"still here\"', "
        + num(now + 3600.5)
        + ");\n"
          "INSERT INTO kv_store VALUES ('ttl-expired', '\"gone\"', "
        + num(now - 60)
        + ");\n"
          "INSERT INTO kv_store VALUES ('Config', '{\"upper\": true}', NULL);\n"
          "INSERT INTO history (key, new_value_json, previous_value_json, agent_id, written_at) VALUES "
          "('config', '{\"a\": 1}', NULL, 'agent-1', "
        + num(t0)
        + ");\n"
          "INSERT INTO history (key, new_value_json, previous_value_json, agent_id, written_at) VALUES "
          "('config', '{\"b\": 2, \"a\": [1, 2.50, 12345678901234567890]}', '{\"a\": 1}', 'agent-2', "
        + num(t0 + 1)
        + ");\n"
          "INSERT INTO history (key, new_value_json, previous_value_json, agent_id, written_at) VALUES "
          "('ttl-live', '\"still here\"', NULL, NULL, "
        + num(t0 + 2)
        + ");\n"
          "INSERT INTO leases VALUES ('res-live', 'holder-1', "
        + num(now + 3600)
        + ");\n"
          "INSERT INTO leases VALUES ('res-expired', 'holder-2', "
        + num(now - 60)
        + ");\n"
          "INSERT INTO workflows VALUES ('wf-0123456789ab', 'build', 'running', '{\"team\": \"a\", \"env\": "
          "\"prod\"}', "
          "'agent-1', 10, "
        + num(t0) + ", " + num(t0 + 5)
        + ");\n"
          "INSERT INTO workflows VALUES ('wf-abcdef012345', 'deploy', 'created', '{}', NULL, 0, "
        + num(t0 + 10) + ", " + num(t0 + 10)
        + ");\n"
          "INSERT INTO workflows VALUES ('wf-fedcba987654', 'old', 'done', '{\"team\": \"b\"}', 'agent-2', "
          "1, "
        + num(t0 - 100) + ", " + num(t0 - 50)
        + ");\n"
          "INSERT INTO step_outputs VALUES ('wf-0123456789ab', 10, '\"ten\"');\n"
          "INSERT INTO step_outputs VALUES ('wf-0123456789ab', 2, '[1, 2]');\n"
          "INSERT INTO step_outputs VALUES ('wf-0123456789ab', 1, '{\"x\": 1, \"y\": {\"z\": null}}');\n"
          "INSERT INTO step_outputs VALUES ('wf-fedcba987654', 1, 'null');\n";
    QVERIFY2(sqlite(db, data, &m_error), qPrintable(m_error));

    qint64 lastRevision = 0;
    {
        SidecarClient s;
        QVERIFY2(s.start({}, db), qPrintable(s.problem()));

        // Keys: values in compact form, TTLs kept, expired ones gone, case-sensitive keys apart.
        auto config = s.ok(QStringLiteral("state_get"), R"({"key":"config"})");
        QVERIFY2(config, qPrintable(s.problem()));
        CHECK_FIELD(*config, "found", "true");
        CHECK_FIELD(*config, "value", R"({"b":2,"a":[1,2.50,12345678901234567890]})");
        CHECK_FIELD(*config, "expires_at", "null");
        CHECK_FIELD(*config, "agent_id", "\"agent-2\"");
        QVERIFY2(qAbs(config->number("updated_at") - (t0 + 1)) < 0.01, config->text().constData());
        auto plain = s.ok(QStringLiteral("state_get"), R"({"key":"plain"})");
        QVERIFY2(plain, qPrintable(s.problem()));
        CHECK_FIELD(*plain, "value", "42");
        QVERIFY(plain->integer("version") > 0);
        auto unicode = s.ok(QStringLiteral("state_get"), R"({"key":"unicode"})");
        QVERIFY2(unicode, qPrintable(s.problem()));
        CHECK_FIELD(*unicode, "value", R"("caf\u00e9")");
        auto upper = s.ok(QStringLiteral("state_get"), R"({"key":"Config"})");
        QVERIFY2(upper, qPrintable(s.problem()));
        CHECK_FIELD(*upper, "value", R"({"upper":true})");
        auto ttl = s.ok(QStringLiteral("state_get"), R"({"key":"ttl-live"})");
        QVERIFY2(ttl, qPrintable(s.problem()));
        CHECK_FIELD(*ttl, "value", "\"still here\"");
        QVERIFY2(qAbs(ttl->number("expires_at") - (now + 3600.5)) < 0.01, ttl->text().constData());
        auto expired = s.ok(QStringLiteral("state_get"), R"({"key":"ttl-expired"})");
        QVERIFY2(expired, qPrintable(s.problem()));
        CHECK_FIELD(*expired, "found", "false");
        auto keys = s.ok(QStringLiteral("state_list"), "{}");
        QVERIFY2(keys, qPrintable(s.problem()));
        CHECK_FIELD(*keys, "keys", R"(["Config","config","plain","ttl-live","unicode"])");
        auto prefixed = s.ok(QStringLiteral("state_list"), R"({"prefix":"con"})");
        QVERIFY2(prefixed, qPrintable(s.problem()));
        CHECK_FIELD(*prefixed, "keys", R"(["config"])");

        // History: the original's entries, newest first, values compact.
        auto history = s.ok(QStringLiteral("history_log"), R"({"key":"config"})");
        QVERIFY2(history, qPrintable(s.problem()));
        CHECK_FIELD(*history, "total", "2");
        CHECK_FIELD(*history, "entries.0.kind", "\"kv\"");
        CHECK_FIELD(*history, "entries.0.op", "\"set\"");
        CHECK_FIELD(*history, "entries.0.new_value", R"({"b":2,"a":[1,2.50,12345678901234567890]})");
        CHECK_FIELD(*history, "entries.0.previous_value", R"({"a":1})");
        CHECK_FIELD(*history, "entries.0.agent_id", "\"agent-2\"");
        QVERIFY(qAbs(history->number("entries.0.written_at") - (t0 + 1)) < 0.01);
        CHECK_FIELD(*history, "entries.1.new_value", R"({"a":1})");
        CHECK_FIELD(*history, "entries.1.previous_value", "null");
        CHECK_FIELD(*history, "entries.1.agent_id", "\"agent-1\"");
        QVERIFY(history->integer("entries.0.revision") > history->integer("entries.1.revision"));
        QCOMPARE(config->integer("version"), history->integer("entries.0.revision"));
        auto ttlHistory = s.ok(QStringLiteral("history_log"), R"({"key":"ttl-live"})");
        QVERIFY2(ttlHistory, qPrintable(s.problem()));
        CHECK_FIELD(*ttlHistory, "total", "1");

        // Workflows: tags, steps (ascending), status, agent; newest first.
        auto resume = s.ok(QStringLiteral("workflow_resume"), R"({"run_id":"wf-0123456789ab"})");
        QVERIFY2(resume, qPrintable(s.problem()));
        CHECK_FIELD(*resume, "last_step", "10");
        CHECK_FIELD(*resume, "step_outputs", R"({"1":{"x":1,"y":{"z":null}},"2":[1,2],"10":"ten"})");
        CHECK_FIELD(*resume, "meta.name", "\"build\"");
        CHECK_FIELD(*resume, "meta.status", "\"running\"");
        CHECK_FIELD(*resume, "meta.tags", R"({"team":"a","env":"prod"})");
        CHECK_FIELD(*resume, "meta.agent_id", "\"agent-1\"");
        QVERIFY(qAbs(resume->number("meta.created_at") - t0) < 0.01);
        auto old = s.ok(QStringLiteral("workflow_resume"), R"({"run_id":"wf-fedcba987654"})");
        QVERIFY2(old, qPrintable(s.problem()));
        CHECK_FIELD(*old, "step_outputs", R"({"1":null})");
        CHECK_FIELD(*old, "meta.status", "\"done\"");
        auto list = s.ok(QStringLiteral("workflow_list"), "{}");
        QVERIFY2(list, qPrintable(s.problem()));
        QCOMPARE(list->count("runs"), 3);
        CHECK_FIELD(*list, "runs.0.run_id", "\"wf-abcdef012345\"");
        CHECK_FIELD(*list, "runs.1.run_id", "\"wf-0123456789ab\"");
        CHECK_FIELD(*list, "runs.2.run_id", "\"wf-fedcba987654\"");
        CHECK_FIELD(*list, "runs.0.tags", "{}");
        auto byTag = s.ok(QStringLiteral("workflow_discover"), R"({"tags":{"team":"b"}})");
        QVERIFY2(byTag, qPrintable(s.problem()));
        QCOMPARE(byTag->count("runs"), 1);
        CHECK_FIELD(*byTag, "runs.0.run_id", "\"wf-fedcba987654\"");
        auto status = s.ok(QStringLiteral("workflow_status"), R"({"run_id":"wf-abcdef012345"})");
        QVERIFY2(status, qPrintable(s.problem()));
        CHECK_FIELD(*status, "status", "\"created\"");
        CHECK_FIELD(*status, "agent_id", "null");

        // The imported runs go on working.
        auto claim = s.ok(QStringLiteral("workflow_claim"),
                          R"({"run_id":"wf-abcdef012345","agent_id":"new"})");
        QVERIFY2(claim, qPrintable(s.problem()));
        CHECK_FIELD(*claim, "claimed", "true");
        auto doneClaim = s.ok(QStringLiteral("workflow_claim"),
                              R"({"run_id":"wf-fedcba987654","agent_id":"new"})");
        QVERIFY2(doneClaim, qPrintable(s.problem()));
        CHECK_FIELD(*doneClaim, "claimed", "false");
        CHECK_FIELD(*doneClaim, "reason", R"x("Workflow is in status 'done' (agent: agent-2)")x");
        // The original holder of the running run continues it: unfenced checkpoints, as before.
        auto cp = s.ok(QStringLiteral("workflow_checkpoint"),
                       R"({"run_id":"wf-0123456789ab","step":11,"output":{"more":1}})");
        QVERIFY2(cp, qPrintable(s.problem()));
        CHECK_FIELD(*cp, "ok", "true");
        auto reclaim = s.ok(QStringLiteral("workflow_claim"),
                            R"({"run_id":"wf-0123456789ab","agent_id":"agent-1"})");
        QVERIFY2(reclaim, qPrintable(s.problem()));
        CHECK_FIELD(*reclaim, "claimed", "true");
        auto done = s.ok(QStringLiteral("workflow_complete"),
                         R"({"run_id":"wf-0123456789ab","agent_id":"agent-1","status":"done"})");
        QVERIFY2(done, qPrintable(s.problem()));
        CHECK_FIELD(*done, "ok", "true");

        // Leases: the live one still held, the lapsed one free.
        auto held = s.ok(QStringLiteral("lease_acquire"),
                         R"({"resource_id":"res-live","holder_id":"intruder","ttl_seconds":60})");
        QVERIFY2(held, qPrintable(s.problem()));
        CHECK_FIELD(*held, "acquired", "false");
        CHECK_FIELD(*held, "holder", "\"holder-1\"");
        CHECK_FIELD(*held, "reason", R"("Held by 'holder-1'")");
        auto leases = s.ok(QStringLiteral("lease_list"), "{}");
        QVERIFY2(leases, qPrintable(s.problem()));
        QCOMPARE(leases->count("leases"), 1);
        CHECK_FIELD(*leases, "leases.0.resource_id", "\"res-live\"");
        CHECK_FIELD(*leases, "leases.0.holder", "\"holder-1\"");
        QVERIFY(qAbs(leases->number("leases.0.expires_at") - (now + 3600)) < 0.01);
        const qint64 oldFence = leases->integer("leases.0.fence");
        QVERIFY(oldFence > 0);
        auto renew = s.ok(QStringLiteral("lease_renew"),
                          R"({"resource_id":"res-live","holder_id":"holder-1","ttl_seconds":60})");
        QVERIFY2(renew, qPrintable(s.problem()));
        CHECK_FIELD(*renew, "renewed", "true");
        auto freed = s.ok(QStringLiteral("lease_acquire"),
                          R"({"resource_id":"res-expired","holder_id":"new","ttl_seconds":60})");
        QVERIFY2(freed, qPrintable(s.problem()));
        CHECK_FIELD(*freed, "acquired", "true");
        QVERIFY(freed->integer("fence") > oldFence);

        // New writes get revisions after every imported one.
        auto all = s.ok(QStringLiteral("history_log"), R"({"n":1000})");
        QVERIFY2(all, qPrintable(s.problem()));
        auto write = s.ok(QStringLiteral("state_set"), R"({"key":"after","value":1})");
        QVERIFY2(write, qPrintable(s.problem()));
        QVERIFY(write->integer("revision") > all->integer("entries.0.revision"));
        lastRevision = write->integer("revision");
        auto health = s.ok(QStringLiteral("sidecar_health"), "{}");
        QVERIFY2(health, qPrintable(s.problem()));
        CHECK_FIELD(*health, "status", "\"ok\"");
        CHECK_FIELD(*health, "key_count", "6");
        CHECK_FIELD(*health, "workflow_count", "3");
        s.process().closeInput();
        QVERIFY(s.process().waitForExit(30000));
        QCOMPARE(s.process().process().exitCode(), 0);
    }

    // A backup copy of the original lies beside it, with the original's tables and rows.
    const QFileInfo info(db);
    const QStringList backups = info.dir()
                                    .entryList({info.fileName() + QStringLiteral("*")}, QDir::Files)
                                    .filter(QRegularExpression(QStringLiteral("\\.(bak|backup)")));
    QVERIFY2(backups.size() == 1, qPrintable(info.dir().entryList({info.fileName() + u'*'}).join(u' ')));
    const QString backup = info.dir().filePath(backups.front());
    auto rows = sqlite(backup, "SELECT COUNT(*) FROM kv_store; SELECT COUNT(*) FROM step_outputs;", &m_error);
    QVERIFY2(rows, qPrintable(m_error));
    QCOMPARE(rows->trimmed(), QByteArray("6\n4"));

    // Opening again migrates nothing twice: same data, no new backup, the revision goes on.
    {
        SidecarClient s;
        QVERIFY2(s.start({}, db), qPrintable(s.problem()));
        auto history = s.ok(QStringLiteral("history_log"), R"({"key":"config"})");
        QVERIFY2(history, qPrintable(s.problem()));
        CHECK_FIELD(*history, "total", "2");
        auto write = s.ok(QStringLiteral("state_set"), R"({"key":"again","value":1})");
        QVERIFY2(write, qPrintable(s.problem()));
        QVERIFY(write->integer("revision") > lastRevision);
        auto list = s.ok(QStringLiteral("workflow_list"), "{}");
        QVERIFY2(list, qPrintable(s.problem()));
        QCOMPARE(list->count("runs"), 3);
    }
    QCOMPARE(info.dir()
                 .entryList({info.fileName() + QStringLiteral("*")}, QDir::Files)
                 .filter(QRegularExpression(QStringLiteral("\\.(bak|backup)")))
                 .size(),
             1);
}

void TestMigration::newerSchemaIsRefused()
{
    const QString db = freshDbPath(QStringLiteral("newer"));
    {
        SidecarClient s; // create a current database first
        QVERIFY2(s.start({}, db), qPrintable(s.problem()));
        QVERIFY(s.ok(QStringLiteral("state_set"), R"({"key":"k","value":1})"));
        s.process().closeInput();
        QVERIFY(s.process().waitForExit(30000));
    }
    QVERIFY2(sqlite(db, "PRAGMA user_version = 9999;", &m_error), qPrintable(m_error));
    ServerProcess p;
    QVERIFY(p.start({QStringLiteral("--db-path"), db}));
    QVERIFY2(p.waitForExit(30000), "a database of a newer schema must be refused at start");
    QVERIFY(p.process().exitCode() != 0);
    const QString err = QString::fromUtf8(p.stderrText());
    QVERIFY2(err.contains(QStringLiteral("newer")), qPrintable(err));
    auto version = sqlite(db, "PRAGMA user_version;", &m_error);
    QVERIFY2(version, qPrintable(m_error));
    QCOMPARE(version->trimmed(), QByteArray("9999")); // untouched
}

void TestMigration::foreignDatabaseIsRefused()
{
    const QString db = freshDbPath(QStringLiteral("foreign"));
    QVERIFY2(sqlite(db,
                    "CREATE TABLE invoices (id INTEGER PRIMARY KEY, amount REAL); INSERT INTO invoices "
                    "VALUES (1, 9.5);",
                    &m_error),
             qPrintable(m_error));
    ServerProcess p;
    QVERIFY(p.start({QStringLiteral("--db-path"), db}));
    QVERIFY2(p.waitForExit(30000), "a foreign SQLite file must be refused at start");
    QVERIFY(p.process().exitCode() != 0);
    QVERIFY2(!p.stderrText().trimmed().isEmpty(), "with a message");
    auto tables = sqlite(db, "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name;", &m_error);
    QVERIFY2(tables, qPrintable(m_error));
    QCOMPARE(tables->trimmed(), QByteArray("invoices")); // untouched
}

QTEST_GUILESS_MAIN(TestMigration)
#include "tst_migration.moc"
