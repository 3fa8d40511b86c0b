#pragma once

// HistoryModel: the History tab's entries (history_log), newest first, for a filter (kind, an
// exact key or a key prefix). It shows the newest page at first, loads older pages as the view
// scrolls to the end (canFetchMore/fetchMore with before_revision = the oldest revision shown, while
// the server says more:true), and follows the live tail with catchUp(): it reads the entries newer
// than the newest shown (paging back with before_revision until it meets what is shown, so that a
// burst between two notifications leaves no gap) and inserts them at the top.
//
// Thread: GUI thread only. Ownership: the view's; the SidecarClient is the window's.

#include <QPointer>

#include "client/sidecarclient.h"
#include "keyedtablemodel.h"

namespace sidecar::inspector {

class HistoryModel : public KeyedTableModel<client::HistoryEntry>
{
    Q_OBJECT
public:
    enum Column {
        RevisionColumn,
        TimeColumn,
        KindColumn,
        OpColumn,
        KeyColumn,
        AgentColumn,
        PrincipalColumn,
        ColumnCount
    };
    enum Role { RevisionRole = Qt::UserRole + 1, EntryIdRole };
    static constexpr int kPageSize = 100;
    // A live tail further behind than this many entries starts over from the newest page.
    static constexpr int kMaxCatchUp = 2000;

    struct Filter
    {
        QString kind;   // empty: every kind
        QString key;    // exact key, run, resource or session id
        QString prefix; // or a key prefix
    };

    explicit HistoryModel(QObject *parent = nullptr);

    // The client to read with (nullptr: none; the rows stay, greyed). Does not reload by itself.
    void setClient(client::SidecarClient *client);
    void setFilter(const Filter &filter);
    const Filter &filter() const { return m_filter; }
    // Reads the newest page anew (merged by entry id: the selection stays when it is still there).
    void reload();
    // Brings the entries newer than the newest shown.
    void catchUp();
    bool isLoading() const { return m_loading || m_catchingUp; }
    // Older entries remain on the server.
    bool hasMore() const { return m_more; }
    // The newest revision shown (0: none).
    qint64 newestRevision() const { return m_items.isEmpty() ? 0 : m_items.first().revision; }

    bool canFetchMore(const QModelIndex &parent) const override;
    void fetchMore(const QModelIndex &parent) override;

signals:
    void loaded();
    // Entries came at the top (the live tail).
    void entriesPrepended(int count);
    void errorOccurred(const QString &message);

protected:
    QString keyOf(const client::HistoryEntry &entry) const override { return QString::number(entry.id); }
    QStringList columnTitles() const override;
    QVariant itemData(const client::HistoryEntry &entry, int column, int role) const override;

private:
    client::HistoryQuery baseQuery() const;
    void catchUpPage(quint64 generation, qint64 after, std::optional<qint64> before,
                     QList<client::HistoryEntry> gathered);
    void finishCatchUp(const QList<client::HistoryEntry> &newer);

    client::SidecarClient *m_client = nullptr;
    Filter m_filter;
    quint64 m_generation = 0;
    bool m_loaded = false;     // the newest page of this filter has been read
    bool m_loading = false;    // a reload in flight
    bool m_fetching = false;   // an older page in flight
    bool m_catchingUp = false; // a catch-up in flight
    bool m_catchUpAgain = false;
    bool m_more = false;
};

} // namespace sidecar::inspector
