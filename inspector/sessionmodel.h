#pragma once

// SessionModel: the Sessions tab's list of saved sessions (session_list: id, saved, updated) for a
// session-id prefix, in the server's order, a page at a time as the view scrolls. reload()
// re-reads the rows shown in one call and merges them by session id, keeping the selection.
//
// Thread: GUI thread only. Ownership: the view's; the SidecarClient is the window's.

#include <QPointer>

#include "client/sidecarclient.h"
#include "keyedtablemodel.h"

namespace sidecar::inspector {

class SessionModel : public KeyedTableModel<client::SessionSummary>
{
    Q_OBJECT
public:
    enum Column { SessionColumn, SavedColumn, UpdatedColumn, ColumnCount };
    enum Role { SessionIdRole = Qt::UserRole + 1 };
    static constexpr int kPageSize = 200;

    explicit SessionModel(QObject *parent = nullptr);

    // The client to read with (nullptr: none; the rows stay, greyed). Does not reload by itself.
    void setClient(client::SidecarClient *client);
    void setPrefix(const QString &prefix);
    QString prefix() const { return m_prefix; }
    void reload();
    bool isLoading() const { return m_loading; }
    bool hasMore() const { return !m_cursor.isEmpty(); }

    bool canFetchMore(const QModelIndex &parent) const override;
    void fetchMore(const QModelIndex &parent) override;

signals:
    void loaded();
    void errorOccurred(const QString &message);

protected:
    QString keyOf(const client::SessionSummary &session) const override { return session.sessionId; }
    QStringList columnTitles() const override;
    QVariant itemData(const client::SessionSummary &session, int column, int role) const override;

private:
    client::SidecarClient *m_client = nullptr;
    QString m_prefix;
    QString m_cursor;
    quint64 m_generation = 0;
    bool m_loading = false;
    bool m_fetching = false;
};

} // namespace sidecar::inspector
