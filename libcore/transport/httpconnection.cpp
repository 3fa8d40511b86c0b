#include "transport/httpconnection.h"

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <climits>
#include <cstring>
#include <string_view>

#include <QHostAddress>
#include <QMetaObject>
#include <QTcpSocket>
#include <QTimerEvent>

#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

namespace sidecar::http {

namespace {

// Qt's read buffer per socket. It bounds what a client costs while its response is outstanding
// (nothing is read from Qt then): past this, Qt stops reading and TCP pushes back.
constexpr qint64 kReadBufferSize = 64 * 1024;
// After our FIN: how long unread input is drained while the client reads the answer and closes.
constexpr int kLingerMs = 2000;
qint64 nowMs()
{
    using namespace std::chrono;
    return duration_cast<milliseconds>(steady_clock::now().time_since_epoch()).count();
}

bool hasLineBreak(const QByteArray &s)
{
    return std::memchr(s.constData(), '\r', size_t(s.size()))
           || std::memchr(s.constData(), '\n', size_t(s.size()));
}

} // namespace

HttpConnection::HttpConnection(HttpServer *server, qintptr socketDescriptor)
    : QObject(server), m_server(server), m_bucket(server->fullBucket()), m_socket(new QTcpSocket(this)),
      m_parser(server->options().maxHeaderBytes, server->options().maxBodyBytes)
{
    if (!m_socket->setSocketDescriptor(socketDescriptor)) {
        qCWarning(lcHttp) << "cannot adopt an accepted socket:" << m_socket->errorString();
        ::close(int(socketDescriptor));
        m_mode = Mode::Dead;
        return;
    }
    m_socket->setSocketOption(QAbstractSocket::LowDelayOption, 1); // small SSE events must not wait for ACKs
    m_socket->setReadBufferSize(kReadBufferSize);
    m_parser.request().peer = m_socket->peerAddress();
    connect(m_socket, &QTcpSocket::readyRead, this, &HttpConnection::onReadyRead);
    connect(m_socket, &QTcpSocket::bytesWritten, this, &HttpConnection::onBytesWritten);
    connect(m_socket, &QTcpSocket::disconnected, this, &HttpConnection::onDisconnected);

    // A new connection gets the shorter of the two timeouts to send its first byte, so that idle
    // connects cannot hold connection slots for the whole idle timeout.
    const HttpServerOptions &o = m_server->options();
    int first = o.idleTimeoutMs;
    if (o.headerTimeoutMs > 0 && (first <= 0 || o.headerTimeoutMs < first))
        first = o.headerTimeoutMs;
    if (first > 0) {
        const qint64 now = nowMs();
        setDeadline(now, now + first);
    }
}

HttpConnection::~HttpConnection()
{
    m_socket->disconnect(this);
    if (m_mode != Mode::Dead) {
        m_mode = Mode::Dead;
        releaseResponder();
    }
}

void HttpConnection::drain()
{
    if (m_mode == Mode::Open && m_parser.phase() == Phase::Idle && !m_parser.hasBufferedInput()
        && m_socket->bytesAvailable() == 0)
        startClosing();
    // Otherwise the current or next response says `Connection: close` (HttpServer::m_draining).
}

void HttpConnection::abort()
{
    if (m_mode == Mode::Dead)
        return;
    m_socket->abort(); // emits disconnected() when it was connected
    teardown();
}

// ---- Input --------------------------------------------------------------------------------------

void HttpConnection::onReadyRead()
{
    switch (m_mode) {
    case Mode::Open: processInput(); break;
    case Mode::Closing:
    case Mode::Lingering: m_socket->skip(m_socket->bytesAvailable()); break;
    case Mode::Dead: break;
    }
}

bool HttpConnection::readMore()
{
    const qint64 available = m_socket->bytesAvailable();
    if (available <= 0)
        return false;
    char *space = m_parser.appendSpace(available);
    const qint64 got = m_socket->read(space, available);
    m_parser.commitAppend(std::max<qint64>(got, 0));
    return got > 0;
}

void HttpConnection::processInput()
{
    if (m_processing || m_mode != Mode::Open)
        return;
    m_processing = true;
    while (m_mode == Mode::Open && m_parser.phase() != Phase::Complete) {
        const HttpRequestParser::Step step = m_parser.parse();
        if (m_parser.takeExpectContinue())
            queue("HTTP/1.1 100 Continue\r\n\r\n");
        if (step == HttpRequestParser::Step::Request) {
            dispatch();
            continue;
        }
        if (step == HttpRequestParser::Step::Error) {
            const int status = m_parser.errorStatus();
            qCDebug(lcHttp) << "refusing a request from" << m_parser.request().peer << "with" << status << ":"
                            << m_parser.errorDescription();
            failRequest(status);
            break;
        }
        if (!readMore()) // Step::NeedInput
            break;
    }
    m_processing = false;
    flushIfIdle();
    if (m_mode == Mode::Open)
        updateInputDeadline();
}

void HttpConnection::scheduleProcessInput()
{
    if (m_processScheduled)
        return;
    m_processScheduled = true;
    QMetaObject::invokeMethod(
        this,
        [this] {
            m_processScheduled = false;
            processInput();
        },
        Qt::QueuedConnection);
}

// ---- Dispatch and responses ---------------------------------------------------------------------

void HttpConnection::dispatch()
{
    m_deadline = 0; // an outstanding response is never timed out
    const HttpRequest &r = m_parser.request();
    m_closeAfterResponse = false;
    m_chunked = false;
    m_suppressBody = false;

    if (m_responder && m_responder.use_count() == 1
        && m_responder->m_state == HttpResponder::State::Finished) {
        if (m_responder->m_hasReceivers) { // the last handler's slots
            QObject::disconnect(m_responder.get(), nullptr, nullptr, nullptr);
            m_responder->m_hasReceivers = false;
        }
        m_responder->m_state = HttpResponder::State::Pending;
    } else {
        m_responder = std::make_shared<HttpResponder>(HttpResponder::Key{}, this);
    }

    if (m_server->admit(m_bucket, r, *m_responder)) { // else answered 429
        if (m_server->m_handler)
            m_server->m_handler(r, m_responder);
        else
            m_responder->respond(404, {}, {});
    }

    if (m_mode != Mode::Dead && m_responder->m_state == HttpResponder::State::Pending
        && m_responder.use_count() == 1) {
        qCWarning(lcHttp) << "the handler dropped" << r.method << r.path
                          << "without answering; answering 500";
        m_responder->respond(500, {}, {});
    }
}

// Fills m_head (its buffer kept from response to response) with a response head: sized first,
// then written with memcpy, since QByteArray::append costs more than the rest of a small request.
QByteArrayView HttpConnection::buildHead(int status, const HttpHeaders &headers, Framing framing,
                                         qint64 contentLength)
{
    const char *reason = http_status_str(static_cast<http_status>(status));
    if (*reason == '<') // http_parser's "<unknown>"
        reason = "Unknown";
    const size_t reasonLength = std::strlen(reason);
    const QByteArray &date = m_server->dateLine();
    qsizetype bound = 9 + 12 + 1 + qsizetype(reasonLength) + 2 + date.size() + 16 + 21 + 2 + 28 + 24 + 2;
    for (const auto &h : headers)
        bound += h.first.size() + h.second.size() + 4;
    if (m_head.size() < bound)
        m_head.resize(bound);
    char *const begin = m_head.data();
    char *p = begin;
    const auto add = [&p](const char *s, size_t n) {
        std::memcpy(p, s, n);
        p += n;
    };
    const auto addText = [&add](std::string_view s) { add(s.data(), s.size()); };
    addText("HTTP/1.1 ");
    p = std::to_chars(p, p + 12, status).ptr;
    *p++ = ' ';
    add(reason, reasonLength);
    addText("\r\n");
    bool hasDate = false;
    for (const auto &[name, value] : headers) {
        if (equalsLowerAscii(name, "content-length") || equalsLowerAscii(name, "transfer-encoding")
            || equalsLowerAscii(name, "connection"))
            continue; // framing is ours
        if (hasLineBreak(name) || hasLineBreak(value)) {
            qCWarning(lcHttp) << "dropping a response header with a line break:" << name;
            continue;
        }
        if (!hasDate && equalsLowerAscii(name, "date"))
            hasDate = true;
        add(name.constData(), size_t(name.size()));
        addText(": ");
        add(value.constData(), size_t(value.size()));
        addText("\r\n");
    }
    if (!hasDate)
        add(date.constData(), size_t(date.size()));
    if (framing == Framing::Length) {
        addText("Content-Length: ");
        p = std::to_chars(p, p + 21, contentLength).ptr;
        addText("\r\n");
    } else if (framing == Framing::Chunked) {
        addText("Transfer-Encoding: chunked\r\n");
    }
    if (m_closeAfterResponse)
        addText("Connection: close\r\n");
    else if (m_parser.request().versionMinor == 0)
        addText("Connection: keep-alive\r\n");
    addText("\r\n");
    Q_ASSERT(p - begin <= bound);
    return QByteArrayView(begin, p - begin);
}

void HttpConnection::respond(HttpResponder *responder, int status, const HttpHeaders &headers,
                             const QByteArray &body)
{
    Q_ASSERT(responder == m_responder.get() && m_mode == Mode::Open);
    m_closeAfterResponse = m_closeAfterResponse || !m_parser.keepAlive() || m_server->m_draining;
    const bool bodyless = status == 204 || status == 304 || (status >= 100 && status < 200);
    const QByteArrayView head = buildHead(status, headers, bodyless ? Framing::None : Framing::Length,
                                          body.size());
    queue(head, bodyless || m_parser.isHead() ? QByteArray() : body);
    responder->m_state = HttpResponder::State::Finished;
    responseFinished();
}

void HttpConnection::beginStream(HttpResponder *responder, int status, const HttpHeaders &headers)
{
    Q_ASSERT(responder == m_responder.get() && m_mode == Mode::Open);
    m_closeAfterResponse = m_closeAfterResponse || !m_parser.keepAlive() || m_server->m_draining;
    const bool bodyless = status == 204 || status == 304 || (status >= 100 && status < 200);
    m_suppressBody = bodyless || m_parser.isHead();
    m_chunked = !bodyless && m_parser.request().versionMinor >= 1;
    if (!bodyless && !m_chunked)
        m_closeAfterResponse = true; // HTTP/1.0: the body ends when the connection does
    queue(buildHead(status, headers, m_chunked ? Framing::Chunked : Framing::None, 0));
    responder->m_state = HttpResponder::State::Streaming;
    flushIfIdle();
}

bool HttpConnection::writeChunk(HttpResponder *responder, const QByteArray &chunk)
{
    Q_ASSERT(responder == m_responder.get());
    Q_UNUSED(responder);
    if (m_mode != Mode::Open)
        return false;
    if (chunk.isEmpty() || m_suppressBody)
        return true; // an empty chunk would end a chunked body
    if (m_chunked) {
        char size[20];
        char *end = std::to_chars(size, size + 16, chunk.size(), 16).ptr;
        *end++ = '\r';
        *end++ = '\n';
        queue(QByteArrayView(size, end - size), chunk, "\r\n");
    } else {
        queue({}, chunk);
    }
    flushIfIdle();
    if (m_mode != Mode::Open)
        return false; // the write failed: the client is gone
    const qint64 unsent = m_socket->bytesToWrite();
    if (unsent > m_server->options().maxWriteBuffer) {
        qCInfo(lcHttp) << "cutting off" << m_parser.request().peer
                       << "which does not read its stream:" << unsent << "bytes unsent";
        abort();
        return false;
    }
    return true;
}

void HttpConnection::endStream(HttpResponder *responder)
{
    Q_ASSERT(responder == m_responder.get() && m_mode == Mode::Open);
    if (m_chunked && !m_suppressBody)
        queue("0\r\n\r\n");
    responder->m_state = HttpResponder::State::Finished;
    responseFinished();
}

qint64 HttpConnection::bytesToWrite() const
{
    return m_mode == Mode::Dead ? 0 : m_socket->bytesToWrite();
}

// Output goes straight to the kernel (one sendmsg for head, payload and tail) while nothing is
// queued in the socket before it; only what the kernel does not take goes to QTcpSocket's buffer,
// which then drains it from the event loop. This spares a copy into Qt's buffer and the two
// toggles of Qt's write notifier that QTcpSocket::write() + flush() cost per response (measured:
// a quarter of the server's time per small request).
void HttpConnection::queue(QByteArrayView head, const QByteArray &payload, QByteArrayView tail)
{
    if (m_mode == Mode::Dead)
        return;
    qint64 sent = 0;
    const qintptr fd = m_socket->socketDescriptor();
    if (fd >= 0 && m_socket->bytesToWrite() == 0) {
        iovec iov[3];
        int count = 0;
        for (QByteArrayView piece : {head, QByteArrayView(payload), tail}) {
            if (!piece.isEmpty())
                iov[count++] = {const_cast<char *>(piece.data()), size_t(piece.size())};
        }
        msghdr message{};
        message.msg_iov = iov;
        message.msg_iovlen = size_t(count);
        ssize_t n;
        do {
            n = ::sendmsg(int(fd), &message, MSG_NOSIGNAL | MSG_DONTWAIT);
        } while (n < 0 && errno == EINTR);
        // n < 0: EAGAIN, or an error that QTcpSocket meets on its own write below and reports as
        // a disconnect.
        if (n > 0) {
            sent = n;
            m_writeProgress += quint64(n);
        }
    }
    const auto rest = [&sent](QByteArrayView piece) { // the part of `piece` not sent yet
        const qint64 skip = std::min<qint64>(sent, piece.size());
        sent -= skip;
        return piece.sliced(skip);
    };
    const QByteArrayView headRest = rest(head);
    if (!headRest.isEmpty())
        m_socket->write(headRest.data(), headRest.size());
    const QByteArrayView payloadRest = rest(payload);
    if (payloadRest.size() == payload.size() && !payload.isEmpty())
        m_socket->write(payload); // large ones are shared, not copied
    else if (!payloadRest.isEmpty())
        m_socket->write(payloadRest.data(), payloadRest.size());
    const QByteArrayView tailRest = rest(tail);
    if (!tailRest.isEmpty())
        m_socket->write(tailRest.data(), tailRest.size());
}

void HttpConnection::flushIfIdle()
{
    // Inside processInput() the output of every pipelined response is flushed once, at its end.
    if (!m_processing && m_mode != Mode::Dead && m_socket->bytesToWrite() > 0) {
        m_flushing = true;
        m_socket->flush(); // may fail and disconnect: teardown() runs, this object stays valid
        m_flushing = false;
    }
    checkShutdown();
}

void HttpConnection::responseFinished()
{
    if (m_closeAfterResponse) {
        startClosing();
        return;
    }
    m_parser.nextRequest();
    m_headerDeadlineSet = false;
    m_requestStartMs = 0;
    const int idle = m_server->options().idleTimeoutMs;
    if (idle > 0) {
        const qint64 now = nowMs();
        m_writeMark = m_writeProgress;
        setDeadline(now, now + idle);
    }
    if (!m_processing) {
        flushIfIdle();
        if (m_mode == Mode::Open && (m_parser.hasBufferedInput() || m_socket->bytesAvailable() > 0))
            scheduleProcessInput(); // a pipelined request waits: never parse it inside this call
    }
}

void HttpConnection::failRequest(int status)
{
    const char *reason = http_status_str(static_cast<http_status>(status));
    const QByteArray body = QByteArray(reason) + '\n';
    m_closeAfterResponse = true;
    const HttpHeaders headers = {{QByteArrayLiteral("Content-Type"), QByteArrayLiteral("text/plain")}};
    queue(buildHead(status, headers, Framing::Length, body.size()), body);
    startClosing();
}

// ---- Closing ------------------------------------------------------------------------------------

void HttpConnection::startClosing()
{
    if (m_mode != Mode::Open)
        return;
    m_mode = Mode::Closing;
    m_parser.discardInput();
    const int idle = m_server->options().idleTimeoutMs;
    const qint64 now = nowMs();
    m_writeMark = m_writeProgress;
    setDeadline(now, now + (idle > 0 ? idle : 60000)); // to drain the output
    flushIfIdle();
}

void HttpConnection::checkShutdown()
{
    if (m_mode != Mode::Closing || m_processing || m_socket->bytesToWrite() > 0)
        return;
    // FIN after the last byte; read until the client closes too (see the header).
    if (const qintptr fd = m_socket->socketDescriptor(); fd >= 0)
        ::shutdown(int(fd), SHUT_WR);
    m_mode = Mode::Lingering;
    m_socket->skip(m_socket->bytesAvailable());
    const int idle = m_server->options().idleTimeoutMs;
    const qint64 now = nowMs();
    setDeadline(now, now + (idle > 0 ? std::min(idle, kLingerMs) : kLingerMs));
}

void HttpConnection::onBytesWritten(qint64 bytes)
{
    m_writeProgress += quint64(bytes);
    if (m_flushing)
        return; // our own flush: the caller continues
    if (m_mode == Mode::Closing) {
        checkShutdown();
    } else if (m_mode == Mode::Open && m_responder
               && m_responder->m_state == HttpResponder::State::Streaming) {
        emit m_responder->bytesWritten();
    }
}

void HttpConnection::onDisconnected()
{
    teardown();
}

void HttpConnection::releaseResponder()
{
    if (!m_responder)
        return;
    const auto state = m_responder->m_state;
    if (state != HttpResponder::State::Pending && state != HttpResponder::State::Streaming)
        return;
    m_responder->m_state = HttpResponder::State::Gone;
    // Queued: this may run inside a responder call (a failed write), whose caller must not be re-entered.
    std::shared_ptr<HttpResponder> r = m_responder;
    QMetaObject::invokeMethod(
        r.get(), [r] { emit r->disconnected(); }, Qt::QueuedConnection);
}

void HttpConnection::teardown()
{
    if (m_mode == Mode::Dead)
        return;
    m_mode = Mode::Dead;
    m_timer.stop();
    m_deadline = 0;
    releaseResponder();
    m_server->removeConnection(this);
    deleteLater();
}

// ---- Timeouts -----------------------------------------------------------------------------------

void HttpConnection::setDeadline(qint64 now, qint64 deadline)
{
    m_deadline = deadline;
    if (m_mode == Mode::Dead)
        return;
    if (!m_timer.isActive() || deadline < m_timerExpiry) {
        m_timer.start(int(std::clamp<qint64>(deadline - now, 0, INT_MAX)), Qt::CoarseTimer, this);
        m_timerExpiry = deadline;
    }
}

void HttpConnection::updateInputDeadline()
{
    // Headers must arrive within headerTimeoutMs of the request's first byte, and the whole request
    // within requestTimeoutMs of it; a body that keeps moving is otherwise timed by idleTimeoutMs.
    const HttpServerOptions &o = m_server->options();
    const Phase phase = m_parser.phase();
    const bool partial = phase == Phase::Headers || (phase == Phase::Idle && m_parser.hasBufferedInput());
    const qint64 now = nowMs();
    auto capped = [&](qint64 deadline) {
        if (o.requestTimeoutMs <= 0)
            return deadline;
        const qint64 whole = m_requestStartMs + o.requestTimeoutMs;
        return deadline > 0 ? std::min(deadline, whole) : whole;
    };
    if (partial) {
        if (!m_headerDeadlineSet) {
            const int timeout = o.headerTimeoutMs > 0 ? o.headerTimeoutMs : o.idleTimeoutMs;
            m_headerDeadlineSet = true;
            m_requestStartMs = now;
            const qint64 deadline = capped(timeout > 0 ? now + timeout : 0);
            if (deadline > 0)
                setDeadline(now, deadline); // from the first byte; not extended by more bytes
        }
    } else if (phase == Phase::Body) {
        m_headerDeadlineSet = false; // the headers are in: the next request gets a deadline of its own
        if (m_requestStartMs == 0)
            m_requestStartMs = now; // the line and headers came in one read
        const qint64 deadline = capped(o.idleTimeoutMs > 0 ? now + o.idleTimeoutMs
                                                           : 0); // the body keeps moving
        if (deadline > 0)
            setDeadline(now, deadline);
    } else if (phase == Phase::Complete) {
        m_deadline = 0;
        m_requestStartMs = 0;
    }
}

void HttpConnection::timerEvent(QTimerEvent *event)
{
    if (event->timerId() != m_timer.timerId()) {
        QObject::timerEvent(event);
        return;
    }
    if (m_deadline == 0) {
        m_timer.stop();
        return;
    }
    const qint64 now = nowMs();
    if (now < m_deadline) {
        m_timer.start(int(std::min<qint64>(m_deadline - now, INT_MAX)), Qt::CoarseTimer, this);
        m_timerExpiry = m_deadline;
        return;
    }
    m_timer.stop();
    m_deadline = 0;
    onDeadline(now);
}

void HttpConnection::onDeadline(qint64 now)
{
    const HttpServerOptions &o = m_server->options();
    const bool outputMoved = m_socket->bytesToWrite() > 0 && m_writeProgress != m_writeMark;
    const qint64 idle = o.idleTimeoutMs > 0 ? o.idleTimeoutMs : 60000;
    switch (m_mode) {
    case Mode::Open:
        switch (m_parser.phase()) {
        case Phase::Complete: return;
        case Phase::Headers:
        case Phase::Body:
            qCDebug(lcHttp) << "request timeout for" << m_parser.request().peer;
            failRequest(408);
            return;
        case Phase::Idle:
            if (m_socket->bytesAvailable() > 0) { // a request arrived just now: not idle
                processInput();
            } else if (m_parser.hasBufferedInput()) { // the start of a request, then nothing
                failRequest(408);
            } else if (outputMoved) { // a large response still draining
                m_writeMark = m_writeProgress;
                setDeadline(now, now + idle);
            } else {
                startClosing();
            }
            return;
        }
        return;
    case Mode::Closing:
        if (outputMoved) {
            m_writeMark = m_writeProgress;
            setDeadline(now, now + idle);
        } else {
            abort();
        }
        return;
    case Mode::Lingering: abort(); return;
    case Mode::Dead: return;
    }
}

} // namespace sidecar::http
