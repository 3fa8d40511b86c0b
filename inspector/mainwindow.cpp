#include "mainwindow.h"

#include <QAction>
#include <QApplication>
#include <QCloseEvent>
#include <QDateTime>
#include <QDockWidget>
#include <QIcon>
#include <QKeySequence>
#include <QLabel>
#include <QMenu>
#include <QMenuBar>
#include <QMessageBox>
#include <QPainter>
#include <QSettings>
#include <QStatusBar>
#include <QStyle>
#include <QTabWidget>
#include <QToolBar>

#include "connectiondialog.h"
#include "historyview.h"
#include "keysview.h"
#include "leasesview.h"
#include "protocollog.h"
#include "sessionsview.h"
#include "stateview.h"
#include "workflowsview.h"

namespace sidecar::inspector {

using client::McpClient;

namespace {

constexpr int kStatusMessageMs = 5000;
constexpr int kSettingsVersion = 1;
constexpr int kMaxErrorChars = 90;

const QString kGeometryKey = QStringLiteral("window/geometry");
const QString kStateKey = QStringLiteral("window/state");
const QString kTabKey = QStringLiteral("window/tab");
const QString kRecentKey = QStringLiteral("recentConnections");

// The recent connections as a settings array (readable in the settings file: one group per entry).
QList<QVariantMap> readRecent()
{
    QSettings settings;
    QList<QVariantMap> out;
    const int size = settings.beginReadArray(kRecentKey);
    for (int i = 0; i < size; ++i) {
        settings.setArrayIndex(i);
        QVariantMap map;
        for (const QString &key : settings.childKeys())
            map.insert(key, settings.value(key));
        out.append(map);
    }
    settings.endArray();
    return out;
}

void writeRecent(const QList<QVariantMap> &list)
{
    QSettings settings;
    settings.remove(kRecentKey);
    if (list.isEmpty())
        return;
    settings.beginWriteArray(kRecentKey, int(list.size()));
    for (int i = 0; i < list.size(); ++i) {
        settings.setArrayIndex(i);
        for (auto it = list.at(i).cbegin(); it != list.at(i).cend(); ++it)
            settings.setValue(it.key(), it.value());
    }
    settings.endArray();
}

QString formatDuration(double seconds)
{
    const qint64 s = qint64(seconds);
    if (s < 60)
        return MainWindow::tr("%1s").arg(s);
    if (s < 3600)
        return MainWindow::tr("%1m %2s").arg(s / 60).arg(s % 60, 2, 10, QLatin1Char('0'));
    if (s < 86400)
        return MainWindow::tr("%1h %2m").arg(s / 3600).arg((s % 3600) / 60, 2, 10, QLatin1Char('0'));
    return MainWindow::tr("%1d %2h").arg(s / 86400).arg((s % 86400) / 3600);
}

// "1 key", "18 keys" (without a translator, tr()'s %n forms would read "18 key(s)").
QString counted(qint64 n, const QString &one, const QString &many)
{
    return n == 1 ? one : many.arg(n);
}

QString elided(const QString &text, int chars)
{
    return text.size() <= chars ? text : text.left(chars - 1) + u'…';
}

QString kindLabel(ConnectionSpec::Kind kind)
{
    switch (kind) {
    case ConnectionSpec::Kind::Http: return MainWindow::tr("HTTP");
    case ConnectionSpec::Kind::Command: return MainWindow::tr("Command");
    case ConnectionSpec::Kind::Database: return MainWindow::tr("Database");
    }
    return {};
}

// The application icon (resources/icons/io.github.mcp_state_sidecar.Inspector.svg, drawn with
// QPainter: Qt's SVG module is not a dependency of the inspector).
QPixmap drawIcon(int size)
{
    QPixmap pixmap(size, size);
    pixmap.fill(Qt::transparent);
    QPainter p(&pixmap);
    p.setRenderHint(QPainter::Antialiasing);
    p.scale(size / 128.0, size / 128.0);
    p.setPen(Qt::NoPen);
    p.setBrush(QColor(0x1f, 0x4e, 0x79));
    p.drawRoundedRect(QRectF(8, 8, 112, 112), 22, 22);
    p.setBrush(QColor(0x9c, 0xc3, 0xe6));
    p.drawRoundedRect(QRectF(24, 28, 64, 14), 4, 4);
    p.setBrush(QColor(0xc5, 0xdc, 0xf0));
    p.drawRoundedRect(QRectF(24, 50, 64, 14), 4, 4);
    p.setBrush(QColor(0xee, 0xf5, 0xfb));
    p.drawRoundedRect(QRectF(24, 72, 40, 14), 4, 4);
    const QColor lens(0xff, 0xc8, 0x57);
    p.setBrush(Qt::NoBrush);
    p.setPen(QPen(lens, 7));
    p.drawEllipse(QPointF(82, 82), 18, 18);
    p.setPen(QPen(lens, 9, Qt::SolidLine, Qt::RoundCap));
    p.drawLine(QPointF(95, 95), QPointF(108, 108));
    return pixmap;
}

// A padlock for Read-only (the standard style icons have none).
QIcon lockIcon(const QPalette &palette)
{
    QIcon icon;
    for (int size : {16, 22, 24, 32, 48}) {
        QPixmap pixmap(size, size);
        pixmap.fill(Qt::transparent);
        QPainter p(&pixmap);
        p.setRenderHint(QPainter::Antialiasing);
        p.scale(size / 24.0, size / 24.0);
        const QColor ink = palette.color(QPalette::WindowText);
        p.setPen(QPen(ink, 2.2, Qt::SolidLine, Qt::RoundCap));
        p.setBrush(Qt::NoBrush);
        p.drawArc(QRectF(7, 3, 10, 12), 0, 180 * 16); // the shackle
        p.drawLine(QPointF(7, 9), QPointF(7, 11));
        p.drawLine(QPointF(17, 9), QPointF(17, 11));
        p.setPen(Qt::NoPen);
        p.setBrush(QColor(0xf2, 0xa9, 0x00));
        p.drawRoundedRect(QRectF(4, 11, 16, 11), 2, 2); // the body
        p.setBrush(ink);
        p.drawEllipse(QPointF(12, 16), 1.6, 1.6);
        icon.addPixmap(pixmap);
    }
    return icon;
}

} // namespace

QIcon MainWindow::applicationIcon()
{
    QIcon drawn;
    for (int size : {16, 24, 32, 48, 64, 128, 256})
        drawn.addPixmap(drawIcon(size));
    return QIcon::fromTheme(QStringLiteral("io.github.mcp_state_sidecar.Inspector"), drawn);
}

MainWindow::MainWindow(QWidget *parent) : QMainWindow(parent)
{
    setWindowTitle(tr("MCP State Inspector"));
    setObjectName(QStringLiteral("MainWindow"));
    setWindowIcon(applicationIcon());
    resize(1200, 800);

    createTabs();
    createActions();
    createLogDock();
    createMenus();
    createToolBar();
    createStatusBar();
    restoreSettings();
    updateReloadShortcut();
    updateStatus();

    connect(this, &MainWindow::connectRequested, this, &MainWindow::showConnectionDialog);
}

MainWindow::~MainWindow()
{
    // The views may hold the connection's client: take it back before it goes.
    giveClient(nullptr);
    if (m_connection) {
        m_connection->disconnect(this);
        delete m_connection;
        m_connection = nullptr;
    }
}

// ---------------------------------------------------------------- construction

void MainWindow::createTabs()
{
    m_tabs = new QTabWidget(this);
    m_tabs->setObjectName(QStringLiteral("stateTabs"));
    m_tabs->setDocumentMode(true);

    struct Tab
    {
        const char *objectName;
        const char *title;
        StateView *view;
    };
    const Tab tabs[] = {
        {"keysPage", QT_TR_NOOP("Keys"), new KeysView},
        {"workflowsPage", QT_TR_NOOP("Workflows"), new WorkflowsView},
        {"leasesPage", QT_TR_NOOP("Leases"), new LeasesView},
        {"sessionsPage", QT_TR_NOOP("Sessions"), new SessionsView},
        {"historyPage", QT_TR_NOOP("History"), new HistoryView},
    };
    for (const Tab &tab : tabs) {
        if (tab.view->objectName().isEmpty())
            tab.view->setObjectName(QLatin1StringView(tab.objectName));
        connect(tab.view, &StateView::statusMessage, this, &MainWindow::showViewMessage);
        m_views.append(tab.view);
        m_tabs->addTab(tab.view, tr(tab.title));
    }
    setCentralWidget(m_tabs);
}

StateView *MainWindow::view(int index) const
{
    return index >= 0 && index < m_views.size() ? m_views.at(index) : nullptr;
}

void MainWindow::setView(int index, StateView *view)
{
    Q_ASSERT(view);
    if (index < 0 || index >= m_tabs->count())
        return;
    QWidget *old = m_tabs->widget(index);
    if (m_clientGiven)
        m_views.at(index)->setClient(nullptr);
    const QString title = m_tabs->tabText(index);
    const bool current = m_tabs->currentIndex() == index;
    if (view->objectName().isEmpty())
        view->setObjectName(old->objectName());
    m_tabs->removeTab(index);
    m_tabs->insertTab(index, view, title);
    if (current)
        m_tabs->setCurrentIndex(index);
    delete old;
    m_views[index] = view;
    connect(view, &StateView::statusMessage, this, &MainWindow::showViewMessage);
    view->setPaused(isPaused());
    view->setReadOnly(isReadOnly());
    if (m_clientGiven && m_connection)
        view->setClient(m_connection->client());
    updateReloadShortcut();
}

void MainWindow::updateReloadShortcut()
{
    // A view may bind F5 itself (to the same effect); two enabled actions on one key would cancel
    // each other out as ambiguous, so the window's action then leaves the key to the view and only
    // shows it in the menu.
    const QKeySequence key(QKeySequence::Refresh);
    bool viewHasIt = false;
    if (StateView *current = view(m_tabs->currentIndex())) {
        for (const QAction *action : current->actions())
            viewHasIt = viewHasIt || action->shortcuts().contains(key);
    }
    m_reloadAction->setShortcut(viewHasIt ? QKeySequence() : key);
    m_reloadAction->setText(viewHasIt ? tr("Re&load") + u'\t' + key.toString(QKeySequence::NativeText)
                                      : tr("Re&load"));
}

void MainWindow::showViewMessage(const QString &text)
{
    statusBar()->showMessage(text, kStatusMessageMs);
}

void MainWindow::createActions()
{
    m_connectAction = new QAction(style()->standardIcon(QStyle::SP_DriveNetIcon), tr("&Connect…"), this);
    m_connectAction->setObjectName(QStringLiteral("connectAction"));
    m_connectAction->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_O));
    m_connectAction->setStatusTip(tr("Connect to a sidecar over HTTP, a stdio command or a database file"));
    m_connectAction->setIconText(tr("Connect"));
    connect(m_connectAction, &QAction::triggered, this, &MainWindow::connectRequested);

    m_disconnectAction = new QAction(style()->standardIcon(QStyle::SP_BrowserStop), tr("&Disconnect"), this);
    m_disconnectAction->setObjectName(QStringLiteral("disconnectAction"));
    m_disconnectAction->setStatusTip(tr("Close the connection (a launched server is stopped)"));
    connect(m_disconnectAction, &QAction::triggered, this, &MainWindow::disconnectFromServer);

    m_quitAction = new QAction(tr("&Quit"), this);
    m_quitAction->setObjectName(QStringLiteral("quitAction"));
    m_quitAction->setShortcut(QKeySequence::Quit);
    m_quitAction->setMenuRole(QAction::QuitRole);
    connect(m_quitAction, &QAction::triggered, this, &QWidget::close);

    m_pauseAction = new QAction(style()->standardIcon(QStyle::SP_MediaPause), tr("&Pause"), this);
    m_pauseAction->setObjectName(QStringLiteral("pauseAction"));
    m_pauseAction->setCheckable(true);
    m_pauseAction->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_P));
    m_pauseAction->setStatusTip(tr("Freeze every view; resume to catch up"));
    connect(m_pauseAction, &QAction::toggled, this, &MainWindow::setPaused);

    m_readOnlyAction = new QAction(lockIcon(palette()), tr("&Read-only"), this);
    m_readOnlyAction->setObjectName(QStringLiteral("readOnlyAction"));
    m_readOnlyAction->setCheckable(true);
    m_readOnlyAction->setStatusTip(tr("Hide every action that changes state"));
    connect(m_readOnlyAction, &QAction::toggled, this, &MainWindow::setReadOnly);

    m_reloadAction = new QAction(style()->standardIcon(QStyle::SP_BrowserReload), tr("Re&load"), this);
    m_reloadAction->setObjectName(QStringLiteral("reloadAction"));
    m_reloadAction->setShortcut(QKeySequence::Refresh);
    m_reloadAction->setStatusTip(tr("Load the current view again"));
    m_reloadAction->setIconText(tr("Reload"));
    connect(m_reloadAction, &QAction::triggered, this, &MainWindow::reloadCurrent);
    connect(m_tabs, &QTabWidget::currentChanged, this, &MainWindow::updateReloadShortcut);

    for (int i = 0; i < m_tabs->count(); ++i) {
        auto *action = new QAction(m_tabs->tabText(i), this);
        action->setObjectName(QStringLiteral("tabAction%1").arg(i + 1));
        action->setShortcut(QKeySequence(QKeyCombination(Qt::CTRL, Qt::Key(Qt::Key_1 + i))));
        connect(action, &QAction::triggered, this, [this, i] { m_tabs->setCurrentIndex(i); });
        addAction(action); // the shortcut works even with the menu bar hidden
        m_tabActions.append(action);
    }
}

void MainWindow::createMenus()
{
    QMenu *fileMenu = menuBar()->addMenu(tr("&File"));
    fileMenu->addAction(m_connectAction);
    m_recentMenu = fileMenu->addMenu(tr("&Recent"));
    m_recentMenu->setObjectName(QStringLiteral("recentMenu"));
    connect(m_recentMenu, &QMenu::aboutToShow, this, &MainWindow::rebuildRecentMenu);
    fileMenu->addAction(m_disconnectAction);
    fileMenu->addSeparator();
    fileMenu->addAction(m_quitAction);
    rebuildRecentMenu();

    QMenu *viewMenu = menuBar()->addMenu(tr("&View"));
    viewMenu->addAction(m_reloadAction);
    viewMenu->addAction(m_pauseAction);
    viewMenu->addAction(m_readOnlyAction);
    viewMenu->addSeparator();
    viewMenu->addAction(m_logAction);
    viewMenu->addSeparator();
    QMenu *goMenu = viewMenu->addMenu(tr("&Go to"));
    goMenu->addActions(m_tabActions);

    QMenu *helpMenu = menuBar()->addMenu(tr("&Help"));
    QAction *aboutAction = helpMenu->addAction(tr("&About"));
    aboutAction->setObjectName(QStringLiteral("aboutAction"));
    aboutAction->setMenuRole(QAction::AboutRole);
    connect(aboutAction, &QAction::triggered, this, &MainWindow::showAbout);
    QAction *aboutQtAction = helpMenu->addAction(tr("About &Qt"));
    aboutQtAction->setMenuRole(QAction::AboutQtRole);
    connect(aboutQtAction, &QAction::triggered, qApp, &QApplication::aboutQt);
}

void MainWindow::createToolBar()
{
    m_toolBar = addToolBar(tr("Main"));
    m_toolBar->setObjectName(QStringLiteral("mainToolBar"));
    m_toolBar->setMovable(false);
    m_toolBar->setToolButtonStyle(Qt::ToolButtonTextBesideIcon);
    m_toolBar->addAction(m_connectAction);
    m_toolBar->addAction(m_disconnectAction);
    m_toolBar->addSeparator();
    m_toolBar->addAction(m_reloadAction);
    m_toolBar->addAction(m_pauseAction);
    m_toolBar->addAction(m_readOnlyAction);
    m_toolBar->addSeparator();
    m_toolBar->addAction(m_logAction);
}

void MainWindow::createLogDock()
{
    m_log = new ProtocolLog(this);
    m_logDock = new QDockWidget(tr("Protocol log"), this);
    m_logDock->setObjectName(QStringLiteral("protocolLogDock"));
    m_logDock->setWidget(m_log);
    m_logDock->setAllowedAreas(Qt::BottomDockWidgetArea | Qt::TopDockWidgetArea | Qt::RightDockWidgetArea
                               | Qt::LeftDockWidgetArea);
    addDockWidget(Qt::BottomDockWidgetArea, m_logDock);
    m_logDock->hide();

    m_logAction = m_logDock->toggleViewAction();
    m_logAction->setObjectName(QStringLiteral("protocolLogAction"));
    m_logAction->setText(tr("Protocol &log"));
    m_logAction->setIcon(style()->standardIcon(QStyle::SP_FileDialogDetailedView));
    m_logAction->setIconText(tr("Protocol log"));
    m_logAction->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_L));
    m_logAction->setStatusTip(tr("Show every JSON-RPC message between the inspector and the sidecar"));
}

void MainWindow::createStatusBar()
{
    m_indicator = new QLabel(this);
    m_indicator->setObjectName(QStringLiteral("connectionIndicator"));
    m_indicator->setFixedSize(10, 10);
    m_connectionLabel = new QLabel(tr("Not connected"), this);
    m_connectionLabel->setObjectName(QStringLiteral("connectionStatus"));
    m_endpointLabel = new QLabel(this);
    m_endpointLabel->setObjectName(QStringLiteral("endpointStatus"));
    m_endpointLabel->setTextInteractionFlags(Qt::TextSelectableByMouse);
    m_healthLabel = new QLabel(this);
    m_healthLabel->setObjectName(QStringLiteral("healthStatus"));
    m_revisionLabel = new QLabel(this);
    m_revisionLabel->setObjectName(QStringLiteral("revisionStatus"));
    m_revisionLabel->setToolTip(tr("The store's revision: it grows by one with every change"));
    m_latencyLabel = new QLabel(this);
    m_latencyLabel->setObjectName(QStringLiteral("latencyStatus"));
    m_latencyLabel->setToolTip(tr("Round trip of the last request (long polls left out)"));
    m_modeLabel = new QLabel(this);
    m_modeLabel->setObjectName(QStringLiteral("modeStatus"));
    QFont bold = m_modeLabel->font();
    bold.setBold(true);
    m_modeLabel->setFont(bold);

    statusBar()->addPermanentWidget(m_modeLabel);
    statusBar()->addPermanentWidget(m_healthLabel);
    statusBar()->addPermanentWidget(m_revisionLabel);
    statusBar()->addPermanentWidget(m_latencyLabel);
    statusBar()->addPermanentWidget(m_endpointLabel);
    statusBar()->addPermanentWidget(m_indicator);
    statusBar()->addPermanentWidget(m_connectionLabel);
}

// ---------------------------------------------------------------- settings

void MainWindow::restoreSettings()
{
    QSettings settings;
    if (const QByteArray geometry = settings.value(kGeometryKey).toByteArray(); !geometry.isEmpty())
        restoreGeometry(geometry);
    if (const QByteArray state = settings.value(kStateKey).toByteArray(); !state.isEmpty())
        restoreState(state, kSettingsVersion);
    const int tab = settings.value(kTabKey, 0).toInt();
    if (tab >= 0 && tab < m_tabs->count())
        m_tabs->setCurrentIndex(tab);
}

void MainWindow::saveSettings() const
{
    QSettings settings;
    settings.setValue(kGeometryKey, saveGeometry());
    settings.setValue(kStateKey, saveState(kSettingsVersion));
    settings.setValue(kTabKey, m_tabs->currentIndex());
}

void MainWindow::closeEvent(QCloseEvent *event)
{
    saveSettings();
    QMainWindow::closeEvent(event);
}

QList<ConnectionSpec> MainWindow::recentConnections() const
{
    QList<ConnectionSpec> out;
    for (const QVariantMap &map : readRecent())
        out.append(ConnectionSpec::fromVariantMap(map));
    return out;
}

void MainWindow::rememberRecent(const ConnectionSpec &spec, bool rememberToken)
{
    QList<QVariantMap> list{spec.toVariantMap(rememberToken)};
    for (const QVariantMap &map : readRecent()) {
        if (list.size() >= kMaxRecent)
            break;
        if (!ConnectionSpec::fromVariantMap(map).sameTarget(spec))
            list.append(map);
    }
    writeRecent(list);
    if (spec.kind == ConnectionSpec::Kind::Http) {
        if (spec.token.isEmpty() || rememberToken)
            m_sessionTokens.remove(spec.url.toString());
        else
            m_sessionTokens.insert(spec.url.toString(), spec.token);
    }
    rebuildRecentMenu();
}

void MainWindow::rebuildRecentMenu()
{
    m_recentMenu->clear();
    const QList<QVariantMap> list = readRecent();
    int number = 0;
    for (const QVariantMap &map : list) {
        const ConnectionSpec spec = ConnectionSpec::fromVariantMap(map);
        const QString text = QStringLiteral("&%1  %2: %3")
                                 .arg(++number % 10)
                                 .arg(kindLabel(spec.kind),
                                      elided(spec.displayName(), 80).replace(u'&', QStringLiteral("&&")));
        QAction *action = m_recentMenu->addAction(text);
        action->setToolTip(spec.displayName());
        const bool tokenMissing = map.value(QStringLiteral("hasToken")).toBool() && spec.token.isEmpty();
        connect(action, &QAction::triggered, this, [this, spec, tokenMissing] {
            ConnectionSpec chosen = spec;
            if (tokenMissing)
                chosen.token = m_sessionTokens.value(spec.url.toString());
            if (tokenMissing && chosen.token.isEmpty()) {
                // The token was not stored: ask for it with everything else filled in.
                showConnectionDialog();
                m_dialog->setSpec(chosen);
                m_dialog->focusToken();
                return;
            }
            openRecent(chosen);
        });
    }
    if (list.isEmpty()) {
        QAction *none = m_recentMenu->addAction(tr("No recent connections"));
        none->setEnabled(false);
        return;
    }
    m_recentMenu->addSeparator();
    QAction *clear = m_recentMenu->addAction(tr("&Clear the list"));
    clear->setObjectName(QStringLiteral("clearRecentAction"));
    connect(clear, &QAction::triggered, this, &MainWindow::clearRecent);
}

void MainWindow::openRecent(const ConnectionSpec &spec)
{
    // Keep a stored token stored: the entry moves to the top as it was.
    const bool stored = spec.kind == ConnectionSpec::Kind::Http && !spec.token.isEmpty()
                        && !m_sessionTokens.contains(spec.url.toString());
    connectTo(spec, stored);
}

void MainWindow::clearRecent()
{
    writeRecent({});
    m_sessionTokens.clear();
    rebuildRecentMenu();
}

// ---------------------------------------------------------------- connection

void MainWindow::showConnectionDialog()
{
    if (!m_dialog) {
        m_dialog = new ConnectionDialog(this);
        connect(m_dialog, &QDialog::accepted, this,
                [this] { connectTo(m_dialog->spec(), m_dialog->rememberToken()); });
    }
    if (m_hasLastSpec) {
        m_dialog->setSpec(m_lastSpec);
    } else if (const QList<ConnectionSpec> recent = recentConnections(); !recent.isEmpty()) {
        m_dialog->setSpec(recent.first());
    }
    m_dialog->open();
}

void MainWindow::connectTo(const ConnectionSpec &spec, bool rememberToken)
{
    if (m_connection) {
        giveClient(nullptr);
        Connection *old = m_connection;
        m_connection = nullptr;
        old->disconnect(this);
        old->close();
        old->deleteLater();
    }
    m_lastSpec = spec;
    m_hasLastSpec = true;
    m_closedByUser = false;
    rememberRecent(spec, rememberToken);

    m_connection = new Connection(spec, this);
    connect(m_connection, &Connection::stateChanged, this, &MainWindow::onConnectionState);
    connect(m_connection, &Connection::lastErrorChanged, this, &MainWindow::updateStatus);
    connect(m_connection, &Connection::healthChanged, this, &MainWindow::updateHealth);
    connect(m_connection, &Connection::latencyChanged, this, &MainWindow::updateLatency);
    connect(m_connection, &Connection::traffic, m_log, &ProtocolLog::record);
    m_healthLabel->clear();
    m_revisionLabel->clear();
    m_latencyLabel->clear();
    setState(ConnectionState::Connecting);
    m_connection->open();
    if (!m_connection->mcp()) // nothing could be launched: lastError() says why
        setState(ConnectionState::Disconnected);
    setWindowTitle(tr("%1 — MCP State Inspector").arg(spec.displayName()));
}

void MainWindow::disconnectFromServer()
{
    if (!m_connection)
        return;
    giveClient(nullptr);
    m_closedByUser = true;
    m_connection->close();
    setState(ConnectionState::Disconnected);
}

void MainWindow::onConnectionState(McpClient::State state)
{
    switch (state) {
    case McpClient::State::Connecting: setState(ConnectionState::Connecting); break;
    case McpClient::State::Ready:
        giveClient(m_connection->client());
        setState(ConnectionState::Connected);
        break;
    case McpClient::State::Reconnecting:
        giveClient(nullptr);
        setState(ConnectionState::Reconnecting);
        break;
    case McpClient::State::Disconnected:
        giveClient(nullptr);
        setState(ConnectionState::Disconnected);
        break;
    }
}

void MainWindow::giveClient(client::SidecarClient *client)
{
    if (!client && !m_clientGiven)
        return;
    m_clientGiven = client != nullptr;
    for (StateView *view : std::as_const(m_views))
        view->setClient(client);
}

void MainWindow::setState(ConnectionState state)
{
    const bool changed = state != m_state;
    m_state = state;
    updateStatus();
    if (changed)
        emit connectionStateChanged(state);
}

QList<StateView *> MainWindow::views() const
{
    return m_views;
}

QString MainWindow::connectionStatus() const
{
    return m_connectionLabel->text();
}

QString MainWindow::backend() const
{
    return m_connection && m_connection->health() ? m_connection->health()->backend : QString();
}

std::optional<qint64> MainWindow::revision() const
{
    return m_connection && m_connection->health() ? m_connection->health()->revision : std::nullopt;
}

void MainWindow::updateStatus()
{
    const QString error = m_connection && !m_closedByUser ? m_connection->lastError() : QString();
    QString text;
    QColor colour;
    switch (m_state) {
    case ConnectionState::NotConnected:
        text = tr("Not connected");
        colour = QColor(0x9e, 0x9e, 0x9e);
        break;
    case ConnectionState::Connecting:
        text = tr("Connecting…");
        colour = QColor(0xf9, 0xa8, 0x25);
        break;
    case ConnectionState::Connected:
        text = tr("Connected");
        colour = QColor(0x2e, 0x7d, 0x32);
        break;
    case ConnectionState::Reconnecting:
        text = error.isEmpty() ? tr("Reconnecting…")
                               : tr("Reconnecting… (%1)").arg(elided(error, kMaxErrorChars));
        colour = QColor(0xf9, 0xa8, 0x25);
        break;
    case ConnectionState::Disconnected:
        text = error.isEmpty() ? tr("Disconnected")
                               : tr("Disconnected: %1").arg(elided(error, kMaxErrorChars));
        colour = QColor(0xc6, 0x28, 0x28);
        break;
    }
    m_connectionLabel->setText(text);
    m_connectionLabel->setToolTip(error.isEmpty() ? QString() : tr("Last error: %1").arg(error));
    m_indicator->setStyleSheet(
        QStringLiteral("background-color: %1; border-radius: 5px;").arg(colour.name()));
    m_indicator->setToolTip(text);
    m_endpointLabel->setText(m_connection ? elided(m_connection->endpoint(), 60) : QString());
    m_endpointLabel->setToolTip(m_connection ? m_connection->endpoint() : QString());
    m_disconnectAction->setEnabled(m_connection && m_state != ConnectionState::Disconnected);

    QStringList modes;
    if (isPaused())
        modes << tr("PAUSED");
    if (isReadOnly())
        modes << tr("READ-ONLY");
    m_modeLabel->setText(modes.join(QStringLiteral(" · ")));
    m_modeLabel->setVisible(!modes.isEmpty());
    m_healthLabel->setEnabled(m_state == ConnectionState::Connected);
    m_revisionLabel->setEnabled(m_state == ConnectionState::Connected);
}

void MainWindow::updateHealth()
{
    if (!m_connection || !m_connection->health())
        return;
    const client::Health &h = *m_connection->health();
    QStringList parts;
    parts << h.status << h.backend;
    if (!h.version.isEmpty())
        parts << QStringLiteral("v") + h.version;
    parts << tr("up %1").arg(formatDuration(h.uptimeSeconds));
    parts << counted(h.keyCount, tr("1 key"), tr("%1 keys"))
          << counted(h.workflowCount, tr("1 run"), tr("%1 runs"));
    if (h.leaseCount)
        parts << counted(*h.leaseCount, tr("1 lease"), tr("%1 leases"));
    if (h.sessionCount)
        parts << counted(*h.sessionCount, tr("1 session"), tr("%1 sessions"));
    m_healthLabel->setText(parts.join(QStringLiteral(" · ")));
    QString colour;
    if (h.status == QLatin1StringView("degraded"))
        colour = QStringLiteral("#e65100");
    else if (h.status == QLatin1StringView("error"))
        colour = QStringLiteral("#c62828");
    m_healthLabel->setStyleSheet(colour.isEmpty() ? QString() : QStringLiteral("color: %1;").arg(colour));

    const McpClient *mcp = m_connection->mcp();
    QStringList tip;
    tip << tr("Server: %1 %2")
               .arg(mcp ? mcp->serverName() : QString(), mcp ? mcp->serverVersion() : QString())
        << tr("MCP version: %1").arg(mcp ? mcp->protocolVersion() : QString())
        << tr("Status: %1").arg(h.status) << tr("Backend: %1").arg(h.backend)
        << tr("Uptime: %1").arg(formatDuration(h.uptimeSeconds)) << tr("Keys: %1").arg(h.keyCount)
        << tr("Workflow runs: %1").arg(h.workflowCount);
    if (h.leaseCount)
        tip << tr("Live leases: %1").arg(*h.leaseCount);
    if (h.sessionCount)
        tip << tr("Sessions: %1").arg(*h.sessionCount);
    tip << tr("Checked at %1")
               .arg(QDateTime::fromMSecsSinceEpoch(m_connection->healthTimeMs())
                        .toString(QStringLiteral("HH:mm:ss")));
    m_healthLabel->setToolTip(tip.join(u'\n'));
    m_revisionLabel->setText(h.revision ? tr("revision %1").arg(*h.revision) : QString());
}

void MainWindow::updateLatency(qint64 us)
{
    m_latencyLabel->setText(us < 0 ? QString()
                                   : tr("rtt %1 ms").arg(double(us) / 1000.0, 0, 'f', us < 10000 ? 2 : 1));
}

// ---------------------------------------------------------------- view controls

bool MainWindow::isPaused() const
{
    return m_pauseAction->isChecked();
}

bool MainWindow::isReadOnly() const
{
    return m_readOnlyAction->isChecked();
}

void MainWindow::setPaused(bool paused)
{
    if (m_pauseAction->isChecked() != paused) {
        m_pauseAction->setChecked(paused); // toggled() comes back here
        return;
    }
    m_pauseAction->setText(paused ? tr("Resume") : tr("&Pause"));
    m_pauseAction->setIcon(style()->standardIcon(paused ? QStyle::SP_MediaPlay : QStyle::SP_MediaPause));
    for (StateView *view : std::as_const(m_views))
        view->setPaused(paused);
    updateStatus();
}

void MainWindow::setReadOnly(bool readOnly)
{
    if (m_readOnlyAction->isChecked() != readOnly) {
        m_readOnlyAction->setChecked(readOnly);
        return;
    }
    for (StateView *view : std::as_const(m_views))
        view->setReadOnly(readOnly);
    updateStatus();
}

void MainWindow::reloadCurrent()
{
    const int index = m_tabs->currentIndex();
    if (index >= 0 && index < m_views.size())
        m_views.at(index)->reload();
    if (m_connection)
        m_connection->refreshHealth();
}

void MainWindow::showAbout()
{
    QMessageBox::about(this, tr("About MCP State Inspector"),
                       tr("<h3>MCP State Inspector %1</h3>"
                          "<p>Browses and watches the keys, workflows, leases, sessions and history of an "
                          "MCP State Sidecar.</p>"
                          "<p>Released under the MIT License.</p>")
                           .arg(QStringLiteral(SIDECAR_VERSION)));
}

} // namespace sidecar::inspector
