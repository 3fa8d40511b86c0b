// `mcp-state-sidecar --import-redis-from <url>`: the data the original package kept in Redis
// (`kv:*`, `wf:*`, `lease:*`, `session:*`, no prefix), seeded here with raw commands in every shape
// the importer accepts (strings, JSON envelopes, hashes, with and without TTL, steps inside the
// run, in a `wf:<id>:steps` hash and in `wf:<id>:step:<n>` keys), and some it must skip, is
// imported by the real binary into the Redis backend on the same redis-server and database (the
// target under the prefix `sidecar:`). Then the stdio server on that backend must show every item
// exactly through the tools (values byte for byte, TTLs, run ids, statuses, steps, tags, the
// order of the runs, lease holders, contexts, history entries), the summary on stderr must count
// right and name what was skipped, and a second import must change nothing. Also: a source in
// another database, and the exit codes of bad arguments (2) and an unreachable source (1).

#include <QtTest>

#include <QDateTime>
#include <QFileInfo>
#include <QProcess>
#include <QRegularExpression>
#include <QTcpServer>
#include <QTimeZone>

#include <memory>
#include <optional>

#include "redisserverprocess.h"
#include "sidecartestclient.h"
#include "store/redis/redisconnection.h"

using namespace sidecar;
using namespace sidecar::test;

namespace {

// Raw commands on one connection, each waited for (seeding the source, inspecting the target).
class RawRedis
{
public:
    explicit RawRedis(const QString &url) : m_connection(*store::redis::parseRedisUrl(url))
    {
        m_connection.start();
    }

    std::optional<store::redis::RedisReply> run(const QList<QByteArray> &argv)
    {
        if (!QTest::qWaitFor([this] { return m_connection.isConnected(); }, 15000))
            return std::nullopt;
        std::optional<store::redis::RedisReply> out;
        bool done = false;
        m_connection.command(argv, [&](Result<store::redis::RedisReply> r) {
            if (r && !r->isError())
                out = *r;
            done = true;
        });
        if (!QTest::qWaitFor([&done] { return done; }, 15000))
            return std::nullopt;
        return out;
    }

    // Every command answered without an error.
    bool seed(const QList<QList<QByteArray>> &commands)
    {
        for (const auto &argv : commands) {
            if (!run(argv)) {
                qWarning("seeding failed at: %s", argv.join(' ').constData());
                return false;
            }
        }
        return true;
    }

private:
    store::redis::RedisConnection m_connection;
};

struct ImportRun
{
    int exitCode = -1;
    QString err;
};

QByteArray num(double v)
{
    return QByteArray::number(v, 'f', 6);
}

// "<family>: N imported..., M already present, K skipped" of the summary, as "N/M/K".
QString counts(const QString &summary, const QString &family)
{
    const QRegularExpression line(
        QStringLiteral("\\n  %1:\\s+(\\d+) imported[^,]*, (\\d+) already present, (\\d+) "
                       "skipped\\n")
            .arg(family));
    const auto m = line.match(summary);
    if (!m.hasMatch())
        return QStringLiteral("<no line for %1>").arg(family);
    return m.captured(1) + u'/' + m.captured(2) + u'/' + m.captured(3);
}

quint16 unusedPort()
{
    QTcpServer probe;
    probe.listen(QHostAddress::LocalHost, 0);
    return probe.serverPort();
}

} // namespace

#define CHECK_COUNTS(summary, family, imported, present, skipped)                                            \
    QCOMPARE(counts(summary, QStringLiteral(family)),                                                        \
             QStringLiteral("%1/%2/%3").arg(imported).arg(present).arg(skipped))

class TestRedisImport : public QObject
{
    Q_OBJECT
private slots:
    void initTestCase();
    void importsEveryShape();
    void sourceInAnotherDatabase();
    void badArguments_data();
    void badArguments();

private:
    // Runs the binary with --import-redis-from `source` (plus `args`) on the Redis backend at the
    // test's server, with `prefix`; `env` adds or overrides variables.
    ImportRun runImport(const QString &source, const QString &prefix, const QStringList &args = {},
                        const QStringList &env = {});
    bool startClient(SidecarClient &client, const QString &prefix);

    std::unique_ptr<RedisServerProcess> m_redis;
};

void TestRedisImport::initTestCase()
{
    QVERIFY2(!qEnvironmentVariableIsEmpty("SIDECAR_BIN"), "SIDECAR_BIN is not set (run through ctest)");
    QVERIFY2(QFileInfo(RedisServerProcess::redisServerBinary()).isExecutable(),
             "redis-server is not installed (scripts/setup.sh installs it)");
    m_redis = std::make_unique<RedisServerProcess>();
    QVERIFY2(m_redis->start(), qPrintable(m_redis->errorString()));
}

ImportRun TestRedisImport::runImport(const QString &source, const QString &prefix, const QStringList &args,
                                     const QStringList &env)
{
    QProcessEnvironment e = QProcessEnvironment::systemEnvironment();
    e.insert(QStringLiteral("STATE_BACKEND"), QStringLiteral("redis"));
    e.insert(QStringLiteral("REDIS_URL"), m_redis->url());
    e.insert(QStringLiteral("SIDECAR_LOG_LEVEL"), QStringLiteral("warning"));
    for (const QString &pair : env)
        e.insert(pair.section(u'=', 0, 0), pair.section(u'=', 1));
    QProcess p;
    p.setProcessEnvironment(e);
    p.start(qEnvironmentVariable("SIDECAR_BIN"), QStringList{QStringLiteral("--redis-prefix=") + prefix,
                                                             QStringLiteral("--import-redis-from"), source}
                                                     + args);
    ImportRun out;
    if (!p.waitForFinished(60000)) {
        p.kill();
        p.waitForFinished(5000);
        out.err = QStringLiteral("the import did not finish within 60 s");
        return out;
    }
    out.exitCode = p.exitStatus() == QProcess::NormalExit ? p.exitCode() : -1;
    out.err = QString::fromUtf8(p.readAllStandardError());
    if (!p.readAllStandardOutput().isEmpty())
        out.err += QStringLiteral("\n<unexpected output on stdout>");
    return out;
}

bool TestRedisImport::startClient(SidecarClient &client, const QString &prefix)
{
    return client.start({QStringLiteral("--backend"), QStringLiteral("redis"), QStringLiteral("--redis-url"),
                         m_redis->url(), QStringLiteral("--redis-prefix=") + prefix});
}

void TestRedisImport::importsEveryShape()
{
    RawRedis raw(m_redis->url());
    const double now = nowSeconds();
    const double t0 = now - 1000;
    const QByteArray iso = QDateTime::fromMSecsSinceEpoch(qint64((t0 + 20) * 1000), QTimeZone::utc())
                               .toString(Qt::ISODateWithMs)
                               .toUtf8();
    QVERIFY(raw.seed({
        // keys: JSON text, envelopes, hashes; native TTLs and expires_at fields
        {"SET", "kv:plain", R"({"b": 2, "a": [1, 2.50, 12345678901234567890]})"},
        {"SET", "kv:number", "42"},
        {"SET", "kv:unicode", "\"caf\\u00e9 \xe2\x98\x95\""},
        {"SET", "kv:a:b c", "true"},
        {"SET", "kv:ttl-native", "\"soon\"", "PX", "3600500"},
        {"SET", "kv:envelope",
         R"({"value": {"x": 1}, "version": 7, "updated_at": 1700000000.5, "agent_id": "agent-7"})"},
        {"SET", "kv:envelope-json", R"({"value_json": "[1, 2, 3]", "expires_at": )" + num(now + 600) + "}"},
        {"SET", "kv:not-envelope", R"({"value": 1, "other": 2})"},
        {"HSET", "kv:hash", "value", R"({"h": true})", "version", "3", "updated_at", num(t0), "agent_id",
         "agent-h", "expires_at", num(now + 1200)},
        {"HSET", "kv:hash-native", "value_json", "\"x\""},
        {"PEXPIRE", "kv:hash-native", "900000"},
        {"SET", "kv:expired", R"({"value": "old", "expires_at": )" + num(now - 10) + "}"},
        {"SET", "kv:invalid", "{not json"},
        {"RPUSH", "kv:list", "a"},
        {"HSET", "kv:hash-novalue", "foo", "bar"},
        // runs: a hash with a steps hash; JSON; a hash with step keys; JSON with steps inside
        {"HSET", "wf:wf-000000000001", "name", "build", "status", "running", "tags_json",
         R"({"team": "a", "env": "prod"})", "agent_id", "agent-1", "last_step", "1", "created_at", num(t0),
         "updated_at", num(t0 + 5)},
        {"HSET", "wf:wf-000000000001:steps", "1", R"({"x": 1, "y": {"z": null}})", "2", "[1, 2]"},
        {"SET", "wf:wf-000000000002",
         R"({"run_id": "wf-000000000002", "name": "deploy", "status": "created", "tags": [["region", "eu"], ["tier", "1"]], "agent_id": null, "last_step": 0, "created_at": )"
             + num(t0 + 10) + R"(, "updated_at": )" + num(t0 + 10) + "}"},
        {"HSET", "wf:wf-000000000003", "name", "old", "status", "done", "tags", R"({"team": "b"})",
         "agent_id", "agent-2", "last_step", "3", "created_at", num(t0 - 100), "updated_at", num(t0 - 50)},
        {"SET", "wf:wf-000000000003:step:1", "null"},
        {"SET", "wf:wf-000000000003:step:3", "\"three\""},
        {"SET", "wf:wf-000000000004",
         R"({"name": "claimed-one", "status": "claimed", "agent_id": "agent-4", "tags": {"team": "a", "n": 5}, "created_at": ")"
             + iso + R"(", "updated_at": )" + num(t0 + 21)
             + R"(, "last_step": 1, "step_outputs": {"1": {"a": 1}, "5": "five"}})"},
        // what must be skipped: steps of no run, a bad status, a bad step output, an index set
        {"HSET", "wf:wf-orphan:steps", "1", "1"},
        {"SET", "wf:gone:step:7", "1"},
        {"HSET", "wf:wf-badstatus", "name", "x", "status", "paused"},
        {"HSET", "wf:wf-badstep", "name", "y", "status", "created"},
        {"HSET", "wf:wf-badstep:steps", "1", "{oops"},
        {"SADD", "wf:index", "wf-000000000001"},
        // leases
        {"SET", "lease:res-string", "holder-1", "PX", "3600000"},
        {"SET", "lease:res-json", R"({"holder_id": "holder-2", "expires_at": )" + num(now + 1800) + "}"},
        {"HSET", "lease:res-hash", "holder", "holder-3", "expires_at", num(now + 900)},
        {"SET", "lease:res-quoted", "\"holder-4\"", "EX", "600"},
        {"HSET", "lease:res-lapsed", "holder", "h", "expires_at", num(now - 5)},
        {"SET", "lease:res-forever", "h"},
        // sessions
        {"SET", "session:s-plain", R"({"goal": "ship", "n": 1})"},
        {"SET", "session:s-envelope",
         R"({"context": {"a": [1]}, "saved_at": )" + num(t0) + R"(, "updated_at": )" + num(t0 + 1)
             + R"(, "agent_id": "agent-s"})"},
        {"HSET", "session:s-hash", "context_json", R"({"h": 1})", "saved_at", num(t0)},
        {"SET", "session:s-array", "[1, 2]"},
    }));

    SidecarClient s;
    QVERIFY2(startClient(s, QStringLiteral("sidecar:")), qPrintable(s.problem()));
    // The target's own data, under the prefix: never mistaken for the original's.
    QVERIFY2(s.ok(QStringLiteral("state_set"), R"({"key":"own","value":"mine"})"), qPrintable(s.problem()));

    const ImportRun first = runImport(m_redis->url(), QStringLiteral("sidecar:"));
    QVERIFY2(first.exitCode == 0, qPrintable(first.err));
    CHECK_COUNTS(first.err, "keys", 10, 0, 4);
    CHECK_COUNTS(first.err, "runs", 4, 0, 3);
    CHECK_COUNTS(first.err, "leases", 4, 0, 2);
    CHECK_COUNTS(first.err, "sessions", 3, 0, 1);
    for (const char *expected :
         {"(with 6 steps)", "step keys: 2 skipped", "skipped keys: 1 expired (kv:expired)",
          "skipped keys: 1 value is not valid JSON (kv:invalid)",
          "skipped keys: 1 a Redis list, not a string or a hash (kv:list)",
          "skipped keys: 1 no value or value_json field (kv:hash-novalue)",
          "skipped runs: 1 the status is not one of created, claimed, running, done, failed "
          "(wf:wf-badstatus)",
          "skipped runs: 1 a step output is not valid JSON (wf:wf-badstep)",
          "skipped runs: 1 a Redis set, not a string or a hash (wf:index)",
          "skipped leases: 1 lapsed (lease:res-lapsed)",
          "skipped leases: 1 no deadline (neither a TTL nor expires_at) (lease:res-forever)",
          "skipped sessions: 1 the context is not a JSON object (session:s-array)",
          "skipped step keys: 2 steps of a run that is not in the source or was skipped (wf:gone:step:7, "
          "wf:wf-orphan:steps)"})
        QVERIFY2(first.err.contains(QString::fromUtf8(expected)),
                 qPrintable(QString::fromUtf8(expected) + u'\n' + first.err));
    QVERIFY2(!first.err.contains(QStringLiteral("password")), qPrintable(first.err));

    // Keys: compact JSON byte for byte, TTLs kept, agents kept, nothing of the target mistaken.
    auto keys = s.ok(QStringLiteral("state_list"), "{}");
    QVERIFY2(keys, qPrintable(s.problem()));
    CHECK_FIELD(
        *keys, "keys",
        R"(["a:b c","envelope","envelope-json","hash","hash-native","not-envelope","number","own","plain","ttl-native","unicode"])");
    const std::pair<const char *, const char *> values[] = {
        {"plain", R"({"b":2,"a":[1,2.50,12345678901234567890]})"},
        {"number", "42"},
        {"unicode", "\"caf\\u00e9 \xe2\x98\x95\""},
        {"a:b c", "true"},
        {"ttl-native", "\"soon\""},
        {"envelope", R"({"x":1})"},
        {"envelope-json", "[1,2,3]"},
        {"not-envelope", R"({"value":1,"other":2})"},
        {"hash", R"({"h":true})"},
        {"hash-native", "\"x\""},
        {"own", "\"mine\""},
    };
    for (const auto &[key, value] : values) {
        auto got = s.ok(QStringLiteral("state_get"), "{\"key\":" + quoted(QString::fromUtf8(key)) + "}");
        QVERIFY2(got, qPrintable(s.problem()));
        CHECK_FIELD(*got, "found", "true");
        QCOMPARE(got->text("value"), QByteArray(value));
    }
    const std::pair<const char *, double> deadlines[] = {{"ttl-native", now + 3600.5},
                                                         {"envelope-json", now + 600},
                                                         {"hash", now + 1200},
                                                         {"hash-native", now + 900}};
    for (const auto &[key, deadline] : deadlines) {
        auto got = s.ok(QStringLiteral("state_get"), "{\"key\":" + quoted(QString::fromUtf8(key)) + "}");
        QVERIFY2(got, qPrintable(s.problem()));
        QVERIFY2(qAbs(got->number("expires_at") - deadline) < 10, got->text().constData());
    }
    auto plain = s.ok(QStringLiteral("state_get"), R"({"key":"plain"})");
    QVERIFY2(plain, qPrintable(s.problem()));
    CHECK_FIELD(*plain, "expires_at", "null");
    CHECK_FIELD(*plain, "agent_id", "null");
    auto envelope = s.ok(QStringLiteral("state_get"), R"({"key":"envelope"})");
    QVERIFY2(envelope, qPrintable(s.problem()));
    CHECK_FIELD(*envelope, "agent_id", "\"agent-7\"");
    CHECK_FIELD(*envelope, "expires_at", "null");
    auto hash = s.ok(QStringLiteral("state_get"), R"({"key":"hash"})");
    QVERIFY2(hash, qPrintable(s.problem()));
    CHECK_FIELD(*hash, "agent_id", "\"agent-h\"");
    auto expired = s.ok(QStringLiteral("state_get"), R"({"key":"expired"})");
    QVERIFY2(expired, qPrintable(s.problem()));
    CHECK_FIELD(*expired, "found", "false");

    // Each key has one 'set' entry, its version its revision.
    auto keyHistory = s.ok(QStringLiteral("history_log"), R"({"key":"envelope"})");
    QVERIFY2(keyHistory, qPrintable(s.problem()));
    CHECK_FIELD(*keyHistory, "total", "1");
    CHECK_FIELD(*keyHistory, "entries.0.kind", "\"kv\"");
    CHECK_FIELD(*keyHistory, "entries.0.op", "\"set\"");
    CHECK_FIELD(*keyHistory, "entries.0.new_value", R"({"x":1})");
    CHECK_FIELD(*keyHistory, "entries.0.previous_value", "null");
    CHECK_FIELD(*keyHistory, "entries.0.agent_id", "\"agent-7\"");
    QCOMPARE(envelope->integer("version"), keyHistory->integer("entries.0.revision"));

    // Runs: ids, statuses, tags, agents, steps, last steps; claims lapsed (attempt 1, no deadline).
    auto one = s.ok(QStringLiteral("workflow_resume"), R"({"run_id":"wf-000000000001"})");
    QVERIFY2(one, qPrintable(s.problem()));
    CHECK_FIELD(*one, "last_step", "2");
    CHECK_FIELD(*one, "step_outputs", R"({"1":{"x":1,"y":{"z":null}},"2":[1,2]})");
    CHECK_FIELD(*one, "meta.name", "\"build\"");
    CHECK_FIELD(*one, "meta.status", "\"running\"");
    CHECK_FIELD(*one, "meta.tags", R"({"team":"a","env":"prod"})");
    CHECK_FIELD(*one, "meta.agent_id", "\"agent-1\"");
    CHECK_FIELD(*one, "meta.attempt", "1");
    QVERIFY2(!one->has("meta.claim_expires_at") || one->text("meta.claim_expires_at") == "null",
             one->text().constData());
    QVERIFY2(qAbs(one->number("meta.created_at") - t0) < 0.01, one->text().constData());
    QVERIFY2(qAbs(one->number("meta.updated_at") - (t0 + 5)) < 0.01, one->text().constData());
    auto two = s.ok(QStringLiteral("workflow_status"), R"({"run_id":"wf-000000000002"})");
    QVERIFY2(two, qPrintable(s.problem()));
    CHECK_FIELD(*two, "status", "\"created\"");
    CHECK_FIELD(*two, "agent_id", "null");
    CHECK_FIELD(*two, "last_step", "0");
    QVERIFY2(!two->has("attempt"), two->text().constData());
    auto twoResumed = s.ok(QStringLiteral("workflow_resume"), R"({"run_id":"wf-000000000002"})");
    QVERIFY2(twoResumed, qPrintable(s.problem()));
    CHECK_FIELD(*twoResumed, "meta.tags", R"({"region":"eu","tier":"1"})");
    CHECK_FIELD(*twoResumed, "step_outputs", "{}");
    auto three = s.ok(QStringLiteral("workflow_resume"), R"({"run_id":"wf-000000000003"})");
    QVERIFY2(three, qPrintable(s.problem()));
    CHECK_FIELD(*three, "step_outputs", R"({"1":null,"3":"three"})");
    CHECK_FIELD(*three, "last_step", "3");
    CHECK_FIELD(*three, "meta.status", "\"done\"");
    CHECK_FIELD(*three, "meta.agent_id", "\"agent-2\"");
    auto four = s.ok(QStringLiteral("workflow_resume"), R"({"run_id":"wf-000000000004"})");
    QVERIFY2(four, qPrintable(s.problem()));
    CHECK_FIELD(*four, "step_outputs", R"({"1":{"a":1},"5":"five"})");
    CHECK_FIELD(*four, "last_step", "5");
    CHECK_FIELD(*four, "meta.status", "\"claimed\"");
    CHECK_FIELD(*four, "meta.tags", R"({"team":"a","n":"5"})");
    QVERIFY2(qAbs(four->number("meta.created_at") - (t0 + 20)) < 0.01, four->text().constData());
    auto missing = s.toolError(QStringLiteral("workflow_status"), R"({"run_id":"wf-badstatus"})");
    QCOMPARE(missing, QStringLiteral("not_found"));

    // Newest first by the original's created_at; tags are indexed.
    auto list = s.ok(QStringLiteral("workflow_list"), "{}");
    QVERIFY2(list, qPrintable(s.problem()));
    QCOMPARE(list->count("runs"), 4);
    CHECK_FIELD(*list, "runs.0.run_id", "\"wf-000000000004\"");
    CHECK_FIELD(*list, "runs.1.run_id", "\"wf-000000000002\"");
    CHECK_FIELD(*list, "runs.2.run_id", "\"wf-000000000001\"");
    CHECK_FIELD(*list, "runs.3.run_id", "\"wf-000000000003\"");
    auto team = s.ok(QStringLiteral("workflow_discover"), R"({"tags":{"team":"a"}})");
    QVERIFY2(team, qPrintable(s.problem()));
    QCOMPARE(team->count("runs"), 2);
    CHECK_FIELD(*team, "runs.0.run_id", "\"wf-000000000004\"");
    CHECK_FIELD(*team, "runs.1.run_id", "\"wf-000000000001\"");
    auto running = s.ok(QStringLiteral("workflow_discover"), R"({"status":"running"})");
    QVERIFY2(running, qPrintable(s.problem()));
    QCOMPARE(running->count("runs"), 1);
    auto runHistory = s.ok(QStringLiteral("history_log"), R"({"key":"wf-000000000001","kind":"workflow"})");
    QVERIFY2(runHistory, qPrintable(s.problem()));
    CHECK_FIELD(*runHistory, "total", "1");
    CHECK_FIELD(*runHistory, "entries.0.op", "\"create\"");
    CHECK_FIELD(
        *runHistory, "entries.0.new_value",
        R"({"name":"build","status":"running","tags":{"team":"a","env":"prod"},"agent_id":"agent-1","last_step":2,"imported":true})");

    // Leases: holders and deadlines kept, each with a fence.
    auto leases = s.ok(QStringLiteral("lease_list"), "{}");
    QVERIFY2(leases, qPrintable(s.problem()));
    QCOMPARE(leases->count("leases"), 4);
    const std::tuple<const char *, const char *, double> expectedLeases[] = {
        {"res-hash", "holder-3", now + 900},
        {"res-json", "holder-2", now + 1800},
        {"res-quoted", "holder-4", now + 600},
        {"res-string", "holder-1", now + 3600},
    };
    for (int i = 0; i < 4; ++i) {
        const auto &[resource, holder, deadline] = expectedLeases[i];
        const std::string at = "leases." + std::to_string(i);
        QCOMPARE(leases->str(at + ".resource_id"), QString::fromUtf8(resource));
        QCOMPARE(leases->str(at + ".holder"), QString::fromUtf8(holder));
        QVERIFY2(qAbs(leases->number(at + ".expires_at") - deadline) < 10, leases->text().constData());
        QVERIFY(leases->integer(at + ".fence") > 0);
    }
    auto intruder = s.ok(QStringLiteral("lease_acquire"),
                         R"({"resource_id":"res-string","holder_id":"intruder","ttl_seconds":60})");
    QVERIFY2(intruder, qPrintable(s.problem()));
    CHECK_FIELD(*intruder, "acquired", "false");
    CHECK_FIELD(*intruder, "holder", "\"holder-1\"");

    // Sessions: contexts compact; the envelope's agent in history.
    const std::pair<const char *, const char *> contexts[] = {
        {"s-plain", R"({"goal":"ship","n":1})"}, {"s-envelope", R"({"a":[1]})"}, {"s-hash", R"({"h":1})"}};
    for (const auto &[id, context] : contexts) {
        auto got = s.ok(QStringLiteral("session_restore"),
                        "{\"session_id\":" + quoted(QString::fromUtf8(id)) + "}");
        QVERIFY2(got, qPrintable(s.problem()));
        CHECK_FIELD(*got, "found", "true");
        QCOMPARE(got->text("context"), QByteArray(context));
    }
    auto sessionHistory = s.ok(QStringLiteral("history_log"), R"({"key":"s-envelope","kind":"session"})");
    QVERIFY2(sessionHistory, qPrintable(s.problem()));
    CHECK_FIELD(*sessionHistory, "entries.0.op", "\"save\"");
    CHECK_FIELD(*sessionHistory, "entries.0.agent_id", "\"agent-s\"");
    auto array = s.ok(QStringLiteral("session_restore"), R"({"session_id":"s-array"})");
    QVERIFY2(array, qPrintable(s.problem()));
    CHECK_FIELD(*array, "found", "false");

    auto health = s.ok(QStringLiteral("sidecar_health"), "{}");
    QVERIFY2(health, qPrintable(s.problem()));
    CHECK_FIELD(*health, "backend", "\"redis\"");
    CHECK_FIELD(*health, "key_count", "11");
    CHECK_FIELD(*health, "workflow_count", "4");
    CHECK_FIELD(*health, "lease_count", "4");
    CHECK_FIELD(*health, "session_count", "3");
    const qint64 revision = health->integer("revision");
    // The history holds the target's own write plus one entry per imported item.
    auto all = s.ok(QStringLiteral("history_log"), R"({"n":1000})");
    QVERIFY2(all, qPrintable(s.problem()));
    CHECK_FIELD(*all, "total", "22");

    // Nothing of the staging is left behind; the source is untouched.
    auto scratch = raw.run({"KEYS", "sidecar:import*"});
    QVERIFY(scratch);
    QCOMPARE(scratch->elements.size(), std::size_t(0));
    auto sourceLeft = raw.run(
        {"EXISTS", "kv:plain", "wf:wf-000000000001:steps", "lease:res-hash", "session:s-hash"});
    QVERIFY(sourceLeft);
    QCOMPARE(sourceLeft->integer, std::int64_t(4));

    // Again: everything is already present, nothing is written.
    const ImportRun second = runImport(m_redis->url(), QStringLiteral("sidecar:"));
    QVERIFY2(second.exitCode == 0, qPrintable(second.err));
    CHECK_COUNTS(second.err, "keys", 0, 10, 4);
    CHECK_COUNTS(second.err, "runs", 0, 4, 3);
    CHECK_COUNTS(second.err, "leases", 0, 4, 2);
    CHECK_COUNTS(second.err, "sessions", 0, 3, 1);
    auto after = s.ok(QStringLiteral("sidecar_health"), "{}");
    QVERIFY2(after, qPrintable(s.problem()));
    QCOMPARE(after->integer("revision"), revision);
    auto listAgain = s.ok(QStringLiteral("workflow_list"), "{}");
    QVERIFY2(listAgain, qPrintable(s.problem()));
    QCOMPARE(listAgain->count("runs"), 4);

    // The imported runs go on working: the oldest claimable (the running run whose claim lapsed)
    // is claimed next, as its attempt 2, with its steps kept.
    auto next = s.ok(QStringLiteral("workflow_claim_next"), R"({"agent_id":"new"})");
    QVERIFY2(next, qPrintable(s.problem()));
    CHECK_FIELD(*next, "claimed", "true");
    CHECK_FIELD(*next, "run_id", "\"wf-000000000001\"");
    CHECK_FIELD(*next, "attempt", "2");
    auto checkpoint = s.ok(QStringLiteral("workflow_checkpoint"),
                           R"({"run_id":"wf-000000000001","step":3,"output":"more","agent_id":"new"})");
    QVERIFY2(checkpoint, qPrintable(s.problem()));
    CHECK_FIELD(*checkpoint, "ok", "true");
    auto resumed = s.ok(QStringLiteral("workflow_resume"), R"({"run_id":"wf-000000000001"})");
    QVERIFY2(resumed, qPrintable(s.problem()));
    CHECK_FIELD(*resumed, "step_outputs", R"({"1":{"x":1,"y":{"z":null}},"2":[1,2],"3":"more"})");
    auto created = s.ok(QStringLiteral("workflow_create"), R"({"name":"fresh"})");
    QVERIFY2(created, qPrintable(s.problem()));
    auto newest = s.ok(QStringLiteral("workflow_list"), R"({"limit":1})");
    QVERIFY2(newest, qPrintable(s.problem()));
    QCOMPARE(newest->text("runs.0.run_id"), created->text("run_id"));
}

// The source in another database of the server: only its keys are imported.
void TestRedisImport::sourceInAnotherDatabase()
{
    RawRedis other(m_redis->url() + QStringLiteral("/1"));
    QVERIFY(other.seed({{"SET", "kv:elsewhere", R"({"db": 1})"}, {"SET", "session:s-db1", R"({"k": "v"})"}}));
    const ImportRun run = runImport(m_redis->url() + QStringLiteral("/1"), QStringLiteral("fromdb1:"));
    QVERIFY2(run.exitCode == 0, qPrintable(run.err));
    CHECK_COUNTS(run.err, "keys", 1, 0, 0);
    CHECK_COUNTS(run.err, "runs", 0, 0, 0);
    CHECK_COUNTS(run.err, "sessions", 1, 0, 0);
    QVERIFY2(run.err.contains(QStringLiteral(" db 1 into ")), qPrintable(run.err));
    SidecarClient s;
    QVERIFY2(startClient(s, QStringLiteral("fromdb1:")), qPrintable(s.problem()));
    auto keys = s.ok(QStringLiteral("state_list"), "{}");
    QVERIFY2(keys, qPrintable(s.problem()));
    CHECK_FIELD(*keys, "keys", R"(["elsewhere"])");
    auto got = s.ok(QStringLiteral("state_get"), R"({"key":"elsewhere"})");
    QVERIFY2(got, qPrintable(s.problem()));
    CHECK_FIELD(*got, "value", R"({"db":1})");
}

void TestRedisImport::badArguments_data()
{
    QTest::addColumn<QString>("source");
    QTest::addColumn<QString>("prefix");
    QTest::addColumn<QStringList>("env");
    QTest::addColumn<int>("exitCode");
    QTest::addColumn<QString>("stderrHas");
    QTest::newRow("not the redis backend")
        << QStringLiteral("<server>") << QStringLiteral("sidecar:")
        << QStringList{QStringLiteral("STATE_BACKEND=sqlite")} << 2 << QStringLiteral("STATE_BACKEND=redis");
    QTest::newRow("malformed url") << QStringLiteral("http://user:hunter2@old.example:6379")
                                   << QStringLiteral("sidecar:") << QStringList{} << 2
                                   << QStringLiteral("SIDECAR_IMPORT_REDIS_FROM");
    QTest::newRow("bad target url") << QStringLiteral("<server>") << QStringLiteral("sidecar:")
                                    << QStringList{QStringLiteral("REDIS_URL=redis://x:hunter2@host/db")} << 2
                                    << QStringLiteral("REDIS_URL");
    // The target's keys would match kv:* and the rest: refused before anything is written.
    QTest::newRow("empty prefix on the same database")
        << QStringLiteral("<server>") << QString() << QStringList{} << 2
        << QStringLiteral("SIDECAR_REDIS_PREFIX");
    QTest::newRow("overlapping prefix") << QStringLiteral("<server>") << QStringLiteral("kv:x")
                                        << QStringList{} << 2 << QStringLiteral("SIDECAR_REDIS_PREFIX");
    QTest::newRow("unreachable source")
        << QStringLiteral("redis://:hunter2@127.0.0.1:<unused>") << QStringLiteral("sidecar:")
        << QStringList{} << 1 << QStringLiteral("unreachable");
}

void TestRedisImport::badArguments()
{
    QFETCH(QString, source);
    QFETCH(QString, prefix);
    QFETCH(QStringList, env);
    QFETCH(int, exitCode);
    QFETCH(QString, stderrHas);
    source.replace(QStringLiteral("<server>"), m_redis->url());
    source.replace(QStringLiteral("<unused>"), QString::number(unusedPort()));
    RawRedis raw(m_redis->url());
    QVERIFY(raw.seed({{"SET", "kv:seen", "1"}}));
    auto before = raw.run({"DBSIZE"});
    QVERIFY(before);
    const ImportRun run = runImport(source, prefix, {}, env);
    QVERIFY2(run.exitCode == exitCode, qPrintable(QString::number(run.exitCode) + u' ' + run.err));
    QVERIFY2(run.err.contains(stderrHas), qPrintable(run.err));
    QVERIFY2(!run.err.contains(QStringLiteral("hunter2")), qPrintable(run.err));
    if (exitCode == 2 && source == m_redis->url()) {
        // Nothing written, nothing left behind.
        auto after = raw.run({"DBSIZE"});
        QVERIFY(after);
        QCOMPARE(after->integer, before->integer);
    }
}

QTEST_GUILESS_MAIN(TestRedisImport)
#include "tst_redisimport.moc"
