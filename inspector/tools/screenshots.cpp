// inspector-screenshots: the pictures of the inspector in docs/images, made from a real session.
//
// Starts the sidecar (mcp-state-sidecar --transport http on a free port, a SQLite file in a
// temporary directory), fills it through the client library as a small team of agents would
// (a planner, two researchers, a coder and a reviewer writing keys under team/ and config/,
// creating, claiming, checkpointing and completing workflow runs with tags, holding leases,
// saving sessions), opens the MainWindow on it, shows each tab with a sensible selection and saves
// QWidget::grab() of the window as <out>/inspector-<tab>.png, plus the protocol log
// (inspector-protocol-log.png) and the connection dialog (inspector-connect.png). Not a test and not built by
// default: scripts/screenshots.sh builds it and runs it with QT_QPA_PLATFORM=offscreen.
//
//   inspector-screenshots [--out DIR] [--server PATH]
//
// Its settings go to the temporary directory, never to the user's. The server is stopped by its
// own PID at the end.
//
// Thread: the GUI thread; waits run nested event loops.

#include <QAbstractItemView>
#include <QApplication>
#include <QCommandLineParser>
#include <QDeadlineTimer>
#include <QDir>
#include <QDockWidget>
#include <QElapsedTimer>
#include <QEventLoop>
#include <QFileInfo>
#include <QHeaderView>
#include <QItemSelectionModel>
#include <QLoggingCategory>
#include <QProcess>
#include <QRegularExpression>
#include <QSettings>
#include <QSplitter>
#include <QTabWidget>
#include <QTableView>
#include <QTemporaryDir>
#include <QTimer>
#include <QTreeView>

#include <cstdio>
#include <cstdlib>
#include <functional>
#include <optional>

#include "client/clienttransport.h"
#include "client/mcpclient.h"
#include "connection.h"
#include "connectiondialog.h"
#include "historyview.h"
#include "keysview.h"
#include "leasesview.h"
#include "mainwindow.h"
#include "protocol/json.h"
#include "protocollog.h"
#include "sessionsview.h"
#include "workflowsview.h"

using namespace sidecar;
using client::McpClient;

namespace {

constexpr int kWaitMs = 30000;

[[noreturn]] void die(const QString &message)
{
    std::fprintf(stderr, "inspector-screenshots: %s\n", qPrintable(message));
    std::exit(1);
}

void note(const QString &message)
{
    std::fprintf(stderr, "inspector-screenshots: %s\n", qPrintable(message));
}

// Runs the event loop for `ms` milliseconds.
void settle(int ms)
{
    QEventLoop loop;
    QTimer::singleShot(ms, &loop, &QEventLoop::quit);
    loop.exec();
}

// Runs the event loop until `done()` or the deadline.
bool waitFor(const std::function<bool()> &done, int timeoutMs = kWaitMs)
{
    QDeadlineTimer deadline(timeoutMs);
    while (!done()) {
        if (deadline.hasExpired())
            return false;
        settle(20);
    }
    return true;
}

// The server over HTTP on a free port.
class Server
{
public:
    explicit Server(const QString &program, const QString &dbPath)
    {
        m_process.setProcessChannelMode(QProcess::SeparateChannels);
        m_process.setStandardOutputFile(QProcess::nullDevice());
        m_process.setStandardInputFile(QProcess::nullDevice());
        m_process.start(program, {QStringLiteral("--transport"), QStringLiteral("http"),
                                  QStringLiteral("--host"), QStringLiteral("127.0.0.1"),
                                  QStringLiteral("--port"), QStringLiteral("0"), QStringLiteral("--db-path"),
                                  dbPath, QStringLiteral("--log-level"), QStringLiteral("info")});
        if (!m_process.waitForStarted(10000))
            die(QStringLiteral("%1 did not start: %2").arg(program, m_process.errorString()));
        static const QRegularExpression serving(
            QStringLiteral("serving MCP at (http://127\\.0\\.0\\.1:\\d+/mcp)"));
        QByteArray err;
        QDeadlineTimer deadline(kWaitMs);
        while (!deadline.hasExpired()) {
            m_process.waitForReadyRead(100);
            err += m_process.readAllStandardError();
            if (const QRegularExpressionMatch m = serving.match(QString::fromUtf8(err)); m.hasMatch()) {
                m_url = QUrl(m.captured(1));
                break;
            }
            if (m_process.state() == QProcess::NotRunning)
                die(QStringLiteral("the server exited: %1").arg(QString::fromUtf8(err)));
        }
        if (m_url.isEmpty())
            die(QStringLiteral("the server did not say where it serves: %1").arg(QString::fromUtf8(err)));
        // Keep draining stderr so the server never blocks on a full pipe.
        QObject::connect(&m_process, &QProcess::readyReadStandardError, &m_process,
                         [this] { m_process.readAllStandardError(); });
    }
    ~Server()
    {
        if (m_process.state() != QProcess::NotRunning) {
            m_process.terminate(); // SIGTERM to our own child
            if (!m_process.waitForFinished(10000))
                m_process.kill();
            m_process.waitForFinished(5000);
        }
    }
    QUrl url() const { return m_url; }

private:
    QProcess m_process;
    QUrl m_url;
};

// One agent: an MCP session of its own, calling tools and waiting for each answer.
class Agent
{
public:
    Agent(const QString &name, const QUrl &url)
        : m_name(name), m_client(std::make_unique<client::HttpClientTransport>(url))
    {
        m_client.setClientInfo(name, QStringLiteral("1.0"));
        m_client.connectToServer();
        if (!waitFor([this] { return m_client.isReady(); }))
            die(QStringLiteral("agent %1 could not connect: %2").arg(name, m_client.lastError()));
    }

    QString name() const { return m_name; }

    // Calls a tool and returns its structuredContent; a tool error ends the program.
    json::Document call(const QString &tool, const QByteArray &arguments)
    {
        std::optional<Result<json::Document>> answer;
        m_client.callTool(tool, arguments, [&answer](Result<json::Document> r) { answer = std::move(r); });
        if (!waitFor([&answer] { return answer.has_value(); }))
            die(QStringLiteral("%1: %2 did not answer").arg(m_name, tool));
        if (!*answer)
            die(QStringLiteral("%1: %2 failed: %3").arg(m_name, tool, answer->error().message));
        return std::move(**answer);
    }

    void set(const QString &key, const QByteArray &value, std::optional<double> ttl = {})
    {
        json::Writer w;
        w.beginObject().field("key", key).fieldRaw("value", value).field("agent_id", m_name);
        if (ttl)
            w.field("ttl_seconds", *ttl);
        w.endObject();
        call(QStringLiteral("state_set"), w.take());
    }

    void remove(const QString &key)
    {
        json::Writer w;
        w.beginObject().field("key", key).field("agent_id", m_name).endObject();
        call(QStringLiteral("state_delete"), w.take());
    }

    QString createRun(const QString &name, const QList<QPair<QString, QString>> &tags,
                      const QByteArray &input, std::optional<int> maxAttempts = {})
    {
        json::Writer w;
        w.beginObject().field("name", name);
        w.key("tags").beginObject();
        for (const auto &tag : tags)
            w.field(tag.first.toStdString(), tag.second);
        w.endObject();
        w.fieldRaw("input", input);
        if (maxAttempts)
            w.field("max_attempts", *maxAttempts);
        w.endObject();
        const json::Document doc = call(QStringLiteral("workflow_create"), w.take());
        return doc.root().find("run_id")->toQString();
    }

    void claim(const QString &runId, double ttl = 900)
    {
        json::Writer w;
        w.beginObject()
            .field("run_id", runId)
            .field("agent_id", m_name)
            .field("ttl_seconds", ttl)
            .endObject();
        const json::Document doc = call(QStringLiteral("workflow_claim"), w.take());
        const json::Value *claimed = doc.root().find("claimed");
        if (!claimed || !claimed->toBool())
            die(QStringLiteral("%1 could not claim %2").arg(m_name, runId));
    }

    void checkpoint(const QString &runId, int step, const QByteArray &output)
    {
        json::Writer w;
        w.beginObject()
            .field("run_id", runId)
            .field("step", step)
            .fieldRaw("output", output)
            .field("agent_id", m_name);
        w.endObject();
        call(QStringLiteral("workflow_checkpoint"), w.take());
    }

    void complete(const QString &runId, bool done, const QByteArray &result)
    {
        json::Writer w;
        w.beginObject()
            .field("run_id", runId)
            .field("agent_id", m_name)
            .field("status", done ? "done" : "failed")
            .fieldRaw("result", result)
            .endObject();
        call(QStringLiteral("workflow_complete"), w.take());
    }

    void lease(const QString &resource, double ttl)
    {
        json::Writer w;
        w.beginObject()
            .field("resource_id", resource)
            .field("holder_id", m_name)
            .field("ttl_seconds", ttl)
            .endObject();
        call(QStringLiteral("lease_acquire"), w.take());
    }

    void release(const QString &resource)
    {
        json::Writer w;
        w.beginObject().field("resource_id", resource).field("holder_id", m_name).endObject();
        call(QStringLiteral("lease_release"), w.take());
    }

    void saveSession(const QString &sessionId, const QByteArray &context)
    {
        json::Writer w;
        w.beginObject().field("session_id", sessionId).fieldRaw("context", context).field("agent_id", m_name);
        w.endObject();
        call(QStringLiteral("session_save"), w.take());
    }

private:
    QString m_name;
    McpClient m_client;
};

// What a small team of agents leaves behind after a morning's work on a refactor.
void fill(const QUrl &url)
{
    Agent planner(QStringLiteral("planner"), url);
    Agent researcher1(QStringLiteral("researcher-1"), url);
    Agent researcher2(QStringLiteral("researcher-2"), url);
    Agent coder(QStringLiteral("coder"), url);
    Agent reviewer(QStringLiteral("reviewer"), url);

    planner.set(QStringLiteral("config/model"),
                R"({"provider":"anthropic","name":"claude-sonnet-4","temperature":0.2,"max_tokens":8192})");
    planner.set(QStringLiteral("config/limits"),
                R"({"max_parallel_agents":4,"budget_usd":25.0,"max_tool_calls_per_run":200})");
    planner.set(QStringLiteral("config/feature_flags"),
                R"({"web_search":true,"code_exec":false,"auto_merge":false})");
    planner.set(QStringLiteral("config/repos"),
                R"(["github.com/acme/billing-service","github.com/acme/shared-protos"])");
    planner.set(QStringLiteral("team/goal"),
                R"("Ship the billing-service refactor (invoices v2) by Friday")");
    planner.set(QStringLiteral("team/plan"),
                R"({"owner":"planner","steps":["research pricing models","design invoice schema",)"
                R"("implement","review"],"status":"draft"})");
    planner.set(QStringLiteral("team/plan"),
                R"({"owner":"planner","steps":["research pricing models","design invoice schema",)"
                R"("implement","review","deploy to staging"],"status":"approved","approved_by":"reviewer"})");
    researcher1.set(
        QStringLiteral("team/research/pricing-models"),
        R"({"summary":"Usage-based with monthly caps fits 80% of customers",)"
        R"("sources":["https://stripe.com/docs/billing","internal:pricing-survey-2025"],"confidence":0.82})");
    researcher2.set(QStringLiteral("team/research/competitors"),
                    R"({"compared":["Chargebee","Recurly","Paddle"],"gap":"proration of mid-cycle upgrades",)"
                    R"("notes":"Paddle handles tax; others need a plug-in"})");
    researcher2.set(QStringLiteral("team/research/tax-rules"),
                    R"({"regions":["EU","UK","US-CA"],"vat_reverse_charge":true,"open_questions":2})");
    coder.set(QStringLiteral("team/code/branch"), R"("refactor/invoices-v2")");
    coder.set(QStringLiteral("team/code/open_prs"), R"([412,415])");
    coder.set(QStringLiteral("team/code/test_status"),
              R"({"passed":1184,"failed":3,"skipped":12,"duration_s":312.4})");
    coder.set(QStringLiteral("team/code/test_status"),
              R"({"passed":1187,"failed":0,"skipped":12,"duration_s":305.9})");
    reviewer.set(
        QStringLiteral("team/review/pr-412"),
        R"({"status":"changes_requested","comments":3,"blocking":["missing migration for invoice_lines"]})");
    reviewer.set(QStringLiteral("team/review/pr-412"), R"({"status":"approved","comments":5,"blocking":[]})");
    coder.set(QStringLiteral("team/status/coder"), R"({"state":"busy","task":"implement invoice schema"})",
              600);
    reviewer.set(QStringLiteral("team/status/reviewer"), R"({"state":"idle"})", 600);
    researcher1.set(QStringLiteral("team/status/researcher-1"), R"({"state":"writing summary"})", 300);
    researcher1.set(QStringLiteral("cache/search/usage-based-billing"),
                    R"({"hits":12,"fetched_at":"2026-01-14T09:12:00Z"})", 3600);
    researcher2.set(QStringLiteral("cache/search/proration"),
                    R"({"hits":7,"fetched_at":"2026-01-14T09:20:00Z"})", 3600);
    coder.set(QStringLiteral("scratch/coder/tmp-notes"), R"("try the outbox pattern for invoice events")");
    coder.remove(QStringLiteral("scratch/coder/tmp-notes"));

    // Workflow runs in every state.
    const QString research = planner.createRun(QStringLiteral("research-topic"),
                                               {{QStringLiteral("team"), QStringLiteral("billing")},
                                                {QStringLiteral("priority"), QStringLiteral("high")}},
                                               R"({"topic":"usage-based pricing","depth":"deep"})");
    researcher1.claim(research);
    researcher1.checkpoint(research, 0, R"({"queries":["usage based billing caps","metered billing saas"]})");
    researcher1.checkpoint(research, 1, R"({"sources_read":14,"kept":6})");
    researcher1.checkpoint(research, 2, R"({"draft":"Usage-based with monthly caps fits most customers."})");
    researcher1.complete(research, true,
                         R"({"summary_key":"team/research/pricing-models","confidence":0.82})");

    const QString competitors = planner.createRun(QStringLiteral("research-topic"),
                                                  {{QStringLiteral("team"), QStringLiteral("billing")},
                                                   {QStringLiteral("priority"), QStringLiteral("normal")}},
                                                  R"({"topic":"competitor proration","depth":"quick"})");
    researcher2.claim(competitors);
    researcher2.checkpoint(competitors, 0,
                           R"({"queries":["chargebee proration","recurly mid-cycle upgrade"]})");
    researcher2.complete(competitors, true, R"({"summary_key":"team/research/competitors"})");

    const QString implement = planner.createRun(
        QStringLiteral("implement-feature"),
        {{QStringLiteral("team"), QStringLiteral("billing")},
         {QStringLiteral("repo"), QStringLiteral("billing-service")}},
        R"({"feature":"invoices v2","branch":"refactor/invoices-v2"})", 3);
    coder.claim(implement, 1800);
    coder.checkpoint(implement, 0, R"({"design":"invoice_lines table, money as integer cents"})");
    coder.checkpoint(implement, 1, R"({"files_changed":23,"migration":"0042_invoice_lines.sql"})");
    coder.checkpoint(implement, 2, R"({"tests":{"passed":1187,"failed":0}})");

    const QString review = planner.createRun(
        QStringLiteral("code-review"),
        {{QStringLiteral("team"), QStringLiteral("billing")}, {QStringLiteral("pr"), QStringLiteral("415")}},
        R"({"pr":415,"checklist":["migrations","money types","tests"]})");
    reviewer.claim(review, 1200);
    reviewer.checkpoint(review, 0, R"({"files_reviewed":9,"comments":2})");

    const QString deploy = planner.createRun(QStringLiteral("deploy-staging"),
                                             {{QStringLiteral("team"), QStringLiteral("billing")},
                                              {QStringLiteral("env"), QStringLiteral("staging")}},
                                             R"({"service":"billing-service","version":"2.0.0-rc1"})", 2);
    planner.claim(deploy, 600);
    planner.checkpoint(deploy, 0, R"({"image":"billing-service:2.0.0-rc1","pushed":true})");
    planner.complete(deploy, false, R"({"error":"migration 0042 timed out on staging","retry":true})");

    planner.createRun(QStringLiteral("summarize-findings"),
                      {{QStringLiteral("team"), QStringLiteral("billing")},
                       {QStringLiteral("priority"), QStringLiteral("low")}},
                      R"({"inputs":["team/research/pricing-models","team/research/competitors"]})");
    planner.createRun(QStringLiteral("write-release-notes"),
                      {{QStringLiteral("team"), QStringLiteral("docs")}}, R"({"version":"2.0.0"})");

    // Leases held right now, one given back.
    coder.lease(QStringLiteral("repo/billing-service"), 1800);
    planner.lease(QStringLiteral("db/staging-migrations"), 600);
    researcher2.lease(QStringLiteral("gpu/slot-1"), 240);
    reviewer.lease(QStringLiteral("ci/runner-3"), 900);
    researcher1.lease(QStringLiteral("browser/pool-2"), 120);
    researcher1.release(QStringLiteral("browser/pool-2"));

    // Sessions each agent saved to pick up where it left off.
    planner.saveSession(
        QStringLiteral("planner/main"),
        R"({"goal":"invoices v2 by Friday","next":["unblock deploy-staging","summarize findings"],"turns":42})");
    researcher1.saveSession(
        QStringLiteral("researcher-1/pricing"),
        R"({"open_tabs":3,"notes":"caps at 3x median usage","last_query":"metered billing saas"})");
    coder.saveSession(
        QStringLiteral("coder/ide"),
        R"({"branch":"refactor/invoices-v2","open_files":["billing/invoice.py","migrations/0042_invoice_lines.sql"],)"
        R"("cursor":{"file":"billing/invoice.py","line":118}})");
    reviewer.saveSession(QStringLiteral("reviewer/pr-415"),
                         R"({"pr":415,"pending_comments":2,"verdict":null})");
}

// The tab's item view to give a selection to, when the view has no API of its own for it.
void selectFirstRow(QAbstractItemView *view, int row = 0)
{
    if (!view || !view->model() || view->model()->rowCount() <= row)
        return;
    view->setCurrentIndex(view->model()->index(row, 0));
    view->selectionModel()->select(view->model()->index(row, 0),
                                   QItemSelectionModel::ClearAndSelect | QItemSelectionModel::Rows);
}

void save(QWidget *window, const QString &path)
{
    settle(300);
    if (!window->grab().save(path))
        die(QStringLiteral("cannot write %1").arg(path));
    note(QStringLiteral("wrote %1").arg(path));
}

} // namespace

int main(int argc, char *argv[])
{
    QApplication app(argc, argv);
    QApplication::setApplicationName(QStringLiteral("mcp-state-inspector"));
    QApplication::setOrganizationName(QStringLiteral("mcp-state-sidecar"));
    QApplication::setWindowIcon(inspector::MainWindow::applicationIcon());
    QLoggingCategory::setFilterRules(QStringLiteral("sidecar.*.debug=false"));

    QCommandLineParser parser;
    parser.setApplicationDescription(QStringLiteral("Makes the inspector's screenshots in docs/images."));
    parser.addHelpOption();
    const QCommandLineOption outOption(QStringLiteral("out"), QStringLiteral("Directory for the PNG files."),
                                       QStringLiteral("DIR"),
                                       QStringLiteral(SIDECAR_SOURCE_DIR "/docs/images"));
    const QCommandLineOption serverOption(QStringLiteral("server"), QStringLiteral("The sidecar binary."),
                                          QStringLiteral("PATH"), QStringLiteral(SIDECAR_SERVER_BIN));
    parser.addOptions({outOption, serverOption});
    parser.process(app);

    QTemporaryDir temp;
    if (!temp.isValid())
        die(QStringLiteral("no temporary directory"));
    QSettings::setPath(QSettings::NativeFormat, QSettings::UserScope,
                       temp.path()); // never the user's settings
    const QString out = parser.value(outOption);
    if (!QDir().mkpath(out))
        die(QStringLiteral("cannot create %1").arg(out));

    Server server(parser.value(serverOption), QDir(temp.path()).filePath(QStringLiteral("state.db")));
    note(QStringLiteral("server at %1").arg(server.url().toString()));
    fill(server.url());

    inspector::MainWindow window;
    window.resize(1280, 800);
    window.show();
    window.connectTo(inspector::ConnectionSpec::http(server.url()));
    if (!waitFor([&window] {
            return window.connectionState() == inspector::MainWindow::ConnectionState::Connected
                   && !window.backend().isEmpty();
        }))
        die(QStringLiteral("the window did not connect: %1").arg(window.connectionStatus()));
    settle(1500);

    QTabWidget *tabs = window.tabs();
    const auto show = [&](int index) {
        tabs->setCurrentIndex(index);
        settle(800);
    };

    // Keys: the tree with team/ open and a value that has a history of versions.
    show(0);
    if (auto *keys = qobject_cast<inspector::KeysView *>(window.view(0))) {
        // Open team/ and team/research/ (their children load as they open), then pick the plan.
        QTreeView *tree = keys->treeView();
        QModelIndex parent;
        for (const QString &folder : {QStringLiteral("team/"), QStringLiteral("research/")}) {
            QModelIndex found;
            waitFor(
                [&] {
                    const QModelIndexList hits = tree->model()->match(
                        tree->model()->index(0, 0, parent), Qt::DisplayRole, folder, 1, Qt::MatchEndsWith);
                    found = hits.isEmpty() ? QModelIndex() : hits.first();
                    return found.isValid();
                },
                10000);
            if (!found.isValid())
                break;
            tree->expand(found);
            parent = found;
            settle(500);
        }
        keys->selectKey(QStringLiteral("team/plan"));
        waitFor([keys] { return keys->shownEntry().has_value(); }, 10000);
    }
    save(&window, QDir(out).filePath(QStringLiteral("inspector-keys.png")));

    // Workflows: the run being implemented, claimed, with its step timeline.
    show(1);
    if (auto *workflows = qobject_cast<inspector::WorkflowsView *>(window.view(1))) {
        const QString runId = [&]() -> QString {
            auto *model = workflows->runsTable()->model();
            for (int row = 0; row < model->rowCount(); ++row) {
                for (int column = 0; column < model->columnCount(); ++column) {
                    if (model->index(row, column).data().toString() == QStringLiteral("implement-feature")) {
                        for (int c = 0; c < model->columnCount(); ++c) {
                            const QString text = model->index(row, c).data().toString();
                            if (text.startsWith(QStringLiteral("wf-")))
                                return text;
                        }
                    }
                }
            }
            return {};
        }();
        if (!runId.isEmpty()) {
            workflows->selectRun(runId);
            waitFor([workflows] { return workflows->selectedRun() != nullptr; }, 10000);
        } else {
            selectFirstRow(workflows->runsTable());
        }
        settle(500);
        // The newest step's output.
        for (QTableView *steps : workflows->findChildren<QTableView *>()) {
            QAbstractItemModel *model = steps->model();
            if (steps != workflows->runsTable() && model && model->rowCount() > 0
                && model->headerData(0, Qt::Horizontal).toString() == QStringLiteral("Step"))
                selectFirstRow(steps, model->rowCount() - 1);
        }
    }
    save(&window, QDir(out).filePath(QStringLiteral("inspector-workflows.png")));

    // Leases: the live leases with their countdowns.
    show(2);
    if (auto *leases = qobject_cast<inspector::LeasesView *>(window.view(2)))
        selectFirstRow(leases->table());
    save(&window, QDir(out).filePath(QStringLiteral("inspector-leases.png")));

    // Sessions: the coder's saved IDE context.
    show(3);
    if (auto *sessions = qobject_cast<inspector::SessionsView *>(window.view(3))) {
        sessions->selectSession(QStringLiteral("coder/ide"));
        waitFor([sessions] { return sessions->selectedSession() != nullptr; }, 10000);
    }
    save(&window, QDir(out).filePath(QStringLiteral("inspector-sessions.png")));

    // History: an update of a value, shown as a diff against the previous one.
    show(4);
    if (auto *history = qobject_cast<inspector::HistoryView *>(window.view(4))) {
        QAbstractItemModel *model = history->table()->model();
        int chosen = -1;
        for (int row = 0; row < model->rowCount() && chosen < 0; ++row) {
            for (int column = 0; column < model->columnCount(); ++column) {
                if (model->index(row, column).data().toString() == QStringLiteral("team/review/pr-412")) {
                    chosen = row;
                    break;
                }
            }
        }
        selectFirstRow(history->table(), qMax(0, chosen));
        settle(800);
    }
    save(&window, QDir(out).filePath(QStringLiteral("inspector-history.png")));

    // The protocol log under the Workflows tab, a tool call selected; a taller window makes room.
    show(1);
    window.resize(1280, 1000);
    window.protocolLogDock()->show();
    window.resizeDocks({window.protocolLogDock()}, {400}, Qt::Vertical);
    window.connection()->refreshHealth();
    settle(1200);
    inspector::ProtocolLog *log = window.protocolLog();
    QTableView *table = log->table();
    int chosen = -1;
    for (int row = table->model()->rowCount() - 1; row >= 0 && chosen < 0; --row) {
        const QString method =
            table->model()->index(row, inspector::ProtocolLogModel::MethodColumn).data().toString();
        const QString kind =
            table->model()->index(row, inspector::ProtocolLogModel::KindColumn).data().toString();
        if (method.startsWith(QStringLiteral("tools/call workflow_resume"))
            && kind == QStringLiteral("response"))
            chosen = row;
    }
    if (chosen >= 0) {
        table->selectRow(chosen);
        table->scrollTo(table->model()->index(chosen, 0), QAbstractItemView::PositionAtCenter);
    }
    save(&window, QDir(out).filePath(QStringLiteral("inspector-protocol-log.png")));

    // The connection dialog, on its HTTP page.
    window.connectAction()->trigger();
    if (auto *dialog = window.findChild<inspector::ConnectionDialog *>()) {
        waitFor([dialog] { return dialog->isVisible(); }, 5000);
        save(dialog, QDir(out).filePath(QStringLiteral("inspector-connect.png")));
        dialog->reject();
    }

    window.disconnectFromServer();
    return 0;
}
