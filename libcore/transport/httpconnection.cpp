#include "transport/httpconnection.h"

#include <algorithm>
#include <array>
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
// Longest method token sought before the parser is fed (unknown methods, see scanMethodToken()).
constexpr qsizetype kMaxMethodLength = 32;
// The request line around the method and target: two spaces and "HTTP/1.1\r\n", plus the blank
// line that ends the headers. With ": " and CRLF per header, the counted size of a request in
// canonical form equals its size on the wire.
constexpr qint64 kRequestLineOverhead = 2 + 10 + 2;

qint64 nowMs()
{
    using namespace std::chrono;
    return duration_cast<milliseconds>(steady_clock::now().time_since_epoch()).count();
}

// RFC 9110 section 5.6.2: tchar.
bool isTchar(unsigned char c)
{
    static const auto table = [] {
        std::array<bool, 256> t{};
        for (int d = '0'; d <= '9'; ++d)
            t[d] = true;
        for (int a = 'a'; a <= 'z'; ++a)
            t[a] = t[a - 32] = true;
        for (char s : std::string_view("!#$%&'*+-.^_`|~"))
            t[static_cast<unsigned char>(s)] = true;
        return t;
    }();
    return table[c];
}

// Lower-cases a piece of a header name in place; false if it holds a non-token character.
bool lowerToken(char *p, qsizetype n)
{
    for (qsizetype i = 0; i < n; ++i) {
        if (!isTchar(static_cast<unsigned char>(p[i])))
            return false;
        if (p[i] >= 'A' && p[i] <= 'Z')
            p[i] = char(p[i] + 32);
    }
    return true;
}

// `name` equals `lower` (a lower-case literal) ignoring ASCII case.
bool equalsLower(QByteArrayView name, std::string_view lower)
{
    if (size_t(name.size()) != lower.size())
        return false;
    for (size_t i = 0; i < lower.size(); ++i) {
        char c = name[qsizetype(i)];
        if (c >= 'A' && c <= 'Z')
            c = char(c + 32);
        if (c != lower[i])
            return false;
    }
    return true;
}

bool hasLineBreak(const QByteArray &s)
{
    return std::memchr(s.constData(), '\r', size_t(s.size()))
           || std::memchr(s.constData(), '\n', size_t(s.size()));
}

// Header names that arrive with almost every request, shared instead of allocated per request.
QByteArray internHeaderName(const QByteArray &lower)
{
    static const QByteArray known[] = {
        QByteArrayLiteral("host"),
        QByteArrayLiteral("accept"),
        QByteArrayLiteral("accept-encoding"),
        QByteArrayLiteral("accept-language"),
        QByteArrayLiteral("authorization"),
        QByteArrayLiteral("connection"),
        QByteArrayLiteral("content-length"),
        QByteArrayLiteral("content-type"),
        QByteArrayLiteral("cache-control"),
        QByteArrayLiteral("expect"),
        QByteArrayLiteral("last-event-id"),
        QByteArrayLiteral("mcp-protocol-version"),
        QByteArrayLiteral("mcp-session-id"),
        QByteArrayLiteral("origin"),
        QByteArrayLiteral("transfer-encoding"),
        QByteArrayLiteral("user-agent"),
    };
    for (const QByteArray &k : known) {
        if (k.size() == lower.size() && std::memcmp(k.constData(), lower.constData(), size_t(k.size())) == 0)
            return k;
    }
    return QByteArray(lower.constData(), lower.size());
}

const QByteArray &methodName(unsigned method)
{
    static const auto names = [] {
        std::array<QByteArray, 64> n;
        for (unsigned m = 0; m < n.size(); ++m) {
            const char *s = http_method_str(static_cast<http_method>(m));
            n[m] = QByteArray::fromRawData(s, qsizetype(std::strlen(s)));
        }
        return n;
    }();
    return names[std::min<size_t>(method, names.size() - 1)];
}

// Empties `a`, keeping its buffer when no one else shares it and it is small (so that one large
// upload does not pin megabytes to a keep-alive connection).
void reuse(QByteArray &a)
{
    if (a.isDetached() && a.capacity() <= 64 * 1024)
        a.truncate(0);
    else
        a = QByteArray();
}

void trimTrailingWhitespace(QByteArray &a)
{
    qsizetype n = a.size();
    while (n > 0 && (a.at(n - 1) == ' ' || a.at(n - 1) == '\t'))
        --n;
    if (n != a.size())
        a.truncate(n);
}

int statusForParserError(http_errno error)
{
    switch (error) {
    case HPE_HEADER_OVERFLOW: return 431;
    default: return 400;
    }
}

} // namespace

// libhttp-parser calls plain functions; these forward to the connection in parser->data.
struct ParserCallbacks
{
    static HttpConnection *self(http_parser *p) { return static_cast<HttpConnection *>(p->data); }
    static int messageBegin(http_parser *p) { return self(p)->onMessageBegin(); }
    static int url(http_parser *p, const char *at, size_t n) { return self(p)->onUrl(at, n); }
    static int headerField(http_parser *p, const char *at, size_t n) { return self(p)->onHeaderField(at, n); }
    static int headerValue(http_parser *p, const char *at, size_t n) { return self(p)->onHeaderValue(at, n); }
    static int headersComplete(http_parser *p) { return self(p)->onHeadersComplete(); }
    static int body(http_parser *p, const char *at, size_t n) { return self(p)->onBody(at, n); }
    static int messageComplete(http_parser *p) { return self(p)->onMessageComplete(); }

    static const http_parser_settings settings;
};

const http_parser_settings ParserCallbacks::settings = {
    &ParserCallbacks::messageBegin,
    &ParserCallbacks::url,
    nullptr, // on_status: responses only
    &ParserCallbacks::headerField,
    &ParserCallbacks::headerValue,
    &ParserCallbacks::headersComplete,
    &ParserCallbacks::body,
    &ParserCallbacks::messageComplete,
    nullptr, // on_chunk_header
    nullptr, // on_chunk_complete
};

HttpConnection::HttpConnection(HttpServer *server, qintptr socketDescriptor)
    : QObject(server), m_server(server), m_socket(new QTcpSocket(this))
{
    http_parser_init(&m_parser, HTTP_REQUEST);
    m_parser.data = this;
    if (!m_socket->setSocketDescriptor(socketDescriptor)) {
        qCWarning(lcHttp) << "cannot adopt an accepted socket:" << m_socket->errorString();
        ::close(int(socketDescriptor));
        m_mode = Mode::Dead;
        return;
    }
    m_socket->setSocketOption(QAbstractSocket::LowDelayOption, 1); // small SSE events must not wait for ACKs
    m_socket->setReadBufferSize(kReadBufferSize);
    m_request.peer = m_socket->peerAddress();
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
    if (m_mode == Mode::Open && m_phase == Phase::Idle && m_inPos >= m_in.size()
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
    if (m_inPos >= m_in.size()) {
        m_in.truncate(0); // keeps the buffer
    } else if (m_inPos > 0) {
        m_in.remove(0, m_inPos); // the start of a method token waiting for its end: rare
    }
    m_inPos = 0;
    const qsizetype old = m_in.size();
    m_in.resize(old + available);
    const qint64 got = m_socket->read(m_in.data() + old, available);
    m_in.truncate(old + std::max<qint64>(got, 0));
    return got > 0;
}

void HttpConnection::processInput()
{
    if (m_processing || m_mode != Mode::Open)
        return;
    m_processing = true;
    while (m_mode == Mode::Open && m_phase != Phase::Handling) {
        if (m_inPos >= m_in.size() && !readMore())
            break;
        if (m_phase == Phase::Idle && !scanMethodToken()) {
            if (!readMore())
                break;
            continue;
        }
        const size_t length = size_t(m_in.size() - m_inPos);
        const size_t parsed = http_parser_execute(&m_parser, &ParserCallbacks::settings,
                                                  m_in.constData() + m_inPos, length);
        m_inPos += qsizetype(parsed);
        const http_errno error = HTTP_PARSER_ERRNO(&m_parser);
        if (error == HPE_PAUSED) { // a request is complete (onMessageComplete)
            http_parser_pause(&m_parser, 0);
            dispatch();
            continue;
        }
        if (error != HPE_OK) {
            if (error == HPE_INVALID_METHOD && retryWithUnknownMethod())
                continue;
            const int status = m_errorStatus ? m_errorStatus : statusForParserError(error);
            qCDebug(lcHttp) << "refusing a request from" << m_request.peer << "with" << status << ":"
                            << http_errno_description(error);
            failRequest(status);
            break;
        }
        // Whitespace and partial lines count too (http_parser's own count, reset per message).
        if ((m_phase == Phase::Headers || m_phase == Phase::Idle)
            && m_parser.nread > m_server->options().maxHeaderBytes) {
            failRequest(431);
            break;
        }
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

// libhttp-parser knows a fixed list of methods and fails on any other token. So that every method
// reaches the handler (which answers 405 or 501 as it sees fit), the first token of each request
// is located before the parser sees it; should the parser refuse it, retryWithUnknownMethod()
// puts a known method in its place and remembers the real one.
bool HttpConnection::scanMethodToken()
{
    if (m_methodScanned)
        return true;
    const char *d = m_in.constData();
    const qsizetype n = m_in.size();
    qsizetype i = m_inPos;
    while (i < n && (d[i] == '\r' || d[i] == '\n'))
        ++i;
    if (i == n)
        return true; // only line breaks so far: the parser skips them
    const qsizetype start = i;
    while (i < n && i - start <= kMaxMethodLength && isTchar(static_cast<unsigned char>(d[i])))
        ++i;
    if (i == n && i - start <= kMaxMethodLength)
        return false; // the token may go on
    m_methodScanned = true;
    if (d[i] == ' ' && i > start) {
        m_methodTokenStart = start;
        m_methodTokenEnd = i;
    } else {
        m_methodTokenStart = m_methodTokenEnd = -1; // not a method: the parser will say so
    }
    return true;
}

bool HttpConnection::retryWithUnknownMethod()
{
    if (m_methodRetried || m_methodTokenStart < 0 || m_methodTokenEnd > m_in.size()
        || m_inPos > m_methodTokenEnd)
        return false;
    const qsizetype start = m_methodTokenStart;
    const qsizetype length = m_methodTokenEnd - start;
    m_unknownMethod = QByteArray(m_in.constData() + start, length);
    m_in.replace(start, length, "GET", 3);
    m_inPos = start;
    m_methodTokenStart = m_methodTokenEnd = -1;
    m_methodOverride = true;
    m_methodRetried = true;
    m_phase = Phase::Idle;
    http_parser_init(&m_parser, HTTP_REQUEST);
    m_parser.data = this;
    return true;
}

int HttpConnection::refuse(int status)
{
    m_errorStatus = status;
    return -1;
}

int HttpConnection::onMessageBegin()
{
    m_phase = Phase::Headers;
    m_errorStatus = 0;
    m_headerBytes = 0;
    m_lastWasValue = false;
    m_request.target = QByteArray(); // shared with path: a new one is allocated either way
    reuse(m_request.body);
    reuse(m_field);
    m_request.headers.clear();
    return 0;
}

int HttpConnection::onUrl(const char *at, size_t length)
{
    if (m_request.target.isNull())
        m_request.target = QByteArray(at, qsizetype(length)); // cheaper than append() into nothing
    else
        m_request.target.append(at, qsizetype(length));
    m_headerBytes += qint64(length);
    if (m_headerBytes + kRequestLineOverhead > m_server->options().maxHeaderBytes)
        return refuse(431);
    return 0;
}

int HttpConnection::onHeaderField(const char *at, size_t length)
{
    if (m_phase != Phase::Headers)
        return 0; // a trailer after a chunked body: ignored
    if (m_lastWasValue) {
        trimTrailingWhitespace(m_request.headers.last().second);
        m_lastWasValue = false;
        reuse(m_field);
    }
    const qsizetype old = m_field.size();
    m_field.append(at, qsizetype(length));
    // The library built by Debian is lenient and lets spaces into names; RFC 9112 section 5.1 wants 400.
    if (!lowerToken(m_field.data() + old, qsizetype(length)))
        return refuse(400);
    m_headerBytes += qint64(length);
    if (m_headerBytes + kRequestLineOverhead > m_server->options().maxHeaderBytes)
        return refuse(431);
    return 0;
}

int HttpConnection::onHeaderValue(const char *at, size_t length)
{
    if (m_phase != Phase::Headers)
        return 0;
    if (!m_lastWasValue) {
        m_request.headers.emplaceBack(internHeaderName(m_field), QByteArray(at, qsizetype(length)));
        m_lastWasValue = true;
        m_headerBytes += 4; // ": " and CRLF
    } else {
        m_request.headers.last().second.append(at, qsizetype(length));
    }
    m_headerBytes += qint64(length);
    if (m_headerBytes + kRequestLineOverhead > m_server->options().maxHeaderBytes)
        return refuse(431);
    return 0;
}

int HttpConnection::onHeadersComplete()
{
    const HttpServerOptions &o = m_server->options();
    if (m_lastWasValue)
        trimTrailingWhitespace(m_request.headers.last().second);
    m_lastWasValue = false;
    const qint64 methodLength = m_methodOverride ? m_unknownMethod.size()
                                                 : methodName(m_parser.method).size();
    if (m_headerBytes + methodLength + kRequestLineOverhead > o.maxHeaderBytes)
        return refuse(431);
    if (m_parser.http_major != 1)
        return refuse(505);
    if (m_parser.http_minor >= 1 && !m_request.hasHeader("host"))
        return refuse(400); // RFC 9112 section 3.2: a MUST

    const bool connect = !m_methodOverride && m_parser.method == HTTP_CONNECT;
    m_keepAlive = http_should_keep_alive(&m_parser) && !connect; // CONNECT would want a tunnel next
    m_isHead = !m_methodOverride && m_parser.method == HTTP_HEAD;
    const bool chunked = m_parser.flags & F_CHUNKED;
    const uint64_t contentLength = m_parser.content_length; // ULLONG_MAX: none
    const bool hasLength = !chunked && contentLength != ULLONG_MAX;
    // RFC 9110 section 15.5.14: refused before reading, and before any 100 Continue.
    if (hasLength && contentLength > uint64_t(o.maxBodyBytes))
        return refuse(413);
    if (hasLength && contentLength > 0)
        m_request.body.reserve(qsizetype(std::min<uint64_t>(contentLength, 64 * 1024)));

    // RFC 9110 section 10.1.1: a 1.1 client that sent Expect: 100-continue waits for it.
    if (m_parser.http_minor >= 1 && (chunked || (hasLength && contentLength > 0))) {
        for (const auto &h : std::as_const(m_request.headers)) {
            if (h.first == "expect") {
                if (equalsLower(h.second, "100-continue"))
                    queue("HTTP/1.1 100 Continue\r\n\r\n");
                break;
            }
        }
    }
    m_phase = Phase::Body;
    m_headerDeadlineSet = false;
    return 0;
}

int HttpConnection::onBody(const char *at, size_t length)
{
    if (m_request.body.size() + qint64(length) > m_server->options().maxBodyBytes)
        return refuse(413); // a chunked body, counted as it arrives
    m_request.body.append(at, qsizetype(length));
    return 0;
}

int HttpConnection::onMessageComplete()
{
    // Stop here: the parser resumes after this request's response has finished.
    http_parser_pause(&m_parser, 1);
    return 0;
}

// ---- Dispatch and responses ---------------------------------------------------------------------

void HttpConnection::dispatch()
{
    m_phase = Phase::Handling;
    m_deadline = 0; // an outstanding response is never timed out
    HttpRequest &r = m_request;
    r.method = m_methodOverride ? m_unknownMethod : methodName(m_parser.method);
    r.versionMinor = m_parser.http_minor;
    splitTarget();
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

    if (m_server->m_handler)
        m_server->m_handler(r, m_responder);
    else
        m_responder->respond(404, {}, {});

    if (m_mode != Mode::Dead && m_responder->m_state == HttpResponder::State::Pending
        && m_responder.use_count() == 1) {
        qCWarning(lcHttp) << "the handler dropped" << r.method << r.path
                          << "without answering; answering 500";
        m_responder->respond(500, {}, {});
    }
}

void HttpConnection::splitTarget()
{
    HttpRequest &r = m_request;
    const QByteArray &t = r.target;
    if (!t.startsWith('/') && t != "*") {
        // absolute-form (RFC 9112 section 3.2.2): take the path and query from the URL.
        http_parser_url u;
        http_parser_url_init(&u);
        if (http_parser_parse_url(t.constData(), size_t(t.size()), 0, &u) == 0) {
            r.path = (u.field_set & (1 << UF_PATH))
                         ? t.mid(u.field_data[UF_PATH].off, u.field_data[UF_PATH].len)
                         : QByteArrayLiteral("/");
            r.query = (u.field_set & (1 << UF_QUERY))
                          ? t.mid(u.field_data[UF_QUERY].off, u.field_data[UF_QUERY].len)
                          : QByteArray();
            return;
        }
    }
    qsizetype end = t.indexOf('#'); // a fragment is not sent by conforming clients
    if (end < 0)
        end = t.size();
    const qsizetype q = t.indexOf('?');
    if (q < 0 || q > end) {
        r.path = end == t.size() ? t : t.left(end);
        r.query = QByteArray();
    } else {
        r.path = t.left(q);
        r.query = t.mid(q + 1, end - q - 1);
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
        if (equalsLower(name, "content-length") || equalsLower(name, "transfer-encoding")
            || equalsLower(name, "connection"))
            continue; // framing is ours
        if (hasLineBreak(name) || hasLineBreak(value)) {
            qCWarning(lcHttp) << "dropping a response header with a line break:" << name;
            continue;
        }
        if (!hasDate && equalsLower(name, "date"))
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
    else if (m_request.versionMinor == 0)
        addText("Connection: keep-alive\r\n");
    addText("\r\n");
    Q_ASSERT(p - begin <= bound);
    return QByteArrayView(begin, p - begin);
}

void HttpConnection::respond(HttpResponder *responder, int status, const HttpHeaders &headers,
                             const QByteArray &body)
{
    Q_ASSERT(responder == m_responder.get() && m_mode == Mode::Open);
    m_closeAfterResponse = m_closeAfterResponse || !m_keepAlive || m_server->m_draining;
    const bool bodyless = status == 204 || status == 304 || (status >= 100 && status < 200);
    const QByteArrayView head = buildHead(status, headers, bodyless ? Framing::None : Framing::Length,
                                          body.size());
    queue(head, bodyless || m_isHead ? QByteArray() : body);
    responder->m_state = HttpResponder::State::Finished;
    responseFinished();
}

void HttpConnection::beginStream(HttpResponder *responder, int status, const HttpHeaders &headers)
{
    Q_ASSERT(responder == m_responder.get() && m_mode == Mode::Open);
    m_closeAfterResponse = m_closeAfterResponse || !m_keepAlive || m_server->m_draining;
    const bool bodyless = status == 204 || status == 304 || (status >= 100 && status < 200);
    m_suppressBody = bodyless || m_isHead;
    m_chunked = !bodyless && m_request.versionMinor >= 1;
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
        qCInfo(lcHttp) << "cutting off" << m_request.peer << "which does not read its stream:" << unsent
                       << "bytes unsent";
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
    m_phase = Phase::Idle;
    m_methodScanned = false;
    m_methodRetried = false;
    m_methodOverride = false;
    m_headerDeadlineSet = false;
    const int idle = m_server->options().idleTimeoutMs;
    if (idle > 0) {
        const qint64 now = nowMs();
        m_writeMark = m_writeProgress;
        setDeadline(now, now + idle);
    }
    if (!m_processing) {
        flushIfIdle();
        if (m_mode == Mode::Open && (m_inPos < m_in.size() || m_socket->bytesAvailable() > 0))
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
    m_in.clear();
    m_inPos = 0;
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
    const HttpServerOptions &o = m_server->options();
    const bool partial = m_phase == Phase::Headers || (m_phase == Phase::Idle && m_inPos < m_in.size());
    if (partial) {
        if (!m_headerDeadlineSet) {
            const int timeout = o.headerTimeoutMs > 0 ? o.headerTimeoutMs : o.idleTimeoutMs;
            m_headerDeadlineSet = true;
            if (timeout > 0) {
                const qint64 now = nowMs();
                setDeadline(now, now + timeout); // from the first byte; not extended by more bytes
            }
        }
    } else if (m_phase == Phase::Body && o.idleTimeoutMs > 0) {
        const qint64 now = nowMs();
        setDeadline(now, now + o.idleTimeoutMs); // the body keeps moving
    } else if (m_phase == Phase::Handling) {
        m_deadline = 0;
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
        switch (m_phase) {
        case Phase::Handling: return;
        case Phase::Headers:
        case Phase::Body:
            qCDebug(lcHttp) << "request timeout for" << m_request.peer;
            failRequest(408);
            return;
        case Phase::Idle:
            if (m_socket->bytesAvailable() > 0) { // a request arrived just now: not idle
                processInput();
            } else if (m_inPos < m_in.size()) { // the start of a request, then nothing
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
