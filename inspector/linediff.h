#pragma once

// A line diff (longest common subsequence) for the History tab's "previous vs new value" view.
//
// Why our own: Qt has no diff facility (QTextDocument and friends compare nothing), and the
// inspector links only Qt and the project's protocol library, so it cannot borrow one from a
// tool such as git or libxdiff. The values shown are pretty-printed JSON of at most a few
// thousand lines in practice, where a classic LCS table is small and exact. It is bounded all
// the same: the common head and tail are matched first (a typical update changes a few lines in
// the middle), and when what remains would need a table of more than `maxCells` cells, the middle
// is reported as removed then added, which is correct, only less precise.
//
// Thread: plain functions on plain data; any thread.

#include <QList>
#include <QStringList>

namespace sidecar::inspector {

struct LineEdit
{
    enum class Op { Same, Removed, Added };
    Op op = Op::Same;
    int oldIndex = -1; // index into `before` (Same, Removed), else -1
    int newIndex = -1; // index into `after` (Same, Added), else -1
};

// The edits turning `before` into `after`, in order: every line of `before` appears once as Same
// or Removed, every line of `after` once as Same or Added; within a changed block, removals come
// before additions.
QList<LineEdit> diffLines(const QStringList &before, const QStringList &after, qint64 maxCells = 4'000'000);

// One row of a side-by-side view: a line kept, a line changed (a removed line paired with the
// added line at the same place of its block), or a line only on one side.
struct SideBySideRow
{
    enum class Kind { Same, Changed, Removed, Added };
    Kind kind = Kind::Same;
    int oldIndex = -1; // -1: nothing on the left
    int newIndex = -1; // -1: nothing on the right
};

// Pairs the removals and additions of each changed block row by row.
QList<SideBySideRow> sideBySide(const QList<LineEdit> &edits);

} // namespace sidecar::inspector
