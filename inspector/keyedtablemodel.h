#pragma once

// KeyedTableModel<Item>: the row storage the inspector's list models share (runs, steps, leases,
// sessions). Rows are items with a unique key (a run id, a step number, a resource id); a reload
// merges the new list into the rows by key, so that a row that stays keeps its place in the
// view's selection and current index while rows come, go and move around it. The model can be
// "stale" (the connection is gone: the rows stay, drawn greyed). The free functions format the
// times and countdowns every tab shows the same way.
//
// Thread: GUI thread only. Ownership: plain Qt parent ownership.

#include <QAbstractTableModel>
#include <QBrush>
#include <QGuiApplication>
#include <QList>
#include <QPalette>
#include <QSet>
#include <QString>
#include <QStringList>

#include <optional>

namespace sidecar::inspector {

// Local date and time with milliseconds ("2025-11-24 12:31:05.123"); empty for 0.
QString formatTimestamp(double epochSeconds);
// Seconds left until `epochSeconds`: "12.3 s", "4 m 05 s", "2 h 03 m", "3 d 04 h", or "lapsed".
QString formatCountdown(double epochSeconds, double nowEpochSeconds);
// The wall clock as epoch seconds with milliseconds.
double nowEpochSeconds();
// The first `maxChars` characters of `text` on one line, with an ellipsis when cut.
QString elide(const QString &text, int maxChars);

template<class Item>
class KeyedTableModel : public QAbstractTableModel
{
public:
    using QAbstractTableModel::QAbstractTableModel;

    int rowCount(const QModelIndex &parent = {}) const override
    {
        return parent.isValid() ? 0 : int(m_items.size());
    }
    int columnCount(const QModelIndex &parent = {}) const override
    {
        return parent.isValid() ? 0 : int(columnTitles().size());
    }

    QVariant headerData(int section, Qt::Orientation orientation, int role = Qt::DisplayRole) const override
    {
        if (orientation == Qt::Horizontal && role == Qt::DisplayRole && section >= 0
            && section < columnTitles().size())
            return columnTitles().at(section);
        return QAbstractTableModel::headerData(section, orientation, role);
    }

    QVariant data(const QModelIndex &index, int role = Qt::DisplayRole) const override
    {
        if (!index.isValid() || index.row() >= m_items.size() || index.column() >= columnCount())
            return {};
        if (role == Qt::ForegroundRole && m_stale)
            return QGuiApplication::palette().brush(QPalette::Disabled, QPalette::Text);
        return itemData(m_items.at(index.row()), index.column(), role);
    }

    const QList<Item> &items() const { return m_items; }
    const Item &itemAt(int row) const { return m_items.at(row); }
    // The row of the item with this key, or -1.
    int rowOfKey(const QString &key) const
    {
        for (int row = 0; row < m_items.size(); ++row) {
            if (keyOf(m_items.at(row)) == key)
                return row;
        }
        return -1;
    }
    std::optional<Item> itemWithKey(const QString &key) const
    {
        const int row = rowOfKey(key);
        return row < 0 ? std::nullopt : std::optional<Item>(m_items.at(row));
    }

    // Drawn greyed (the data may be out of date: no connection).
    void setStale(bool stale)
    {
        if (m_stale == stale)
            return;
        m_stale = stale;
        if (!m_items.isEmpty())
            emit dataChanged(index(0, 0), index(rowCount() - 1, columnCount() - 1), {Qt::ForegroundRole});
    }
    bool isStale() const { return m_stale; }

protected:
    virtual QString keyOf(const Item &item) const = 0;
    virtual QStringList columnTitles() const = 0;
    virtual QVariant itemData(const Item &item, int column, int role) const = 0;

    // Makes the rows equal `items` (in that order): rows whose key is gone are removed, rows whose
    // key stays are updated in place (moved when their position changed), new keys are inserted.
    void mergeItems(const QList<Item> &items)
    {
        QSet<QString> keep;
        keep.reserve(items.size());
        for (const Item &item : items)
            keep.insert(keyOf(item));
        for (int row = int(m_items.size()) - 1; row >= 0;) {
            if (keep.contains(keyOf(m_items.at(row)))) {
                --row;
                continue;
            }
            int first = row;
            while (first > 0 && !keep.contains(keyOf(m_items.at(first - 1))))
                --first;
            beginRemoveRows({}, first, row);
            m_items.remove(first, row - first + 1);
            endRemoveRows();
            row = first - 1;
        }
        for (int i = 0; i < items.size(); ++i) {
            const QString key = keyOf(items.at(i));
            if (i < m_items.size() && keyOf(m_items.at(i)) == key) {
                m_items[i] = items.at(i);
                emit dataChanged(index(i, 0), index(i, columnCount() - 1));
                continue;
            }
            int from = -1;
            for (int j = i + 1; j < m_items.size(); ++j) {
                if (keyOf(m_items.at(j)) == key) {
                    from = j;
                    break;
                }
            }
            if (from >= 0) {
                beginMoveRows({}, from, from, {}, i);
                m_items.move(from, i);
                endMoveRows();
                m_items[i] = items.at(i);
                emit dataChanged(index(i, 0), index(i, columnCount() - 1));
            } else {
                beginInsertRows({}, i, i);
                m_items.insert(i, items.at(i));
                endInsertRows();
            }
        }
        if (m_items.size() > items.size()) { // only with duplicate keys in `items`
            beginRemoveRows({}, int(items.size()), int(m_items.size()) - 1);
            m_items.resize(items.size());
            endRemoveRows();
        }
    }

    // Adds `items` at the end, skipping keys already shown (a page that overlaps a reload).
    void appendItems(const QList<Item> &items)
    {
        QSet<QString> present;
        present.reserve(m_items.size());
        for (const Item &item : std::as_const(m_items))
            present.insert(keyOf(item));
        QList<Item> fresh;
        for (const Item &item : items) {
            if (!present.contains(keyOf(item)))
                fresh.append(item);
        }
        if (fresh.isEmpty())
            return;
        beginInsertRows({}, int(m_items.size()), int(m_items.size() + fresh.size()) - 1);
        m_items.append(fresh);
        endInsertRows();
    }

    void clearItems()
    {
        if (m_items.isEmpty())
            return;
        beginResetModel();
        m_items.clear();
        endResetModel();
    }

    // Repaints one column of every row (a countdown that ticks).
    void touchColumn(int column)
    {
        if (!m_items.isEmpty())
            emit dataChanged(index(0, column), index(rowCount() - 1, column),
                             {Qt::DisplayRole, Qt::ForegroundRole});
    }

    QList<Item> m_items;
    bool m_stale = false;
};

} // namespace sidecar::inspector
