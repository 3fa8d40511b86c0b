#include "historyview.h"

#include <QComboBox>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QItemSelectionModel>
#include <QLabel>
#include <QLineEdit>
#include <QScrollBar>
#include <QSplitter>
#include <QStackedWidget>
#include <QTabWidget>
#include <QTableView>
#include <QVBoxLayout>

#include "client/mcpclient.h"
#include "historymodel.h"
#include "jsonviewer.h"
#include "keyedtablemodel.h"
#include "liveupdates.h"
#include "valuediffmodel.h"
#include "viewsupport.h"

namespace sidecar::inspector {

namespace {

const char *const kKinds[] = {"kv", "workflow", "lease", "session", "store"};

enum MatchMode { PrefixMatch, ExactMatch };

} // namespace

HistoryView::HistoryView(QWidget *parent) : LiveListView(parent)
{
    setObjectName(QStringLiteral("historyView"));
    m_model = new HistoryModel(this);
    m_diff = new ValueDiffModel(this);
    m_live = new LiveUpdates(this);
    m_channel = m_live->addChannel([this] { m_model->catchUp(); });
    m_live->setUris(m_channel, {client::SidecarClient::collectionUri(QStringLiteral("history"))});
    connect(m_live, &LiveUpdates::subscriptionFailed, this, &StateView::statusMessage);

    // The filter bar.
    m_kindFilter = new QComboBox(this);
    m_kindFilter->setObjectName(QStringLiteral("historyKindFilter"));
    m_kindFilter->addItem(tr("All kinds"), QString());
    for (const char *kind : kKinds)
        m_kindFilter->addItem(QString::fromLatin1(kind), QString::fromLatin1(kind));
    m_kindFilter->setToolTip(
        tr("Only changes to keys, workflow runs, leases, sessions, or the store itself"));
    m_matchMode = new QComboBox(this);
    m_matchMode->setObjectName(QStringLiteral("historyMatchMode"));
    m_matchMode->addItem(tr("Key prefix"), int(PrefixMatch));
    m_matchMode->addItem(tr("Exact key"), int(ExactMatch));
    m_keyFilter = new QLineEdit(this);
    m_keyFilter->setObjectName(QStringLiteral("historyKeyFilter"));
    m_keyFilter->setPlaceholderText(tr("Key, run, resource or session id"));
    m_keyFilter->setClearButtonEnabled(true);
    m_summary = new QLabel(this);
    m_summary->setObjectName(QStringLiteral("historySummary"));
    m_summary->setTextFormat(Qt::PlainText);
    auto *filterBar = new QHBoxLayout;
    filterBar->addWidget(m_kindFilter);
    filterBar->addWidget(m_matchMode);
    filterBar->addWidget(m_keyFilter, 1);
    filterBar->addSpacing(12);
    filterBar->addWidget(m_summary);

    // The entries.
    m_table = new QTableView(this);
    m_table->setObjectName(QStringLiteral("historyTable"));
    m_table->setModel(m_model);
    setUpListTable(m_table);
    m_table->setVerticalScrollMode(QAbstractItemView::ScrollPerItem);
    m_table->horizontalHeader()->resizeSection(HistoryModel::RevisionColumn, 80);
    m_table->horizontalHeader()->resizeSection(HistoryModel::TimeColumn, timestampColumnWidth(m_table));
    m_table->horizontalHeader()->resizeSection(HistoryModel::KindColumn, 80);
    m_table->horizontalHeader()->resizeSection(HistoryModel::OpColumn, 90);
    m_table->horizontalHeader()->resizeSection(HistoryModel::KeyColumn, 260);
    m_table->horizontalHeader()->resizeSection(HistoryModel::AgentColumn, 120);
    addCopyAction(m_table, HistoryModel::RevisionRole, tr("Copy revision"));
    connect(m_table->selectionModel(), &QItemSelectionModel::currentRowChanged, this,
            [this](const QModelIndex &current) { onCurrentChanged(current); });

    // The selected entry: its diff, and each value whole.
    auto *detail = new QWidget(this);
    m_entryTitle = new QLabel(detail);
    m_entryTitle->setObjectName(QStringLiteral("historyEntryTitle"));
    m_entryTitle->setTextFormat(Qt::PlainText);
    m_entryTitle->setTextInteractionFlags(Qt::TextSelectableByMouse);
    QFont titleFont = m_entryTitle->font();
    titleFont.setBold(true);
    m_entryTitle->setFont(titleFont);
    m_diffSummary = new QLabel(detail);
    m_diffSummary->setObjectName(QStringLiteral("historyDiffSummary"));
    m_diffSummary->setTextFormat(Qt::PlainText);
    auto *titleRow = new QHBoxLayout;
    titleRow->addWidget(m_entryTitle, 1);
    titleRow->addWidget(m_diffSummary);

    m_diffTable = new QTableView(detail);
    m_diffTable->setObjectName(QStringLiteral("historyDiffTable"));
    m_diffTable->setModel(m_diff);
    m_diffTable->setEditTriggers(QAbstractItemView::NoEditTriggers);
    m_diffTable->setSelectionBehavior(QAbstractItemView::SelectRows);
    m_diffTable->setShowGrid(false);
    m_diffTable->setWordWrap(false);
    m_diffTable->verticalHeader()->setVisible(false);
    m_diffTable->verticalHeader()->setSectionResizeMode(QHeaderView::Fixed);
    m_diffTable->verticalHeader()->setDefaultSectionSize(m_diffTable->fontMetrics().height() + 4);
    m_diffTable->horizontalHeader()->setSectionResizeMode(ValueDiffModel::OldLineColumn,
                                                          QHeaderView::ResizeToContents);
    m_diffTable->horizontalHeader()->setSectionResizeMode(ValueDiffModel::OldTextColumn,
                                                          QHeaderView::Stretch);
    m_diffTable->horizontalHeader()->setSectionResizeMode(ValueDiffModel::NewLineColumn,
                                                          QHeaderView::ResizeToContents);
    m_diffTable->horizontalHeader()->setSectionResizeMode(ValueDiffModel::NewTextColumn,
                                                          QHeaderView::Stretch);
    m_diffTable->horizontalHeader()->setDefaultAlignment(Qt::AlignLeft | Qt::AlignVCenter);

    m_newViewer = new JsonViewer(detail);
    m_newViewer->setObjectName(QStringLiteral("historyNewValueViewer"));
    m_previousViewer = new JsonViewer(detail);
    m_previousViewer->setObjectName(QStringLiteral("historyPreviousValueViewer"));
    m_detailTabs = new QTabWidget(detail);
    m_detailTabs->setObjectName(QStringLiteral("historyDetailTabs"));
    m_detailTabs->setDocumentMode(true);
    m_detailTabs->addTab(m_diffTable, tr("Diff"));
    m_detailTabs->addTab(m_newViewer, tr("New value"));
    m_detailTabs->addTab(m_previousViewer, tr("Previous value"));

    auto *detailLayout = new QVBoxLayout(detail);
    detailLayout->setContentsMargins(0, 4, 0, 0);
    detailLayout->addLayout(titleRow);
    detailLayout->addWidget(m_detailTabs, 1);

    m_detailStack = makeDetailStack(detail, tr("Select an entry to see what it changed."),
                                    QStringLiteral("historyNoSelection"), QStringLiteral("historyDetail"),
                                    this);

    auto *splitter = new QSplitter(Qt::Vertical, this);
    splitter->setObjectName(QStringLiteral("historySplitter"));
    splitter->addWidget(m_table);
    splitter->addWidget(m_detailStack);
    splitter->setStretchFactor(0, 1);
    splitter->setStretchFactor(1, 1);
    splitter->setChildrenCollapsible(false);
    auto *layout = new QVBoxLayout(this);
    layout->addLayout(filterBar);
    layout->addWidget(splitter, 1);

    setUpFilterTimer();
    filterAsTyped(m_keyFilter);
    connect(m_kindFilter, &QComboBox::currentIndexChanged, this, &HistoryView::applyFilter);
    connect(m_matchMode, &QComboBox::currentIndexChanged, this, &HistoryView::applyFilter);

    connect(m_model, &HistoryModel::errorOccurred, this, &StateView::statusMessage);
    connect(m_model, &HistoryModel::loaded, this, &HistoryView::updateSummary);
    connect(m_model, &QAbstractItemModel::modelReset, this, &HistoryView::updateSummary);
    connect(m_model, &QAbstractItemModel::rowsRemoved, this, &HistoryView::updateSummary);
    // New entries come at the top: a reader scrolled down keeps the rows in view where they were.
    connect(m_model, &QAbstractItemModel::rowsAboutToBeInserted, this,
            [this] { m_scrollBeforeInsert = m_table->verticalScrollBar()->value(); });
    connect(
        m_model, &QAbstractItemModel::rowsInserted, this, [this](const QModelIndex &, int first, int last) {
            updateSummary();
            const int top = m_scrollBeforeInsert;
            if (top <= 0 || first > top)
                return;
            const int target = top + (last - first + 1);
            QTimer::singleShot(0, this, [this, target] { m_table->verticalScrollBar()->setValue(target); });
        });
    updateSummary();
}

HistoryView::~HistoryView() = default;

void HistoryView::setClient(client::SidecarClient *sidecar)
{
    bindClient(sidecar);
    m_model->setClient(sidecar);
    m_kindFilter->setEnabled(sidecar != nullptr);
    m_matchMode->setEnabled(sidecar != nullptr);
    m_keyFilter->setEnabled(sidecar != nullptr);
    reloadForNewClient();
}

void HistoryView::setReadOnly(bool /*readOnly*/)
{
    // Nothing here changes state: history is read, never written, from this tab.
}

void HistoryView::reload()
{
    if (!m_client)
        return;
    m_model->reload();
    updateSummary();
}

bool HistoryView::selectRevision(qint64 revision)
{
    for (int row = 0; row < m_model->rowCount(); ++row) {
        if (m_model->itemAt(row).revision == revision) {
            m_table->selectionModel()->setCurrentIndex(
                m_model->index(row, 0), QItemSelectionModel::ClearAndSelect | QItemSelectionModel::Rows);
            m_table->scrollTo(m_model->index(row, 0));
            return true;
        }
    }
    return false;
}

void HistoryView::applyFilter()
{
    m_filterTimer.stop();
    HistoryModel::Filter filter;
    filter.kind = m_kindFilter->currentData().toString();
    const QString text = m_keyFilter->text();
    if (m_matchMode->currentData().toInt() == ExactMatch)
        filter.key = text;
    else
        filter.prefix = text;
    const HistoryModel::Filter &current = m_model->filter();
    if (filter.kind == current.kind && filter.key == current.key && filter.prefix == current.prefix)
        return;
    clearEntry();
    m_model->setFilter(filter); // reloads (a filter the user chose applies even while paused)
    updateSummary();
}

void HistoryView::onCurrentChanged(const QModelIndex &current)
{
    if (!current.isValid() || current.row() >= m_model->rowCount())
        return;
    const client::HistoryEntry &entry = m_model->itemAt(current.row());
    if (m_hasEntry && entry.id == m_entry.id)
        return;
    showEntry(entry);
}

void HistoryView::showEntry(const client::HistoryEntry &entry)
{
    m_entry = entry;
    m_hasEntry = true;
    QString title = tr("Revision %1 · %2 %3 · %4").arg(entry.revision).arg(entry.kind, entry.op, entry.key);
    if (!entry.agentId.isEmpty())
        title += tr(" · by %1").arg(entry.agentId);
    if (!entry.principal.isEmpty())
        title += tr(" (token %1)").arg(entry.principal);
    title += tr(" · %1").arg(formatTimestamp(entry.writtenAt));
    m_entryTitle->setText(title);
    m_diff->setValues(entry.previousValue, entry.newValue);
    m_diffSummary->setText(m_diff->isIdentical()
                               ? tr("no change in the value")
                               : tr("+%1 −%2 lines").arg(m_diff->addedCount()).arg(m_diff->removedCount()));
    m_newViewer->setJson(entry.newValue.isEmpty() ? QByteArrayLiteral("null") : entry.newValue);
    m_previousViewer->setJson(entry.previousValue.isEmpty() ? QByteArrayLiteral("null")
                                                            : entry.previousValue);
    m_detailStack->setCurrentIndex(1);
    // Bring the first change into view.
    for (int row = 0; row < m_diff->rowCount(); ++row) {
        if (m_diff->kindAt(row) != SideBySideRow::Kind::Same) {
            m_diffTable->scrollTo(m_diff->index(row, ValueDiffModel::OldTextColumn),
                                  QAbstractItemView::PositionAtCenter);
            break;
        }
    }
}

void HistoryView::clearEntry()
{
    m_hasEntry = false;
    m_entry = {};
    m_diff->clear();
    m_newViewer->clear();
    m_previousViewer->clear();
    m_entryTitle->clear();
    m_diffSummary->clear();
    m_detailStack->setCurrentIndex(0);
}

void HistoryView::updateSummary()
{
    m_summary->setText(listSummary(m_model->rowCount(), m_model->isLoading(), m_model->hasMore(),
                                   {tr("1 entry, not connected"), tr("%1 entries, not connected")},
                                   {tr("1 newest entry, older below"), tr("%1 newest entries, older below")},
                                   {tr("1 entry"), tr("%1 entries")}));
}

} // namespace sidecar::inspector
