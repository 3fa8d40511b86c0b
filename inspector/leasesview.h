#pragma once

// LeasesView: the Leases tab. A table of the live leases (lease_list: resource, holder, fence,
// expiry and a live countdown), filtered by a resource-id prefix and paged as the table scrolls.
// A lease whose countdown reaches zero is shown as lapsed (greyed, "lapsed") and removed by the
// refresh that its lapse triggers (the server lists live leases only; while lapsed rows remain
// on screen, because this machine's clock runs ahead of the server's, it refreshes once a second).
//
// Live: state://leases is subscribed through LiveUpdates; updates reload coalesced. Paused: no
// reloads (countdowns keep ticking); unpausing catches up. The tab has no action that changes
// state, so read-only mode changes nothing in it.
//
// Thread: GUI thread only. Ownership: its widgets and model are its children; the SidecarClient
// is the window's, set with setClient() and replaced or cleared before it goes away.

#include <QPointer>
#include <QTimer>

#include "livelistview.h"

class QLabel;
class QLineEdit;
class QTableView;

namespace sidecar::client {
class McpClient;
}

namespace sidecar::inspector {

class LeaseModel;
class LiveUpdates;

class LeasesView : public LiveListView
{
    Q_OBJECT
public:
    explicit LeasesView(QWidget *parent = nullptr);
    ~LeasesView() override;

    void setClient(client::SidecarClient *client) override;
    void setReadOnly(bool readOnly) override;
    void reload() override;

    LeaseModel *model() const { return m_model; }
    QTableView *table() const { return m_table; }

private:
    void applyFilter() override;
    void updateSummary() override;

    int m_channel = -1;

    LeaseModel *m_model = nullptr;
    QLineEdit *m_prefixFilter = nullptr;
    QLabel *m_summary = nullptr;
    QTableView *m_table = nullptr;
    QTimer m_tickTimer;
    QTimer m_lapsedRetry; // lapsed rows still listed: ask again
};

} // namespace sidecar::inspector
