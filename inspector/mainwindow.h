#pragma once

// MainWindow: the inspector's top-level window. It owns one tab per kind of state the sidecar
// keeps (keys, workflows, leases, sessions, history), the File and Help menus, and a status bar
// whose permanent label tells whether a sidecar is connected.
//
// For now every tab holds a placeholder: the item models and the MCP client that feed them are
// not written yet, and File → Connect… only says so in the status bar. The window will know only
// its views and their models; nothing in the UI speaks JSON-RPC.
//
// Thread: GUI thread only, like every widget.

#include <QMainWindow>

class QAction;
class QLabel;
class QTabWidget;

namespace sidecar::inspector {

class MainWindow : public QMainWindow
{
    Q_OBJECT
public:
    explicit MainWindow(QWidget *parent = nullptr);
    ~MainWindow() override;

    // The tab widget in the centre: Keys, Workflows, Leases, Sessions, History, in that order.
    QTabWidget *tabs() const { return m_tabs; }
    // The text of the permanent status-bar label, "Not connected" until a connection exists.
    QString connectionStatus() const;
    QAction *connectAction() const { return m_connectAction; }

Q_SIGNALS:
    // File → Connect… was chosen. Nothing handles it yet but the window's own status message.
    void connectRequested();

private:
    void createMenus();
    void createTabs();
    void showAbout();
    void onConnectRequested();

    QTabWidget *m_tabs = nullptr;
    QLabel *m_connectionLabel = nullptr;
    QAction *m_connectAction = nullptr;
};

} // namespace sidecar::inspector
