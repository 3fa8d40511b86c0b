#include "workflowrunmodel.h"

#include <QColor>
#include <QFont>

namespace sidecar::inspector {

namespace {

constexpr int kMaxLimit = 10000; // workflow_discover's largest page

bool isFinished(const QString &status)
{
    return status == QLatin1String("done") || status == QLatin1String("failed");
}

} // namespace

QColor statusColor(const QString &status)
{
    if (status == QLatin1String("done"))
        return QColor(0x2e, 0x8b, 0x57); // green
    if (status == QLatin1String("failed"))
        return QColor(0xc0, 0x39, 0x2b); // red
    if (status == QLatin1String("running"))
        return QColor(0x1f, 0x77, 0xb4); // blue
    if (status == QLatin1String("claimed"))
        return QColor(0xd3, 0x84, 0x00); // amber
    return {};
}

WorkflowRunModel::WorkflowRunModel(QObject *parent) : KeyedTableModel(parent) {}

void WorkflowRunModel::setClient(client::SidecarClient *client)
{
    m_client = client;
    ++m_generation; // answers from the old client no longer count
    m_loading = false;
    m_fetching = false;
    setStale(client == nullptr);
}

void WorkflowRunModel::setQuery(const client::RunQuery &query)
{
    m_query = query;
    m_query.cursor.clear();
    m_query.limit.reset();
    ++m_generation;
    m_cursor.clear();
    clearItems(); // another filter: other rows, from the top
    reload();
}

void WorkflowRunModel::reload()
{
    if (!m_client)
        return;
    const quint64 generation = ++m_generation;
    m_fetching = false;
    m_loading = true;
    client::RunQuery query = m_query;
    // As many rows as are shown (rounded up to whole pages), so that scrolling is not undone.
    const int shown = std::max<int>(kPageSize, int(m_items.size()));
    query.limit = std::min(kMaxLimit, (shown + kPageSize - 1) / kPageSize * kPageSize);
    QPointer<WorkflowRunModel> self(this);
    m_client->workflowDiscover(query, [self, generation](Result<client::RunPage> result) {
        if (!self || generation != self->m_generation)
            return;
        self->m_loading = false;
        if (!result) {
            emit self->errorOccurred(tr("Cannot list workflow runs: %1").arg(result.error().message));
            return;
        }
        self->m_cursor = result->nextCursor;
        self->mergeItems(result->runs);
        emit self->loaded();
    });
}

bool WorkflowRunModel::canFetchMore(const QModelIndex &parent) const
{
    return !parent.isValid() && m_client && !m_cursor.isEmpty() && !m_fetching && !m_loading;
}

void WorkflowRunModel::fetchMore(const QModelIndex &parent)
{
    if (!canFetchMore(parent))
        return;
    m_fetching = true;
    const quint64 generation = m_generation;
    client::RunQuery query = m_query;
    query.limit = kPageSize;
    query.cursor = m_cursor;
    QPointer<WorkflowRunModel> self(this);
    m_client->workflowDiscover(query, [self, generation](Result<client::RunPage> result) {
        if (!self || generation != self->m_generation)
            return;
        self->m_fetching = false;
        if (!result) {
            emit self->errorOccurred(tr("Cannot list more workflow runs: %1").arg(result.error().message));
            return;
        }
        self->m_cursor = result->nextCursor;
        self->appendItems(result->runs);
        emit self->loaded();
    });
}

void WorkflowRunModel::tick()
{
    touchColumn(ClaimExpiresColumn);
}

QStringList WorkflowRunModel::columnTitles() const
{
    return {tr("Run"),   tr("Name"),      tr("Status"),  tr("Agent"),        tr("Attempt"),
            tr("Fence"), tr("Last step"), tr("Updated"), tr("Claim expires")};
}

QVariant WorkflowRunModel::itemData(const client::WorkflowRun &run, int column, int role) const
{
    if (role == RunIdRole)
        return run.runId;
    const bool hasClaim = run.claimExpiresAt.has_value() && !isFinished(run.status);
    if (role == Qt::DisplayRole) {
        switch (column) {
        case RunIdColumn: return run.runId;
        case NameColumn: return run.name;
        case StatusColumn: return run.status;
        case AgentColumn: return run.agentId;
        case AttemptColumn:
            if (!run.attempt)
                return QString();
            return run.maxAttempts ? tr("%1 / %2").arg(*run.attempt).arg(*run.maxAttempts)
                                   : QString::number(*run.attempt);
        case FenceColumn: return run.fence ? QString::number(*run.fence) : QString();
        case LastStepColumn: return QString::number(run.lastStep);
        case UpdatedColumn: return formatTimestamp(run.updatedAt);
        case ClaimExpiresColumn:
            return hasClaim ? formatCountdown(*run.claimExpiresAt, nowEpochSeconds()) : QString();
        default: return {};
        }
    }
    if (role == Qt::ToolTipRole) {
        if (column == ClaimExpiresColumn && hasClaim)
            return tr("Claim held by %1 until %2").arg(run.agentId, formatTimestamp(*run.claimExpiresAt));
        if (column == RunIdColumn || column == NameColumn) {
            QStringList tags;
            for (const auto &[name, value] : run.tags)
                tags.append(name + QLatin1Char('=') + value);
            return tags.isEmpty() ? tr("Created %1").arg(formatTimestamp(run.createdAt))
                                  : tr("Created %1\nTags: %2")
                                        .arg(formatTimestamp(run.createdAt), tags.join(QStringLiteral(", ")));
        }
        return {};
    }
    if (role == Qt::ForegroundRole) {
        if (column == StatusColumn) {
            const QColor color = statusColor(run.status);
            return color.isValid() ? QVariant(color) : QVariant();
        }
        if (column == ClaimExpiresColumn && hasClaim && *run.claimExpiresAt <= nowEpochSeconds())
            return QColor(Qt::gray);
        return {};
    }
    if (role == Qt::FontRole && column == StatusColumn) {
        QFont font;
        font.setBold(true);
        return font;
    }
    if (role == Qt::TextAlignmentRole
        && (column == AttemptColumn || column == FenceColumn || column == LastStepColumn
            || column == ClaimExpiresColumn))
        return QVariant(Qt::AlignRight | Qt::AlignVCenter);
    return {};
}

} // namespace sidecar::inspector
