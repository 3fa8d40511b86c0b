#pragma once

// StateView: what every tab of the inspector's window is (keys, workflows, leases, sessions,
// history). The window owns the connection and hands each view the typed client; a view loads
// what it shows through it, keeps itself live (resources/subscribe through McpClient, or
// state_watch) and never speaks JSON-RPC itself.
//
// Lifecycle: setClient(client) when a connection becomes ready (and again after a reconnect:
// reload and re-subscribe), setClient(nullptr) when it is gone (keep showing the last data,
// greyed, until a new client comes). setPaused(true) freezes the view (no reloads, no live
// updates applied; countdowns may keep ticking); setPaused(false) catches up at once.
// setReadOnly(true) hides or disables every action that changes state.
//
// Thread: GUI thread only.

#include <QWidget>

namespace sidecar::client {
class SidecarClient;
}

namespace sidecar::inspector {

class StateView : public QWidget
{
    Q_OBJECT
public:
    using QWidget::QWidget;
    ~StateView() override = default;

    virtual void setClient(client::SidecarClient *client) = 0;
    virtual void setPaused(bool paused) = 0;
    virtual void setReadOnly(bool readOnly) = 0;
    // Reloads everything now (F5).
    virtual void reload() = 0;

signals:
    // A short message for the window's status bar (an error, a conflict, "saved").
    void statusMessage(const QString &text);
};

} // namespace sidecar::inspector
