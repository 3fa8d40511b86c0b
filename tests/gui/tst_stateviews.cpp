// The Workflows, Leases, Sessions and History tabs against a real server over Streamable HTTP: the
// views read through a McpClient (HttpClientTransport) while another MCP session (McpHttpClient)
// plays the agents that change state. A run is created, claimed and checkpointed step by step and
// the timeline grows with the right agents and fence; a short lease counts down to "lapsed" and
// goes; a saved session shows its context and follows a new save; history shows every kind of
// change, filters by kind and key, tails live, pages back, and diffs a key's update line by line;
// a paused view applies nothing until it is unpaused; no view exposes an action that changes
// state. The line diff and the tags filter syntax are checked on their own.
//
// Deadlines are generous (20 s per step) and nothing asserts speed.

#include <QtTest>

#include <QAbstractButton>
#include <QAction>
#include <QComboBox>
#include <QLabel>
#include <QLineEdit>
#include <QPlainTextEdit>
#include <QRegularExpression>
#include <QTableView>
#include <QTextEdit>

#include <memory>

#include "client/clienttransport.h"
#include "client/mcpclient.h"
#include "client/sidecarclient.h"
#include "historymodel.h"
#include "historyview.h"
#include "httpserverprocess.h"
#include "jsonviewer.h"
#include "leasemodel.h"
#include "leasesview.h"
#include "linediff.h"
#include "protocol/json.h"
#include "sessionmodel.h"
#include "sessionsview.h"
#include "steptimelinemodel.h"
#include "testutil.h"
#include "valuediffmodel.h"
#include "workflowrunmodel.h"
#include "workflowsview.h"

using namespace sidecar;
using namespace sidecar::client;
using namespace sidecar::inspector;
using namespace sidecar::test;

namespace {

constexpr int kStepMs = 20000;

// A string or number field of a compact JSON object, as text ("" when absent).
QString field(const QByteArray &object, std::string_view name)
{
    auto doc = json::parse(object);
    const json::Value *v = doc && doc->root().isObject() ? doc->root().find(name) : nullptr;
    if (!v)
        return {};
    return v->isString() ? v->toQString() : QString::fromUtf8(v->compact());
}

QString cell(const QAbstractItemModel *model, int row, int column)
{
    return model->index(row, column).data().toString();
}

} // namespace

class TestStateViews : public QObject
{
    Q_OBJECT
private Q_SLOTS:
    void initTestCase();
    void cleanupTestCase();

    void lineDiff();
    void tagsSyntax();
    void workflowTimelineGrows();
    void workflowFilters();
    void leaseCountsDownAndGoes();
    void sessionShowsItsContext();
    void historyShowsFiltersAndDiffs();
    void historyPagesBack();
    void pausedViewCatchesUp();
    void readOnlyExposesNoMutation();

private:
    // Calls a tool as the "other agent"; the structuredContent as compact JSON (empty on failure,
    // with the reason in m_lastError).
    QByteArray agent(const QString &tool, const QByteArray &arguments);
    template<class View>
    void connectView(View &view)
    {
        view.resize(1200, 800);
        view.show();
        view.setClient(m_client.get());
    }

    HttpServerProcess m_server;
    std::unique_ptr<McpClient> m_mcp;
    std::unique_ptr<SidecarClient> m_client;
    std::unique_ptr<McpHttpClient> m_agent;
    QString m_lastError;
};

void TestStateViews::initTestCase()
{
    QVERIFY(!qEnvironmentVariable("SIDECAR_BIN").isEmpty());
    QVERIFY2(m_server.start(), qPrintable(m_server.errorString()));
    const QUrl url(QStringLiteral("http://127.0.0.1:%1/mcp").arg(m_server.port()));
    m_mcp = std::make_unique<McpClient>(std::make_unique<HttpClientTransport>(url));
    m_mcp->setClientInfo(QStringLiteral("tst_stateviews"), QStringLiteral("1"));
    m_mcp->connectToServer();
    QVERIFY2(waitUntil([this] { return m_mcp->isReady(); }, kStepMs), qPrintable(m_mcp->lastError()));
    m_client = std::make_unique<SidecarClient>(*m_mcp);
    m_agent = std::make_unique<McpHttpClient>(m_server.port());
    QVERIFY2(m_agent->initialize(), qPrintable(m_agent->errorString()));
}

void TestStateViews::cleanupTestCase()
{
    m_client.reset();
    if (m_mcp)
        m_mcp->disconnectFromServer();
    m_mcp.reset();
    m_server.terminate();
    m_server.waitForExit();
}

QByteArray TestStateViews::agent(const QString &tool, const QByteArray &arguments)
{
    auto answer = m_agent->call(tool, arguments);
    if (!answer) {
        m_lastError = m_agent->errorString();
        return {};
    }
    const json::Value *result = answer->root().find("result");
    const json::Value *content = result ? result->find("structuredContent") : nullptr;
    if (!content) {
        m_lastError = QString::fromUtf8(answer->root().compact());
        return {};
    }
    return content->compact();
}

// ---------------------------------------------------------------- pure parts

void TestStateViews::lineDiff()
{
    const QStringList before{QStringLiteral("{"), QStringLiteral("  \"a\": 1,"), QStringLiteral("  \"b\": 2"),
                             QStringLiteral("}")};
    const QStringList after{QStringLiteral("{"), QStringLiteral("  \"a\": 1,"), QStringLiteral("  \"b\": 3,"),
                            QStringLiteral("  \"c\": 4"), QStringLiteral("}")};
    const QList<LineEdit> edits = diffLines(before, after);
    int same = 0;
    int removed = 0;
    int added = 0;
    for (const LineEdit &e : edits) {
        same += e.op == LineEdit::Op::Same;
        removed += e.op == LineEdit::Op::Removed;
        added += e.op == LineEdit::Op::Added;
    }
    QCOMPARE(same, 3);
    QCOMPARE(removed, 1);
    QCOMPARE(added, 2);
    const QList<SideBySideRow> rows = sideBySide(edits);
    QCOMPARE(rows.size(), 5);
    QCOMPARE(rows[2].kind, SideBySideRow::Kind::Changed);
    QCOMPARE(before[rows[2].oldIndex], QStringLiteral("  \"b\": 2"));
    QCOMPARE(after[rows[2].newIndex], QStringLiteral("  \"b\": 3,"));
    QCOMPARE(rows[3].kind, SideBySideRow::Kind::Added);
    QCOMPARE(after[rows[3].newIndex], QStringLiteral("  \"c\": 4"));

    // Every line of each side appears once, in order, also past the table's bound.
    QStringList big1;
    QStringList big2;
    for (int i = 0; i < 300; ++i) {
        big1 << QString::number(i);
        big2 << QString::number(i % 7 == 0 ? -i : i);
    }
    for (qint64 cells : {qint64(4'000'000), qint64(10)}) {
        const QList<LineEdit> bigEdits = diffLines(big1, big2, cells);
        int oldNext = 0;
        int newNext = 0;
        for (const LineEdit &e : bigEdits) {
            if (e.oldIndex >= 0)
                QCOMPARE(e.oldIndex, oldNext++);
            if (e.newIndex >= 0)
                QCOMPARE(e.newIndex, newNext++);
            if (e.op == LineEdit::Op::Same)
                QCOMPARE(big1[e.oldIndex], big2[e.newIndex]);
        }
        QCOMPARE(oldNext, 300);
        QCOMPARE(newNext, 300);
    }

    // The diff model pretty-prints compact JSON and pairs the changed member.
    ValueDiffModel model;
    model.setValues(QByteArrayLiteral(R"({"a":1,"b":2})"), QByteArrayLiteral(R"({"a":1,"b":3})"));
    QCOMPARE(model.addedCount(), 1);
    QCOMPARE(model.removedCount(), 1);
    bool found = false;
    for (int row = 0; row < model.rowCount(); ++row) {
        if (model.kindAt(row) == SideBySideRow::Kind::Changed) {
            QCOMPARE(model.oldTextAt(row).trimmed(), QStringLiteral("\"b\": 2"));
            QCOMPARE(model.newTextAt(row).trimmed(), QStringLiteral("\"b\": 3"));
            QVERIFY(model.index(row, ValueDiffModel::NewTextColumn).data(Qt::BackgroundRole).isValid());
            found = true;
        }
    }
    QVERIFY(found);
}

void TestStateViews::tagsSyntax()
{
    auto tags = WorkflowsView::parseTags(QStringLiteral(" team = data, env=prod ,, empty= "));
    QVERIFY(tags);
    QCOMPARE(tags->size(), 3);
    QCOMPARE(tags->at(0), qMakePair(QStringLiteral("team"), QStringLiteral("data")));
    QCOMPARE(tags->at(1), qMakePair(QStringLiteral("env"), QStringLiteral("prod")));
    QCOMPARE(tags->at(2), qMakePair(QStringLiteral("empty"), QString()));
    QVERIFY(WorkflowsView::parseTags(QString())->isEmpty());
    QString error;
    QVERIFY(!WorkflowsView::parseTags(QStringLiteral("team"), &error));
    QVERIFY(!error.isEmpty());
    QVERIFY(!WorkflowsView::parseTags(QStringLiteral("=x")));
    QVERIFY(!WorkflowsView::parseTags(QStringLiteral("a=1, a=2")));
}

// ---------------------------------------------------------------- Workflows

void TestStateViews::workflowTimelineGrows()
{
    WorkflowsView view;
    connectView(view);

    const QByteArray input = R"({"rows":12345678901234567890,"z":1,"a":[true,null]})";
    const QByteArray created = agent(QStringLiteral("workflow_create"),
                                     R"({"name":"timeline-etl","tags":{"team":"data"},"input":)" + input
                                         + "}");
    QVERIFY2(!created.isEmpty(), qPrintable(m_lastError));
    const QString runId = field(created, "run_id");
    QVERIFY(!runId.isEmpty());

    WorkflowRunModel *runs = view.runModel();
    QTRY_VERIFY_WITH_TIMEOUT(runs->rowOfKey(runId) >= 0, kStepMs);
    QCOMPARE(cell(runs, runs->rowOfKey(runId), WorkflowRunModel::StatusColumn), QStringLiteral("created"));
    // Newest first: the run just created is on top.
    QCOMPARE(runs->rowOfKey(runId), 0);

    view.selectRun(runId);
    QCOMPARE(view.selectedRunId(), runId);
    QTRY_VERIFY_WITH_TIMEOUT(view.selectedRun() != nullptr, kStepMs);
    auto *inputViewer = view.findChild<JsonViewer *>(QStringLiteral("workflowInputViewer"));
    QVERIFY(inputViewer);
    QCOMPARE(inputViewer->json(), input); // exact text: big number, key order
    auto *holder = view.findChild<QLabel *>(QStringLiteral("workflowClaimHolder"));
    auto *fenceLabel = view.findChild<QLabel *>(QStringLiteral("workflowFence"));
    auto *countdown = view.findChild<QLabel *>(QStringLiteral("workflowClaimCountdown"));
    QVERIFY(holder && fenceLabel && countdown);

    const QByteArray claimed = agent(QStringLiteral("workflow_claim"),
                                     R"({"run_id":")" + runId.toUtf8()
                                         + R"(","agent_id":"agent-a","ttl_seconds":120})");
    QVERIFY2(!claimed.isEmpty(), qPrintable(m_lastError));
    QCOMPARE(field(claimed, "claimed"), QStringLiteral("true"));
    const QString fence = field(claimed, "fence");
    QVERIFY(!fence.isEmpty());

    QTRY_COMPARE_WITH_TIMEOUT(holder->text(), QStringLiteral("agent-a"), kStepMs);
    QTRY_COMPARE_WITH_TIMEOUT(fenceLabel->text(), fence, kStepMs);
    static const QRegularExpression countdownShape(QStringLiteral("^\\d+( m \\d\\d s|\\.\\d s)$"));
    QTRY_VERIFY_WITH_TIMEOUT(countdownShape.match(countdown->text()).hasMatch(), kStepMs);

    StepTimelineModel *steps = view.stepModel();
    QCOMPARE(steps->rowCount(), 0);
    for (int step = 0; step < 3; ++step) {
        const QByteArray output = R"({"step":)" + QByteArray::number(step) + R"(,"rows":[1,2,3]})";
        const QByteArray checkpoint = agent(QStringLiteral("workflow_checkpoint"),
                                            R"({"run_id":")" + runId.toUtf8() + R"(","step":)"
                                                + QByteArray::number(step) + R"(,"output":)" + output
                                                + R"(,"agent_id":"agent-a","fence":)" + fence.toUtf8() + "}");
        QVERIFY2(!checkpoint.isEmpty(), qPrintable(m_lastError));
        QCOMPARE(field(checkpoint, "ok"), QStringLiteral("true"));
        QTRY_COMPARE_WITH_TIMEOUT(steps->rowCount(), step + 1, kStepMs);
        QCOMPARE(cell(steps, step, StepTimelineModel::StepColumn), QString::number(step));
        QCOMPARE(cell(steps, step, StepTimelineModel::AgentColumn), QStringLiteral("agent-a"));
        QCOMPARE(cell(steps, step, StepTimelineModel::FenceColumn), fence);
        QVERIFY(!cell(steps, step, StepTimelineModel::WrittenAtColumn).isEmpty());
        QCOMPARE(steps->index(step, 0).data(StepTimelineModel::OutputJsonRole).toByteArray(), output);
    }

    // The list follows too: agent, fence, last step, status.
    QTRY_COMPARE_WITH_TIMEOUT(cell(runs, runs->rowOfKey(runId), WorkflowRunModel::LastStepColumn),
                              QStringLiteral("2"), kStepMs);
    const int row = runs->rowOfKey(runId);
    QCOMPARE(cell(runs, row, WorkflowRunModel::AgentColumn), QStringLiteral("agent-a"));
    QCOMPARE(cell(runs, row, WorkflowRunModel::FenceColumn), fence);
    QCOMPARE(cell(runs, row, WorkflowRunModel::StatusColumn), QStringLiteral("running"));
    QVERIFY(countdownShape.match(cell(runs, row, WorkflowRunModel::ClaimExpiresColumn)).hasMatch());

    // A step picked in the timeline shows its output in the viewer.
    auto *stepsTable = view.findChild<QTableView *>(QStringLiteral("workflowStepsTable"));
    auto *stepViewer = view.findChild<JsonViewer *>(QStringLiteral("workflowStepOutputViewer"));
    QVERIFY(stepsTable && stepViewer);
    stepsTable->setCurrentIndex(steps->index(1, 0));
    QCOMPARE(stepViewer->json(), QByteArrayLiteral(R"({"step":1,"rows":[1,2,3]})"));

    // Completing shows the result; the claim countdown ends.
    const QByteArray completed = agent(
        QStringLiteral("workflow_complete"),
        R"({"run_id":")" + runId.toUtf8()
            + R"(","agent_id":"agent-a","status":"done","result":{"total":3},"fence":)" + fence.toUtf8()
            + "}");
    QVERIFY2(!completed.isEmpty(), qPrintable(m_lastError));
    QCOMPARE(field(completed, "ok"), QStringLiteral("true"));
    auto *resultViewer = view.findChild<JsonViewer *>(QStringLiteral("workflowResultViewer"));
    QVERIFY(resultViewer);
    QTRY_COMPARE_WITH_TIMEOUT(resultViewer->json(), QByteArrayLiteral(R"({"total":3})"), kStepMs);
    QTRY_COMPARE_WITH_TIMEOUT(countdown->text(), QStringLiteral("—"), kStepMs);
    QTRY_COMPARE_WITH_TIMEOUT(cell(runs, runs->rowOfKey(runId), WorkflowRunModel::StatusColumn),
                              QStringLiteral("done"), kStepMs);
    QCOMPARE(stepViewer->json(), QByteArrayLiteral(R"({"step":1,"rows":[1,2,3]})")); // still the picked step
}

void TestStateViews::workflowFilters()
{
    const QByteArray a = agent(QStringLiteral("workflow_create"),
                               R"({"name":"filter-a","tags":{"env":"prod","team":"x"}})");
    const QByteArray b = agent(QStringLiteral("workflow_create"),
                               R"({"name":"filter-b","tags":{"env":"dev"}})");
    QVERIFY2(!a.isEmpty() && !b.isEmpty(), qPrintable(m_lastError));
    const QString runA = field(a, "run_id");
    const QString runB = field(b, "run_id");

    WorkflowsView view;
    connectView(view);
    WorkflowRunModel *runs = view.runModel();
    QTRY_VERIFY_WITH_TIMEOUT(runs->rowOfKey(runA) >= 0 && runs->rowOfKey(runB) >= 0, kStepMs);

    auto *status = view.findChild<QComboBox *>(QStringLiteral("workflowStatusFilter"));
    auto *name = view.findChild<QLineEdit *>(QStringLiteral("workflowNameFilter"));
    auto *tags = view.findChild<QLineEdit *>(QStringLiteral("workflowTagsFilter"));
    QVERIFY(status && name && tags);

    tags->setText(QStringLiteral("env=prod"));
    QTest::keyClick(tags, Qt::Key_Return);
    QTRY_VERIFY_WITH_TIMEOUT(runs->rowOfKey(runB) < 0 && runs->rowOfKey(runA) >= 0, kStepMs);
    QCOMPARE(runs->query().tags.size(), 1);

    tags->setText(QStringLiteral("env=prod, team=y"));
    QTest::keyClick(tags, Qt::Key_Return);
    QTRY_VERIFY_WITH_TIMEOUT(runs->rowOfKey(runA) < 0 && !runs->isLoading(), kStepMs);

    tags->setText(QString());
    QTest::keyClick(tags, Qt::Key_Return);
    name->setText(QStringLiteral("filter-b"));
    QTest::keyClick(name, Qt::Key_Return);
    QTRY_VERIFY_WITH_TIMEOUT(runs->rowOfKey(runB) >= 0 && runs->rowOfKey(runA) < 0, kStepMs);
    for (int row = 0; row < runs->rowCount(); ++row)
        QCOMPARE(cell(runs, row, WorkflowRunModel::NameColumn), QStringLiteral("filter-b"));

    name->setText(QString());
    QTest::keyClick(name, Qt::Key_Return);
    status->setCurrentIndex(status->findData(QStringLiteral("done")));
    QTRY_VERIFY_WITH_TIMEOUT(runs->rowOfKey(runA) < 0 && runs->rowOfKey(runB) < 0 && !runs->isLoading(),
                             kStepMs);
    for (int row = 0; row < runs->rowCount(); ++row)
        QCOMPARE(cell(runs, row, WorkflowRunModel::StatusColumn), QStringLiteral("done"));
    status->setCurrentIndex(status->findData(QStringLiteral("created")));
    QTRY_VERIFY_WITH_TIMEOUT(runs->rowOfKey(runA) >= 0 && runs->rowOfKey(runB) >= 0, kStepMs);

    // A tags text that is not k=v pairs is not applied.
    tags->setText(QStringLiteral("nonsense"));
    QTest::keyClick(tags, Qt::Key_Return);
    QVERIFY(runs->query().tags.isEmpty());
    QVERIFY(runs->rowOfKey(runA) >= 0);
}

// ---------------------------------------------------------------- Leases

void TestStateViews::leaseCountsDownAndGoes()
{
    LeasesView view;
    connectView(view);
    LeaseModel *leases = view.model();

    // Whether the short lease's current grant was ever drawn as lapsed.
    QString fence;
    bool sawLapsed = false;
    connect(leases, &QAbstractItemModel::dataChanged, this,
            [&](const QModelIndex &from, const QModelIndex &to) {
                for (int row = from.row(); row <= to.row(); ++row) {
                    if (leases->index(row, 0).data().toString() == QLatin1String("lease/short")
                        && cell(leases, row, LeaseModel::FenceColumn) == fence
                        && cell(leases, row, LeaseModel::RemainingColumn) == QLatin1String("lapsed"))
                        sawLapsed = true;
                }
            });

    const QByteArray longLease = agent(
        QStringLiteral("lease_acquire"),
        R"({"resource_id":"lease/long","holder_id":"agent-l","ttl_seconds":300})");
    QVERIFY2(!longLease.isEmpty(), qPrintable(m_lastError));
    QTRY_VERIFY_WITH_TIMEOUT(leases->rowOfKey(QStringLiteral("lease/long")) >= 0, kStepMs);

    // A 2 s lease must be on screen before it lapses to be seen counting down: a machine too
    // busy to show it within its life gets another grant (a few at most). Once it is shown the
    // view is paused: reloads wait, the countdown goes on, so "lapsed" is drawn however late the
    // ticks come (unpaused, the server's expiry sweep may remove the row before a late tick).
    bool shown = false;
    for (int grant = 0; grant < 5 && !sawLapsed; ++grant) {
        view.setPaused(false);
        const QByteArray shortLease = agent(
            QStringLiteral("lease_acquire"),
            R"({"resource_id":"lease/short","holder_id":"agent-s","ttl_seconds":2})");
        QVERIFY2(!shortLease.isEmpty(), qPrintable(m_lastError));
        QCOMPARE(field(shortLease, "acquired"), QStringLiteral("true"));
        fence = field(shortLease, "fence");
        sawLapsed = false;
        const double expiresAt = field(shortLease, "expires_at").toDouble();
        const auto isShown = [&] {
            const int row = leases->rowOfKey(QStringLiteral("lease/short"));
            return row >= 0 && cell(leases, row, LeaseModel::FenceColumn) == fence;
        };
        shown = waitUntil(isShown, std::max(0, int((expiresAt - nowEpochSeconds()) * 1000)));
        if (shown) {
            view.setPaused(true);
            const int row = leases->rowOfKey(QStringLiteral("lease/short"));
            QCOMPARE(cell(leases, row, LeaseModel::HolderColumn), QStringLiteral("agent-s"));
            static const QRegularExpression shape(QStringLiteral("^(\\d+\\.\\d s|lapsed)$"));
            QVERIFY(shape.match(cell(leases, row, LeaseModel::RemainingColumn)).hasMatch());
            // A reload already under way when the view paused may still remove the row: then
            // that grant is not counted and another one is taken.
            waitUntil([&] { return sawLapsed || !isShown(); }, kStepMs);
        }
        if (!sawLapsed) // let it lapse on the server before granting again
            QTRY_VERIFY_WITH_TIMEOUT(nowEpochSeconds() > expiresAt + 0.1, kStepMs);
    }
    QVERIFY2(shown, "the short lease never showed before it lapsed");
    // The countdown reached zero: "lapsed", greyed; unpaused, the refresh its lapse asked for
    // removes it.
    QVERIFY2(sawLapsed, "the short lease was never drawn as lapsed");
    {
        const int row = leases->rowOfKey(QStringLiteral("lease/short"));
        QVERIFY(row >= 0);
        QVERIFY(leases->index(row, 0).data(LeaseModel::LapsedRole).toBool());
    }
    view.setPaused(false);
    QTRY_VERIFY_WITH_TIMEOUT(leases->rowOfKey(QStringLiteral("lease/short")) < 0, kStepMs);
    QVERIFY(leases->rowOfKey(QStringLiteral("lease/long")) >= 0);
    const int longRow = leases->rowOfKey(QStringLiteral("lease/long"));
    QCOMPARE(cell(leases, longRow, LeaseModel::HolderColumn), QStringLiteral("agent-l"));
    QVERIFY(!leases->index(longRow, 0).data(LeaseModel::LapsedRole).toBool());
    QVERIFY(cell(leases, longRow, LeaseModel::RemainingColumn).contains(QLatin1String(" m ")));

    // The prefix filter.
    QVERIFY(!agent(QStringLiteral("lease_acquire"),
                   R"({"resource_id":"other/x","holder_id":"agent-o","ttl_seconds":300})")
                 .isEmpty());
    QTRY_VERIFY_WITH_TIMEOUT(leases->rowOfKey(QStringLiteral("other/x")) >= 0, kStepMs);
    auto *prefix = view.findChild<QLineEdit *>(QStringLiteral("leasePrefixFilter"));
    QVERIFY(prefix);
    prefix->setText(QStringLiteral("lease/"));
    QTest::keyClick(prefix, Qt::Key_Return);
    QTRY_VERIFY_WITH_TIMEOUT(leases->rowOfKey(QStringLiteral("other/x")) < 0
                                 && leases->rowOfKey(QStringLiteral("lease/long")) >= 0,
                             kStepMs);

    // Released elsewhere: gone live.
    QVERIFY(!agent(QStringLiteral("lease_release"), R"({"resource_id":"lease/long","holder_id":"agent-l"})")
                 .isEmpty());
    QTRY_VERIFY_WITH_TIMEOUT(leases->rowOfKey(QStringLiteral("lease/long")) < 0, kStepMs);
}

// ---------------------------------------------------------------- Sessions

void TestStateViews::sessionShowsItsContext()
{
    SessionsView view;
    connectView(view);

    const QByteArray context = R"({"turns":[{"role":"user","text":"hi"}],"z":1,"a":2.50})";
    QVERIFY2(!agent(QStringLiteral("session_save"),
                    R"({"session_id":"chat-views","context":)" + context + R"(,"agent_id":"agent-c"})")
                  .isEmpty(),
             qPrintable(m_lastError));
    SessionModel *sessions = view.model();
    QTRY_VERIFY_WITH_TIMEOUT(sessions->rowOfKey(QStringLiteral("chat-views")) >= 0, kStepMs);
    const int row = sessions->rowOfKey(QStringLiteral("chat-views"));
    QVERIFY(!cell(sessions, row, SessionModel::SavedColumn).isEmpty());
    QVERIFY(!cell(sessions, row, SessionModel::UpdatedColumn).isEmpty());

    auto *table = view.findChild<QTableView *>(QStringLiteral("sessionsTable"));
    QVERIFY(table);
    table->setCurrentIndex(sessions->index(row, 0));
    QCOMPARE(view.selectedSessionId(), QStringLiteral("chat-views"));
    auto *viewer = view.findChild<JsonViewer *>(QStringLiteral("sessionContextViewer"));
    QVERIFY(viewer);
    QTRY_COMPARE_WITH_TIMEOUT(viewer->json(), context, kStepMs);

    // Saved again by the agent: the context shown follows.
    const QByteArray newer = R"({"turns":[],"z":2})";
    QVERIFY(!agent(QStringLiteral("session_save"), R"({"session_id":"chat-views","context":)" + newer + "}")
                 .isEmpty());
    QTRY_COMPARE_WITH_TIMEOUT(viewer->json(), newer, kStepMs);

    // Deleted: the list drops it, the detail says so.
    QVERIFY(!agent(QStringLiteral("session_delete"), R"({"session_id":"chat-views"})").isEmpty());
    QTRY_VERIFY_WITH_TIMEOUT(sessions->rowOfKey(QStringLiteral("chat-views")) < 0, kStepMs);
    auto *error = view.findChild<QLabel *>(QStringLiteral("sessionDetailError"));
    QVERIFY(error);
    QTRY_VERIFY_WITH_TIMEOUT(!error->isHidden(), kStepMs);
}

// ---------------------------------------------------------------- History

void TestStateViews::historyShowsFiltersAndDiffs()
{
    HistoryView view;
    connectView(view);
    HistoryModel *history = view.model();
    QTRY_VERIFY_WITH_TIMEOUT(!history->isLoading(), kStepMs);

    // One change of each kind, the key last, twice.
    const QByteArray run = agent(QStringLiteral("workflow_create"), R"({"name":"history-run"})");
    QVERIFY2(!run.isEmpty(), qPrintable(m_lastError));
    const QString runId = field(run, "run_id");
    QVERIFY(!agent(QStringLiteral("lease_acquire"),
                   R"({"resource_id":"hist/lease","holder_id":"h","ttl_seconds":60})")
                 .isEmpty());
    QVERIFY(!agent(QStringLiteral("session_save"), R"({"session_id":"hist-session","context":{"n":1}})")
                 .isEmpty());
    QVERIFY(!agent(QStringLiteral("state_set"),
                   R"({"key":"hist/cfg","value":{"name":"app","limit":2,"tags":["a"]},"agent_id":"writer"})")
                 .isEmpty());
    const QByteArray update = agent(
        QStringLiteral("state_set"),
        R"({"key":"hist/cfg","value":{"name":"app","limit":3,"tags":["a"]},"agent_id":"writer"})");
    QVERIFY2(!update.isEmpty(), qPrintable(m_lastError));
    const qint64 updateRevision = field(update, "revision").toLongLong();
    QVERIFY(updateRevision > 0);

    // The live tail brings them all, newest first.
    QTRY_VERIFY_WITH_TIMEOUT(history->newestRevision() >= updateRevision, kStepMs);
    auto rowOf = [history](const QString &kind, const QString &key) {
        for (int row = 0; row < history->rowCount(); ++row) {
            const client::HistoryEntry &e = history->itemAt(row);
            if (e.kind == kind && e.key == key)
                return row;
        }
        return -1;
    };
    QVERIFY(rowOf(QStringLiteral("workflow"), runId) >= 0);
    QVERIFY(rowOf(QStringLiteral("lease"), QStringLiteral("hist/lease")) >= 0);
    QVERIFY(rowOf(QStringLiteral("session"), QStringLiteral("hist-session")) >= 0);
    QCOMPARE(history->itemAt(0).revision, updateRevision);
    QCOMPARE(cell(history, 0, HistoryModel::KindColumn), QStringLiteral("kv"));
    QCOMPARE(cell(history, 0, HistoryModel::OpColumn), QStringLiteral("set"));
    QCOMPARE(cell(history, 0, HistoryModel::KeyColumn), QStringLiteral("hist/cfg"));
    QCOMPARE(cell(history, 0, HistoryModel::AgentColumn), QStringLiteral("writer"));
    for (int row = 1; row < history->rowCount(); ++row)
        QVERIFY(history->itemAt(row - 1).revision > history->itemAt(row).revision);

    // Filtered by kind.
    auto *kind = view.findChild<QComboBox *>(QStringLiteral("historyKindFilter"));
    QVERIFY(kind);
    kind->setCurrentIndex(kind->findData(QStringLiteral("lease")));
    QTRY_VERIFY_WITH_TIMEOUT(!history->isLoading() && history->rowCount() > 0
                                 && rowOf(QStringLiteral("lease"), QStringLiteral("hist/lease")) >= 0,
                             kStepMs);
    for (int row = 0; row < history->rowCount(); ++row)
        QCOMPARE(cell(history, row, HistoryModel::KindColumn), QStringLiteral("lease"));

    // Filtered by kind and exact key.
    kind->setCurrentIndex(kind->findData(QStringLiteral("kv")));
    auto *mode = view.findChild<QComboBox *>(QStringLiteral("historyMatchMode"));
    auto *key = view.findChild<QLineEdit *>(QStringLiteral("historyKeyFilter"));
    QVERIFY(mode && key);
    mode->setCurrentIndex(1); // exact key
    key->setText(QStringLiteral("hist/cfg"));
    QTest::keyClick(key, Qt::Key_Return);
    QTRY_VERIFY_WITH_TIMEOUT(!history->isLoading() && history->rowCount() == 2, kStepMs);
    for (int row = 0; row < history->rowCount(); ++row)
        QCOMPARE(cell(history, row, HistoryModel::KeyColumn), QStringLiteral("hist/cfg"));

    // The update's diff: the changed line side by side, the rest the same.
    QVERIFY(view.selectRevision(updateRevision));
    QVERIFY(view.selectedEntry());
    QCOMPARE(view.selectedEntry()->revision, updateRevision);
    ValueDiffModel *diff = view.diffModel();
    QCOMPARE(diff->addedCount(), 1);
    QCOMPARE(diff->removedCount(), 1);
    int changedRow = -1;
    for (int row = 0; row < diff->rowCount(); ++row) {
        if (diff->kindAt(row) == SideBySideRow::Kind::Changed)
            changedRow = row;
        else
            QCOMPARE(diff->kindAt(row), SideBySideRow::Kind::Same);
    }
    QVERIFY(changedRow >= 0);
    QCOMPARE(diff->oldTextAt(changedRow).trimmed(), QStringLiteral("\"limit\": 2,"));
    QCOMPARE(diff->newTextAt(changedRow).trimmed(), QStringLiteral("\"limit\": 3,"));
    auto *newViewer = view.findChild<JsonViewer *>(QStringLiteral("historyNewValueViewer"));
    auto *previousViewer = view.findChild<JsonViewer *>(QStringLiteral("historyPreviousValueViewer"));
    QVERIFY(newViewer && previousViewer);
    QCOMPARE(newViewer->json(), QByteArrayLiteral(R"({"name":"app","limit":3,"tags":["a"]})"));
    QCOMPARE(previousViewer->json(), QByteArrayLiteral(R"({"name":"app","limit":2,"tags":["a"]})"));

    // The tail goes on under the filter; the selection stays on its entry.
    QVERIFY(!agent(QStringLiteral("state_set"), R"({"key":"hist/other","value":1})").isEmpty());
    QVERIFY(!agent(QStringLiteral("state_delete"), R"({"key":"hist/cfg"})").isEmpty());
    QTRY_COMPARE_WITH_TIMEOUT(history->rowCount(), 3, kStepMs);
    QCOMPARE(cell(history, 0, HistoryModel::OpColumn), QStringLiteral("delete"));
    QCOMPARE(view.selectedEntry()->revision, updateRevision);
    auto *table = view.findChild<QTableView *>(QStringLiteral("historyTable"));
    QVERIFY(table);
    QCOMPARE(table->currentIndex().row(), 1); // the delete came above it
}

void TestStateViews::historyPagesBack()
{
    const int count = HistoryModel::kPageSize + 20;
    for (int i = 0; i < count; ++i) {
        QVERIFY2(!agent(QStringLiteral("state_set"), R"({"key":"page/)" + QByteArray::number(i)
                                                         + R"(","value":)" + QByteArray::number(i) + "}")
                      .isEmpty(),
                 qPrintable(m_lastError));
    }
    HistoryView view;
    connectView(view);
    auto *key = view.findChild<QLineEdit *>(QStringLiteral("historyKeyFilter"));
    QVERIFY(key);
    key->setText(QStringLiteral("page/"));
    QTest::keyClick(key, Qt::Key_Return);
    HistoryModel *history = view.model();
    QTRY_VERIFY_WITH_TIMEOUT(!history->isLoading() && history->rowCount() == HistoryModel::kPageSize,
                             kStepMs);
    QVERIFY(history->hasMore());
    QVERIFY(history->canFetchMore({}));
    // What the table does when scrolled to the end.
    view.table()->scrollToBottom();
    QTRY_COMPARE_WITH_TIMEOUT(history->rowCount(), count, kStepMs);
    QVERIFY(!history->hasMore());
    QCOMPARE(cell(history, count - 1, HistoryModel::KeyColumn), QStringLiteral("page/0"));
}

// ---------------------------------------------------------------- pause, read-only

void TestStateViews::pausedViewCatchesUp()
{
    SessionsView view;
    connectView(view);
    SessionModel *sessions = view.model();
    QTRY_VERIFY_WITH_TIMEOUT(!sessions->isLoading(), kStepMs);
    view.setPaused(true);
    QVERIFY(!agent(QStringLiteral("session_save"), R"({"session_id":"paused-one","context":{}})").isEmpty());
    // A probe that is not paused sees the change: by then the paused view has had its chance.
    SessionsView probe;
    connectView(probe);
    QTRY_VERIFY_WITH_TIMEOUT(probe.model()->rowOfKey(QStringLiteral("paused-one")) >= 0, kStepMs);
    QTest::qWait(1000);
    QVERIFY(sessions->rowOfKey(QStringLiteral("paused-one")) < 0);
    view.setPaused(false);
    QTRY_VERIFY_WITH_TIMEOUT(sessions->rowOfKey(QStringLiteral("paused-one")) >= 0, kStepMs);
}

void TestStateViews::readOnlyExposesNoMutation()
{
    WorkflowsView workflows;
    LeasesView leases;
    SessionsView sessions;
    HistoryView history;
    const QList<StateView *> views{&workflows, &leases, &sessions, &history};
    static const QRegularExpression mutating(
        QStringLiteral(
            "\\b(delete|remove|set|save|edit|write|release|renew|acquire|claim|complete|create|reset|"
            "heartbeat|checkpoint|import|restore)\\b"),
        QRegularExpression::CaseInsensitiveOption);
    for (StateView *view : views) {
        view->setReadOnly(true);
        connectView(*view);
    }
    // Read-only hides nothing that is shown: the views still load.
    QTRY_VERIFY_WITH_TIMEOUT(history.model()->rowCount() > 0 && workflows.runModel()->rowCount() > 0,
                             kStepMs);
    workflows.selectRun(workflows.runModel()->itemAt(0).runId);
    history.selectRevision(history.model()->itemAt(0).revision);
    for (StateView *view : views) {
        for (QAction *action : view->findChildren<QAction *>()) {
            QVERIFY2(!mutating.match(action->text()).hasMatch(),
                     qPrintable(view->objectName() + QStringLiteral(": action ") + action->text()));
        }
        for (QAbstractButton *button : view->findChildren<QAbstractButton *>()) {
            QVERIFY2(!mutating.match(button->text()).hasMatch(),
                     qPrintable(view->objectName() + QStringLiteral(": button ") + button->text()));
        }
        for (QPlainTextEdit *edit : view->findChildren<QPlainTextEdit *>())
            QVERIFY2(edit->isReadOnly(), qPrintable(view->objectName() + QStringLiteral(": editable text")));
        for (QTextEdit *edit : view->findChildren<QTextEdit *>())
            QVERIFY2(edit->isReadOnly(), qPrintable(view->objectName() + QStringLiteral(": editable text")));
        for (QTableView *table : view->findChildren<QTableView *>()) {
            QCOMPARE(table->editTriggers(), QAbstractItemView::NoEditTriggers);
            QAbstractItemModel *model = table->model();
            for (int row = 0; row < std::min(model->rowCount(), 20); ++row) {
                for (int column = 0; column < model->columnCount(); ++column)
                    QVERIFY(!(model->flags(model->index(row, column)) & Qt::ItemIsEditable));
            }
        }
    }
}

QTEST_MAIN(TestStateViews)
#include "tst_stateviews.moc"
