#pragma once

// One accepted TCP connection of an HttpServer: parses requests with libhttp-parser, hands each to
// the handler, and writes the response its HttpResponder produces. Internal to httpserver.cpp.
//
// Flow: bytes are fed to the parser until a request is complete; the parser is then paused
// (http_parser_pause) and the request dispatched. Nothing more is parsed until that response has
// finished, which keeps pipelined responses in request order; the bytes behind it wait in m_in
// and in the socket's bounded read buffer, and parsing resumes from a queued call (never from
// inside a responder call, so a handler is never re-entered by the next request).
//
// Timing: one QBasicTimer per connection, re-armed lazily: m_deadline moves freely and the timer,
// when it fires early, sleeps again for the rest; it is restarted only when the deadline moves
// earlier than the timer's expiry (a request whose headers arrive in pieces). While a response is
// outstanding there is no deadline at all.
//
// Closing: after a response marked `Connection: close`, an error answer or a timeout, the output
// drains, the write side is shut down (FIN), and input is read and dropped until the client closes
// or a short linger passes; closing at once with unread input would reset the connection (RST) and
// could destroy the answer before the client reads it.
//
// Output: straight to the kernel while nothing waits in the socket's buffer (see queue()).
//
// Thread: the server's thread. Ownership: the server's child; deleted (deleteLater) once its
// socket disconnects; holds the current responder, which the handler may share.

#include <memory>

#include <QBasicTimer>
#include <QByteArray>
#include <QLoggingCategory>
#include <QObject>

#include <http_parser.h>

#include "transport/httpserver.h"

class QTcpSocket;

namespace sidecar::http {

Q_DECLARE_LOGGING_CATEGORY(lcHttp) // "sidecar.http"

class HttpConnection : public QObject
{
    Q_OBJECT
public:
    HttpConnection(HttpServer *server, qintptr socketDescriptor);
    ~HttpConnection() override;

    bool isValid() const { return m_mode != Mode::Dead; }
    // Server shutdown: close now if idle, else after the current response.
    void drain();
    // Drops the connection at once (closeAll).
    void abort();

    // For HttpResponder.
    void respond(HttpResponder *responder, int status, const HttpHeaders &headers, const QByteArray &body);
    void beginStream(HttpResponder *responder, int status, const HttpHeaders &headers);
    bool writeChunk(HttpResponder *responder, const QByteArray &chunk);
    void endStream(HttpResponder *responder);
    qint64 bytesToWrite() const;

protected:
    void timerEvent(QTimerEvent *event) override;

private:
    enum class Mode { Open, Closing, Lingering, Dead };
    // Open connections only: where the current request is.
    enum class Phase { Idle, Headers, Body, Handling };

    // http_parser callbacks (ParserCallbacks in the .cpp forwards to these).
    int onMessageBegin();
    int onUrl(const char *at, size_t length);
    int onHeaderField(const char *at, size_t length);
    int onHeaderValue(const char *at, size_t length);
    int onHeadersComplete();
    int onBody(const char *at, size_t length);
    int onMessageComplete();
    int refuse(int status); // from a callback: stop the parser, answer `status`
    friend struct ParserCallbacks;

    void onReadyRead();
    void onBytesWritten(qint64 bytes);
    void onDisconnected();

    bool readMore();
    void processInput();
    void scheduleProcessInput();
    bool scanMethodToken(); // false: the method token is not complete yet
    bool retryWithUnknownMethod();
    void dispatch();
    void splitTarget();
    void failRequest(int status);

    enum class Framing { None, Length, Chunked };
    // The status line, the handler's headers (minus framing ones), Date, framing and Connection.
    // The view is into m_head, valid until the next call.
    QByteArrayView buildHead(int status, const HttpHeaders &headers, Framing framing, qint64 contentLength);
    void queue(QByteArrayView head, const QByteArray &payload = QByteArray(), QByteArrayView tail = {});
    void flushIfIdle();
    void responseFinished();
    void startClosing();
    void checkShutdown();
    void releaseResponder(); // the client is gone: the responder becomes a no-op
    void teardown();

    void setDeadline(qint64 now, qint64 deadline);
    void updateInputDeadline();
    void onDeadline(qint64 now);

    HttpServer *m_server;
    QTcpSocket *m_socket;
    http_parser m_parser;
    Mode m_mode = Mode::Open;
    Phase m_phase = Phase::Idle;

    QByteArray m_in; // bytes read from the socket, parsed up to m_inPos
    qsizetype m_inPos = 0;

    HttpRequest m_request;
    QByteArray m_field;          // the header name being received, lower-cased
    bool m_lastWasValue = false; // a field callback after a value callback starts a new header
    qint64 m_headerBytes = 0;    // the request line and headers, as counted by the callbacks
    int m_errorStatus = 0;       // set by refuse()
    bool m_methodScanned = false;
    qsizetype m_methodTokenStart = -1; // in m_in, the scanned method token
    qsizetype m_methodTokenEnd = -1;
    bool m_methodRetried = false;
    bool m_methodOverride = false; // the request's method is m_unknownMethod
    QByteArray m_unknownMethod;
    bool m_keepAlive = true;
    bool m_isHead = false;

    QByteArray m_head;                          // response heads are built here
    std::shared_ptr<HttpResponder> m_responder; // the current (or last) request's
    bool m_closeAfterResponse = false;
    bool m_chunked = false;      // the current stream is chunk-framed (else close-delimited)
    bool m_suppressBody = false; // HEAD, 204, 304

    bool m_processing = false; // inside processInput(): output is flushed at its end
    bool m_processScheduled = false;
    bool m_flushing = false; // inside our own flush(): its bytesWritten is not the event loop's

    QBasicTimer m_timer;
    qint64 m_deadline = 0;    // steady-clock ms; 0: none
    qint64 m_timerExpiry = 0; // when m_timer fires, if active
    bool m_headerDeadlineSet = false;
    quint64 m_writeProgress = 0; // bytes the kernel took
    quint64 m_writeMark = 0;     // m_writeProgress when the deadline was set
};

} // namespace sidecar::http
