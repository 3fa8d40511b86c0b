#pragma once

// MCP's Streamable HTTP transport (MCP 2025-11-25, "Transports: Streamable HTTP") at one path,
// on top of the project's HTTP server, plus the small routes beside it (/healthz, ...).
//
// POST carries one JSON-RPC message (or, for 2025-03-26 sessions, a batch): notifications and
// responses get 202 with no body; requests get their answer as one application/json response
// when the client accepts it, else as a text/event-stream that carries the answer and ends.
// `initialize` without a session creates one and returns its `Mcp-Session-Id` (128 random bits,
// hex); every later request must carry it: 400 when missing, 404 when unknown or ended.
// `MCP-Protocol-Version` must be a supported version (400 otherwise; absent means 2025-03-26, as
// the spec says). GET opens the session's stream for server-to-client messages (resource
// updates); every event has an id, and a client that reconnects with `Last-Event-ID` gets what it
// missed (a bounded replay buffer per session). A POST answered over SSE to a 2025-11-25 client
// whose answer is not ready at once starts with a priming event (id "p<stream>.0", empty data): a
// client cut off before the answer GETs it with that Last-Event-ID. DELETE ends the session. Other methods: 405 with
// `Allow`. A browser `Origin` not in the allowed list (localhost origins by default) is 403 before
// anything else, and so is a Host that is not this server's name when checkHost is set (421); with an authenticator, a request without a valid bearer token is 401 with
// `WWW-Authenticate`, and the token's scope and name apply to that request's calls.
//
// At most maxSessions sessions live at once: an initialize beyond is 503 with a JSON-RPC error
// (code kServerBusy, the initialize's id) and creates nothing; the sessions that exist go on, and a
// session another instance created is still served from the store. Sessions idle longer than
// sessionIdleTimeoutMs (no request, no call in flight, no open stream) are reaped. A session's answers never outlive it: replies to a reaped or deleted session are
// dropped by the session itself (QPointer).
//
// Thread: the HTTP server's thread (the main thread). Ownership: owns its sessions.

#include <QDateTime>
#include <QElapsedTimer>
#include <QHash>
#include <QObject>
#include <QStringList>
#include <QTimer>

#include <deque>
#include <functional>
#include <memory>
#include <optional>

#include "protocol/mcpserversession.h"
#include "protocol/toolregistry.h"
#include "store/store.h"
#include "transport/httpserver.h"

namespace sidecar::http {

struct McpHttpOptions
{
    QByteArray path = "/mcp";
    QStringList allowedOrigins; // normalised "scheme://host[:port]"; empty: localhost origins only
    // With checkHost, a Host header naming neither a localhost name nor one of allowedHosts (lower
    // case, no port; "*" for any) is 421: a page that rebinds its DNS name to 127.0.0.1 sends its
    // own name as Host, and same-origin GETs carry no Origin.
    bool checkHost = false;
    QStringList allowedHosts;
    int sessionIdleTimeoutMs = 3600 * 1000;
    int maxSessions = 10000; // live sessions; initialize beyond -> 503
    qint64 maxRequestBytes = qint64(2) << 20;
    qint64 maxReplyBytes = qint64(16) << 20;
    int replayEvents = 1000; // events kept per session for Last-Event-ID
    int replayPostStreams = 100; // answered POST streams kept per session for Last-Event-ID
    int keepAliveMs = 15000; // an SSE comment this often on open streams
};

class McpHttpEndpoint : public QObject
{
    Q_OBJECT
public:
    using Authenticator = std::function<std::optional<protocol::CallContext>(QByteArrayView authorization)>;
    using SessionHook = std::function<void(protocol::McpServerSession &)>;
    using Route = std::function<void(const HttpRequest &, std::shared_ptr<HttpResponder>)>;

    // How long a shared session's local copy is trusted before its record is read again.
    static constexpr int kVerifyMs = 2000;
    // The JSON-RPC error code (implementation-defined server error range) of refusals for load:
    // too many sessions (503), too many requests on a connection (429).
    static constexpr int kServerBusy = -32000;

    // The HttpServer's own refusals (429) as JSON-RPC errors with a null id (RefusalFormatter).
    static std::pair<QByteArray, QByteArray> jsonRpcRefusal(int status, const QString &message);

    McpHttpEndpoint(const protocol::ToolRegistry &registry, protocol::ServerInfo info, McpHttpOptions options,
                    QObject *parent = nullptr);
    ~McpHttpEndpoint() override;

    // Sessions shared through the store (store.h, McpSessionRecord), so that any instance on the
    // same store serves a session another one created (no sticky sessions), and a session
    // survives a restart. A successful initialize is answered once its record is saved; a
    // request for a session this instance does not hold (or has not confirmed for a couple of
    // seconds) reads the record first: unknown or ended there is 404, the store unreachable is
    // 503 unless a local copy can serve. Subscriptions travel with the record (a session's
    // instance with the open GET stream picks up changes made through others every 2 s); the
    // streams and their replay buffers stay on the instance that serves them. Without it
    // (store null), sessions live in this process only.
    struct SessionSharing
    {
        store::Store *store = nullptr;
        std::function<QStringList(const protocol::McpServerSession &)> subscriptions;
        std::function<void(protocol::McpServerSession &, const QStringList &)> setSubscriptions;
    };
    void setSessionSharing(SessionSharing sharing);
    // Saves the record of the session that `mcp` belongs to (its subscriptions changed).
    void sessionChanged(protocol::McpServerSession *mcp);

    // Without one, every caller has every scope (loopback without tokens).
    void setAuthenticator(Authenticator authenticator) { m_authenticate = std::move(authenticator); }
    // Called for each new session (e.g. to attach resources).
    void setSessionHook(SessionHook hook) { m_sessionHook = std::move(hook); }
    // A GET-only route beside the MCP path (/healthz, /readyz, /metrics).
    void addRoute(const QByteArray &path, Route route, bool needsAuth = false);

    // The HttpServer's handler.
    void handle(const HttpRequest &request, std::shared_ptr<HttpResponder> responder);

    int sessionCount() const { return int(m_sessions.size()); }
    // POSTs whose answers have not been sent yet, over every session.
    int inFlight() const;
    // Shutdown: refuse new requests (503), end every stream and session.
    void close();

    // True when `origin` may call this server (an absent Origin always may).
    bool originAllowed(QByteArrayView origin) const;
    // True when a request with this Host header is for this server (an absent Host always is).
    bool hostAllowed(QByteArrayView host) const;

private:
    struct Session;
    struct Event
    {
        qint64 seq;
        QByteArray data;
    };
    struct PostStream
    {
        qint64 id;
        std::weak_ptr<HttpResponder> stream; // the POST's own, or the GET that resumed it
        QByteArray answer;                   // the answer's SSE event, once there
        bool answered = false;
    };

    using SessionContinuation =
        std::function<void(const HttpRequest &, std::shared_ptr<HttpResponder>, Session *session)>;

    bool postHeadersAcceptable(const HttpRequest &request, HttpResponder &responder) const;
    // `session` null: initialize without a session.
    void handlePost(const HttpRequest &request, std::shared_ptr<HttpResponder> responder,
                    const protocol::CallContext &context, Session *session);
    void handleGet(const HttpRequest &request, std::shared_ptr<HttpResponder> responder, Session &session);
    void handleDelete(std::shared_ptr<HttpResponder> responder, Session &session);
    // Finds the request's session (here, or in the store when shared) and continues with it, at
    // once or later; answers 400/404/503 itself when there is none.
    void resolveSession(const HttpRequest &request, std::shared_ptr<HttpResponder> responder,
                        const protocol::CallContext &context, SessionContinuation next);
    Session *createSession(const protocol::CallContext &context, QByteArray id = {});
    Session *restoreSession(const store::McpSessionRecord &record);
    // Saves the session's record in the store (then runs `then`, also when saving failed).
    void persist(Session &session, std::function<void()> then = {});
    void touch(Session &session);
    void refreshStreams();
    void endSession(const QByteArray &id);
    void pushEvent(Session &session, const QByteArray &message);
    void resumePostStream(Session &session, QByteArrayView lastEventId, std::shared_ptr<HttpResponder> responder);
    static void trimPostStreams(Session &session, int keepAnswered);
    void reap();
    void keepAlive();

    const protocol::ToolRegistry &m_registry;
    protocol::ServerInfo m_info;
    McpHttpOptions m_options;
    Authenticator m_authenticate;
    SessionHook m_sessionHook;
    struct RouteEntry
    {
        Route route;
        bool needsAuth = false;
    };
    QHash<QByteArray, RouteEntry> m_routes;
    QHash<QByteArray, std::shared_ptr<Session>> m_sessions;
    SessionSharing m_sharing;
    QByteArray m_instance; // random, in GET stream event ids: another instance's ids replay nothing
    QTimer m_reaper;
    QTimer m_keepAlive;
    QTimer m_refresh; // shared sessions with an open stream: their record, every kVerifyMs
    bool m_closed = false;
    qint64 m_refusedSessions = 0;   // initializes refused over maxSessions, for the log
    QElapsedTimer m_refusalLogged; // invalid: never logged
};

} // namespace sidecar::http
