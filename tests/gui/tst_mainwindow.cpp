// The inspector's main window: what a user first sees (title, tabs, menus, toolbar, status bar,
// that it paints), the connection dialog and the launch plans behind it, the protocol log (its
// model, filter, bound and JSON-lines export), and the window connected to a REAL sidecar: over
// HTTP (status, health, protocol log, pause and read-only reaching the tabs, reconnection after the
// server restarts on the same port) and over stdio (a command line, and a database file).
//
// Settings go to QStandardPaths' test location and are cleared before each test.

#include <QAction>
#include <QDialogButtonBox>
#include <QDir>
#include <QDockWidget>
#include <QFile>
#include <QImage>
#include <QLabel>
#include <QLineEdit>
#include <QMenu>
#include <QMenuBar>
#include <QPixmap>
#include <QPushButton>
#include <QSettings>
#include <QSignalSpy>
#include <QStandardPaths>
#include <QStatusBar>
#include <QTabWidget>
#include <QTableView>
#include <QTest>
#include <QToolBar>
#include <QTreeView>

#include "client/sidecarclient.h"
#include "connection.h"
#include "connectiondialog.h"
#include "historyview.h"
#include "httpserverprocess.h"
#include "keysview.h"
#include "leasesview.h"
#include "mainwindow.h"
#include "protocol/json.h"
#include "protocollog.h"
#include "sessionsview.h"
#include "stateview.h"
#include "testutil.h"
#include "workflowsview.h"

using sidecar::client::McpClient;
using sidecar::client::SidecarClient;
using sidecar::inspector::Connection;
using sidecar::inspector::ConnectionDialog;
using sidecar::inspector::ConnectionSpec;
using sidecar::inspector::HistoryView;
using sidecar::inspector::KeysView;
using sidecar::inspector::LeasesView;
using sidecar::inspector::MainWindow;
using sidecar::inspector::MessageSummary;
using sidecar::inspector::ProtocolLog;
using sidecar::inspector::ProtocolLogFilter;
using sidecar::inspector::ProtocolLogModel;
using sidecar::inspector::SessionsView;
using sidecar::inspector::StateView;
using sidecar::inspector::WorkflowsView;
using sidecar::test::HttpServerProcess;
using sidecar::test::TempDir;

namespace {

constexpr int kWaitMs = 30000;

// A tab that records what the window tells it, and proves the client works by reading a key.
class RecordingView : public StateView
{
public:
    using StateView::StateView;

    void setClient(SidecarClient *c) override
    {
        client = c;
        ++clientCalls;
        if (!c)
            ++losses;
        if (c) {
            c->stateGet(QStringLiteral("probe"), [this](sidecar::Result<sidecar::client::StateEntry> entry) {
                if (entry)
                    ++reads;
            });
        }
    }
    void setPaused(bool p) override { paused = p; }
    void setReadOnly(bool r) override { readOnly = r; }
    void reload() override { ++reloads; }

    SidecarClient *client = nullptr;
    int clientCalls = 0;
    int losses = 0;
    int reads = 0;
    int reloads = 0;
    bool paused = false;
    bool readOnly = false;
};

QString serverBin()
{
    return qEnvironmentVariable("SIDECAR_BIN");
}

QStringList menuActionTexts(QMenu *menu)
{
    QStringList out;
    for (QAction *action : menu->actions()) {
        if (!action->isSeparator())
            out << action->text().section(u'\t', 0, 0); // without a shortcut shown after a tab
    }
    return out;
}

// Rows of the protocol log whose Method column is `label`, in one direction.
int logRows(const ProtocolLog *log, const QString &label, McpClient::Direction direction)
{
    int n = 0;
    const ProtocolLogModel *model = log->model();
    for (int row = 0; row < model->rowCount(); ++row) {
        const auto &e = model->entry(row);
        if (e.label == label && e.direction == direction)
            ++n;
    }
    return n;
}

QByteArray message(const char *text)
{
    return QByteArray(text);
}

} // namespace

class TestMainWindow : public QObject
{
    Q_OBJECT
private Q_SLOTS:
    void initTestCase();
    void init();

    void titleAndStatus();
    void tabs();
    void menus();
    void shortcuts();
    void connectOpensTheDialog();
    void connectionDialogSpecs();
    void launchPlans();
    void specsRoundTripThroughSettings();
    void summarizeMessages();
    void protocolLogModelIsBounded();
    void protocolLogFilterAndExport();
    void settingsAreRestored();
    void paints();

    void httpConnection();
    void pauseAndReadOnlyReachTheTabs();
    void reconnectsAfterServerRestart();
    void recentConnections();
    void stdioCommandConnection();
    void databaseConnection();
    void launchFailureIsShown();
};

void TestMainWindow::initTestCase()
{
    QStandardPaths::setTestModeEnabled(true);
    QCoreApplication::setOrganizationName(QStringLiteral("mcp-state-sidecar-tests"));
    QCoreApplication::setApplicationName(QStringLiteral("tst_mainwindow"));
    QVERIFY2(QSettings().fileName().contains(QStringLiteral("qttest")), qPrintable(QSettings().fileName()));
}

void TestMainWindow::init()
{
    QSettings settings;
    settings.clear();
    settings.sync();
}

void TestMainWindow::titleAndStatus()
{
    MainWindow window;
    window.show();
    QVERIFY(QTest::qWaitForWindowExposed(&window));
    QCOMPARE(window.windowTitle(), QStringLiteral("MCP State Inspector"));
    QCOMPARE(window.connectionStatus(), QStringLiteral("Not connected"));
    QCOMPARE(window.connectionState(), MainWindow::ConnectionState::NotConnected);
    auto *label = window.statusBar()->findChild<QLabel *>(QStringLiteral("connectionStatus"));
    QVERIFY(label);
    QVERIFY(label->isVisible());
    QCOMPARE(label->text(), QStringLiteral("Not connected"));
    QVERIFY(window.backend().isEmpty());
    QVERIFY(!window.revision());
    QVERIFY(!window.disconnectAction()->isEnabled());
    QCOMPARE(window.size(), QSize(1200, 800));
    QVERIFY(!window.windowIcon().isNull());
}

void TestMainWindow::tabs()
{
    MainWindow window;
    window.show();
    QTabWidget *tabs = window.tabs();
    QVERIFY(tabs);
    QCOMPARE(window.centralWidget(), tabs);
    const QStringList expected = {QStringLiteral("Keys"), QStringLiteral("Workflows"),
                                  QStringLiteral("Leases"), QStringLiteral("Sessions"),
                                  QStringLiteral("History")};
    QStringList names;
    for (int i = 0; i < tabs->count(); ++i)
        names << tabs->tabText(i);
    QCOMPARE(names, expected);
    QCOMPARE(tabs->currentIndex(), 0);
    // Each tab's page is its view.
    QVERIFY(qobject_cast<KeysView *>(window.view(0)));
    QVERIFY(qobject_cast<WorkflowsView *>(window.view(1)));
    QVERIFY(qobject_cast<LeasesView *>(window.view(2)));
    QVERIFY(qobject_cast<SessionsView *>(window.view(3)));
    QVERIFY(qobject_cast<HistoryView *>(window.view(4)));
    QCOMPARE(window.views().size(), 5);
    for (int i = 0; i < tabs->count(); ++i)
        QCOMPARE(tabs->widget(i), static_cast<QWidget *>(window.view(i)));
}

void TestMainWindow::menus()
{
    MainWindow window;
    QStringList menuTitles;
    QStringList actionTexts;
    const auto menus = window.menuBar()->findChildren<QMenu *>(Qt::FindDirectChildrenOnly);
    for (QMenu *menu : menus) {
        menuTitles << menu->title();
        actionTexts << menuActionTexts(menu);
    }
    QCOMPARE(menuTitles,
             (QStringList{QStringLiteral("&File"), QStringLiteral("&View"), QStringLiteral("&Help")}));
    for (const char *text : {"&Connect…", "&Recent", "&Disconnect", "&Quit", "Re&load", "&Pause",
                             "&Read-only", "Protocol &log", "&Go to", "&About"})
        QVERIFY2(actionTexts.contains(QString::fromUtf8(text)), qPrintable(actionTexts.join(u", ")));
    QVERIFY(window.recentMenu());
    // An empty Recent menu says so.
    QMetaObject::invokeMethod(window.recentMenu(), "aboutToShow");
    QCOMPARE(menuActionTexts(window.recentMenu()), QStringList{QStringLiteral("No recent connections")});
    // The toolbar carries the everyday actions.
    auto *toolBar = window.findChild<QToolBar *>(QStringLiteral("mainToolBar"));
    QVERIFY(toolBar);
    for (QAction *action : {window.connectAction(), window.pauseAction(), window.reloadAction(),
                            window.readOnlyAction(), window.protocolLogAction()})
        QVERIFY2(toolBar->actions().contains(action), qPrintable(action->text()));
}

void TestMainWindow::shortcuts()
{
    MainWindow window;
    window.show();
    QVERIFY(QTest::qWaitForWindowExposed(&window));
    QCOMPARE(window.connectAction()->shortcut(), QKeySequence(Qt::CTRL | Qt::Key_O));
    QCOMPARE(window.pauseAction()->shortcut(), QKeySequence(Qt::CTRL | Qt::Key_P));
    QCOMPARE(window.protocolLogAction()->shortcut(), QKeySequence(Qt::CTRL | Qt::Key_L));

    window.activateWindow();
    QVERIFY(QTest::qWaitForWindowActive(&window));
    for (int i = 4; i >= 0; --i) {
        QTest::keyClick(&window, Qt::Key(Qt::Key_1 + i), Qt::ControlModifier);
        QCOMPARE(window.tabs()->currentIndex(), i);
    }
    QVERIFY(!window.protocolLogDock()->isVisible());
    QTest::keyClick(&window, Qt::Key_L, Qt::ControlModifier);
    QTRY_VERIFY(window.protocolLogDock()->isVisible());
    QCOMPARE(window.dockWidgetArea(window.protocolLogDock()), Qt::BottomDockWidgetArea);
    QTest::keyClick(&window, Qt::Key_L, Qt::ControlModifier);
    QTRY_VERIFY(!window.protocolLogDock()->isVisible());
    QTest::keyClick(&window, Qt::Key_P, Qt::ControlModifier);
    QVERIFY(window.isPaused());
    QTest::keyClick(&window, Qt::Key_P, Qt::ControlModifier);
    QVERIFY(!window.isPaused());

    // F5 reloads the current tab: the window's Reload, or the view's own when it binds the key
    // (both at once would cancel each other out).
    QSignalSpy windowReload(window.reloadAction(), &QAction::triggered);
    auto *recorder = new RecordingView;
    window.setView(3, recorder);
    window.tabs()->setCurrentIndex(3);
    QCOMPARE(window.reloadAction()->shortcut(), QKeySequence(Qt::Key_F5));
    QTest::keyClick(&window, Qt::Key_F5);
    QCOMPARE(windowReload.count(), 1);
    QCOMPARE(recorder->reloads, 1);
    window.reloadAction()->trigger(); // also from the menu or the toolbar
    QCOMPARE(recorder->reloads, 2);
}

void TestMainWindow::connectOpensTheDialog()
{
    MainWindow window;
    window.show();
    QSignalSpy requested(&window, &MainWindow::connectRequested);
    QVERIFY(window.connectAction());
    window.connectAction()->trigger();
    QCOMPARE(requested.count(), 1);
    auto *dialog = window.findChild<ConnectionDialog *>(QStringLiteral("connectionDialog"));
    QVERIFY(dialog);
    QTRY_VERIFY(dialog->isVisible());
    // The default: HTTP at the daemon's default address, no token.
    const ConnectionSpec spec = dialog->spec();
    QCOMPARE(spec.kind, ConnectionSpec::Kind::Http);
    QCOMPARE(spec.url, QUrl(QStringLiteral("http://127.0.0.1:8000/mcp")));
    QVERIFY(spec.token.isEmpty());
    QVERIFY(!dialog->rememberToken());
    dialog->reject();
    QVERIFY(!dialog->isVisible());
    QCOMPARE(window.connectionStatus(), QStringLiteral("Not connected"));
}

void TestMainWindow::connectionDialogSpecs()
{
    ConnectionDialog dialog;
    QPushButton *ok = dialog.findChild<QDialogButtonBox *>()->button(QDialogButtonBox::Ok);
    auto *url = dialog.findChild<QLineEdit *>(QStringLiteral("connectionUrl"));
    auto *token = dialog.findChild<QLineEdit *>(QStringLiteral("connectionToken"));
    QVERIFY(url && token);
    url->setText(QStringLiteral("127.0.0.1:9123/mcp"));
    token->setText(QStringLiteral("s3cret"));
    QVERIFY(ok->isEnabled());
    QCOMPARE(dialog.spec().url, QUrl(QStringLiteral("http://127.0.0.1:9123/mcp")));
    QCOMPARE(dialog.spec().token, QByteArray("s3cret"));
    url->setText(QStringLiteral("ftp://example.org/x"));
    QVERIFY(!ok->isEnabled());

    // A command: the program must exist.
    dialog.setSpec(ConnectionSpec::stdioCommand(QStringLiteral("DB_PATH=/tmp/x.db ") + serverBin()
                                                + QStringLiteral(" --log-level warning")));
    QCOMPARE(dialog.spec().kind, ConnectionSpec::Kind::Command);
    QVERIFY(ok->isEnabled());
    dialog.setSpec(ConnectionSpec::stdioCommand(QStringLiteral("/nonexistent/mcp-server --x")));
    QVERIFY(!ok->isEnabled());

    // A database file, with the server binary given.
    TempDir dir;
    dialog.setSpec(ConnectionSpec::database(dir.file(QStringLiteral("state.db")), serverBin()));
    QCOMPARE(dialog.spec().kind, ConnectionSpec::Kind::Database);
    QCOMPARE(dialog.spec().databasePath, dir.file(QStringLiteral("state.db")));
    QVERIFY(ok->isEnabled());
    auto *server = dialog.findChild<QLabel *>(QStringLiteral("connectionServer"));
    QVERIFY(server);
    QCOMPARE(server->text(), QDir::toNativeSeparators(serverBin()));
    dialog.setSpec(ConnectionSpec::database(dir.file(QStringLiteral("missing-dir/state.db")), serverBin()));
    QVERIFY(!ok->isEnabled());
}

void TestMainWindow::launchPlans()
{
    auto plan = sidecar::inspector::launchPlan(
        ConnectionSpec::stdioCommand(QStringLiteral("DB_PATH=\"/tmp/a b.db\" SIDECAR_LOG_LEVEL=debug ")
                                     + serverBin() + QStringLiteral(" --log-level \"warning\"")));
    QVERIFY2(plan, qPrintable(sidecar::test::describe(plan)));
    QCOMPARE(plan->program, serverBin());
    QCOMPARE(plan->arguments, (QStringList{QStringLiteral("--log-level"), QStringLiteral("warning")}));
    QCOMPARE(plan->environment.value(QStringLiteral("DB_PATH")), QStringLiteral("/tmp/a b.db"));
    QCOMPARE(plan->environment.value(QStringLiteral("SIDECAR_LOG_LEVEL")), QStringLiteral("debug"));

    QVERIFY(!sidecar::inspector::launchPlan(ConnectionSpec::stdioCommand(QStringLiteral("A=1 B=2"))));
    QVERIFY(!sidecar::inspector::launchPlan(ConnectionSpec::stdioCommand(QString())));

    TempDir dir;
    const QString db = dir.file(QStringLiteral("state.db"));
    plan = sidecar::inspector::launchPlan(ConnectionSpec::database(db, serverBin()));
    QVERIFY2(plan, qPrintable(sidecar::test::describe(plan)));
    QCOMPARE(plan->program, serverBin());
    QCOMPARE(plan->environment.value(QStringLiteral("DB_PATH")), db);
    QVERIFY(plan->arguments.contains(QStringLiteral("stdio")));
    QVERIFY(plan->arguments.contains(QStringLiteral("sqlite")));
    QVERIFY(!sidecar::inspector::launchPlan(ConnectionSpec::database(QString(), serverBin())));
    QVERIFY(!sidecar::inspector::launchPlan(ConnectionSpec::database(dir.path(), serverBin())));
}

void TestMainWindow::specsRoundTripThroughSettings()
{
    const ConnectionSpec http = ConnectionSpec::http(QUrl(QStringLiteral("http://h:1/mcp")), "tok");
    ConnectionSpec back = ConnectionSpec::fromVariantMap(http.toVariantMap(false));
    QVERIFY(back.sameTarget(http));
    QVERIFY(back.token.isEmpty());
    QVERIFY(http.toVariantMap(false).value(QStringLiteral("hasToken")).toBool());
    back = ConnectionSpec::fromVariantMap(http.toVariantMap(true));
    QCOMPARE(back.token, QByteArray("tok"));

    const ConnectionSpec command = ConnectionSpec::stdioCommand(QStringLiteral("srv --a 1"));
    QVERIFY(ConnectionSpec::fromVariantMap(command.toVariantMap(false)).sameTarget(command));
    const ConnectionSpec database = ConnectionSpec::database(QStringLiteral("/tmp/x.db"),
                                                             QStringLiteral("/bin/srv"));
    back = ConnectionSpec::fromVariantMap(database.toVariantMap(false));
    QVERIFY(back.sameTarget(database));
    QCOMPARE(back.serverProgram, QStringLiteral("/bin/srv"));
    QVERIFY(!back.sameTarget(command));
}

void TestMainWindow::summarizeMessages()
{
    using Kind = MessageSummary::Kind;
    MessageSummary s = sidecar::inspector::summarizeMessage(message(
        R"({"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"state_get","arguments":{}}})"));
    QCOMPARE(s.kind, Kind::Request);
    QCOMPARE(s.method, QStringLiteral("tools/call"));
    QCOMPARE(s.id, QStringLiteral("7"));
    QCOMPARE(s.target, QStringLiteral("state_get"));
    s = sidecar::inspector::summarizeMessage(message(
        R"({"jsonrpc":"2.0","method":"notifications/resources/updated","params":{"uri":"state://kv"}})"));
    QCOMPARE(s.kind, Kind::Notification);
    QCOMPARE(s.target, QStringLiteral("state://kv"));
    s = sidecar::inspector::summarizeMessage(message(R"({"jsonrpc":"2.0","id":"a","result":{}})"));
    QCOMPARE(s.kind, Kind::Response);
    QCOMPARE(s.id, QStringLiteral("\"a\""));
    s = sidecar::inspector::summarizeMessage(
        message(R"({"jsonrpc":"2.0","id":3,"error":{"code":-32601,"message":"Method not found"}})"));
    QCOMPARE(s.kind, Kind::Error);
    QCOMPARE(s.error, QStringLiteral("Method not found (-32601)"));
    s = sidecar::inspector::summarizeMessage(
        message(R"({"jsonrpc":"2.0","id":4,"result":{"isError":true,"content":[{"type":"text",)"
                R"("text":"{\"error\":{\"code\":\"not_found\",\"message\":\"no such run\"}}"}]}})"));
    QCOMPARE(s.kind, Kind::Error);
    QCOMPARE(s.error, QStringLiteral("not_found: no such run"));
    QCOMPARE(sidecar::inspector::summarizeMessage("not json").kind, Kind::Invalid);
}

void TestMainWindow::protocolLogModelIsBounded()
{
    ProtocolLogModel model;
    model.setCapacity(100);
    for (int i = 1; i <= 250; ++i) {
        model.append(McpClient::Direction::Sent,
                     QStringLiteral(R"({"jsonrpc":"2.0","id":%1,"method":"ping"})").arg(i).toUtf8(), -1);
    }
    QCOMPARE(model.rowCount(), 100);
    QCOMPARE(model.entry(0).summary.id, QStringLiteral("151")); // the oldest went first
    QCOMPARE(model.entry(99).summary.id, QStringLiteral("250"));
    // Answers are labelled with their request's method.
    model.append(McpClient::Direction::Received, R"({"jsonrpc":"2.0","id":250,"result":{}})", 1500);
    QCOMPARE(model.entry(100 - 1).label, QStringLiteral("ping"));
    QCOMPARE(model.data(model.index(99, ProtocolLogModel::RoundTripColumn)).toString(),
             QStringLiteral("1.50 ms"));
    // A byte bound too.
    model.setMaxBytes(1000);
    QVERIFY(model.bytes() <= 1000);
    QVERIFY(model.rowCount() >= 1);
    model.clear();
    QCOMPARE(model.rowCount(), 0);
    QCOMPARE(model.bytes(), 0);
}

void TestMainWindow::protocolLogFilterAndExport()
{
    ProtocolLog log;
    log.record(McpClient::Direction::Sent,
               R"({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"state_get",)"
               R"("arguments":{"key":"team/alpha"}}})",
               -1);
    log.record(McpClient::Direction::Received, R"({"jsonrpc":"2.0","id":1,"result":{"found":false}})", 2345);
    log.record(
        McpClient::Direction::Received,
        R"({"jsonrpc":"2.0","method":"notifications/resources/updated","params":{"uri":"state://kv"}})", -1);
    log.record(McpClient::Direction::Sent, R"({"jsonrpc":"2.0","id":2,"method":"ping"})", -1);
    QCOMPARE(log.model()->rowCount(), 4);
    QCOMPARE(log.model()->entry(1).label, QStringLiteral("tools/call state_get"));

    ProtocolLogFilter *filter = log.filter();
    filter->setShow(ProtocolLogFilter::Show::Sent);
    QCOMPARE(filter->rowCount(), 2);
    filter->setShow(ProtocolLogFilter::Show::Received);
    QCOMPARE(filter->rowCount(), 2);
    filter->setShow(ProtocolLogFilter::Show::Notifications);
    QCOMPARE(filter->rowCount(), 1);
    filter->setShow(ProtocolLogFilter::Show::All);
    filter->setText(QStringLiteral("TEAM/ALPHA")); // inside the message, any case
    QCOMPARE(filter->rowCount(), 1);
    filter->setText(QStringLiteral("state_get")); // the method column: request and answer
    QCOMPARE(filter->rowCount(), 2);

    // Selecting a row shows the whole message, indented, key order as sent.
    log.table()->selectRow(0);
    QTRY_VERIFY(log.detailText().contains(QStringLiteral("\"key\": \"team/alpha\"")));
    QVERIFY(log.detailText().indexOf(QStringLiteral("\"name\""))
            < log.detailText().indexOf(QStringLiteral("\"arguments\"")));

    TempDir dir;
    const QString path = dir.file(QStringLiteral("log.jsonl"));
    QString error;
    QVERIFY2(log.exportJsonLines(path, &error), qPrintable(error));
    QFile file(path);
    QVERIFY(file.open(QIODevice::ReadOnly));
    const QList<QByteArray> lines = file.readAll().split('\n');
    QCOMPARE(lines.size(), 3); // two rows shown and the empty text after the last newline
    QVERIFY(lines.last().isEmpty());
    const auto first = sidecar::json::parse(lines.at(0));
    QVERIFY(first);
    QCOMPARE(first->root().find("direction")->toQString(), QStringLiteral("sent"));
    QVERIFY(first->root().find("round_trip_us")->isNull());
    QVERIFY(!first->root().find("time")->toQString().isEmpty());
    QCOMPARE(first->root().find("message")->find("params")->find("name")->toQString(),
             QStringLiteral("state_get"));
    const auto second = sidecar::json::parse(lines.at(1));
    QVERIFY(second);
    QCOMPARE(second->root().find("direction")->toQString(), QStringLiteral("received"));
    QCOMPARE(second->root().find("round_trip_us")->toInt64().value_or(-1), 2345);
}

void TestMainWindow::settingsAreRestored()
{
    {
        MainWindow window;
        window.show();
        QVERIFY(QTest::qWaitForWindowExposed(&window));
        window.tabs()->setCurrentIndex(3);
        window.protocolLogDock()->show();
        window.resize(900, 700);
        QVERIFY(window.close()); // saves
    }
    MainWindow again;
    again.show();
    QVERIFY(QTest::qWaitForWindowExposed(&again));
    QCOMPARE(again.tabs()->currentIndex(), 3);
    QVERIFY(again.protocolLogDock()->isVisible());
    QCOMPARE(again.size(), QSize(900, 700));
}

void TestMainWindow::paints()
{
    MainWindow window;
    window.show();
    QVERIFY(QTest::qWaitForWindowExposed(&window));
    const QPixmap pixmap = window.grab();
    QVERIFY(!pixmap.isNull());
    QCOMPARE(pixmap.size(), window.size() * pixmap.devicePixelRatio());
    const QImage image = pixmap.toImage();
    QVERIFY(!image.isNull());
    // Something was drawn: a window of one colour would mean nothing painted.
    const QRgb first = image.pixel(0, 0);
    bool varied = false;
    for (int y = 0; y < image.height() && !varied; y += 7) {
        for (int x = 0; x < image.width() && !varied; x += 7)
            varied = image.pixel(x, y) != first;
    }
    QVERIFY(varied);
    // A screenshot for humans when asked for: SIDECAR_GUI_SCREENSHOT=/path/to/file.png
    const QByteArray screenshot = qgetenv("SIDECAR_GUI_SCREENSHOT");
    if (!screenshot.isEmpty())
        QVERIFY(image.save(QString::fromLocal8Bit(screenshot)));
}

void TestMainWindow::httpConnection()
{
    HttpServerProcess server;
    QVERIFY2(server.start(), qPrintable(server.errorString()));
    MainWindow window;
    window.show();
    const QUrl url(QStringLiteral("http://127.0.0.1:%1/mcp").arg(server.port()));
    QSignalSpy states(&window, &MainWindow::connectionStateChanged);
    window.connectTo(ConnectionSpec::http(url));
    QTRY_COMPARE_WITH_TIMEOUT(window.connectionState(), MainWindow::ConnectionState::Connected, kWaitMs);
    QCOMPARE(window.connectionStatus(), QStringLiteral("Connected"));
    QVERIFY(states.count() >= 2);
    QCOMPARE(states.first().first().value<MainWindow::ConnectionState>(),
             MainWindow::ConnectionState::Connecting);
    QVERIFY(window.windowTitle().contains(url.toString()));
    QVERIFY(window.disconnectAction()->isEnabled());

    // The health line: backend, revision, counts.
    QTRY_COMPARE_WITH_TIMEOUT(window.backend(), QStringLiteral("sqlite"), kWaitMs);
    QVERIFY(window.revision().has_value());
    auto *health = window.statusBar()->findChild<QLabel *>(QStringLiteral("healthStatus"));
    QVERIFY(health);
    QVERIFY2(health->text().startsWith(QStringLiteral("ok · sqlite")), qPrintable(health->text()));
    auto *endpoint = window.statusBar()->findChild<QLabel *>(QStringLiteral("endpointStatus"));
    QCOMPARE(endpoint->text(), url.toString());
    auto *latency = window.statusBar()->findChild<QLabel *>(QStringLiteral("latencyStatus"));
    QTRY_VERIFY_WITH_TIMEOUT(latency->text().endsWith(QStringLiteral(" ms")), kWaitMs);

    // The revision follows another agent's write (health is asked again every few seconds).
    const qint64 before = *window.revision();
    sidecar::test::McpHttpClient agent(server.port());
    QVERIFY2(agent.initialize(), qPrintable(agent.errorString()));
    QVERIFY(agent.call(QStringLiteral("state_set"), R"({"key":"team/alpha","value":{"n":1}})"));
    QTRY_VERIFY_WITH_TIMEOUT(window.revision().value_or(0) > before, kWaitMs);

    // The protocol log saw the whole conversation.
    ProtocolLog *log = window.protocolLog();
    QVERIFY(logRows(log, QStringLiteral("initialize"), McpClient::Direction::Sent) >= 1);
    QVERIFY(logRows(log, QStringLiteral("initialize"), McpClient::Direction::Received) >= 1);
    QVERIFY(logRows(log, QStringLiteral("notifications/initialized"), McpClient::Direction::Sent) >= 1);
    QTRY_VERIFY_WITH_TIMEOUT(
        logRows(log, QStringLiteral("tools/call sidecar_health"), McpClient::Direction::Received) >= 1,
        kWaitMs);
    bool timed = false;
    for (int row = 0; row < log->model()->rowCount(); ++row)
        timed = timed || log->model()->entry(row).roundTripUs >= 0;
    QVERIFY(timed);

    TempDir dir;
    const QString path = dir.file(QStringLiteral("traffic.jsonl"));
    QString error;
    QVERIFY2(log->exportJsonLines(path, &error), qPrintable(error));
    QFile file(path);
    QVERIFY(file.open(QIODevice::ReadOnly));
    int lines = 0;
    bool sawInitialize = false;
    while (!file.atEnd()) {
        const QByteArray line = file.readLine().trimmed();
        if (line.isEmpty())
            continue;
        ++lines;
        const auto doc = sidecar::json::parse(line);
        QVERIFY2(doc, line.constData());
        const auto &root = doc->root();
        QVERIFY(root.find("time") && root.find("time")->isString());
        QVERIFY(root.find("direction") && root.find("direction")->isString());
        QVERIFY(root.find("round_trip_us"));
        const auto *msg = root.find("message");
        QVERIFY(msg && msg->isObject());
        QCOMPARE(msg->find("jsonrpc")->toQString(), QStringLiteral("2.0"));
        if (const auto *method = msg->find("method");
            method && method->toQString() == QStringLiteral("initialize"))
            sawInitialize = true;
    }
    QCOMPARE(lines, log->filter()->rowCount());
    QVERIFY(sawInitialize);

    // Disconnecting on purpose says so, without an error.
    window.disconnectFromServer();
    QCOMPARE(window.connectionState(), MainWindow::ConnectionState::Disconnected);
    QCOMPARE(window.connectionStatus(), QStringLiteral("Disconnected"));
}

void TestMainWindow::pauseAndReadOnlyReachTheTabs()
{
    HttpServerProcess server;
    QVERIFY2(server.start(), qPrintable(server.errorString()));
    MainWindow window;
    window.show();
    // Every tab's view hears it; a recording view stands in for one to see what it is told.
    auto *recorder = new RecordingView;
    window.setView(2, recorder);
    QCOMPARE(window.tabs()->widget(2), recorder);
    QCOMPARE(window.tabs()->tabText(2), QStringLiteral("Leases"));
    QCOMPARE(window.view(2), recorder);

    window.pauseAction()->trigger();
    QVERIFY(window.isPaused());
    QVERIFY(recorder->paused);
    window.pauseAction()->trigger();
    QVERIFY(!recorder->paused);
    window.readOnlyAction()->trigger();
    QVERIFY(window.isReadOnly());
    QVERIFY(recorder->readOnly);
    auto *mode = window.statusBar()->findChild<QLabel *>(QStringLiteral("modeStatus"));
    QCOMPARE(mode->text(), QStringLiteral("READ-ONLY"));
    window.setPaused(true);
    QCOMPARE(mode->text(), QStringLiteral("PAUSED · READ-ONLY"));
    window.setReadOnly(false);
    window.setPaused(false);
    QVERIFY(!recorder->readOnly);

    // A view added later takes the current modes.
    window.setReadOnly(true);
    auto *late = new RecordingView;
    window.setView(4, late);
    QVERIFY(late->readOnly);
    QVERIFY(!late->paused);

    // Connected: the views get the client (and it works); F5 reloads the current view.
    window.connectTo(
        ConnectionSpec::http(QUrl(QStringLiteral("http://127.0.0.1:%1/mcp").arg(server.port()))));
    QTRY_COMPARE_WITH_TIMEOUT(window.connectionState(), MainWindow::ConnectionState::Connected, kWaitMs);
    QVERIFY(recorder->client);
    QCOMPARE(recorder->client, window.connection()->client());
    QVERIFY(late->client);
    QTRY_VERIFY_WITH_TIMEOUT(recorder->reads >= 1, kWaitMs);
    window.tabs()->setCurrentIndex(2);
    window.reloadAction()->trigger();
    QCOMPARE(recorder->reloads, 1);
    QCOMPARE(late->reloads, 0);
    // The Keys tab binds F5 itself: the key reaches exactly one of the two reloads (both bound at
    // once would cancel each other out), and the menu still shows it.
    window.activateWindow();
    QVERIFY(QTest::qWaitForWindowActive(&window));
    window.tabs()->setCurrentIndex(0);
    QVERIFY(window.reloadAction()->text().endsWith(QStringLiteral("F5")));
    QSignalSpy windowReload(window.reloadAction(), &QAction::triggered);
    QSignalSpy keysReload(qobject_cast<KeysView *>(window.view(0))->reloadAction(), &QAction::triggered);
    auto *tree = qobject_cast<KeysView *>(window.view(0))->treeView();
    tree->setFocus();
    QTest::keyClick(tree, Qt::Key_F5);
    QCOMPARE(keysReload.count() + windowReload.count(), 1);
    // A real view hears the same: the Keys tab says what it was told.
    auto *keys = qobject_cast<KeysView *>(window.view(0));
    QVERIFY(keys);
    QCOMPARE(keys->client(), window.connection()->client());
    QVERIFY(keys->isReadOnly());
    QVERIFY(!keys->isPaused());
    window.setPaused(true);
    QVERIFY(keys->isPaused());
    QVERIFY(recorder->paused);
    window.setPaused(false);
    window.setReadOnly(false);
    QVERIFY(!keys->isReadOnly());

    window.disconnectFromServer();
    QVERIFY(!recorder->client);
    QVERIFY(!late->client);
    QVERIFY(!keys->client());
}

void TestMainWindow::reconnectsAfterServerRestart()
{
    TempDir dir;
    const QString db = dir.file(QStringLiteral("state.db"));
    auto server = std::make_unique<HttpServerProcess>();
    QVERIFY2(server->start({}, db), qPrintable(server->errorString()));
    const quint16 port = server->port();

    MainWindow window;
    window.show();
    auto *recorder = new RecordingView;
    window.setView(0, recorder);
    window.connectTo(ConnectionSpec::http(QUrl(QStringLiteral("http://127.0.0.1:%1/mcp").arg(port))));
    QTRY_COMPARE_WITH_TIMEOUT(window.connectionState(), MainWindow::ConnectionState::Connected, kWaitMs);
    QTRY_COMPARE_WITH_TIMEOUT(window.backend(), QStringLiteral("sqlite"), kWaitMs);
    QVERIFY(recorder->client);
    QTRY_COMPARE_WITH_TIMEOUT(recorder->reads, 1, kWaitMs);

    server->terminate();
    QVERIFY(server->waitForExit());
    server.reset();
    // The loss is seen (by the event stream or the next health call) and the views lose the client.
    QTRY_COMPARE_WITH_TIMEOUT(window.connectionState(), MainWindow::ConnectionState::Reconnecting, kWaitMs);
    QVERIFY2(window.connectionStatus().startsWith(QStringLiteral("Reconnecting…")),
             qPrintable(window.connectionStatus()));
    QVERIFY(!recorder->client);
    QVERIFY(recorder->losses >= 1);

    // A new server on the same port and file: the window comes back by itself.
    server = std::make_unique<HttpServerProcess>();
    QVERIFY2(server->start({QStringLiteral("--port"), QString::number(port)}, db),
             qPrintable(server->errorString()));
    QCOMPARE(server->port(), port);
    QTRY_COMPARE_WITH_TIMEOUT(window.connectionState(), MainWindow::ConnectionState::Connected, 60000);
    QCOMPARE(window.connectionStatus(), QStringLiteral("Connected"));
    QVERIFY(recorder->client);
    // The new client works: the view's read on it is answered (one read per client given).
    QTRY_VERIFY_WITH_TIMEOUT(recorder->reads >= 2, kWaitMs);
}

void TestMainWindow::recentConnections()
{
    TempDir dir;
    MainWindow window;
    const QUrl a(QStringLiteral("http://127.0.0.1:1/mcp"));
    const QUrl b(QStringLiteral("http://127.0.0.1:2/mcp"));
    window.connectTo(ConnectionSpec::http(a, "secret-a"), false);
    window.connectTo(ConnectionSpec::http(b, "secret-b"), true);
    window.connectTo(ConnectionSpec::stdioCommand(
        QStringLiteral("DB_PATH=%1 %2").arg(dir.file(QStringLiteral("recent.db")), serverBin())));
    window.disconnectFromServer();
    QList<ConnectionSpec> recent = window.recentConnections();
    QCOMPARE(recent.size(), 3);
    QCOMPARE(recent.at(0).kind, ConnectionSpec::Kind::Command);
    QCOMPARE(recent.at(1).url, b);
    QCOMPARE(recent.at(1).token, QByteArray("secret-b")); // "remember the token" was ticked
    QCOMPARE(recent.at(2).url, a);
    QVERIFY(recent.at(2).token.isEmpty()); // not stored
    // The settings file never holds a token that was not to be remembered.
    QSettings().sync();
    QFile file(QSettings().fileName());
    QVERIFY(file.open(QIODevice::ReadOnly));
    const QByteArray stored = file.readAll();
    QVERIFY(!stored.contains("secret-a"));

    // Connecting again to a known target moves it to the top, once.
    window.connectTo(ConnectionSpec::http(a, "secret-a"));
    window.disconnectFromServer();
    recent = window.recentConnections();
    QCOMPARE(recent.size(), 3);
    QCOMPARE(recent.at(0).url, a);

    QMetaObject::invokeMethod(window.recentMenu(), "aboutToShow");
    const QStringList texts = menuActionTexts(window.recentMenu());
    QCOMPARE(texts.size(), 4); // three entries and "Clear the list"
    QVERIFY2(texts.at(0).contains(a.toString()), qPrintable(texts.at(0)));
    // In a new window (the token typed earlier is gone with the old one), choosing the entry whose
    // token was not stored asks for it, everything else filled in.
    {
        MainWindow later;
        later.show();
        QCOMPARE(later.recentConnections().size(), 3);
        QMetaObject::invokeMethod(later.recentMenu(), "aboutToShow");
        QList<QAction *> actions = later.recentMenu()->actions();
        // Entries: a (its token not stored), the command, b (token stored).
        actions.at(0)->trigger();
        auto *dialog = later.findChild<ConnectionDialog *>(QStringLiteral("connectionDialog"));
        QVERIFY(dialog);
        QTRY_VERIFY(dialog->isVisible());
        QCOMPARE(dialog->spec().url, a);
        QVERIFY(dialog->spec().token.isEmpty());
        dialog->reject();
        QCOMPARE(later.connectionState(), MainWindow::ConnectionState::NotConnected);
        // b's stored token is used as it is.
        actions.at(2)->trigger();
        QVERIFY(later.connection());
        QCOMPARE(later.connection()->spec().token, QByteArray("secret-b"));
        later.disconnectFromServer();
        QCOMPARE(later.recentConnections().first().token, QByteArray("secret-b")); // still stored
    }

    // The list is bounded.
    for (int i = 0; i < MainWindow::kMaxRecent + 3; ++i)
        window.connectTo(ConnectionSpec::http(QUrl(QStringLiteral("http://127.0.0.1:%1/mcp").arg(100 + i))));
    window.disconnectFromServer();
    QCOMPARE(window.recentConnections().size(), MainWindow::kMaxRecent);
    QMetaObject::invokeMethod(window.recentMenu(), "aboutToShow");
    auto *clear = window.recentMenu()->findChild<QAction *>(QStringLiteral("clearRecentAction"));
    QVERIFY(clear);
    clear->trigger();
    QVERIFY(window.recentConnections().isEmpty());
}

void TestMainWindow::stdioCommandConnection()
{
    QVERIFY(!serverBin().isEmpty());
    TempDir dir;
    const QString db = dir.file(QStringLiteral("stdio state.db")); // a space: quoting must hold
    MainWindow window;
    window.show();
    window.connectTo(ConnectionSpec::stdioCommand(
        QStringLiteral("DB_PATH=\"%1\" \"%2\" --log-level warning").arg(db, serverBin())));
    QTRY_COMPARE_WITH_TIMEOUT(window.connectionState(), MainWindow::ConnectionState::Connected, kWaitMs);
    QTRY_COMPARE_WITH_TIMEOUT(window.backend(), QStringLiteral("sqlite"), kWaitMs);
    QVERIFY(QFile::exists(db));
    QVERIFY(logRows(window.protocolLog(), QStringLiteral("initialize"), McpClient::Direction::Sent) >= 1);
    window.disconnectFromServer();
    QCOMPARE(window.connectionState(), MainWindow::ConnectionState::Disconnected);
}

void TestMainWindow::databaseConnection()
{
    TempDir dir;
    const QString db = dir.file(QStringLiteral("opened.db"));
    MainWindow window;
    window.show();
    auto *recorder = new RecordingView;
    window.setView(1, recorder);
    window.connectTo(ConnectionSpec::database(db, serverBin()));
    QTRY_COMPARE_WITH_TIMEOUT(window.connectionState(), MainWindow::ConnectionState::Connected, kWaitMs);
    QTRY_COMPARE_WITH_TIMEOUT(window.backend(), QStringLiteral("sqlite"), kWaitMs);
    QVERIFY(QFile::exists(db));
    QTRY_VERIFY_WITH_TIMEOUT(recorder->reads >= 1, kWaitMs);
    auto *endpoint = window.statusBar()->findChild<QLabel *>(QStringLiteral("endpointStatus"));
    QCOMPARE(endpoint->text(), db);

    // Another database in the same window: the views get the new client.
    SidecarClient *first = recorder->client;
    QVERIFY(first);
    const QString other = dir.file(QStringLiteral("other.db"));
    window.connectTo(ConnectionSpec::database(other, serverBin()));
    QTRY_COMPARE_WITH_TIMEOUT(window.connectionState(), MainWindow::ConnectionState::Connected, kWaitMs);
    QVERIFY(recorder->client);
    QVERIFY(recorder->client != first);
    QVERIFY(QFile::exists(other));
}

void TestMainWindow::launchFailureIsShown()
{
    MainWindow window;
    window.connectTo(ConnectionSpec::stdioCommand(QStringLiteral("/nonexistent/dir/mcp-state-sidecar")));
    QCOMPARE(window.connectionState(), MainWindow::ConnectionState::Disconnected);
    QVERIFY2(window.connectionStatus().startsWith(QStringLiteral("Disconnected: ")),
             qPrintable(window.connectionStatus()));
    QVERIFY(window.connectionStatus().contains(QStringLiteral("/nonexistent/dir/mcp-state-sidecar")));
}

QTEST_MAIN(TestMainWindow)
#include "tst_mainwindow.moc"
