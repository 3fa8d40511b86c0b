#include "leasemodel.h"

#include <QColor>
#include <QFont>

namespace sidecar::inspector {

namespace {

QString lapseKey(const client::Lease &lease)
{
    return lease.resourceId + QLatin1Char('@') + QString::number(lease.fence);
}

} // namespace

LeaseModel::LeaseModel(QObject *parent)
    : PrefixListModel(&client::SidecarClient::leaseList, &client::LeasePage::leases,
                      tr("Cannot list leases: %1"), tr("Cannot list more leases: %1"), parent)
{}

int LeaseModel::lapsedCount() const
{
    const double now = nowEpochSeconds();
    int count = 0;
    for (const client::Lease &lease : m_items) {
        if (lease.expiresAt <= now)
            ++count;
    }
    return count;
}

void LeaseModel::tick()
{
    if (m_items.isEmpty())
        return;
    const double now = nowEpochSeconds();
    bool newlyLapsed = false;
    for (const client::Lease &lease : std::as_const(m_items)) {
        if (lease.expiresAt <= now && !m_announcedLapses.contains(lapseKey(lease))) {
            m_announcedLapses.insert(lapseKey(lease));
            newlyLapsed = true;
        }
    }
    // Forget lapses of leases no longer shown (a lease granted anew has another fence anyway).
    if (m_announcedLapses.size() > m_items.size()) {
        QSet<QString> shown;
        for (const client::Lease &lease : std::as_const(m_items))
            shown.insert(lapseKey(lease));
        m_announcedLapses.intersect(shown);
    }
    emit dataChanged(index(0, 0), index(rowCount() - 1, ColumnCount - 1),
                     {Qt::DisplayRole, Qt::ForegroundRole, Qt::FontRole, LapsedRole});
    if (newlyLapsed)
        emit lapsed();
}

QStringList LeaseModel::columnTitles() const
{
    return {tr("Resource"), tr("Holder"), tr("Fence"), tr("Expires at"), tr("Remaining")};
}

QVariant LeaseModel::itemData(const client::Lease &lease, int column, int role) const
{
    const bool isLapsed = lease.expiresAt <= nowEpochSeconds();
    switch (role) {
    case ResourceIdRole: return lease.resourceId;
    case LapsedRole: return isLapsed;
    case Qt::DisplayRole:
        switch (column) {
        case ResourceColumn: return lease.resourceId;
        case HolderColumn: return lease.holder;
        case FenceColumn: return QString::number(lease.fence);
        case ExpiresAtColumn: return formatTimestamp(lease.expiresAt);
        case RemainingColumn: return formatCountdown(lease.expiresAt, nowEpochSeconds());
        default: return {};
        }
    case Qt::ForegroundRole:
        if (isLapsed)
            return QColor(Qt::gray);
        return {};
    case Qt::FontRole:
        if (isLapsed) {
            QFont font;
            font.setItalic(true);
            return font;
        }
        return {};
    case Qt::ToolTipRole:
        if (isLapsed)
            return tr("This lease lapsed: it is no longer held and goes at the next refresh.");
        return {};
    case Qt::TextAlignmentRole:
        if (column == FenceColumn || column == RemainingColumn)
            return QVariant(Qt::AlignRight | Qt::AlignVCenter);
        return {};
    default: return {};
    }
}

} // namespace sidecar::inspector
