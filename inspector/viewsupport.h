#pragma once

// Small widget helpers the Workflows, Leases, Sessions and History tabs share, so that their
// tables and detail panes look and behave alike: a read-only row-selecting table, a selectable
// value label for a detail form, and a Ctrl+C that copies a role of the current row.
//
// Thread: GUI thread only.

#include <QString>

class QLabel;
class QStackedWidget;
class QTableView;
class QWidget;

namespace sidecar::inspector {

// Rows selected whole, one at a time, never edited; alternating colours; compact rows; the
// last column stretches; no sorting (the server's order is the order).
void setUpListTable(QTableView *table);
// A label for a value in a detail form: selectable with the mouse and keyboard, plain text.
QLabel *makeValueLabel(const QString &objectName, QWidget *parent);
// A detail pane that shows `detail` (page 1) when something is selected and a greyed, centred
// `emptyText` (page 0, named `emptyName`) when nothing is.
QStackedWidget *makeDetailStack(QWidget *detail, const QString &emptyText, const QString &emptyName,
                                const QString &objectName, QWidget *parent);
// Ctrl+C (and a context-menu entry named `actionText`) on `table` copies the current row's
// data for `role` to the clipboard.
void addCopyAction(QTableView *table, int role, const QString &actionText);
// The width of a column of formatTimestamp() texts in `widget`'s font.
int timestampColumnWidth(const QWidget *widget);
// `one` when `n` is 1, else `many` with %1 replaced by `n`.
QString countText(qsizetype n, const QString &one, const QString &many);

} // namespace sidecar::inspector
