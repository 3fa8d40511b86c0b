#include "transport/httpserver.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <ctime>

#include <QElapsedTimer>
#include <QTcpServer>
#include <QTimer>

#include <sys/socket.h>
#include <unistd.h>

#include <http_parser.h>

#include "transport/httpconnection.h"

namespace sidecar::http {

Q_LOGGING_CATEGORY(lcHttp, "sidecar.http")

namespace {

// After an accept error that paused the listener (EMFILE, ...): how long until it accepts again.
constexpr int kAcceptRetryMs = 200;

HttpServerOptions sanitized(HttpServerOptions o)
{
    o.maxHeaderBytes = std::clamp<qint64>(o.maxHeaderBytes, 256, qint64(1) << 30);
    o.maxBodyBytes = std::max<qint64>(o.maxBodyBytes, 0);
    o.maxConnections = std::max(o.maxConnections, 1);
    o.listenBacklog = std::max(o.listenBacklog, 1);
    o.maxWriteBuffer = std::max<qint64>(o.maxWriteBuffer, 4096);
    o.requestRate = std::max(o.requestRate, 0.0);
    o.requestBurst = std::max(o.requestBurst, 1.0);
    return o;
}

std::pair<QByteArray, QByteArray> plainRefusal(int status, const QString &message)
{
    Q_UNUSED(status);
    return {QByteArrayLiteral("text/plain; charset=utf-8"), message.toUtf8() + '\n'};
}

// libhttp-parser has one process-wide header limit (80 KiB by default) of its own; ours is
// checked first, so it only has to be raised, never lowered.
void raiseParserHeaderLimit(qint64 maxHeaderBytes)
{
    static qint64 current = HTTP_MAX_HEADER_SIZE;
    const qint64 wanted = maxHeaderBytes + 1024;
    if (wanted > current) {
        current = wanted;
        http_parser_set_max_header_size(uint32_t(std::min<qint64>(wanted, UINT32_MAX)));
    }
}

qint64 monotonicMs()
{
    static QElapsedTimer clock = [] {
        QElapsedTimer t;
        t.start();
        return t;
    }();
    return clock.elapsed();
}

} // namespace

QByteArray HttpRequest::header(QByteArrayView name) const
{
    for (const auto &h : headers) {
        if (QByteArrayView(h.first) == name)
            return h.second;
    }
    return {};
}

bool HttpRequest::hasHeader(QByteArrayView name) const
{
    for (const auto &h : headers) {
        if (QByteArrayView(h.first) == name)
            return true;
    }
    return false;
}

// ---- HttpResponder ------------------------------------------------------------------------------

HttpResponder::HttpResponder(Key, HttpConnection *connection) : m_connection(connection) {}

HttpResponder::~HttpResponder() = default;

void HttpResponder::connectNotify(const QMetaMethod &signal)
{
    Q_UNUSED(signal);
    m_hasReceivers = true;
}

void HttpResponder::respond(int status, const HttpHeaders &headers, const QByteArray &body)
{
    if (m_state != State::Pending) {
        if (m_state != State::Gone)
            qCWarning(lcHttp) << "respond() on a response that was already started; ignored";
        return;
    }
    if (HttpConnection *c = m_connection.data())
        c->respond(this, status, headers, body);
    else
        m_state = State::Gone;
}

void HttpResponder::beginStream(int status, const HttpHeaders &headers)
{
    if (m_state != State::Pending) {
        if (m_state != State::Gone)
            qCWarning(lcHttp) << "beginStream() on a response that was already started; ignored";
        return;
    }
    if (HttpConnection *c = m_connection.data())
        c->beginStream(this, status, headers);
    else
        m_state = State::Gone;
}

bool HttpResponder::write(const QByteArray &chunk)
{
    if (m_state != State::Streaming) {
        if (m_state == State::Pending)
            qCWarning(lcHttp) << "write() before beginStream(); ignored";
        return false;
    }
    HttpConnection *c = m_connection.data();
    return c && c->writeChunk(this, chunk);
}

void HttpResponder::end()
{
    if (m_state != State::Streaming) {
        if (m_state == State::Pending)
            qCWarning(lcHttp) << "end() before beginStream(); ignored";
        return;
    }
    if (HttpConnection *c = m_connection.data())
        c->endStream(this);
}

bool HttpResponder::isOpen() const
{
    return (m_state == State::Pending || m_state == State::Streaming) && m_connection;
}

bool HttpResponder::isStreaming() const
{
    return m_state == State::Streaming;
}

bool HttpResponder::isFinished() const
{
    return m_state == State::Finished;
}

qint64 HttpResponder::bufferedBytes() const
{
    if (m_state != State::Pending && m_state != State::Streaming)
        return 0;
    const HttpConnection *c = m_connection.data();
    return c ? c->bytesToWrite() : 0;
}

// ---- HttpServer ---------------------------------------------------------------------------------

// Hands accepted descriptors straight to the HttpServer (no QTcpSocket made just to be re-parented).
class TcpListener : public QTcpServer
{
public:
    explicit TcpListener(HttpServer *server) : QTcpServer(server), m_server(server) {}

protected:
    void incomingConnection(qintptr socketDescriptor) override
    {
        m_server->incomingConnection(socketDescriptor);
    }

private:
    HttpServer *m_server;
};

HttpServer::HttpServer(HttpServerOptions options, QObject *parent)
    : QObject(parent), m_options(sanitized(options)), m_listener(new TcpListener(this))
{
    m_refusalFormatter = plainRefusal;
    m_listener->setListenBacklogSize(m_options.listenBacklog);
    connect(m_listener, &QTcpServer::acceptError, this, &HttpServer::onAcceptError);
    raiseParserHeaderLimit(m_options.maxHeaderBytes);
}

HttpServer::~HttpServer()
{
    const QSet<HttpConnection *> connections = std::exchange(m_connections, {});
    for (HttpConnection *c : connections)
        delete c; // responders still held see disconnected()
}

bool HttpServer::listen(const QHostAddress &address, quint16 port)
{
    m_draining = false;
    return m_listener->listen(address, port);
}

quint16 HttpServer::port() const
{
    return m_listener->serverPort();
}

QHostAddress HttpServer::serverAddress() const
{
    return m_listener->serverAddress();
}

QString HttpServer::errorString() const
{
    return m_listener->errorString();
}

bool HttpServer::isListening() const
{
    return m_listener->isListening();
}

void HttpServer::setHandler(HttpHandler handler)
{
    m_handler = std::move(handler);
}

void HttpServer::setRefusalFormatter(RefusalFormatter formatter)
{
    m_refusalFormatter = formatter ? std::move(formatter) : RefusalFormatter(plainRefusal);
}

int HttpServer::connectionCount() const
{
    return int(m_connections.size());
}

void HttpServer::stopListening()
{
    m_listener->close();
    m_draining = true;
    const QSet<HttpConnection *> connections = m_connections;
    for (HttpConnection *c : connections)
        c->drain();
}

void HttpServer::closeAll()
{
    const QSet<HttpConnection *> connections = m_connections;
    for (HttpConnection *c : connections)
        c->abort();
}

void HttpServer::incomingConnection(qintptr socketDescriptor)
{
    if (m_connections.size() >= m_options.maxConnections) {
        // Over the limit: a fixed answer and an immediate close, with no object allocated.
        static const char k503[] = "HTTP/1.1 503 Service Unavailable\r\n"
                                   "Content-Length: 0\r\nRetry-After: 1\r\nConnection: close\r\n\r\n";
        const int fd = int(socketDescriptor);
        (void)::send(fd, k503, sizeof k503 - 1, MSG_DONTWAIT | MSG_NOSIGNAL);
        ::shutdown(fd, SHUT_WR);
        // Closing with unread input sends RST, which can destroy the 503 before the client reads
        // it: drop what has arrived (a request, usually) first.
        char sink[4096];
        for (int i = 0; i < 4 && ::recv(fd, sink, sizeof sink, MSG_DONTWAIT) > 0; ++i) {}
        ::close(fd);
        ++m_rejected;
        const qint64 now = monotonicMs();
        if (m_lastRejectLogMs < 0 || now - m_lastRejectLogMs >= 10000) {
            qCWarning(lcHttp).nospace() << "refusing connections: " << m_connections.size()
                                        << " open (the limit); " << m_rejected << " refused so far";
            m_lastRejectLogMs = now;
        }
        return;
    }
    auto *c = new HttpConnection(this, socketDescriptor);
    if (!c->isValid()) {
        delete c;
        return;
    }
    m_connections.insert(c);
}

void HttpServer::removeConnection(HttpConnection *connection)
{
    m_connections.remove(connection);
}

HttpServer::RateBucket HttpServer::fullBucket() const
{
    return {m_options.requestBurst, monotonicMs()};
}

bool HttpServer::admit(RateBucket &bucket, const HttpRequest &request, HttpResponder &responder)
{
    if (m_options.requestRate <= 0)
        return true;
    const qint64 now = monotonicMs();
    bucket.tokens = std::min(m_options.requestBurst,
                             bucket.tokens
                                 + double(now - bucket.refilledMs) * m_options.requestRate / 1000.0);
    bucket.refilledMs = now;
    if (bucket.tokens >= 1) {
        bucket.tokens -= 1;
        return true;
    }
    const int retryAfter = std::max(1, int(std::ceil((1 - bucket.tokens) / m_options.requestRate)));
    qCDebug(lcHttp) << "rate limit: refusing a request from" << request.peer;
    const QString message = QStringLiteral("Too many requests on this connection (at most %1 per second, "
                                           "bursts of %2): retry after %3 s.")
                                .arg(m_options.requestRate)
                                .arg(m_options.requestBurst)
                                .arg(retryAfter);
    const auto [type, body] = m_refusalFormatter(429, message);
    responder.respond(429,
                      {{QByteArrayLiteral("Content-Type"), type},
                       {QByteArrayLiteral("Retry-After"), QByteArray::number(retryAfter)}},
                      body);
    return false;
}

void HttpServer::onAcceptError()
{
    // Qt paused the listener (QTcpServer does after every accept error but EAGAIN-like ones): it
    // would never accept again by itself.
    ++m_acceptErrors;
    const qint64 now = monotonicMs();
    if (m_lastAcceptErrorLogMs < 0 || now - m_lastAcceptErrorLogMs >= 10000) {
        qCWarning(lcHttp).nospace() << "cannot accept connections: " << m_listener->errorString() << " ("
                                    << m_connections.size() << " open, " << m_acceptErrors
                                    << " failed accepts so far); trying again every " << kAcceptRetryMs
                                    << " ms";
        m_lastAcceptErrorLogMs = now;
    }
    if (m_resumeScheduled)
        return;
    m_resumeScheduled = true;
    QTimer::singleShot(kAcceptRetryMs, this, [this] {
        m_resumeScheduled = false;
        if (m_listener->isListening())
            m_listener->resumeAccepting();
    });
}

const QByteArray &HttpServer::dateLine()
{
    const std::time_t now = std::time(nullptr);
    if (now != m_dateSecond) {
        // RFC 9110 section 5.6.7, IMF-fixdate; by hand, since strftime() follows the locale.
        static const char days[7][4] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
        static const char months[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                           "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
        std::tm tm{};
        gmtime_r(&now, &tm);
        char buf[64];
        const int n = std::snprintf(buf, sizeof buf, "Date: %s, %02d %s %04d %02d:%02d:%02d GMT\r\n",
                                    days[tm.tm_wday % 7], tm.tm_mday, months[tm.tm_mon % 12],
                                    tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
        m_dateLine = QByteArray(buf, std::clamp(n, 0, int(sizeof buf) - 1));
        m_dateSecond = now;
    }
    return m_dateLine;
}

} // namespace sidecar::http
