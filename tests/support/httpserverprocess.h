#pragma once

// The real server binary over real HTTP, for tests of the Streamable HTTP transport:
//
// - HttpServerProcess starts $SIDECAR_BIN (set by CTest) with `--transport http --host 127.0.0.1
//   --port 0 --db-path <file>` plus the test's arguments, reads the port the OS chose from its
//   stderr line `serving MCP at http://127.0.0.1:<port>/mcp`, and stops it by its own PID
//   (SIGTERM, then SIGKILL) when asked or when it goes away. stderr goes to a file, so a test that
//   blocks on a socket never blocks the server on a full pipe.
// - HttpConnection is one client TCP connection speaking HTTP/1.1 synchronously (blocking waits,
//   no event loop needed), with exactly the headers the test gives: send a request, read one
//   response whole, or read its head and then its Server-Sent Events one by one. A test keeps
//   several open at once (a long poll parked on one while it calls on another).
// - McpHttpClient is one MCP session: initialize (keeping Mcp-Session-Id and the negotiated
//   version), then requests and tool calls with the session's headers, each on a connection of
//   its own, answered as JSON or as SSE.
//
// Thread: the test's main thread. Nothing here needs a running event loop.

#include <QByteArray>
#include <QList>
#include <QProcess>
#include <QProcessEnvironment>
#include <QString>
#include <QStringList>
#include <QTcpSocket>
#include <QTemporaryDir>

#include <memory>
#include <optional>
#include <utility>

#include "protocol/json.h"

namespace sidecar::test {

using HeaderList = QList<std::pair<QByteArray, QByteArray>>;

struct HttpReply
{
    int status = 0;      // 0: no response
    QByteArray reason;
    HeaderList headers;  // names lower-cased, values trimmed, in order
    QByteArray body;     // de-chunked
    bool chunked = false;

    QByteArray header(QByteArrayView name) const; // the first value, or empty
    QList<QByteArray> headerValues(QByteArrayView name) const;
    bool hasHeader(QByteArrayView name) const;
    // The media type without parameters, lower-cased ("application/json").
    QByteArray mediaType() const;
    // For failure messages: status line, headers and (the start of) the body.
    QString describe() const;
};

struct SseEvent
{
    QByteArray id;
    bool hasId = false;
    QByteArray event; // empty: "message"
    QByteArray data;  // data lines joined with '\n'
    bool hasData = false;
    int retry = -1;
};

// Every event of a complete SSE body (comments skipped).
QList<SseEvent> parseSse(const QByteArray &body);

class HttpConnection;

// The next event of a streamed body that carries data (priming events and keep-alive comments are
// skipped); nullopt at the end of the body or when none came within timeoutMs.
std::optional<SseEvent> nextDataEvent(HttpConnection &stream, int timeoutMs);

class HttpConnection
{
public:
    explicit HttpConnection(quint16 port, const QString &host = QStringLiteral("127.0.0.1"));
    ~HttpConnection();
    HttpConnection(const HttpConnection &) = delete;
    HttpConnection &operator=(const HttpConnection &) = delete;

    bool connectToServer(int timeoutMs = 10000);
    bool isConnected() const;

    // Writes a request: the request line, `Host`, the given headers as given, and Content-Length
    // when there is a body (or the method is POST/PUT/PATCH). No other header is added.
    bool send(const QByteArray &method, const QByteArray &target, const HeaderList &headers,
              const QByteArray &body = {});
    bool sendRaw(const QByteArray &bytes);

    // One whole response (Content-Length, chunked, or until the server closes); nullopt when
    // none arrived within timeoutMs (errorString() says what was received).
    std::optional<HttpReply> readResponse(int timeoutMs = 30000);
    // Status line and headers only; the body is then read with nextEvent() / readBodyUntilEnd().
    std::optional<HttpReply> readHead(int timeoutMs = 30000);
    // The next SSE event of the body whose head readHead() returned (comments are counted and
    // skipped); nullopt on timeout or at the end of the body.
    std::optional<SseEvent> nextEvent(int timeoutMs);
    // True once the body's end arrived (last chunk, or the connection closed).
    bool bodyEnded() const { return m_bodyEnded; }
    // Waits for the end of the body (false on timeout); what remains unread is returned in *rest.
    bool waitForBodyEnd(int timeoutMs, QByteArray *rest = nullptr);
    // SSE comment lines (": keep-alive") seen so far.
    int comments() const { return m_comments; }

    // True once the server closed the connection (waits up to timeoutMs for it).
    bool waitForDisconnected(int timeoutMs);
    // Resets the connection (RST where the kernel can): the client vanishes.
    void abort();
    QString errorString() const { return m_error; }

private:
    bool readMore(int timeoutMs); // false: timeout or closed without new bytes
    bool parseHead(HttpReply *out);
    void decodeBody();            // m_raw -> m_body, per the head's framing

    QTcpSocket m_socket;
    quint16 m_port;
    QString m_host;
    QByteArray m_raw;   // bytes received and not yet consumed
    QByteArray m_body;  // de-chunked body bytes not yet consumed (streaming)
    bool m_closed = false;
    bool m_headRequest = false; // the last request was HEAD: its response has no body
    // The response whose body is being streamed.
    bool m_streaming = false;
    bool m_chunked = false;
    qint64 m_remaining = -1; // Content-Length left; -1: until close
    qint64 m_chunkLeft = -1; // bytes left in the current chunk; -1: expecting a size line
    bool m_bodyEnded = false;
    int m_comments = 0;
    QString m_error;
};

// One request on a fresh connection (closed afterwards); a reply with status 0 when none came.
HttpReply httpRequest(quint16 port, const QByteArray &method, const QByteArray &target, const HeaderList &headers = {},
                      const QByteArray &body = {}, int timeoutMs = 30000);

class HttpServerProcess
{
public:
    HttpServerProcess();
    ~HttpServerProcess();
    HttpServerProcess(const HttpServerProcess &) = delete;
    HttpServerProcess &operator=(const HttpServerProcess &) = delete;

    // Starts the server and waits for its port. `dbPath` empty: a fresh file in a temporary
    // directory. `program` empty: $SIDECAR_BIN with `--transport http`; otherwise that binary
    // (e.g. httpBinary()) without --transport. False with errorString() when it does not serve.
    bool start(const QStringList &extraArguments = {}, const QString &dbPath = {},
               const QProcessEnvironment &env = QProcessEnvironment::systemEnvironment(), int timeoutMs = 30000,
               const QString &program = {});
    // <directory of $SIDECAR_BIN>/mcp-state-sidecar-http
    static QString httpBinary();

    quint16 port() const { return m_port; }
    QString dbPath() const { return m_dbPath; }
    qint64 pid() const { return m_process.processId(); }
    bool isRunning() const { return m_process.state() != QProcess::NotRunning; }

    void terminate(); // SIGTERM to our PID
    void kill();      // SIGKILL to our PID
    bool waitForExit(int timeoutMs = 30000);
    int exitCode() const { return m_process.exitCode(); }
    QProcess::ExitStatus exitStatus() const { return m_process.exitStatus(); }

    QByteArray stderrText() const; // everything logged so far
    QString errorString() const { return m_error; }

private:
    QProcess m_process;
    QTemporaryDir m_dir;
    QString m_stderrPath;
    QString m_dbPath;
    quint16 m_port = 0;
    QString m_error;
};

// One MCP session over Streamable HTTP.
class McpHttpClient
{
public:
    explicit McpHttpClient(quint16 port);

    // POST initialize without a session, keep its Mcp-Session-Id and version, then POST
    // notifications/initialized (202). False with errorString() on any problem.
    bool initialize(const QByteArray &version = "2025-11-25");
    QByteArray sessionId() const { return m_sessionId; }
    void setSessionId(const QByteArray &id) { m_sessionId = id; }
    QByteArray protocolVersion() const { return m_version; }
    const HttpReply &initializeReply() const { return m_initializeReply; }
    // Mcp-Session-Id and MCP-Protocol-Version when known, and Authorization with a bearer token.
    HeaderList sessionHeaders() const;
    // Sends `Authorization: Bearer <token>` with every request from now on (initialize included).
    void setBearerToken(const QByteArray &token) { m_token = token; }

    // POST `body` to /mcp with Content-Type and Accept (both types unless `extra` sets Accept),
    // the session's headers, and `extra`.
    HttpReply post(const QByteArray &body, const HeaderList &extra = {}, int timeoutMs = 30000);
    // A request with a fresh id; the answer from a JSON or an SSE body (nullopt on any problem,
    // errorString() says which).
    std::optional<json::Document> request(const QString &method, const QByteArray &paramsJson = {},
                                          int timeoutMs = 30000);
    std::optional<json::Document> call(const QString &tool, const QByteArray &argumentsJson, int timeoutMs = 30000);
    // Sends a request on a connection of its own and returns it without waiting for the answer
    // (read it with readResponse()); nullptr when it could not be sent.
    std::unique_ptr<HttpConnection> startRequest(const QString &method, const QByteArray &paramsJson = {},
                                                 const HeaderList &extra = {});
    std::unique_ptr<HttpConnection> startCall(const QString &tool, const QByteArray &argumentsJson,
                                              const HeaderList &extra = {});
    // GET /mcp (Accept: text/event-stream, the session's headers, Last-Event-ID when given);
    // returns the connection after the response head, which goes to *head.
    std::unique_ptr<HttpConnection> openStream(HttpReply *head, const QByteArray &lastEventId = {},
                                               int timeoutMs = 30000);
    // DELETE /mcp with the session's headers; the reply.
    HttpReply deleteSession();

    QByteArray requestBody(const QString &method, const QByteArray &paramsJson, qint64 id) const;
    qint64 nextId() { return ++m_lastId; }
    quint16 port() const { return m_port; }
    QString errorString() const { return m_error; }

private:
    quint16 m_port;
    QByteArray m_sessionId;
    QByteArray m_version;
    HttpReply m_initializeReply;
    QByteArray m_token;
    qint64 m_lastId = 0;
    QString m_error;
};

// The JSON-RPC message a POST reply carries: the body when it is application/json, the data of
// its first message event when it is text/event-stream; nullopt otherwise.
std::optional<json::Document> jsonRpcAnswer(const HttpReply &reply);

// "{\"name\":...,\"arguments\":...}" for tools/call.
QByteArray toolCallParams(const QString &tool, const QByteArray &argumentsJson);

} // namespace sidecar::test
