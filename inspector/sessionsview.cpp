#include "sessionsview.h"

#include <QFormLayout>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QItemSelectionModel>
#include <QLabel>
#include <QLineEdit>
#include <QSplitter>
#include <QStackedWidget>
#include <QTableView>
#include <QVBoxLayout>

#include "client/mcpclient.h"
#include "jsonviewer.h"
#include "keyedtablemodel.h"
#include "liveupdates.h"
#include "sessionmodel.h"
#include "viewsupport.h"

namespace sidecar::inspector {

namespace {


} // namespace

SessionsView::SessionsView(QWidget *parent) : LiveListView(parent)
{
    setObjectName(QStringLiteral("sessionsView"));
    m_model = new SessionModel(this);
    m_live = new LiveUpdates(this);
    m_listChannel = m_live->addChannel([this] { m_model->reload(); });
    m_detailChannel = m_live->addChannel([this] { loadDetail(); });
    m_live->setUris(m_listChannel, {client::SidecarClient::collectionUri(QStringLiteral("sessions"))});
    connect(m_live, &LiveUpdates::subscriptionFailed, this, &StateView::statusMessage);

    m_prefixFilter = new QLineEdit(this);
    m_prefixFilter->setObjectName(QStringLiteral("sessionPrefixFilter"));
    m_prefixFilter->setPlaceholderText(tr("Session prefix"));
    m_prefixFilter->setClearButtonEnabled(true);
    m_prefixFilter->setToolTip(tr("Only sessions whose id starts with this text (case-sensitive)"));
    m_summary = new QLabel(this);
    m_summary->setObjectName(QStringLiteral("sessionSummary"));
    m_summary->setTextFormat(Qt::PlainText);

    m_table = new QTableView(this);
    m_table->setObjectName(QStringLiteral("sessionsTable"));
    m_table->setModel(m_model);
    setUpListTable(m_table);
    m_table->horizontalHeader()->resizeSection(SessionModel::SessionColumn, 200);
    m_table->horizontalHeader()->resizeSection(SessionModel::SavedColumn, timestampColumnWidth(m_table));
    addCopyAction(m_table, SessionModel::SessionIdRole, tr("Copy session id"));
    connect(m_table->selectionModel(), &QItemSelectionModel::currentRowChanged, this,
            [this](const QModelIndex &current) { onCurrentChanged(current); });

    auto *listPane = new QWidget(this);
    auto *listLayout = new QVBoxLayout(listPane);
    listLayout->setContentsMargins(0, 0, 0, 0);
    auto *filterBar = new QHBoxLayout;
    filterBar->addWidget(m_prefixFilter, 1);
    filterBar->addWidget(m_summary);
    listLayout->addLayout(filterBar);
    listLayout->addWidget(m_table, 1);

    auto *detail = new QWidget(this);
    m_title = new QLabel(detail);
    m_title->setObjectName(QStringLiteral("sessionTitle"));
    m_title->setTextFormat(Qt::PlainText);
    m_title->setTextInteractionFlags(Qt::TextSelectableByMouse);
    QFont titleFont = m_title->font();
    titleFont.setBold(true);
    titleFont.setPointSizeF(titleFont.pointSizeF() * 1.15);
    m_title->setFont(titleFont);
    m_detailError = new QLabel(detail);
    m_detailError->setObjectName(QStringLiteral("sessionDetailError"));
    m_detailError->setTextFormat(Qt::PlainText);
    m_detailError->setStyleSheet(QStringLiteral("color: #c0392b;"));
    m_detailError->hide();
    m_savedLabel = makeValueLabel(QStringLiteral("sessionSaved"), detail);
    m_updatedLabel = makeValueLabel(QStringLiteral("sessionUpdated"), detail);
    auto *form = new QFormLayout;
    form->addRow(tr("First saved:"), m_savedLabel);
    form->addRow(tr("Last saved:"), m_updatedLabel);
    m_contextViewer = new JsonViewer(detail);
    m_contextViewer->setObjectName(QStringLiteral("sessionContextViewer"));
    auto *detailLayout = new QVBoxLayout(detail);
    detailLayout->setContentsMargins(0, 0, 0, 0);
    detailLayout->addWidget(m_title);
    detailLayout->addWidget(m_detailError);
    detailLayout->addLayout(form);
    detailLayout->addWidget(m_contextViewer, 1);

    m_detailStack = makeDetailStack(detail, tr("Select a session to see its context."),
                                    QStringLiteral("sessionNoSelection"), QStringLiteral("sessionDetail"),
                                    this);

    auto *splitter = new QSplitter(Qt::Horizontal, this);
    splitter->setObjectName(QStringLiteral("sessionSplitter"));
    splitter->addWidget(listPane);
    splitter->addWidget(m_detailStack);
    splitter->setStretchFactor(0, 2);
    splitter->setStretchFactor(1, 3);
    splitter->setChildrenCollapsible(false);
    // Room for the id and both times.
    splitter->setSizes({200 + 2 * timestampColumnWidth(m_table) + 24, 600});
    auto *layout = new QVBoxLayout(this);
    layout->addWidget(splitter);

    setUpFilterTimer();
    filterAsTyped(m_prefixFilter);

    connect(m_model, &SessionModel::errorOccurred, this, &StateView::statusMessage);
    connect(m_model, &SessionModel::loaded, this, [this] {
        restoreSelection();
        updateSummary();
    });
    summarizeRowsOf(m_model);
    updateSummary();
}

SessionsView::~SessionsView() = default;

void SessionsView::setClient(client::SidecarClient *sidecar)
{
    bindClient(sidecar);
    m_model->setClient(sidecar);
    m_prefixFilter->setEnabled(sidecar != nullptr);
    ++m_detailGeneration;
    reloadForNewClient();
}

void SessionsView::setReadOnly(bool /*readOnly*/)
{
    // Nothing here changes state: sessions are shown, never saved or deleted from this tab.
}

void SessionsView::reload()
{
    if (!m_client)
        return;
    m_model->reload();
    if (!m_sessionId.isEmpty())
        loadDetail();
    updateSummary();
}

void SessionsView::selectSession(const QString &sessionId)
{
    const int row = m_model->rowOfKey(sessionId);
    if (row >= 0) {
        m_table->selectionModel()->setCurrentIndex(m_model->index(row, 0), QItemSelectionModel::ClearAndSelect
                                                                               | QItemSelectionModel::Rows);
        m_table->scrollTo(m_model->index(row, 0));
    }
    showSession(sessionId);
}

void SessionsView::applyFilter()
{
    m_filterTimer.stop();
    const QString prefix = m_prefixFilter->text();
    if (prefix == m_model->prefix())
        return;
    m_model->setPrefix(prefix);
    updateSummary();
}

void SessionsView::onCurrentChanged(const QModelIndex &current)
{
    if (!current.isValid())
        return;
    const QString sessionId = current.siblingAtColumn(0).data(SessionModel::SessionIdRole).toString();
    if (!sessionId.isEmpty() && sessionId != m_sessionId)
        showSession(sessionId);
}

void SessionsView::showSession(const QString &sessionId)
{
    if (sessionId == m_sessionId) // already shown (or being read): live updates keep it current
        return;
    m_sessionId = sessionId;
    ++m_detailGeneration;
    m_loaded = false;
    m_session = {};
    m_shownContext.clear();
    m_contextViewer->clear();
    m_detailError->hide();
    m_live->setUris(m_detailChannel, sessionId.isEmpty()
                                         ? QStringList()
                                         : QStringList{client::SidecarClient::sessionUri(sessionId)});
    if (sessionId.isEmpty()) {
        m_detailStack->setCurrentIndex(0);
        return;
    }
    m_title->setText(sessionId);
    const auto summary = m_model->itemWithKey(sessionId);
    m_savedLabel->setText(summary ? formatTimestamp(summary->savedAt) : QString());
    m_updatedLabel->setText(summary ? formatTimestamp(summary->updatedAt) : QString());
    m_detailStack->setCurrentIndex(1);
    loadDetail();
}

void SessionsView::loadDetail()
{
    if (!m_client || m_sessionId.isEmpty())
        return;
    const quint64 generation = m_detailGeneration;
    const QString sessionId = m_sessionId;
    QPointer<SessionsView> self(this);
    m_client->sessionRestore(sessionId, [self, generation, sessionId](Result<client::SessionContext> result) {
        if (!self || generation != self->m_detailGeneration || sessionId != self->m_sessionId)
            return;
        if (!result) {
            self->m_detailError->setText(tr("Cannot read this session: %1").arg(result.error().message));
            self->m_detailError->show();
            emit self->statusMessage(tr("Cannot read session %1: %2").arg(sessionId, result.error().message));
            return;
        }
        self->m_session = *result;
        self->m_loaded = true;
        if (!result->found) {
            self->m_detailError->setText(tr("This session no longer exists (it was deleted)."));
            self->m_detailError->show();
            self->m_shownContext.clear();
            self->m_contextViewer->clear(tr("No context: the session is gone."));
            return;
        }
        self->m_detailError->hide();
        self->m_savedLabel->setText(result->savedAt ? formatTimestamp(*result->savedAt) : QString());
        self->m_updatedLabel->setText(result->updatedAt ? formatTimestamp(*result->updatedAt) : QString());
        if (result->context != self->m_shownContext) {
            const bool sameSession = !self->m_shownContext.isEmpty(); // keep what the user expanded
            self->m_shownContext = result->context;
            self->m_contextViewer->setJson(result->context, sameSession);
        }
    });
}

void SessionsView::updateSummary()
{
    m_summary->setText(listSummary(m_model->rowCount(), m_model->isLoading(), m_model->hasMore(),
                                   {tr("1 session, not connected"), tr("%1 sessions, not connected")},
                                   {tr("1 session loaded, more below"), tr("%1 sessions loaded, more below")},
                                   {tr("1 session"), tr("%1 sessions")}));
}

void SessionsView::restoreSelection()
{
    if (m_sessionId.isEmpty())
        return;
    const QModelIndex current = m_table->currentIndex();
    if (current.isValid()
        && current.siblingAtColumn(0).data(SessionModel::SessionIdRole).toString() == m_sessionId)
        return;
    const int row = m_model->rowOfKey(m_sessionId);
    if (row >= 0)
        m_table->selectionModel()->setCurrentIndex(m_model->index(row, 0), QItemSelectionModel::ClearAndSelect
                                                                               | QItemSelectionModel::Rows);
}

} // namespace sidecar::inspector
