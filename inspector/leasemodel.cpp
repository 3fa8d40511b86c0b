#include "leasemodel.h"

#include <QColor>
#include <QFont>

namespace sidecar::inspector {

namespace {

constexpr int kMaxLimit = 10000; // lease_list's largest page

QString lapseKey(const client::Lease &lease)
{
    return lease.resourceId + QLatin1Char('@') + QString::number(lease.fence);
}

} // namespace

LeaseModel::LeaseModel(QObject *parent) : KeyedTableModel(parent) {}

void LeaseModel::setClient(client::SidecarClient *client)
{
    m_client = client;
    ++m_generation;
    m_loading = false;
    m_fetching = false;
    setStale(client == nullptr);
}

void LeaseModel::setPrefix(const QString &prefix)
{
    m_prefix = prefix;
    ++m_generation;
    m_cursor.clear();
    clearItems();
    reload();
}

void LeaseModel::reload()
{
    if (!m_client)
        return;
    const quint64 generation = ++m_generation;
    m_fetching = false;
    m_loading = true;
    client::PageQuery query;
    query.prefix = m_prefix;
    const int shown = std::max<int>(kPageSize, int(m_items.size()));
    query.limit = std::min(kMaxLimit, (shown + kPageSize - 1) / kPageSize * kPageSize);
    QPointer<LeaseModel> self(this);
    m_client->leaseList(query, [self, generation](Result<client::LeasePage> result) {
        if (!self || generation != self->m_generation)
            return;
        self->m_loading = false;
        if (!result) {
            emit self->errorOccurred(tr("Cannot list leases: %1").arg(result.error().message));
            return;
        }
        self->m_cursor = result->nextCursor;
        self->mergeItems(result->leases);
        emit self->loaded();
    });
}

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

bool LeaseModel::canFetchMore(const QModelIndex &parent) const
{
    return !parent.isValid() && m_client && !m_cursor.isEmpty() && !m_fetching && !m_loading;
}

void LeaseModel::fetchMore(const QModelIndex &parent)
{
    if (!canFetchMore(parent))
        return;
    m_fetching = true;
    const quint64 generation = m_generation;
    client::PageQuery query;
    query.prefix = m_prefix;
    query.limit = kPageSize;
    query.cursor = m_cursor;
    QPointer<LeaseModel> self(this);
    m_client->leaseList(query, [self, generation](Result<client::LeasePage> result) {
        if (!self || generation != self->m_generation)
            return;
        self->m_fetching = false;
        if (!result) {
            emit self->errorOccurred(tr("Cannot list more leases: %1").arg(result.error().message));
            return;
        }
        self->m_cursor = result->nextCursor;
        self->appendItems(result->leases);
        emit self->loaded();
    });
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
