#pragma once

// SessionsView: the Sessions tab. On the left the saved sessions (session_list: id, saved,
// updated; a session-id prefix filter; paged as the list scrolls), on the right the selected
// session's context (session_restore) in the JSON viewer, with its times.
//
// Live: state://sessions (the list) and state://sessions/<id> (the selected session) are
// subscribed through LiveUpdates; each reloads coalesced. Paused: nothing is reloaded; unpausing
// catches up. The tab has no action that changes state, so read-only mode changes nothing in it.
//
// Thread: GUI thread only. Ownership: its widgets and model are its children; the SidecarClient
// is the window's, set with setClient() and replaced or cleared before it goes away.

#include <QPointer>
#include <QTimer>

#include "client/sidecarclient.h"
#include "livelistview.h"

class QLabel;
class QLineEdit;
class QModelIndex;
class QStackedWidget;
class QTableView;

namespace sidecar::client {
class McpClient;
}

namespace sidecar::inspector {

class JsonViewer;
class LiveUpdates;
class SessionModel;

class SessionsView : public LiveListView
{
    Q_OBJECT
public:
    explicit SessionsView(QWidget *parent = nullptr);
    ~SessionsView() override;

    void setClient(client::SidecarClient *client) override;
    void setReadOnly(bool readOnly) override;
    void reload() override;

    SessionModel *model() const { return m_model; }
    QTableView *table() const { return m_table; }
    QString selectedSessionId() const { return m_sessionId; }
    // Shows this session (selecting its row when it is loaded).
    void selectSession(const QString &sessionId);
    // The selected session as last read (session_restore), if any.
    const client::SessionContext *selectedSession() const { return m_loaded ? &m_session : nullptr; }

private:
    void applyFilter() override;
    void onCurrentChanged(const QModelIndex &current);
    void showSession(const QString &sessionId);
    void loadDetail();
    void updateSummary() override;
    void restoreSelection();

    int m_listChannel = -1;
    int m_detailChannel = -1;

    SessionModel *m_model = nullptr;
    QLineEdit *m_prefixFilter = nullptr;
    QLabel *m_summary = nullptr;
    QTableView *m_table = nullptr;
    QStackedWidget *m_detailStack = nullptr;
    QLabel *m_title = nullptr;
    QLabel *m_savedLabel = nullptr;
    QLabel *m_updatedLabel = nullptr;
    QLabel *m_detailError = nullptr;
    JsonViewer *m_contextViewer = nullptr;

    QString m_sessionId;
    client::SessionContext m_session;
    bool m_loaded = false;
    quint64 m_detailGeneration = 0;
    QByteArray m_shownContext;
};

} // namespace sidecar::inspector
