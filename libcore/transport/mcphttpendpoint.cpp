#include "mcphttpendpoint.h"

#include <QDateTime>
#include <QHostAddress>
#include <QLoggingCategory>
#include <QRandomGenerator>
#include <QUrl>

#include "protocol/json.h"
#include "protocol/jsonrpc.h"

Q_LOGGING_CATEGORY(lcMcpHttp, "sidecar.mcphttp")

namespace sidecar::http {

namespace {

const QByteArray kJson = QByteArrayLiteral("application/json");
const QByteArray kEventStream = QByteArrayLiteral("text/event-stream");
const QByteArray kSessionHeader = QByteArrayLiteral("mcp-session-id");

// A JSON-RPC error about the request itself (parse error, invalid request, refused batch) has a
// null id: over HTTP it is a 400 (TOOLS.md, "Transports").
bool isRequestLevelError(const QByteArray &message)
{
    return message.startsWith("{\"jsonrpc\":\"2.0\",\"id\":null,\"error\"");
}

QByteArray errorBody(const QString &message)
{
    json::Writer w(96);
    w.beginObject().key("error").beginObject().field("message", message).endObject().endObject();
    return w.take();
}

// The CORS headers of the request being handled (empty unless an allowed browser Origin sent
// it). Set at the start of McpHttpEndpoint::handle(), which runs synchronously on one thread;
// answers given later capture a copy.
thread_local HttpHeaders t_cors;

// A JSON answer of the endpoint's own (an error body, or a JSON-RPC error), with the CORS headers.
void refuseWith(HttpResponder &responder, int status, const QByteArray &jsonBody, HttpHeaders headers = {})
{
    headers.append({QByteArrayLiteral("content-type"), kJson});
    headers.append(t_cors);
    responder.respond(status, headers, jsonBody);
}

void refuse(HttpResponder &responder, int status, const QString &message, HttpHeaders headers = {})
{
    refuseWith(responder, status, errorBody(message), std::move(headers));
}

QByteArray newSessionId()
{
    quint64 words[2];
    QRandomGenerator::system()->fillRange(words, 2);
    return QByteArray(reinterpret_cast<const char *>(words), sizeof words).toHex();
}

// "scheme://host[:port]" in lower case without a default port; empty when not an origin.
QString normaliseOrigin(QByteArrayView origin)
{
    const QUrl url(QString::fromLatin1(origin));
    if (!url.isValid() || url.scheme().isEmpty() || url.host().isEmpty())
        return {};
    const QString scheme = url.scheme().toLower();
    const int port = url.port(-1);
    const bool defaultPort = port < 0 || (scheme == QLatin1String("http") && port == 80) ||
                             (scheme == QLatin1String("https") && port == 443);
    QString host = url.host().toLower();
    if (host.contains(u':'))
        host = u'[' + host + u']';
    QString out = scheme + QStringLiteral("://") + host;
    if (!defaultPort)
        out += u':' + QString::number(port);
    return out;
}

bool isLocalHost(const QString &host)
{
    if (host == QLatin1String("localhost") || host.endsWith(QLatin1String(".localhost")))
        return true;
    QHostAddress address;
    return address.setAddress(host) && address.isLoopback();
}

} // namespace

struct McpHttpEndpoint::Session
{
    QByteArray id;
    QString principal; // the token name that created it: sessions are bound to it
    std::unique_ptr<protocol::McpServerSession> mcp;
    QElapsedTimer lastActive;
    QElapsedTimer verified; // last confirmed against the store (shared sessions)
    QElapsedTimer saved;    // last saved to the store (invalid: never)
    int inFlight = 0;                       // POSTs waiting for their answers
    std::shared_ptr<HttpResponder> stream;  // the GET stream, when open
    std::vector<std::weak_ptr<HttpResponder>> pending; // POSTs waiting for answers
    std::deque<Event> replay;               // the newest events, for Last-Event-ID
    qint64 nextSeq = 1;
    qint64 sentUpTo = 0;                    // the last event written to a GET stream
    // POSTs answered over SSE with a priming event: a client whose stream broke before the answer
    // resumes it with GET and Last-Event-ID "p<stream>.0" (events "p<stream>.<n>").
    std::deque<PostStream> postStreams;
    qint64 nextPostStream = 1;

    PostStream *postStream(qint64 streamId)
    {
        for (PostStream &p : postStreams) {
            if (p.id == streamId)
                return &p;
        }
        return nullptr;
    }
};

McpHttpEndpoint::McpHttpEndpoint(const protocol::ToolRegistry &registry, protocol::ServerInfo info,
                                 McpHttpOptions options, QObject *parent)
    : QObject(parent), m_registry(registry), m_info(std::move(info)), m_options(std::move(options))
{
    connect(&m_reaper, &QTimer::timeout, this, &McpHttpEndpoint::reap);
    m_reaper.start(std::clamp(m_options.sessionIdleTimeoutMs / 4, 50, 60000));
    connect(&m_keepAlive, &QTimer::timeout, this, &McpHttpEndpoint::keepAlive);
    m_keepAlive.start(m_options.keepAliveMs);
    connect(&m_refresh, &QTimer::timeout, this, &McpHttpEndpoint::refreshStreams);
    m_refresh.setInterval(std::clamp(m_options.sessionIdleTimeoutMs / 4, 50, kVerifyMs));
    quint32 tag = QRandomGenerator::system()->generate();
    m_instance = QByteArray(reinterpret_cast<const char *>(&tag), sizeof tag).toHex();
}

McpHttpEndpoint::~McpHttpEndpoint()
{
    close();
}

std::pair<QByteArray, QByteArray> McpHttpEndpoint::jsonRpcRefusal(int status, const QString &message)
{
    Q_UNUSED(status);
    return {kJson, jsonrpc::errorResponse(jsonrpc::kNullId, kServerBusy, message)};
}

void McpHttpEndpoint::addRoute(const QByteArray &path, Route route, bool needsAuth)
{
    m_routes.insert(path, RouteEntry{std::move(route), needsAuth});
}

bool McpHttpEndpoint::originAllowed(QByteArrayView origin) const
{
    if (origin.isEmpty())
        return true; // not a browser
    const QString normalised = normaliseOrigin(origin);
    if (normalised.isEmpty())
        return false;
    if (m_options.allowedOrigins.isEmpty())
        return isLocalHost(QUrl(normalised).host());
    return m_options.allowedOrigins.contains(normalised) || m_options.allowedOrigins.contains(QStringLiteral("*"));
}

bool McpHttpEndpoint::hostAllowed(QByteArrayView host) const
{
    if (!m_options.checkHost || host.isEmpty())
        return true;
    // "name", "name:port", "[v6]", "[v6]:port"
    QString name = QString::fromLatin1(host).toLower();
    if (name.startsWith(u'[')) {
        const qsizetype close = name.indexOf(u']');
        if (close < 0)
            return false;
        name = name.mid(1, close - 1);
    } else if (const qsizetype colon = name.lastIndexOf(u':'); colon >= 0) {
        name.truncate(colon);
    }
    if (name.endsWith(u'.'))
        name.chop(1);
    return isLocalHost(name) || m_options.allowedHosts.contains(name) ||
           m_options.allowedHosts.contains(QStringLiteral("*"));
}

void McpHttpEndpoint::handle(const HttpRequest &request, std::shared_ptr<HttpResponder> responder)
{
    if (m_closed) {
        refuse(*responder, 503, QStringLiteral("The server is shutting down."));
        return;
    }
    std::optional<protocol::CallContext> context = protocol::CallContext{};
    const bool isMcp = request.path == m_options.path;
    const auto route = m_routes.constFind(request.path);
    if (!isMcp && route == m_routes.constEnd()) {
        refuse(*responder, 404, QStringLiteral("Not found."));
        return;
    }
    // Transports, "Security warning": validate Origin to stop DNS rebinding.
    t_cors.clear();
    if (!hostAllowed(request.header("host"))) {
        refuse(*responder, 421, QStringLiteral("Host not allowed: this server answers to localhost names "
                                               "(see SIDECAR_ALLOWED_HOSTS)."));
        return;
    }
    const QByteArray origin = request.header("origin");
    if (!originAllowed(origin)) { // on every route: /metrics too must not be readable after DNS rebinding
        refuse(*responder, 403, QStringLiteral("Origin not allowed."));
        return;
    }
    if (isMcp && !origin.isEmpty()) {
        // An allowed browser origin may call the endpoint and read the session id (CORS).
        t_cors = {{QByteArrayLiteral("access-control-allow-origin"), origin},
                  {QByteArrayLiteral("access-control-expose-headers"), QByteArrayLiteral("Mcp-Session-Id")},
                  {QByteArrayLiteral("vary"), QByteArrayLiteral("Origin")}};
        if (request.method == "OPTIONS") {
            HttpHeaders preflight = t_cors;
            preflight.append({QByteArrayLiteral("access-control-allow-methods"), QByteArrayLiteral("GET, POST, DELETE")});
            preflight.append({QByteArrayLiteral("access-control-allow-headers"),
                              QByteArrayLiteral("Content-Type, Accept, Authorization, Mcp-Session-Id, "
                                                "MCP-Protocol-Version, Last-Event-ID")});
            preflight.append({QByteArrayLiteral("access-control-max-age"), QByteArrayLiteral("600")});
            responder->respond(204, preflight, {});
            return;
        }
    }
    if (m_authenticate && (isMcp || route->needsAuth)) {
        const QByteArray authorization = request.header("authorization");
        context = m_authenticate(authorization);
        if (!context) {
            QByteArray challenge = QByteArrayLiteral("Bearer realm=\"mcp-state-sidecar\"");
            if (!authorization.isEmpty())
                challenge += QByteArrayLiteral(", error=\"invalid_token\"");
            refuse(*responder, 401, QStringLiteral("A valid bearer token is required."),
                   {{QByteArrayLiteral("www-authenticate"), challenge}});
            return;
        }
    }
    if (!isMcp) {
        if (request.method != "GET" && request.method != "HEAD") {
            refuse(*responder, 405, QStringLiteral("Method not allowed."),
                   {{QByteArrayLiteral("allow"), QByteArrayLiteral("GET, HEAD")}});
            return;
        }
        route->route(request, std::move(responder));
        return;
    }
    const bool isPost = request.method == "POST";
    const bool isGet = request.method == "GET";
    if (!isPost && !isGet && request.method != "DELETE") {
        refuse(*responder, 405, QStringLiteral("Method not allowed."),
               {{QByteArrayLiteral("allow"), QByteArrayLiteral("GET, POST, DELETE")}});
        return;
    }
    if (isPost && !postHeadersAcceptable(request, *responder))
        return;
    if (isGet && !request.header("accept").contains(kEventStream)) {
        refuse(*responder, 406, QStringLiteral("GET opens an event stream: Accept text/event-stream."));
        return;
    }
    if (isPost && request.header(kSessionHeader).isEmpty()) {
        handlePost(request, std::move(responder), *context, nullptr); // initialize
        return;
    }
    resolveSession(request, std::move(responder), *context,
                   [this, context = *context](const HttpRequest &r, std::shared_ptr<HttpResponder> out,
                                              Session *session) {
                       if (r.method == "POST")
                           handlePost(r, std::move(out), context, session);
                       else if (r.method == "GET")
                           handleGet(r, std::move(out), *session);
                       else
                           handleDelete(std::move(out), *session);
                   });
}

bool McpHttpEndpoint::postHeadersAcceptable(const HttpRequest &request, HttpResponder &responder) const
{
    const QByteArray accept = request.header("accept");
    const bool acceptsJson = accept.isEmpty() || accept.contains(kJson) || accept.contains("*/*") ||
                             accept.contains("application/*");
    if (!acceptsJson && !accept.contains(kEventStream)) {
        refuse(responder, 406, QStringLiteral("Accept application/json or text/event-stream."));
        return false;
    }
    const QByteArray contentType = request.header("content-type");
    if (!contentType.isEmpty() && !contentType.contains(kJson)) {
        refuse(responder, 415, QStringLiteral("The body must be application/json."));
        return false;
    }
    return true;
}

void McpHttpEndpoint::resolveSession(const HttpRequest &request, std::shared_ptr<HttpResponder> responder,
                                     const protocol::CallContext &context, SessionContinuation next)
{
    const QByteArray id = request.header(kSessionHeader);
    if (id.isEmpty()) {
        refuse(*responder, 400, QStringLiteral("The Mcp-Session-Id header is required."));
        return;
    }
    // Transports, "Protocol version header": absent means 2025-03-26; unsupported is a 400.
    const QByteArray version = request.header("mcp-protocol-version");
    if (!version.isEmpty() &&
        !protocol::McpServerSession::supportedVersions().contains(QString::fromLatin1(version))) {
        refuse(*responder, 400, QStringLiteral("Unsupported MCP-Protocol-Version: %1").arg(QString::fromLatin1(version)));
        return;
    }
    const auto it = m_sessions.constFind(id);
    if (it != m_sessions.constEnd()) {
        // Another token's session is as good as unknown (Transports, "Session management": bind
        // sessions to their user).
        if ((*it)->principal != context.principal) {
            refuse(*responder, 404, QStringLiteral("Unknown or ended session: initialize a new one."));
            return;
        }
        Session *session = it->get();
        const bool fresh = !m_sharing.store || session->verified.elapsed() < kVerifyMs;
        if (fresh) {
            session->lastActive.restart();
            touch(*session);
            next(request, std::move(responder), session);
            return;
        }
    } else if (!m_sharing.store) {
        refuse(*responder, 404, QStringLiteral("Unknown or ended session: initialize a new one."));
        return;
    }
    // Ask the store: the session may have been created, changed or ended by another instance.
    // The request is copied (the reference dies with this call), and so are its CORS headers.
    QPointer<McpHttpEndpoint> self(this);
    m_sharing.store->mcpSessionGet(
        id, [self, request, responder, context, next = std::move(next), cors = t_cors,
             id](Result<std::optional<store::McpSessionRecord>> record) mutable {
            if (!self || responder->isFinished() || !responder->isOpen())
                return;
            t_cors = cors;
            if (self->m_closed) {
                refuse(*responder, 503, QStringLiteral("The server is shutting down."));
                return;
            }
            Session *session = self->m_sessions.value(id).get();
            if (!record) {
                if (!session) {
                    refuse(*responder, 503, QStringLiteral("The session store cannot be reached: try again."),
                           {{QByteArrayLiteral("retry-after"), QByteArrayLiteral("1")}});
                    return;
                }
                // The store is down: this instance's copy serves meanwhile.
            } else if (!record->has_value() || (*record)->principal != context.principal) {
                if (session && record->has_value())
                    return refuse(*responder, 404, QStringLiteral("Unknown or ended session: initialize a new one."));
                if (session)
                    self->endSession(id); // ended elsewhere
                refuse(*responder, 404, QStringLiteral("Unknown or ended session: initialize a new one."));
                return;
            } else if (!session) {
                session = self->restoreSession(**record);
            } else if (self->m_sharing.setSubscriptions) {
                self->m_sharing.setSubscriptions(*session->mcp, (*record)->subscriptions);
            }
            session->verified.restart();
            session->lastActive.restart();
            self->touch(*session);
            next(request, std::move(responder), session);
        });
}

McpHttpEndpoint::Session *McpHttpEndpoint::restoreSession(const store::McpSessionRecord &record)
{
    protocol::CallContext context;
    context.principal = record.principal;
    Session *session = createSession(context, record.id);
    session->mcp->restore(record.protocolVersion);
    if (m_sharing.setSubscriptions)
        m_sharing.setSubscriptions(*session->mcp, record.subscriptions);
    session->saved.start(); // the record is current
    qCDebug(lcMcpHttp) << "session restored from the store";
    return session;
}

void McpHttpEndpoint::persist(Session &session, std::function<void()> then)
{
    if (!m_sharing.store || session.mcp->protocolVersion().isEmpty()) {
        if (then)
            then();
        return;
    }
    store::McpSessionRecord record;
    record.id = session.id;
    record.protocolVersion = session.mcp->protocolVersion();
    record.principal = session.principal;
    if (m_sharing.subscriptions)
        record.subscriptions = m_sharing.subscriptions(*session.mcp);
    record.expiresAt = double(QDateTime::currentMSecsSinceEpoch()) / 1000.0 + m_options.sessionIdleTimeoutMs / 1000.0;
    session.saved.start();
    m_sharing.store->mcpSessionPut(record, [then = std::move(then)](Result<bool> done) {
        if (!done)
            qCWarning(lcMcpHttp).noquote() << "cannot save an MCP session in the store:" << done.error().message;
        if (then)
            then();
    });
}

void McpHttpEndpoint::touch(Session &session)
{
    // The record's idle deadline moves with use, at most a few times per idle period.
    if (m_sharing.store && session.saved.isValid() && session.saved.elapsed() > m_options.sessionIdleTimeoutMs / 4)
        persist(session);
}

void McpHttpEndpoint::sessionChanged(protocol::McpServerSession *mcp)
{
    for (const auto &session : std::as_const(m_sessions)) {
        if (session->mcp.get() == mcp) {
            persist(*session);
            return;
        }
    }
}

void McpHttpEndpoint::setSessionSharing(SessionSharing sharing)
{
    m_sharing = std::move(sharing);
    if (m_sharing.store)
        m_refresh.start();
    else
        m_refresh.stop();
}

void McpHttpEndpoint::refreshStreams()
{
    t_cors.clear(); // no request is being handled
    if (!m_sharing.store || m_closed)
        return;
    for (const auto &session : std::as_const(m_sessions)) {
        const bool listening = session->stream && session->stream->isOpen();
        // A session listening on its stream or waiting for an answer (a watch) is in use: its
        // record's deadline moves on. A record saved now is read next time (a read racing the
        // write could see the old one).
        if ((listening || session->inFlight > 0) && session->saved.isValid() &&
            session->saved.elapsed() > m_options.sessionIdleTimeoutMs / 4) {
            persist(*session);
            continue;
        }
        if (!listening)
            continue;
        const QByteArray id = session->id;
        QPointer<McpHttpEndpoint> self(this);
        m_sharing.store->mcpSessionGet(id, [self, id](Result<std::optional<store::McpSessionRecord>> record) {
            if (!self || !record)
                return; // the store is down: keep serving the local copy
            const auto it = self->m_sessions.constFind(id);
            if (it == self->m_sessions.constEnd())
                return;
            if (!record->has_value()) {
                self->endSession(id); // deleted (or expired) through another instance
                return;
            }
            (*it)->verified.restart();
            if (self->m_sharing.setSubscriptions)
                self->m_sharing.setSubscriptions(*(*it)->mcp, (*record)->subscriptions);
        });
    }
}

McpHttpEndpoint::Session *McpHttpEndpoint::createSession(const protocol::CallContext &context, QByteArray id)
{
    auto session = std::make_shared<Session>();
    session->id = id.isEmpty() ? newSessionId() : std::move(id);
    session->verified.start();
    session->principal = context.principal;
    session->mcp = std::make_unique<protocol::McpServerSession>(m_registry, m_info);
    session->mcp->setMaxRequestBytes(m_options.maxRequestBytes);
    session->mcp->setMaxReplyBytes(m_options.maxReplyBytes);
    session->lastActive.start();
    session->mcp->setSink([this, sid = session->id](const QByteArray &message) {
        const auto it = m_sessions.constFind(sid);
        if (it != m_sessions.constEnd())
            pushEvent(**it, message);
    });
    if (m_sessionHook)
        m_sessionHook(*session->mcp);
    Session *raw = session.get();
    m_sessions.insert(raw->id, std::move(session));
    return raw;
}

void McpHttpEndpoint::handlePost(const HttpRequest &request, std::shared_ptr<HttpResponder> responder,
                                 const protocol::CallContext &context, Session *session)
{
    const QByteArray accept = request.header("accept");
    const bool acceptsJson = accept.isEmpty() || accept.contains(kJson) || accept.contains("*/*") ||
                             accept.contains("application/*");
    bool created = false;
    if (!session) {
        // Only initialize may come without a session.
        auto doc = json::parse(request.body);
        const json::Value *method = doc && doc->root().isObject() ? doc->root().find("method") : nullptr;
        if (!method || !method->isString() || method->text() != "initialize") {
            refuse(*responder, 400, QStringLiteral("The Mcp-Session-Id header is required."));
            return;
        }
        if (m_sessions.size() >= m_options.maxSessions) {
            const json::Value *id = doc->root().find("id");
            ++m_refusedSessions;
            if (!m_refusalLogged.isValid() || m_refusalLogged.elapsed() >= 10000) {
                qCWarning(lcMcpHttp).nospace() << "refusing new sessions: " << m_sessions.size()
                                               << " live (the limit); " << m_refusedSessions << " refused so far";
                m_refusalLogged.start();
            }
            refuseWith(
                *responder, 503,
                jsonrpc::errorResponse(id ? id->compact() : jsonrpc::kNullId, kServerBusy,
                                       QStringLiteral("Too many MCP sessions (%1, SIDECAR_HTTP_MAX_SESSIONS): end "
                                                      "unused ones with DELETE, or try again later.")
                                           .arg(m_options.maxSessions)));
            return;
        }
        session = createSession(context);
        created = true;
    }

    HttpHeaders headers{{QByteArrayLiteral("content-type"), acceptsJson ? kJson : kEventStream}};
    headers.append(t_cors);
    if (!acceptsJson)
        headers.append({QByteArrayLiteral("cache-control"), QByteArrayLiteral("no-cache")});

    session->mcp->setCallContext(context);
    ++session->inFlight;
    session->pending.push_back(responder);
    // Resumable only for clients that know priming events (Transports, 2025-11-25: an event with
    // an id and empty data); older clients would try to parse the empty data.
    const bool resumable = !acceptsJson && session->mcp->protocolVersion() >= QLatin1String("2025-11-25");
    const qint64 streamId = resumable ? session->nextPostStream++ : 0;
    std::weak_ptr<Session> weak = m_sessions.value(session->id);
    const int keepAnswered = m_options.replayPostStreams;
    QPointer<McpHttpEndpoint> self(this);
    const bool answers = session->mcp->handle(request.body, [self, weak, responder, headers, cors = t_cors, acceptsJson,
                                                             created, streamId, keepAnswered](const QByteArray &message) {
        HttpHeaders h = headers;
        // An empty message: the client cancelled the request, whose answer is withheld. The POST
        // ends without one (202 with no body, or the stream closed).
        const bool withheld = message.isEmpty();
        QByteArray event;
        if (!withheld) {
            event = "event: message\ndata: " + message + "\n\n";
            if (streamId)
                event.prepend("id: p" + QByteArray::number(streamId) + ".1\n");
        }
        const int status = withheld ? 202 : isRequestLevelError(message) ? 400 : 200;
        auto deliver = [responder, acceptsJson, status, message, event, withheld, cors](HttpHeaders out) {
            if (withheld) {
                if (responder->isStreaming())
                    responder->end();
                else
                    responder->respond(status, cors, {});
                return;
            }
            if (!responder->isStreaming() && (acceptsJson || status != 200)) {
                out[0].second = kJson;
                responder->respond(status, out, message);
                return;
            }
            if (!responder->isStreaming())
                responder->beginStream(200, out);
            responder->write(event);
            responder->end();
        };
        auto s = weak.lock();
        if (!s) {
            deliver(h);
            return;
        }
        --s->inFlight;
        s->lastActive.restart();
        std::erase_if(s->pending, [&](const std::weak_ptr<HttpResponder> &p) {
            return p.expired() || p.lock() == responder;
        });
        if (PostStream *p = streamId ? s->postStream(streamId) : nullptr) {
            p->answered = true;
            p->answer = event;
            if (auto resumed = p->stream.lock(); resumed && resumed != responder && resumed->isOpen()) {
                resumed->write(event); // nothing when the answer was withheld
                resumed->end();
            }
            trimPostStreams(*s, keepAnswered);
        }
        // The id of a session that initialize created, once it succeeded (a failed one is not
        // kept: its id must not reach the client), and only once the store has the session, so
        // that the client's next request may reach any instance.
        if (created && !s->mcp->protocolVersion().isEmpty()) {
            h.append({QByteArrayLiteral("mcp-session-id"), s->id});
            if (self) {
                self->persist(*s, [deliver, h] { deliver(h); });
                return;
            }
        }
        deliver(h);
    });
    if (!answers) {
        --session->inFlight;
        session->pending.pop_back();
        responder->respond(202, t_cors, {});
    } else if (streamId && !responder->isFinished()) {
        // The answer will take a while (a watch, a queued write): open the stream with a priming
        // event so that a client cut off meanwhile can come back for the answer.
        responder->beginStream(200, headers);
        responder->write("id: p" + QByteArray::number(streamId) + ".0\ndata: \n\n");
        session->postStreams.push_back(PostStream{streamId, responder, {}, false});
    }
    if (created && session->mcp->protocolVersion().isEmpty())
        endSession(session->id); // initialize failed: no session to keep
}

void McpHttpEndpoint::trimPostStreams(Session &session, int keepAnswered)
{
    int answered = 0;
    for (const PostStream &p : session.postStreams)
        answered += p.answered ? 1 : 0;
    for (auto it = session.postStreams.begin(); answered > keepAnswered && it != session.postStreams.end();) {
        if (it->answered) {
            it = session.postStreams.erase(it);
            --answered;
        } else {
            ++it;
        }
    }
}

// GET with Last-Event-ID "p<stream>.<n>": the rest of a POST's stream (its answer, then the end),
// now or when it comes.
void McpHttpEndpoint::resumePostStream(Session &session, QByteArrayView lastEventId,
                                       std::shared_ptr<HttpResponder> responder)
{
    const QByteArrayView rest = lastEventId.sliced(1);
    const qsizetype dot = rest.indexOf('.');
    bool okStream = false;
    bool okEvent = false;
    const qint64 streamId = dot > 0 ? rest.first(dot).toLongLong(&okStream) : 0;
    const qint64 event = dot > 0 ? rest.sliced(dot + 1).toLongLong(&okEvent) : 0;
    PostStream *p = okStream && okEvent ? session.postStream(streamId) : nullptr;
    if (!p) {
        refuse(*responder, 400, QStringLiteral("Unknown or expired Last-Event-ID: that stream is no longer kept."));
        return;
    }
    HttpHeaders streamHeaders{{QByteArrayLiteral("content-type"), kEventStream},
                              {QByteArrayLiteral("cache-control"), QByteArrayLiteral("no-cache")}};
    streamHeaders.append(t_cors);
    responder->beginStream(200, streamHeaders);
    if (p->answered) {
        if (event < 1)
            responder->write(p->answer);
        responder->end();
        return;
    }
    if (auto previous = p->stream.lock(); previous && previous->isOpen())
        previous->end(); // one reader per stream: the newest wins
    p->stream = responder;
}

void McpHttpEndpoint::handleGet(const HttpRequest &request, std::shared_ptr<HttpResponder> responder, Session &s)
{
    Session *session = &s;
    const QByteArray lastEventId = request.header("last-event-id");
    if (lastEventId.startsWith('p')) {
        resumePostStream(*session, lastEventId, std::move(responder));
        return;
    }
    if (session->stream && session->stream->isOpen())
        session->stream->end(); // one stream per session: the newest wins
    session->stream = responder;
    HttpHeaders streamHeaders{{QByteArrayLiteral("content-type"), kEventStream},
                              {QByteArrayLiteral("cache-control"), QByteArrayLiteral("no-cache")}};
    streamHeaders.append(t_cors);
    responder->beginStream(200, streamHeaders);
    // Resumability: replay what the client missed on this stream.
    // Resumability: replay what the client missed on this stream. Ids are "<instance>-<n>": an id
    // from another instance (the session moved) has nothing to replay here.
    qint64 from = session->sentUpTo;
    if (lastEventId.startsWith(QByteArray(m_instance + '-'))) {
        bool ok = false;
        const qint64 last = lastEventId.mid(m_instance.size() + 1).toLongLong(&ok);
        if (ok)
            from = last;
    }
    QByteArray backlog;
    for (const Event &e : session->replay) {
        if (e.seq > from) {
            backlog += "id: " + m_instance + '-' + QByteArray::number(e.seq) + "\nevent: message\ndata: " + e.data +
                       "\n\n";
            session->sentUpTo = std::max(session->sentUpTo, e.seq);
        }
    }
    if (!backlog.isEmpty())
        responder->write(backlog);
    const QByteArray id = session->id;
    connect(responder.get(), &HttpResponder::disconnected, this, [this, id, raw = responder.get()] {
        const auto it = m_sessions.constFind(id);
        if (it != m_sessions.constEnd() && (*it)->stream.get() == raw) {
            (*it)->stream.reset();
            (*it)->lastActive.restart();
        }
    });
}

void McpHttpEndpoint::handleDelete(std::shared_ptr<HttpResponder> responder, Session &session)
{
    const QByteArray id = session.id;
    endSession(id);
    if (!m_sharing.store) {
        responder->respond(204, t_cors, {});
        return;
    }
    // Ended for every instance: answered once the store forgot it.
    m_sharing.store->mcpSessionDelete(id, [responder, cors = t_cors](Result<bool> deleted) {
        if (!deleted)
            qCWarning(lcMcpHttp).noquote() << "cannot delete an MCP session from the store:" << deleted.error().message;
        responder->respond(204, cors, {});
    });
}

void McpHttpEndpoint::pushEvent(Session &session, const QByteArray &message)
{
    const qint64 seq = session.nextSeq++;
    session.replay.push_back(Event{seq, message});
    while (int(session.replay.size()) > m_options.replayEvents)
        session.replay.pop_front();
    if (!session.stream || !session.stream->isOpen())
        return;
    if (session.stream->write("id: " + m_instance + '-' + QByteArray::number(seq) + "\nevent: message\ndata: " +
                              message + "\n\n"))
        session.sentUpTo = seq;
    else
        session.stream.reset(); // cut off (gone, or not reading): it may reconnect with Last-Event-ID
}

void McpHttpEndpoint::endSession(const QByteArray &id)
{
    auto session = m_sessions.take(id);
    if (!session)
        return;
    if (session->stream && session->stream->isOpen())
        session->stream->end();
    // Requests still waiting (a long-poll, say) would never be answered by the gone session.
    for (const auto &weakPending : session->pending) {
        auto pending = weakPending.lock();
        if (!pending || pending->isFinished())
            continue;
        if (pending->isStreaming())
            pending->end(); // a resumed GET of it would now get 404
        else
            refuse(*pending, 404, QStringLiteral("The session ended before this request was answered."));
    }
    for (const PostStream &p : session->postStreams) {
        if (auto resumed = p.stream.lock(); resumed && resumed->isOpen())
            resumed->end();
    }
    qCDebug(lcMcpHttp) << "session ended";
}

void McpHttpEndpoint::reap()
{
    t_cors.clear(); // no request is being handled

    QList<QByteArray> idle;
    for (const auto &session : std::as_const(m_sessions)) {
        const bool listening = session->stream && session->stream->isOpen();
        if (!listening && session->inFlight == 0 && session->lastActive.elapsed() > m_options.sessionIdleTimeoutMs)
            idle.append(session->id);
    }
    for (const QByteArray &id : idle) {
        qCInfo(lcMcpHttp) << "reaping a session idle for more than" << m_options.sessionIdleTimeoutMs << "ms";
        endSession(id);
    }
}

void McpHttpEndpoint::keepAlive()
{
    for (const auto &session : std::as_const(m_sessions)) {
        if (session->stream && session->stream->isOpen() && !session->stream->write(QByteArrayLiteral(": keep-alive\n\n")))
            session->stream.reset();
        for (const PostStream &p : session->postStreams) {
            if (auto waiting = p.stream.lock(); waiting && !p.answered && waiting->isOpen())
                waiting->write(QByteArrayLiteral(": keep-alive\n\n"));
        }
    }
}

int McpHttpEndpoint::inFlight() const
{
    int n = 0;
    for (const auto &session : m_sessions)
        n += session->inFlight;
    return n;
}

void McpHttpEndpoint::close()
{
    t_cors.clear();
    m_closed = true;
    const auto ids = m_sessions.keys();
    for (const QByteArray &id : ids)
        endSession(id);
}

} // namespace sidecar::http
