#pragma once

// A typed API over McpClient for the sidecar's tools (docs/contract/TOOLS.md) that a viewer such as
// the inspector needs: health, keys (get, set, delete, list, watch), workflows (list, discover,
// status, resume), leases, sessions and history, with the resource URIs to subscribe to.
//
// The structs are the client's own (the server's store.h stays out of the inspector). Every stored
// JSON value (a key's value, a run's input and result, a step's output, a session's context, the
// values of a history entry) is kept as the exact compact text the server sent (QByteArray): key
// order, number text and escapes as stored. A JSON null is the text "null"; a value that is absent
// is an empty QByteArray. A string field that is null or absent is a null QString.
//
// Callbacks are called later on the McpClient's thread, never inside the call (McpClient's rule);
// tool errors arrive as Error with the tool's code, expected negative outcomes as results
// (found:false, ok:false with conflict).
//
// Thread: the McpClient's. Ownership: the McpClient is the caller's and must outlive this object;
// callbacks in flight hold nothing of this object, so it may go away before they run.

#include <QByteArray>
#include <QList>
#include <QPair>
#include <QString>
#include <QStringList>

#include <functional>
#include <optional>

#include "protocol/result.h"

namespace sidecar::client {

class McpClient;

template<class T>
using ResultCallback = std::function<void(Result<T>)>;

// Tags of a run, in the order the server sent them.
using Tags = QList<QPair<QString, QString>>;

struct Health // sidecar_health
{
    QString status; // "ok", "degraded", "error"
    QString backend;
    double uptimeSeconds = 0;
    qint64 keyCount = 0;
    qint64 workflowCount = 0;
    QString version;
    std::optional<qint64> leaseCount;
    std::optional<qint64> sessionCount;
    std::optional<qint64> revision;
};

struct StateEntry // state_get
{
    QString key;
    bool found = false;
    QByteArray value; // compact JSON as stored; "null" when not found
    std::optional<qint64> version;
    std::optional<double> expiresAt;
    std::optional<double> updatedAt;
    QString agentId;
    std::optional<qint64> revision; // the store's revision at the read
};

struct WriteOptions // state_set, state_delete
{
    std::optional<qint64> ifVersion;  // 0: only if absent; n: only if the key's version is n
    std::optional<double> ttlSeconds; // state_set only
    QString agentId;
};

struct WriteResult // state_set, state_delete
{
    bool ok = false;
    std::optional<qint64> version;
    std::optional<qint64> revision;
    std::optional<double> expiresAt;
    bool conflict = false;
    std::optional<qint64> currentVersion; // with conflict: the key's version (0: absent)
    QString reason;
};

struct KeyQuery // state_list
{
    QString prefix;
    QString delimiter; // one character, or empty
    std::optional<int> limit;
    QString cursor;
};

struct KeyPage
{
    QStringList keys;
    QStringList prefixes; // with a delimiter: the rolled-up "directories"
    QString nextCursor;   // empty: no more
    std::optional<qint64> revision;
};

struct HistoryEntry // history_log entries, state_watch events
{
    qint64 id = 0;
    qint64 revision = 0;
    QString kind;
    QString op;
    QString key;
    QByteArray newValue;      // compact JSON ("null" when none)
    QByteArray previousValue; // compact JSON ("null" when none)
    QString agentId;
    QString principal;
    double writtenAt = 0;
};

struct WatchQuery // state_watch
{
    QString key; // one key (or run, resource, session id with kind), or empty
    QString prefix;
    QString kind; // empty: kv
    qint64 sinceRevision = 0;
    std::optional<double> timeoutSeconds;
};

struct WatchResult
{
    QList<HistoryEntry> events;
    qint64 revision = 0; // watch from here next
    bool more = false;
    bool compacted = false;
};

struct WorkflowRun // items of workflow_list / workflow_discover, workflow_resume's meta
{
    QString runId;
    QString name;
    QString status;
    Tags tags;
    QString agentId;
    qint64 lastStep = 0;
    double createdAt = 0;
    double updatedAt = 0;
    QByteArray input;  // compact JSON, empty when absent
    QByteArray result; // compact JSON, empty when absent
    std::optional<double> claimExpiresAt;
    std::optional<qint64> fence;
    std::optional<qint64> attempt;
    std::optional<qint64> maxAttempts;
};

struct RunQuery // workflow_discover (workflow_list uses limit and cursor only)
{
    QString status;
    QString name;
    Tags tags; // all must match
    std::optional<bool> claimable;
    std::optional<int> limit;
    QString cursor;
};

struct RunPage
{
    QList<WorkflowRun> runs; // newest first
    QString nextCursor;
};

struct WorkflowStatus // workflow_status
{
    QString runId;
    QString status;
    qint64 lastStep = 0;
    QString agentId;
    double createdAt = 0;
    double updatedAt = 0;
    std::optional<double> claimExpiresAt;
    std::optional<qint64> attempt;
    std::optional<qint64> fence;
};

struct StepOutput // one step of workflow_resume
{
    qint64 step = 0;
    QByteArray output;    // compact JSON
    bool hasMeta = false; // step_meta had this step
    double writtenAt = 0;
    QString agentId;
    std::optional<qint64> fence;
};

struct WorkflowResume // workflow_resume
{
    QString runId;
    qint64 lastStep = 0;
    QList<StepOutput> steps; // ascending
    WorkflowRun meta;
};

struct PageQuery // lease_list, session_list
{
    QString prefix;
    std::optional<int> limit;
    QString cursor;
};

struct Lease
{
    QString resourceId;
    QString holder;
    double expiresAt = 0;
    qint64 fence = 0;
};

struct LeasePage
{
    QList<Lease> leases;
    QString nextCursor;
};

struct SessionSummary
{
    QString sessionId;
    double savedAt = 0;
    double updatedAt = 0;
};

struct SessionPage
{
    QList<SessionSummary> sessions;
    QString nextCursor;
};

struct SessionContext // session_restore
{
    bool found = false;
    QString sessionId;
    QByteArray context; // compact JSON; "null" when not found
    std::optional<double> savedAt;
    std::optional<double> updatedAt;
};

struct HistoryQuery // history_log
{
    QString key;
    QString prefix;
    QString kind;
    std::optional<int> n; // default 10 on the server
    std::optional<qint64> beforeRevision;
};

struct HistoryPage
{
    QList<HistoryEntry> entries; // newest first
    int total = 0;
    bool more = false;
};

class SidecarClient
{
public:
    explicit SidecarClient(McpClient &client) : m_client(client) {}

    McpClient &mcp() const { return m_client; }

    void health(ResultCallback<Health> callback);

    void stateGet(const QString &key, ResultCallback<StateEntry> callback);
    // `valueJson`: any JSON text; it is sent in compact form and stored exactly so.
    void stateSet(const QString &key, const QByteArray &valueJson, const WriteOptions &options,
                  ResultCallback<WriteResult> callback);
    void stateDelete(const QString &key, const WriteOptions &options, ResultCallback<WriteResult> callback);
    void stateList(const KeyQuery &query, ResultCallback<KeyPage> callback);
    // Waits on the server up to the query's timeout (default 10 s): the request's own timeout is
    // that plus 30 s.
    void stateWatch(const WatchQuery &query, ResultCallback<WatchResult> callback);

    void workflowList(std::optional<int> limit, const QString &cursor, ResultCallback<RunPage> callback);
    void workflowDiscover(const RunQuery &query, ResultCallback<RunPage> callback);
    void workflowStatus(const QString &runId, ResultCallback<WorkflowStatus> callback);
    void workflowResume(const QString &runId, ResultCallback<WorkflowResume> callback);

    void leaseList(const PageQuery &query, ResultCallback<LeasePage> callback);
    void sessionList(const PageQuery &query, ResultCallback<SessionPage> callback);
    void sessionRestore(const QString &sessionId, ResultCallback<SessionContext> callback);
    void historyLog(const HistoryQuery &query, ResultCallback<HistoryPage> callback);

    // Resource URIs (TOOLS.md, "Resources"): ids percent-encoded as RFC 6570 {var} expansion does.
    static QString kvUri(const QString &key);
    static QString workflowUri(const QString &runId);
    static QString leaseUri(const QString &resourceId);
    static QString sessionUri(const QString &sessionId);
    // The collections: "state://kv", "state://workflows", "state://leases", "state://sessions",
    // "state://history".
    static QString collectionUri(const QString &collection);

private:
    McpClient &m_client;
};

} // namespace sidecar::client
