// Several real server processes on ONE SQLite file, racing: every process sends its whole batch
// at once (pipelined) and the suite checks the contract's exclusivity promises across processes:
// one winner per claim, lease and create-if-absent, no run claimed twice by claim_next, fences
// and revisions unique store-wide, and every process sees the others' acknowledged writes.

#include <QtTest>

#include <map>
#include <memory>
#include <set>
#include <vector>

#include "sidecartestclient.h"

using namespace sidecar;
using namespace sidecar::test;

namespace {

constexpr int kProcesses = 4;
constexpr int kItems = 30; // runs, resources, keys per race

QByteArray toolCall(const QByteArray &id, const QByteArray &tool, const QByteArray &args)
{
    return R"({"jsonrpc":"2.0","id":)" + id + R"(,"method":"tools/call","params":{"name":")" + tool
           + R"(","arguments":)" + args + "}}";
}

QByteArray agent(int process)
{
    return "p" + QByteArray::number(process);
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
    void init();
    void cleanup();
    void claimRace();
    void leaseRace();
    void createIfAbsentRace();
    void claimNextRace();
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
};

void TestMultiProcess::init()
{
    QVERIFY2(!qEnvironmentVariableIsEmpty("SIDECAR_BIN"), "SIDECAR_BIN is not set (run through ctest)");
    m_db = freshDbPath(QStringLiteral("shared"));
    m_servers.clear();
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
    std::vector<std::vector<std::pair<QByteArray, QByteArray>>> batches(kProcesses);
    for (int p = 0; p < kProcesses; ++p) {
        for (int k = 0; k < kItems; ++k) {
            const int i = (k + p * 11) % kItems;
            batches[p].emplace_back("\"l-" + QByteArray::number(p) + '-' + QByteArray::number(i) + '"',
                                    R"({"resource_id":"res-)" + QByteArray::number(i) + R"(","holder_id":")"
                                        + agent(p) + R"(","ttl_seconds":300})");
        }
    }
    std::map<QByteArray, Answer> answers;
    QVERIFY2(race("lease_acquire", batches, answers), qPrintable(m_problem));

    std::set<qint64> fences;
    for (int i = 0; i < kItems; ++i) {
        int winner = -1;
        for (int p = 0; p < kProcesses; ++p) {
            const Answer &a = answers.at("\"l-" + QByteArray::number(p) + '-' + QByteArray::number(i) + '"');
            if (a.text("acquired") == "true") {
                QVERIFY2(winner < 0, qPrintable(QStringLiteral("res-%1 granted twice").arg(i)));
                winner = p;
                QVERIFY2(fences.insert(a.integer("fence")).second, "a fence was granted twice");
                QCOMPARE(a.text("holder"), QByteArray('"' + agent(p) + '"'));
            }
        }
        QVERIFY2(winner >= 0, qPrintable(QStringLiteral("res-%1 granted to nobody").arg(i)));
        for (int p = 0; p < kProcesses; ++p) {
            if (p == winner)
                continue;
            const Answer &a = answers.at("\"l-" + QByteArray::number(p) + '-' + QByteArray::number(i) + '"');
            QCOMPARE(a.text("holder"), QByteArray('"' + agent(winner) + '"'));
            QCOMPARE(a.text("expires_at"), QByteArray("null"));
            QCOMPARE(a.str("reason"), QStringLiteral("Held by '%1'").arg(QString::fromUtf8(agent(winner))));
            QVERIFY(!a.sc().find("fence"));
        }
    }
    QCOMPARE(int(fences.size()), kItems);
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
    int empty = 0;
    for (const auto &[id, a] : answers) {
        if (a.text("claimed") == "true") {
            const QString run = a.str("run_id");
            QVERIFY2(!claimedBy.contains(run), qPrintable(run + QStringLiteral(" claimed twice")));
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
