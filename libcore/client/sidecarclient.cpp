#include "sidecarclient.h"

#include <QTimer>
#include <QUrl>

#include <string_view>
#include <utility>

#include "mcpclient.h"
#include "protocol/json.h"

namespace sidecar::client {

namespace {

// ---------------------------------------------------------------- field readers (lenient: a
// field of another type reads as absent, so that a viewer shows what it can)

QString str(const json::Value &o, std::string_view key)
{
    const json::Value *v = o.find(key);
    return v && v->isString() ? v->toQString() : QString();
}

std::optional<qint64> optInt(const json::Value &o, std::string_view key)
{
    const json::Value *v = o.find(key);
    if (!v || !v->isNumber())
        return std::nullopt;
    const auto i = v->toInt64();
    return i ? std::optional<qint64>(qint64(*i)) : std::nullopt;
}

std::optional<double> optNum(const json::Value &o, std::string_view key)
{
    const json::Value *v = o.find(key);
    return v && v->isNumber() ? v->toDouble() : std::nullopt;
}

bool flag(const json::Value &o, std::string_view key)
{
    const json::Value *v = o.find(key);
    return v && v->isBool() && v->toBool();
}

// The exact compact text of a value; empty when absent.
QByteArray raw(const json::Value &o, std::string_view key)
{
    const json::Value *v = o.find(key);
    return v ? v->compact() : QByteArray();
}

QStringList strings(const json::Value &o, std::string_view key)
{
    QStringList out;
    if (const json::Value *v = o.find(key); v && v->isArray()) {
        out.reserve(qsizetype(v->items().size()));
        for (const json::Value &item : v->items()) {
            if (item.isString())
                out.append(item.toQString());
        }
    }
    return out;
}

Tags tags(const json::Value &o, std::string_view key)
{
    Tags out;
    if (const json::Value *v = o.find(key); v && v->isObject()) {
        for (const json::Member &m : v->members()) {
            out.append({QString::fromStdString(m.key),
                        m.value.isString() ? m.value.toQString() : QString::fromUtf8(m.value.compact())});
        }
    }
    return out;
}

template<class F>
void forEachItem(const json::Value &o, std::string_view key, F f)
{
    if (const json::Value *v = o.find(key); v && v->isArray()) {
        for (const json::Value &item : v->items()) {
            if (item.isObject())
                f(item);
        }
    }
}

HistoryEntry historyEntry(const json::Value &o)
{
    HistoryEntry e;
    e.id = optInt(o, "id").value_or(0);
    e.revision = optInt(o, "revision").value_or(0);
    e.kind = str(o, "kind");
    e.op = str(o, "op");
    e.key = str(o, "key");
    e.newValue = raw(o, "new_value");
    e.previousValue = raw(o, "previous_value");
    e.agentId = str(o, "agent_id");
    e.principal = str(o, "principal");
    e.writtenAt = optNum(o, "written_at").value_or(0);
    return e;
}

WorkflowRun workflowRun(const json::Value &o)
{
    WorkflowRun r;
    r.runId = str(o, "run_id");
    r.name = str(o, "name");
    r.status = str(o, "status");
    r.tags = tags(o, "tags");
    r.agentId = str(o, "agent_id");
    r.lastStep = optInt(o, "last_step").value_or(0);
    r.createdAt = optNum(o, "created_at").value_or(0);
    r.updatedAt = optNum(o, "updated_at").value_or(0);
    r.input = raw(o, "input");
    r.result = raw(o, "result");
    r.claimExpiresAt = optNum(o, "claim_expires_at");
    r.fence = optInt(o, "fence");
    r.attempt = optInt(o, "attempt");
    r.maxAttempts = optInt(o, "max_attempts");
    return r;
}

// A page of a paged list answer: the objects under `key`, each read by `read` into `Page::*items`, and
// next_cursor.
template<class Page, class Items, class Read>
Page listPage(const json::Value &o, std::string_view key, Items Page::*items, Read read)
{
    Page page;
    forEachItem(o, key, [&page, items, &read](const json::Value &item) { (page.*items).append(read(item)); });
    page.nextCursor = str(o, "next_cursor");
    return page;
}

RunPage runPage(const json::Value &o)
{
    return listPage(o, "runs", &RunPage::runs, workflowRun);
}

WriteResult writeResult(const json::Value &o)
{
    WriteResult w;
    w.ok = flag(o, "ok");
    w.version = optInt(o, "version");
    w.revision = optInt(o, "revision");
    w.expiresAt = optNum(o, "expires_at");
    w.conflict = flag(o, "conflict");
    w.currentVersion = optInt(o, "current_version");
    w.reason = str(o, "reason");
    return w;
}

// Calls `tool` and turns its structuredContent into T with `parse`.
template<class T, class Parse>
void callTyped(McpClient &client, const char *tool, QByteArray arguments, ResultCallback<T> callback,
               Parse parse, int timeoutMs = McpClient::kDefaultTimeoutMs)
{
    client.callTool(
        QLatin1String(tool), arguments,
        [callback = std::move(callback), parse, tool](Result<json::Document> result) {
            if (!result) {
                callback(tl::unexpected(result.error()));
                return;
            }
            if (!result->root().isObject()) {
                callback(fail(
                    ErrorCode::Internal,
                    QStringLiteral("%1 answered something that is not an object").arg(QLatin1String(tool))));
                return;
            }
            callback(Result<T>(parse(result->root())));
        },
        timeoutMs);
}

template<class T>
void failLater(McpClient &client, ResultCallback<T> callback, Error error)
{
    QTimer::singleShot(0, &client, [callback = std::move(callback), error = std::move(error)] {
        callback(tl::unexpected(error));
    });
}

void pageFields(json::Writer &w, const QString &prefix, std::optional<int> limit, const QString &cursor)
{
    if (!prefix.isEmpty())
        w.field("prefix", prefix);
    if (limit)
        w.field("limit", *limit);
    if (!cursor.isEmpty())
        w.field("cursor", cursor);
}

// The arguments of a paged list call: {prefix?, limit?, cursor?}.
QByteArray pageArguments(const QString &prefix, std::optional<int> limit, const QString &cursor)
{
    json::Writer w(prefix.size() + cursor.size() + 48);
    w.beginObject();
    pageFields(w, prefix, limit, cursor);
    w.endObject();
    return w.take();
}

// The history filter fields shared by state_watch and history_log: key?, prefix?, kind?.
void historyFilterFields(json::Writer &w, const QString &key, const QString &prefix, const QString &kind)
{
    if (!key.isEmpty())
        w.field("key", key);
    if (!prefix.isEmpty())
        w.field("prefix", prefix);
    if (!kind.isEmpty())
        w.field("kind", kind);
}

QByteArray idArgument(const char *name, const QString &id)
{
    json::Writer w(id.size() + 24);
    w.beginObject().field(name, id).endObject();
    return w.take();
}

QString itemUri(const char *collection, const QString &id)
{
    // RFC 6570 simple expansion: everything but the unreserved characters is percent-encoded (UTF-8).
    return QStringLiteral("state://%1/%2")
        .arg(QLatin1String(collection), QString::fromLatin1(QUrl::toPercentEncoding(id)));
}

} // namespace

void SidecarClient::health(ResultCallback<Health> callback)
{
    callTyped<Health>(m_client, "sidecar_health", QByteArrayLiteral("{}"), std::move(callback),
                      [](const json::Value &o) {
                          Health h;
                          h.status = str(o, "status");
                          h.backend = str(o, "backend");
                          h.uptimeSeconds = optNum(o, "uptime_s").value_or(0);
                          h.keyCount = optInt(o, "key_count").value_or(0);
                          h.workflowCount = optInt(o, "workflow_count").value_or(0);
                          h.version = str(o, "version");
                          h.leaseCount = optInt(o, "lease_count");
                          h.sessionCount = optInt(o, "session_count");
                          h.revision = optInt(o, "revision");
                          return h;
                      });
}

void SidecarClient::stateGet(const QString &key, ResultCallback<StateEntry> callback)
{
    callTyped<StateEntry>(m_client, "state_get", idArgument("key", key), std::move(callback),
                          [](const json::Value &o) {
                              StateEntry e;
                              e.key = str(o, "key");
                              e.found = flag(o, "found");
                              e.value = raw(o, "value");
                              if (e.value.isEmpty())
                                  e.value = QByteArrayLiteral("null");
                              e.version = optInt(o, "version");
                              e.expiresAt = optNum(o, "expires_at");
                              e.updatedAt = optNum(o, "updated_at");
                              e.agentId = str(o, "agent_id");
                              e.revision = optInt(o, "revision");
                              return e;
                          });
}

void SidecarClient::stateSet(const QString &key, const QByteArray &valueJson, const WriteOptions &options,
                             ResultCallback<WriteResult> callback)
{
    json::ParseError error;
    auto value = json::parse(valueJson, &error);
    if (!value) {
        failLater(m_client, std::move(callback),
                  Error{ErrorCode::InvalidArgument, QStringLiteral("the value is not JSON (at byte %1: %2)")
                                                        .arg(error.offset)
                                                        .arg(QString::fromStdString(error.message))});
        return;
    }
    json::Writer w(valueJson.size() + key.size() + 96);
    w.beginObject().field("key", key).key("value").raw(value->root().compact());
    if (options.ttlSeconds)
        w.field("ttl_seconds", *options.ttlSeconds);
    if (!options.agentId.isEmpty())
        w.field("agent_id", options.agentId);
    if (options.ifVersion)
        w.field("if_version", std::int64_t(*options.ifVersion));
    w.endObject();
    callTyped<WriteResult>(m_client, "state_set", w.take(), std::move(callback), writeResult);
}

void SidecarClient::stateDelete(const QString &key, const WriteOptions &options,
                                ResultCallback<WriteResult> callback)
{
    json::Writer w(key.size() + 64);
    w.beginObject().field("key", key);
    if (!options.agentId.isEmpty())
        w.field("agent_id", options.agentId);
    if (options.ifVersion)
        w.field("if_version", std::int64_t(*options.ifVersion));
    w.endObject();
    callTyped<WriteResult>(m_client, "state_delete", w.take(), std::move(callback), writeResult);
}

void SidecarClient::stateList(const KeyQuery &query, ResultCallback<KeyPage> callback)
{
    json::Writer w(query.prefix.size() + query.cursor.size() + 64);
    w.beginObject();
    pageFields(w, query.prefix, query.limit, query.cursor);
    if (!query.delimiter.isEmpty())
        w.field("delimiter", query.delimiter);
    w.endObject();
    callTyped<KeyPage>(m_client, "state_list", w.take(), std::move(callback), [](const json::Value &o) {
        KeyPage page;
        page.keys = strings(o, "keys");
        page.prefixes = strings(o, "prefixes");
        page.nextCursor = str(o, "next_cursor");
        page.revision = optInt(o, "revision");
        return page;
    });
}

void SidecarClient::stateWatch(const WatchQuery &query, ResultCallback<WatchResult> callback)
{
    json::Writer w(query.key.size() + query.prefix.size() + 96);
    w.beginObject();
    historyFilterFields(w, query.key, query.prefix, query.kind);
    w.field("since_revision", std::int64_t(query.sinceRevision));
    if (query.timeoutSeconds)
        w.field("timeout_seconds", *query.timeoutSeconds);
    w.endObject();
    const int timeoutMs = int(query.timeoutSeconds.value_or(10) * 1000) + McpClient::kDefaultTimeoutMs;
    callTyped<WatchResult>(
        m_client, "state_watch", w.take(), std::move(callback),
        [](const json::Value &o) {
            WatchResult r;
            forEachItem(o, "events", [&r](const json::Value &item) { r.events.append(historyEntry(item)); });
            r.revision = optInt(o, "revision").value_or(0);
            r.more = flag(o, "more");
            r.compacted = flag(o, "compacted");
            return r;
        },
        timeoutMs);
}

void SidecarClient::workflowList(std::optional<int> limit, const QString &cursor,
                                 ResultCallback<RunPage> callback)
{
    callTyped<RunPage>(m_client, "workflow_list", pageArguments({}, limit, cursor), std::move(callback),
                       runPage);
}

void SidecarClient::workflowDiscover(const RunQuery &query, ResultCallback<RunPage> callback)
{
    json::Writer w(query.cursor.size() + 128);
    w.beginObject();
    if (!query.tags.isEmpty()) {
        w.key("tags").beginObject();
        for (const auto &[name, value] : query.tags)
            w.field(name.toStdString(), value);
        w.endObject();
    }
    if (!query.status.isEmpty())
        w.field("status", query.status);
    if (!query.name.isEmpty())
        w.field("name", query.name);
    if (query.claimable)
        w.field("claimable", *query.claimable);
    pageFields(w, {}, query.limit, query.cursor);
    w.endObject();
    callTyped<RunPage>(m_client, "workflow_discover", w.take(), std::move(callback), runPage);
}

void SidecarClient::workflowStatus(const QString &runId, ResultCallback<WorkflowStatus> callback)
{
    callTyped<WorkflowStatus>(m_client, "workflow_status", idArgument("run_id", runId), std::move(callback),
                              [](const json::Value &o) {
                                  WorkflowStatus s;
                                  s.runId = str(o, "run_id");
                                  s.status = str(o, "status");
                                  s.lastStep = optInt(o, "last_step").value_or(0);
                                  s.agentId = str(o, "agent_id");
                                  s.createdAt = optNum(o, "created_at").value_or(0);
                                  s.updatedAt = optNum(o, "updated_at").value_or(0);
                                  s.claimExpiresAt = optNum(o, "claim_expires_at");
                                  s.attempt = optInt(o, "attempt");
                                  s.fence = optInt(o, "fence");
                                  return s;
                              });
}

void SidecarClient::workflowResume(const QString &runId, ResultCallback<WorkflowResume> callback)
{
    callTyped<WorkflowResume>(
        m_client, "workflow_resume", idArgument("run_id", runId), std::move(callback),
        [](const json::Value &o) {
            WorkflowResume r;
            r.runId = str(o, "run_id");
            r.lastStep = optInt(o, "last_step").value_or(0);
            if (const json::Value *meta = o.find("meta"); meta && meta->isObject())
                r.meta = workflowRun(*meta);
            const json::Value *stepMeta = o.find("step_meta");
            if (const json::Value *outputs = o.find("step_outputs"); outputs && outputs->isObject()) {
                for (const json::Member &m : outputs->members()) {
                    StepOutput step;
                    step.step = QByteArray::fromStdString(m.key).toLongLong();
                    step.output = m.value.compact();
                    if (const json::Value *meta = stepMeta ? stepMeta->find(m.key) : nullptr;
                        meta && meta->isObject()) {
                        step.hasMeta = true;
                        step.writtenAt = optNum(*meta, "written_at").value_or(0);
                        step.agentId = str(*meta, "agent_id");
                        step.fence = optInt(*meta, "fence");
                    }
                    r.steps.append(std::move(step));
                }
            }
            return r;
        });
}

void SidecarClient::leaseList(const PageQuery &query, ResultCallback<LeasePage> callback)
{
    callTyped<LeasePage>(m_client, "lease_list", pageArguments(query.prefix, query.limit, query.cursor),
                         std::move(callback), [](const json::Value &o) {
                             return listPage(o, "leases", &LeasePage::leases, [](const json::Value &item) {
                                 return Lease{str(item, "resource_id"), str(item, "holder"),
                                              optNum(item, "expires_at").value_or(0),
                                              optInt(item, "fence").value_or(0)};
                             });
                         });
}

void SidecarClient::sessionList(const PageQuery &query, ResultCallback<SessionPage> callback)
{
    callTyped<SessionPage>(
        m_client, "session_list", pageArguments(query.prefix, query.limit, query.cursor), std::move(callback),
        [](const json::Value &o) {
            return listPage(o, "sessions", &SessionPage::sessions, [](const json::Value &item) {
                return SessionSummary{str(item, "session_id"), optNum(item, "saved_at").value_or(0),
                                      optNum(item, "updated_at").value_or(0)};
            });
        });
}

void SidecarClient::sessionRestore(const QString &sessionId, ResultCallback<SessionContext> callback)
{
    callTyped<SessionContext>(m_client, "session_restore", idArgument("session_id", sessionId),
                              std::move(callback), [](const json::Value &o) {
                                  SessionContext s;
                                  s.found = flag(o, "found");
                                  s.sessionId = str(o, "session_id");
                                  s.context = raw(o, "context");
                                  if (s.context.isEmpty())
                                      s.context = QByteArrayLiteral("null");
                                  s.savedAt = optNum(o, "saved_at");
                                  s.updatedAt = optNum(o, "updated_at");
                                  return s;
                              });
}

void SidecarClient::historyLog(const HistoryQuery &query, ResultCallback<HistoryPage> callback)
{
    json::Writer w(query.key.size() + query.prefix.size() + 96);
    w.beginObject();
    historyFilterFields(w, query.key, query.prefix, query.kind);
    if (query.n)
        w.field("n", *query.n);
    if (query.beforeRevision)
        w.field("before_revision", std::int64_t(*query.beforeRevision));
    w.endObject();
    callTyped<HistoryPage>(m_client, "history_log", w.take(), std::move(callback), [](const json::Value &o) {
        HistoryPage page;
        forEachItem(o, "entries",
                    [&page](const json::Value &item) { page.entries.append(historyEntry(item)); });
        page.total = int(optInt(o, "total").value_or(page.entries.size()));
        page.more = flag(o, "more");
        return page;
    });
}

QString SidecarClient::kvUri(const QString &key)
{
    return itemUri("kv", key);
}

QString SidecarClient::workflowUri(const QString &runId)
{
    return itemUri("workflows", runId);
}

QString SidecarClient::leaseUri(const QString &resourceId)
{
    return itemUri("leases", resourceId);
}

QString SidecarClient::sessionUri(const QString &sessionId)
{
    return itemUri("sessions", sessionId);
}

QString SidecarClient::collectionUri(const QString &collection)
{
    return QStringLiteral("state://") + collection;
}

} // namespace sidecar::client
