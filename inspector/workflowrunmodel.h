#pragma once

// WorkflowRunModel: the Workflows tab's table of runs, as workflow_discover returns them for the
// tab's filter (status, name, tags), newest first, loaded a page at a time as the view scrolls
// (canFetchMore/fetchMore with the answer's next_cursor). reload() re-reads as many rows as are
// shown, in one call, and merges them by run id, so that a live update keeps the selection. The
// "Claim expires" column is a countdown: tick() repaints it.
//
// Every answer carries the generation of the query it belongs to; answers of an older query, of a
// replaced client, or arriving after the model is gone are dropped.
//
// Thread: GUI thread only. Ownership: the view's; the SidecarClient is the window's and is
// replaced (setClient) before it goes away.

#include <QColor>
#include <QPointer>

#include "client/sidecarclient.h"
#include "keyedtablemodel.h"

namespace sidecar::inspector {

// The colour a run's status is drawn in (invalid: the default text colour).
QColor statusColor(const QString &status);

class WorkflowRunModel : public KeyedTableModel<client::WorkflowRun>
{
    Q_OBJECT
public:
    enum Column {
        RunIdColumn,
        NameColumn,
        StatusColumn,
        AgentColumn,
        AttemptColumn,
        FenceColumn,
        LastStepColumn,
        UpdatedColumn,
        ClaimExpiresColumn,
        ColumnCount
    };
    enum Role { RunIdRole = Qt::UserRole + 1 };
    static constexpr int kPageSize = 100;

    explicit WorkflowRunModel(QObject *parent = nullptr);

    // The client to read with (nullptr: none; the rows stay, greyed). Does not reload by itself.
    void setClient(client::SidecarClient *client);
    // The filter (status, name, tags; its limit and cursor are the model's). Reloads.
    void setQuery(const client::RunQuery &query);
    const client::RunQuery &query() const { return m_query; }
    // Re-reads the rows shown (at least one page) with the current filter.
    void reload();
    bool isLoading() const { return m_loading; }
    // More runs match than are loaded.
    bool hasMore() const { return !m_cursor.isEmpty(); }

    bool canFetchMore(const QModelIndex &parent) const override;
    void fetchMore(const QModelIndex &parent) override;

    // Repaints the countdown column.
    void tick();

signals:
    void loaded();
    void errorOccurred(const QString &message);

protected:
    QString keyOf(const client::WorkflowRun &run) const override { return run.runId; }
    QStringList columnTitles() const override;
    QVariant itemData(const client::WorkflowRun &run, int column, int role) const override;

private:
    client::SidecarClient *m_client = nullptr;
    client::RunQuery m_query;
    QString m_cursor;
    quint64 m_generation = 0;
    bool m_loading = false;  // a reload in flight
    bool m_fetching = false; // a next page in flight
};

} // namespace sidecar::inspector
