// HttpRequestParser: libhttp-parser's callbacks, the request limits and the unknown-method retry
// (see the header). Moved out of HttpConnection so that it can be fuzzed without a socket; it reports
// what the connection must act on (a 100 Continue to send, the limit a request broke) instead of
// acting itself.

#include "transport/httprequestparser.h"

#include <algorithm>
#include <array>
#include <climits>
#include <cstring>
#include <utility>

namespace sidecar::http {

namespace {

// Longest method token sought before the parser is fed (unknown methods, see scanMethodToken()).
constexpr qsizetype kMaxMethodLength = 32;
// The request line around the method and target: two spaces and "HTTP/1.1\r\n", plus the blank
// line that ends the headers. With ": " and CRLF per header, the counted size of a request in
// canonical form equals its size on the wire.
constexpr qint64 kRequestLineOverhead = 2 + 10 + 2;

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

bool equalsLowerAscii(QByteArrayView name, std::string_view lower)
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

// libhttp-parser calls plain functions; these forward to the parser object in parser->data.
struct ParserCallbacks
{
    static HttpRequestParser *self(http_parser *p) { return static_cast<HttpRequestParser *>(p->data); }
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

HttpRequestParser::HttpRequestParser(qint64 maxHeaderBytes, qint64 maxBodyBytes)
    : m_maxHeaderBytes(maxHeaderBytes), m_maxBodyBytes(maxBodyBytes)
{
    http_parser_init(&m_parser, HTTP_REQUEST);
    m_parser.data = this;
}

// ---- Input --------------------------------------------------------------------------------------

char *HttpRequestParser::appendSpace(qsizetype n)
{
    if (m_inPos >= m_in.size()) {
        m_in.truncate(0); // keeps the buffer
    } else if (m_inPos > 0) {
        m_in.remove(0, m_inPos); // the start of a method token waiting for its end: rare
    }
    m_inPos = 0;
    m_appendBase = m_in.size();
    m_in.resize(m_appendBase + n);
    return m_in.data() + m_appendBase;
}

void HttpRequestParser::commitAppend(qsizetype got)
{
    m_in.truncate(m_appendBase + std::max<qsizetype>(got, 0));
}

void HttpRequestParser::append(QByteArrayView bytes)
{
    char *space = appendSpace(bytes.size());
    if (!bytes.isEmpty())
        std::memcpy(space, bytes.data(), size_t(bytes.size()));
    commitAppend(bytes.size());
}

void HttpRequestParser::discardInput()
{
    m_in.clear();
    m_inPos = 0;
}

HttpRequestParser::Step HttpRequestParser::parse()
{
    Q_ASSERT(m_phase != Phase::Complete);
    for (;;) {
        if (m_inPos >= m_in.size())
            return Step::NeedInput;
        if (m_phase == Phase::Idle && !scanMethodToken())
            return Step::NeedInput;
        const size_t length = size_t(m_in.size() - m_inPos);
        const size_t parsed = http_parser_execute(&m_parser, &ParserCallbacks::settings,
                                                  m_in.constData() + m_inPos, length);
        m_inPos += qsizetype(parsed);
        const http_errno error = HTTP_PARSER_ERRNO(&m_parser);
        if (error == HPE_PAUSED) { // a request is complete (onMessageComplete)
            http_parser_pause(&m_parser, 0);
            finishRequest();
            return Step::Request;
        }
        if (error != HPE_OK) {
            if (error == HPE_INVALID_METHOD && retryWithUnknownMethod())
                continue;
            if (!m_errorStatus)
                m_errorStatus = statusForParserError(error);
            m_errorDescription = http_errno_description(error);
            return Step::Error;
        }
        // Whitespace and partial lines count too (http_parser's own count, reset per message).
        if ((m_phase == Phase::Headers || m_phase == Phase::Idle) && m_parser.nread > m_maxHeaderBytes) {
            m_errorStatus = 431;
            m_errorDescription = "request line and headers too large";
            return Step::Error;
        }
    }
}

void HttpRequestParser::nextRequest()
{
    m_phase = Phase::Idle;
    m_methodScanned = false;
    m_methodRetried = false;
    m_methodOverride = false;
}

bool HttpRequestParser::takeExpectContinue()
{
    return std::exchange(m_expectContinue, false);
}

bool HttpRequestParser::scanMethodToken()
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

bool HttpRequestParser::retryWithUnknownMethod()
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

// ---- Callbacks ----------------------------------------------------------------------------------

int HttpRequestParser::refuse(int status)
{
    m_errorStatus = status;
    return -1;
}

int HttpRequestParser::onMessageBegin()
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

int HttpRequestParser::onUrl(const char *at, size_t length)
{
    if (m_request.target.isNull())
        m_request.target = QByteArray(at, qsizetype(length)); // cheaper than append() into nothing
    else
        m_request.target.append(at, qsizetype(length));
    m_headerBytes += qint64(length);
    if (m_headerBytes + kRequestLineOverhead > m_maxHeaderBytes)
        return refuse(431);
    return 0;
}

int HttpRequestParser::onHeaderField(const char *at, size_t length)
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
    if (m_headerBytes + kRequestLineOverhead > m_maxHeaderBytes)
        return refuse(431);
    return 0;
}

int HttpRequestParser::onHeaderValue(const char *at, size_t length)
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
    if (m_headerBytes + kRequestLineOverhead > m_maxHeaderBytes)
        return refuse(431);
    return 0;
}

int HttpRequestParser::onHeadersComplete()
{
    if (m_lastWasValue)
        trimTrailingWhitespace(m_request.headers.last().second);
    m_lastWasValue = false;
    const qint64 methodLength = m_methodOverride ? m_unknownMethod.size()
                                                 : methodName(m_parser.method).size();
    if (m_headerBytes + methodLength + kRequestLineOverhead > m_maxHeaderBytes)
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
    if (hasLength && contentLength > uint64_t(m_maxBodyBytes))
        return refuse(413);
    if (hasLength && contentLength > 0)
        m_request.body.reserve(qsizetype(std::min<uint64_t>(contentLength, 64 * 1024)));

    // RFC 9110 section 10.1.1: a 1.1 client that sent Expect: 100-continue waits for it.
    if (m_parser.http_minor >= 1 && (chunked || (hasLength && contentLength > 0))
        && equalsLowerAscii(m_request.header("expect"), "100-continue"))
        m_expectContinue = true;
    m_phase = Phase::Body;
    return 0;
}

int HttpRequestParser::onBody(const char *at, size_t length)
{
    if (m_request.body.size() + qint64(length) > m_maxBodyBytes)
        return refuse(413); // a chunked body, counted as it arrives
    m_request.body.append(at, qsizetype(length));
    return 0;
}

int HttpRequestParser::onMessageComplete()
{
    // Stop here: parsing resumes after nextRequest().
    http_parser_pause(&m_parser, 1);
    return 0;
}

// ---- The finished request -----------------------------------------------------------------------

void HttpRequestParser::finishRequest()
{
    m_phase = Phase::Complete;
    HttpRequest &r = m_request;
    r.method = m_methodOverride ? m_unknownMethod : methodName(m_parser.method);
    r.versionMinor = m_parser.http_minor;
    splitTarget();
}

void HttpRequestParser::splitTarget()
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

} // namespace sidecar::http
