#pragma once

// HistoryView: the History tab, an audit log viewer. A live tail of history entries, newest first
// (revision, time, kind, op, key, agent, principal), filtered by kind (all, kv, workflow, lease,
// session, store) and by an exact key or a key prefix; scrolling to the end loads older entries
// (history_log's before_revision). Selecting an entry shows what it changed: a side-by-side diff
// of the previous and the new value, pretty-printed, changed lines highlighted (ValueDiffModel),
// and each value whole in the JSON viewer.
//
// The live tail follows resources/subscribe of state://history, not state_watch: state_watch
// watches one kind per call (no kind means kv only), so "all kinds" would need five long-polls
// parked at once, each holding one of the six connections Qt's network access gives a host, and
// the other tabs' requests would queue behind them; a subscription costs nothing while nothing
// happens, rides on the session's event stream, is coalesced by the server (at most a few
// notifications per second) and is renewed by McpClient after a reconnection. On each
// notification the model reads the entries newer than the newest shown with history_log (paging
// back with before_revision until it meets them), so a burst leaves no gap and the filter is
// exactly history_log's.
//
// Paused: no entries are added; unpausing catches up. The tab has no action that changes state,
// so read-only mode changes nothing in it.
//
// Thread: GUI thread only. Ownership: its widgets and models are its children; the SidecarClient
// is the window's, set with setClient() and replaced or cleared before it goes away.

#include <QPointer>
#include <QTimer>

#include "client/sidecarclient.h"
#include "livelistview.h"

class QComboBox;
class QLabel;
class QLineEdit;
class QModelIndex;
class QStackedWidget;
class QTabWidget;
class QTableView;

namespace sidecar::client {
class McpClient;
}

namespace sidecar::inspector {

class HistoryModel;
class JsonViewer;
class LiveUpdates;
class ValueDiffModel;

class HistoryView : public LiveListView
{
    Q_OBJECT
public:
    explicit HistoryView(QWidget *parent = nullptr);
    ~HistoryView() override;

    void setClient(client::SidecarClient *client) override;
    void setReadOnly(bool readOnly) override;
    void reload() override;

    HistoryModel *model() const { return m_model; }
    ValueDiffModel *diffModel() const { return m_diff; }
    QTableView *table() const { return m_table; }
    // The entry shown below the table, if any.
    const client::HistoryEntry *selectedEntry() const { return m_hasEntry ? &m_entry : nullptr; }
    // Selects the row of this revision when it is shown; false otherwise.
    bool selectRevision(qint64 revision);

private:
    void applyFilter() override;
    void onCurrentChanged(const QModelIndex &current);
    void showEntry(const client::HistoryEntry &entry);
    void clearEntry();
    void updateSummary() override;

    int m_channel = -1;

    HistoryModel *m_model = nullptr;
    ValueDiffModel *m_diff = nullptr;
    QComboBox *m_kindFilter = nullptr;
    QComboBox *m_matchMode = nullptr;
    QLineEdit *m_keyFilter = nullptr;
    QLabel *m_summary = nullptr;
    QTableView *m_table = nullptr;
    QStackedWidget *m_detailStack = nullptr;
    QLabel *m_entryTitle = nullptr;
    QLabel *m_diffSummary = nullptr;
    QTabWidget *m_detailTabs = nullptr;
    QTableView *m_diffTable = nullptr;
    JsonViewer *m_newViewer = nullptr;
    JsonViewer *m_previousViewer = nullptr;
    int m_scrollBeforeInsert = 0;

    client::HistoryEntry m_entry;
    bool m_hasEntry = false;
};

} // namespace sidecar::inspector
