#pragma once

// MainWindow: the inspector's top-level window.
//
// - Centre: one tab per kind of state the sidecar keeps (Keys, Workflows, Leases, Sessions,
//   History), each a StateView; Ctrl+1…5 switch tabs, F5 reloads the current one (View → Reload;
//   when the current view binds F5 itself, the window leaves the key to it: two actions on one key
//   would cancel each other out).
// - Connection: File → Connect… (Ctrl+O) opens ConnectionDialog; File → Recent lists the last
//   connections (kept in QSettings; a bearer token only when "Remember the token" was ticked, else
//   it stays in memory for this run); connectTo() does the same programmatically. The window owns
//   one Connection at a time. When it becomes ready every view gets its SidecarClient
//   (StateView::setClient); when it is lost they get nullptr and the status bar says
//   Reconnecting… while the client reconnects by itself. Recent entries are a settings array
//   (recentConnections/<n>/kind, url, command, database, server, hasToken, token).
// - Status bar: the connection state (Not connected, Connecting…, Connected, Reconnecting…,
//   Disconnected with the last error), the endpoint, a health line from sidecar_health (status,
//   backend, version, uptime, counts; refreshed every few seconds and soon after any change), the
//   store's revision and the last request's round trip.
// - Protocol log dock (View → Protocol log, Ctrl+L; at the bottom, hidden at first): every
//   JSON-RPC message (ProtocolLog).
// - Pause (Ctrl+P, toolbar) freezes every view; View → Read-only makes every view read-only.
// - Geometry, dock and toolbar state and the current tab are saved in QSettings on close and
//   restored at start (default: 1200x800, log dock hidden).
//
// Thread: GUI thread only. Ownership: Qt parent/child; the window owns its Connection.

#include <QHash>
#include <QList>
#include <QMainWindow>

#include <optional>

#include "connection.h"

class QAction;
class QDockWidget;
class QIcon;
class QLabel;
class QMenu;
class QTabWidget;
class QToolBar;

namespace sidecar::inspector {

class ConnectionDialog;
class ProtocolLog;
class StateView;

class MainWindow : public QMainWindow
{
    Q_OBJECT
public:
    enum class ConnectionState { NotConnected, Connecting, Connected, Reconnecting, Disconnected };
    Q_ENUM(ConnectionState)

    static constexpr int kMaxRecent = 10;

    explicit MainWindow(QWidget *parent = nullptr);
    ~MainWindow() override;

    // The application's icon: the installed theme icon when there is one, else the same picture drawn.
    static QIcon applicationIcon();

    // The tab widget in the centre: Keys, Workflows, Leases, Sessions, History, in that order.
    QTabWidget *tabs() const { return m_tabs; }
    // The views in the tabs, in tab order.
    QList<StateView *> views() const;
    // The view of tab `index` (0…4), or nullptr when there is no such tab.
    StateView *view(int index) const;
    // Replaces the view of tab `index` (the window takes ownership and deletes the old page). The
    // new view gets the current pause and read-only modes and, when connected, the client.
    void setView(int index, StateView *view);
    // The text of the permanent status-bar label: "Not connected" until a connection is made.
    QString connectionStatus() const;
    ConnectionState connectionState() const { return m_state; }
    // The current connection, or nullptr.
    Connection *connection() const { return m_connection; }
    // From the last sidecar_health answer of this connection (empty / nullopt before one).
    QString backend() const;
    std::optional<qint64> revision() const;
    ProtocolLog *protocolLog() const { return m_log; }
    QDockWidget *protocolLogDock() const { return m_logDock; }

    QAction *connectAction() const { return m_connectAction; }
    QAction *disconnectAction() const { return m_disconnectAction; }
    QAction *pauseAction() const { return m_pauseAction; }
    QAction *readOnlyAction() const { return m_readOnlyAction; }
    QAction *reloadAction() const { return m_reloadAction; }
    QAction *protocolLogAction() const { return m_logAction; }
    QMenu *recentMenu() const { return m_recentMenu; }

    bool isPaused() const;
    bool isReadOnly() const;
    // The recent connections, newest first (tokens only where they were stored).
    QList<ConnectionSpec> recentConnections() const;

    // Writes geometry, dock state and the current tab to QSettings (also done on close).
    void saveSettings() const;

public slots:
    // Drops the current connection (if any) and connects to `spec`; remembers it in File → Recent
    // (its token too when `rememberToken`).
    void connectTo(const sidecar::inspector::ConnectionSpec &spec, bool rememberToken = false);
    void disconnectFromServer();
    void setPaused(bool paused);
    void setReadOnly(bool readOnly);
    // Reloads the current tab's view and the health line.
    void reloadCurrent();
    // Opens the connection dialog (window-modal, returns at once).
    void showConnectionDialog();

signals:
    // File → Connect… was chosen (the window opens its connection dialog).
    void connectRequested();
    void connectionStateChanged(sidecar::inspector::MainWindow::ConnectionState state);

protected:
    void closeEvent(QCloseEvent *event) override;

private:
    void createTabs();
    void createActions();
    void createMenus();
    void createToolBar();
    void createStatusBar();
    void createLogDock();
    void restoreSettings();
    void showAbout();
    void showViewMessage(const QString &text);
    void updateReloadShortcut();

    void rememberRecent(const ConnectionSpec &spec, bool rememberToken);
    void rebuildRecentMenu();
    void openRecent(const ConnectionSpec &spec);
    void clearRecent();

    void setState(ConnectionState state);
    void onConnectionState(client::McpClient::State state);
    void giveClient(client::SidecarClient *client);
    void updateStatus();
    void updateHealth();
    void updateLatency(qint64 us);

    QTabWidget *m_tabs = nullptr;
    QList<StateView *> m_views; // one per tab, in tab order
    ProtocolLog *m_log = nullptr;
    QDockWidget *m_logDock = nullptr;
    QToolBar *m_toolBar = nullptr;
    ConnectionDialog *m_dialog = nullptr;

    QLabel *m_indicator = nullptr;
    QLabel *m_connectionLabel = nullptr;
    QLabel *m_endpointLabel = nullptr;
    QLabel *m_healthLabel = nullptr;
    QLabel *m_revisionLabel = nullptr;
    QLabel *m_latencyLabel = nullptr;
    QLabel *m_modeLabel = nullptr;

    QAction *m_connectAction = nullptr;
    QAction *m_disconnectAction = nullptr;
    QAction *m_quitAction = nullptr;
    QAction *m_pauseAction = nullptr;
    QAction *m_readOnlyAction = nullptr;
    QAction *m_reloadAction = nullptr;
    QAction *m_logAction = nullptr;
    QList<QAction *> m_tabActions;
    QMenu *m_recentMenu = nullptr;

    Connection *m_connection = nullptr;
    ConnectionSpec m_lastSpec;
    bool m_hasLastSpec = false;
    bool m_clientGiven = false;
    bool m_closedByUser = false; // File → Disconnect: the last error is no longer news
    ConnectionState m_state = ConnectionState::NotConnected;
    QHash<QString, QByteArray> m_sessionTokens; // URL -> token typed this run and not stored
};

} // namespace sidecar::inspector
