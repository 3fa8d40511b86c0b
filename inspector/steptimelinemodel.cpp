#include "steptimelinemodel.h"

#include <QFontDatabase>

#include <algorithm>

namespace sidecar::inspector {

namespace {

constexpr int kOutputPreviewChars = 120;

} // namespace

StepTimelineModel::StepTimelineModel(QObject *parent) : KeyedTableModel(parent) {}

void StepTimelineModel::setSteps(const QList<client::StepOutput> &steps)
{
    QList<client::StepOutput> sorted = steps;
    std::stable_sort(
        sorted.begin(), sorted.end(),
        [](const client::StepOutput &a, const client::StepOutput &b) { return a.step < b.step; });
    mergeItems(sorted);
}

QStringList StepTimelineModel::columnTitles() const
{
    return {tr("Step"), tr("Written at"), tr("Agent"), tr("Fence"), tr("Output")};
}

QVariant StepTimelineModel::itemData(const client::StepOutput &step, int column, int role) const
{
    switch (role) {
    case StepRole: return step.step;
    case OutputJsonRole: return step.output;
    case Qt::DisplayRole:
        switch (column) {
        case StepColumn: return QString::number(step.step);
        case WrittenAtColumn: return step.hasMeta ? formatTimestamp(step.writtenAt) : QString();
        case AgentColumn: return step.agentId;
        case FenceColumn: return step.fence ? QString::number(*step.fence) : QString();
        case OutputColumn: return elide(QString::fromUtf8(step.output), kOutputPreviewChars);
        default: return {};
        }
    case Qt::ToolTipRole:
        if (column == WrittenAtColumn && !step.hasMeta)
            return tr("The server kept no metadata for this step (written before step_meta existed).");
        if (column == AgentColumn && step.hasMeta && step.agentId.isEmpty())
            return tr("Written without an agent id (the unfenced compatibility path).");
        return {};
    case Qt::FontRole:
        if (column == OutputColumn)
            return QFontDatabase::systemFont(QFontDatabase::FixedFont);
        return {};
    case Qt::TextAlignmentRole:
        if (column == StepColumn || column == FenceColumn)
            return QVariant(Qt::AlignRight | Qt::AlignVCenter);
        return {};
    default: return {};
    }
}

} // namespace sidecar::inspector
