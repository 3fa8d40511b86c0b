#include "linediff.h"

#include <QHash>

#include <vector>

namespace sidecar::inspector {

QList<LineEdit> diffLines(const QStringList &before, const QStringList &after, qint64 maxCells)
{
    const int n = int(before.size());
    const int m = int(after.size());

    // Lines as small integers: the table compares ints, not strings.
    QHash<QString, int> ids;
    auto idsOf = [&ids](const QStringList &lines) {
        std::vector<int> out;
        out.reserve(std::size_t(lines.size()));
        for (const QString &line : lines) {
            auto it = ids.constFind(line);
            if (it == ids.cend())
                it = ids.insert(line, int(ids.size()));
            out.push_back(it.value());
        }
        return out;
    };
    const std::vector<int> a = idsOf(before);
    const std::vector<int> b = idsOf(after);

    int head = 0;
    while (head < n && head < m && a[std::size_t(head)] == b[std::size_t(head)])
        ++head;
    int tail = 0;
    while (tail < n - head && tail < m - head && a[std::size_t(n - 1 - tail)] == b[std::size_t(m - 1 - tail)])
        ++tail;

    QList<LineEdit> edits;
    edits.reserve(qsizetype(n) + m - head - tail);
    for (int i = 0; i < head; ++i)
        edits.append({LineEdit::Op::Same, i, i});

    const int rows = n - head - tail; // the middle of `before`
    const int cols = m - head - tail; // the middle of `after`
    if (qint64(rows + 1) * qint64(cols + 1) <= maxCells) {
        // lcs[i][j]: length of the longest common subsequence of the middles' suffixes from i and j.
        const std::size_t width = std::size_t(cols) + 1;
        std::vector<int> lcs((std::size_t(rows) + 1) * width, 0);
        auto at = [&lcs, width](int i, int j) -> int & {
            return lcs[std::size_t(i) * width + std::size_t(j)];
        };
        for (int i = rows - 1; i >= 0; --i) {
            for (int j = cols - 1; j >= 0; --j) {
                at(i, j) = a[std::size_t(head + i)] == b[std::size_t(head + j)]
                               ? at(i + 1, j + 1) + 1
                               : std::max(at(i + 1, j), at(i, j + 1));
            }
        }
        int i = 0;
        int j = 0;
        while (i < rows || j < cols) {
            if (i < rows && j < cols && a[std::size_t(head + i)] == b[std::size_t(head + j)]) {
                edits.append({LineEdit::Op::Same, head + i, head + j});
                ++i;
                ++j;
            } else if (j >= cols || (i < rows && at(i + 1, j) >= at(i, j + 1))) {
                edits.append({LineEdit::Op::Removed, head + i, -1});
                ++i;
            } else {
                edits.append({LineEdit::Op::Added, -1, head + j});
                ++j;
            }
        }
    } else {
        for (int i = 0; i < rows; ++i)
            edits.append({LineEdit::Op::Removed, head + i, -1});
        for (int j = 0; j < cols; ++j)
            edits.append({LineEdit::Op::Added, -1, head + j});
    }

    for (int k = 0; k < tail; ++k)
        edits.append({LineEdit::Op::Same, n - tail + k, m - tail + k});
    return edits;
}

QList<SideBySideRow> sideBySide(const QList<LineEdit> &edits)
{
    QList<SideBySideRow> rows;
    rows.reserve(edits.size());
    qsizetype k = 0;
    while (k < edits.size()) {
        if (edits[k].op == LineEdit::Op::Same) {
            rows.append({SideBySideRow::Kind::Same, edits[k].oldIndex, edits[k].newIndex});
            ++k;
            continue;
        }
        // A changed block: its removals, then its additions (diffLines' order; tolerate any mix).
        QList<int> removed;
        QList<int> added;
        while (k < edits.size() && edits[k].op != LineEdit::Op::Same) {
            if (edits[k].op == LineEdit::Op::Removed)
                removed.append(edits[k].oldIndex);
            else
                added.append(edits[k].newIndex);
            ++k;
        }
        const qsizetype paired = std::min(removed.size(), added.size());
        for (qsizetype p = 0; p < paired; ++p)
            rows.append({SideBySideRow::Kind::Changed, removed[p], added[p]});
        for (qsizetype p = paired; p < removed.size(); ++p)
            rows.append({SideBySideRow::Kind::Removed, removed[p], -1});
        for (qsizetype p = paired; p < added.size(); ++p)
            rows.append({SideBySideRow::Kind::Added, -1, added[p]});
    }
    return rows;
}

} // namespace sidecar::inspector
