#include "historymodel.h"

#include <QColor>
#include <QSet>

namespace sidecar::inspector {

namespace {

// Rows kept at most: a tail left running for days drops its oldest rows (they can be paged in again).
constexpr int kMaxRows = 20000;

} // namespace

HistoryModel::HistoryModel(QObject *parent) : KeyedTableModel(parent) {}

void HistoryModel::setClient(client::SidecarClient *client)
{
    m_client = client;
    ++m_generation;
    m_loading = false;
    m_fetching = false;
    m_catchingUp = false;
    m_catchUpAgain = false;
    setStale(client == nullptr);
}

void HistoryModel::setFilter(const Filter &filter)
{
    m_filter = filter;
    ++m_generation;
    m_loaded = false;
    m_more = false;
    clearItems();
    reload();
}

client::HistoryQuery HistoryModel::baseQuery() const
{
    client::HistoryQuery query;
    query.kind = m_filter.kind;
    query.key = m_filter.key;
    query.prefix = m_filter.key.isEmpty() ? m_filter.prefix : QString();
    query.n = kPageSize;
    return query;
}

void HistoryModel::reload()
{
    if (!m_client)
        return;
    const quint64 generation = ++m_generation;
    m_loading = true;
    m_fetching = false;
    m_catchingUp = false;
    m_catchUpAgain = false;
    QPointer<HistoryModel> self(this);
    m_client->historyLog(baseQuery(), [self, generation](Result<client::HistoryPage> result) {
        if (!self || generation != self->m_generation)
            return;
        self->m_loading = false;
        if (!result) {
            emit self->errorOccurred(tr("Cannot read the history: %1").arg(result.error().message));
            return;
        }
        self->m_loaded = true;
        self->m_more = result->more;
        self->mergeItems(result->entries);
        emit self->loaded();
    });
}

void HistoryModel::catchUp()
{
    if (!m_client || m_loading)
        return; // a reload in flight brings the newest entries anyway
    if (!m_loaded || m_items.isEmpty()) {
        reload();
        return;
    }
    if (m_catchingUp) {
        m_catchUpAgain = true;
        return;
    }
    m_catchingUp = true;
    catchUpPage(m_generation, newestRevision(), std::nullopt, {});
}

void HistoryModel::catchUpPage(quint64 generation, qint64 after, std::optional<qint64> before,
                               QList<client::HistoryEntry> gathered)
{
    client::HistoryQuery query = baseQuery();
    query.beforeRevision = before;
    QPointer<HistoryModel> self(this);
    m_client->historyLog(query, [self, generation, after,
                                 gathered = std::move(gathered)](Result<client::HistoryPage> result) mutable {
        if (!self || generation != self->m_generation)
            return;
        if (!result) {
            self->m_catchingUp = false;
            emit self->errorOccurred(tr("Cannot read the newest history: %1").arg(result.error().message));
            return;
        }
        bool reached = false;
        for (const client::HistoryEntry &entry : std::as_const(result->entries)) {
            if (entry.revision <= after) {
                reached = true;
                break;
            }
            gathered.append(entry);
        }
        if (!reached && result->more && !result->entries.isEmpty()) {
            if (gathered.size() >= kMaxCatchUp) { // far behind: start over from the newest page
                self->m_catchingUp = false;
                self->reload();
                return;
            }
            const qint64 oldest = gathered.isEmpty() ? result->entries.last().revision
                                                     : gathered.last().revision;
            self->catchUpPage(generation, after, oldest, std::move(gathered));
            return;
        }
        self->finishCatchUp(gathered);
    });
}

void HistoryModel::finishCatchUp(const QList<client::HistoryEntry> &newer)
{
    m_catchingUp = false;
    QSet<qint64> shown;
    for (const client::HistoryEntry &entry : std::as_const(m_items))
        shown.insert(entry.id);
    QList<client::HistoryEntry> fresh;
    for (const client::HistoryEntry &entry : newer) {
        if (!shown.contains(entry.id))
            fresh.append(entry);
    }
    if (!fresh.isEmpty()) {
        beginInsertRows({}, 0, int(fresh.size()) - 1);
        m_items = fresh + m_items;
        endInsertRows();
        if (m_items.size() > kMaxRows) {
            beginRemoveRows({}, kMaxRows, int(m_items.size()) - 1);
            m_items.resize(kMaxRows);
            endRemoveRows();
            m_more = true;
        }
        emit entriesPrepended(int(fresh.size()));
    }
    if (std::exchange(m_catchUpAgain, false))
        catchUp();
}

bool HistoryModel::canFetchMore(const QModelIndex &parent) const
{
    return !parent.isValid() && m_client && m_loaded && m_more && !m_items.isEmpty() && !m_fetching
           && !m_loading;
}

void HistoryModel::fetchMore(const QModelIndex &parent)
{
    if (!canFetchMore(parent))
        return;
    m_fetching = true;
    const quint64 generation = m_generation;
    client::HistoryQuery query = baseQuery();
    query.beforeRevision = m_items.last().revision;
    QPointer<HistoryModel> self(this);
    m_client->historyLog(query, [self, generation](Result<client::HistoryPage> result) {
        if (!self || generation != self->m_generation)
            return;
        self->m_fetching = false;
        if (!result) {
            emit self->errorOccurred(tr("Cannot read older history: %1").arg(result.error().message));
            return;
        }
        self->m_more = result->more;
        self->appendItems(result->entries);
        emit self->loaded();
    });
}

QStringList HistoryModel::columnTitles() const
{
    return {tr("Revision"), tr("Time"), tr("Kind"), tr("Op"), tr("Key"), tr("Agent"), tr("Principal")};
}

QVariant HistoryModel::itemData(const client::HistoryEntry &entry, int column, int role) const
{
    switch (role) {
    case RevisionRole: return entry.revision;
    case EntryIdRole: return entry.id;
    case Qt::DisplayRole:
        switch (column) {
        case RevisionColumn: return QString::number(entry.revision);
        case TimeColumn: return formatTimestamp(entry.writtenAt);
        case KindColumn: return entry.kind;
        case OpColumn: return entry.op;
        case KeyColumn: return entry.key;
        case AgentColumn: return entry.agentId;
        case PrincipalColumn: return entry.principal;
        default: return {};
        }
    case Qt::ForegroundRole:
        if (column == OpColumn) {
            if (entry.op == QLatin1String("delete") || entry.op == QLatin1String("expire")
                || entry.op == QLatin1String("release") || entry.op == QLatin1String("reset"))
                return QColor(0xc0, 0x39, 0x2b);
            if (entry.op == QLatin1String("create") || entry.op == QLatin1String("acquire")
                || entry.op == QLatin1String("claim"))
                return QColor(0x2e, 0x8b, 0x57);
        }
        return {};
    case Qt::TextAlignmentRole:
        if (column == RevisionColumn)
            return QVariant(Qt::AlignRight | Qt::AlignVCenter);
        return {};
    default: return {};
    }
}

} // namespace sidecar::inspector
