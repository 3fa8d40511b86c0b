// Crash and expiry under load, through the real HTTP server on real files and a real redis-server.
//
// killedDuringWrites: the server killed with SIGKILL during sustained writes from several clients,
// many times over, on one SQLite file, for both durabilities (a process crash: the operating system
// keeps what was written, so both promise that every answered write survives; power loss is
// tst_powerloss's).
// Each cycle starts the real binary on the file left by the previous one, and several clients
// (each with its own MCP session) keep one write in flight each: state_set on keys of their own
// (the value carries the client's sequence number), and now and then a lease grant and release.
// At a random moment the server is killed while a round of writes is on the wire. Then, before
// the restart, `PRAGMA integrity_check` runs on the file; after it:
// - every answered state_set is there: the key holds that write or the one in flight after it
//   (which may have committed unanswered), never an older one, and never a value no client sent;
//   when it holds the answered write, its version is the answered revision;
// - nothing is half-applied: each key's newest history entry is its current write (same revision,
//   same value);
// - the store's revision never goes back: a new write and a new lease grant get a revision and a
//   fence above every one answered before the kill.
// At the end the whole history of the test's keys is read: revisions strictly decreasing (newest
// first), none repeated.
//
// expiryUnderLoad (SQLite and Redis): thousands of keys and leases with a 1 s TTL, and claimed
// workflow runs with a 2 s claim, expire while clients keep writing. Every write is answered (the
// slowest answer is printed; only a hang, 10 s, fails), every key and lease is gone afterwards with
// exactly one `expire` history entry each, and every lapsed run is claimable again and is claimed
// exactly once (a lapsed claim writes no history, by contract).
//
// redisUnreachableAtStart: a sidecar started while Redis is down serves, answers `unavailable` with
// a clear message (and /readyz 503), and connects by itself once Redis is up.
// redisKilledRepeatedly: redis-server (append-only file, fsync always) killed with SIGKILL during
// rounds of writes, several times: every answered write survives each kill, the calls meanwhile
// answer `unavailable`, and the sidecar recovers by itself each time.
//
// Bounded: kCycles cycles per durability, each writing for 0.3-1.2 s; the expiry test a few
// seconds per backend. Nothing asserts speed.

#include <QtTest>
#include <QRandomGenerator>
#include <QSqlDatabase>
#include <QSqlError>
#include <QSqlQuery>
#include <QUuid>

#include <limits>
#include <map>
#include <set>
#include <memory>
#include <optional>
#include <vector>

#include "httpserverprocess.h"
#include "redisserverprocess.h"
#include "serverprocess.h"
#include "testutil.h"

using namespace sidecar;
using namespace sidecar::test;

namespace {

constexpr int kCycles = 8;
constexpr int kClients = 6;
constexpr int kKeysPerClient = 16;

// What the test knows of one key: the last write answered and the last one sent.
struct KeyState
{
    qint64 ackedSeq = -1;     // -1: no write answered yet
    qint64 ackedVersion = 0;
    qint64 sentSeq = -1;      // the newest write sent (answered or not)
};

// A finished tools/call's structured result (nullptr: none, with `problem` saying why).
struct Answer
{
    std::optional<json::Document> doc;
    QString problem;
    const json::Value *sc() const { return doc ? structured(*doc) : nullptr; }
    qint64 integer(std::string_view key) const
    {
        const json::Value *s = sc();
        const json::Value *v = s ? s->find(key) : nullptr;
        return v ? v->toInt64().value_or(-1) : -1;
    }
    bool flag(std::string_view key) const
    {
        const json::Value *s = sc();
        const json::Value *v = s ? s->find(key) : nullptr;
        return v && v->isBool() && v->toBool();
    }
};

Answer readAnswer(HttpConnection *connection, int timeoutMs)
{
    Answer a;
    if (!connection) {
        a.problem = QStringLiteral("not sent");
        return a;
    }
    auto reply = connection->readResponse(timeoutMs);
    if (!reply) {
        a.problem = QStringLiteral("no answer: ") + connection->errorString();
        return a;
    }
    if (reply->status != 200) {
        a.problem = reply->describe();
        return a;
    }
    a.doc = jsonRpcAnswer(*reply);
    if (!a.doc)
        a.problem = QStringLiteral("no JSON-RPC answer: ") + reply->describe();
    else if (!a.sc())
        a.problem = QString::fromUtf8(a.doc->root().compact());
    return a;
}

Answer call(McpHttpClient &client, const QString &tool, const QByteArray &args)
{
    auto connection = client.startCall(tool, args);
    return readAnswer(connection.get(), 30000);
}

// Sends every call at once (each on a connection of its own), then reads every answer; the
// slowest answer's time goes to *slowestMs.
std::vector<Answer> callAll(McpHttpClient &client, const QString &tool, const std::vector<QByteArray> &args,
                            qint64 *slowestMs = nullptr, int timeoutMs = 30000)
{
    QElapsedTimer sent;
    sent.start();
    std::vector<std::unique_ptr<HttpConnection>> connections;
    for (const QByteArray &a : args)
        connections.push_back(client.startCall(tool, a));
    std::vector<Answer> answers;
    for (auto &c : connections)
        answers.push_back(readAnswer(c.get(), timeoutMs));
    if (slowestMs)
        *slowestMs = std::max(*slowestMs, sent.elapsed());
    return answers;
}

// Every history entry matching `filter` (a history_log argument object without n and
// before_revision), newest first.
std::optional<std::vector<json::Document>> wholeHistory(McpHttpClient &client, const QByteArray &filter,
                                                        QString *problem)
{
    std::vector<json::Document> pages;
    qint64 before = -1;
    for (;;) {
        QByteArray q = filter;
        q.chop(1); // the closing brace
        q += QByteArray(filter.size() > 2 ? "," : "") + R"("n":1000)";
        if (before > 0)
            q += R"(,"before_revision":)" + QByteArray::number(before);
        q += '}';
        Answer page = call(client, QStringLiteral("history_log"), q);
        if (!page.sc()) {
            *problem = page.problem;
            return std::nullopt;
        }
        const auto &entries = page.sc()->find("entries")->items();
        const bool more = page.flag("more");
        if (!entries.empty())
            before = entries.back().find("revision")->toInt64().value_or(-1);
        pages.push_back(std::move(*page.doc));
        if (!more || entries.empty())
            return pages;
    }
}

QByteArray keyName(int client, int key)
{
    return "crash/c" + QByteArray::number(client) + "/k" + QByteArray::number(key);
}

// The value a client writes with sequence number `seq`: it names its writer.
QByteArray valueFor(int client, qint64 seq)
{
    return R"({"client":)" + QByteArray::number(client) + R"(,"seq":)" + QByteArray::number(seq) + "}";
}

QString integrityCheck(const QString &path)
{
    static int counter = 0;
    const QString name = QStringLiteral("tst-crash-%1").arg(++counter);
    QString verdict;
    {
        QSqlDatabase db = QSqlDatabase::addDatabase(QStringLiteral("QSQLITE"), name);
        db.setDatabaseName(path);
        if (!db.open()) {
            verdict = QStringLiteral("cannot open: ") + db.lastError().text();
        } else {
            QSqlQuery q(db);
            if (!q.exec(QStringLiteral("PRAGMA integrity_check")))
                verdict = QStringLiteral("integrity_check failed: ") + q.lastError().text();
            while (q.next())
                verdict += q.value(0).toString() + u'\n';
            q.finish();
        }
        db.close();
    }
    QSqlDatabase::removeDatabase(name);
    return verdict.trimmed();
}

} // namespace

class TestCrash : public QObject
{
    Q_OBJECT
private slots:
    void killedDuringWrites_data();
    void killedDuringWrites();
    void expiryUnderLoad_data();
    void expiryUnderLoad();
    void redisUnreachableAtStart();
    void redisKilledRepeatedly();
};

void TestCrash::killedDuringWrites_data()
{
    QTest::addColumn<QString>("durability");
    QTest::newRow("full") << QStringLiteral("full");
    QTest::newRow("normal") << QStringLiteral("normal");
}

void TestCrash::killedDuringWrites()
{
    QFETCH(QString, durability);
    TempDir dir;
    QVERIFY(dir.isValid());
    const QString db = dir.path() + QStringLiteral("/crash.db");
    const QStringList args{QStringLiteral("--durability"), durability};
    QRandomGenerator rng(QRandomGenerator::global()->generate());

    std::map<QByteArray, KeyState> keys;   // by key name
    std::vector<qint64> seq(kClients, 0);  // each client's next sequence number
    qint64 maxAckedRevision = 0;           // over every answered write
    qint64 maxAckedFence = 0;
    qint64 answeredWrites = 0;
    qint64 unansweredWrites = 0;

    for (int cycle = 0; cycle < kCycles; ++cycle) {
        HttpServerProcess server;
        QVERIFY2(server.start(args, db), qPrintable(server.errorString()));

        // --- after the previous kill: what was answered is there, whole -------------------------------
        McpHttpClient checker(server.port());
        QVERIFY2(checker.initialize(), qPrintable(checker.errorString()));
        for (const auto &[key, state] : keys) {
            if (state.ackedSeq < 0)
                continue;
            const Answer got = call(checker, QStringLiteral("state_get"), R"({"key":")" + key + R"("})");
            QVERIFY2(got.sc(), qPrintable(got.problem));
            QVERIFY2(got.flag("found"), qPrintable(QString::fromUtf8(key) + QStringLiteral(" was answered but is lost")));
            const json::Value *value = got.sc()->find("value");
            const qint64 storedSeq = value->find("seq") ? value->find("seq")->toInt64().value_or(-1) : -1;
            const QString where = QString::fromUtf8(key) + QStringLiteral(": stored %1, answered %2, last sent %3")
                                                               .arg(storedSeq)
                                                               .arg(state.ackedSeq)
                                                               .arg(state.sentSeq);
            QVERIFY2(storedSeq >= state.ackedSeq && storedSeq <= state.sentSeq, qPrintable(where));
            if (storedSeq == state.ackedSeq)
                QCOMPARE(got.integer("version"), state.ackedVersion);
            const Answer history = call(checker, QStringLiteral("history_log"), R"({"key":")" + key + R"(","n":1})");
            QVERIFY2(history.sc(), qPrintable(history.problem));
            const auto &entries = history.sc()->find("entries")->items();
            QVERIFY2(!entries.empty(), qPrintable(where));
            QCOMPARE(entries.front().find("revision")->toInt64().value_or(-1), got.integer("version"));
            QCOMPARE(entries.front().find("new_value")->compact(), value->compact());
        }
        if (maxAckedRevision > 0) {
            const Answer probe = call(checker, QStringLiteral("state_set"),
                                      R"({"key":"crash/probe","value":)" + QByteArray::number(cycle) + "}");
            QVERIFY2(probe.sc(), qPrintable(probe.problem));
            QVERIFY2(probe.integer("revision") > maxAckedRevision,
                     qPrintable(QStringLiteral("revision %1 after the restart, %2 answered before")
                                    .arg(probe.integer("revision"))
                                    .arg(maxAckedRevision)));
            const Answer grant = call(checker, QStringLiteral("lease_acquire"),
                                      R"({"resource_id":"crash-probe/)" + QByteArray::number(cycle)
                                          + R"(","holder_id":"checker","ttl_seconds":30})");
            QVERIFY2(grant.sc() && grant.flag("acquired"), qPrintable(grant.problem));
            QVERIFY(grant.integer("fence") > maxAckedFence);
            maxAckedRevision = std::max(maxAckedRevision, probe.integer("revision"));
            maxAckedFence = std::max(maxAckedFence, grant.integer("fence"));
        }
        if (cycle == kCycles - 1) {
            // The last restart only checks; now the whole history of the test's keys.
            qint64 before = -1;
            qint64 previous = std::numeric_limits<qint64>::max();
            qint64 entriesRead = 0;
            for (;;) {
                QByteArray q = R"({"prefix":"crash/c","n":1000)";
                if (before > 0)
                    q += R"(,"before_revision":)" + QByteArray::number(before);
                q += '}';
                const Answer page = call(checker, QStringLiteral("history_log"), q);
                QVERIFY2(page.sc(), qPrintable(page.problem));
                for (const json::Value &e : page.sc()->find("entries")->items()) {
                    const qint64 revision = e.find("revision")->toInt64().value_or(-1);
                    QVERIFY2(revision < previous, qPrintable(QStringLiteral("history revision %1 after %2")
                                                                 .arg(revision)
                                                                 .arg(previous)));
                    previous = revision;
                    ++entriesRead;
                }
                if (!page.flag("more"))
                    break;
                before = previous;
            }
            QVERIFY(entriesRead >= answeredWrites);
            qInfo().noquote() << durability << ":" << kCycles - 1 << "kills," << answeredWrites
                              << "answered writes (every key's last one checked after each restart),"
                              << unansweredWrites << "unanswered at a kill," << entriesRead
                              << "history entries, strictly ordered";
            break;
        }

        // --- writers, until the kill ------------------------------------------------------------------
        std::vector<std::unique_ptr<McpHttpClient>> clients;
        for (int c = 0; c < kClients; ++c) {
            clients.push_back(std::make_unique<McpHttpClient>(server.port()));
            QVERIFY2(clients.back()->initialize(), qPrintable(clients.back()->errorString()));
        }
        QElapsedTimer running;
        running.start();
        const qint64 killAfterMs = 300 + qint64(rng.bounded(900));
        bool killed = false;
        int round = 0;
        while (!killed) {
            killed = running.elapsed() >= killAfterMs;
            struct InFlight
            {
                std::unique_ptr<HttpConnection> connection;
                int client = 0;
                QByteArray key;  // state_set: the key; empty for a lease round
                qint64 seq = 0;
            };
            std::vector<InFlight> inFlight;
            for (int c = 0; c < kClients; ++c) {
                InFlight f;
                f.client = c;
                if (round % 10 == 9) {
                    // A lease grant (fence) and, next round, its release.
                    f.connection = clients[c]->startCall(
                        QStringLiteral("lease_acquire"),
                        R"({"resource_id":"crash-lease/)" + QByteArray::number(cycle) + '/' + QByteArray::number(c)
                            + R"(","holder_id":"writer","ttl_seconds":60})");
                } else if (round % 10 == 0 && round > 0) {
                    f.connection = clients[c]->startCall(
                        QStringLiteral("lease_release"),
                        R"({"resource_id":"crash-lease/)" + QByteArray::number(cycle) + '/' + QByteArray::number(c)
                            + R"(","holder_id":"writer"})");
                } else {
                    f.seq = seq[std::size_t(c)]++;
                    f.key = keyName(c, int(f.seq % kKeysPerClient));
                    keys[f.key].sentSeq = f.seq;
                    f.connection = clients[c]->startCall(
                        QStringLiteral("state_set"),
                        R"({"key":")" + f.key + R"(","value":)" + valueFor(c, f.seq) + "}");
                }
                inFlight.push_back(std::move(f));
            }
            if (killed)
                server.kill(); // SIGKILL with this round on the wire
            for (InFlight &f : inFlight) {
                const Answer a = readAnswer(f.connection.get(), killed ? 5000 : 30000);
                if (!a.sc()) {
                    QVERIFY2(killed, qPrintable(a.problem)); // before the kill, every call succeeds
                    if (!f.key.isEmpty())
                        ++unansweredWrites;
                    continue;
                }
                const qint64 revision = a.integer("revision");
                if (!f.key.isEmpty()) {
                    QVERIFY2(a.flag("ok"), qPrintable(QString::fromUtf8(a.doc->root().compact())));
                    KeyState &k = keys[f.key];
                    k.ackedSeq = f.seq;
                    k.ackedVersion = a.integer("version");
                    QCOMPARE(k.ackedVersion, revision);
                    ++answeredWrites;
                } else if (a.sc()->find("fence")) {
                    maxAckedFence = std::max(maxAckedFence, a.integer("fence"));
                }
                maxAckedRevision = std::max(maxAckedRevision, revision);
            }
            ++round;
        }
        QVERIFY(server.waitForExit(30000));

        // --- the file as the crash left it ------------------------------------------------------------
        QCOMPARE(integrityCheck(db), QStringLiteral("ok"));
    }
}

void TestCrash::expiryUnderLoad_data()
{
    QTest::addColumn<QString>("backend");
    QTest::newRow("sqlite") << QStringLiteral("sqlite");
    QTest::newRow("redis") << QStringLiteral("redis");
}

void TestCrash::expiryUnderLoad()
{
    QFETCH(QString, backend);
    constexpr int kKeys = 2000;
    constexpr int kLeases = 500;
    constexpr int kRuns = 200;
    constexpr int kWave = 100;       // calls in flight at once
    constexpr int kHangMs = 10000;   // an answer slower than this is a hang

    QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
    std::unique_ptr<RedisServerProcess> redis;
    if (backend == QLatin1String("redis")) {
        QVERIFY2(QFileInfo(RedisServerProcess::redisServerBinary()).isExecutable(),
                 "redis-server is not installed (scripts/setup.sh installs it)");
        redis = std::make_unique<RedisServerProcess>();
        QVERIFY2(redis->start(), qPrintable(redis->errorString()));
        env.insert(QStringLiteral("STATE_BACKEND"), QStringLiteral("redis"));
        env.insert(QStringLiteral("REDIS_URL"), redis->url());
        env.insert(QStringLiteral("SIDECAR_REDIS_PREFIX"),
                   QStringLiteral("exp-%1:").arg(QUuid::createUuid().toString(QUuid::Id128)));
    }
    HttpServerProcess server;
    QVERIFY2(server.start({}, {}, env), qPrintable(server.errorString()));
    McpHttpClient client(server.port());
    QVERIFY2(client.initialize(), qPrintable(client.errorString()));
    qint64 slowestMs = 0;
    auto inWaves = [&](const QString &tool, int count, const std::function<QByteArray(int)> &args) {
        std::vector<Answer> all;
        for (int from = 0; from < count; from += kWave) {
            std::vector<QByteArray> wave;
            for (int i = from; i < std::min(count, from + kWave); ++i)
                wave.push_back(args(i));
            for (Answer &a : callAll(client, tool, wave, &slowestMs))
                all.push_back(std::move(a));
        }
        return all;
    };
    auto allOk = [](const std::vector<Answer> &answers, std::string_view flag) {
        for (const Answer &a : answers) {
            if (!a.sc() || !a.flag(flag))
                return a.sc() ? QString::fromUtf8(a.doc->root().compact()) : a.problem;
        }
        return QString();
    };

    // What will expire: keys and leases with a 1 s TTL, runs claimed for 2 s.
    QString bad = allOk(inWaves(QStringLiteral("state_set"), kKeys, [](int i) -> QByteArray {
        return R"({"key":"exp/k)" + QByteArray::number(i) + R"(","value":)" + QByteArray::number(i)
               + R"(,"ttl_seconds":1})";
    }), "ok");
    QVERIFY2(bad.isEmpty(), qPrintable(bad));
    bad = allOk(inWaves(QStringLiteral("lease_acquire"), kLeases, [](int i) -> QByteArray {
        return R"({"resource_id":"exp/l)" + QByteArray::number(i) + R"(","holder_id":"h","ttl_seconds":1})";
    }), "acquired");
    QVERIFY2(bad.isEmpty(), qPrintable(bad));
    const QByteArray queue = QUuid::createUuid().toByteArray(QUuid::Id128);
    std::vector<Answer> created = inWaves(QStringLiteral("workflow_create"), kRuns, [&](int i) -> QByteArray {
        return R"({"name":"exp","tags":{"q":")" + queue + R"("},"input":)" + QByteArray::number(i) + "}";
    });
    std::set<QString> runs;
    for (const Answer &a : created) {
        QVERIFY2(a.sc(), qPrintable(a.problem));
        runs.insert(a.sc()->find("run_id")->toQString());
    }
    QCOMPARE(int(runs.size()), kRuns);
    bad = allOk(inWaves(QStringLiteral("workflow_claim_next"), kRuns, [&](int) -> QByteArray {
        return R"({"agent_id":"first","tags":{"q":")" + queue + R"("},"ttl_seconds":2})";
    }), "claimed");
    QVERIFY2(bad.isEmpty(), qPrintable(bad));

    // Writers keep writing while all of it lapses and the sweep removes it.
    QElapsedTimer writing;
    writing.start();
    int writes = 0;
    while (writing.elapsed() < 3500) {
        bad = allOk(inWaves(QStringLiteral("state_set"), kWave, [&](int i) -> QByteArray {
            return R"({"key":"exp-live/)" + QByteArray::number(i) + R"(","value":)" + QByteArray::number(writes + i)
                   + "}";
        }), "ok");
        QVERIFY2(bad.isEmpty(), qPrintable(bad));
        writes += kWave;
    }
    qInfo().noquote() << backend << ":" << writes << "writes while" << kKeys << "keys," << kLeases << "leases and"
                      << kRuns << "claims lapsed; slowest answer" << slowestMs << "ms";
    QVERIFY2(slowestMs < kHangMs, qPrintable(QStringLiteral("an answer took %1 ms").arg(slowestMs)));

    // Everything is gone (the sweep runs at most 1 s after a deadline; generous here).
    QTRY_VERIFY_WITH_TIMEOUT(
        [&] {
            const Answer keys = call(client, QStringLiteral("state_list"), R"({"prefix":"exp/","limit":10})");
            const Answer leases = call(client, QStringLiteral("lease_list"), R"({"prefix":"exp/","limit":10})");
            return keys.sc() && keys.sc()->find("keys")->items().empty() && leases.sc()
                   && leases.sc()->find("leases")->items().empty();
        }(),
        30000);
    // Each expired exactly once in history (the sweep's entries; a read never writes one).
    for (const auto &[kind, count] : {std::pair{QByteArray("kv"), kKeys}, std::pair{QByteArray("lease"), kLeases}}) {
        QString problem;
        auto pages = wholeHistory(client, R"({"prefix":"exp/","kind":")" + kind + R"("})", &problem);
        QVERIFY2(pages, qPrintable(problem));
        std::map<QString, int> expired;
        for (const json::Document &page : *pages) {
            for (const json::Value &e : structured(page)->find("entries")->items()) {
                if (e.find("op")->toQString() == QLatin1String("expire"))
                    ++expired[e.find("key")->toQString()];
            }
        }
        QCOMPARE(int(expired.size()), count);
        for (const auto &[key, times] : expired)
            QVERIFY2(times == 1, qPrintable(QStringLiteral("%1 expired %2 times").arg(key).arg(times)));
    }
    // Every lapsed run is claimable again, and claimed exactly once by the second round.
    std::vector<Answer> second = inWaves(QStringLiteral("workflow_claim_next"), kRuns + kWave, [&](int) -> QByteArray {
        return R"({"agent_id":"second","tags":{"q":")" + queue + R"("},"ttl_seconds":60})";
    });
    std::set<QString> reclaimed;
    int none = 0;
    for (const Answer &a : second) {
        QVERIFY2(a.sc(), qPrintable(a.problem));
        if (!a.flag("claimed")) {
            ++none;
            continue;
        }
        const QString id = a.sc()->find("run_id")->toQString();
        QVERIFY2(reclaimed.insert(id).second, qPrintable(id + QStringLiteral(" claimed twice")));
        QCOMPARE(a.integer("attempt"), qint64(2));
    }
    QCOMPARE(reclaimed, runs);
    QCOMPARE(none, kWave);
}

namespace {

QProcessEnvironment redisEnvironment(const RedisServerProcess &redis)
{
    QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
    env.insert(QStringLiteral("STATE_BACKEND"), QStringLiteral("redis"));
    env.insert(QStringLiteral("REDIS_URL"), redis.url());
    env.insert(QStringLiteral("SIDECAR_REDIS_PREFIX"),
               QStringLiteral("crash-%1:").arg(QUuid::createUuid().toString(QUuid::Id128)));
    return env;
}

} // namespace

void TestCrash::redisUnreachableAtStart()
{
    // Redis is down when the sidecar starts: it serves anyway, says why on stderr, answers
    // `unavailable` with a clear message, and connects by itself once Redis is up.
    QVERIFY2(QFileInfo(RedisServerProcess::redisServerBinary()).isExecutable(),
             "redis-server is not installed (scripts/setup.sh installs it)");
    RedisServerProcess redis;
    QVERIFY2(redis.start(), qPrintable(redis.errorString()));
    redis.kill(); // its port is now known and refused
    HttpServerProcess server;
    QVERIFY2(server.start({}, {}, redisEnvironment(redis)), qPrintable(server.errorString()));
    QTRY_VERIFY_WITH_TIMEOUT(server.stderrText().contains("unreachable"), 10000);
    McpHttpClient client(server.port());
    QVERIFY2(client.initialize(), qPrintable(client.errorString()));
    auto down = client.call(QStringLiteral("state_set"), R"({"key":"crash/redis","value":1})");
    QVERIFY2(down, qPrintable(client.errorString()));
    QCOMPARE(toolErrorCode(*down), QStringLiteral("unavailable"));
    // The message names the server and the reason.
    const QByteArray said = down->root().compact();
    QVERIFY2(said.contains(QByteArray("Redis at 127.0.0.1:" + QByteArray::number(redis.port()))), said.constData());
    QVERIFY2(said.contains("Connection refused"), said.constData());
    QCOMPARE(httpRequest(server.port(), "GET", "/readyz").status, 503);

    QVERIFY2(redis.restart(), qPrintable(redis.errorString()));
    QElapsedTimer recovering;
    recovering.start();
    QTRY_VERIFY_WITH_TIMEOUT(
        [&] {
            auto up = client.call(QStringLiteral("state_set"), R"({"key":"crash/redis","value":2})");
            return up && structured(*up) && structured(*up)->find("ok")->toBool();
        }(),
        30000);
    qInfo() << "first write answered" << recovering.elapsed() << "ms after redis-server came up";
    QCOMPARE(httpRequest(server.port(), "GET", "/readyz").status, 200);
}

void TestCrash::redisKilledRepeatedly()
{
    // redis-server (append-only file, fsync always) killed with SIGKILL while a round of writes is
    // on the wire, again and again: every write answered before each kill is there afterwards, and
    // the sidecar recovers by itself each time.
    QVERIFY2(QFileInfo(RedisServerProcess::redisServerBinary()).isExecutable(),
             "redis-server is not installed (scripts/setup.sh installs it)");
    constexpr int kKills = 4;
    constexpr int kWave = 24;
    RedisServerProcess redis;
    QVERIFY2(redis.start({QStringLiteral("--appendonly"), QStringLiteral("yes"), QStringLiteral("--appendfsync"),
                          QStringLiteral("always")}),
             qPrintable(redis.errorString()));
    HttpServerProcess server;
    QVERIFY2(server.start({}, {}, redisEnvironment(redis)), qPrintable(server.errorString()));
    McpHttpClient client(server.port());
    QVERIFY2(client.initialize(), qPrintable(client.errorString()));

    std::map<QByteArray, qint64> acked; // key -> the newest answered value
    qint64 next = 0;
    int unavailable = 0;
    for (int kill = 0; kill < kKills; ++kill) {
        QElapsedTimer writing;
        writing.start();
        const qint64 killAfterMs = 200 + qint64(QRandomGenerator::global()->bounded(600));
        bool killed = false;
        while (!killed) {
            killed = writing.elapsed() >= killAfterMs;
            std::vector<QByteArray> args;
            std::vector<std::pair<QByteArray, qint64>> writes;
            for (int i = 0; i < kWave; ++i) {
                const QByteArray key = "crash/redis/k" + QByteArray::number(i);
                writes.emplace_back(key, next);
                args.push_back(R"({"key":")" + key + R"(","value":)" + QByteArray::number(next++) + "}");
            }
            std::vector<std::unique_ptr<HttpConnection>> connections;
            for (const QByteArray &a : args)
                connections.push_back(client.startCall(QStringLiteral("state_set"), a));
            if (killed)
                redis.kill();
            for (std::size_t i = 0; i < connections.size(); ++i) {
                const Answer a = readAnswer(connections[i].get(), 30000);
                if (a.sc() && a.flag("ok")) {
                    acked[writes[i].first] = std::max(acked[writes[i].first], writes[i].second);
                    continue;
                }
                QVERIFY2(killed, qPrintable(a.problem)); // before the kill, every write succeeds
                QVERIFY2(a.doc && toolErrorCode(*a.doc) == QLatin1String("unavailable"), qPrintable(a.problem));
                ++unavailable;
            }
        }
        QVERIFY2(redis.restart(), qPrintable(redis.errorString()));
        QTRY_VERIFY_WITH_TIMEOUT(
            [&] {
                auto up = client.call(QStringLiteral("state_get"), R"({"key":"crash/redis/k0"})");
                return up && structured(*up);
            }(),
            30000);
        for (const auto &[key, value] : acked) {
            const Answer got = call(client, QStringLiteral("state_get"), R"({"key":")" + key + R"("})");
            QVERIFY2(got.sc() && got.flag("found"), qPrintable(QString::fromUtf8(key) + u' ' + got.problem));
            const qint64 stored = got.sc()->find("value")->toInt64().value_or(-1);
            QVERIFY2(stored >= value, qPrintable(QStringLiteral("%1: %2 stored, %3 answered")
                                                     .arg(QString::fromUtf8(key))
                                                     .arg(stored)
                                                     .arg(value)));
        }
    }
    qInfo() << kKills << "kills of redis-server," << next << "writes sent," << unavailable
            << "answered unavailable, every answered one kept";
}

QTEST_GUILESS_MAIN(TestCrash)
#include "tst_crash.moc"
