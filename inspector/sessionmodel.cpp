#include "sessionmodel.h"

namespace sidecar::inspector {

SessionModel::SessionModel(QObject *parent)
    : PrefixListModel(&client::SidecarClient::sessionList, &client::SessionPage::sessions,
                      tr("Cannot list sessions: %1"), tr("Cannot list more sessions: %1"), parent)
{}

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
