#pragma once

// KeyTreeModel: the sidecar's keys as a tree by prefix, listed lazily from the server with
// state_list and a delimiter (TOOLS.md, "Group 1"): the keys and the rolled-up prefixes ("folders")
// directly under a folder are fetched a page at a time (canFetchMore/fetchMore, next_cursor), so a
// store with a million keys shows its first level at once and never loads what nobody looks at.
//
// - canFetchMore/fetchMore give a folder its first page (QTreeView calls them on expansion);
//   later pages come from fetchNextPage(), which the view calls when a folder's last loaded row
//   scrolls into sight.
// - The root lists `rootPrefix()` (the filter the user typed: narrowed by the server, not here).
// - A folder row's name is the full prefix, separator included ("team/a/"); a key row's the full
//   key. Rows are in the server's order (UTF-8 byte order), folders and keys mixed as paged.
// - refresh() lists loaded folders again and merges the answer into the rows (inserting and
//   removing only what changed), so the view keeps its expansion, selection and scroll position
//   while other agents write. Folders the caller says are not visible are only marked stale and
//   listed again when next expanded.
// - Answers that arrive after a reload, a refresh or a change of client are dropped (each folder
//   remembers which request it waits for).
//
// Thread: GUI thread only. Ownership: the SidecarClient is the caller's; setClient(nullptr) before
// it goes away. Callbacks in flight hold only a QPointer to the model.

#include <QAbstractItemModel>
#include <QByteArray>
#include <QHash>
#include <QIcon>
#include <QPointer>
#include <QString>

#include <functional>
#include <memory>
#include <vector>

namespace sidecar::client {
class SidecarClient;
struct KeyPage;
}

namespace sidecar::inspector {

class KeyTreeModel : public QAbstractItemModel
{
    Q_OBJECT
public:
    enum Role {
        NameRole = Qt::UserRole + 1, // QString: the full key, or the full prefix of a folder
        IsFolderRole,                // bool
    };

    static constexpr int kDefaultPageSize = 200;
    static constexpr int kMaxPageSize = 10000; // the server's largest `limit`

    explicit KeyTreeModel(QObject *parent = nullptr);
    ~KeyTreeModel() override;

    // The client to list through; nullptr keeps the rows and stops asking (nothing to fetch).
    void setClient(client::SidecarClient *client);
    client::SidecarClient *client() const { return m_client; }

    // The separator of the hierarchy (one character). Changing it reloads.
    void setSeparator(QChar separator);
    QChar separator() const { return m_separator; }
    // The prefix the root lists (a filter). Changing it reloads.
    void setRootPrefix(const QString &prefix);
    QString rootPrefix() const { return m_root->name; }
    void setPageSize(int pageSize);
    int pageSize() const { return m_pageSize; }

    // Forgets every row and lists the root's first page again.
    void reload();
    // Lists again every loaded folder for which `visible(index)` is true (the root always; every
    // folder when `visible` is empty) and merges; the others become stale (listed on next fetch).
    void refresh(const std::function<bool(const QModelIndex &)> &visible = {});
    // Lists one loaded folder again (an invalid index: the root).
    void refreshFolder(const QModelIndex &folder);

    // The row of a loaded key (or folder, given its full prefix), else invalid.
    QModelIndex indexOf(const QString &name, bool folder = false) const;
    // Removes a loaded key row (it expired or was deleted); false when it is not loaded.
    bool removeKey(const QString &key);
    // Requests in flight.
    bool isLoading() const { return m_loading > 0; }
    // Whether a folder (invalid: the root) has had its first page and has pages left.
    bool isLoaded(const QModelIndex &folder) const;
    // Lists the next page of a loaded folder that has more; false when there is none to ask for
    // (or a listing of it is in flight).
    bool fetchNextPage(const QModelIndex &folder);
    // Loaded folders with pages left (the root as an invalid index).
    QModelIndexList foldersWithMorePages() const;
    bool hasMorePages(const QModelIndex &folder) const;

    QModelIndex index(int row, int column, const QModelIndex &parent = {}) const override;
    QModelIndex parent(const QModelIndex &child) const override;
    int rowCount(const QModelIndex &parent = {}) const override;
    int columnCount(const QModelIndex &parent = {}) const override;
    bool hasChildren(const QModelIndex &parent = {}) const override;
    QVariant data(const QModelIndex &index, int role = Qt::DisplayRole) const override;
    QVariant headerData(int section, Qt::Orientation orientation, int role = Qt::DisplayRole) const override;
    Qt::ItemFlags flags(const QModelIndex &index) const override;
    bool canFetchMore(const QModelIndex &parent) const override;
    void fetchMore(const QModelIndex &parent) override;

signals:
    // A page or a refresh of `folder` (invalid: the root) was applied.
    void folderLoaded(const QModelIndex &folder);
    // A listing failed (the folder keeps its rows; it is not asked again until a reload or refresh).
    void errorOccurred(const QString &message);
    void loadingChanged(bool loading);

private:
    struct Node
    {
        quint64 id = 0;
        Node *parent = nullptr;
        int row = 0;
        QString name;       // full key or full prefix (the root: rootPrefix)
        QByteArray sortKey; // name in UTF-8: the server's order
        bool folder = false;
        std::vector<std::unique_ptr<Node>> children;
        QString cursor;     // the next page's cursor; empty: no more
        bool loaded = false;  // the first page arrived
        bool busy = false;    // a listing is in flight
        bool stale = false;   // list again before showing more
        bool failed = false;  // the last listing failed
        bool refreshAgain = false; // a refresh was asked while busy
        quint64 op = 0;       // the request this folder waits for
    };
    struct Entry
    {
        QString name;
        QByteArray sortKey;
        bool folder = false;
    };

    Node *nodeOf(const QModelIndex &index) const;
    QModelIndex indexOfNode(const Node *node) const;
    Node *nodeById(quint64 id) const { return m_nodes.value(id); }
    std::unique_ptr<Node> makeNode(Node *parent, const Entry &entry);
    void forget(Node *node);
    void renumber(Node *node, int fromRow);
    QString displayName(const Node *node) const;

    void fetchPage(Node *node);
    void refreshNode(Node *node);
    struct RefreshRange
    {
        bool toEnd = false; // the folder had been listed to its end: list it to its end again
        QByteArray until;   // else: up to (and including) this row's sort key
        int wanted = 0;     // rows loaded before (sizes the pages)
    };
    void continueRefresh(quint64 nodeId, quint64 op, QString cursor, RefreshRange range, std::vector<Entry> got);
    void finishRequest(Node *node, const QString &error);
    void merge(Node *node, const std::vector<Entry> &entries, const QString &cursor);
    void appendPage(Node *node, const std::vector<Entry> &entries);
    std::vector<Entry> entriesOf(const client::KeyPage &page) const;
    void setLoading(int delta);
    void collectLoaded(Node *node, std::vector<Node *> &out);

    client::SidecarClient *m_client = nullptr;
    QChar m_separator = u'/';
    int m_pageSize = kDefaultPageSize;
    std::unique_ptr<Node> m_root;
    QHash<quint64, Node *> m_nodes; // every live node by id (answers find their folder by id)
    quint64 m_nextId = 0;
    quint64 m_nextOp = 0;
    quint64 m_clientGeneration = 0; // bumped by setClient(): answers to an older client are dropped
    int m_loading = 0;
    mutable QIcon m_folderIcon; // the style's, looked up on first use
    mutable QIcon m_keyIcon;
};

} // namespace sidecar::inspector
