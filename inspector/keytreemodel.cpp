#include "keytreemodel.h"

#include <QApplication>
#include <QIcon>
#include <QStyle>

#include <algorithm>

#include "client/sidecarclient.h"

namespace sidecar::inspector {

namespace {

// The server's order: UTF-8 bytes; a key sorts before a folder of the same text.
template<class A, class B>
int compareEntries(const A &a, const B &b)
{
    const int c = a.sortKey.compare(b.sortKey);
    if (c != 0)
        return c;
    return int(a.folder) - int(b.folder);
}

} // namespace

KeyTreeModel::KeyTreeModel(QObject *parent) : QAbstractItemModel(parent)
{
    m_root = std::make_unique<Node>();
    m_root->folder = true;
    m_nodes.insert(0, m_root.get());
}

KeyTreeModel::~KeyTreeModel() = default;

void KeyTreeModel::setClient(client::SidecarClient *client)
{
    m_client = client;
    ++m_clientGeneration;
    // Whatever the previous client was asked will not be applied: every folder is free again.
    for (Node *node : std::as_const(m_nodes)) {
        node->busy = false;
        node->refreshAgain = false;
        node->failed = false;
        node->op = ++m_nextOp;
    }
    if (m_loading > 0) {
        m_loading = 0;
        emit loadingChanged(false);
    }
}

void KeyTreeModel::setSeparator(QChar separator)
{
    if (separator == m_separator)
        return;
    m_separator = separator;
    reload();
}

void KeyTreeModel::setRootPrefix(const QString &prefix)
{
    if (prefix == m_root->name)
        return;
    m_root->name = prefix;
    m_root->sortKey = prefix.toUtf8();
    reload();
}

void KeyTreeModel::setPageSize(int pageSize)
{
    m_pageSize = std::clamp(pageSize, 1, kMaxPageSize);
}

void KeyTreeModel::reload()
{
    beginResetModel();
    for (auto &child : m_root->children)
        forget(child.get());
    m_root->children.clear();
    m_root->cursor.clear();
    m_root->loaded = false;
    m_root->busy = false;
    m_root->stale = false;
    m_root->failed = false;
    m_root->refreshAgain = false;
    m_root->op = ++m_nextOp;
    endResetModel();
    if (m_client)
        fetchPage(m_root.get());
}

void KeyTreeModel::refresh(const std::function<bool(const QModelIndex &)> &visible)
{
    if (!m_client)
        return;
    if (!m_root->loaded && !m_root->busy) {
        m_root->failed = false;
        fetchPage(m_root.get());
        return;
    }
    std::vector<Node *> folders;
    collectLoaded(m_root.get(), folders);
    for (Node *node : folders) {
        if (node == m_root.get() || !visible || visible(indexOfNode(node)))
            refreshNode(node);
        else
            node->stale = true;
    }
}

void KeyTreeModel::refreshFolder(const QModelIndex &folder)
{
    Node *node = nodeOf(folder);
    if (node && node->folder && m_client)
        refreshNode(node);
}

void KeyTreeModel::collectLoaded(Node *node, std::vector<Node *> &out)
{
    if (!node->folder || !(node->loaded || node->failed))
        return;
    out.push_back(node);
    for (auto &child : node->children)
        collectLoaded(child.get(), out);
}

QModelIndex KeyTreeModel::indexOf(const QString &name, bool folder) const
{
    const Node *node = m_root.get();
    if (!name.startsWith(node->name))
        return {};
    const QByteArray target = name.toUtf8();
    while (node) {
        // The child of `node` on the way to `name`: `name` itself, or the folder up to the next separator.
        const qsizetype sep = name.indexOf(m_separator, node->name.size());
        Entry step;
        if (sep < 0 || (sep == name.size() - 1 && folder)) {
            step.name = name;
            step.sortKey = target;
            step.folder = folder;
        } else {
            step.name = name.left(sep + 1);
            step.sortKey = step.name.toUtf8();
            step.folder = true;
        }
        const auto &children = node->children;
        auto it = std::lower_bound(children.begin(), children.end(), step,
                                   [](const std::unique_ptr<Node> &a, const Entry &b) {
                                       return compareEntries(*a, b) < 0;
                                   });
        if (it == children.end() || compareEntries(**it, step) != 0)
            return {};
        const Node *child = it->get();
        if (child->name == name && child->folder == folder)
            return indexOfNode(child);
        if (!child->folder || child->name.size() <= node->name.size())
            return {};
        node = child;
    }
    return {};
}

bool KeyTreeModel::removeKey(const QString &key)
{
    const QModelIndex index = indexOf(key, false);
    if (!index.isValid())
        return false;
    Node *node = nodeOf(index);
    Node *parentNode = node->parent;
    const int row = node->row;
    beginRemoveRows(indexOfNode(parentNode), row, row);
    forget(node);
    parentNode->children.erase(parentNode->children.begin() + row);
    renumber(parentNode, row);
    endRemoveRows();
    return true;
}

bool KeyTreeModel::fetchNextPage(const QModelIndex &folder)
{
    Node *node = nodeOf(folder);
    if (!m_client || !node || !node->folder || node->busy || node->failed || !node->loaded || node->cursor.isEmpty())
        return false;
    if (node->stale)
        refreshNode(node);
    else
        fetchPage(node);
    return true;
}

QModelIndexList KeyTreeModel::foldersWithMorePages() const
{
    QModelIndexList out;
    std::function<void(const Node *)> walk = [&](const Node *node) {
        if (!node->folder || !node->loaded)
            return;
        if (!node->cursor.isEmpty())
            out.append(indexOfNode(node));
        for (const auto &child : node->children)
            walk(child.get());
    };
    walk(m_root.get());
    return out;
}

bool KeyTreeModel::isLoaded(const QModelIndex &folder) const
{
    const Node *node = nodeOf(folder);
    return node && node->loaded;
}

bool KeyTreeModel::hasMorePages(const QModelIndex &folder) const
{
    const Node *node = nodeOf(folder);
    return node && !node->cursor.isEmpty();
}

// ---------------------------------------------------------------- QAbstractItemModel

KeyTreeModel::Node *KeyTreeModel::nodeOf(const QModelIndex &index) const
{
    return index.isValid() ? static_cast<Node *>(index.internalPointer()) : m_root.get();
}

QModelIndex KeyTreeModel::indexOfNode(const Node *node) const
{
    if (!node || node == m_root.get())
        return {};
    return createIndex(node->row, 0, const_cast<Node *>(node));
}

QModelIndex KeyTreeModel::index(int row, int column, const QModelIndex &parent) const
{
    if (column != 0 || row < 0 || (parent.isValid() && parent.column() != 0))
        return {};
    const Node *node = nodeOf(parent);
    if (!node || row >= int(node->children.size()))
        return {};
    return createIndex(row, 0, node->children[std::size_t(row)].get());
}

QModelIndex KeyTreeModel::parent(const QModelIndex &child) const
{
    if (!child.isValid())
        return {};
    return indexOfNode(nodeOf(child)->parent);
}

int KeyTreeModel::rowCount(const QModelIndex &parent) const
{
    if (parent.column() > 0)
        return 0;
    const Node *node = nodeOf(parent);
    return node ? int(node->children.size()) : 0;
}

int KeyTreeModel::columnCount(const QModelIndex &) const
{
    return 1;
}

bool KeyTreeModel::hasChildren(const QModelIndex &parent) const
{
    const Node *node = nodeOf(parent);
    if (!node || !node->folder)
        return false;
    if (node == m_root.get())
        return true;
    return !node->loaded || node->stale || !node->children.empty() || !node->cursor.isEmpty();
}

QString KeyTreeModel::displayName(const Node *node) const
{
    qsizetype base = 0;
    if (node->parent == m_root.get())
        base = m_root->name.lastIndexOf(m_separator) + 1; // under a filter "team/a": "a/", "abc"
    else if (node->parent)
        base = node->parent->name.size();
    const QString shown = node->name.mid(base);
    return shown.isEmpty() ? node->name : shown;
}

QVariant KeyTreeModel::data(const QModelIndex &index, int role) const
{
    if (!index.isValid())
        return {};
    const Node *node = nodeOf(index);
    switch (role) {
    case Qt::DisplayRole: return displayName(node);
    case Qt::ToolTipRole: return node->name;
    case Qt::DecorationRole:
        if (m_folderIcon.isNull()) {
            m_folderIcon = QApplication::style()->standardIcon(QStyle::SP_DirIcon);
            m_keyIcon = QApplication::style()->standardIcon(QStyle::SP_FileIcon);
        }
        return node->folder ? m_folderIcon : m_keyIcon;
    case NameRole: return node->name;
    case IsFolderRole: return node->folder;
    default: return {};
    }
}

QVariant KeyTreeModel::headerData(int section, Qt::Orientation orientation, int role) const
{
    if (section == 0 && orientation == Qt::Horizontal && role == Qt::DisplayRole)
        return tr("Key");
    return {};
}

Qt::ItemFlags KeyTreeModel::flags(const QModelIndex &index) const
{
    if (!index.isValid())
        return Qt::NoItemFlags;
    Qt::ItemFlags f = Qt::ItemIsEnabled | Qt::ItemIsSelectable;
    if (!nodeOf(index)->folder)
        f |= Qt::ItemNeverHasChildren;
    return f;
}

bool KeyTreeModel::canFetchMore(const QModelIndex &parent) const
{
    // Only a folder's first listing (or a stale folder's new one): QTreeView asks for more on every
    // layout of an expanded folder, which would load every page of it in a row. Later pages are
    // asked for with fetchNextPage() when the folder's last row comes into view.
    const Node *node = nodeOf(parent);
    if (!m_client || !node || !node->folder || node->busy || node->failed)
        return false;
    return !node->loaded || node->stale;
}

void KeyTreeModel::fetchMore(const QModelIndex &parent)
{
    if (!canFetchMore(parent))
        return;
    Node *node = nodeOf(parent);
    if (node->stale)
        refreshNode(node);
    else
        fetchPage(node);
}

// ---------------------------------------------------------------- listing

std::unique_ptr<KeyTreeModel::Node> KeyTreeModel::makeNode(Node *parent, const Entry &entry)
{
    auto node = std::make_unique<Node>();
    node->id = ++m_nextId;
    node->parent = parent;
    node->name = entry.name;
    node->sortKey = entry.sortKey;
    node->folder = entry.folder;
    m_nodes.insert(node->id, node.get());
    return node;
}

void KeyTreeModel::forget(Node *node)
{
    m_nodes.remove(node->id);
    for (auto &child : node->children)
        forget(child.get());
}

void KeyTreeModel::renumber(Node *node, int fromRow)
{
    for (std::size_t i = std::size_t(std::max(fromRow, 0)); i < node->children.size(); ++i)
        node->children[i]->row = int(i);
}

std::vector<KeyTreeModel::Entry> KeyTreeModel::entriesOf(const client::KeyPage &page) const
{
    std::vector<Entry> entries;
    entries.reserve(std::size_t(page.keys.size() + page.prefixes.size()));
    for (const QString &key : page.keys)
        entries.push_back(Entry{key, key.toUtf8(), false});
    for (const QString &prefix : page.prefixes)
        entries.push_back(Entry{prefix, prefix.toUtf8(), true});
    std::sort(entries.begin(), entries.end(), [](const Entry &a, const Entry &b) { return compareEntries(a, b) < 0; });
    return entries;
}

void KeyTreeModel::setLoading(int delta)
{
    const bool was = m_loading > 0;
    m_loading = std::max(0, m_loading + delta);
    if (was != (m_loading > 0))
        emit loadingChanged(m_loading > 0);
}

void KeyTreeModel::fetchPage(Node *node)
{
    if (!m_client || node->busy)
        return;
    node->busy = true;
    node->failed = false;
    const quint64 op = ++m_nextOp;
    node->op = op;
    client::KeyQuery query;
    query.prefix = node->name;
    query.delimiter = QString(m_separator);
    query.limit = m_pageSize;
    query.cursor = node->cursor;
    setLoading(+1);
    QPointer<KeyTreeModel> self(this);
    const quint64 id = node->id;
    const quint64 generation = m_clientGeneration;
    m_client->stateList(query, [self, id, op, generation](Result<client::KeyPage> page) {
        if (!self || self->m_clientGeneration != generation)
            return;
        self->setLoading(-1);
        Node *n = self->nodeById(id);
        if (!n || n->op != op)
            return;
        if (!page) {
            self->finishRequest(n, page.error().message);
            return;
        }
        self->appendPage(n, self->entriesOf(*page));
        n->cursor = page->nextCursor;
        n->loaded = true;
        self->finishRequest(n, {});
    });
}

void KeyTreeModel::refreshNode(Node *node)
{
    if (!m_client)
        return;
    if (node->busy) {
        node->refreshAgain = true;
        return;
    }
    if (!node->loaded) {
        node->stale = false;
        fetchPage(node);
        return;
    }
    node->busy = true;
    node->failed = false;
    const quint64 op = ++m_nextOp;
    node->op = op;
    // The range to list again: everything when the folder was listed to its end, else up to its last row.
    RefreshRange range;
    range.toEnd = node->cursor.isEmpty();
    if (!range.toEnd && !node->children.empty())
        range.until = node->children.back()->sortKey;
    range.wanted = int(node->children.size());
    continueRefresh(node->id, op, QString(), range, {});
}

void KeyTreeModel::continueRefresh(quint64 nodeId, quint64 op, QString cursor, RefreshRange range,
                                   std::vector<Entry> got)
{
    Node *node = nodeById(nodeId);
    if (!node || node->op != op || !m_client)
        return;
    client::KeyQuery query;
    query.prefix = node->name;
    query.delimiter = QString(m_separator);
    query.limit = std::clamp(range.wanted - int(got.size()), m_pageSize, kMaxPageSize);
    query.cursor = std::move(cursor);
    setLoading(+1);
    QPointer<KeyTreeModel> self(this);
    const quint64 generation = m_clientGeneration;
    m_client->stateList(query, [self, nodeId, op, range, generation,
                                got = std::move(got)](Result<client::KeyPage> page) mutable {
        if (!self || self->m_clientGeneration != generation)
            return;
        self->setLoading(-1);
        Node *n = self->nodeById(nodeId);
        if (!n || n->op != op)
            return;
        if (!page) {
            self->finishRequest(n, page.error().message);
            return;
        }
        std::vector<Entry> more = self->entriesOf(*page);
        got.insert(got.end(), std::make_move_iterator(more.begin()), std::make_move_iterator(more.end()));
        const bool pastRange = !range.toEnd && (got.empty() || got.back().sortKey >= range.until);
        if (!page->nextCursor.isEmpty() && !pastRange) {
            self->continueRefresh(nodeId, op, page->nextCursor, range, std::move(got));
            return;
        }
        self->merge(n, got, page->nextCursor);
        n->stale = false;
        n->loaded = true;
        self->finishRequest(n, {});
    });
}

void KeyTreeModel::finishRequest(Node *node, const QString &error)
{
    node->busy = false;
    const QModelIndex index = indexOfNode(node);
    if (!error.isEmpty()) {
        node->failed = true;
        node->refreshAgain = false;
        const QString where = node->name.isEmpty() ? tr("the keys") : node->name;
        emit errorOccurred(tr("Cannot list %1: %2").arg(where, error));
        return;
    }
    if (index.isValid())
        emit dataChanged(index, index); // whether it has children may have changed
    emit folderLoaded(index);
    if (node->refreshAgain) {
        node->refreshAgain = false;
        refreshNode(node);
    }
}

void KeyTreeModel::appendPage(Node *node, const std::vector<Entry> &entries)
{
    // A page continues after the last row; anything not after it (seen already) is skipped.
    std::vector<const Entry *> fresh;
    fresh.reserve(entries.size());
    for (const Entry &entry : entries) {
        if (node->children.empty() || compareEntries(*node->children.back(), entry) < 0)
            fresh.push_back(&entry);
    }
    if (fresh.empty())
        return;
    const int first = int(node->children.size());
    beginInsertRows(indexOfNode(node), first, first + int(fresh.size()) - 1);
    for (const Entry *entry : fresh) {
        auto child = makeNode(node, *entry);
        child->row = int(node->children.size());
        node->children.push_back(std::move(child));
    }
    endInsertRows();
}

void KeyTreeModel::merge(Node *node, const std::vector<Entry> &entries, const QString &cursor)
{
    const QModelIndex parentIndex = indexOfNode(node);
    auto &children = node->children;
    std::size_t i = 0;
    std::size_t j = 0;
    while (i < children.size() || j < entries.size()) {
        if (j == entries.size()) { // rows past the listing: gone, or on a later page now
            const int first = int(i);
            const int last = int(children.size()) - 1;
            beginRemoveRows(parentIndex, first, last);
            for (std::size_t k = i; k < children.size(); ++k)
                forget(children[k].get());
            children.erase(children.begin() + qsizetype(i), children.end());
            endRemoveRows();
            break;
        }
        const int c = i < children.size() ? compareEntries(*children[i], entries[j]) : 1;
        if (c == 0) {
            ++i;
            ++j;
        } else if (c < 0) { // rows that are no longer there
            std::size_t k = i;
            while (k < children.size() && compareEntries(*children[k], entries[j]) < 0)
                ++k;
            beginRemoveRows(parentIndex, int(i), int(k) - 1);
            for (std::size_t r = i; r < k; ++r)
                forget(children[r].get());
            children.erase(children.begin() + qsizetype(i), children.begin() + qsizetype(k));
            renumber(node, int(i));
            endRemoveRows();
        } else { // new rows
            std::size_t k = j;
            while (k < entries.size() && (i == children.size() || compareEntries(*children[i], entries[k]) > 0))
                ++k;
            beginInsertRows(parentIndex, int(i), int(i + (k - j)) - 1);
            std::vector<std::unique_ptr<Node>> added;
            added.reserve(k - j);
            for (std::size_t r = j; r < k; ++r)
                added.push_back(makeNode(node, entries[r]));
            children.insert(children.begin() + qsizetype(i), std::make_move_iterator(added.begin()),
                            std::make_move_iterator(added.end()));
            renumber(node, int(i));
            endInsertRows();
            i += k - j;
            j = k;
        }
    }
    node->cursor = cursor;
}

} // namespace sidecar::inspector
