// Several HTTP daemons (`mcp-state-sidecar --transport http`, each on a free loopback port) on ONE
// store, driven by MCP clients over real HTTP: the promises a deployment of many sidecars relies on.
//
// Every test but the last runs on both backends (data rows): "sqlite", two daemons on one SQLite
// file, and "redis", three daemons on one redis-server (STATE_BACKEND=redis, REDIS_URL) that the
// suite starts once, each row with a SIDECAR_REDIS_PREFIX of its own. The outage test starts a
// redis-server of its own.
//
// - Feeds cross instances: a state_watch parked on one instance wakes when a key is set through
//   another; a session subscribed to state://kv/<key> on one instance gets
//   notifications/resources/updated on its GET stream when another instance changes the key.
// - A work queue raced across instances: clients spread over the instances loop claim_next ->
//   heartbeat -> checkpoint -> complete until nothing is left, while others (intruders) try to
//   checkpoint and complete runs they do not hold: every run is claimed and completed exactly once,
//   fences are unique, and no checkpoint from a non-holder is accepted.
// - An MCP session moves between instances (a round-robin load balancer, no sticky sessions): one
//   initialized on one instance is served by another, its subscription made through one feeds the
//   GET stream open on another, and a DELETE through one ends it on all. A session also survives
//   a restart of its only instance.
// - Redis only: redis-server (append-only file, fsync always) is killed with SIGKILL while writer
//   threads write through the sidecars; calls during the outage answer `unavailable` promptly;
//   after a restart on the same port and directory the sidecars recover by themselves, and every
//   write that was acknowledged before the kill is there. The recovery time is printed, not
//   asserted.
//
// Deadlines are generous and nothing asserts speed, except that no call hangs during an outage.

#include <QtTest>

#include <QElapsedTimer>
#include <QFileInfo>
#include <QScopeGuard>
#include <QThread>
#include <QUuid>

#include <algorithm>
#include <atomic>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <thread>
#include <vector>

#include "httpserverprocess.h"
#include "redisserverprocess.h"
#include "serverprocess.h"

using namespace sidecar;
using namespace sidecar::test;

namespace {

// The backend settings a daemon reads from its environment.
const char *const kBackendVariables[] = {"STATE_BACKEND", "REDIS_URL", "SIDECAR_REDIS_PREFIX"};

// Daemons per store: two on one SQLite file, three on one Redis.
int instancesFor(const QString &backend)
{
    return backend == QLatin1String("redis") ? 3 : 2;
}

void addBackendRows()
{
    QTest::addColumn<QString>("backend");
    QTest::newRow("sqlite") << QStringLiteral("sqlite");
    QTest::newRow("redis") << QStringLiteral("redis");
}

QByteArray quotedText(const QString &s)
{
    QByteArray out;
    json::appendQuoted(out, s);
    return out;
}

// A finished tools/call over HTTP.
struct Outcome
{
    std::optional<json::Document> doc; // the JSON-RPC answer, when one came
    QString problem;                   // why there is none
    qint64 elapsedMs = 0;              // from sending to the whole answer read (in a batch: at most)

    const json::Value *sc() const { return doc ? structured(*doc) : nullptr; }
    // The tool error code of an isError answer, else empty.
    QString errorCode() const { return doc ? toolErrorCode(*doc) : QString(); }
    QByteArray text(std::string_view key) const
    {
        const json::Value *s = sc();
        const json::Value *v = s ? s->find(key) : nullptr;
        return v ? v->compact() : QByteArrayLiteral("<absent>");
    }
    QString str(std::string_view key) const
    {
        const json::Value *s = sc();
        const json::Value *v = s ? s->find(key) : nullptr;
        return v && v->isString() ? v->toQString() : QString();
    }
    qint64 integer(std::string_view key) const
    {
        const json::Value *s = sc();
        const json::Value *v = s ? s->find(key) : nullptr;
        return v ? v->toInt64().value_or(-1) : -1;
    }
    QString describe() const { return doc ? QString::fromUtf8(doc->root().compact()) : problem; }
};

// One tools/call to send as part of a concurrent batch.
struct Call
{
    McpHttpClient *client = nullptr;
    QString tool;
    QByteArray args;
};

// Sends every call at once, each on a connection of its own, then reads every answer (each within
// `timeoutMs` of the moment it is waited for).
std::vector<Outcome> callConcurrently(const std::vector<Call> &calls, int timeoutMs = 30000)
{
    struct Pending
    {
        std::unique_ptr<HttpConnection> connection;
        QElapsedTimer sent;
        QString problem;
    };
    std::vector<Pending> pending(calls.size());
    for (std::size_t i = 0; i < calls.size(); ++i) {
        pending[i].sent.start();
        pending[i].connection = calls[i].client->startCall(calls[i].tool, calls[i].args);
        if (!pending[i].connection)
            pending[i].problem = QStringLiteral("not sent: ") + calls[i].client->errorString();
    }
    std::vector<Outcome> outcomes(calls.size());
    for (std::size_t i = 0; i < calls.size(); ++i) {
        Outcome &out = outcomes[i];
        const QString what = calls[i].tool + u' ' + QString::fromUtf8(calls[i].args) + QStringLiteral(": ");
        if (!pending[i].connection) {
            out.problem = what + pending[i].problem;
            continue;
        }
        auto reply = pending[i].connection->readResponse(timeoutMs);
        out.elapsedMs = pending[i].sent.elapsed();
        if (!reply) {
            out.problem = what
                          + QStringLiteral("no answer within %1 ms (%2)")
                                .arg(timeoutMs)
                                .arg(pending[i].connection->errorString());
            continue;
        }
        if (reply->status != 200) {
            out.problem = what + reply->describe();
            continue;
        }
        out.doc = jsonRpcAnswer(*reply);
        if (!out.doc)
            out.problem = what + QStringLiteral("no JSON-RPC answer in ") + reply->describe();
    }
    return outcomes;
}

Outcome callOne(McpHttpClient &client, const QString &tool, const QByteArray &args, int timeoutMs = 30000)
{
    return std::move(callConcurrently({Call{&client, tool, args}}, timeoutMs).front());
}

// The store's revision now, read through `client` (-1 on failure).
qint64 storeRevision(McpHttpClient &client)
{
    return callOne(client, QStringLiteral("state_get"), R"({"key":"tst_multiinstance/no-such-key"})")
        .integer("revision");
}


// The uri of a notifications/resources/updated message, or a description of what came instead.
QString updatedUri(const SseEvent &e)
{
    auto message = json::parse(e.data);
    const json::Value *method = message ? message->root().find("method") : nullptr;
    const json::Value *params = message ? message->root().find("params") : nullptr;
    const json::Value *uri = params ? params->find("uri") : nullptr;
    if (!method || method->toQString() != QLatin1String("notifications/resources/updated") || !uri)
        return QStringLiteral("<not a resources/updated notification: %1>").arg(QString::fromUtf8(e.data));
    return uri->toQString();
}

} // namespace

class TestMultiInstance : public QObject
{
    Q_OBJECT
private slots:
    void initTestCase();
    void init();
    void cleanup();

    void watchAcrossInstances_data() { addBackendRows(); }
    void watchAcrossInstances();
    void subscriptionAcrossInstances_data() { addBackendRows(); }
    void subscriptionAcrossInstances();
    void workQueueAcrossInstances_data() { addBackendRows(); }
    void workQueueAcrossInstances();
    void sessionMovesBetweenInstances_data() { addBackendRows(); }
    void sessionMovesBetweenInstances();
    void sessionSurvivesRestart();
    void redisOutage();

private:
    // Starts `count` daemons on one store of `backend` ("sqlite": one fresh file; "redis": `redis`,
    // or the suite's server, with a fresh prefix) into m_daemons; false with m_problem otherwise.
    bool startInstances(const QString &backend, int count, RedisServerProcess *redis = nullptr);
    // One initialised MCP session per instance.
    std::vector<std::unique_ptr<McpHttpClient>> sessionPerInstance();

    std::vector<std::unique_ptr<HttpServerProcess>> m_daemons;
    std::unique_ptr<RedisServerProcess> m_redis;       // the suite's, for the data rows
    std::unique_ptr<RedisServerProcess> m_outageRedis; // redisOutage's own, stopped after the daemons
    QString m_redisProblem;
    QString m_problem;
};

void TestMultiInstance::initTestCase()
{
    QVERIFY2(!qEnvironmentVariableIsEmpty("SIDECAR_BIN"), "SIDECAR_BIN is not set (run through ctest)");
    if (!QFileInfo(RedisServerProcess::redisServerBinary()).isExecutable()) {
        m_redisProblem = QStringLiteral("redis-server is not installed");
        return;
    }
    m_redis = std::make_unique<RedisServerProcess>();
    if (!m_redis->start()) {
        m_redisProblem = QStringLiteral("redis-server did not start: ") + m_redis->errorString();
        m_redis.reset();
    }
}

void TestMultiInstance::cleanup()
{
    // The daemons first (a Redis backend answers in-flight work with Unavailable as it closes),
    // then the outage test's redis-server; every daemon must exit cleanly.
    QString problems;
    for (auto &daemon : m_daemons)
        daemon->terminate();
    for (auto &daemon : m_daemons) {
        if (!daemon->waitForExit(30000)) {
            daemon->kill();
            problems += QStringLiteral("a daemon did not exit within 30 s of SIGTERM; stderr:\n")
                        + QString::fromUtf8(daemon->stderrText().right(3000));
        } else if (daemon->exitStatus() != QProcess::NormalExit || daemon->exitCode() != 0) {
            problems += QStringLiteral("a daemon exited with %1 (%2); stderr:\n")
                            .arg(daemon->exitCode())
                            .arg(daemon->exitStatus() == QProcess::NormalExit ? QStringLiteral("normally")
                                                                              : QStringLiteral("crashed"))
                        + QString::fromUtf8(daemon->stderrText().right(3000));
        }
    }
    m_daemons.clear();
    m_outageRedis.reset();
    QVERIFY2(problems.isEmpty(), qPrintable(problems));
}

// A "redis" row without the suite's redis-server fails (scripts/setup.sh installs redis-server).
void TestMultiInstance::init()
{
    if (qstrcmp(QTest::currentDataTag(), "redis") != 0 || m_redis)
        return;
    QFAIL(qPrintable(m_redisProblem)); // the README's set-up installs redis-server: missing is a failure
}

bool TestMultiInstance::startInstances(const QString &backend, int count, RedisServerProcess *redis)
{
    QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
    for (const char *name : kBackendVariables)
        env.remove(QString::fromLatin1(name));
    if (backend == QLatin1String("redis")) {
        RedisServerProcess *server = redis ? redis : m_redis.get();
        env.insert(QStringLiteral("STATE_BACKEND"), QStringLiteral("redis"));
        env.insert(QStringLiteral("REDIS_URL"), server->url());
        env.insert(QStringLiteral("SIDECAR_REDIS_PREFIX"),
                   QStringLiteral("mi-%1-%2:")
                       .arg(QString::fromLatin1(QTest::currentTestFunction()),
                            QUuid::createUuid().toString(QUuid::Id128)));
    }
    m_daemons.clear();
    for (int i = 0; i < count; ++i) {
        auto daemon = std::make_unique<HttpServerProcess>();
        // SQLite: the others open the first one's file. Redis: the file is not used.
        const QString db = m_daemons.empty() ? QString() : m_daemons.front()->dbPath();
        if (!daemon->start({}, db, env)) {
            m_problem = QStringLiteral("instance %1 did not start: %2").arg(i).arg(daemon->errorString());
            return false;
        }
        m_daemons.push_back(std::move(daemon));
    }
    return true;
}

std::vector<std::unique_ptr<McpHttpClient>> TestMultiInstance::sessionPerInstance()
{
    std::vector<std::unique_ptr<McpHttpClient>> sessions;
    for (const auto &daemon : m_daemons) {
        auto c = std::make_unique<McpHttpClient>(daemon->port());
        if (!c->initialize()) {
            m_problem = c->errorString();
            return {};
        }
        sessions.push_back(std::move(c));
    }
    return sessions;
}

// One MCP session, its requests spread over the instances as a round-robin balancer would.
void TestMultiInstance::sessionMovesBetweenInstances()
{
    QFETCH(QString, backend);
    QVERIFY2(startInstances(backend, 2), qPrintable(m_problem));
    McpHttpClient first(m_daemons[0]->port());
    QVERIFY2(first.initialize(), qPrintable(first.errorString()));
    // The same session through the other instance, which never saw its initialize.
    McpHttpClient second(m_daemons[1]->port());
    second.setSessionId(first.sessionId());
    Outcome set = callOne(second, QStringLiteral("state_set"), R"({"key":"move/key","value":1})");
    QVERIFY2(set.sc() && set.text("ok") == "true", qPrintable(set.describe()));
    Outcome got = callOne(first, QStringLiteral("state_get"), R"({"key":"move/key"})");
    QVERIFY2(got.sc() && got.text("value") == "1", qPrintable(got.describe()));

    // Subscribed through instance 1; the GET stream is open on instance 0; a change made by
    // someone else through instance 1 reaches it.
    auto subscribed = second.request(QStringLiteral("resources/subscribe"), R"({"uri":"state://kv/move/key"})");
    QVERIFY2(subscribed && subscribed->root().find("result"), qPrintable(second.errorString()));
    HttpReply head;
    auto stream = first.openStream(&head);
    QVERIFY2(stream && head.status == 200, qPrintable(head.describe() + first.errorString()));
    McpHttpClient other(m_daemons[1]->port());
    QVERIFY2(other.initialize(), qPrintable(other.errorString()));
    // The stream's instance learns of the subscription within a few seconds: keep changing the
    // key until a notification arrives (generous deadline).
    std::optional<SseEvent> e;
    QElapsedTimer waited;
    waited.start();
    for (int i = 2; !e && waited.elapsed() < 30000; ++i) {
        set = callOne(other, QStringLiteral("state_set"),
                      R"({"key":"move/key","value":)" + QByteArray::number(i) + '}');
        QVERIFY2(set.sc() && set.text("ok") == "true", qPrintable(set.describe()));
        e = nextDataEvent(*stream, 1000);
    }
    QVERIFY2(e, "a subscription made through one instance never fed the session's stream on another");
    QCOMPARE(updatedUri(*e), QStringLiteral("state://kv/move/key"));

    // Ended through instance 1: instance 0 refuses it too (its copy is re-checked within seconds)
    // and its stream ends.
    const HttpReply deleted = second.deleteSession();
    QVERIFY2(deleted.status == 204, qPrintable(deleted.describe()));
    int status = 0;
    QTRY_VERIFY_WITH_TIMEOUT((status = first.post(first.requestBody(QStringLiteral("ping"), {}, 99)).status) == 404,
                             20000);
    QVERIFY2(stream->waitForBodyEnd(20000) || stream->waitForDisconnected(1),
             "the GET stream of a deleted session stayed open");

    // An id no instance issued is unknown everywhere.
    McpHttpClient stranger(m_daemons[1]->port());
    stranger.setSessionId("00000000000000000000000000000000");
    QCOMPARE(stranger.post(stranger.requestBody(QStringLiteral("ping"), {}, 1)).status, 404);
}

// A session lives in the store: after its only instance restarts, the client carries on.
void TestMultiInstance::sessionSurvivesRestart()
{
    QVERIFY2(startInstances(QStringLiteral("sqlite"), 1), qPrintable(m_problem));
    auto client = std::make_unique<McpHttpClient>(m_daemons[0]->port());
    QVERIFY2(client->initialize(), qPrintable(client->errorString()));
    const QByteArray id = client->sessionId();
    const QString db = m_daemons[0]->dbPath();
    m_daemons[0]->terminate(); // it keeps the file's directory until the test ends
    QVERIFY(m_daemons[0]->waitForExit(30000));
    auto restarted = std::make_unique<HttpServerProcess>();
    QVERIFY2(restarted->start({}, db), qPrintable(restarted->errorString()));
    McpHttpClient again(restarted->port());
    again.setSessionId(id);
    m_daemons.push_back(std::move(restarted));
    const Outcome got = callOne(again, QStringLiteral("state_get"), R"({"key":"x"})");
    QVERIFY2(got.sc() && got.text("found") == "false", qPrintable(got.describe()));
}

// A state_watch parked on one instance wakes when another instance sets a matching key; each
// instance in turn is the writer, every other one watches (by prefix and by exact key).
void TestMultiInstance::watchAcrossInstances()
{
    QFETCH(QString, backend);
    QVERIFY2(startInstances(backend, instancesFor(backend)), qPrintable(m_problem));
    const int n = int(m_daemons.size());
    auto sessions = sessionPerInstance();
    QVERIFY2(int(sessions.size()) == n, qPrintable(m_problem));
    auto pingers = sessionPerInstance(); // other sessions, to show the instances answer while watches wait
    QVERIFY2(int(pingers.size()) == n, qPrintable(m_problem));

    for (int writer = 0; writer < n; ++writer) {
        const QByteArray key = "feed/" + QByteArray::number(writer);
        const qint64 since = storeRevision(*sessions[writer]);
        QVERIFY(since >= 0);
        struct Watch
        {
            int instance;
            std::unique_ptr<HttpConnection> connection;
        };
        std::vector<Watch> watches;
        for (int i = 0; i < n; ++i) {
            if (i == writer)
                continue;
            const QByteArray filter = i % 2 ? R"("key":")" + key + '"' : QByteArray(R"("prefix":"feed/")");
            auto c = sessions[i]->startCall(QStringLiteral("state_watch"),
                                            '{' + filter + R"(,"since_revision":)" + QByteArray::number(since)
                                                + R"(,"timeout_seconds":25})");
            QVERIFY2(c, qPrintable(sessions[i]->errorString()));
            watches.push_back(Watch{i, std::move(c)});
        }
        // Each watching instance answers other sessions meanwhile (and has read its watch).
        for (const Watch &w : watches)
            QVERIFY2(pingers[w.instance]->request(QStringLiteral("ping")),
                     qPrintable(pingers[w.instance]->errorString()));

        const Outcome set = callOne(*sessions[writer], QStringLiteral("state_set"),
                                    R"({"key":")" + key + R"(","value":{"by":)" + QByteArray::number(writer)
                                        + "}}");
        QVERIFY2(set.sc() && set.text("ok") == "true", qPrintable(set.describe()));
        const qint64 revision = set.integer("revision");
        QElapsedTimer sinceSet;
        sinceSet.start();
        for (Watch &w : watches) {
            auto reply = w.connection->readResponse(40000);
            QVERIFY2(reply,
                     qPrintable(QStringLiteral("the watch on instance %1 did not answer within 40 s: %2")
                                    .arg(w.instance)
                                    .arg(w.connection->errorString())));
            QVERIFY2(reply->status == 200, qPrintable(reply->describe()));
            auto answer = jsonRpcAnswer(*reply);
            const json::Value *s = answer ? structured(*answer) : nullptr;
            QVERIFY2(s, qPrintable(reply->describe()));
            const json::Value *events = s->find("events");
            QVERIFY2(
                events && events->items().size() == 1,
                qPrintable(QStringLiteral("instance %1 woke with %2 (a set on instance %3 at revision %4)")
                               .arg(w.instance)
                               .arg(QString::fromUtf8(s->compact()))
                               .arg(writer)
                               .arg(revision)));
            const json::Value &event = events->items().front();
            QCOMPARE(event.find("key")->toQString(), QString::fromLatin1(key));
            QCOMPARE(event.find("op")->toQString(), QStringLiteral("set"));
            QCOMPARE(event.find("revision")->toInt64().value_or(-1), revision);
            QCOMPARE(event.find("new_value")->compact(),
                     QByteArray(R"({"by":)" + QByteArray::number(writer) + "}"));
            QCOMPARE(s->find("revision")->toInt64().value_or(-1), revision);
            qInfo(
                "%s: a watch on instance %d had answered within %lld ms of the set on instance %d returning",
                QTest::currentDataTag(), w.instance, sinceSet.elapsed(), writer);
        }
    }
}

// A session on one instance subscribed to state://kv/<key> hears, on its GET stream, of changes
// made through another instance, and only of that key.
void TestMultiInstance::subscriptionAcrossInstances()
{
    QFETCH(QString, backend);
    QVERIFY2(startInstances(backend, instancesFor(backend)), qPrintable(m_problem));
    const int n = int(m_daemons.size());
    auto writers = sessionPerInstance();
    QVERIFY2(int(writers.size()) == n, qPrintable(m_problem));
    auto subscribers = sessionPerInstance();
    QVERIFY2(int(subscribers.size()) == n, qPrintable(m_problem));

    const QByteArray uri = "state://kv/sub/key";
    std::vector<std::unique_ptr<HttpConnection>> streams(n);
    for (int i = 1; i < n; ++i) {
        auto subscribed = subscribers[i]->request(QStringLiteral("resources/subscribe"),
                                                  R"({"uri":")" + uri + R"("})");
        QVERIFY2(subscribed && subscribed->root().find("result"),
                 qPrintable(subscribed ? QString::fromUtf8(subscribed->root().compact())
                                       : subscribers[i]->errorString()));
        HttpReply head;
        streams[i] = subscribers[i]->openStream(&head);
        QVERIFY2(streams[i], qPrintable(subscribers[i]->errorString()));
        QVERIFY2(head.status == 200, qPrintable(head.describe()));
    }

    // A change through instance 0 reaches every other instance's subscriber.
    Outcome set = callOne(*writers[0], QStringLiteral("state_set"), R"({"key":"sub/key","value":1})");
    QVERIFY2(set.sc() && set.text("ok") == "true", qPrintable(set.describe()));
    QElapsedTimer sinceSet;
    sinceSet.start();
    for (int i = 1; i < n; ++i) {
        auto e = nextDataEvent(*streams[i], 30000);
        QVERIFY2(e, qPrintable(QStringLiteral(
                                   "no notifications/resources/updated on instance %1's GET stream within "
                                   "30 s of a change through instance 0")
                                   .arg(i)));
        QCOMPARE(updatedUri(*e), QString::fromLatin1(uri));
        QVERIFY2(e->hasId && !e->id.isEmpty(), "a notification without an event id");
        qInfo("%s: the subscriber on instance %d had heard within %lld ms of the set returning",
              QTest::currentDataTag(), i, sinceSet.elapsed());
    }

    // A change of another key is not announced to them; the next change of theirs is, from the
    // last instance this time (for two instances: the subscriber's own, through another session).
    set = callOne(*writers[0], QStringLiteral("state_set"), R"({"key":"sub/other","value":2})");
    QVERIFY2(set.sc() && set.text("ok") == "true", qPrintable(set.describe()));
    set = callOne(*writers[n - 1], QStringLiteral("state_set"), R"({"key":"sub/key","value":3})");
    QVERIFY2(set.sc() && set.text("ok") == "true", qPrintable(set.describe()));
    for (int i = 1; i < n; ++i) {
        auto e = nextDataEvent(*streams[i], 30000);
        QVERIFY2(e,
                 qPrintable(QStringLiteral("no notification on instance %1 for the second change").arg(i)));
        QCOMPARE(updatedUri(*e), QString::fromLatin1(uri));
    }
    // Every instance reads the last value.
    for (int i = 0; i < n; ++i) {
        const Outcome got = callOne(*subscribers[i], QStringLiteral("state_get"), R"({"key":"sub/key"})");
        QVERIFY2(got.sc(), qPrintable(got.describe()));
        QCOMPARE(got.text("value"), QByteArray("3"));
        QCOMPARE(got.integer("version"), set.integer("version"));
    }
}

// Clients spread over the instances work a queue concurrently: claim_next, heartbeat,
// checkpoint (step 0, output naming the holder and its fence), complete; while one checkpoints,
// two others send checkpoints for the same run that must be refused (another agent with the
// holder's fence; the holder's agent with another fence), and while one completes, another tries
// to complete the run too. After completing, the holder's late checkpoint of step 1 is refused.
void TestMultiInstance::workQueueAcrossInstances()
{
    QFETCH(QString, backend);
    QVERIFY2(startInstances(backend, instancesFor(backend)), qPrintable(m_problem));
    const int n = int(m_daemons.size());
    constexpr int kRuns = 24;
    constexpr int kWorkers = 6;
    const QByteArray queue = "q-" + QUuid::createUuid().toString(QUuid::Id128).toLatin1();

    auto creators = sessionPerInstance();
    QVERIFY2(int(creators.size()) == n, qPrintable(m_problem));
    QSet<QString> runs;
    for (int i = 0; i < kRuns; ++i) {
        const Outcome created = callOne(*creators[i % n], QStringLiteral("workflow_create"),
                                        R"({"name":"mi-queue","tags":{"q":")" + queue + R"("},"input":)"
                                            + QByteArray::number(i) + "}");
        QVERIFY2(created.sc(), qPrintable(created.describe()));
        runs.insert(created.str("run_id"));
    }
    QCOMPARE(int(runs.size()), kRuns);
    // Not in the queue: never claimed.
    const Outcome decoy = callOne(*creators[0], QStringLiteral("workflow_create"),
                                  R"({"name":"mi-queue","tags":{"q":")" + queue + R"(-other"}})");
    QVERIFY2(decoy.sc(), qPrintable(decoy.describe()));

    enum class Phase { Claim, Heartbeat, Checkpoint, Complete, Done };
    struct Worker
    {
        std::unique_ptr<McpHttpClient> client;
        QByteArray agent;
        int instance = 0;
        int delay = 0; // rounds to sit out first: half the workers claim while the others checkpoint
        Phase phase = Phase::Claim;
        QString run;
        qint64 fence = 0;
        QString lastRun; // the run it completed last, and its fence
        qint64 lastFence = 0;
        int completed = 0;
    };
    std::vector<Worker> workers(kWorkers);
    for (int w = 0; w < kWorkers; ++w) {
        workers[w].instance = w % n;
        workers[w].client = std::make_unique<McpHttpClient>(m_daemons[w % n]->port());
        QVERIFY2(workers[w].client->initialize(), qPrintable(workers[w].client->errorString()));
        workers[w].agent = "w" + QByteArray::number(w);
        workers[w].delay = w % 2;
    }

    struct Claim
    {
        QByteArray agent;
        qint64 fence = 0;
        int instance = 0;
    };
    std::map<QString, std::vector<Claim>> claims;      // run -> its grants
    std::map<QString, std::vector<Claim>> checkpoints; // run -> accepted fenced checkpoints
    std::map<QString, int> completions;                // run -> accepted completions
    std::set<qint64> fences;
    int refused = 0;

    enum class Kind { ClaimNext, Heartbeat, Checkpoint, Complete, Intruder, LateCheckpoint };
    struct Sent
    {
        int worker;
        Kind kind;
        QString run;
    };
    auto runArgs = [](const QString &run, const QByteArray &agent, qint64 fence,
                      const QByteArray &rest) -> QByteArray {
        return R"({"run_id":)" + quotedText(run) + R"(,"agent_id":")" + agent + R"(","fence":)"
               + QByteArray::number(fence) + rest + '}';
    };

    for (int round = 0; round < 200; ++round) {
        std::vector<Call> calls;
        std::vector<Sent> sent;
        auto add = [&](int w, Kind kind, const QString &run, const QString &tool, const QByteArray &args,
                       McpHttpClient *via = nullptr) {
            calls.push_back(Call{via ? via : workers[w].client.get(), tool, args});
            sent.push_back(Sent{w, kind, run});
        };
        for (int w = 0; w < kWorkers; ++w) {
            Worker &k = workers[w];
            if (k.delay > 0) {
                --k.delay;
                continue;
            }
            Worker &other = workers[(w + 1) % kWorkers];
            Worker &third = workers[(w + 2) % kWorkers];
            switch (k.phase) {
            case Phase::Claim:
                add(w, Kind::ClaimNext, {}, QStringLiteral("workflow_claim_next"),
                    R"({"agent_id":")" + k.agent + R"(","tags":{"q":")" + queue + R"("},"ttl_seconds":120})");
                if (!k.lastRun.isEmpty())
                    add(w, Kind::LateCheckpoint, k.lastRun, QStringLiteral("workflow_checkpoint"),
                        runArgs(k.lastRun, k.agent, k.lastFence, R"(,"step":1,"output":"late")"));
                break;
            case Phase::Heartbeat:
                add(w, Kind::Heartbeat, k.run, QStringLiteral("workflow_heartbeat"),
                    runArgs(k.run, k.agent, k.fence, R"(,"ttl_seconds":120)"));
                break;
            case Phase::Checkpoint:
                add(w, Kind::Checkpoint, k.run, QStringLiteral("workflow_checkpoint"),
                    runArgs(k.run, k.agent, k.fence,
                            R"(,"step":0,"output":{"by":")" + k.agent + R"(","fence":)"
                                + QByteArray::number(k.fence) + "}"));
                // Another agent with the holder's fence, through its own instance.
                add(w, Kind::Intruder, k.run, QStringLiteral("workflow_checkpoint"),
                    runArgs(k.run, other.agent, k.fence,
                            R"(,"step":0,"output":{"by":")" + other.agent + R"("})"),
                    other.client.get());
                // The holder's agent name with another grant's fence (a stale incarnation).
                add(w, Kind::Intruder, k.run, QStringLiteral("workflow_checkpoint"),
                    runArgs(k.run, k.agent, k.lastFence > 0 ? k.lastFence : k.fence - 1,
                            R"(,"step":0,"output":{"by":"stale"})"),
                    third.client.get());
                break;
            case Phase::Complete:
                add(w, Kind::Complete, k.run, QStringLiteral("workflow_complete"),
                    runArgs(k.run, k.agent, k.fence,
                            R"(,"status":"done","result":{"by":")" + k.agent + R"("})"));
                add(w, Kind::Intruder, k.run, QStringLiteral("workflow_complete"),
                    runArgs(k.run, other.agent, k.fence, R"(,"status":"failed")"), other.client.get());
                break;
            case Phase::Done: break;
            }
        }
        if (calls.empty()) {
            if (std::all_of(workers.begin(), workers.end(),
                            [](const Worker &k) { return k.phase == Phase::Done; }))
                break;
            continue;
        }
        const std::vector<Outcome> outcomes = callConcurrently(calls);
        for (std::size_t i = 0; i < outcomes.size(); ++i) {
            const Outcome &o = outcomes[i];
            Worker &k = workers[sent[i].worker];
            QVERIFY2(o.sc(), qPrintable(QStringLiteral("round %1, %2: %3")
                                            .arg(round)
                                            .arg(QString::fromUtf8(k.agent), o.describe())));
            switch (sent[i].kind) {
            case Kind::ClaimNext:
                if (o.text("claimed") == "true") {
                    k.run = o.str("run_id");
                    k.fence = o.integer("fence");
                    QVERIFY2(runs.contains(k.run),
                             qPrintable(QStringLiteral("claimed a run not in the queue: ") + o.describe()));
                    QCOMPARE(o.text("agent_id"), QByteArray('"' + k.agent + '"'));
                    QCOMPARE(o.text("attempt"), QByteArray("1"));
                    QVERIFY2(fences.insert(k.fence).second,
                             qPrintable(QStringLiteral("fence granted twice: ") + o.describe()));
                    claims[k.run].push_back(Claim{k.agent, k.fence, k.instance});
                    k.phase = Phase::Heartbeat;
                } else {
                    QCOMPARE(o.text("run_id"), QByteArray("null"));
                    k.phase = Phase::Done;
                }
                break;
            case Kind::Heartbeat:
                QVERIFY2(o.text("ok") == "true",
                         qPrintable(QString::fromUtf8(k.agent) + u' ' + o.describe()));
                k.phase = Phase::Checkpoint;
                break;
            case Kind::Checkpoint:
                QVERIFY2(o.text("ok") == "true",
                         qPrintable(QString::fromUtf8(k.agent) + u' ' + o.describe()));
                checkpoints[k.run].push_back(Claim{k.agent, k.fence, k.instance});
                k.phase = Phase::Complete;
                break;
            case Kind::Complete:
                QVERIFY2(o.text("ok") == "true",
                         qPrintable(QString::fromUtf8(k.agent) + u' ' + o.describe()));
                ++completions[k.run];
                ++k.completed;
                k.lastRun = k.run;
                k.lastFence = k.fence;
                k.phase = Phase::Claim;
                break;
            case Kind::Intruder:
            case Kind::LateCheckpoint:
                QVERIFY2(o.text("ok") == "false",
                         qPrintable(QStringLiteral(
                                        "accepted from a non-holder (run %1, held by %2 under fence %3): %4")
                                        .arg(sent[i].run, QString::fromUtf8(k.agent))
                                        .arg(k.fence)
                                        .arg(o.describe())));
                QVERIFY2(!o.str("reason").isEmpty(), qPrintable(o.describe()));
                ++refused;
                break;
            }
        }
    }
    QVERIFY2(
        std::all_of(workers.begin(), workers.end(), [](const Worker &k) { return k.phase == Phase::Done; }),
        "the workers did not finish within 200 rounds");

    // Every run claimed once, checkpointed once by its holder and completed once.
    QCOMPARE(int(claims.size()), kRuns);
    QCOMPARE(int(completions.size()), kRuns);
    QCOMPARE(int(fences.size()), kRuns);
    QMap<QByteArray, int> perWorker;
    QMap<int, int> perInstance;
    int reader = 0;
    for (const auto &[run, granted] : claims) {
        QVERIFY2(granted.size() == 1,
                 qPrintable(run + QStringLiteral(" claimed %1 times").arg(granted.size())));
        const Claim &holder = granted.front();
        ++perWorker[holder.agent];
        ++perInstance[holder.instance];
        QCOMPARE(completions[run], 1);
        QCOMPARE(int(checkpoints[run].size()), 1);
        QCOMPARE(checkpoints[run].front().agent, holder.agent);
        QCOMPARE(checkpoints[run].front().fence, holder.fence);

        // Any instance tells the same story: done by the holder, step 0 its own, step 1 absent.
        McpHttpClient &via = *creators[reader++ % n];
        const Outcome resumed = callOne(via, QStringLiteral("workflow_resume"),
                                        R"({"run_id":)" + quotedText(run) + "}");
        QVERIFY2(resumed.sc(), qPrintable(resumed.describe()));
        const json::Value &r = *resumed.sc();
        const QByteArray fenceText = QByteArray::number(holder.fence);
        QCOMPARE(r.find("last_step")->compact(), QByteArray("0"));
        QCOMPARE(r.find("step_outputs")->compact(),
                 QByteArray(R"({"0":{"by":")" + holder.agent + R"(","fence":)" + fenceText + "}}"));
        const json::Value *stepMeta = r.find("step_meta") ? r.find("step_meta")->find("0") : nullptr;
        QVERIFY2(stepMeta, qPrintable(resumed.describe()));
        QCOMPARE(stepMeta->find("agent_id")->compact(), QByteArray('"' + holder.agent + '"'));
        QCOMPARE(stepMeta->find("fence")->compact(), fenceText);
        const json::Value *meta = r.find("meta");
        QVERIFY2(meta, qPrintable(resumed.describe()));
        QCOMPARE(meta->find("status")->compact(), QByteArray("\"done\""));
        QCOMPARE(meta->find("agent_id")->compact(), QByteArray('"' + holder.agent + '"'));
        QCOMPARE(meta->find("result")->compact(), QByteArray(R"({"by":")" + holder.agent + R"("})"));
    }
    qInfo() << "runs completed per worker:" << perWorker << "per instance:" << perInstance
            << "refused:" << refused;

    // Nothing claimable is left in the queue; the decoy is untouched.
    const Outcome left = callOne(*creators[n - 1], QStringLiteral("workflow_discover"),
                                 R"({"tags":{"q":")" + queue + R"("},"claimable":true})");
    QVERIFY2(left.sc(), qPrintable(left.describe()));
    QCOMPARE(left.sc()->find("runs")->items().size(), std::size_t(0));
    const Outcome other = callOne(*creators[n - 1], QStringLiteral("workflow_discover"),
                                  R"({"tags":{"q":")" + queue + R"(-other"},"claimable":true})");
    QVERIFY2(other.sc(), qPrintable(other.describe()));
    QCOMPARE(other.sc()->find("runs")->items().size(), std::size_t(1));
}

// redis-server, with an append-only file fsynced on every write, is killed (SIGKILL) while writer
// threads write through three sidecars (each writer its own keys, each key with growing values,
// one call at a time), then restarted on the same port and directory.
void TestMultiInstance::redisOutage()
{
    QVERIFY2(QFileInfo(RedisServerProcess::redisServerBinary()).isExecutable(),
             "redis-server is not installed (scripts/setup.sh installs it)");
    m_outageRedis = std::make_unique<RedisServerProcess>();
    QVERIFY2(m_outageRedis->start({QStringLiteral("--appendonly"), QStringLiteral("yes"),
                                   QStringLiteral("--appendfsync"), QStringLiteral("always")}),
             qPrintable(m_outageRedis->errorString()));
    QVERIFY2(startInstances(QStringLiteral("redis"), 3, m_outageRedis.get()), qPrintable(m_problem));
    const int n = int(m_daemons.size());
    constexpr int kWriters = 6;
    constexpr int kKeysPerWriter = 3;
    constexpr int kOutageMs = 10000; // no call may take longer while Redis is down

    std::vector<std::unique_ptr<McpHttpClient>> writers;
    for (int w = 0; w < kWriters; ++w) {
        writers.push_back(std::make_unique<McpHttpClient>(m_daemons[w % n]->port()));
        QVERIFY2(writers.back()->initialize(), qPrintable(writers.back()->errorString()));
    }
    auto probes = sessionPerInstance();
    QVERIFY2(int(probes.size()) == n, qPrintable(m_problem));

    // Writer w writes value i to key i % kKeysPerWriter of its own: values only grow per key.
    auto keyOf = [](int w, qint64 i) -> QByteArray {
        return "out/w" + QByteArray::number(w) + "/k" + QByteArray::number(i % kKeysPerWriter);
    };
    struct Write
    {
        qint64 value = 0;
        qint64 sentMs = 0; // since `clock` started
        qint64 answeredMs = 0;
        bool ok = false;
        QString errorCode; // of a tool error
        QString problem;   // anything else: no answer, not a result
        qint64 version = -1;
        qint64 revision = -1;
    };
    QElapsedTimer clock;
    clock.start();
    std::atomic<bool> stop{false};
    std::vector<std::atomic<int>> acknowledged(kWriters); // progress, read by this thread
    std::vector<std::vector<Write>> logs(kWriters);       // each written by its writer only
    std::vector<std::thread> threads;
    for (int w = 0; w < kWriters; ++w) {
        acknowledged[w] = 0;
        // Each thread uses its own client (every call opens a connection of its own, in the
        // calling thread) and its own log; nothing else is shared but the atomics.
        threads.emplace_back([&, w] {
            McpHttpClient &client = *writers[w];
            for (qint64 i = 0; !stop.load(); ++i) {
                Write write;
                write.value = i;
                write.sentMs = clock.elapsed();
                auto answer = client.call(QStringLiteral("state_set"),
                                          R"({"key":")" + keyOf(w, i) + R"(","value":)"
                                              + QByteArray::number(i) + "}",
                                          kOutageMs + 5000);
                write.answeredMs = clock.elapsed();
                const json::Value *sc = answer ? structured(*answer) : nullptr;
                if (sc && sc->find("ok") && sc->find("ok")->compact() == "true") {
                    write.ok = true;
                    write.version = sc->find("version") ? sc->find("version")->toInt64().value_or(-1) : -1;
                    write.revision = sc->find("revision") ? sc->find("revision")->toInt64().value_or(-1) : -1;
                    acknowledged[w].fetch_add(1);
                } else if (answer && !toolErrorCode(*answer).isEmpty()) {
                    write.errorCode = toolErrorCode(*answer);
                } else {
                    write.problem = answer ? QString::fromUtf8(answer->root().compact())
                                           : client.errorString();
                }
                const bool failed = !write.ok;
                logs[w].push_back(std::move(write));
                QThread::msleep(failed ? 100 : 5); // paced: the machine is shared
            }
        });
    }
    auto stopWriters = [&] {
        stop = true;
        for (std::thread &t : threads)
            t.join();
        threads.clear();
    };
    auto joinOnReturn = qScopeGuard(stopWriters); // a failing check must not leave a thread running
    auto everyWriterHas = [&](int atLeast) {
        return std::all_of(acknowledged.begin(), acknowledged.end(),
                           [&](const std::atomic<int> &a) { return a >= atLeast; });
    };

    // Writing: every writer has some acknowledged writes, then the kill lands among them.
    QDeadlineTimer warmUp(30000);
    while (!everyWriterHas(10) && !warmUp.hasExpired())
        QThread::msleep(20);
    if (!everyWriterHas(10)) {
        stopWriters();
        QFAIL("the writers did not get 10 writes acknowledged each within 30 s");
    }
    m_outageRedis->kill();
    const qint64 killedMs = clock.elapsed();

    // While Redis is down (4 s: the sidecars' reconnection backoff grows meanwhile): reads answer
    // `unavailable` too, /readyz fails (the writers go on).
    qint64 slowestRead = 0;
    QString outageProblem;
    while (clock.elapsed() - killedMs < 4000 && outageProblem.isEmpty()) {
        for (int i = 0; i < n && outageProblem.isEmpty(); ++i) {
            const Outcome read = callOne(*probes[i], QStringLiteral("state_get"), R"({"key":"out/w0/k0"})",
                                         kOutageMs);
            slowestRead = std::max(slowestRead, read.elapsedMs);
            if (read.errorCode() != QLatin1String("unavailable"))
                outageProblem = QStringLiteral("a read on instance %1 while Redis is down: ").arg(i)
                                + read.describe();
            const HttpReply ready = httpRequest(m_daemons[i]->port(), "GET", "/readyz", {}, {}, kOutageMs);
            if (outageProblem.isEmpty() && (ready.status == 0 || ready.status == 200))
                outageProblem = QStringLiteral("/readyz on instance %1 while Redis is down: ").arg(i)
                                + ready.describe();
        }
        QThread::msleep(400);
    }
    const qint64 restartMs = clock.elapsed();
    stopWriters(); // before the restart: what was acknowledged is checked before anything overwrites it
    QVERIFY2(outageProblem.isEmpty(), qPrintable(outageProblem));

    // Every answer is a success or `unavailable`, none took long; nothing sent after the kill
    // succeeded; every writer saw the outage.
    std::map<QByteArray, Write> acked;           // the last acknowledged write per key
    std::map<QByteArray, std::set<qint64>> sent; // every value sent per key
    qint64 lastRevision = 0;
    qint64 slowestWrite = 0;
    int acks = 0;
    int unavailable = 0;
    for (int w = 0; w < kWriters; ++w) {
        int duringOutage = 0;
        for (const Write &write : logs[w]) {
            const QByteArray key = keyOf(w, write.value);
            sent[key].insert(write.value);
            const qint64 took = write.answeredMs - write.sentMs;
            slowestWrite = std::max(slowestWrite, took);
            const QString what = QStringLiteral(
                                     "writer %1, %2 = %3 (sent %4 ms after the start, the kill at %5): ")
                                     .arg(w)
                                     .arg(QString::fromUtf8(key))
                                     .arg(write.value)
                                     .arg(write.sentMs)
                                     .arg(killedMs);
            QVERIFY2(write.problem.isEmpty(), qPrintable(what + write.problem));
            QVERIFY2(write.ok || write.errorCode == QLatin1String("unavailable"),
                     qPrintable(what + write.errorCode));
            QVERIFY2(took < kOutageMs, qPrintable(what + QStringLiteral("answered after %1 ms").arg(took)));
            if (write.sentMs >= killedMs) {
                QVERIFY2(!write.ok, qPrintable(what + QStringLiteral("acknowledged while Redis was down")));
                ++duringOutage;
            }
            if (write.ok) {
                acked[key] = write;
                lastRevision = std::max(lastRevision, write.revision);
                ++acks;
            } else {
                ++unavailable;
            }
        }
        QVERIFY2(duringOutage > 0,
                 qPrintable(QStringLiteral("writer %1 wrote nothing during the outage").arg(w)));
    }
    qInfo("%d writes acknowledged before the kill, %d answered `unavailable`; the slowest write answered in "
          "%lld ms, "
          "the slowest read during the outage in %lld ms (outage %lld ms)",
          acks, unavailable, slowestWrite, slowestRead, restartMs - killedMs);

    // Restart on the same port and directory; each sidecar recovers by itself: the first
    // state_set that succeeds on each instance, polled every 100 ms, within 30 s.
    QVERIFY2(m_outageRedis->restart(), qPrintable(m_outageRedis->errorString()));
    QElapsedTimer sinceRestart;
    sinceRestart.start();
    std::vector<qint64> recovered(n, -1);
    int attempts = 0;
    while (sinceRestart.elapsed() < 30000
           && std::any_of(recovered.begin(), recovered.end(), [](qint64 t) { return t < 0; })) {
        std::vector<Call> calls;
        std::vector<int> instances;
        for (int i = 0; i < n; ++i) {
            if (recovered[i] >= 0)
                continue;
            calls.push_back(Call{probes[i].get(), QStringLiteral("state_set"),
                                 R"({"key":"out/probe/)" + QByteArray::number(i) + R"(","value":)"
                                     + QByteArray::number(++attempts) + "}"});
            instances.push_back(i);
        }
        const std::vector<Outcome> outcomes = callConcurrently(calls, kOutageMs);
        for (std::size_t k = 0; k < outcomes.size(); ++k) {
            const Outcome &o = outcomes[k];
            if (o.sc() && o.text("ok") == "true") {
                recovered[instances[k]] = sinceRestart.elapsed();
                QVERIFY2(o.integer("revision") > lastRevision,
                         qPrintable(QStringLiteral("the revision went back after the restart: %1 after %2")
                                        .arg(o.integer("revision"))
                                        .arg(lastRevision)));
                continue;
            }
            QVERIFY2(o.errorCode() == QLatin1String("unavailable"),
                     qPrintable(QStringLiteral("while recovering: ") + o.describe()));
            QVERIFY2(o.elapsedMs < kOutageMs,
                     qPrintable(QStringLiteral("unavailable after %1 ms").arg(o.elapsedMs)));
        }
        QThread::msleep(100);
    }
    for (int i = 0; i < n; ++i) {
        QVERIFY2(
            recovered[i] >= 0,
            qPrintable(QStringLiteral("instance %1 did not recover within 30 s of the restart; stderr:\n%2")
                           .arg(i)
                           .arg(QString::fromUtf8(m_daemons[i]->stderrText().right(3000)))));
        qInfo("instance %d: first successful write %lld ms after redis-server was restarted", i,
              recovered[i]);
    }

    // Every acknowledged write survived: the key holds its value or a later one that was sent (a
    // write answered `unavailable` may have been applied), with at least the acknowledged version.
    QCOMPARE(int(acked.size()), kWriters * kKeysPerWriter);
    int reader = 0;
    for (const auto &[key, write] : acked) {
        McpHttpClient &via = *probes[reader++ % n];
        const Outcome got = callOne(via, QStringLiteral("state_get"), R"({"key":")" + key + R"("})");
        QVERIFY2(got.sc(), qPrintable(got.describe()));
        QVERIFY2(got.text("found") == "true",
                 qPrintable(QStringLiteral("%1 (acknowledged at version %2) is gone")
                                .arg(QString::fromUtf8(key))
                                .arg(write.version)));
        const qint64 value = got.integer("value");
        QVERIFY2(value >= write.value && sent[key].count(value),
                 qPrintable(QStringLiteral("%1: value %2, acknowledged %3")
                                .arg(QString::fromUtf8(key))
                                .arg(value)
                                .arg(write.value)));
        QVERIFY2(got.integer("version") >= write.version,
                 qPrintable(QStringLiteral("%1: version %2, acknowledged %3")
                                .arg(QString::fromUtf8(key))
                                .arg(got.integer("version"))
                                .arg(write.version)));
    }

    // The writers' sessions work as before, concurrently, each write after every earlier one.
    std::vector<Call> calls;
    for (int w = 0; w < kWriters; ++w)
        calls.push_back(Call{writers[w].get(), QStringLiteral("state_set"),
                             R"({"key":")" + keyOf(w, 0) + R"(","value":"after"})"});
    for (const Outcome &o : callConcurrently(calls)) {
        QVERIFY2(o.sc() && o.text("ok") == "true",
                 qPrintable(QStringLiteral("after recovery: ") + o.describe()));
        QVERIFY(o.integer("revision") > lastRevision);
    }
}

QTEST_GUILESS_MAIN(TestMultiInstance)
#include "tst_multiinstance.moc"
