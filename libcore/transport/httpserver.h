#pragma once

// A small HTTP/1.1 server on QTcpServer and Debian's libhttp-parser, in place of QHttpServer 6.4
// (PLATFORM.md, "QHttpServer 6.4.2 is not fit for this server"). It knows nothing of MCP: every
// request goes to one handler, which answers through an HttpResponder, at once or later, with one
// fixed response or a stream (SSE).
//
// Connections (RFC 9112 section 9): keep-alive by default on HTTP/1.1, `Connection: close` honoured,
// HTTP/1.0 closes after the response unless it asked for keep-alive. A connection parses its next
// request only after the current response has finished, so pipelined requests are answered in
// order; it follows that a streaming response holds its connection until end(), and a request sent
// behind it on the same connection waits (clients open another connection for concurrent calls).
//
// Limits, each answered once and followed by a close: request line + headers over maxHeaderBytes
// -> 431; a body over maxBodyBytes -> 413 (before reading it when Content-Length says so; no
// `100 Continue` then); a malformed request, a negative, invalid or repeated Content-Length, or
// Content-Length with Transfer-Encoding, an HTTP/1.1 request without Host -> 400; HTTP/2 or later
// (or 0.9) -> 505; a request whose headers did not arrive within headerTimeoutMs of its first byte
// -> 408; a whole request (line, headers and body) that did not arrive within requestTimeoutMs of
// its first byte -> 408 (a body trickled in a byte at a time would otherwise keep resetting the
// idle timeout). Connections beyond maxConnections are answered 503 and closed at once. Any method
// token reaches the handler, also those libhttp-parser does not know (405/501 is the handler's
// call). Warnings go to the logging category "sidecar.http"; refused requests are logged at debug
// level.
//
// Rate: each connection may send requestRate requests per second on average, in bursts of up to
// requestBurst (a token bucket); a request beyond is not given to the handler but answered 429
// with Retry-After, in the format setRefusalFormatter() chose, and the connection stays open.
//
// Accepting: Qt pauses a QTcpServer after an accept error other than a temporary one (EMFILE when
// the process is out of descriptors, ENFILE, ENOBUFS); the server logs it and resumes accepting
// after a short pause, so that it does not stop accepting for good once descriptors free up.
//
// Not supported: upgrades (an Upgrade header is ignored, CONNECT is answered by the handler and the
// connection then closed), trailers (read and dropped), and clients that half-close after sending
// (QTcpSocket treats end of input as a disconnect; no common HTTP client does this).
//
// Thread: every object here lives on the thread that created the HttpServer and is used only there.
// Ownership: the server owns its connections; a responder is shared by the handler and its
// connection (std::shared_ptr) and outlives the connection when the handler keeps it.

#include <functional>
#include <memory>
#include <utility>

#include <QByteArray>
#include <QByteArrayView>
#include <QHash>
#include <QHostAddress>
#include <QList>
#include <QObject>
#include <QPointer>
#include <QSet>
#include <QString>

namespace sidecar::http {

class HttpConnection;
class TcpListener;

// What the operator can set (server/config.h: SIDECAR_HTTP_*), plus the body and write-buffer caps.
// A timeout <= 0 disables it.
struct HttpServerOptions
{
    // Request line + headers; more -> 431.
    qint64 maxHeaderBytes = 16384;
    // A larger Content-Length -> 413 without reading the body; chunked bodies counted as they come.
    qint64 maxBodyBytes = qint64(3) << 20;
    // Open connections (including ones closing); beyond: 503 and close.
    int maxConnections = 1024;
    // A keep-alive connection with nothing in progress; also a body or output that stops moving.
    int idleTimeoutMs = 60000;
    // The first byte of a request to the end of its headers (slowloris); also the first byte of a
    // new connection when shorter than idleTimeoutMs.
    int headerTimeoutMs = 10000;
    // QTcpServer::setListenBacklogSize: Qt's default of 50 is too small for bursts of connects.
    int listenBacklog = 1024;
    // Per connection: a stream whose unsent bytes pass this is cut off.
    qint64 maxWriteBuffer = qint64(8) << 20;
    // The first byte of a request to its last (line, headers and body); a request still arriving
    // then -> 408. Time between requests and time the handler takes do not count.
    int requestTimeoutMs = 30000;
    // Per connection: requests per second on average (<= 0: no limit) and the burst allowed above
    // it; beyond -> 429. Far above what one connection of an agent or a benchmark sends (one
    // connection calling state_get back to back: about 15000 per second on a 2-core machine).
    double requestRate = 100000;
    double requestBurst = 200000;
};

using HttpHeaders = QList<std::pair<QByteArray, QByteArray>>;

// One parsed request. The handler receives a reference that is valid during its call only: copy
// what it needs later.
struct HttpRequest
{
    QByteArray method;    // as sent: "GET", "PATCH", "BREW"
    QByteArray target;    // "/mcp?x=1" as sent (no percent-decoding anywhere)
    QByteArray path;      // "/mcp"
    QByteArray query;     // "x=1" (without '?'), empty if none
    int versionMinor = 1; // HTTP/1.x
    HttpHeaders headers;  // names lower-cased, values trimmed, in the order received; repeats kept
    QByteArray body;      // de-chunked
    QHostAddress peer;

    // The first value of a header, or empty; `name` in lower case.
    QByteArray header(QByteArrayView name) const;
    bool hasHeader(QByteArrayView name) const;
};

// One response to one request: either respond() once, or beginStream(), write()..., end().
// The server writes the framing headers itself (Content-Length, Transfer-Encoding, Connection, and
// Date unless given); the handler's own headers of the first three names are dropped. Responses to
// HEAD carry no body; 204 and 304 carry neither body nor Content-Length.
//
// Lifetime: as long as someone holds it, even after the client went away; then every call is a
// no-op, isOpen() is false and disconnected() has been (or is about to be) emitted. Signals are
// never emitted from inside a call to this object, so a slot may call write() or drop the last
// reference freely. Once finished and released by the handler, the connection may recycle it for
// its next request. Thread: the server's thread.
class HttpResponder : public QObject
{
    Q_OBJECT
    struct Key
    {
        explicit Key() = default;
    };

public:
    HttpResponder(Key, HttpConnection *connection); // made by the connection only

    ~HttpResponder() override;

    void respond(int status, const HttpHeaders &headers, const QByteArray &body);
    // Status and headers now, then the body in pieces: chunked on HTTP/1.1, delimited by closing the
    // connection on HTTP/1.0. The connection serves nothing else until end().
    void beginStream(int status, const HttpHeaders &headers);
    // False when the client is gone, or when this write took the connection's unsent bytes past
    // maxWriteBuffer: the connection is then closed (a reader that does not read is cut off).
    bool write(const QByteArray &chunk);
    void end();

    bool isOpen() const;      // the client is connected and the response not finished
    bool isFinished() const;  // respond() or end() completed
    bool isStreaming() const; // beginStream() done, end() not yet
    // Bytes queued on the connection and not yet taken by the kernel, while this response is active.
    qint64 bufferedBytes() const;

signals:
    // The client went away (or was cut off) before the response finished. Emitted once, queued.
    void disconnected();
    // Output that had to wait (bufferedBytes() > 0) was sent; a streamer may refill. Emitted from the
    // event loop while streaming. Output goes straight to the kernel when it can, so a streamer that
    // finds bufferedBytes() == 0 after write() should not wait for this.
    void bytesWritten();

protected:
    void connectNotify(const QMetaMethod &signal) override;

private:
    friend class HttpConnection;
    enum class State { Pending, Streaming, Finished, Gone };

    QPointer<HttpConnection> m_connection;
    State m_state = State::Pending;
    bool m_hasReceivers = false; // someone connected: disconnect before the responder is recycled
};

// Called once per request, on the server's thread; the request reference dies with the call.
using HttpHandler = std::function<void(const HttpRequest &, std::shared_ptr<HttpResponder>)>;

// The body of an answer the server gives on its own (429 over the rate limit), in the
// application's error format: {content type, body}. `message` is one sentence for a human.
using RefusalFormatter = std::function<std::pair<QByteArray, QByteArray>(int status, const QString &message)>;

// The listener and its connections. Shutdown: stopListening() (no new connections; idle keep-alive
// connections close, busy ones close after their current response), then closeAll().
class HttpServer : public QObject
{
    Q_OBJECT
public:
    explicit HttpServer(HttpServerOptions options, QObject *parent = nullptr);
    ~HttpServer() override;

    // Port 0: any free port (see port()). False with errorString() on failure.
    bool listen(const QHostAddress &address, quint16 port);
    quint16 port() const;
    QHostAddress serverAddress() const;
    QString errorString() const;
    bool isListening() const;

    // Without a handler every request is answered 404.
    void setHandler(HttpHandler handler);
    // Without one, the server's own refusals are text/plain.
    void setRefusalFormatter(RefusalFormatter formatter);

    int connectionCount() const;
    const HttpServerOptions &options() const { return m_options; }

    void stopListening();
    // Closes every connection at once; responders still held see disconnected().
    void closeAll();

private:
    friend class HttpConnection;
    friend class TcpListener;

    // A connection's request budget: refilled at requestRate per second, up to requestBurst.
    struct RateBucket
    {
        double tokens = 0;
        qint64 refilledMs = 0; // steady-clock ms
    };

    void incomingConnection(qintptr socketDescriptor);
    void removeConnection(HttpConnection *connection);
    // Takes one request from the connection's bucket: true when the request may go on; otherwise
    // it has answered 429 with Retry-After.
    bool admit(RateBucket &bucket, const HttpRequest &request, HttpResponder &responder);
    // A new connection's bucket: full.
    RateBucket fullBucket() const;
    void onAcceptError();
    // "Date: <IMF-fixdate>\r\n", recomputed once per second.
    const QByteArray &dateLine();

    const HttpServerOptions m_options;
    HttpHandler m_handler;
    RefusalFormatter m_refusalFormatter;
    TcpListener *m_listener = nullptr;
    QSet<HttpConnection *> m_connections;
    bool m_resumeScheduled = false;
    qint64 m_lastAcceptErrorLogMs = -1;
    qint64 m_acceptErrors = 0;
    bool m_draining = false;
    qint64 m_dateSecond = -1;
    QByteArray m_dateLine;
    qint64 m_rejected = 0; // connections refused over maxConnections, for the log
    qint64 m_lastRejectLogMs = -1;
};

} // namespace sidecar::http
