// The HTTP/1.1 server of libcore/transport (httpserver.h), driven over real loopback TCP with raw
// bytes from QTcpSocket and read back by a small response parser of its own (not libhttp-parser,
// so the two sides do not share a mistake). Covers what PLATFORM.md lists against QHttpServer 6.4:
// keep-alive and Connection: close, HTTP/1.0, in-order pipelining (also behind a stream),
// 100-continue, header/body limits and malformed requests, idle, header and whole-request timeouts,
// the per-connection rate limit, responders answered after the client left, slow stream readers, the
// connection limit, accepting again after running out of descriptors, and shutdown.

#include <QtTest>

#include <QElapsedTimer>
#include <QTcpSocket>
#include <QTimer>
#include <QUrlQuery>

#include <functional>
#include <memory>
#include <optional>

#include <sys/resource.h>
#include <unistd.h>

#include "transport/httpserver.h"

using namespace sidecar::http;

namespace {

struct Response
{
    int status = 0;
    QByteArray reason;
    HttpHeaders headers; // names lower-cased
    QByteArray body;
    bool chunked = false;
    QList<QByteArray> chunks;

    QByteArray header(QByteArrayView name) const
    {
        for (const auto &h : headers) {
            if (QByteArrayView(h.first) == name)
                return h.second;
        }
        return {};
    }
    bool hasHeader(QByteArrayView name) const
    {
        for (const auto &h : headers) {
            if (QByteArrayView(h.first) == name)
                return true;
        }
        return false;
    }
};

enum class Parse { NeedMore, Done, Bad };

// One response at the start of `buf`. `head`: the request was HEAD (no body whatever the
// headers say). `eof`: the server closed, which ends a body without length.
Parse parseResponse(const QByteArray &buf, bool head, bool eof, Response *out, qsizetype *consumed)
{
    const qsizetype headEnd = buf.indexOf("\r\n\r\n");
    if (headEnd < 0)
        return eof && !buf.isEmpty() ? Parse::Bad : Parse::NeedMore;
    Response r;
    const QList<QByteArray> lines = buf.left(headEnd).split('\n');
    const QByteArray statusLine = lines.first().trimmed();
    if (!statusLine.startsWith("HTTP/1.1 ") || statusLine.size() < 12)
        return Parse::Bad;
    bool ok = false;
    r.status = statusLine.mid(9, 3).toInt(&ok);
    if (!ok)
        return Parse::Bad;
    r.reason = statusLine.mid(13);
    for (qsizetype i = 1; i < lines.size(); ++i) {
        const QByteArray line = lines.at(i).trimmed();
        const qsizetype colon = line.indexOf(':');
        if (colon <= 0)
            return Parse::Bad;
        r.headers.append({line.left(colon).toLower(), line.mid(colon + 1).trimmed()});
    }
    qsizetype pos = headEnd + 4;
    if (head || r.status == 204 || r.status == 304 || r.status / 100 == 1) {
        *consumed = pos;
        *out = r;
        return Parse::Done;
    }
    if (r.header("transfer-encoding").toLower() == "chunked") {
        r.chunked = true;
        for (;;) {
            const qsizetype lineEnd = buf.indexOf("\r\n", pos);
            if (lineEnd < 0)
                return Parse::NeedMore;
            const qint64 size = buf.mid(pos, lineEnd - pos).toLongLong(&ok, 16);
            if (!ok)
                return Parse::Bad;
            pos = lineEnd + 2;
            if (buf.size() < pos + size + 2)
                return Parse::NeedMore;
            if (buf.mid(pos + size, 2) != "\r\n")
                return Parse::Bad;
            if (size == 0)
                break;
            r.chunks.append(buf.mid(pos, size));
            r.body += r.chunks.last();
            pos += size + 2;
        }
        pos += 2;
    } else if (r.hasHeader("content-length")) {
        const qint64 length = r.header("content-length").toLongLong(&ok);
        if (!ok)
            return Parse::Bad;
        if (buf.size() - pos < length)
            return eof ? Parse::Bad : Parse::NeedMore;
        r.body = buf.mid(pos, length);
        pos += length;
    } else {
        if (!eof)
            return Parse::NeedMore;
        r.body = buf.mid(pos);
        pos = buf.size();
    }
    *consumed = pos;
    *out = r;
    return Parse::Done;
}

// A raw client on one connection; every wait runs the event loop (the server lives on this thread).
class Client
{
public:
    explicit Client(quint16 port, qint64 readBufferSize = 0)
    {
        if (readBufferSize > 0)
            socket.setReadBufferSize(readBufferSize);
        socket.connectToHost(QHostAddress::LocalHost, port);
        m_connected = socket.waitForConnected(5000);
    }

    bool isConnected() const { return m_connected && socket.state() == QAbstractSocket::ConnectedState; }
    bool isClosed() const { return socket.state() == QAbstractSocket::UnconnectedState; }

    void send(const QByteArray &data)
    {
        socket.write(data);
        socket.flush();
    }

    std::optional<Response> next(int timeoutMs = 5000, bool head = false)
    {
        std::optional<Response> result;
        (void)QTest::qWaitFor(
            [&] {
                pump();
                const bool eof = isClosed();
                Response r;
                qsizetype used = 0;
                switch (parseResponse(m_buf, head, eof, &r, &used)) {
                case Parse::Done:
                    m_buf.remove(0, used);
                    result = r;
                    return true;
                case Parse::Bad: qWarning() << "unparsable response:" << m_buf.left(200); return true;
                case Parse::NeedMore: return eof;
                }
                return true;
            },
            timeoutMs);
        return result;
    }

    // True once the server closed the connection.
    bool waitClosed(int timeoutMs = 5000)
    {
        return QTest::qWaitFor(
            [&] {
                pump();
                return isClosed();
            },
            timeoutMs);
    }

    // Waits for `n` raw bytes (or a close).
    QByteArray waitBytes(qsizetype n, int timeoutMs = 5000)
    {
        (void)QTest::qWaitFor(
            [&] {
                pump();
                return m_buf.size() >= n || isClosed();
            },
            timeoutMs);
        return m_buf.left(n);
    }

    QByteArray &buffer() { return m_buf; }
    void pump() { m_buf += socket.readAll(); }

    QTcpSocket socket;

private:
    QByteArray m_buf;
    bool m_connected = false;
};

QByteArray get(const QByteArray &target, const QByteArray &extra = {})
{
    return "GET " + target + " HTTP/1.1\r\nHost: localhost\r\n" + extra + "\r\n";
}

QByteArray post(const QByteArray &target, const QByteArray &body)
{
    return "POST " + target + " HTTP/1.1\r\nHost: localhost\r\nContent-Length: "
           + QByteArray::number(body.size()) + "\r\n\r\n" + body;
}

QByteArray chunkedPost(const QByteArray &target, const QList<QByteArray> &chunks,
                       const QByteArray &extra = {})
{
    QByteArray out = "POST " + target + " HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n"
                     + extra + "\r\n";
    for (const QByteArray &c : chunks)
        out += QByteArray::number(c.size(), 16) + "\r\n" + c + "\r\n";
    out += "0\r\n\r\n";
    return out;
}

// A server on 127.0.0.1, port 0, with a handler of test routes:
//   /delay?ms=N    answers after N ms           /hold         keeps the responder in `held`
//   /stream?n=K&interval=ms  K SSE events, then end     /stream-hold  one event, then `held`
//   /status?code=N answers N with body "x"      /big?size=N   a body of N bytes
//   /framing       sets framing headers itself  /drop         drops the responder unanswered
//   anything else  echoes: X-Method, X-Target, X-Path, X-Query, X-Version, body
// `events` records "dispatch <target>" and "answer <target>" in order.
class Fixture : public QObject
{
public:
    explicit Fixture(const HttpServerOptions &options = {}) : server(options)
    {
        server.setHandler([this](const HttpRequest &request, std::shared_ptr<HttpResponder> r) {
            handle(request, std::move(r));
        });
        listening = server.listen(QHostAddress::LocalHost, 0);
    }

    quint16 port() const { return server.port(); }

    HttpServer server;
    bool listening = false;
    QByteArrayList events;
    QList<std::shared_ptr<HttpResponder>> held;
    std::optional<HttpRequest> last;
    int requests = 0;

private:
    void handle(const HttpRequest &req, std::shared_ptr<HttpResponder> r)
    {
        ++requests;
        last = req;
        events << "dispatch " + req.target;
        const QUrlQuery query(QString::fromLatin1(req.query));
        const auto arg = [&](const char *name, int fallback) {
            const QString v = query.queryItemValue(QString::fromLatin1(name));
            return v.isEmpty() ? fallback : v.toInt();
        };
        if (req.path == "/delay") {
            const QByteArray target = req.target;
            QTimer::singleShot(arg("ms", 0), this, [this, r, target] {
                events << "answer " + target;
                r->respond(200, {{"X-Target", target}}, target);
            });
        } else if (req.path == "/hold") {
            held << r;
        } else if (req.path == "/stream") {
            const int n = arg("n", 3);
            const int interval = arg("interval", 0);
            const QByteArray target = req.target;
            r->beginStream(200, {{"Content-Type", "text/event-stream"}, {"X-Target", target}});
            if (interval == 0) {
                for (int i = 1; i <= n; ++i)
                    r->write("data: " + QByteArray::number(i) + "\n\n");
                events << "answer " + target;
                r->end();
                return;
            }
            auto *timer = new QTimer(this);
            auto count = std::make_shared<int>(0);
            connect(timer, &QTimer::timeout, this, [this, r, timer, count, n, target] {
                ++*count;
                if (!r->write("data: " + QByteArray::number(*count) + "\n\n") || *count == n) {
                    events << "answer " + target;
                    r->end();
                    timer->deleteLater();
                    timer->stop();
                }
            });
            timer->start(interval);
        } else if (req.path == "/stream-hold") {
            r->beginStream(200, {{"Content-Type", "text/event-stream"}});
            r->write("data: hello\n\n");
            held << r;
        } else if (req.path == "/status") {
            r->respond(arg("code", 200), {}, "x");
        } else if (req.path == "/big") {
            r->respond(200, {{"Content-Type", "application/octet-stream"}}, QByteArray(arg("size", 0), 'b'));
        } else if (req.path == "/framing") {
            r->respond(200,
                       {{"Content-Length", "999"},
                        {"connection", "keep-alive"},
                        {"Transfer-Encoding", "chunked"},
                        {"X-Ok", "1"}},
                       "abc");
        } else if (req.path == "/drop") {
            // dropped unanswered
        } else {
            events << "answer " + req.target;
            r->respond(200,
                       {{"X-Method", req.method},
                        {"X-Target", req.target},
                        {"X-Path", req.path},
                        {"X-Query", req.query},
                        {"X-Version", QByteArray::number(req.versionMinor)}},
                       req.body);
        }
    }
};

HttpServerOptions smallLimits()
{
    HttpServerOptions o;
    o.maxHeaderBytes = 1024;
    o.maxBodyBytes = 1000;
    return o;
}

} // namespace

class TestHttpServer : public QObject
{
    Q_OBJECT
private slots:
    void keepAlive_data();
    void keepAlive();
    void pipelining_data();
    void pipelining();
    void pipelinedBehindStream();
    void expectContinue_data();
    void expectContinue();
    void limits_data();
    void limits();
    void splitDelivery_data();
    void splitDelivery();
    void requestFields();
    void methods_data();
    void methods();
    void responseFraming_data();
    void responseFraming();
    void largeBodies();
    void handlerMistakes();
    void idleTimeout();
    void headerTimeout_data();
    void headerTimeout();
    void outstandingResponseIsNotIdle();
    void requestTimeout_data();
    void requestTimeout();
    void requestTimeoutSparesIdleAndBusy();
    void rateLimit();
    void acceptErrorResumes();
    void respondAfterDisconnect_data();
    void respondAfterDisconnect();
    void slowReaderIsCutOff();
    void streamRefillsOnBytesWritten();
    void maxConnections();
    void stopListeningAndCloseAll();
    void listenFailure();
};

// ---- Connection persistence (RFC 9112 section 9.3) ----------------------------------------------

void TestHttpServer::keepAlive_data()
{
    QTest::addColumn<QByteArray>("request");
    QTest::addColumn<bool>("keepsAlive");
    QTest::addColumn<QByteArray>("connectionHeader");

    QTest::newRow("1.1 default") << get("/a") << true << QByteArray();
    QTest::newRow("1.1 close") << get("/a", "Connection: close\r\n") << false << QByteArray("close");
    QTest::newRow("1.1 Close, any case")
        << get("/a", "Connection: Close\r\n") << false << QByteArray("close");
    QTest::newRow("1.1 close in a token list")
        << get("/a", "Connection: keep-alive, close\r\n") << false << QByteArray("close");
    QTest::newRow("1.0 default") << QByteArray("GET /a HTTP/1.0\r\n\r\n") << false << QByteArray("close");
    QTest::newRow("1.0 keep-alive") << QByteArray("GET /a HTTP/1.0\r\nConnection: keep-alive\r\n\r\n") << true
                                    << QByteArray("keep-alive");
}

void TestHttpServer::keepAlive()
{
    QFETCH(QByteArray, request);
    QFETCH(bool, keepsAlive);
    QFETCH(QByteArray, connectionHeader);

    Fixture f;
    QVERIFY(f.listening);
    Client c(f.port());
    QVERIFY(c.isConnected());
    c.send(request);
    const auto r = c.next();
    QVERIFY(r);
    QCOMPARE(r->status, 200);
    QCOMPARE(r->header("connection"), connectionHeader);
    QCOMPARE(r->header("x-target"), QByteArray("/a"));
    if (keepsAlive) {
        c.send(request);
        const auto second = c.next();
        QVERIFY(second);
        QCOMPARE(second->status, 200);
        QVERIFY(c.isConnected());
        QCOMPARE(f.server.connectionCount(), 1);
    } else {
        QVERIFY(c.waitClosed());
        QVERIFY(c.buffer().isEmpty());
        QTRY_COMPARE(f.server.connectionCount(), 0);
    }
}

// ---- Pipelining ---------------------------------------------------------------------------------

void TestHttpServer::pipelining_data()
{
    QTest::addColumn<QByteArrayList>("requests");
    QTest::addColumn<QByteArrayList>("targets");

    // The handler's timers would answer these 2, 3, 1 if it saw them at once.
    QTest::newRow("later requests answered sooner")
        << QByteArrayList{get("/delay?ms=300&id=1"), get("/delay?ms=10&id=2"), get("/delay?ms=100&id=3")}
        << QByteArrayList{"/delay?ms=300&id=1", "/delay?ms=10&id=2", "/delay?ms=100&id=3"};
    QTest::newRow("answered synchronously")
        << QByteArrayList{get("/e?id=1"), get("/e?id=2"), get("/e?id=3"), get("/e?id=4")}
        << QByteArrayList{"/e?id=1", "/e?id=2", "/e?id=3", "/e?id=4"};
    QTest::newRow("with bodies, chunked, and an unknown method")
        << QByteArrayList{post("/p?id=1", "hello"), get("/delay?ms=50&id=2"),
                          chunkedPost("/c?id=3", {"ab", "cd"}), "BREW /pot?id=4 HTTP/1.1\r\nHost: x\r\n\r\n",
                          get("/e?id=5")}
        << QByteArrayList{"/p?id=1", "/delay?ms=50&id=2", "/c?id=3", "/pot?id=4", "/e?id=5"};
}

void TestHttpServer::pipelining()
{
    QFETCH(QByteArrayList, requests);
    QFETCH(QByteArrayList, targets);

    Fixture f;
    QVERIFY(f.listening);
    Client c(f.port());
    c.send(requests.join()); // one write
    for (const QByteArray &target : targets) {
        const auto r = c.next();
        QVERIFY2(r, target.constData());
        QCOMPARE(r->status, 200);
        QCOMPARE(r->header("x-target"), target);
    }
    QVERIFY(c.isConnected());
    // Each request reached the handler only after the one before it was answered.
    QByteArrayList expected;
    for (const QByteArray &target : targets)
        expected << "dispatch " + target << "answer " + target;
    QCOMPARE(f.events, expected);
}

// A request behind a live stream is not injected into it: it waits for the stream's end.
void TestHttpServer::pipelinedBehindStream()
{
    Fixture f;
    QVERIFY(f.listening);
    Client c(f.port());
    c.send(get("/stream?n=3&interval=100") + get("/e?after"));
    const auto stream = c.next();
    QVERIFY(stream);
    QCOMPARE(stream->status, 200);
    QVERIFY(stream->chunked);
    QCOMPARE(stream->chunks, (QByteArrayList{"data: 1\n\n", "data: 2\n\n", "data: 3\n\n"}));
    const auto after = c.next();
    QVERIFY(after);
    QCOMPARE(after->header("x-target"), QByteArray("/e?after"));
    QCOMPARE(f.events, (QByteArrayList{"dispatch /stream?n=3&interval=100", "answer /stream?n=3&interval=100",
                                       "dispatch /e?after", "answer /e?after"}));
}

// ---- Expect: 100-continue (RFC 9110 section 10.1.1) ---------------------------------------------

void TestHttpServer::expectContinue_data()
{
    QTest::addColumn<QByteArray>("head");
    QTest::addColumn<QByteArray>("body");
    QTest::addColumn<bool>("expectContinue");
    QTest::addColumn<int>("status");

    QTest::newRow("accepted") << QByteArray(
        "POST /e HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\nExpect: 100-continue\r\n\r\n")
                              << QByteArray("0123456789") << true << 200;
    QTest::newRow("accepted, chunked") << QByteArray(
        "POST /e HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nExpect: 100-Continue\r\n\r\n")
                                       << QByteArray("a\r\n0123456789\r\n0\r\n\r\n") << true << 200;
    QTest::newRow("too large: 413 without 100")
        << QByteArray("POST /e HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\nExpect: 100-continue\r\n\r\n")
        << QByteArray() << false << 413;
    QTest::newRow("HTTP/1.0: not sent")
        << QByteArray("POST /e HTTP/1.0\r\nContent-Length: 10\r\nExpect: 100-continue\r\n\r\n")
        << QByteArray("0123456789") << false << 200;
    QTest::newRow("no body: not sent")
        << QByteArray("POST /e HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nExpect: 100-continue\r\n\r\n")
        << QByteArray() << false << 200;
}

void TestHttpServer::expectContinue()
{
    QFETCH(QByteArray, head);
    QFETCH(QByteArray, body);
    QFETCH(bool, expectContinue);
    QFETCH(int, status);

    Fixture f(smallLimits());
    QVERIFY(f.listening);
    Client c(f.port());
    c.send(head);
    if (expectContinue) {
        const QByteArray interim("HTTP/1.1 100 Continue\r\n\r\n");
        QCOMPARE(c.waitBytes(interim.size()), interim);
        QCOMPARE(f.requests, 0); // the body has not been read, the handler not called
        c.buffer().remove(0, interim.size());
    } else if (status == 200 && !body.isEmpty()) {
        QTest::qWait(200);
        c.pump();
        QCOMPARE(c.buffer(), QByteArray()); // nothing before the body arrives
    }
    if (!body.isEmpty())
        c.send(body);
    const auto r = c.next();
    QVERIFY(r);
    QCOMPARE(r->status, status);
    if (status == 200) {
        QCOMPARE(r->body, QByteArray(body.contains("\r\n") ? "0123456789" : body));
    } else {
        QCOMPARE(r->header("connection"), QByteArray("close"));
        QVERIFY(c.waitClosed());
        QCOMPARE(f.requests, 0);
    }
}

// ---- Limits and malformed requests --------------------------------------------------------------

void TestHttpServer::limits_data()
{
    QTest::addColumn<QByteArray>("request");
    QTest::addColumn<int>("status");

    // smallLimits(): 1024 header bytes, 1000 body bytes.
    const auto sized = [](qsizetype total) -> QByteArray { // a canonical request of exactly `total` bytes
        const QByteArray start = "GET /x HTTP/1.1\r\nHost: a\r\nX-Pad: ";
        const QByteArray end = "\r\n\r\n";
        return start + QByteArray(total - start.size() - end.size(), 'p') + end;
    };
    QTest::newRow("headers at the limit") << sized(1024) << 200;
    QTest::newRow("headers one byte over") << sized(1025) << 431;
    QTest::newRow("one large header") << get("/x", "X-Big: " + QByteArray(5000, 'a') + "\r\n") << 431;
    QTest::newRow("many small headers") << get("/x", QByteArray("A: b\r\n").repeated(300)) << 431;
    QTest::newRow("long request line") << get("/" + QByteArray(3000, 'a')) << 431;
    QTest::newRow("body at the limit") << post("/x", QByteArray(1000, 'b')) << 200;
    QTest::newRow("content-length over, body not sent")
        << QByteArray("POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 1001\r\n\r\n") << 413;
    QTest::newRow("content-length far over, body sent") << post("/x", QByteArray(200000, 'b')) << 413;
    QTest::newRow("chunked body at the limit")
        << chunkedPost("/x", {QByteArray(600, 'c'), QByteArray(400, 'c')}) << 200;
    QTest::newRow("chunked body over")
        << chunkedPost("/x", {QByteArray(600, 'c'), QByteArray(401, 'c')}) << 413;
    QTest::newRow("negative content-length")
        << QByteArray("POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: -5\r\n\r\nhello") << 400;
    QTest::newRow("two different content-lengths")
        << QByteArray("POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!")
        << 400;
    QTest::newRow("two equal content-lengths")
        << QByteArray("POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello")
        << 400;
    QTest::newRow("content-length list")
        << QByteArray("POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 5\r\n\r\nhello") << 400;
    QTest::newRow("content-length overflow")
        << QByteArray("POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999999\r\n\r\n")
        << 400;
    QTest::newRow("content-length with chunked")
        << QByteArray("POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"
                      "5\r\nhello\r\n0\r\n\r\n")
        << 400;
    QTest::newRow("transfer-encoding not ending in chunked")
        << QByteArray("POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n") << 400;
    QTest::newRow("bad chunk size") << QByteArray(
        "POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n")
                                    << 400;
    QTest::newRow("malformed request line") << QByteArray("GARBAGE\r\n\r\n") << 400;
    QTest::newRow("HTTP/0.9 request line") << QByteArray("GET /\r\n\r\n") << 505;
    QTest::newRow("bad version") << QByteArray("GET / HTTP/x.1\r\n\r\n") << 400;
    QTest::newRow("HTTP/2") << QByteArray("GET / HTTP/2.0\r\n\r\n") << 505;
    QTest::newRow("HTTP/2 preface") << QByteArray("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n") << 505;
    QTest::newRow("space in a header name") << get("/x", "Bad Header: x\r\n") << 400;
    QTest::newRow("HTTP/1.1 without Host") << QByteArray("GET /x HTTP/1.1\r\nAccept: */*\r\n\r\n") << 400;
    QTest::newRow("method too long") << QByteArray(40, 'A') + " / HTTP/1.1\r\n\r\n" << 400;
}

void TestHttpServer::limits()
{
    QFETCH(QByteArray, request);
    QFETCH(int, status);

    Fixture f(smallLimits());
    QVERIFY(f.listening);
    Client c(f.port());
    c.send(request);
    const auto r = c.next();
    QVERIFY(r);
    QCOMPARE(r->status, status);
    if (status == 200) {
        QCOMPARE(f.requests, 1);
        QVERIFY(c.isConnected());
        return;
    }
    QCOMPARE(r->header("connection"), QByteArray("close"));
    QVERIFY(c.waitClosed());
    QCOMPARE(f.requests, 0);
    QTRY_COMPARE(f.server.connectionCount(), 0);
}

// ---- Parsing across reads -----------------------------------------------------------------------

void TestHttpServer::splitDelivery_data()
{
    QTest::addColumn<int>("pieceSize");
    QTest::newRow("1 byte") << 1;
    QTest::newRow("3 bytes") << 3;
    QTest::newRow("17 bytes") << 17;
    QTest::newRow("whole") << 100000;
}

void TestHttpServer::splitDelivery()
{
    QFETCH(int, pieceSize);

    Fixture f;
    QVERIFY(f.listening);
    Client c(f.port());
    const QByteArray request = chunkedPost("/split/path?a=1&b=2", {"hello ", "chunked ", "world"},
                                           "X-Long-Header-Name: some value\r\nPURGE-Like: v\r\n")
                               + "PATCH /second HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc";
    for (qsizetype i = 0; i < request.size(); i += pieceSize) {
        c.send(request.mid(i, pieceSize));
        if (pieceSize < 100)
            QCoreApplication::processEvents();
    }
    const auto first = c.next();
    QVERIFY(first);
    QCOMPARE(first->status, 200);
    QCOMPARE(first->header("x-method"), QByteArray("POST"));
    QCOMPARE(first->header("x-path"), QByteArray("/split/path"));
    QCOMPARE(first->header("x-query"), QByteArray("a=1&b=2"));
    QCOMPARE(first->body, QByteArray("hello chunked world"));
    const auto second = c.next();
    QVERIFY(second);
    QCOMPARE(second->header("x-method"), QByteArray("PATCH"));
    QCOMPARE(second->body, QByteArray("abc"));
    QVERIFY(f.last);
    QCOMPARE(f.last->header("host"), QByteArray("x"));
}

void TestHttpServer::requestFields()
{
    Fixture f;
    QVERIFY(f.listening);
    Client c(f.port());
    c.send(
        "OPTIONS /p/q?x=1&y=%20 HTTP/1.1\r\nHost: example\r\nX-Repeat: one\r\nCONTENT-type: text/plain  \r\n"
        "x-repeat: two\r\nEmpty:\r\nContent-Length: 4\r\n\r\nbody");
    QVERIFY(c.next());
    QVERIFY(f.last);
    const HttpRequest &r = *f.last;
    QCOMPARE(r.method, QByteArray("OPTIONS"));
    QCOMPARE(r.target, QByteArray("/p/q?x=1&y=%20"));
    QCOMPARE(r.path, QByteArray("/p/q"));
    QCOMPARE(r.query, QByteArray("x=1&y=%20"));
    QCOMPARE(r.versionMinor, 1);
    QCOMPARE(r.body, QByteArray("body"));
    QCOMPARE(r.peer, QHostAddress(QHostAddress::LocalHost));
    const HttpHeaders expected = {{"host", "example"}, {"x-repeat", "one"}, {"content-type", "text/plain"},
                                  {"x-repeat", "two"}, {"empty", ""},       {"content-length", "4"}};
    QCOMPARE(r.headers, expected);
    QCOMPARE(r.header("x-repeat"), QByteArray("one"));
    QVERIFY(r.hasHeader("empty"));
    QVERIFY(!r.hasHeader("missing"));
    QCOMPARE(r.header("missing"), QByteArray());

    // absolute-form target
    c.send("GET http://example.com:8080/abs/path?k=v HTTP/1.1\r\nHost: example.com\r\n\r\n");
    QVERIFY(c.next());
    QCOMPARE(f.last->path, QByteArray("/abs/path"));
    QCOMPARE(f.last->query, QByteArray("k=v"));
}

// Every method token reaches the handler, known to libhttp-parser or not (405/501 is the handler's call).
void TestHttpServer::methods_data()
{
    QTest::addColumn<QByteArray>("method");
    for (const char *m : {"GET", "POST", "DELETE", "PATCH", "OPTIONS", "M-SEARCH", "PROPPATCH", "BREW", "get",
                          "Post", "X_CUSTOM-1", "GETX", "PURGEX", "ABCDEFGHIJKLMNOPQRSTUVWXYZABCDEF"})
        QTest::newRow(m) << QByteArray(m);
}

void TestHttpServer::methods()
{
    QFETCH(QByteArray, method);

    Fixture f;
    QVERIFY(f.listening);
    Client c(f.port());
    // Twice, with a body, pipelined: the substitution must not disturb what follows.
    const QByteArray request = method + " /m HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nok";
    c.send(request + request + get("/after"));
    for (int i = 0; i < 2; ++i) {
        const auto r = c.next();
        QVERIFY(r);
        QCOMPARE(r->status, 200);
        QCOMPARE(r->header("x-method"), method);
        QCOMPARE(r->body, QByteArray("ok"));
    }
    const auto after = c.next();
    QVERIFY(after);
    QCOMPARE(after->header("x-method"), QByteArray("GET"));
}

// ---- Response framing ---------------------------------------------------------------------------

void TestHttpServer::responseFraming_data()
{
    QTest::addColumn<QByteArray>("request");
    QTest::addColumn<bool>("head");
    QTest::addColumn<int>("status");
    QTest::addColumn<QByteArray>("contentLength"); // "-": absent
    QTest::addColumn<bool>("chunked");
    QTest::addColumn<QByteArray>("body");
    QTest::addColumn<bool>("keepsAlive");

    QTest::newRow("fixed") << get("/status?code=201") << false << 201 << QByteArray("1") << false
                           << QByteArray("x") << true;
    QTest::newRow("204: no length, no body")
        << get("/status?code=204") << false << 204 << QByteArray("-") << false << QByteArray() << true;
    QTest::newRow("304: no length, no body")
        << get("/status?code=304") << false << 304 << QByteArray("-") << false << QByteArray() << true;
    QTest::newRow("HEAD: length, no body")
        << QByteArray("HEAD /big?size=100 HTTP/1.1\r\nHost: x\r\n\r\n") << true << 200 << QByteArray("100")
        << false << QByteArray() << true;
    QTest::newRow("large body") << get("/big?size=100000") << false << 200 << QByteArray("100000") << false
                                << QByteArray(100000, 'b') << true;
    QTest::newRow("stream, HTTP/1.1: chunked") << get("/stream?n=2") << false << 200 << QByteArray("-")
                                               << true << QByteArray("data: 1\n\ndata: 2\n\n") << true;
    QTest::newRow("stream, HTTP/1.0: until close")
        << QByteArray("GET /stream?n=2 HTTP/1.0\r\n\r\n") << false << 200 << QByteArray("-") << false
        << QByteArray("data: 1\n\ndata: 2\n\n") << false;
    QTest::newRow("stream, HTTP/1.0 keep-alive: still until close")
        << QByteArray("GET /stream?n=2 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n") << false << 200
        << QByteArray("-") << false << QByteArray("data: 1\n\ndata: 2\n\n") << false;
    QTest::newRow("stream to HEAD: no body")
        << QByteArray("HEAD /stream?n=2 HTTP/1.1\r\nHost: x\r\n\r\n") << true << 200 << QByteArray("-")
        << false << QByteArray() << true;
    QTest::newRow("handler's framing headers dropped")
        << get("/framing") << false << 200 << QByteArray("3") << false << QByteArray("abc") << true;
}

void TestHttpServer::responseFraming()
{
    QFETCH(QByteArray, request);
    QFETCH(bool, head);
    QFETCH(int, status);
    QFETCH(QByteArray, contentLength);
    QFETCH(bool, chunked);
    QFETCH(QByteArray, body);
    QFETCH(bool, keepsAlive);

    Fixture f;
    QVERIFY(f.listening);
    Client c(f.port());
    c.send(request);
    const auto r = c.next(5000, head);
    QVERIFY(r);
    QCOMPARE(r->status, status);
    if (contentLength == "-")
        QVERIFY(!r->hasHeader("content-length"));
    else
        QCOMPARE(r->header("content-length"), contentLength);
    QCOMPARE(r->chunked, chunked);
    QCOMPARE(r->body, body);
    QVERIFY(r->hasHeader("date"));
    QCOMPARE(r->headers.count({"content-length", r->header("content-length")}),
             r->hasHeader("content-length") ? 1 : 0);
    QVERIFY(!r->hasHeader("transfer-encoding") || r->header("transfer-encoding") == "chunked");
    if (request.contains("/framing")) {
        QCOMPARE(r->header("x-ok"), QByteArray("1"));
        QVERIFY(!r->hasHeader("connection"));
    }
    if (keepsAlive) {
        // Nothing stray follows: the next response parses cleanly.
        c.send(get("/e?next"));
        const auto next = c.next();
        QVERIFY(next);
        QCOMPARE(next->header("x-target"), QByteArray("/e?next"));
    } else {
        QCOMPARE(r->header("connection"), QByteArray("close"));
        QVERIFY(c.isClosed());
    }
}

void TestHttpServer::largeBodies()
{
    Fixture f; // the default limit, 3 MiB
    QVERIFY(f.listening);
    Client c(f.port());
    QByteArray body(2 << 20, 'x');
    for (int i = 0; i < body.size(); i += 4096)
        body[i] = char('a' + (i / 4096) % 26);
    c.send(post("/e", body));
    const auto r = c.next(20000);
    QVERIFY(r);
    QCOMPARE(r->status, 200);
    QVERIFY(r->body == body);
    // A chunked one, in many chunks.
    QList<QByteArray> chunks;
    for (int i = 0; i < 64; ++i)
        chunks << QByteArray(16384, char('a' + i % 26));
    c.send(chunkedPost("/e", chunks));
    const auto r2 = c.next(20000);
    QVERIFY(r2);
    QCOMPARE(r2->body.size(), 64 * 16384);
    QVERIFY(r2->body == chunks.join());
}

// A handler that drops its responder unanswered gets a 500 for the client; no handler: 404.
void TestHttpServer::handlerMistakes()
{
    Fixture f;
    QVERIFY(f.listening);
    Client c(f.port());
    QTest::ignoreMessage(QtWarningMsg, QRegularExpression(QStringLiteral("dropped .* without answering")));
    c.send(get("/drop"));
    const auto r = c.next();
    QVERIFY(r);
    QCOMPARE(r->status, 500);

    f.server.setHandler(nullptr);
    c.send(get("/anything"));
    const auto r2 = c.next();
    QVERIFY(r2);
    QCOMPARE(r2->status, 404);
}

// ---- Timeouts -----------------------------------------------------------------------------------

void TestHttpServer::idleTimeout()
{
    HttpServerOptions o;
    o.idleTimeoutMs = 300;
    o.headerTimeoutMs = 5000;
    Fixture f(o);
    QVERIFY(f.listening);

    // Kept busy past the timeout: stays open.
    Client c(f.port());
    for (int i = 0; i < 6; ++i) {
        if (i > 0)
            QTest::qWait(150);
        c.send(get("/e"));
        QVERIFY(c.next());
    }
    QVERIFY(c.isConnected());

    // Then idle: closed after about 300 ms, without a response.
    QElapsedTimer t;
    t.start();
    QVERIFY(c.waitClosed(3000));
    QVERIFY2(t.elapsed() >= 200, QByteArray::number(t.elapsed()).constData());
    QVERIFY(c.buffer().isEmpty());

    // A connection that never sends anything: the shorter of the two timeouts.
    Client silent(f.port());
    t.restart();
    QVERIFY(silent.waitClosed(3000));
    QVERIFY(t.elapsed() >= 200);
    QTRY_COMPARE(f.server.connectionCount(), 0);
}

void TestHttpServer::headerTimeout_data()
{
    QTest::addColumn<QByteArrayList>("pieces"); // sent 100 ms apart
    QTest::addColumn<int>("expectedMs");

    QTest::newRow("headers stop") << QByteArrayList{"GET / HTTP/1.1\r\nHost: x\r\n"} << 300;
    QTest::newRow("a partial method") << QByteArrayList{"GE"} << 300;
    QByteArrayList dribble;
    for (int i = 0; i < 30; ++i)
        dribble << (i == 0 ? QByteArray("GET / HTTP/1.1\r\n") : QByteArray("X: y\r\n"));
    QTest::newRow("slowloris: headers dribble in") << dribble << 300;
    // The body phase is timed by the idle timeout (600 ms here), which more bytes extend.
    QTest::newRow("body stops")
        << QByteArrayList{"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n12345"} << 600;
}

void TestHttpServer::headerTimeout()
{
    QFETCH(QByteArrayList, pieces);
    QFETCH(int, expectedMs);

    HttpServerOptions o;
    o.headerTimeoutMs = 300;
    o.idleTimeoutMs = 600;
    Fixture f(o);
    QVERIFY(f.listening);
    Client c(f.port());
    QElapsedTimer t;
    t.start();
    for (const QByteArray &piece : pieces) {
        if (c.isClosed())
            break;
        c.send(piece);
        QTest::qWait(100);
        c.pump();
    }
    QVERIFY(c.waitClosed(5000));
    const qint64 elapsed = t.elapsed();
    QVERIFY2(elapsed >= expectedMs - 50 && elapsed < expectedMs + 1500,
             QByteArray::number(elapsed).constData());
    const auto r = c.next(100);
    QVERIFY(r);
    QCOMPARE(r->status, 408);
    QCOMPARE(f.requests, 0);
}

// A long-poll the handler has not answered, or a quiet stream, is not idle.
void TestHttpServer::outstandingResponseIsNotIdle()
{
    HttpServerOptions o;
    o.idleTimeoutMs = 200;
    o.headerTimeoutMs = 200;
    Fixture f(o);
    QVERIFY(f.listening);
    Client c(f.port());
    c.send(get("/delay?ms=900"));
    const auto r = c.next(5000);
    QVERIFY(r);
    QCOMPARE(r->status, 200);
    QVERIFY(c.isConnected());

    c.send(get("/stream?n=2&interval=700"));
    const auto s = c.next(5000);
    QVERIFY(s);
    QCOMPARE(s->chunks.size(), 2);
    QVERIFY(c.isConnected());
    QVERIFY(c.waitClosed(3000)); // idle afterwards
}

// A request whose body (or headers) keeps trickling in is cut off at requestTimeoutMs from its first
// byte, although every byte came well within the idle timeout that times the body otherwise.
void TestHttpServer::requestTimeout_data()
{
    QTest::addColumn<QByteArray>("head");     // sent at once
    QTest::addColumn<QByteArray>("trickled"); // then one byte every 100 ms

    QTest::newRow("body trickles") << QByteArray("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 200\r\n\r\n")
                                   << QByteArray(200, 'b');
    QTest::newRow("chunked body trickles")
        << QByteArray("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nc8\r\n")
        << QByteArray(200, 'c');
    // Behind a request answered at once: timed from the partial request's first byte.
    QTest::newRow("behind an answered request")
        << QByteArray("GET /a HTTP/1.1\r\nHost: x\r\n\r\nPOST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 200\r\n\r\n")
        << QByteArray(200, 'd');
}

void TestHttpServer::requestTimeout()
{
    QFETCH(QByteArray, head);
    QFETCH(QByteArray, trickled);

    HttpServerOptions o;
    o.requestTimeoutMs = 600;
    o.headerTimeoutMs = 5000;
    o.idleTimeoutMs = 5000; // far longer than the gaps between bytes: it never fires here
    Fixture f(o);
    QVERIFY(f.listening);
    Client c(f.port());
    QElapsedTimer t;
    t.start();
    c.send(head);
    qsizetype sent = 0;
    while (sent < trickled.size() && !c.isClosed()) {
        QTest::qWait(100);
        c.send(trickled.mid(sent++, 1));
        c.pump();
    }
    QVERIFY2(c.isClosed() || c.waitClosed(5000), "the connection outlived its request's deadline");
    QVERIFY2(sent < trickled.size(), "the whole body went through: no deadline applied");
    QVERIFY2(t.elapsed() >= 500, QByteArray::number(t.elapsed()).constData());
    std::optional<Response> r = c.next(100);
    if (head.startsWith("GET /a")) { // the first request was answered
        QVERIFY(r);
        QCOMPARE(r->status, 200);
        r = c.next(100);
    }
    QVERIFY(r);
    QCOMPARE(r->status, 408);
    QVERIFY(!f.events.contains("dispatch /"));
    QVERIFY(!f.events.contains("dispatch /b"));
    QTRY_COMPARE(f.server.connectionCount(), 0);
}

// The deadline times a request's arrival only: neither the pause between requests on a keep-alive
// connection nor the time the handler takes count against it.
void TestHttpServer::requestTimeoutSparesIdleAndBusy()
{
    HttpServerOptions o;
    o.requestTimeoutMs = 300;
    o.headerTimeoutMs = 5000;
    o.idleTimeoutMs = 5000;
    Fixture f(o);
    QVERIFY(f.listening);
    Client c(f.port());
    c.send(get("/first"));
    QVERIFY(c.next());
    QTest::qWait(900); // idle for three deadlines
    QVERIFY(c.isConnected());
    c.send(get("/delay?ms=1000")); // answered after three deadlines
    const auto slow = c.next(5000);
    QVERIFY(slow);
    QCOMPARE(slow->status, 200);
    // A request sent in pieces well within the deadline is served.
    const QByteArray request = post("/split", QByteArray(64, 's'));
    c.send(request.left(20));
    QTest::qWait(50);
    c.send(request.mid(20, 40));
    QTest::qWait(50);
    c.send(request.mid(60));
    const auto split = c.next(5000);
    QVERIFY(split);
    QCOMPARE(split->status, 200);
    QCOMPARE(split->body, QByteArray(64, 's'));
    QVERIFY(c.isConnected());
}

// A connection over its rate gets 429 with Retry-After and stays open; another connection has
// its own bucket.
void TestHttpServer::rateLimit()
{
    HttpServerOptions o;
    o.requestRate = 1;
    o.requestBurst = 3;
    Fixture f(o);
    QVERIFY(f.listening);
    f.server.setRefusalFormatter([](int status, const QString &message) {
        return std::pair<QByteArray, QByteArray>("application/json",
                                                 "{\"status\":" + QByteArray::number(status) + ",\"message\":\""
                                                     + message.toUtf8() + "\"}");
    });
    Client hot(f.port());
    QElapsedTimer t;
    t.start();
    constexpr int n = 20;
    QByteArray all;
    for (int i = 0; i < n; ++i)
        all += get("/r" + QByteArray::number(i));
    hot.send(all); // pipelined: far faster than one per second
    int ok = 0;
    int limited = 0;
    for (int i = 0; i < n; ++i) {
        const auto r = hot.next(5000);
        QVERIFY2(r, QByteArray::number(i).constData());
        if (i < 3)
            QCOMPARE(r->status, 200); // the burst
        if (r->status == 200) {
            ++ok;
            continue;
        }
        QCOMPARE(r->status, 429);
        ++limited;
        QVERIFY2(r->header("retry-after").toInt() >= 1, r->header("retry-after").constData());
        QCOMPARE(r->header("content-type"), QByteArray("application/json"));
        QVERIFY2(r->body.startsWith("{\"status\":429,\"message\":\"Too many requests"), r->body.constData());
    }
    // Nothing here asserts speed: whatever time the requests took, at most one more per second of
    // it could pass.
    QVERIFY2(ok <= 3 + int(t.elapsed() / 1000) + 1, QByteArray::number(ok).constData());
    QVERIFY(limited > 0);
    QCOMPARE(f.requests, ok); // refused requests never reach the handler
    QVERIFY(hot.isConnected());

    Client other(f.port());
    for (int i = 0; i < 3; ++i) {
        other.send(get("/other"));
        const auto r = other.next();
        QVERIFY(r);
        QCOMPARE(r->status, 200);
    }

    // After Retry-After, the hot connection is served again.
    QTest::qWait(1100);
    hot.send(get("/again"));
    const auto again = hot.next();
    QVERIFY(again);
    QCOMPARE(again->status, 200);

    // Without a formatter: plain text.
    f.server.setRefusalFormatter({});
    Client plain(f.port());
    plain.send(get("/p1") + get("/p2") + get("/p3") + get("/p4") + get("/p5") + get("/p6"));
    int plainLimited = 0;
    for (int i = 0; i < 6; ++i) {
        const auto r = plain.next();
        QVERIFY(r);
        if (r->status == 429) {
            ++plainLimited;
            QVERIFY2(r->header("content-type").startsWith("text/plain"), r->header("content-type").constData());
        }
    }
    QVERIFY(plainLimited > 0);
}

// Out of descriptors, accept() fails with EMFILE and Qt pauses the listener; the server must
// resume it, or it would never accept again. The test lowers its own descriptor limit (the server
// runs in this process) so that accepting the waiting connection fails, then restores it.
void TestHttpServer::acceptErrorResumes()
{
    Fixture f;
    QVERIFY(f.listening);
    Client c(f.port()); // connected by the kernel; the server has not accepted it yet
    QVERIFY(c.isConnected());
    rlimit saved{};
    QCOMPARE(::getrlimit(RLIMIT_NOFILE, &saved), 0);
    const int lowestFree = ::dup(0);
    QVERIFY(lowestFree >= 0);
    ::close(lowestFree);
    rlimit tight = saved;
    tight.rlim_cur = rlim_t(lowestFree); // no new descriptor can be made
    QCOMPARE(::setrlimit(RLIMIT_NOFILE, &tight), 0);
    QTest::ignoreMessage(QtWarningMsg, QRegularExpression(QStringLiteral("^cannot accept connections: ")));
    QTest::qWait(300); // the listener tries, fails and is paused
    QCOMPARE(f.server.connectionCount(), 0);
    QCOMPARE(::setrlimit(RLIMIT_NOFILE, &saved), 0);
    c.send(get("/after"));
    const auto r = c.next(5000);
    QVERIFY2(r, "the server did not accept again after the descriptors were back");
    QCOMPARE(r->status, 200);
    QCOMPARE(f.server.connectionCount(), 1);
}

// ---- Responders that outlive their client -------------------------------------------------------

void TestHttpServer::respondAfterDisconnect_data()
{
    QTest::addColumn<QByteArray>("target");
    QTest::addColumn<bool>("abortive"); // RST instead of FIN
    QTest::newRow("pending, FIN") << QByteArray("/hold") << false;
    QTest::newRow("pending, RST") << QByteArray("/hold") << true;
    QTest::newRow("streaming, FIN") << QByteArray("/stream-hold") << false;
    QTest::newRow("streaming, RST") << QByteArray("/stream-hold") << true;
}

void TestHttpServer::respondAfterDisconnect()
{
    QFETCH(QByteArray, target);
    QFETCH(bool, abortive);

    Fixture f;
    QVERIFY(f.listening);
    std::shared_ptr<HttpResponder> r;
    {
        Client c(f.port());
        c.send(get(target));
        QTRY_COMPARE(f.held.size(), 1);
        r = f.held.takeFirst();
        QVERIFY(r->isOpen());
        QSignalSpy gone(r.get(), &HttpResponder::disconnected);
        if (abortive)
            c.socket.abort();
        else
            c.socket.disconnectFromHost();
        QTRY_COMPARE(gone.size(), 1);
        QVERIFY(!r->isOpen());
        QVERIFY(!r->isFinished());
        // Let the connection object be deleted before the late answer.
        QTRY_COMPARE(f.server.connectionCount(), 0);
        QTest::qWait(20);
        QCOMPARE(r->bufferedBytes(), 0);
        r->respond(200, {{"X", "y"}}, "late");
        r->beginStream(200, {});
        QVERIFY(!r->write("late"));
        r->end();
        QVERIFY(!r->isOpen());
        QTest::qWait(20);
        QCOMPARE(gone.size(), 1); // once
    }
    r.reset(); // the last reference: deleted here, after its connection
    // The server still serves.
    Client c2(f.port());
    c2.send(get("/e"));
    QVERIFY(c2.next());
}

// ---- Output bounds ------------------------------------------------------------------------------

void TestHttpServer::slowReaderIsCutOff()
{
    HttpServerOptions o;
    o.maxWriteBuffer = 256 * 1024;
    Fixture f(o);
    QVERIFY(f.listening);
    Client c(f.port(), 4096); // reads 4 KiB into Qt's buffer, then leaves the rest in the kernel
    c.send(get("/stream-hold"));
    QTRY_COMPARE(f.held.size(), 1);
    const std::shared_ptr<HttpResponder> r = f.held.takeFirst();
    QSignalSpy gone(r.get(), &HttpResponder::disconnected);

    const QByteArray chunk(64 * 1024, 'z');
    qint64 written = 0;
    qint64 maxBuffered = 0;
    bool refused = false;
    while (written < (qint64(256) << 20)) {
        if (!r->write(chunk)) {
            refused = true;
            break;
        }
        written += chunk.size();
        maxBuffered = std::max(maxBuffered, r->bufferedBytes());
        QCoreApplication::processEvents(); // lets the socket hand what it can to the kernel
    }
    QVERIFY2(refused, QByteArray::number(written).constData());
    QVERIFY2(maxBuffered <= o.maxWriteBuffer, QByteArray::number(maxBuffered).constData());
    QVERIFY(!r->isOpen());
    QTRY_COMPARE(gone.size(), 1);
    QTRY_COMPARE(f.server.connectionCount(), 0);
    QVERIFY(!r->write(chunk));
}

// A streamer that refills on bytesWritten() delivers everything to a client that reads, with its
// buffer bounded: 32 MiB, more than loopback's kernel buffers take, so the refills are exercised.
void TestHttpServer::streamRefillsOnBytesWritten()
{
    Fixture f;
    QVERIFY(f.listening);
    Client c(f.port());
    c.send(get("/stream-hold"));
    QTRY_COMPARE(f.held.size(), 1);
    const std::shared_ptr<HttpResponder> r = f.held.takeFirst();
    const QByteArray chunk(32 * 1024, 'q');
    const int total = 1024;
    const qint64 low = 256 * 1024;
    int sent = 0;
    int refills = 0;
    qint64 maxBuffered = 0;
    const auto fill = [&] {
        while (sent < total && r->bufferedBytes() < low) {
            if (!r->write(chunk))
                return;
            ++sent;
            maxBuffered = std::max(maxBuffered, r->bufferedBytes());
        }
        if (sent == total && !r->isFinished())
            r->end();
    };
    connect(r.get(), &HttpResponder::bytesWritten, this, [&] {
        ++refills;
        fill();
    });
    fill();
    qint64 received = 0;
    QByteArray tail;
    QVERIFY(QTest::qWaitFor(
        [&] {
            const QByteArray data = c.socket.readAll();
            received += std::count(data.begin(), data.end(), 'q');
            tail = QByteArray(tail + data).right(5);
            return tail == "0\r\n\r\n";
        },
        30000));
    QCOMPARE(received, qint64(chunk.size()) * total);
    QVERIFY(r->isFinished());
    QVERIFY(refills > 0);
    QVERIFY2(maxBuffered <= low + chunk.size() + 16, QByteArray::number(maxBuffered).constData());
    QVERIFY(c.isConnected());
}

// ---- Connection limit and shutdown --------------------------------------------------------------

void TestHttpServer::maxConnections()
{
    HttpServerOptions o;
    o.maxConnections = 3;
    Fixture f(o);
    QVERIFY(f.listening);
    std::vector<std::unique_ptr<Client>> clients;
    for (int i = 0; i < 3; ++i) {
        clients.push_back(std::make_unique<Client>(f.port()));
        clients.back()->send(get("/e"));
        QVERIFY(clients.back()->next());
    }
    QCOMPARE(f.server.connectionCount(), 3);

    int answered503 = 0;
    for (int i = 0; i < 5; ++i) {
        Client extra(f.port());
        extra.send(get("/e")); // may meet a closed socket
        QVERIFY(extra.waitClosed());
        if (!extra.buffer().isEmpty()) {
            const auto r = extra.next(1000);
            QVERIFY(r);
            QCOMPARE(r->status, 503);
            ++answered503;
        }
        QCOMPARE(f.server.connectionCount(), 3);
    }
    QVERIFY(answered503 > 0); // the request was drained before the close, so no RST destroyed the answer
    QCOMPARE(f.requests, 3);

    clients.front()->socket.disconnectFromHost();
    QTRY_COMPARE(f.server.connectionCount(), 2);
    Client again(f.port());
    again.send(get("/e"));
    const auto r = again.next();
    QVERIFY(r);
    QCOMPARE(r->status, 200);
    QCOMPARE(f.server.connectionCount(), 3);
}

void TestHttpServer::stopListeningAndCloseAll()
{
    Fixture f;
    QVERIFY(f.listening);
    const quint16 port = f.port();
    Client idle(port);
    idle.send(get("/e"));
    QVERIFY(idle.next());
    Client polling(port);
    polling.send(get("/hold"));
    Client streaming(port);
    streaming.send(get("/stream-hold"));
    QTRY_COMPARE(f.held.size(), 2);
    QCOMPARE(f.server.connectionCount(), 3);

    f.server.stopListening();
    QVERIFY(!f.server.isListening());
    QVERIFY(idle.waitClosed()); // idle keep-alive connections go at once
    QTcpSocket refused;
    refused.connectToHost(QHostAddress::LocalHost, port);
    QVERIFY(!refused.waitForConnected(2000));

    // The long-poll still gets its answer, marked as the last on its connection.
    std::shared_ptr<HttpResponder> poll = f.held.at(0);
    std::shared_ptr<HttpResponder> stream = f.held.at(1);
    if (f.events.indexOf("dispatch /hold") > f.events.indexOf("dispatch /stream-hold"))
        std::swap(poll, stream);
    poll->respond(200, {}, "bye");
    const auto r = polling.next();
    QVERIFY(r);
    QCOMPARE(r->body, QByteArray("bye"));
    QCOMPARE(r->header("connection"), QByteArray("close"));
    QVERIFY(polling.waitClosed());

    // The stream lives until closeAll().
    QVERIFY(stream->isOpen());
    QVERIFY(stream->write("data: more\n\n"));
    QSignalSpy gone(stream.get(), &HttpResponder::disconnected);
    f.server.closeAll();
    QVERIFY(!stream->isOpen());
    QVERIFY(streaming.waitClosed());
    QTRY_COMPARE(gone.size(), 1);
    QCOMPARE(f.server.connectionCount(), 0);
}

void TestHttpServer::listenFailure()
{
    Fixture f;
    QVERIFY(f.listening);
    QVERIFY(f.port() != 0);
    HttpServer second(HttpServerOptions{});
    QVERIFY(!second.listen(QHostAddress::LocalHost, f.port()));
    QVERIFY(!second.errorString().isEmpty());
}

QTEST_MAIN(TestHttpServer)
#include "tst_httpserver.moc"
