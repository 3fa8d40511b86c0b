#pragma once

// WorkflowsView: the Workflows tab, a workflow engine's run browser in the manner of the Temporal
// UI. Above, the runs (workflow_discover, newest first, paged as the table scrolls) filtered by
// status, name and tags ("k=v, k2=v2"); each row shows the run, its name, status, claim holder,
// attempt, fence, last step, last update and a live claim-expiry countdown. Below, the selected
// run: claim holder, attempt, fence, the countdown, times and tags, its input and result (JSON
// viewers), and its step timeline (workflow_resume: step, written_at, agent and fence from
// step_meta, the output in a JSON viewer), which grows as checkpoints arrive.
//
// Live: state://workflows (the list) and state://workflows/<run> (the selected run) are
// subscribed through LiveUpdates; each reloads coalesced. Paused: nothing is reloaded or applied
// (countdowns keep ticking); unpausing catches up. The tab has no action that changes state, so
// read-only mode changes nothing in it.
//
// Thread: GUI thread only. Ownership: its widgets and models are its children; the SidecarClient
// is the window's, set with setClient() and replaced or cleared before it goes away.

#include <QPointer>
#include <QTimer>

#include "client/sidecarclient.h"
#include "livelistview.h"

class QComboBox;
class QLabel;
class QLineEdit;
class QModelIndex;
class QStackedWidget;
class QTabWidget;
class QTableView;

namespace sidecar::client {
class McpClient;
}

namespace sidecar::inspector {

class JsonViewer;
class LiveUpdates;
class StepTimelineModel;
class WorkflowRunModel;

class WorkflowsView : public LiveListView
{
    Q_OBJECT
public:
    explicit WorkflowsView(QWidget *parent = nullptr);
    ~WorkflowsView() override;

    void setClient(client::SidecarClient *client) override;
    void setReadOnly(bool readOnly) override;
    void reload() override;

    WorkflowRunModel *runModel() const { return m_runs; }
    StepTimelineModel *stepModel() const { return m_steps; }
    QTableView *runsTable() const { return m_runsTable; }
    // The run shown below the table (empty: none).
    QString selectedRunId() const { return m_runId; }
    // Shows this run (selecting its row when it is loaded).
    void selectRun(const QString &runId);
    // The selected run as last read (workflow_resume), if any.
    const client::WorkflowResume *selectedRun() const { return m_detailLoaded ? &m_detail : nullptr; }

    // "k=v, k2=v2" -> tags; nullopt with *error when the text is not that shape. Empty text: no tags.
    static std::optional<client::Tags> parseTags(const QString &text, QString *error = nullptr);

private:
    void buildUi();
    void applyFilter() override;
    void onCurrentRunChanged(const QModelIndex &current);
    void showRun(const QString &runId);
    void loadDetail();
    void applyDetail(const client::WorkflowResume &resume);
    void showSelectedStep();
    void updateCountdowns();
    void updateSummary() override;
    void restoreSelection();

    int m_listChannel = -1;
    int m_detailChannel = -1;

    WorkflowRunModel *m_runs = nullptr;
    StepTimelineModel *m_steps = nullptr;

    QComboBox *m_statusFilter = nullptr;
    QLineEdit *m_nameFilter = nullptr;
    QLineEdit *m_tagsFilter = nullptr;
    QLabel *m_summary = nullptr;
    QTableView *m_runsTable = nullptr;
    QStackedWidget *m_detailStack = nullptr;
    QLabel *m_runTitle = nullptr;
    QLabel *m_statusLabel = nullptr;
    QLabel *m_holderLabel = nullptr;
    QLabel *m_attemptLabel = nullptr;
    QLabel *m_fenceLabel = nullptr;
    QLabel *m_countdownLabel = nullptr;
    QLabel *m_createdLabel = nullptr;
    QLabel *m_updatedLabel = nullptr;
    QLabel *m_tagsLabel = nullptr;
    QLabel *m_detailError = nullptr;
    QTabWidget *m_detailTabs = nullptr;
    QTableView *m_stepsTable = nullptr;
    JsonViewer *m_stepViewer = nullptr;
    JsonViewer *m_inputViewer = nullptr;
    JsonViewer *m_resultViewer = nullptr;
    QTimer m_tickTimer;   // countdowns

    QString m_runId;
    client::WorkflowResume m_detail;
    bool m_detailLoaded = false;
    quint64 m_detailGeneration = 0;
    QByteArray m_shownInput;
    QByteArray m_shownResult;
    QByteArray m_shownStepOutput;
    qint64 m_shownStep = -1;
};

} // namespace sidecar::inspector
