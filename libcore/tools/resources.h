#pragma once

// MCP resources over the store (TOOLS.md, "Resources"; MCP 2025-11-25, "Server features:
// Resources"): resources/list (the collections), resources/templates/list (the item templates),
// resources/read, resources/subscribe, resources/unsubscribe and
// notifications/resources/updated.
//
// URIs: the collections state://kv, state://workflows, state://leases, state://sessions,
// state://history, and the items state://kv/{key}, state://workflows/{run_id},
// state://leases/{resource_id}, state://sessions/{session_id}, ids percent-encoded as RFC 6570
// `{var}` expansion does (everything but ALPHA / DIGIT / "-" . "_" "~" as %XX of its UTF-8, so a
// '/' in a key is %2F). Reading accepts any spelling that decodes to the same id (a raw '/' or
// raw non-ASCII too); notifications carry the URI as the client spelled it when subscribing.
//
// Reading an item returns the object its tool returns (state_get, workflow_status, a lease_list
// item, session_restore) as application/json text; a missing or expired item is -32002. A
// collection read is a bounded summary (see ResourceHubOptions::pageSize):
//   {"revision", "count", "items", "more", "next_cursor"?}
// `revision` is the store's revision read before the page, so a watch from it misses nothing;
// `count` is the number of live members (for state://history, the number of entries in `items`,
// as history_log's `total`); `items` is the first page in the list tool's order and shape (keys
// as strings in byte order, runs newest first as workflow_list's, leases and sessions as their
// list items, history entries newest first); `more` says whether members are left out and
// `next_cursor`, when present, continues with the list tool (state_list, workflow_list,
// lease_list, session_list, or history_log's before_revision for history).
//
// Change notifications: on Store::changed (commits by this process and, where the backend can
// tell, by others sharing it) the hub reads the changes after the last revision it saw — one
// read for every session and kind, repeated while `more` — and maps each history entry to the
// URIs it changes: its item and its collection, plus state://history for every entry; a reset
// (kind "store") or a compacted feed changes every subscribed URI. Each (session, URI) gets at
// most one notification per coalescing window: at once when none was sent in the last window,
// else one at the window's end. Lapses that write no history (a lease or a claim running out)
// send nothing.
//
// Thread: lives on the Store's owning thread, as do the sessions attached to it (one over
// stdio, one per client over HTTP). Ownership: references the store (which must outlive it)
// and the sessions weakly: a session's subscriptions are forgotten when it is destroyed, and a
// session that outlives the hub answers resources/* with "method not found".

#include <QElapsedTimer>
#include <QHash>
#include <QObject>
#include <QSet>
#include <QString>
#include <QTimer>

#include <functional>
#include <optional>
#include <vector>

#include "protocol/result.h"
#include "store/store.h"

namespace sidecar::protocol {
class McpServerSession;
}
namespace sidecar::json {
class Value;
}

namespace sidecar::tools {

enum class ResourceKind { Kv, Workflows, Leases, Sessions, History };

// What a state:// URI names: a collection (no id) or one of its items.
struct ResourceUri
{
    ResourceKind kind = ResourceKind::Kv;
    std::optional<QString> id;
};

// Parses a resource URI. InvalidArgument for a malformed one (JSON-RPC -32602: not an absolute
// URI, a query or fragment, an empty, badly encoded, non-UTF-8, NUL-holding or over-long id);
// NotFound for a well-formed URI that names no resource of this server (-32002: another scheme,
// an unknown collection, an item of state://history).
Result<ResourceUri> parseResourceUri(const QString &uri);
// The canonical URI of a collection or an item.
QString resourceUri(ResourceKind kind, const std::optional<QString> &id = std::nullopt);

struct ResourceHubOptions
{
    int coalesceMs = 250;                    // at most one notification per URI per session per this window
    int pageSize = 100;                      // members in a collection summary
    qint64 maxReplyBytes = qint64(16) << 20; // SIDECAR_MAX_REPLY_BYTES: a summary stops early below it
    int maxSubscriptionsPerSession = 10000;
};

class ResourceHub : public QObject
{
    Q_OBJECT
public:
    explicit ResourceHub(store::Store &store, ResourceHubOptions options = {}, QObject *parent = nullptr);
    ~ResourceHub() override;

    // Installs the resources/* handler on `session` (do it before the session answers
    // initialize: the session announces the resources capability only with a handler set) and
    // forgets the session's subscriptions when it is destroyed. Idempotent.
    void attach(protocol::McpServerSession &session);

    // Subscriptions held, over every session or by one.
    int subscriptionCount() const;
    int subscriptionCount(const protocol::McpServerSession &session) const;
    // The revision up to which changes have been turned into notifications.
    qint64 seenRevision() const { return m_lastSeen; }

    // A session's subscriptions, as the client spelled the URIs (sorted), and their replacement
    // by another set (a session restored from, or refreshed by, the shared session record:
    // URIs that do not parse are skipped; no answer and no notification is sent).
    QStringList subscriptions(const protocol::McpServerSession &session) const;
    void setSubscriptions(protocol::McpServerSession &session, const QStringList &uris);

signals:
    // `session` subscribed or unsubscribed through resources/subscribe or /unsubscribe.
    void subscriptionsChanged(protocol::McpServerSession *session);

    // A notifications/resources/updated left for `session` (for tests and metrics).
    void notified(protocol::McpServerSession *session, const QString &uri);

private:
    struct Subscriber
    {
        QHash<QString, QString> uris;    // canonical URI -> as the client spelled it
        QHash<QString, qint64> lastSent; // canonical URI -> m_clock time of its last notification
        QHash<QString, qint64> due;      // canonical URI -> when its coalesced notification is due
    };
    using Respond = std::function<void(QByteArray)>;

    bool handle(protocol::McpServerSession &session, const QString &method, const QByteArray &id,
                const json::Value *params, const Respond &respond);
    void read(const ResourceUri &target, const QString &uri, const QByteArray &id, const Respond &respond);
    void readCollection(ResourceKind kind, const QString &uri, const QByteArray &id, const Respond &respond);
    void subscribe(protocol::McpServerSession &session, const QString &uri, const QString &canonical,
                   const QByteArray &id, const Respond &respond);
    void unsubscribe(protocol::McpServerSession &session, const QString &canonical);
    void forget(protocol::McpServerSession *session);

    void readBaseline();
    void onChanged(qint64 revision);
    void pump();
    void onChanges(Result<store::ChangesResult> result);
    void touch(const QString &canonical);
    void schedule(protocol::McpServerSession *session, Subscriber &sub, const QString &canonical, qint64 now);
    void send(protocol::McpServerSession *session, Subscriber &sub, const QString &canonical, qint64 now);
    void arm(qint64 when);
    void onTimer();

    store::Store &m_store;
    ResourceHubOptions m_options;
    QSet<protocol::McpServerSession *> m_attached;
    QHash<protocol::McpServerSession *, Subscriber> m_subscribers; // sessions with subscriptions
    QHash<QString, QSet<protocol::McpServerSession *>> m_watchers; // canonical URI -> subscribers
    QSet<protocol::McpServerSession *> m_pendingSessions;          // with a coalesced notification due

    // The change feed. m_lastSeen: every change up to it has been turned into notifications
    // (or skipped while nobody subscribed); m_announced: the highest revision known committed.
    qint64 m_lastSeen = 0;
    qint64 m_announced = 0;
    bool m_baselineKnown = false;
    bool m_reading = false;
    bool m_failing = false; // the last read failed (logged once until one succeeds)
    std::vector<std::function<void()>> m_afterBaseline; // subscribe answers held until then

    QElapsedTimer m_clock;
    QTimer m_timer; // the earliest due coalesced notification
    qint64 m_timerDue = -1;
    QTimer m_retry; // a failed read, tried again
};

} // namespace sidecar::tools
