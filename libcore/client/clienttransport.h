#pragma once

// The client side of the MCP transports (MCP 2025-11-25, "Transports"): how an McpClient reaches a
// server. A transport moves whole JSON-RPC messages (compact JSON text, one message each) and knows
// nothing of their meaning beyond what its framing needs.
//
// - ClientTransport is the seam: start(), send(), close(), and signals for what happens.
// - HttpClientTransport speaks Streamable HTTP with QNetworkAccessManager: one POST per message,
//   answers as JSON or as SSE (resumed with GET + Last-Event-ID when such a stream breaks), the
//   session's GET stream for server notifications (reconnected with backoff), session expiry.
// - StdioClientTransport launches the server as a child process and speaks newline-delimited
//   JSON-RPC on its stdin and stdout.
// - SseParser is the incremental Server-Sent Events parser the HTTP transport uses.
//
// Thread: a transport lives on the thread that created it and is used only there (it needs that
// thread's event loop). Every signal is emitted on it. Ownership: the McpClient over a transport
// owns it; a transport owns its network manager or process.

#include <QByteArray>
#include <QList>
#include <QObject>
#include <QPointer>
#include <QProcess>
#include <QProcessEnvironment>
#include <QString>
#include <QStringList>
#include <QTimer>
#include <QUrl>

#include <memory>
#include <vector>

class QNetworkAccessManager;
class QNetworkReply;
class QNetworkRequest;

namespace sidecar::client {

// A transport's life: start() -> opened() (or closed() when it cannot open: a child that cannot be
// started; HTTP opens at once and a server out of reach shows in failed requests), then messages
// both ways, then closed() exactly once per opening (also after close(), then before close()
// returns). A transport may be started again after it closed (a reconnection).
class ClientTransport : public QObject
{
    Q_OBJECT
public:
    explicit ClientTransport(QObject *parent = nullptr) : QObject(parent) {}

    // Opens the connection; opened() or closed() follows, later, never inside the call.
    virtual void start() = 0;
    // Sends one JSON-RPC message (compact JSON, no newline). While not open the message is dropped
    // and errorOccurred(its id, "not connected") follows.
    virtual void send(const QByteArray &message) = 0;
    // Closes on the client's wish; closed() is emitted before this returns (when it was open).
    virtual void close() = 0;
    virtual bool isOpen() const = 0;
    // Where this transport leads, for a status line ("http://127.0.0.1:8000/mcp", "mcp-state-sidecar").
    virtual QString endpoint() const = 0;

signals:
    void opened();
    void received(const QByteArray &message);
    // The connection is gone (the process exited, the HTTP session expired, close() was called).
    void closed(const QString &reason);
    // A failure that does not close the transport. `requestId` is the compact JSON id of the request
    // whose answer will not come because of it, or empty when no request is concerned.
    void errorOccurred(const QByteArray &requestId, const QString &message);
    // HTTP: the server cannot be reached right now; the transport keeps trying on its own and keeps
    // the session (resumed() when it is back). Never emitted by a transport that has no such state.
    void interrupted(const QString &reason);
    void resumed();
};

// Server-Sent Events, incrementally (WHATWG HTML, "Interpreting an event stream"): feed bytes
// as they arrive, get every event completed so far. Lines end with CRLF, LF or CR; comments are
// skipped; `id` updates lastEventId() even for events without data (MCP's priming events).
class SseParser
{
public:
    struct Event
    {
        QByteArray id;   // the last event id when the event was dispatched
        QByteArray type; // empty: "message"
        QByteArray data; // the data lines joined with '\n'
    };

    // The events completed by these bytes (events whose data buffer stayed empty are not
    // dispatched, as the standard says, but their id counts).
    QList<Event> feed(const QByteArray &bytes);
    QByteArray lastEventId() const { return m_lastEventId; }
    // The server's `retry` hint in milliseconds, or -1.
    int retryMs() const { return m_retryMs; }
    // Comment lines seen (keep-alives).
    int comments() const { return m_comments; }
    // Forgets a half-received line and event (the connection broke), keeping lastEventId() and
    // retryMs() for the stream's continuation.
    void restart();

private:
    void processLine(QByteArrayView line, QList<Event> &out);

    QByteArray m_buffer;   // bytes of an unfinished line (no line end in them)
    bool m_skipLf = false; // the last line ended with CR: a following LF belongs to it
    QByteArray m_data;
    QByteArray m_type;
    bool m_hasData = false;
    QByteArray m_idBuffer; // set by `id`, becomes lastEventId() when the event is dispatched
    QByteArray m_lastEventId;
    int m_retryMs = -1;
    int m_comments = 0;
};

// MCP Streamable HTTP (2025-11-25, "Transports: Streamable HTTP"), client side.
//
// Every message is a POST to the endpoint with Content-Type application/json and Accept
// "application/json, text/event-stream"; after initialize also Mcp-Session-Id (from the initialize
// answer) and MCP-Protocol-Version (from its result); Authorization: Bearer when a token is given.
// An answer is a JSON body, an SSE stream (parsed as it arrives; a stream that breaks before the
// answer and had an event id is resumed with GET + Last-Event-ID), or 202 (no answer). Once
// notifications/initialized is accepted, the GET stream is opened for server-initiated messages and
// reopened with backoff (250 ms doubling to 10 s) and the last event's id whenever it ends; 405
// means the server offers none. A 404 to a message carrying the session id means the session is
// gone: closed("session expired"), and the client initializes anew. Other HTTP errors are reported
// with errorOccurred() with their status and body text. While the GET stream cannot be reopened
// (the server is away) the transport is interrupted(), and resumed() once it is back with the
// session. close() ends the session with DELETE.
//
// QNetworkAccessManager keeps HTTP/1.1 keep-alive connections (HTTP/2 is not asked for) and runs up
// to six requests at once per host; more wait for a connection.
class HttpClientTransport : public ClientTransport
{
    Q_OBJECT
public:
    explicit HttpClientTransport(QUrl url, QByteArray bearerToken = {}, QObject *parent = nullptr);
    ~HttpClientTransport() override;

    void start() override;
    void send(const QByteArray &message) override;
    void close() override;
    bool isOpen() const override { return m_open; }
    QString endpoint() const override { return m_url.toString(); }

    QUrl url() const { return m_url; }
    QByteArray sessionId() const { return m_sessionId; }
    QByteArray protocolVersion() const { return m_protocolVersion; }
    // The GET stream is open (its response head arrived).
    bool isStreamOpen() const { return m_streamOpen; }

private:
    struct Exchange; // one POST and, when its SSE stream broke, the GETs resuming it

    QNetworkRequest baseRequest(const QByteArray &accept) const;
    void watch(QNetworkReply *reply, const std::shared_ptr<Exchange> &exchange);
    void onExchangeData(QNetworkReply *reply, const std::shared_ptr<Exchange> &exchange);
    void onExchangeFinished(QNetworkReply *reply, const std::shared_ptr<Exchange> &exchange);
    void resumeExchange(const std::shared_ptr<Exchange> &exchange, const QString &why);
    // Hands one message up; false when the transport closed meanwhile (the caller stops).
    bool deliver(const std::shared_ptr<Exchange> &exchange, const QByteArray &message, bool fromStream);
    void failExchange(const std::shared_ptr<Exchange> &exchange, const QString &message);

    void openStream();
    void onStreamData();
    void onStreamFinished();
    void scheduleStream(bool failed, const QString &reason);

    void expire();
    void abortAll();
    void forget(QNetworkReply *reply);

    QUrl m_url;
    QByteArray m_token;
    QNetworkAccessManager *m_nam = nullptr; // child
    bool m_open = false;
    quint64 m_generation = 0; // bumped by start() and close(): late callbacks of an old opening are dropped
    QByteArray m_sessionId;
    QByteArray m_protocolVersion;
    QByteArray m_initializeId;                      // compact id of the initialize request in flight
    std::vector<QPointer<QNetworkReply>> m_replies; // everything in flight, aborted by close()

    // The GET stream.
    QPointer<QNetworkReply> m_stream;
    SseParser m_streamParser;
    bool m_streamOpen = false;
    bool m_streamWanted = false; // after notifications/initialized, until close or 405
    bool m_interrupted = false;
    QByteArray m_lastEventId;
    int m_streamBackoffMs = 0;
    int m_streamRetryMs = -1; // the server's last `retry` hint on the GET stream
    QTimer m_streamTimer;
};

// MCP stdio (2025-11-25, "Transports: stdio"), client side: the server runs as a child process;
// messages are lines on its stdin and stdout; its stderr is collected (the last lines explain an
// exit). closed() follows the child's exit with its exit code and the tail of its stderr. close()
// closes the child's stdin (a clean end for the server), waits briefly, then terminates and, if need
// be, kills it, always through its own process handle.
class StdioClientTransport : public ClientTransport
{
    Q_OBJECT
public:
    StdioClientTransport(QString program, QStringList arguments,
                         QProcessEnvironment environment = QProcessEnvironment::systemEnvironment(),
                         QObject *parent = nullptr);
    ~StdioClientTransport() override;

    void start() override;
    void send(const QByteArray &message) override;
    void close() override;
    bool isOpen() const override { return m_open; }
    QString endpoint() const override { return m_program; }

    // The child's PID while it runs, else 0.
    qint64 processId() const { return m_process.processId(); }
    // The last lines the child wrote to stderr (at most `lines`), oldest first.
    QString stderrTail(int lines = 10) const;
    // The child's working directory (default: this process's).
    void setWorkingDirectory(const QString &directory) { m_process.setWorkingDirectory(directory); }

private:
    void onStdout();
    void onStderr();
    void onFinished(int exitCode, QProcess::ExitStatus status);
    void onError(QProcess::ProcessError error);
    void emitClosed(const QString &reason);
    // Ends a child that still runs: stdin closed already; waits, then SIGTERM, then SIGKILL.
    void stopChild();

    QString m_program;
    QStringList m_arguments;
    QProcessEnvironment m_environment;
    QProcess m_process;
    QByteArray m_stdoutBuffer;
    qsizetype m_stdoutScanned = 0; // leading bytes of m_stdoutBuffer known to hold no '\n'
    QByteArray m_stderr;           // the newest bytes only
    bool m_open = false;
    bool m_active = false;  // started and closed() not yet emitted
    bool m_closing = false; // close() is ending the child
    bool m_inStart = false;
};

} // namespace sidecar::client
