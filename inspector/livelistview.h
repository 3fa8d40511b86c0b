#pragma once

// LiveListView: what the Workflows, Leases, Sessions and History tabs share around their live
// list: the client and its McpClient (whose destruction unsets the client), the LiveUpdates
// subscriptions, and pausing (nothing is re-read while paused; a change of client or a
// notification during the pause is re-read once when it ends). Each tab creates m_live, and
// provides reload(), updateSummary() (its status line, which shows the pause) and applyFilter()
// (its filter fields, applied after a pause in typing).
//
// Thread: GUI thread only. Ownership: plain Qt parent ownership; the SidecarClient is the window's.

#include <QPointer>
#include <QString>
#include <QTimer>

#include "stateview.h"

class QAbstractItemModel;
class QLineEdit;

namespace sidecar::client {
class McpClient;
}

namespace sidecar::inspector {

class LiveUpdates;

class LiveListView : public StateView
{
public:
    using StateView::StateView;

    void setPaused(bool paused) override;

protected:
    // Takes `sidecar` as m_client, hands its McpClient to m_live and drops a pending filter; the
    // tab's own set-up follows.
    void bindClient(client::SidecarClient *sidecar);
    // Ends a setClient(): without a client the status line is updated; else the tab reloads now,
    // or when the pause ends.
    void reloadForNewClient();
    virtual void updateSummary() = 0;
    // Applies the filter fields (m_filterTimer runs it after a pause in typing).
    virtual void applyFilter() = 0;

    // Makes m_filterTimer a single-shot timer that calls applyFilter().
    void setUpFilterTimer();
    // Typing in `edit` (re)starts m_filterTimer; Return applies at once.
    void filterAsTyped(QLineEdit *edit);
    // Rows coming and going in `model` update the status line.
    void summarizeRowsOf(QAbstractItemModel *model);

    // countText()'s two texts: for one row, and for %1 rows.
    struct CountTexts
    {
        QString one;
        QString many;
    };
    // The status line of a list of `rows` rows: `offline` without a client, "Loading…" while the
    // first page is read, `partial` while more pages can be fetched, else `complete`; then
    // " · paused" when paused.
    QString listSummary(int rows, bool loading, bool hasMore, const CountTexts &offline,
                        const CountTexts &partial, const CountTexts &complete) const;

    client::SidecarClient *m_client = nullptr;
    QPointer<client::McpClient> m_mcp;
    LiveUpdates *m_live = nullptr;
    bool m_paused = false;
    bool m_dirty = false; // something to re-read when the pause ends
    QTimer m_filterTimer;
};

} // namespace sidecar::inspector
