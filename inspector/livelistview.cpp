#include "livelistview.h"

#include <QAbstractItemModel>
#include <QLineEdit>

#include <utility>

#include "client/mcpclient.h"
#include "client/sidecarclient.h"
#include "liveupdates.h"
#include "viewsupport.h"

namespace sidecar::inspector {

namespace {

constexpr int kFilterDelayMs = 400; // typing in a filter field: apply after this pause

} // namespace

void LiveListView::setPaused(bool paused)
{
    if (m_paused == paused)
        return;
    m_paused = paused;
    m_live->setPaused(paused); // a notification while paused catches up when it ends
    if (!m_paused && std::exchange(m_dirty, false))
        reload();
    updateSummary();
}

void LiveListView::bindClient(client::SidecarClient *sidecar)
{
    if (m_mcp && (!sidecar || &sidecar->mcp() != m_mcp))
        disconnect(m_mcp, &QObject::destroyed, this, nullptr);
    m_client = sidecar;
    client::McpClient *mcp = sidecar ? &sidecar->mcp() : nullptr;
    if (mcp && mcp != m_mcp) {
        // The window must replace the client before destroying it; if it does not, stop using it.
        connect(mcp, &QObject::destroyed, this, [this] { setClient(nullptr); });
    }
    m_mcp = mcp;
    m_live->setClient(mcp);
    m_filterTimer.stop(); // a filter typed for the old client is not applied to the new one
}

void LiveListView::reloadForNewClient()
{
    if (!m_client) {
        updateSummary();
        return;
    }
    if (m_paused) {
        m_dirty = true;
        return;
    }
    reload();
}

void LiveListView::setUpFilterTimer()
{
    m_filterTimer.setSingleShot(true);
    m_filterTimer.setInterval(kFilterDelayMs);
    connect(&m_filterTimer, &QTimer::timeout, this, [this] { applyFilter(); });
}

void LiveListView::filterAsTyped(QLineEdit *edit)
{
    connect(edit, &QLineEdit::textChanged, &m_filterTimer, qOverload<>(&QTimer::start));
    connect(edit, &QLineEdit::returnPressed, this, [this] { applyFilter(); });
}

void LiveListView::summarizeRowsOf(QAbstractItemModel *model)
{
    connect(model, &QAbstractItemModel::rowsInserted, this, [this] { updateSummary(); });
    connect(model, &QAbstractItemModel::rowsRemoved, this, [this] { updateSummary(); });
    connect(model, &QAbstractItemModel::modelReset, this, [this] { updateSummary(); });
}

QString LiveListView::listSummary(int rows, bool loading, bool hasMore, const CountTexts &offline,
                                  const CountTexts &partial, const CountTexts &complete) const
{
    QString text;
    if (!m_client)
        text = countText(rows, offline.one, offline.many);
    else if (loading && rows == 0)
        text = tr("Loading…");
    else if (hasMore)
        text = countText(rows, partial.one, partial.many);
    else
        text = countText(rows, complete.one, complete.many);
    if (m_paused)
        text += tr(" · paused");
    return text;
}

} // namespace sidecar::inspector
