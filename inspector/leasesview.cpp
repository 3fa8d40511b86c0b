#include "leasesview.h"

#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QLineEdit>
#include <QTableView>
#include <QVBoxLayout>

#include "client/mcpclient.h"
#include "client/sidecarclient.h"
#include "leasemodel.h"
#include "liveupdates.h"
#include "viewsupport.h"

namespace sidecar::inspector {

namespace {

constexpr int kTickMs = 100;
constexpr int kLapsedRetryMs = 1000;

} // namespace

LeasesView::LeasesView(QWidget *parent) : LiveListView(parent)
{
    setObjectName(QStringLiteral("leasesView"));
    m_model = new LeaseModel(this);
    m_live = new LiveUpdates(this);
    m_channel = m_live->addChannel([this] { m_model->reload(); });
    m_live->setUris(m_channel, {client::SidecarClient::collectionUri(QStringLiteral("leases"))});
    connect(m_live, &LiveUpdates::subscriptionFailed, this, &StateView::statusMessage);

    m_prefixFilter = new QLineEdit(this);
    m_prefixFilter->setObjectName(QStringLiteral("leasePrefixFilter"));
    m_prefixFilter->setPlaceholderText(tr("Resource prefix"));
    m_prefixFilter->setClearButtonEnabled(true);
    m_prefixFilter->setToolTip(tr("Only leases whose resource id starts with this text (case-sensitive)"));
    m_summary = new QLabel(this);
    m_summary->setObjectName(QStringLiteral("leaseSummary"));
    m_summary->setTextFormat(Qt::PlainText);
    auto *filterBar = new QHBoxLayout;
    filterBar->addWidget(m_prefixFilter, 1);
    filterBar->addSpacing(12);
    filterBar->addWidget(m_summary);

    m_table = new QTableView(this);
    m_table->setObjectName(QStringLiteral("leasesTable"));
    m_table->setModel(m_model);
    setUpListTable(m_table);
    m_table->horizontalHeader()->resizeSection(LeaseModel::ResourceColumn, 260);
    m_table->horizontalHeader()->resizeSection(LeaseModel::HolderColumn, 160);
    m_table->horizontalHeader()->resizeSection(LeaseModel::FenceColumn, 80);
    m_table->horizontalHeader()->resizeSection(LeaseModel::ExpiresAtColumn, timestampColumnWidth(m_table));
    addCopyAction(m_table, LeaseModel::ResourceIdRole, tr("Copy resource id"));

    auto *layout = new QVBoxLayout(this);
    layout->addLayout(filterBar);
    layout->addWidget(m_table, 1);

    setUpFilterTimer();
    filterAsTyped(m_prefixFilter);

    m_tickTimer.setInterval(kTickMs);
    connect(&m_tickTimer, &QTimer::timeout, m_model, &LeaseModel::tick);
    m_tickTimer.start();
    m_lapsedRetry.setSingleShot(true);
    m_lapsedRetry.setInterval(kLapsedRetryMs);
    connect(&m_lapsedRetry, &QTimer::timeout, this, [this] { m_live->request(m_channel); });

    connect(m_model, &LeaseModel::errorOccurred, this, &StateView::statusMessage);
    // A lease that lapsed goes at the next refresh: ask for one (coalesced, deferred while paused).
    connect(m_model, &LeaseModel::lapsed, this, [this] { m_live->request(m_channel); });
    connect(m_model, &LeaseModel::loaded, this, [this] {
        if (m_model->lapsedCount() > 0)
            m_lapsedRetry.start();
        updateSummary();
    });
    summarizeRowsOf(m_model);
    updateSummary();
}

LeasesView::~LeasesView() = default;

void LeasesView::setClient(client::SidecarClient *sidecar)
{
    bindClient(sidecar);
    m_model->setClient(sidecar);
    m_prefixFilter->setEnabled(sidecar != nullptr);
    if (!sidecar)
        m_lapsedRetry.stop();
    reloadForNewClient();
}

void LeasesView::setReadOnly(bool /*readOnly*/)
{
    // Nothing here changes state: leases are shown, never acquired or released from this tab.
}

void LeasesView::reload()
{
    if (!m_client)
        return;
    m_model->reload();
    updateSummary();
}

void LeasesView::applyFilter()
{
    m_filterTimer.stop();
    const QString prefix = m_prefixFilter->text();
    if (prefix == m_model->prefix())
        return;
    m_model->setPrefix(prefix);
    updateSummary();
}

void LeasesView::updateSummary()
{
    m_summary->setText(listSummary(m_model->rowCount(), m_model->isLoading(), m_model->hasMore(),
                                   {tr("1 lease, not connected"), tr("%1 leases, not connected")},
                                   {tr("1 lease loaded, more below"), tr("%1 leases loaded, more below")},
                                   {tr("1 live lease"), tr("%1 live leases")}));
}

} // namespace sidecar::inspector
