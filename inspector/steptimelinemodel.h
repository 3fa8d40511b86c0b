#pragma once

// StepTimelineModel: the checkpoints of one workflow run, as workflow_resume returns them (step
// number, output, and from step_meta when the server keeps it: written_at, agent and fence), in
// ascending step order. setSteps() merges by step number: a new checkpoint adds a row at its
// place, a rewritten step updates its row, so the selection survives the run's live updates.
//
// Thread: GUI thread only. Ownership: the view's.

#include "client/sidecarclient.h"
#include "keyedtablemodel.h"

namespace sidecar::inspector {

class StepTimelineModel : public KeyedTableModel<client::StepOutput>
{
    Q_OBJECT
public:
    enum Column { StepColumn, WrittenAtColumn, AgentColumn, FenceColumn, OutputColumn, ColumnCount };
    enum Role { StepRole = Qt::UserRole + 1, OutputJsonRole };

    explicit StepTimelineModel(QObject *parent = nullptr);

    void setSteps(const QList<client::StepOutput> &steps);
    void clear() { clearItems(); }
    // The row of a step, or -1.
    int rowOfStep(qint64 step) const { return rowOfKey(QString::number(step)); }

protected:
    QString keyOf(const client::StepOutput &step) const override { return QString::number(step.step); }
    QStringList columnTitles() const override;
    QVariant itemData(const client::StepOutput &step, int column, int role) const override;
};

} // namespace sidecar::inspector
