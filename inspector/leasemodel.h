#pragma once

// LeaseModel: the Leases tab's table of live leases (lease_list: resource, holder, fence, expiry)
// for a resource-id prefix, in the server's order (by resource id), a page at a time as the view
// scrolls. The "Remaining" column is a countdown that tick() repaints; a lease whose countdown
// reaches zero is drawn as lapsed (greyed, "lapsed") and lapsed() asks the view for a refresh,
// which removes it (lease_list returns live leases only). reload() re-reads the rows shown in
// one call and merges them by resource id, keeping the selection.
//
// Thread: GUI thread only. Ownership: the view's; the SidecarClient is the window's.

#include <QPointer>
#include <QSet>

#include "client/sidecarclient.h"
#include "keyedtablemodel.h"

namespace sidecar::inspector {

class LeaseModel : public KeyedTableModel<client::Lease>
{
    Q_OBJECT
public:
    enum Column { ResourceColumn, HolderColumn, FenceColumn, ExpiresAtColumn, RemainingColumn, ColumnCount };
    enum Role { ResourceIdRole = Qt::UserRole + 1, LapsedRole };
    static constexpr int kPageSize = 200;

    explicit LeaseModel(QObject *parent = nullptr);

    // The client to read with (nullptr: none; the rows stay, greyed). Does not reload by itself.
    void setClient(client::SidecarClient *client);
    void setPrefix(const QString &prefix);
    QString prefix() const { return m_prefix; }
    void reload();
    bool isLoading() const { return m_loading; }
    bool hasMore() const { return !m_cursor.isEmpty(); }
    // Leases shown whose expiry has passed (they go at the next reload).
    int lapsedCount() const;

    bool canFetchMore(const QModelIndex &parent) const override;
    void fetchMore(const QModelIndex &parent) override;

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
    client::SidecarClient *m_client = nullptr;
    QString m_prefix;
    QString m_cursor;
    quint64 m_generation = 0;
    bool m_loading = false;
    bool m_fetching = false;
    QSet<QString> m_announcedLapses; // "resource@fence" already reported by lapsed()
};

} // namespace sidecar::inspector
