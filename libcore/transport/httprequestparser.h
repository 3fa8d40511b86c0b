#pragma once

// The request side of HTTP/1.1 over libhttp-parser, apart from any socket: bytes go in, complete
// requests (or the status that refuses the input) come out. HttpConnection reads its socket
// straight into it; tests/fuzz/fuzz_http.cpp feeds it arbitrary bytes.
//
// Flow: one request at a time. parse() consumes buffered input until a request is complete
// (Step::Request: request() holds it, phase() is Complete), the input runs out (Step::NeedInput),
// or the input is refused (Step::Error: errorStatus()). After a request nothing more is parsed until
// nextRequest(), which keeps pipelined responses in request order; the bytes behind it stay
// buffered. After an error the parser is done: the connection answers the status and closes.
//
// Limits (HttpServerOptions, see httpserver.h): request line + headers over maxHeaderBytes -> 431
// (counted in canonical form by the callbacks, and also as libhttp-parser counts the raw bytes);
// a Content-Length over maxBodyBytes -> 413 before reading the body (and no 100 Continue); a chunked
// body over it -> 413 as it arrives; a malformed request, or an HTTP/1.1 request without Host -> 400;
// an HTTP major version other than 1 -> 505.
//
// Methods: libhttp-parser knows a fixed list of methods and fails on any other token. So that every
// method reaches the handler (which answers 405 or 501 as it sees fit), the first token of each
// request is located before the parser sees it; should the parser refuse it, a known method takes
// its place in the buffer and the real one is remembered (request().method).
//
// Thread: plain data, used on one thread. Neither copyable nor movable: libhttp-parser keeps a
// pointer to it.

#include <QByteArray>
#include <QByteArrayView>

#include <string_view>

#include <http_parser.h>

#include "transport/httpserver.h"

namespace sidecar::http {

// `name` equals `lower` (a lower-case literal) ignoring ASCII case.
bool equalsLowerAscii(QByteArrayView name, std::string_view lower);

class HttpRequestParser
{
public:
    // Where the current request is. Complete: parse() returned Request and nextRequest() was not
    // called yet (the connection is handling it).
    enum class Phase { Idle, Headers, Body, Complete };
    enum class Step { NeedInput, Request, Error };

    HttpRequestParser(qint64 maxHeaderBytes, qint64 maxBodyBytes);
    HttpRequestParser(const HttpRequestParser &) = delete;
    HttpRequestParser &operator=(const HttpRequestParser &) = delete;

    // Input is read straight into the buffer: appendSpace(n) drops what was parsed and returns room
    // for n bytes at the end, commitAppend(got) keeps the first `got` of them.
    char *appendSpace(qsizetype n);
    void commitAppend(qsizetype got);
    void append(QByteArrayView bytes); // the two above, with a copy
    bool hasBufferedInput() const { return m_inPos < m_in.size(); }
    // Forgets every buffered byte (the connection is closing).
    void discardInput();

    // Parses buffered input; not to be called while phase() is Complete.
    Step parse();
    Phase phase() const { return m_phase; }
    // The response to the current request has finished: parse the next one.
    void nextRequest();

    // The request being parsed; after Step::Request, all of it (method, path and query split).
    HttpRequest &request() { return m_request; }
    const HttpRequest &request() const { return m_request; }
    // After the headers: the connection may stay open after the response (HTTP version, Connection
    // header, and never after CONNECT), and the request is a HEAD.
    bool keepAlive() const { return m_keepAlive; }
    bool isHead() const { return m_isHead; }
    // The headers asked for `100 Continue` (RFC 9110 section 10.1.1): true once, to be answered
    // before anything else is written for this request.
    bool takeExpectContinue();

    // After Step::Error: the status to answer (400, 413, 431, 505) and libhttp-parser's reason.
    int errorStatus() const { return m_errorStatus; }
    const char *errorDescription() const { return m_errorDescription; }

private:
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

    bool scanMethodToken(); // false: the method token is not complete yet
    bool retryWithUnknownMethod();
    void finishRequest();
    void splitTarget();

    const qint64 m_maxHeaderBytes;
    const qint64 m_maxBodyBytes;
    http_parser m_parser;
    Phase m_phase = Phase::Idle;

    QByteArray m_in; // buffered input, parsed up to m_inPos
    qsizetype m_inPos = 0;
    qsizetype m_appendBase = 0; // m_in's size before appendSpace()

    HttpRequest m_request;
    QByteArray m_field;          // the header name being received, lower-cased
    bool m_lastWasValue = false; // a field callback after a value callback starts a new header
    qint64 m_headerBytes = 0;    // the request line and headers, as counted by the callbacks
    int m_errorStatus = 0;       // set by refuse(), or by parse() on an error
    const char *m_errorDescription = "";
    bool m_methodScanned = false;
    qsizetype m_methodTokenStart = -1; // in m_in, the scanned method token
    qsizetype m_methodTokenEnd = -1;
    bool m_methodRetried = false;
    bool m_methodOverride = false; // the request's method is m_unknownMethod
    QByteArray m_unknownMethod;
    bool m_keepAlive = true;
    bool m_isHead = false;
    bool m_expectContinue = false;
};

} // namespace sidecar::http
