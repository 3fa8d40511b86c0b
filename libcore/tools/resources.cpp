#include "resources.h"

#include <QLoggingCategory>
#include <QPointer>
#include <QStringDecoder>
#include <QThread>
#include <QUrl>

#include <algorithm>
#include <cctype>
#include <limits>
#include <utility>

#include "protocol/json.h"
#include "protocol/jsonrpc.h"
#include "protocol/mcpserversession.h"
#include "toolsupport.h"

Q_LOGGING_CATEGORY(lcResources, "sidecar.resources")

namespace sidecar::tools {

namespace {

constexpr int kChangesPage = 1000;
constexpr int kRetryMs = 1000;

struct KindInfo
{
    ResourceKind kind;
    const char *name;     // the URI's collection part
    const char *variable; // the template's variable; nullptr: no items
    const char *title;
    const char *itemTitle;
    const char *description;
    const char *itemDescription;
};

constexpr KindInfo kKinds[] = {
    {ResourceKind::Kv, "kv", "key", "Keys", "Key",
     "Every live key: {revision, count, items (the first keys in byte order), more, next_cursor?}; "
     "page on with state_list.",
     "One live key, as state_get returns it. Unknown or expired: error -32002."},
    {ResourceKind::Workflows, "workflows", "run_id", "Workflow runs", "Workflow run",
     "Every workflow run: {revision, count, items (the newest runs, as workflow_list's), more, "
     "next_cursor?}; page on with workflow_list.",
     "One workflow run, as workflow_status returns it. Unknown: error -32002."},
    {ResourceKind::Leases, "leases", "resource_id", "Leases", "Lease",
     "Every live lease: {revision, count, items (the first leases by resource id, as lease_list's), more, "
     "next_cursor?}; page on with lease_list.",
     "One live lease, as an item of lease_list: {resource_id, holder, expires_at, fence}. "
     "Free or lapsed: error -32002."},
    {ResourceKind::Sessions, "sessions", "session_id", "Sessions", "Session",
     "Every saved session: {revision, count, items (the first sessions by id, as session_list's), more, "
     "next_cursor?}; page on with session_list.",
     "One saved session, as session_restore returns it. Unknown: error -32002."},
    {ResourceKind::History, "history", nullptr, "History", nullptr,
     "The newest history entries: {revision, count (entries in items), items (newest first), more}; "
     "page on with history_log's before_revision.",
     nullptr},
};

const KindInfo &info(ResourceKind kind)
{
    return kKinds[int(kind)];
}

QByteArray resourcesListJson()
{
    json::Writer w(2048);
    w.beginObject().key("resources").beginArray();
    for (const KindInfo &k : kKinds) {
        w.beginObject().field("uri", resourceUri(k.kind)).field("name", k.name).field("title", k.title);
        w.field("description", k.description).field("mimeType", "application/json").endObject();
    }
    w.endArray().endObject();
    return w.take();
}

QByteArray templatesListJson()
{
    json::Writer w(2048);
    w.beginObject().key("resourceTemplates").beginArray();
    for (const KindInfo &k : kKinds) {
        if (!k.variable)
            continue;
        const QString uriTemplate = resourceUri(k.kind) + QStringLiteral("/{") + QLatin1String(k.variable)
                                    + u'}';
        w.beginObject().field("uriTemplate", uriTemplate).field("name", std::string(k.name) + "-item");
        w.field("title", k.itemTitle).field("description", k.itemDescription);
        w.field("mimeType", "application/json").endObject();
    }
    w.endArray().endObject();
    return w.take();
}

// A JSON-RPC error carrying {uri} as its data (MCP "Resources", "Error Handling").
QByteArray uriError(const QByteArray &id, int code, const QString &message, const QString &uri)
{
    json::Writer w(256);
    w.beginObject().field("jsonrpc", "2.0").key("id").raw(id);
    w.key("error").beginObject().field("code", code).field("message", message);
    w.key("data").beginObject().field("uri", uri).endObject();
    w.endObject().endObject();
    return w.take();
}

QByteArray notFound(const QByteArray &id, const QString &uri, const QString &why)
{
    return uriError(id, jsonrpc::ResourceNotFound, QStringLiteral("Resource not found: ") + why, uri);
}

QByteArray storeError(const QByteArray &id, const QString &uri, const Error &error)
{
    if (error.code == ErrorCode::NotFound)
        return notFound(id, uri, error.message);
    return uriError(id, jsonrpc::InternalError, QStringLiteral("Internal error: ") + error.message, uri);
}

// {"contents":[{"uri":..,"mimeType":"application/json","text":<json as a string>}]}
QByteArray contents(const QByteArray &id, const QString &uri, const QByteArray &text)
{
    json::Writer w(text.size() + text.size() / 8 + 128);
    w.beginObject().key("contents").beginArray().beginObject();
    w.field("uri", uri).field("mimeType", "application/json");
    w.field("text", std::string_view(text.constData(), std::size_t(text.size())));
    w.endObject().endArray().endObject();
    return jsonrpc::response(id, w.data());
}

bool isSchemeChar(QChar c, bool first)
{
    const char16_t u = c.unicode();
    const bool alpha = (u >= u'a' && u <= u'z') || (u >= u'A' && u <= u'Z');
    if (first)
        return alpha;
    return alpha || (u >= u'0' && u <= u'9') || u == u'+' || u == u'-' || u == u'.';
}

Error malformed(const QString &why)
{
    return {ErrorCode::InvalidArgument, why};
}

// The collection summary's byte budget: the text travels again as an escaped JSON string, and
// an escape at most doubles a character of compact JSON ('"' and '\' inside strings).
qint64 summaryBudget(const ResourceHubOptions &options)
{
    return std::max<qint64>(options.maxReplyBytes / 2 - 4096, 4096);
}

} // namespace

// ---------------------------------------------------------------- URIs

QString resourceUri(ResourceKind kind, const std::optional<QString> &id)
{
    QString uri = QStringLiteral("state://") + QLatin1String(info(kind).name);
    if (id) // RFC 6570 simple expansion: every character but the unreserved ones is %XX of its UTF-8
        uri += u'/' + QString::fromLatin1(QUrl::toPercentEncoding(*id));
    return uri;
}

Result<ResourceUri> parseResourceUri(const QString &uri)
{
    const qsizetype colon = uri.indexOf(u':');
    if (colon <= 0 || !isSchemeChar(uri.at(0), true))
        return tl::unexpected(malformed(QStringLiteral("not an absolute URI")));
    for (qsizetype i = 1; i < colon; ++i) {
        if (!isSchemeChar(uri.at(i), false))
            return tl::unexpected(malformed(QStringLiteral("not an absolute URI")));
    }
    if (uri.left(colon).compare(QLatin1String("state"), Qt::CaseInsensitive) != 0)
        return fail(ErrorCode::NotFound, QStringLiteral("this server only has state:// resources"));
    QStringView rest = QStringView(uri).mid(colon + 1);
    if (!rest.startsWith(QLatin1String("//")))
        return tl::unexpected(malformed(QStringLiteral("a state URI is state://<collection>[/<id>]")));
    rest = rest.mid(2);
    if (rest.contains(u'?') || rest.contains(u'#'))
        return tl::unexpected(
            malformed(QStringLiteral("state URIs have no query or fragment (encode '?' as %3F and "
                                     "'#' as %23 in an id)")));
    const qsizetype slash = rest.indexOf(u'/');
    const QStringView collection = slash < 0 ? rest : rest.left(slash);
    const KindInfo *kind = nullptr;
    for (const KindInfo &k : kKinds) {
        if (collection == QLatin1String(k.name))
            kind = &k;
    }
    if (!kind)
        return fail(ErrorCode::NotFound,
                    QStringLiteral("there is no collection '%1' (kv, workflows, leases, sessions, "
                                   "history)")
                        .arg(collection));
    ResourceUri out;
    out.kind = kind->kind;
    if (slash < 0)
        return out;
    // The id is everything after the collection's '/': RFC 6570 encodes a '/' in it as %2F, and
    // a raw one is read as part of the id too (there is no deeper path).
    const QByteArray encoded = rest.mid(slash + 1).toUtf8();
    if (encoded.isEmpty())
        return tl::unexpected(malformed(QStringLiteral("the id after '%1/' is empty").arg(collection)));
    for (qsizetype i = 0; i < encoded.size(); ++i) {
        if (encoded.at(i) != '%')
            continue;
        if (i + 2 >= encoded.size() || !isxdigit(uchar(encoded.at(i + 1)))
            || !isxdigit(uchar(encoded.at(i + 2))))
            return tl::unexpected(
                malformed(QStringLiteral("a '%' in the id is not followed by two hex digits")));
        i += 2;
    }
    const QByteArray bytes = QByteArray::fromPercentEncoding(encoded);
    if (bytes.contains('\0'))
        return tl::unexpected(malformed(QStringLiteral("the id contains a NUL character")));
    if (bytes.size() > kMaxIdBytes)
        return tl::unexpected(
            malformed(QStringLiteral("the id is %1 bytes long; ids have at most %2 bytes of UTF-8")
                          .arg(bytes.size())
                          .arg(kMaxIdBytes)));
    QStringDecoder utf8(QStringDecoder::Utf8, QStringDecoder::Flag::Stateless);
    QString id = utf8.decode(bytes);
    if (utf8.hasError())
        return tl::unexpected(malformed(QStringLiteral("the id is not UTF-8 once percent-decoded")));
    if (kind->kind == ResourceKind::History)
        return fail(ErrorCode::NotFound,
                    QStringLiteral("state://history has no items (read the collection, or use "
                                   "history_log)"));
    out.id = std::move(id);
    return out;
}

// ---------------------------------------------------------------- the hub

ResourceHub::ResourceHub(store::Store &store, ResourceHubOptions options, QObject *parent)
    : QObject(parent), m_store(store), m_options(options)
{
    m_options.coalesceMs = std::max(m_options.coalesceMs, 0);
    m_options.pageSize = std::clamp(m_options.pageSize, 1, 10000);
    m_clock.start();
    m_timer.setSingleShot(true);
    m_timer.setTimerType(Qt::PreciseTimer);
    connect(&m_timer, &QTimer::timeout, this, &ResourceHub::onTimer);
    m_retry.setSingleShot(true);
    m_retry.setInterval(kRetryMs);
    connect(&m_retry, &QTimer::timeout, this, [this] {
        if (!m_baselineKnown)
            readBaseline();
        else
            pump();
    });
    connect(&m_store, &store::Store::changed, this, &ResourceHub::onChanged);
    readBaseline();
}

ResourceHub::~ResourceHub() = default;

void ResourceHub::attach(protocol::McpServerSession &session)
{
    Q_ASSERT(QThread::currentThread() == thread() && session.thread() == thread());
    protocol::McpServerSession *s = &session;
    QPointer<ResourceHub> self(this);
    session.setMethodHandler([self, s](const QString &method, const QByteArray &id, const json::Value *params,
                                       std::function<void(QByteArray)> respond) {
        return self && self->handle(*s, method, id, params, respond);
    });
    if (m_attached.contains(s))
        return;
    m_attached.insert(s);
    // Emitted from ~QObject: the pointer is only a key by then.
    connect(&session, &QObject::destroyed, this, [this, s] { forget(s); });
}

int ResourceHub::subscriptionCount() const
{
    int n = 0;
    for (const Subscriber &sub : m_subscribers)
        n += int(sub.uris.size());
    return n;
}

int ResourceHub::subscriptionCount(const protocol::McpServerSession &session) const
{
    auto it = m_subscribers.constFind(const_cast<protocol::McpServerSession *>(&session));
    return it == m_subscribers.cend() ? 0 : int(it->uris.size());
}

bool ResourceHub::handle(protocol::McpServerSession &session, const QString &method, const QByteArray &id,
                         const json::Value *params, const Respond &respond)
{
    Q_ASSERT(QThread::currentThread() == thread());
    if (!method.startsWith(QLatin1String("resources/")))
        return false;
    if (method == QLatin1String("resources/list")) {
        static const QByteArray list = resourcesListJson();
        respond(jsonrpc::response(id, list));
        return true;
    }
    if (method == QLatin1String("resources/templates/list")) {
        static const QByteArray list = templatesListJson();
        respond(jsonrpc::response(id, list));
        return true;
    }
    const bool isRead = method == QLatin1String("resources/read");
    const bool isSubscribe = method == QLatin1String("resources/subscribe");
    if (!isRead && !isSubscribe && method != QLatin1String("resources/unsubscribe"))
        return false;

    const json::Value *uriValue = params && params->isObject() ? params->find("uri") : nullptr;
    if (!uriValue || !uriValue->isString()) {
        respond(
            jsonrpc::errorResponse(id, jsonrpc::InvalidParams,
                                   QStringLiteral("Invalid params: %1 needs a string \"uri\"").arg(method)));
        return true;
    }
    const QString uri = uriValue->toQString();
    auto parsed = parseResourceUri(uri);
    if (!parsed) {
        if (parsed.error().code == ErrorCode::NotFound)
            respond(notFound(id, uri, parsed.error().message));
        else
            respond(uriError(
                id, jsonrpc::InvalidParams,
                QStringLiteral("Invalid params: malformed resource URI: ") + parsed.error().message, uri));
        return true;
    }
    if (isRead) {
        read(*parsed, uri, id, respond);
        return true;
    }
    const QString canonical = resourceUri(parsed->kind, parsed->id);
    if (isSubscribe) {
        const bool had = m_subscribers.value(&session).uris.value(canonical) == uri;
        subscribe(session, uri, canonical, id, respond);
        if (!had && m_subscribers.value(&session).uris.contains(canonical))
            Q_EMIT subscriptionsChanged(&session);
        return true;
    }
    const bool had = m_subscribers.value(&session).uris.contains(canonical);
    unsubscribe(session, canonical);
    respond(jsonrpc::response(id, QByteArrayLiteral("{}")));
    if (had)
        Q_EMIT subscriptionsChanged(&session);
    return true;
}

QStringList ResourceHub::subscriptions(const protocol::McpServerSession &session) const
{
    const auto it = m_subscribers.constFind(const_cast<protocol::McpServerSession *>(&session));
    if (it == m_subscribers.constEnd())
        return {};
    QStringList uris = it->uris.values();
    uris.sort();
    return uris;
}

void ResourceHub::setSubscriptions(protocol::McpServerSession &session, const QStringList &uris)
{
    QHash<QString, QString> wanted; // canonical -> as spelled
    for (const QString &uri : uris) {
        if (wanted.size() >= m_options.maxSubscriptionsPerSession)
            break;
        if (auto parsed = parseResourceUri(uri))
            wanted.insert(resourceUri(parsed->kind, parsed->id), uri);
    }
    const QHash<QString, QString> current = m_subscribers.value(&session).uris;
    for (auto it = current.cbegin(); it != current.cend(); ++it) {
        if (!wanted.contains(it.key()))
            unsubscribe(session, it.key());
    }
    if (wanted.isEmpty())
        return;
    Subscriber &sub = m_subscribers[&session];
    for (auto it = wanted.cbegin(); it != wanted.cend(); ++it) {
        sub.uris.insert(it.key(), it.value());
        m_watchers[it.key()].insert(&session);
    }
}

// ---------------------------------------------------------------- reads

void ResourceHub::read(const ResourceUri &target, const QString &uri, const QByteArray &id,
                       const Respond &respond)
{
    if (!target.id) {
        readCollection(target.kind, uri, id, respond);
        return;
    }
    const QString &itemId = *target.id;
    switch (target.kind) {
    case ResourceKind::Kv:
        m_store.kvGet(itemId, [id, uri, respond](Result<store::KvEntry> r) {
            if (!r)
                return respond(storeError(id, uri, r.error()));
            if (!r->found)
                return respond(notFound(id, uri, QStringLiteral("no live key '%1'").arg(r->key)));
            json::Writer w(r->value.size() + 256);
            writeKvEntry(w, *r);
            respond(contents(id, uri, w.data()));
        });
        return;
    case ResourceKind::Workflows:
        m_store.workflowStatus(itemId, [id, uri, respond](Result<store::WorkflowMeta> r) {
            if (!r)
                return respond(storeError(id, uri, r.error()));
            json::Writer w(256);
            writeWorkflowStatus(w, *r);
            respond(contents(id, uri, w.data()));
        });
        return;
    case ResourceKind::Leases: {
        // No lease read by id in the seam: the id itself sorts first among the ids it prefixes.
        store::PrefixListArgs args;
        args.prefix = itemId;
        args.limit = 1;
        m_store.leaseList(args, [id, uri, itemId, respond](Result<store::LeaseListResult> r) {
            if (!r)
                return respond(storeError(id, uri, r.error()));
            if (r->leases.empty() || r->leases.front().resourceId != itemId)
                return respond(notFound(id, uri, QStringLiteral("no live lease on '%1'").arg(itemId)));
            json::Writer w(256);
            writeLeaseInfo(w, r->leases.front());
            respond(contents(id, uri, w.data()));
        });
        return;
    }
    case ResourceKind::Sessions:
        m_store.sessionRestore(itemId, [id, uri, respond](Result<store::SessionRestoreResult> r) {
            if (!r)
                return respond(storeError(id, uri, r.error()));
            if (!r->found)
                return respond(notFound(id, uri, QStringLiteral("no session '%1'").arg(r->sessionId)));
            json::Writer w((r->context ? r->context->size() : 0) + 256);
            writeSessionRestore(w, *r);
            respond(contents(id, uri, w.data()));
        });
        return;
    case ResourceKind::History: break; // parseResourceUri() refuses history items
    }
    respond(notFound(id, uri, QStringLiteral("state://history has no items")));
}

void ResourceHub::readCollection(ResourceKind kind, const QString &uri, const QByteArray &id,
                                 const Respond &respond)
{
    // The revision and counts first, then the page: a watch from `revision` misses nothing.
    QPointer<store::Store> store(&m_store);
    const int page = m_options.pageSize;
    const qint64 budget = summaryBudget(m_options);
    m_store.health([store, kind, uri, id, respond, page, budget](Result<store::HealthInfo> health) {
        if (!health)
            return respond(storeError(id, uri, health.error()));
        if (!store)
            return respond(
                uriError(id, jsonrpc::InternalError, QStringLiteral("Internal error: shutting down"), uri));
        const qint64 revision = health->revision;
        // Writes {"revision","count","items":[ ... then the caller writes items, more, next_cursor.
        auto begin = [revision](json::Writer &w, qint64 count) {
            w.beginObject().field("revision", revision).field("count", count).key("items").beginArray();
        };
        auto end = [id, uri, respond](json::Writer &w, bool more, const std::optional<QString> &cursor) {
            w.endArray().field("more", more).fieldIf("next_cursor", cursor).endObject();
            respond(contents(id, uri, w.data()));
        };
        switch (kind) {
        case ResourceKind::Kv: {
            store::KvListArgs args;
            args.limit = page;
            store->kvList(args, [count = health->keyCount, begin, end, id, uri,
                                 respond](Result<store::KvListResult> r) {
                if (!r)
                    return respond(storeError(id, uri, r.error()));
                json::Writer w(4096);
                begin(w, count);
                for (const QString &key : r->keys)
                    w.value(key);
                end(w, r->nextCursor.has_value(), r->nextCursor);
            });
            return;
        }
        case ResourceKind::Workflows: {
            store::WorkflowDiscoverArgs args;
            args.limit = page;
            store->workflowDiscover(args, [count = health->workflowCount, begin, end, id, uri, respond,
                                           budget](Result<store::WorkflowListResult> r) {
                if (!r)
                    return respond(storeError(id, uri, r.error()));
                json::Writer w(8192);
                begin(w, count);
                bool cut = false;
                for (const store::WorkflowMeta &run : r->runs) {
                    const qint64 estimate = (run.input ? run.input->size() : 0)
                                            + (run.result ? run.result->size() : 0) + run.runId.size() * 3
                                            + run.name.size() * 3 + 512;
                    if (w.size() + estimate > budget && w.size() > 64) {
                        cut = true;
                        break;
                    }
                    writeRun(w, run);
                }
                // Cut short, the store's cursor would skip runs: the caller pages with workflow_list.
                end(w, cut || r->nextCursor.has_value(), cut ? std::nullopt : r->nextCursor);
            });
            return;
        }
        case ResourceKind::Leases: {
            store::PrefixListArgs args;
            args.limit = page;
            store->leaseList(args, [count = health->leaseCount, begin, end, id, uri,
                                    respond](Result<store::LeaseListResult> r) {
                if (!r)
                    return respond(storeError(id, uri, r.error()));
                json::Writer w(4096);
                begin(w, count);
                for (const store::LeaseInfo &l : r->leases)
                    writeLeaseInfo(w, l);
                end(w, r->nextCursor.has_value(), r->nextCursor);
            });
            return;
        }
        case ResourceKind::Sessions: {
            store::PrefixListArgs args;
            args.limit = page;
            store->sessionList(args, [count = health->sessionCount, begin, end, id, uri,
                                      respond](Result<store::SessionListResult> r) {
                if (!r)
                    return respond(storeError(id, uri, r.error()));
                json::Writer w(4096);
                begin(w, count);
                for (const store::SessionInfo &s : r->sessions)
                    writeSessionInfo(w, s);
                end(w, r->nextCursor.has_value(), r->nextCursor);
            });
            return;
        }
        case ResourceKind::History: {
            store::HistoryQuery query;
            query.n = std::min(page, 1000);
            store->historyLog(query, [revision, id, uri, respond, budget](Result<store::HistoryResult> r) {
                if (!r)
                    return respond(storeError(id, uri, r.error()));
                // `count` is only known once written: build the items first.
                json::Writer items(8192);
                const EntriesWritten written = writeEntries(items, r->entries, budget);
                json::Writer w(items.size() + 128);
                w.beginObject().field("revision", revision);
                w.field("count", written.count).fieldRaw("items", items.data());
                w.field("more", r->more || written.cut).endObject();
                respond(contents(id, uri, w.data()));
            });
            return;
        }
        }
    });
}

// ---------------------------------------------------------------- subscriptions

void ResourceHub::subscribe(protocol::McpServerSession &session, const QString &uri, const QString &canonical,
                            const QByteArray &id, const Respond &respond)
{
    Subscriber &sub = m_subscribers[&session];
    if (!sub.uris.contains(canonical) && sub.uris.size() >= m_options.maxSubscriptionsPerSession) {
        if (sub.uris.isEmpty())
            m_subscribers.remove(&session);
        respond(uriError(id, jsonrpc::InvalidParams,
                         QStringLiteral("Invalid params: a session may hold at most %1 subscriptions")
                             .arg(m_options.maxSubscriptionsPerSession),
                         uri));
        return;
    }
    // Notifications carry the URI as the client spelled it, so that a client matching strings finds it.
    sub.uris.insert(canonical, uri);
    m_watchers[canonical].insert(&session);
    if (m_baselineKnown) {
        respond(jsonrpc::response(id, QByteArrayLiteral("{}")));
        return;
    }
    // Until the feed knows where "now" is, a change could not be told apart from history.
    m_afterBaseline.push_back([respond, id] { respond(jsonrpc::response(id, QByteArrayLiteral("{}"))); });
}

void ResourceHub::unsubscribe(protocol::McpServerSession &session, const QString &canonical)
{
    auto it = m_subscribers.find(&session);
    if (it == m_subscribers.end() || !it->uris.remove(canonical))
        return;
    it->due.remove(canonical);
    it->lastSent.remove(canonical);
    if (it->uris.isEmpty()) {
        m_subscribers.erase(it);
        m_pendingSessions.remove(&session);
    }
    auto w = m_watchers.find(canonical);
    if (w != m_watchers.end()) {
        w->remove(&session);
        if (w->isEmpty())
            m_watchers.erase(w);
    }
}

void ResourceHub::forget(protocol::McpServerSession *session)
{
    m_attached.remove(session);
    m_pendingSessions.remove(session);
    auto it = m_subscribers.find(session);
    if (it == m_subscribers.end())
        return;
    for (auto u = it->uris.cbegin(); u != it->uris.cend(); ++u) {
        auto w = m_watchers.find(u.key());
        if (w == m_watchers.end())
            continue;
        w->remove(session);
        if (w->isEmpty())
            m_watchers.erase(w);
    }
    m_subscribers.erase(it);
}

// ---------------------------------------------------------------- the change feed

void ResourceHub::readBaseline()
{
    // Where "now" is: the store's revision (no change is newer than the newest).
    store::ChangesQuery query;
    query.sinceRevision = std::numeric_limits<std::int64_t>::max();
    query.limit = 1;
    QPointer<ResourceHub> self(this);
    m_store.changes(query, [self](Result<store::ChangesResult> r) {
        if (!self || self->m_baselineKnown)
            return;
        if (!r) {
            qCWarning(lcResources).noquote()
                << "cannot read the store's revision:" << r.error().message << "- trying again";
            self->m_retry.start();
            return;
        }
        self->m_lastSeen = std::max<qint64>(self->m_lastSeen, r->revision);
        self->m_announced = std::max(self->m_announced, self->m_lastSeen);
        self->m_baselineKnown = true;
        for (auto &answer : std::exchange(self->m_afterBaseline, {}))
            answer();
        self->pump();
    });
}

void ResourceHub::onChanged(qint64 revision)
{
    m_announced = std::max(m_announced, revision);
    if (!m_baselineKnown) {
        // Nobody's subscription has been confirmed yet: this is the baseline.
        m_lastSeen = m_announced;
        m_baselineKnown = true;
        for (auto &answer : std::exchange(m_afterBaseline, {}))
            answer();
        return;
    }
    pump();
}

void ResourceHub::pump()
{
    if (m_reading || !m_baselineKnown)
        return;
    if (m_watchers.isEmpty()) {
        m_lastSeen = std::max(m_lastSeen, m_announced); // nobody to tell
        return;
    }
    if (m_announced <= m_lastSeen)
        return;
    m_reading = true;
    store::ChangesQuery query;
    query.sinceRevision = m_lastSeen;
    query.limit = kChangesPage;
    QPointer<ResourceHub> self(this);
    m_store.changes(query, [self](Result<store::ChangesResult> r) {
        if (self)
            self->onChanges(std::move(r));
    });
}

void ResourceHub::onChanges(Result<store::ChangesResult> result)
{
    m_reading = false;
    if (!result) {
        if (!m_failing)
            qCWarning(lcResources).noquote()
                << "cannot read changes after revision" << m_lastSeen << ":" << result.error().message
                << "- trying again every" << kRetryMs << "ms";
        m_failing = true;
        m_retry.start();
        return;
    }
    if (m_failing)
        qCInfo(lcResources) << "reading changes again";
    m_failing = false;
    m_announced = std::max<qint64>(m_announced, result->revision);

    QSet<QString> touched;
    bool everything = result->compacted;
    for (const store::HistoryEntry &e : result->entries) {
        m_lastSeen = std::max<qint64>(m_lastSeen, e.revision);
        touched.insert(resourceUri(ResourceKind::History));
        ResourceKind kind;
        if (e.kind == QLatin1String("kv"))
            kind = ResourceKind::Kv;
        else if (e.kind == QLatin1String("workflow"))
            kind = ResourceKind::Workflows;
        else if (e.kind == QLatin1String("lease"))
            kind = ResourceKind::Leases;
        else if (e.kind == QLatin1String("session"))
            kind = ResourceKind::Sessions;
        else {
            everything = everything || e.kind == QLatin1String("store"); // a reset
            continue;
        }
        touched.insert(resourceUri(kind));
        touched.insert(resourceUri(kind, e.key));
    }
    if (result->compacted || !result->more)
        m_lastSeen = std::max<qint64>(m_lastSeen, result->revision);
    if (everything) {
        qCDebug(lcResources) << (result->compacted ? "history compacted" : "store reset")
                             << ": every subscribed URI changed";
        for (auto it = m_watchers.cbegin(); it != m_watchers.cend(); ++it)
            touched.insert(it.key());
    }
    for (const QString &uri : std::as_const(touched))
        touch(uri);
    pump(); // more to read, or a commit announced meanwhile
}

void ResourceHub::touch(const QString &canonical)
{
    auto it = m_watchers.constFind(canonical);
    if (it == m_watchers.cend())
        return;
    const qint64 now = m_clock.elapsed();
    const QSet<protocol::McpServerSession *> sessions = *it; // a copy: sending must not disturb the walk
    for (protocol::McpServerSession *session : sessions) {
        auto sub = m_subscribers.find(session);
        if (sub != m_subscribers.end())
            schedule(session, *sub, canonical, now);
    }
}

void ResourceHub::schedule(protocol::McpServerSession *session, Subscriber &sub, const QString &canonical,
                           qint64 now)
{
    if (sub.due.contains(canonical))
        return; // one is already due at the end of this window
    auto last = sub.lastSent.constFind(canonical);
    if (last == sub.lastSent.cend() || now - *last >= m_options.coalesceMs) {
        send(session, sub, canonical, now);
        return;
    }
    const qint64 when = *last + m_options.coalesceMs;
    sub.due.insert(canonical, when);
    m_pendingSessions.insert(session);
    arm(when);
}

void ResourceHub::send(protocol::McpServerSession *session, Subscriber &sub, const QString &canonical,
                       qint64 now)
{
    const QString uri = sub.uris.value(canonical, canonical);
    if (sub.lastSent.size() > 1024) { // forget windows that are over
        for (auto it = sub.lastSent.begin(); it != sub.lastSent.end();)
            it = now - *it >= m_options.coalesceMs ? sub.lastSent.erase(it) : std::next(it);
    }
    sub.lastSent.insert(canonical, now);
    json::Writer w(uri.size() * 3 + 16);
    w.beginObject().field("uri", uri).endObject();
    session->sendNotification(QStringLiteral("notifications/resources/updated"), w.data());
    emit notified(session, uri);
}

void ResourceHub::arm(qint64 when)
{
    if (m_timer.isActive() && m_timerDue <= when)
        return;
    m_timerDue = when;
    m_timer.start(int(std::clamp<qint64>(when - m_clock.elapsed(), 0, std::numeric_limits<int>::max())));
}

void ResourceHub::onTimer()
{
    m_timerDue = -1;
    const qint64 now = m_clock.elapsed();
    qint64 next = -1;
    const QSet<protocol::McpServerSession *> sessions = m_pendingSessions;
    for (protocol::McpServerSession *session : sessions) {
        auto sub = m_subscribers.find(session);
        if (sub == m_subscribers.end()) {
            m_pendingSessions.remove(session);
            continue;
        }
        QStringList ready;
        for (auto d = sub->due.cbegin(); d != sub->due.cend(); ++d) {
            if (*d <= now)
                ready.append(d.key());
            else
                next = next < 0 ? *d : std::min(next, *d);
        }
        for (const QString &canonical : std::as_const(ready)) {
            sub->due.remove(canonical);
            if (sub->uris.contains(canonical))
                send(session, *sub, canonical, now);
        }
        if (sub->due.isEmpty())
            m_pendingSessions.remove(session);
    }
    if (next >= 0)
        arm(next);
}

} // namespace sidecar::tools
