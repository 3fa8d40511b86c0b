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

constexpr int kFilterDelayMs = 400;
constexpr int kTickMs = 100;
constexpr int kLapsedRetryMs = 1000;

} // namespace

LeasesView::LeasesView(QWidget *parent) : StateView(parent)
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

    m_filterTimer.setSingleShot(true);
    m_filterTimer.setInterval(kFilterDelayMs);
    connect(&m_filterTimer, &QTimer::timeout, this, &LeasesView::applyFilter);
    connect(m_prefixFilter, &QLineEdit::textChanged, &m_filterTimer, qOverload<>(&QTimer::start));
    connect(m_prefixFilter, &QLineEdit::returnPressed, this, &LeasesView::applyFilter);

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
    connect(m_model, &QAbstractItemModel::rowsInserted, this, &LeasesView::updateSummary);
    connect(m_model, &QAbstractItemModel::rowsRemoved, this, &LeasesView::updateSummary);
    connect(m_model, &QAbstractItemModel::modelReset, this, &LeasesView::updateSummary);
    updateSummary();
}

LeasesView::~LeasesView() = default;

void LeasesView::setClient(client::SidecarClient *sidecar)
{
    if (m_mcp && (!sidecar || &sidecar->mcp() != m_mcp))
        disconnect(m_mcp, &QObject::destroyed, this, nullptr);
    m_client = sidecar;
    client::McpClient *mcp = sidecar ? &sidecar->mcp() : nullptr;
    if (mcp && mcp != m_mcp)
        connect(mcp, &QObject::destroyed, this, [this] { setClient(nullptr); });
    m_mcp = mcp;
    m_live->setClient(mcp);
    m_model->setClient(sidecar);
    m_prefixFilter->setEnabled(sidecar != nullptr);
    m_filterTimer.stop();
    if (!sidecar) {
        m_lapsedRetry.stop();
        updateSummary();
        return;
    }
    if (m_paused) {
        m_dirty = true;
        return;
    }
    reload();
}

void LeasesView::setPaused(bool paused)
{
    if (m_paused == paused)
        return;
    m_paused = paused;
    m_live->setPaused(paused);
    if (!m_paused && std::exchange(m_dirty, false))
        reload();
    updateSummary();
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
    QString text;
    const int rows = m_model->rowCount();
    if (!m_client)
        text = countText(rows, tr("1 lease, not connected"), tr("%1 leases, not connected"));
    else if (m_model->isLoading() && rows == 0)
        text = tr("Loading…");
    else if (m_model->hasMore())
        text = countText(rows, tr("1 lease loaded, more below"), tr("%1 leases loaded, more below"));
    else
        text = countText(rows, tr("1 live lease"), tr("%1 live leases"));
    if (m_paused)
        text += tr(" · paused");
    m_summary->setText(text);
}

} // namespace sidecar::inspector
