#include "sessionmodel.h"

namespace sidecar::inspector {

namespace {

constexpr int kMaxLimit = 10000; // session_list's largest page

} // namespace

SessionModel::SessionModel(QObject *parent) : KeyedTableModel(parent) {}

void SessionModel::setClient(client::SidecarClient *client)
{
    m_client = client;
    ++m_generation;
    m_loading = false;
    m_fetching = false;
    setStale(client == nullptr);
}

void SessionModel::setPrefix(const QString &prefix)
{
    m_prefix = prefix;
    ++m_generation;
    m_cursor.clear();
    clearItems();
    reload();
}

void SessionModel::reload()
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
    QPointer<SessionModel> self(this);
    m_client->sessionList(query, [self, generation](Result<client::SessionPage> result) {
        if (!self || generation != self->m_generation)
            return;
        self->m_loading = false;
        if (!result) {
            emit self->errorOccurred(tr("Cannot list sessions: %1").arg(result.error().message));
            return;
        }
        self->m_cursor = result->nextCursor;
        self->mergeItems(result->sessions);
        emit self->loaded();
    });
}

bool SessionModel::canFetchMore(const QModelIndex &parent) const
{
    return !parent.isValid() && m_client && !m_cursor.isEmpty() && !m_fetching && !m_loading;
}

void SessionModel::fetchMore(const QModelIndex &parent)
{
    if (!canFetchMore(parent))
        return;
    m_fetching = true;
    const quint64 generation = m_generation;
    client::PageQuery query;
    query.prefix = m_prefix;
    query.limit = kPageSize;
    query.cursor = m_cursor;
    QPointer<SessionModel> self(this);
    m_client->sessionList(query, [self, generation](Result<client::SessionPage> result) {
        if (!self || generation != self->m_generation)
            return;
        self->m_fetching = false;
        if (!result) {
            emit self->errorOccurred(tr("Cannot list more sessions: %1").arg(result.error().message));
            return;
        }
        self->m_cursor = result->nextCursor;
        self->appendItems(result->sessions);
        emit self->loaded();
    });
}

QStringList SessionModel::columnTitles() const
{
    return {tr("Session"), tr("Saved"), tr("Updated")};
}

QVariant SessionModel::itemData(const client::SessionSummary &session, int column, int role) const
{
    if (role == SessionIdRole)
        return session.sessionId;
    if (role != Qt::DisplayRole)
        return {};
    switch (column) {
    case SessionColumn: return session.sessionId;
    case SavedColumn: return formatTimestamp(session.savedAt);
    case UpdatedColumn: return formatTimestamp(session.updatedAt);
    default: return {};
    }
}

} // namespace sidecar::inspector
