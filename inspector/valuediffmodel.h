#pragma once

// ValueDiffModel: a side-by-side diff of two JSON values (a history entry's previous and new
// value) for a QTableView: each value is pretty-printed with jsonviewer.h's prettyJson() (two-space
// indent, one member or item per line; key order, numbers and escapes kept as stored), the lines
// are compared with diffLines() (linediff.h), and each row shows a line of the previous value next
// to the matching line of the new one. Changed, removed and added lines are highlighted
// (BackgroundRole) and tagged with KindRole, in a fixed-width font.
//
// Thread: GUI thread only. Ownership: the view's.

#include <QAbstractTableModel>
#include <QByteArray>
#include <QList>
#include <QStringList>

#include "linediff.h"

namespace sidecar::inspector {

class ValueDiffModel : public QAbstractTableModel
{
    Q_OBJECT
public:
    enum Column { OldLineColumn, OldTextColumn, NewLineColumn, NewTextColumn, ColumnCount };
    // SideBySideRow::Kind of the row, as an int.
    enum Role { KindRole = Qt::UserRole + 1 };

    explicit ValueDiffModel(QObject *parent = nullptr);

    // Compares two values (compact JSON; empty: absent, shown as no lines).
    void setValues(const QByteArray &previous, const QByteArray &current);
    void clear();

    int rowCount(const QModelIndex &parent = {}) const override;
    int columnCount(const QModelIndex &parent = {}) const override;
    QVariant data(const QModelIndex &index, int role = Qt::DisplayRole) const override;
    QVariant headerData(int section, Qt::Orientation orientation, int role = Qt::DisplayRole) const override;

    SideBySideRow::Kind kindAt(int row) const { return m_rows.at(row).kind; }
    QString oldTextAt(int row) const;
    QString newTextAt(int row) const;
    int addedCount() const { return m_added; }
    int removedCount() const { return m_removed; }
    bool isIdentical() const { return m_added == 0 && m_removed == 0; }

private:
    QStringList m_old;
    QStringList m_new;
    QList<SideBySideRow> m_rows;
    int m_added = 0;   // lines only in the new value (changed rows count on both sides)
    int m_removed = 0; // lines only in the previous value
};

} // namespace sidecar::inspector
