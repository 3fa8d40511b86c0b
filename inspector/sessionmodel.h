#pragma once

// SessionModel: the Sessions tab's list of saved sessions (session_list: id, saved, updated) for a
// session-id prefix, in the server's order, a page at a time as the view scrolls. reload()
// re-reads the rows shown in one call and merges them by session id, keeping the selection.
//
// Thread: GUI thread only. Ownership: the view's; the SidecarClient is the window's.

#include "client/sidecarclient.h"
#include "prefixlistmodel.h"

namespace sidecar::inspector {

class SessionModel : public PrefixListModel<SessionModel, client::SessionSummary, client::SessionPage>
{
    Q_OBJECT
public:
    enum Column { SessionColumn, SavedColumn, UpdatedColumn, ColumnCount };
    enum Role { SessionIdRole = Qt::UserRole + 1 };

    explicit SessionModel(QObject *parent = nullptr);

signals:
    void loaded();
    void errorOccurred(const QString &message);

protected:
    QString keyOf(const client::SessionSummary &session) const override { return session.sessionId; }
    QStringList columnTitles() const override;
    QVariant itemData(const client::SessionSummary &session, int column, int role) const override;
};

} // namespace sidecar::inspector
