#include "workflowsview.h"

#include <QComboBox>
#include <QFormLayout>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QItemSelectionModel>
#include <QLabel>
#include <QLineEdit>
#include <QSplitter>
#include <QStackedWidget>
#include <QTabWidget>
#include <QTableView>
#include <QVBoxLayout>

#include "client/mcpclient.h"
#include "jsonviewer.h"
#include "liveupdates.h"
#include "steptimelinemodel.h"
#include "viewsupport.h"
#include "workflowrunmodel.h"

namespace sidecar::inspector {

namespace {

constexpr int kTickMs = 200;

const char *const kStatuses[] = {"created", "claimed", "running", "done", "failed"};

bool isFinished(const QString &status)
{
    return status == QLatin1String("done") || status == QLatin1String("failed");
}

QString orDash(const QString &text)
{
    return text.isEmpty() ? QStringLiteral("—") : text;
}

// Shows `json` in `viewer` unless it shows that text already: a reload must not collapse the tree
// the user opened, and a value that changed under the same item keeps its expanded paths.
void showJson(JsonViewer *viewer, const QByteArray &json, QByteArray &shown, const QString &placeholder)
{
    if (json == shown && !json.isEmpty())
        return;
    const bool sameItem = !shown.isEmpty();
    shown = json;
    if (json.isEmpty())
        viewer->clear(placeholder);
    else
        viewer->setJson(json, sameItem);
}

} // namespace

WorkflowsView::WorkflowsView(QWidget *parent) : LiveListView(parent)
{
    setObjectName(QStringLiteral("workflowsView"));
    m_runs = new WorkflowRunModel(this);
    m_steps = new StepTimelineModel(this);
    m_live = new LiveUpdates(this);
    m_listChannel = m_live->addChannel([this] { m_runs->reload(); });
    m_detailChannel = m_live->addChannel([this] { loadDetail(); });
    m_live->setUris(m_listChannel, {client::SidecarClient::collectionUri(QStringLiteral("workflows"))});
    connect(m_live, &LiveUpdates::subscriptionFailed, this, &StateView::statusMessage);

    buildUi();

    connect(m_runs, &WorkflowRunModel::errorOccurred, this, &StateView::statusMessage);
    connect(m_runs, &WorkflowRunModel::loaded, this, [this] {
        restoreSelection();
        updateSummary();
    });
    summarizeRowsOf(m_runs);

    setUpFilterTimer();
    m_tickTimer.setInterval(kTickMs);
    connect(&m_tickTimer, &QTimer::timeout, this, &WorkflowsView::updateCountdowns);
    m_tickTimer.start();
    updateSummary();
}

WorkflowsView::~WorkflowsView() = default;

void WorkflowsView::buildUi()
{
    // The filter bar.
    m_statusFilter = new QComboBox(this);
    m_statusFilter->setObjectName(QStringLiteral("workflowStatusFilter"));
    m_statusFilter->addItem(tr("Any status"), QString());
    for (const char *status : kStatuses)
        m_statusFilter->addItem(QString::fromLatin1(status), QString::fromLatin1(status));
    m_statusFilter->setToolTip(tr("Only runs in this status"));
    m_nameFilter = new QLineEdit(this);
    m_nameFilter->setObjectName(QStringLiteral("workflowNameFilter"));
    m_nameFilter->setPlaceholderText(tr("Name"));
    m_nameFilter->setClearButtonEnabled(true);
    m_nameFilter->setToolTip(tr("Only runs with exactly this workflow name"));
    m_tagsFilter = new QLineEdit(this);
    m_tagsFilter->setObjectName(QStringLiteral("workflowTagsFilter"));
    m_tagsFilter->setPlaceholderText(tr("Tags: k=v, k2=v2"));
    m_tagsFilter->setClearButtonEnabled(true);
    m_tagsFilter->setToolTip(
        tr("Only runs having all these tags, written as key=value pairs separated by commas"));
    m_summary = new QLabel(this);
    m_summary->setObjectName(QStringLiteral("workflowSummary"));
    m_summary->setTextFormat(Qt::PlainText);

    auto *filterBar = new QHBoxLayout;
    filterBar->addWidget(m_statusFilter);
    filterBar->addWidget(m_nameFilter, 1);
    filterBar->addWidget(m_tagsFilter, 2);
    filterBar->addSpacing(12);
    filterBar->addWidget(m_summary);

    connect(m_statusFilter, &QComboBox::currentIndexChanged, this, &WorkflowsView::applyFilter);
    for (QLineEdit *edit : {m_nameFilter, m_tagsFilter}) {
        connect(edit, &QLineEdit::textEdited, &m_filterTimer, qOverload<>(&QTimer::start));
        connect(edit, &QLineEdit::returnPressed, this, &WorkflowsView::applyFilter);
        // The clear button changes the text without textEdited.
        connect(edit, &QLineEdit::textChanged, this, [this](const QString &text) {
            if (text.isEmpty())
                m_filterTimer.start();
        });
    }

    // The runs.
    m_runsTable = new QTableView(this);
    m_runsTable->setObjectName(QStringLiteral("workflowRunsTable"));
    m_runsTable->setModel(m_runs);
    setUpListTable(m_runsTable);
    m_runsTable->horizontalHeader()->resizeSection(WorkflowRunModel::RunIdColumn, 150);
    m_runsTable->horizontalHeader()->resizeSection(WorkflowRunModel::NameColumn, 140);
    m_runsTable->horizontalHeader()->resizeSection(WorkflowRunModel::StatusColumn, 80);
    m_runsTable->horizontalHeader()->resizeSection(WorkflowRunModel::AgentColumn, 110);
    m_runsTable->horizontalHeader()->resizeSection(WorkflowRunModel::AttemptColumn, 70);
    m_runsTable->horizontalHeader()->resizeSection(WorkflowRunModel::FenceColumn, 70);
    m_runsTable->horizontalHeader()->resizeSection(WorkflowRunModel::LastStepColumn, 70);
    m_runsTable->horizontalHeader()->resizeSection(WorkflowRunModel::UpdatedColumn,
                                                   timestampColumnWidth(m_runsTable));
    addCopyAction(m_runsTable, WorkflowRunModel::RunIdRole, tr("Copy run id"));
    connect(m_runsTable->selectionModel(), &QItemSelectionModel::currentRowChanged, this,
            [this](const QModelIndex &current) { onCurrentRunChanged(current); });

    // The selected run: a form on the left, input, result and steps on the right.
    auto *detail = new QWidget(this);
    m_runTitle = new QLabel(detail);
    m_runTitle->setObjectName(QStringLiteral("workflowRunTitle"));
    m_runTitle->setTextFormat(Qt::PlainText);
    m_runTitle->setTextInteractionFlags(Qt::TextSelectableByMouse);
    QFont titleFont = m_runTitle->font();
    titleFont.setBold(true);
    titleFont.setPointSizeF(titleFont.pointSizeF() * 1.15);
    m_runTitle->setFont(titleFont);
    m_detailError = new QLabel(detail);
    m_detailError->setObjectName(QStringLiteral("workflowDetailError"));
    m_detailError->setTextFormat(Qt::PlainText);
    m_detailError->setStyleSheet(QStringLiteral("color: #c0392b;"));
    m_detailError->hide();

    auto *form = new QFormLayout;
    form->setFieldGrowthPolicy(QFormLayout::AllNonFixedFieldsGrow);
    form->setLabelAlignment(Qt::AlignRight);
    m_statusLabel = makeValueLabel(QStringLiteral("workflowStatusLabel"), detail);
    m_holderLabel = makeValueLabel(QStringLiteral("workflowClaimHolder"), detail);
    m_attemptLabel = makeValueLabel(QStringLiteral("workflowAttempt"), detail);
    m_fenceLabel = makeValueLabel(QStringLiteral("workflowFence"), detail);
    m_countdownLabel = makeValueLabel(QStringLiteral("workflowClaimCountdown"), detail);
    m_createdLabel = makeValueLabel(QStringLiteral("workflowCreated"), detail);
    m_updatedLabel = makeValueLabel(QStringLiteral("workflowUpdated"), detail);
    m_tagsLabel = makeValueLabel(QStringLiteral("workflowTags"), detail);
    form->addRow(tr("Status:"), m_statusLabel);
    form->addRow(tr("Claim holder:"), m_holderLabel);
    form->addRow(tr("Attempt:"), m_attemptLabel);
    form->addRow(tr("Fence:"), m_fenceLabel);
    form->addRow(tr("Claim expires in:"), m_countdownLabel);
    form->addRow(tr("Created:"), m_createdLabel);
    form->addRow(tr("Updated:"), m_updatedLabel);
    form->addRow(tr("Tags:"), m_tagsLabel);
    auto *formBox = new QWidget(detail);
    auto *formColumn = new QVBoxLayout(formBox);
    formColumn->setContentsMargins(0, 0, 0, 0);
    formColumn->addLayout(form);
    formColumn->addStretch(1);

    m_stepsTable = new QTableView(detail);
    m_stepsTable->setObjectName(QStringLiteral("workflowStepsTable"));
    m_stepsTable->setModel(m_steps);
    setUpListTable(m_stepsTable);
    m_stepsTable->setTextElideMode(Qt::ElideRight); // outputs read from their start
    m_stepsTable->horizontalHeader()->resizeSection(StepTimelineModel::StepColumn, 50);
    m_stepsTable->horizontalHeader()->resizeSection(StepTimelineModel::WrittenAtColumn,
                                                    timestampColumnWidth(m_stepsTable));
    m_stepsTable->horizontalHeader()->resizeSection(StepTimelineModel::AgentColumn, 110);
    m_stepsTable->horizontalHeader()->resizeSection(StepTimelineModel::FenceColumn, 60);
    addCopyAction(m_stepsTable, StepTimelineModel::OutputJsonRole, tr("Copy output"));
    connect(m_stepsTable->selectionModel(), &QItemSelectionModel::currentRowChanged, this,
            &WorkflowsView::showSelectedStep);
    m_stepViewer = new JsonViewer(detail);
    m_stepViewer->setObjectName(QStringLiteral("workflowStepOutputViewer"));
    m_stepViewer->clear(tr("Select a step to see its output."));
    auto *stepsSplitter = new QSplitter(Qt::Horizontal, detail);
    stepsSplitter->setObjectName(QStringLiteral("workflowStepsSplitter"));
    stepsSplitter->addWidget(m_stepsTable);
    stepsSplitter->addWidget(m_stepViewer);
    stepsSplitter->setStretchFactor(0, 3);
    stepsSplitter->setStretchFactor(1, 2);

    m_inputViewer = new JsonViewer(detail);
    m_inputViewer->setObjectName(QStringLiteral("workflowInputViewer"));
    m_resultViewer = new JsonViewer(detail);
    m_resultViewer->setObjectName(QStringLiteral("workflowResultViewer"));
    m_detailTabs = new QTabWidget(detail);
    m_detailTabs->setObjectName(QStringLiteral("workflowDetailTabs"));
    m_detailTabs->setDocumentMode(true);
    m_detailTabs->addTab(stepsSplitter, tr("Steps"));
    m_detailTabs->addTab(m_inputViewer, tr("Input"));
    m_detailTabs->addTab(m_resultViewer, tr("Result"));

    auto *detailSplitter = new QSplitter(Qt::Horizontal, detail);
    detailSplitter->addWidget(formBox);
    detailSplitter->addWidget(m_detailTabs);
    detailSplitter->setStretchFactor(0, 1);
    detailSplitter->setStretchFactor(1, 3);
    detailSplitter->setSizes({300, 900});

    auto *detailLayout = new QVBoxLayout(detail);
    detailLayout->setContentsMargins(0, 4, 0, 0);
    detailLayout->addWidget(m_runTitle);
    detailLayout->addWidget(m_detailError);
    detailLayout->addWidget(detailSplitter, 1);

    m_detailStack = makeDetailStack(detail, tr("Select a run to see its claim, input, result and steps."),
                                    QStringLiteral("workflowNoSelection"), QStringLiteral("workflowDetail"),
                                    this);

    auto *splitter = new QSplitter(Qt::Vertical, this);
    splitter->setObjectName(QStringLiteral("workflowSplitter"));
    splitter->addWidget(m_runsTable);
    splitter->addWidget(m_detailStack);
    splitter->setStretchFactor(0, 2);
    splitter->setStretchFactor(1, 3);
    splitter->setChildrenCollapsible(false);

    auto *layout = new QVBoxLayout(this);
    layout->addLayout(filterBar);
    layout->addWidget(splitter, 1);
}

void WorkflowsView::setClient(client::SidecarClient *sidecar)
{
    bindClient(sidecar);
    m_runs->setClient(sidecar);
    m_statusFilter->setEnabled(sidecar != nullptr);
    m_nameFilter->setEnabled(sidecar != nullptr);
    m_tagsFilter->setEnabled(sidecar != nullptr);
    m_steps->setStale(sidecar == nullptr);
    ++m_detailGeneration; // an answer of the old client no longer counts
    reloadForNewClient();
}

void WorkflowsView::setReadOnly(bool /*readOnly*/)
{
    // Nothing here changes state: the tab reads runs and never writes them.
}

void WorkflowsView::reload()
{
    if (!m_client)
        return;
    m_runs->reload();
    if (!m_runId.isEmpty())
        loadDetail();
    updateSummary();
}

void WorkflowsView::selectRun(const QString &runId)
{
    const int row = m_runs->rowOfKey(runId);
    if (row >= 0) {
        m_runsTable->selectionModel()->setCurrentIndex(
            m_runs->index(row, 0), QItemSelectionModel::ClearAndSelect | QItemSelectionModel::Rows);
        m_runsTable->scrollTo(m_runs->index(row, 0));
    }
    showRun(runId);
}

std::optional<client::Tags> WorkflowsView::parseTags(const QString &text, QString *error)
{
    client::Tags tags;
    const QStringList parts = text.split(QLatin1Char(','));
    for (const QString &part : parts) {
        const QString pair = part.trimmed();
        if (pair.isEmpty())
            continue;
        const qsizetype equals = pair.indexOf(QLatin1Char('='));
        const QString name = equals < 0 ? QString() : pair.left(equals).trimmed();
        if (name.isEmpty()) {
            if (error)
                *error = tr("\"%1\" is not a key=value pair").arg(pair);
            return std::nullopt;
        }
        for (const auto &tag : std::as_const(tags)) {
            if (tag.first == name) {
                if (error)
                    *error = tr("the tag \"%1\" is given twice").arg(name);
                return std::nullopt;
            }
        }
        tags.append({name, pair.mid(equals + 1).trimmed()});
    }
    return tags;
}

void WorkflowsView::applyFilter()
{
    m_filterTimer.stop();
    QString error;
    const auto tags = parseTags(m_tagsFilter->text(), &error);
    if (!tags) {
        m_tagsFilter->setStyleSheet(QStringLiteral("QLineEdit { border: 1px solid #c0392b; }"));
        m_tagsFilter->setToolTip(tr("Not applied: %1").arg(error));
        emit statusMessage(tr("Tags filter not applied: %1").arg(error));
        return;
    }
    m_tagsFilter->setStyleSheet(QString());
    m_tagsFilter->setToolTip(
        tr("Only runs having all these tags, written as key=value pairs separated by commas"));
    client::RunQuery query;
    query.status = m_statusFilter->currentData().toString();
    query.name = m_nameFilter->text().trimmed();
    query.tags = *tags;
    const client::RunQuery &current = m_runs->query();
    if (query.status == current.status && query.name == current.name && query.tags == current.tags)
        return;
    m_runs->setQuery(query); // reloads (a filter the user chose applies even while paused)
    updateSummary();
}

void WorkflowsView::onCurrentRunChanged(const QModelIndex &current)
{
    if (!current.isValid())
        return; // the rows were re-read or filtered: keep showing the run
    const QString runId = current.siblingAtColumn(0).data(WorkflowRunModel::RunIdRole).toString();
    if (!runId.isEmpty() && runId != m_runId)
        showRun(runId);
}

void WorkflowsView::showRun(const QString &runId)
{
    if (runId == m_runId) // already shown (or being read): live updates keep it current
        return;
    m_runId = runId;
    ++m_detailGeneration;
    m_detailLoaded = false;
    m_detail = {};
    m_shownInput.clear();
    m_shownResult.clear();
    m_shownStepOutput.clear();
    m_shownStep = -1;
    m_steps->clear();
    m_stepViewer->clear(tr("Select a step to see its output."));
    m_inputViewer->clear();
    m_resultViewer->clear();
    m_detailError->hide();
    m_detailTabs->setTabText(0, tr("Steps"));
    m_live->setUris(m_detailChannel,
                    runId.isEmpty() ? QStringList() : QStringList{client::SidecarClient::workflowUri(runId)});
    if (runId.isEmpty()) {
        m_detailStack->setCurrentIndex(0);
        return;
    }
    // What the list knows already, until workflow_resume answers.
    if (const auto run = m_runs->itemWithKey(runId)) {
        m_detail.runId = runId;
        m_detail.lastStep = run->lastStep;
        m_detail.meta = *run;
    }
    m_runTitle->setText(m_detail.meta.name.isEmpty() ? runId
                                                     : tr("%1  ·  %2").arg(m_detail.meta.name, runId));
    m_detailStack->setCurrentIndex(1);
    applyDetail(m_detail);
    m_detailLoaded = false;
    loadDetail();
}

void WorkflowsView::loadDetail()
{
    if (!m_client || m_runId.isEmpty())
        return;
    const quint64 generation = m_detailGeneration;
    const QString runId = m_runId;
    QPointer<WorkflowsView> self(this);
    m_client->workflowResume(runId, [self, generation, runId](Result<client::WorkflowResume> result) {
        if (!self || generation != self->m_detailGeneration || runId != self->m_runId)
            return;
        if (!result) {
            self->m_detailError->setText(result.error().code == ErrorCode::NotFound
                                             ? tr("This run no longer exists (the store was reset).")
                                             : tr("Cannot read this run: %1").arg(result.error().message));
            self->m_detailError->show();
            if (result.error().code != ErrorCode::NotFound)
                emit self->statusMessage(tr("Cannot read run %1: %2").arg(runId, result.error().message));
            return;
        }
        self->m_detailError->hide();
        self->m_detailLoaded = true;
        self->applyDetail(*result);
    });
}

void WorkflowsView::applyDetail(const client::WorkflowResume &resume)
{
    m_detail = resume;
    const client::WorkflowRun &run = resume.meta;
    m_runTitle->setText(run.name.isEmpty() ? m_runId : tr("%1  ·  %2").arg(run.name, m_runId));

    m_statusLabel->setText(orDash(run.status));
    const QColor color = statusColor(run.status);
    m_statusLabel->setStyleSheet(
        color.isValid() ? QStringLiteral("color: %1; font-weight: bold;").arg(color.name()) : QString());
    const bool claimLive = run.claimExpiresAt && !isFinished(run.status)
                           && *run.claimExpiresAt > nowEpochSeconds();
    if (run.agentId.isEmpty())
        m_holderLabel->setText(tr("— (not claimed)"));
    else if (isFinished(run.status))
        m_holderLabel->setText(tr("%1 (finished the run)").arg(run.agentId));
    else if (!claimLive && run.claimExpiresAt)
        m_holderLabel->setText(tr("%1 (claim lapsed: claimable)").arg(run.agentId));
    else
        m_holderLabel->setText(run.agentId);
    if (run.attempt)
        m_attemptLabel->setText(run.maxAttempts
                                    ? tr("%1 of at most %2").arg(*run.attempt).arg(*run.maxAttempts)
                                    : QString::number(*run.attempt));
    else
        m_attemptLabel->setText(QStringLiteral("—"));
    m_fenceLabel->setText(run.fence ? QString::number(*run.fence) : QStringLiteral("—"));
    m_createdLabel->setText(orDash(formatTimestamp(run.createdAt)));
    m_updatedLabel->setText(orDash(formatTimestamp(run.updatedAt)));
    QStringList tags;
    for (const auto &[name, value] : run.tags)
        tags.append(name + QLatin1Char('=') + value);
    m_tagsLabel->setText(orDash(tags.join(QStringLiteral(", "))));

    showJson(m_inputViewer, run.input, m_shownInput, tr("This run has no input."));
    showJson(m_resultViewer, run.result, m_shownResult,
             isFinished(run.status) ? tr("The run finished without a result.")
                                    : tr("No result yet: the run is not finished."));
    m_detailTabs->setTabText(1, run.input.isEmpty() ? tr("Input (none)") : tr("Input"));
    m_detailTabs->setTabText(2, run.result.isEmpty() ? tr("Result (none)") : tr("Result"));

    const int before = m_steps->rowCount();
    m_steps->setSteps(resume.steps);
    m_detailTabs->setTabText(0, tr("Steps (%1)").arg(m_steps->rowCount()));
    if (m_steps->rowCount() > before && !m_stepsTable->currentIndex().isValid())
        m_stepsTable->scrollToBottom(); // following the run as it goes, until a step is picked
    showSelectedStep();
    updateCountdowns();
}

void WorkflowsView::showSelectedStep()
{
    const QModelIndex current = m_stepsTable->currentIndex();
    if (!current.isValid()) {
        if (m_shownStep != -1) {
            m_shownStep = -1;
            m_shownStepOutput.clear();
            m_stepViewer->clear(tr("Select a step to see its output."));
        }
        return;
    }
    const qint64 step = current.siblingAtColumn(0).data(StepTimelineModel::StepRole).toLongLong();
    const QByteArray output =
        current.siblingAtColumn(0).data(StepTimelineModel::OutputJsonRole).toByteArray();
    if (step != m_shownStep)
        m_shownStepOutput.clear();
    m_shownStep = step;
    showJson(m_stepViewer, output, m_shownStepOutput, QString());
}

void WorkflowsView::updateCountdowns()
{
    m_runs->tick();
    if (m_runId.isEmpty())
        return;
    const client::WorkflowRun &run = m_detail.meta;
    if (isFinished(run.status) || !run.claimExpiresAt) {
        m_countdownLabel->setText(QStringLiteral("—"));
        m_countdownLabel->setToolTip(QString());
        return;
    }
    m_countdownLabel->setText(formatCountdown(*run.claimExpiresAt, nowEpochSeconds()));
    m_countdownLabel->setToolTip(tr("at %1").arg(formatTimestamp(*run.claimExpiresAt)));
}

void WorkflowsView::updateSummary()
{
    m_summary->setText(listSummary(m_runs->rowCount(), m_runs->isLoading(), m_runs->hasMore(),
                                   {tr("1 run, not connected"), tr("%1 runs, not connected")},
                                   {tr("1 run loaded, more below"), tr("%1 runs loaded, more below")},
                                   {tr("1 run"), tr("%1 runs")}));
}

void WorkflowsView::restoreSelection()
{
    if (m_runId.isEmpty())
        return;
    const QModelIndex current = m_runsTable->currentIndex();
    if (current.isValid()
        && current.siblingAtColumn(0).data(WorkflowRunModel::RunIdRole).toString() == m_runId)
        return;
    const int row = m_runs->rowOfKey(m_runId);
    if (row >= 0)
        m_runsTable->selectionModel()->setCurrentIndex(
            m_runs->index(row, 0), QItemSelectionModel::ClearAndSelect | QItemSelectionModel::Rows);
}

} // namespace sidecar::inspector
