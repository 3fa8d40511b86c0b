#include "valuediffmodel.h"

#include <QColor>
#include <QFontDatabase>

#include "jsonviewer.h"

namespace sidecar::inspector {

namespace {

const QColor kRemovedBackground(0xff, 0xd7, 0xd5);
const QColor kAddedBackground(0xcc, 0xf2, 0xd1);
const QColor kChangedOldBackground(0xff, 0xe8, 0xe6);
const QColor kChangedNewBackground(0xe0, 0xf7, 0xe3);

} // namespace

ValueDiffModel::ValueDiffModel(QObject *parent) : QAbstractTableModel(parent) {}

void ValueDiffModel::setValues(const QByteArray &previous, const QByteArray &current)
{
    beginResetModel();
    const QString before = QString::fromUtf8(prettyJson(previous));
    const QString after = QString::fromUtf8(prettyJson(current));
    m_old = before.isEmpty() ? QStringList() : before.split(QLatin1Char('\n'));
    m_new = after.isEmpty() ? QStringList() : after.split(QLatin1Char('\n'));
    m_rows = sideBySide(diffLines(m_old, m_new));
    m_added = 0;
    m_removed = 0;
    for (const SideBySideRow &row : std::as_const(m_rows)) {
        if (row.kind == SideBySideRow::Kind::Changed) {
            ++m_added;
            ++m_removed;
        } else if (row.kind == SideBySideRow::Kind::Added) {
            ++m_added;
        } else if (row.kind == SideBySideRow::Kind::Removed) {
            ++m_removed;
        }
    }
    endResetModel();
}

void ValueDiffModel::clear()
{
    beginResetModel();
    m_old.clear();
    m_new.clear();
    m_rows.clear();
    m_added = 0;
    m_removed = 0;
    endResetModel();
}

int ValueDiffModel::rowCount(const QModelIndex &parent) const
{
    return parent.isValid() ? 0 : int(m_rows.size());
}

int ValueDiffModel::columnCount(const QModelIndex &parent) const
{
    return parent.isValid() ? 0 : ColumnCount;
}

QString ValueDiffModel::oldTextAt(int row) const
{
    const int i = m_rows.at(row).oldIndex;
    return i < 0 ? QString() : m_old.at(i);
}

QString ValueDiffModel::newTextAt(int row) const
{
    const int i = m_rows.at(row).newIndex;
    return i < 0 ? QString() : m_new.at(i);
}

QVariant ValueDiffModel::data(const QModelIndex &index, int role) const
{
    if (!index.isValid() || index.row() >= m_rows.size())
        return {};
    const SideBySideRow &row = m_rows.at(index.row());
    const bool left = index.column() == OldLineColumn || index.column() == OldTextColumn;
    switch (role) {
    case KindRole: return int(row.kind);
    case Qt::DisplayRole:
        switch (index.column()) {
        case OldLineColumn: return row.oldIndex < 0 ? QString() : QString::number(row.oldIndex + 1);
        case OldTextColumn: return oldTextAt(index.row());
        case NewLineColumn: return row.newIndex < 0 ? QString() : QString::number(row.newIndex + 1);
        case NewTextColumn: return newTextAt(index.row());
        default: return {};
        }
    case Qt::BackgroundRole:
        switch (row.kind) {
        case SideBySideRow::Kind::Same: return {};
        case SideBySideRow::Kind::Changed: return left ? kChangedOldBackground : kChangedNewBackground;
        case SideBySideRow::Kind::Removed: return left ? kRemovedBackground : QVariant();
        case SideBySideRow::Kind::Added: return left ? QVariant() : kAddedBackground;
        }
        return {};
    case Qt::ForegroundRole:
        // Dark text on the light highlight, whatever the palette.
        if (row.kind == SideBySideRow::Kind::Same)
            return {};
        if ((left && row.oldIndex >= 0) || (!left && row.newIndex >= 0))
            return QColor(Qt::black);
        return {};
    case Qt::FontRole: return QFontDatabase::systemFont(QFontDatabase::FixedFont);
    case Qt::TextAlignmentRole:
        if (index.column() == OldLineColumn || index.column() == NewLineColumn)
            return QVariant(Qt::AlignRight | Qt::AlignTop);
        return QVariant(Qt::AlignLeft | Qt::AlignTop);
    default: return {};
    }
}

QVariant ValueDiffModel::headerData(int section, Qt::Orientation orientation, int role) const
{
    if (orientation != Qt::Horizontal || role != Qt::DisplayRole)
        return QAbstractTableModel::headerData(section, orientation, role);
    switch (section) {
    case OldLineColumn: return QStringLiteral("#");
    case OldTextColumn: return tr("Previous value");
    case NewLineColumn: return QStringLiteral("#");
    case NewTextColumn: return tr("New value");
    default: return {};
    }
}

} // namespace sidecar::inspector
