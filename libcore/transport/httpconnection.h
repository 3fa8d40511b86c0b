#pragma once

// One accepted TCP connection of an HttpServer: reads requests into an HttpRequestParser
// (libhttp-parser), hands each to the handler, and writes the response its HttpResponder produces.
// Internal to httpserver.cpp.
//
// Flow: bytes are fed to the parser until a request is complete; the request is then dispatched.
// Nothing more is parsed until that response has finished, which keeps pipelined responses in
// request order; the bytes behind it wait in the parser's buffer and in the socket's bounded read
// buffer, and parsing resumes from a queued call (never from inside a responder call, so a handler
// is never re-entered by the next request).
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

#include "transport/httprequestparser.h"
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
    using Phase = HttpRequestParser::Phase; // Complete: the request is being handled

    void onReadyRead();
    void onBytesWritten(qint64 bytes);
    void onDisconnected();

    bool readMore();
    void processInput();
    void scheduleProcessInput();
    void dispatch();
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
    HttpServer::RateBucket m_bucket;
    QTcpSocket *m_socket;
    HttpRequestParser m_parser;
    Mode m_mode = Mode::Open;

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
    qint64 m_requestStartMs = 0; // the first byte of the request being received; 0: none
    quint64 m_writeProgress = 0; // bytes the kernel took
    quint64 m_writeMark = 0;     // m_writeProgress when the deadline was set
};

} // namespace sidecar::http
