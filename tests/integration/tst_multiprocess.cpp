// Several real server processes on ONE store, racing: every process sends its whole batch at once
// (pipelined) and the suite checks the contract's exclusivity promises across processes: one
// winner per claim, lease and create-if-absent, no run claimed twice by claim_next, fences and
// revisions unique store-wide and strictly increasing per resource, and every process sees the
// others' acknowledged writes.
//
// Every race runs on both backends (data rows): "sqlite", the processes sharing one SQLite file,
// and "redis", the processes sharing one redis-server (STATE_BACKEND=redis, REDIS_URL) that the
// suite starts once on a free loopback port; each row gets a SIDECAR_REDIS_PREFIX of its own, so
// rows never see each other's data.

#include <QtTest>

#include <QFileInfo>
#include <QScopeGuard>
#include <QUuid>

#include <map>
#include <memory>
#include <set>
#include <vector>

#include "redisserverprocess.h"
#include "sidecartestclient.h"

using namespace sidecar;
using namespace sidecar::test;

namespace {

constexpr int kProcesses = 4;
constexpr int kItems = 30; // runs, resources, keys per race

QByteArray agent(int process)
{
    return "p" + QByteArray::number(process);
}

// The backend settings a server reads from its environment; the suite sets them around starting
// its processes (SidecarClient starts them with the test's own environment), and clears them so
// that the "sqlite" rows run on the default backend.
const char *const kBackendVariables[] = {"STATE_BACKEND", "REDIS_URL", "SIDECAR_REDIS_PREFIX"};

void clearBackendEnvironment()
{
    for (const char *name : kBackendVariables)
        qunsetenv(name);
}

// The data rows every race runs with: the backend's name.
void addBackendRows()
{
    QTest::addColumn<QString>("backend");
    QTest::newRow("sqlite") << QStringLiteral("sqlite");
    QTest::newRow("redis") << QStringLiteral("redis");
}

// One answer of a race: which process, and its structuredContent as a parsed document.
struct Answer
{
    int process = -1;
    std::shared_ptr<json::Document> doc;
    const json::Value &sc() const { return *structured(*doc); }
    QByteArray text(std::string_view key) const
    {
        const json::Value *v = sc().find(key);
        return v ? v->compact() : QByteArrayLiteral("<absent>");
    }
    QString str(std::string_view key) const
    {
        const json::Value *v = sc().find(key);
        return v && v->isString() ? v->toQString() : QString();
    }
    qint64 integer(std::string_view key) const
    {
        const json::Value *v = sc().find(key);
        return v ? v->toInt64().value_or(-1) : -1;
    }
};

} // namespace

class TestMultiProcess : public QObject
{
    Q_OBJECT
private slots:
    void initTestCase();
    void init();
    void cleanup();
    void claimRace_data() { addBackendRows(); }
    void claimRace();
    void leaseRace_data() { addBackendRows(); }
    void leaseRace();
    void createIfAbsentRace_data() { addBackendRows(); }
    void createIfAbsentRace();
    void claimNextRace_data() { addBackendRows(); }
    void claimNextRace();
    void everyProcessSeesAcknowledgedWrites_data() { addBackendRows(); }
    void everyProcessSeesAcknowledgedWrites();

private:
    // Sends each process its batch (id -> arguments of `tool`) at the same moment and collects
    // every answer; false with m_problem set when one is missing or is not a successful result.
    bool race(const QByteArray &tool,
              const std::vector<std::vector<std::pair<QByteArray, QByteArray>>> &batches,
              std::map<QByteArray, Answer> &answers);

    std::vector<std::unique_ptr<SidecarClient>> m_servers;
    QString m_db;
    QString m_problem;
    // The redis-server of the "redis" rows, started by initTestCase when redis-server is installed.
    std::unique_ptr<RedisServerProcess> m_redis;
    QString m_redisProblem; // why there is none
};

void TestMultiProcess::initTestCase()
{
    QVERIFY2(!qEnvironmentVariableIsEmpty("SIDECAR_BIN"), "SIDECAR_BIN is not set (run through ctest)");
    clearBackendEnvironment();
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

void TestMultiProcess::init()
{
    m_servers.clear();
    const bool redis = qstrcmp(QTest::currentDataTag(), "redis") == 0;
    // The variables last only while this row's processes start.
    auto cleared = qScopeGuard(clearBackendEnvironment);
    if (redis) {
        // scripts/setup.sh installs redis-server: missing, or not starting, is a failure.
        QVERIFY2(m_redis, qPrintable(m_redisProblem));
        const QString prefix = QStringLiteral("mp-%1-%2:")
                                   .arg(QString::fromLatin1(QTest::currentTestFunction()),
                                        QUuid::createUuid().toString(QUuid::Id128));
        qputenv("STATE_BACKEND", "redis");
        qputenv("REDIS_URL", m_redis->url().toUtf8());
        qputenv("SIDECAR_REDIS_PREFIX", prefix.toUtf8());
    }
    // On Redis the file is not used (the server still takes --db-path).
    m_db = freshDbPath(QStringLiteral("shared"));
    for (int i = 0; i < kProcesses; ++i) {
        m_servers.push_back(std::make_unique<SidecarClient>());
        QVERIFY2(m_servers.back()->start({}, m_db), qPrintable(m_servers.back()->problem()));
    }
}

void TestMultiProcess::cleanup()
{
    for (auto &server : m_servers) {
        server->process().closeInput();
        server->process().waitForExit(30000);
        QCOMPARE(server->process().process().exitCode(), 0);
    }
    m_servers.clear();
}

bool TestMultiProcess::race(const QByteArray &tool,
                            const std::vector<std::vector<std::pair<QByteArray, QByteArray>>> &batches,
                            std::map<QByteArray, Answer> &answers)
{
    std::set<QByteArray> expected;
    for (std::size_t p = 0; p < batches.size(); ++p) {
        QByteArray all;
        for (const auto &[id, args] : batches[p]) {
            all += toolCall(id, tool, args) + '\n';
            expected.insert(id);
        }
        m_servers[p]->process().process().write(all);
    }
    // Each batch fits in a pipe: these writes complete at once, so every process starts together.
    for (std::size_t p = 0; p < batches.size(); ++p)
        m_servers[p]->process().process().waitForBytesWritten(10000);

    const std::size_t target = answers.size() + expected.size(); // `answers` may hold earlier races' answers
    QDeadlineTimer deadline(60000);
    while (answers.size() < target && !deadline.hasExpired()) {
        for (std::size_t p = 0; p < batches.size(); ++p) {
            m_servers[p]->process().pump(2);
            for (const QByteArray &line : m_servers[p]->process().takeUnclaimed()) {
                auto doc = json::parse(line);
                const json::Value *id = doc ? doc->root().find("id") : nullptr;
                if (!id || !structured(*doc)) {
                    m_problem = QStringLiteral("process %1: not a successful result: %2")
                                    .arg(p)
                                    .arg(QString::fromUtf8(line));
                    return false;
                }
                const QByteArray key = id->compact();
                if (!expected.count(key) || answers.count(key)) {
                    m_problem = QStringLiteral("process %1: unexpected or repeated id %2")
                                    .arg(p)
                                    .arg(QString::fromUtf8(key));
                    return false;
                }
                answers[key] = Answer{int(p), std::make_shared<json::Document>(std::move(*doc))};
            }
        }
    }
    if (answers.size() != target) {
        m_problem = QStringLiteral("%1 of %2 answers").arg(answers.size()).arg(target);
        return false;
    }
    return true;
}

void TestMultiProcess::claimRace()
{
    SidecarClient &creator = *m_servers[0];
    QStringList runs;
    for (int i = 0; i < kItems; ++i) {
        auto r = creator.ok(QStringLiteral("workflow_create"), R"({"name":"race"})");
        QVERIFY2(r, qPrintable(creator.problem()));
        runs.append(r->str("run_id"));
    }
    // Every process claims every run of the first half in one batch, each in its own order (the
    // processes' group commits race), then the second half one run at a time (each run a race
    // of single requests).
    auto claimArgs = [&](int p, int i) {
        return std::pair<QByteArray, QByteArray>(
            "\"c-" + QByteArray::number(p) + '-' + QByteArray::number(i) + '"',
            R"({"run_id":)" + quoted(runs[i]) + R"(,"agent_id":")" + agent(p) + R"(","ttl_seconds":300})");
    };
    std::map<QByteArray, Answer> answers;
    std::vector<std::vector<std::pair<QByteArray, QByteArray>>> batches(kProcesses);
    for (int p = 0; p < kProcesses; ++p) {
        for (int k = 0; k < kItems / 2; ++k)
            batches[p].push_back(claimArgs(p, p % 2 ? kItems / 2 - 1 - k : (k + p * 7) % (kItems / 2)));
    }
    QVERIFY2(race("workflow_claim", batches, answers), qPrintable(m_problem));
    for (int i = kItems / 2; i < kItems; ++i) {
        std::vector<std::vector<std::pair<QByteArray, QByteArray>>> single(kProcesses);
        for (int p = 0; p < kProcesses; ++p)
            single[(p + i) % kProcesses].push_back(claimArgs((p + i) % kProcesses, i));
        QVERIFY2(race("workflow_claim", single, answers), qPrintable(m_problem));
    }

    std::set<qint64> fences;
    QMap<int, int> wins; // for the log: how contested the race was
    for (int i = 0; i < kItems; ++i) {
        QList<int> winners;
        for (int p = 0; p < kProcesses; ++p) {
            const Answer &a = answers.at("\"c-" + QByteArray::number(p) + '-' + QByteArray::number(i) + '"');
            QCOMPARE(a.str("run_id"), runs[i]);
            if (a.text("claimed") == "true") {
                winners.append(p);
                QCOMPARE(a.text("agent_id"), QByteArray('"' + agent(p) + '"'));
                QVERIFY2(fences.insert(a.integer("fence")).second, "a fence was granted twice");
            }
        }
        QVERIFY2(winners.size() == 1,
                 qPrintable(QStringLiteral("run %1 has %2 winners").arg(runs[i]).arg(winners.size())));
        ++wins[winners.front()];
        const QByteArray winner = agent(winners.front());
        for (int p = 0; p < kProcesses; ++p) {
            if (p == winners.front())
                continue;
            const Answer &a = answers.at("\"c-" + QByteArray::number(p) + '-' + QByteArray::number(i) + '"');
            QCOMPARE(a.text("agent_id"), QByteArray("null"));
            QVERIFY2(a.str("reason").contains(QString::fromUtf8(winner)),
                     a.doc->root().compact().constData());
        }
        // Every process agrees on the holder.
        auto status = m_servers[(i + 1) % kProcesses]->ok(QStringLiteral("workflow_status"),
                                                          R"({"run_id":)" + quoted(runs[i]) + "}");
        QVERIFY2(status, qPrintable(m_servers[(i + 1) % kProcesses]->problem()));
        CHECK_FIELD(*status, "agent_id", '"' + winner + '"');
        CHECK_FIELD(*status, "status", "\"claimed\"");
    }
    qInfo() << "claims won per process:" << wins;
}

void TestMultiProcess::leaseRace()
{
    // Every process asks for every resource, in its own order; `tag` names the round.
    auto batchesFor = [](const QByteArray &tag) {
        std::vector<std::vector<std::pair<QByteArray, QByteArray>>> batches(kProcesses);
        for (int p = 0; p < kProcesses; ++p) {
            for (int k = 0; k < kItems; ++k) {
                const int i = (k + p * 11) % kItems;
                batches[p].emplace_back('"' + tag + '-' + QByteArray::number(p) + '-' + QByteArray::number(i)
                                            + '"',
                                        R"({"resource_id":"res-)" + QByteArray::number(i)
                                            + R"(","holder_id":")" + agent(p) + R"(","ttl_seconds":300})");
            }
        }
        return batches;
    };
    std::set<qint64> fences;
    std::vector<int> winners(kItems, -1);
    std::vector<qint64> lastFence(kItems, 0); // per resource: the fence of its latest grant
    // Checks one round's answers: one grant per resource, refusals naming the holder, every fence
    // new store-wide and greater than the resource's previous one.
    auto checkRound = [&](const QByteArray &tag, const std::map<QByteArray, Answer> &answers) {
        for (int i = 0; i < kItems; ++i) {
            int winner = -1;
            for (int p = 0; p < kProcesses; ++p) {
                const Answer &a = answers.at('"' + tag + '-' + QByteArray::number(p) + '-'
                                             + QByteArray::number(i) + '"');
                if (a.text("acquired") == "true") {
                    QVERIFY2(winner < 0, qPrintable(QStringLiteral("res-%1 granted twice").arg(i)));
                    winner = p;
                    const qint64 fence = a.integer("fence");
                    QVERIFY2(fences.insert(fence).second, "a fence was granted twice");
                    QVERIFY2(fence > lastFence[i],
                             qPrintable(QStringLiteral("res-%1: fence %2 after fence %3")
                                            .arg(i)
                                            .arg(fence)
                                            .arg(lastFence[i])));
                    lastFence[i] = fence;
                    QCOMPARE(a.text("holder"), QByteArray('"' + agent(p) + '"'));
                }
            }
            QVERIFY2(winner >= 0, qPrintable(QStringLiteral("res-%1 granted to nobody").arg(i)));
            winners[i] = winner;
            for (int p = 0; p < kProcesses; ++p) {
                if (p == winner)
                    continue;
                const Answer &a = answers.at('"' + tag + '-' + QByteArray::number(p) + '-'
                                             + QByteArray::number(i) + '"');
                QCOMPARE(a.text("holder"), QByteArray('"' + agent(winner) + '"'));
                QCOMPARE(a.text("expires_at"), QByteArray("null"));
                QCOMPARE(a.str("reason"),
                         QStringLiteral("Held by '%1'").arg(QString::fromUtf8(agent(winner))));
                QVERIFY(!a.sc().find("fence"));
            }
        }
    };

    std::map<QByteArray, Answer> answers;
    QVERIFY2(race("lease_acquire", batchesFor("l"), answers), qPrintable(m_problem));
    checkRound("l", answers);
    if (QTest::currentTestFailed())
        return;
    QCOMPARE(int(fences.size()), kItems);

    // Each holder releases under its grant (through another process); the next round's grants
    // are new ones, each with a fence greater than the resource's last.
    for (int i = 0; i < kItems; ++i) {
        SidecarClient &via = *m_servers[(winners[i] + 1) % kProcesses];
        auto released = via.ok(QStringLiteral("lease_release"),
                               R"({"resource_id":"res-)" + QByteArray::number(i) + R"(","holder_id":")"
                                   + agent(winners[i]) + R"(","fence":)" + QByteArray::number(lastFence[i])
                                   + "}");
        QVERIFY2(released, qPrintable(via.problem()));
        CHECK_FIELD(*released, "released", "true");
    }
    std::map<QByteArray, Answer> again;
    QVERIFY2(race("lease_acquire", batchesFor("m"), again), qPrintable(m_problem));
    checkRound("m", again);
    if (QTest::currentTestFailed())
        return;
    QCOMPARE(int(fences.size()), 2 * kItems);

    // A later grant, from any process, gets a fence greater than every earlier one.
    for (int p = 0; p < kProcesses; ++p) {
        auto later = m_servers[p]->ok(QStringLiteral("lease_acquire"),
                                      R"({"resource_id":"later-)" + QByteArray::number(p)
                                          + R"(","holder_id":"x","ttl_seconds":60})");
        QVERIFY2(later, qPrintable(m_servers[p]->problem()));
        QVERIFY(later->integer("fence") > *fences.rbegin());
        fences.insert(later->integer("fence"));
    }
    auto list = m_servers[3]->ok(QStringLiteral("lease_list"), R"({"prefix":"res-"})");
    QVERIFY2(list, qPrintable(m_servers[3]->problem()));
    QCOMPARE(list->count("leases"), kItems);
    for (int i = 0; i < kItems; ++i) {
        const QByteArray item = "leases." + QByteArray::number(i) + '.';
        const int resource = list->str(QByteArray(item + "resource_id").constData()).mid(4).toInt();
        CHECK_FIELD(*list, QByteArray(item + "holder").constData(), '"' + agent(winners[resource]) + '"');
        QCOMPARE(list->integer(QByteArray(item + "fence").constData()), lastFence[resource]);
    }
}

void TestMultiProcess::createIfAbsentRace()
{
    std::vector<std::vector<std::pair<QByteArray, QByteArray>>> batches(kProcesses);
    for (int p = 0; p < kProcesses; ++p) {
        for (int k = 0; k < kItems; ++k) {
            const int i = p % 2 ? kItems - 1 - k : k;
            batches[p].emplace_back("\"s-" + QByteArray::number(p) + '-' + QByteArray::number(i) + '"',
                                    R"({"key":"race/)" + QByteArray::number(i) + R"(","value":")" + agent(p)
                                        + R"(","if_version":0,"agent_id":")" + agent(p) + R"("})");
        }
    }
    std::map<QByteArray, Answer> answers;
    QVERIFY2(race("state_set", batches, answers), qPrintable(m_problem));

    std::set<qint64> revisions;
    for (int i = 0; i < kItems; ++i) {
        int winner = -1;
        qint64 version = 0;
        for (int p = 0; p < kProcesses; ++p) {
            const Answer &a = answers.at("\"s-" + QByteArray::number(p) + '-' + QByteArray::number(i) + '"');
            if (a.text("ok") == "true") {
                QVERIFY2(winner < 0, qPrintable(QStringLiteral("race/%1 created twice").arg(i)));
                winner = p;
                version = a.integer("version");
                QVERIFY2(revisions.insert(a.integer("revision")).second, "a revision was given twice");
            }
        }
        QVERIFY2(winner >= 0, qPrintable(QStringLiteral("race/%1 created by nobody").arg(i)));
        for (int p = 0; p < kProcesses; ++p) {
            if (p == winner)
                continue;
            const Answer &a = answers.at("\"s-" + QByteArray::number(p) + '-' + QByteArray::number(i) + '"');
            QCOMPARE(a.text("ok"), QByteArray("false"));
            QCOMPARE(a.text("conflict"), QByteArray("true"));
            QCOMPARE(a.integer("current_version"), version);
        }
        auto got = m_servers[(winner + 1) % kProcesses]->ok(
            QStringLiteral("state_get"), R"({"key":"race/)" + QByteArray::number(i) + R"("})");
        QVERIFY2(got, qPrintable(m_servers[(winner + 1) % kProcesses]->problem()));
        CHECK_FIELD(*got, "value", '"' + agent(winner) + '"');
        CHECK_FIELD(*got, "agent_id", '"' + agent(winner) + '"');
        QCOMPARE(got->integer("version"), version);
    }
    // Only the winners wrote: one history entry per key.
    auto history = m_servers[2]->ok(QStringLiteral("history_log"), R"({"prefix":"race/","n":1000})");
    QVERIFY2(history, qPrintable(m_servers[2]->problem()));
    QCOMPARE(history->integer("total"), qint64(kItems));
}

void TestMultiProcess::claimNextRace()
{
    QStringList runs;
    for (int i = 0; i < kItems; ++i) {
        SidecarClient &creator = *m_servers[i % kProcesses];
        auto r = creator.ok(QStringLiteral("workflow_create"), R"({"name":"queue","tags":{"q":"next"}})");
        QVERIFY2(r, qPrintable(creator.problem()));
        runs.append(r->str("run_id"));
    }
    QVERIFY(m_servers[0]->ok(QStringLiteral("workflow_create"), R"({"name":"queue","tags":{"q":"other"}})"));
    // Rounds in which every process sends two claim_next at once: more claimers than runs.
    constexpr int rounds = 8;
    constexpr int perRound = 2;
    std::map<QByteArray, Answer> answers;
    for (int round = 0; round < rounds; ++round) {
        std::vector<std::vector<std::pair<QByteArray, QByteArray>>> batches(kProcesses);
        for (int p = 0; p < kProcesses; ++p)
            for (int k = 0; k < perRound; ++k)
                batches[p].emplace_back("\"n-" + QByteArray::number(p) + '-' + QByteArray::number(round) + '-'
                                            + QByteArray::number(k) + '"',
                                        R"({"agent_id":")" + agent(p)
                                            + R"(","tags":{"q":"next"},"ttl_seconds":300})");
        QVERIFY2(race("workflow_claim_next", batches, answers), qPrintable(m_problem));
    }
    constexpr int perProcess = rounds * perRound;

    QMap<QString, int> claimedBy;
    std::set<qint64> fences;
    int empty = 0;
    for (const auto &[id, a] : answers) {
        if (a.text("claimed") == "true") {
            const QString run = a.str("run_id");
            QVERIFY2(!claimedBy.contains(run), qPrintable(run + QStringLiteral(" claimed twice")));
            QVERIFY2(fences.insert(a.integer("fence")).second, "a fence was granted twice");
            claimedBy.insert(run, a.process);
            QCOMPARE(a.text("agent_id"), QByteArray('"' + agent(a.process) + '"'));
            QCOMPARE(a.text("attempt"), QByteArray("1"));
        } else {
            ++empty;
            QCOMPARE(a.text("run_id"), QByteArray("null"));
            QCOMPARE(a.text("agent_id"), QByteArray("null"));
        }
    }
    QMap<int, int> wins;
    for (int p : claimedBy)
        ++wins[p];
    qInfo() << "runs claimed per process:" << wins;
    QStringList claimed = claimedBy.keys();
    claimed.sort();
    runs.sort();
    QCOMPARE(claimed, runs);
    QCOMPARE(empty, kProcesses * perProcess - kItems);
    // Each holder is the one every process reports.
    for (auto it = claimedBy.cbegin(); it != claimedBy.cend(); ++it) {
        auto status = m_servers[0]->ok(QStringLiteral("workflow_status"),
                                       R"({"run_id":)" + quoted(it.key()) + "}");
        QVERIFY2(status, qPrintable(m_servers[0]->problem()));
        CHECK_FIELD(*status, "agent_id", '"' + agent(it.value()) + '"');
    }
    auto left = m_servers[1]->ok(QStringLiteral("workflow_discover"), R"({"claimable":true})");
    QVERIFY2(left, qPrintable(m_servers[1]->problem()));
    QCOMPARE(left->count("runs"), 1);
}

void TestMultiProcess::everyProcessSeesAcknowledgedWrites()
{
    // Writes from every process, interleaved: each acknowledged write is visible to every other
    // process at once, and revisions are unique and increasing store-wide.
    qint64 lastRevision = 0;
    for (int round = 0; round < 10; ++round) {
        const int writer = round % kProcesses;
        const QByteArray key = "seen/" + QByteArray::number(round);
        auto w = m_servers[writer]->ok(QStringLiteral("state_set"), R"({"key":")" + key
                                                                        + R"(","value":{"round":)"
                                                                        + QByteArray::number(round) + "}}");
        QVERIFY2(w, qPrintable(m_servers[writer]->problem()));
        QVERIFY(w->integer("revision") > lastRevision);
        lastRevision = w->integer("revision");
        for (int reader = 0; reader < kProcesses; ++reader) {
            auto r = m_servers[reader]->ok(QStringLiteral("state_get"), R"({"key":")" + key + R"("})");
            QVERIFY2(r, qPrintable(m_servers[reader]->problem()));
            CHECK_FIELD(*r, "value", R"({"round":)" + QByteArray::number(round) + "}");
            QVERIFY(r->integer("revision") >= lastRevision);
        }
    }
    auto s = m_servers[1]->ok(QStringLiteral("session_save"),
                              R"({"session_id":"shared","context":{"by":"p1"}})");
    QVERIFY2(s, qPrintable(m_servers[1]->problem()));
    QVERIFY(s->integer("revision") > lastRevision);
    auto restored = m_servers[2]->ok(QStringLiteral("session_restore"), R"({"session_id":"shared"})");
    QVERIFY2(restored, qPrintable(m_servers[2]->problem()));
    CHECK_FIELD(*restored, "context", R"({"by":"p1"})");
    auto health = m_servers[3]->ok(QStringLiteral("sidecar_health"), "{}");
    QVERIFY2(health, qPrintable(m_servers[3]->problem()));
    CHECK_FIELD(*health, "key_count", "10");
    CHECK_FIELD(*health, "session_count", "1");
    QCOMPARE(health->integer("revision"), s->integer("revision"));
}

QTEST_GUILESS_MAIN(TestMultiProcess)
#include "tst_multiprocess.moc"
