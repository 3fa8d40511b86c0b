#pragma once

// LeaseModel: the Leases tab's table of live leases (lease_list: resource, holder, fence, expiry)
// for a resource-id prefix, in the server's order (by resource id), a page at a time as the view
// scrolls. The "Remaining" column is a countdown that tick() repaints; a lease whose countdown
// reaches zero is drawn as lapsed (greyed, "lapsed") and lapsed() asks the view for a refresh,
// which removes it (lease_list returns live leases only). reload() re-reads the rows shown in
// one call and merges them by resource id, keeping the selection.
//
// Thread: GUI thread only. Ownership: the view's; the SidecarClient is the window's.

#include <QSet>

#include "client/sidecarclient.h"
#include "prefixlistmodel.h"

namespace sidecar::inspector {

class LeaseModel : public PrefixListModel<LeaseModel, client::Lease, client::LeasePage>
{
    Q_OBJECT
public:
    enum Column { ResourceColumn, HolderColumn, FenceColumn, ExpiresAtColumn, RemainingColumn, ColumnCount };
    enum Role { ResourceIdRole = Qt::UserRole + 1, LapsedRole };

    explicit LeaseModel(QObject *parent = nullptr);

    // Leases shown whose expiry has passed (they go at the next reload).
    int lapsedCount() const;

    // Repaints the countdowns; emits lapsed() when one reached zero since the last tick.
    void tick();

signals:
    void loaded();
    void lapsed();
    void errorOccurred(const QString &message);

protected:
    QString keyOf(const client::Lease &lease) const override { return lease.resourceId; }
    QStringList columnTitles() const override;
    QVariant itemData(const client::Lease &lease, int column, int role) const override;

private:
    QSet<QString> m_announcedLapses; // "resource@fence" already reported by lapsed()
};

} // namespace sidecar::inspector
