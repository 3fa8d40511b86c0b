// Hostile input against the real binaries, over both transports from one table: each row is one
// message (a line on stdio, a POST body over Streamable HTTP) and the answer it must get there —
// a JSON-RPC error code, a tool error code, a result, a batch, or nothing — and after every row
// the server still answers a valid call. The table gathers tst_stdioserver's rpcErrors and
// hostileInput rows that are one message each (the framing rows, several lines in one write,
// stay there) and adds what an attacker tries next: huge numbers, duplicate keys, deep nesting,
// batches by protocol version, oversized values and bodies.
//
// Then, against the HTTP binary: 2000 idle connections at once while a normal client is served,
// 3000 sessions up to the cap (SIDECAR_HTTP_MAX_SESSIONS) and the next one refused, a request body
// trickled in byte by byte (cut off by SIDECAR_HTTP_REQUEST_TIMEOUT), and a connection over its
// rate limit (SIDECAR_HTTP_RATE_LIMIT) answered 429 while another is not. Memory is checked as a
// bound on the server's resident set (/proc/PID/status), never speed; deadlines are generous.

#include <QtTest>

#include <QCryptographicHash>
#include <QDeadlineTimer>
#include <QFile>
#include <QRandomGenerator>
#include <QRegularExpression>
#include <QThread>

#include <memory>
#include <optional>
#include <vector>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "httpserverprocess.h"
#include "serverprocess.h"

using namespace sidecar;
using namespace sidecar::test;

namespace {

constexpr qint64 kMaxValueBytes = 64 * 1024; // SIDECAR_MAX_VALUE_BYTES of the table's servers
// A request may be the value limit plus 1 MiB (TOOLS.md); one beyond it.
constexpr qint64 kOversizedRequest = kMaxValueBytes + (qint64(1) << 20) + 4096;
constexpr qint64 kRssBoundKiB = 300 * 1024; // a memory bound, generous: the server idles near 20 MiB

// What a row's message must get.
enum class Expect {
    RpcError,  // a JSON-RPC error: `code`, with id `id`
    ToolError, // a tools/call result with isError and the error code `tool`
    Result,    // a result, with id `id`
    Batch,     // an array of `code` answers
    Nothing,   // no answer (a notification, a client's response); HTTP 202
};


QByteArray errorMessage(const json::Document &doc)
{
    const json::Value *error = doc.root().isObject() ? doc.root().find("error") : nullptr;
    const json::Value *message = error ? error->find("message") : nullptr;
    return message && message->isString() ? message->toQString().toUtf8() : QByteArray();
}

// VmRSS of a process in KiB, or -1.
qint64 rssKiB(qint64 pid)
{
    QFile status(QStringLiteral("/proc/%1/status").arg(pid));
    if (!status.open(QIODevice::ReadOnly))
        return -1;
    static const QRegularExpression vmRss(QStringLiteral("^VmRSS:\\s+(\\d+)\\s+kB"), QRegularExpression::MultilineOption);
    const QRegularExpressionMatch m = vmRss.match(QString::fromLatin1(status.readAll()));
    return m.hasMatch() ? m.captured(1).toLongLong() : -1;
}

// A gauge of GET /metrics ("sidecar_http_connections"), or -1.
qint64 metric(quint16 port, const QByteArray &name)
{
    const HttpReply r = httpRequest(port, "GET", "/metrics");
    if (r.status != 200)
        return -1;
    for (const QByteArray &line : r.body.split('\n')) {
        if (line.startsWith(QByteArray(name + ' ')))
            return line.mid(name.size() + 1).trimmed().toLongLong();
    }
    return -1;
}

// Raises this process's soft descriptor limit to the hard one (the servers it starts inherit it)
// and returns how many descriptors are left for new connections.
qint64 descriptorsAvailable()
{
    rlimit limit{};
    if (::getrlimit(RLIMIT_NOFILE, &limit) != 0)
        return 0;
    if (limit.rlim_cur < limit.rlim_max) {
        rlimit raised = limit;
        raised.rlim_cur = limit.rlim_max == RLIM_INFINITY ? rlim_t(1048576) : limit.rlim_max;
        if (::setrlimit(RLIMIT_NOFILE, &raised) == 0)
            limit = raised;
    }
    const int probe = ::dup(0); // the lowest free descriptor: about how many are open
    if (probe >= 0)
        ::close(probe);
    return qint64(limit.rlim_cur) - std::max(probe, 0) - 64;
}

// A blocking TCP connection to 127.0.0.1:port that sends nothing; -1 on failure.
int openIdleConnection(quint16 port)
{
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(port);
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd, reinterpret_cast<const sockaddr *>(&address), sizeof address) != 0) {
        ::close(fd);
        return -1;
    }
    return fd;
}

QByteArray initializeBody(const QByteArray &version, qint64 id)
{
    return rpc(QByteArray::number(id), "initialize",
               R"({"protocolVersion":")" + version + R"(","capabilities":{},"clientInfo":{"name":"tst_hostile","version":"1"}})");
}

QByteArray postHead(qint64 contentLength, const HeaderList &extra = {})
{
    QByteArray head = "POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                      "Accept: application/json, text/event-stream\r\nContent-Length: "
                      + QByteArray::number(contentLength) + "\r\n";
    for (const auto &h : extra)
        head += h.first + ": " + h.second + "\r\n";
    return head + "\r\n";
}

} // namespace

Q_DECLARE_METATYPE(Expect)

class TestHostile : public QObject
{
    Q_OBJECT

private slots:
    void initTestCase();

    void badRequests_data();
    void badRequests();

    void idleConnections();
    void manySessions();
    void slowBody();
    void rateLimit();
    void tokensAndScopes();

private:
    ServerProcess &stdio(const QByteArray &version) { return version == "2025-03-26" ? m_stdioOld : m_stdio; }
    McpHttpClient &http(const QByteArray &version) { return version == "2025-03-26" ? *m_httpOld : *m_http; }
    void checkAnswer(const json::Document &answer, Expect expect, int code, const QString &tool, const QByteArray &id,
                     const QByteArray &messageHas, const char *transport);

    ServerProcess m_stdio;    // a 2025-11-25 session
    ServerProcess m_stdioOld; // a 2025-03-26 session: batches allowed
    HttpServerProcess m_httpServer;
    std::unique_ptr<McpHttpClient> m_http;
    std::unique_ptr<McpHttpClient> m_httpOld;
};

void TestHostile::initTestCase()
{
    QVERIFY2(!qEnvironmentVariableIsEmpty("SIDECAR_BIN"), "SIDECAR_BIN is not set (run through ctest)");
    QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
    env.insert(QStringLiteral("SIDECAR_MAX_VALUE_BYTES"), QString::number(kMaxValueBytes));
    QVERIFY2(m_stdio.start({QStringLiteral("--db-path"), tempPath(QStringLiteral("stdio.db"))}, env),
             qPrintable(m_stdio.errorString()));
    QVERIFY2(m_stdio.initialize("2025-11-25"), qPrintable(m_stdio.errorString()));
    QVERIFY2(m_stdioOld.start({QStringLiteral("--db-path"), tempPath(QStringLiteral("stdio-old.db"))}, env),
             qPrintable(m_stdioOld.errorString()));
    QVERIFY2(m_stdioOld.initialize("2025-03-26"), qPrintable(m_stdioOld.errorString()));
    QVERIFY2(m_httpServer.start({}, {}, env), qPrintable(m_httpServer.errorString()));
    m_http = std::make_unique<McpHttpClient>(m_httpServer.port());
    QVERIFY2(m_http->initialize("2025-11-25"), qPrintable(m_http->errorString()));
    m_httpOld = std::make_unique<McpHttpClient>(m_httpServer.port());
    QVERIFY2(m_httpOld->initialize("2025-03-26"), qPrintable(m_httpOld->errorString()));
}

// ---- One table, two transports

void TestHostile::badRequests_data()
{
    QTest::addColumn<QByteArray>("message");
    QTest::addColumn<QByteArray>("version"); // the session's protocol version
    QTest::addColumn<Expect>("expect");
    QTest::addColumn<int>("code");           // RpcError: the JSON-RPC code; Batch: the number of answers
    QTest::addColumn<QString>("tool");       // ToolError: the tool error code
    QTest::addColumn<QByteArray>("id");      // RpcError, Result: the answer's id, compact
    QTest::addColumn<QByteArray>("messageHas"); // RpcError: the error message contains this
    QTest::addColumn<int>("httpStatus");     // over HTTP, when it is not the one the answer implies

    const QByteArray v11 = "2025-11-25";
    const QByteArray v03 = "2025-03-26";
    const auto rpcError = [&](const char *name, const QByteArray &message, int code, const QByteArray &id,
                              const QByteArray &has = {}, const QByteArray &version = "2025-11-25") {
        QTest::newRow(name) << message << version << Expect::RpcError << code << QString() << id << has << 0;
    };
    const auto toolError = [&](const char *name, const QByteArray &tool, const QByteArray &args, const char *code) {
        QTest::newRow(name) << toolCall("31", tool, args) << v11 << Expect::ToolError << 0 << QString::fromLatin1(code)
                            << QByteArray("31") << QByteArray() << 0;
    };
    const auto result = [&](const char *name, const QByteArray &message, const QByteArray &id) {
        QTest::newRow(name) << message << v11 << Expect::Result << 0 << QString() << id << QByteArray() << 0;
    };
    const QByteArray parse = "Parse error";
    const QByteArray nesting = "nesting too deep";

    // Not JSON at all, or not quite.
    rpcError("truncated JSON", R"({"jsonrpc":"2.0","id":1,"method":"ping")", -32700, "null", parse);
    rpcError("truncated in a string", R"({"jsonrpc":"2.0","id":1,"method":"pi)", -32700, "null", parse);
    rpcError("not JSON", "hello there", -32700, "null", parse);
    rpcError("trailing garbage", R"({"jsonrpc":"2.0","id":2,"method":"ping"} x)", -32700, "null", parse);
    rpcError("single quotes", R"({'jsonrpc':'2.0','id':3,'method':'ping'})", -32700, "null", parse);
    rpcError("trailing comma", R"({"jsonrpc":"2.0","id":3,"method":"ping",})", -32700, "null", parse);
    rpcError("NUL byte", QByteArray("{\"jsonrpc\":\"2.0\",") + '\0' + "\"id\":8,\"method\":\"ping\"}", -32700, "null",
             parse);
    QByteArray garbage;
    QRandomGenerator rng(20250101);
    while (garbage.size() < 64 * 1024) {
        const char c = char(rng.bounded(256));
        if (c != '\n' && c != '\r')
            garbage.append(c);
    }
    rpcError("binary garbage", garbage, -32700, "null", parse);

    // UTF-8 that is not (RFC 8259 section 8.1: JSON text is UTF-8).
    rpcError("invalid UTF-8 in a string",
             toolCall("2", "state_set", "{\"key\":\"k\",\"value\":\"\xff\xfe\"}"), -32700, "null", parse);
    rpcError("overlong UTF-8 (2 bytes for '/')", "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"ping\",\"x\":\"\xc0\xaf\"}",
             -32700, "null", parse);
    rpcError("overlong UTF-8 (3 bytes for '/')",
             "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"ping\",\"x\":\"\xe0\x80\xaf\"}", -32700, "null", parse);
    rpcError("UTF-16 surrogate as UTF-8", "{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"ping\",\"x\":\"\xed\xa0\x80\"}",
             -32700, "null", parse);
    rpcError("truncated UTF-8 sequence", "{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"ping\",\"x\":\"\xe2\x82\"}", -32700,
             "null", parse);
    rpcError("invalid UTF-8 outside strings", "\xff{\"jsonrpc\":\"2.0\",\"id\":6,\"method\":\"ping\"}", -32700, "null",
             parse);
    rpcError("code point beyond U+10FFFF", "{\"jsonrpc\":\"2.0\",\"id\":6,\"method\":\"ping\",\"x\":\"\xf4\x90\x80\x80\"}",
             -32700, "null", parse);
    rpcError("lone surrogate escape", toolCall("14", "state_get", R"({"key":"\ud800"})"), -32700, "null",
             "unpaired surrogate");
    result("line separators inside a string",
           toolCall("12", "state_set", "{\"key\":\"ls\",\"value\":\"a\xe2\x80\xa8" "b\xc2\x85" "c\"}"), "12");
    result("whitespace around a message", "  \t{\"jsonrpc\":\"2.0\",\"id\":11,\"method\":\"ping\"}  ", "11");
    rpcError("raw control character in a string", "{\"jsonrpc\":\"2.0\",\"id\":13,\"method\":\"ping\",\"x\":\"a\tb\"}",
             -32700, "null", parse);

    // Nesting: the parser's depth limit answers, the stack never overflows.
    rpcError("100000 [", QByteArray(100000, '['), -32700, "null", nesting);
    rpcError("100000 balanced [ ]", QByteArray(100000, '[') + QByteArray(100000, ']'), -32700, "null", nesting);
    rpcError("100000 nested objects", QByteArray("{\"a\":").repeated(100000), -32700, "null", nesting);
    rpcError("deep value in a request",
             toolCall("7", "state_set", R"({"key":"d","value":)" + QByteArray(5000, '[') + QByteArray(5000, ']') + '}'),
             -32700, "null", nesting);

    // Numbers beyond every machine type: values keep their text; integer arguments refuse them.
    result("1e400 as a value", toolCall("21", "state_set", R"({"key":"n/e400","value":1e400})"), "21");
    result("30-digit integer as a value",
           toolCall("22", "state_set", R"({"key":"n/big","value":123456789012345678901234567890})"), "22");
    result("30-digit integer as the id", rpc("123456789012345678901234567890", "ping"),
           "123456789012345678901234567890");
    toolError("30-digit integer as an integer argument", "history_log", R"({"n":123456789012345678901234567890})",
              "invalid_argument");
    toolError("integer beyond 64 bits", "history_log", R"({"before_revision":99999999999999999999})",
              "invalid_argument");
    toolError("1e400 as a TTL", "state_set", R"({"key":"n/ttl","value":1,"ttl_seconds":1e400})", "invalid_argument");
    toolError("-1e400 as a TTL", "lease_acquire", R"({"resource_id":"r","holder_id":"h","ttl_seconds":-1e400})",
              "invalid_argument");

    // Duplicate keys (TOOLS.md: invalid_argument in any object of a request; in the envelope the
    // request itself is invalid).
    rpcError("duplicate key in the envelope", R"({"jsonrpc":"2.0","id":10,"method":"ping","method":"tools/list"})",
             -32600, "10");
    toolError("duplicate key in the arguments", "state_set", R"({"key":"dup","key":"dup2","value":1})",
              "invalid_argument");
    toolError("duplicate key deep in a value", "state_set", R"({"key":"dup","value":{"a":[{"b":1,"b":2}]}})",
              "invalid_argument");

    // The envelope.
    rpcError("jsonrpc 1.0", R"({"jsonrpc":"1.0","id":5,"method":"ping"})", -32600, "5");
    rpcError("jsonrpc as a number", R"({"jsonrpc":2.0,"id":6,"method":"ping"})", -32600, "6");
    rpcError("jsonrpc \"2\"", R"({"jsonrpc":"2","id":6,"method":"ping"})", -32600, "6");
    rpcError("no jsonrpc", R"({"id":7,"method":"ping"})", -32600, "7");
    rpcError("no method", R"({"jsonrpc":"2.0","id":8})", -32600, "8");
    rpcError("method not a string", R"({"jsonrpc":"2.0","id":9,"method":["ping"]})", -32600, "9");
    rpcError("unknown method", R"({"jsonrpc":"2.0","id":11,"method":"tools/destroy"})", -32601, "11");
    rpcError("unknown method, string id", R"({"jsonrpc":"2.0","id":"x-12","method":"frobnicate","params":{}})", -32601,
             "\"x-12\"");
    rpcError("id of type object", R"({"jsonrpc":"2.0","id":{"a":1},"method":"ping"})", -32600, "null");
    rpcError("id of type array", R"({"jsonrpc":"2.0","id":[1],"method":"ping"})", -32600, "null");
    rpcError("id of type bool", R"({"jsonrpc":"2.0","id":true,"method":"ping"})", -32600, "null");
    rpcError("id null", R"({"jsonrpc":"2.0","id":null,"method":"ping"})", -32600, "null");
    rpcError("not an object: string", R"("ping")", -32600, "null");
    rpcError("not an object: number", "42", -32600, "null");
    rpcError("not an object: null", "null", -32600, "null");
    rpcError("initialize again", initializeBody("2025-11-25", 19), -32600, "19");
    rpcError("initialize without a version", R"({"jsonrpc":"2.0","id":19,"method":"initialize","params":{}})", -32602,
             "19");
    QTest::newRow("a notification") << QByteArray(R"({"jsonrpc":"2.0","method":"notifications/whatever"})") << v11
                                    << Expect::Nothing << 0 << QString() << QByteArray() << QByteArray() << 0;
    QTest::newRow("a response from the client") << QByteArray(R"({"jsonrpc":"2.0","id":99,"result":{}})") << v11
                                                << Expect::Nothing << 0 << QString() << QByteArray() << QByteArray() << 0;

    // Batches: only sessions that negotiated 2025-03-26 have them (MCP 2025-03-26, "Basic protocol").
    const QByteArray batch =
        R"([{"jsonrpc":"2.0","id":1,"method":"ping"},)"
        R"({"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"state_set","arguments":{"key":"b","value":1}}},)"
        R"({"jsonrpc":"2.0","method":"notifications/initialized"},)"
        R"({"jsonrpc":"2.0","id":3,"method":"nope"}])";
    rpcError("batch in a 2025-11-25 session", batch, -32600, "null", "2025-03-26");
    rpcError("empty batch", "[]", -32600, "null", "empty batch");
    rpcError("empty batch in a 2025-03-26 session", "[]", -32600, "null", "empty batch", v03);
    QTest::newRow("batch in a 2025-03-26 session") << batch << v03 << Expect::Batch << 3 << QString() << QByteArray()
                                                   << QByteArray() << 0;
    QTest::newRow("batch of notifications in a 2025-03-26 session")
        << QByteArray(R"([{"jsonrpc":"2.0","method":"notifications/initialized"},{"jsonrpc":"2.0","id":9,"result":{}}])")
        << v03 << Expect::Nothing << 0 << QString() << QByteArray() << QByteArray() << 0;

    // Sizes: a value over SIDECAR_MAX_VALUE_BYTES is a tool error; a request over the request
    // limit never reaches a tool (stdio: -32600 for the line; HTTP: 413 before the body is read).
    toolError("value over SIDECAR_MAX_VALUE_BYTES", "state_set",
              R"({"key":"big","value":")" + QByteArray(kMaxValueBytes + 10, 'v') + "\"}", "too_large");
    QTest::newRow("request over the request limit")
        << toolCall("40", "state_set", R"({"key":"huge","value":")" + QByteArray(kOversizedRequest, 'x') + "\"}") << v11
        << Expect::RpcError << -32600 << QString() << QByteArray("null") << QByteArray("exceeds the limit") << 413;

    // Tools and their arguments.
    rpcError("unknown tool", toolCall("13", "state_destroy", "{}"), -32602, "13");
    rpcError("tool name missing", rpc("14", "tools/call", R"({"arguments":{"key":"k"}})"), -32602, "14");
    rpcError("tool name not a string", rpc("15", "tools/call", R"({"name":["state_get"]})"), -32602, "15");
    rpcError("tools/call without params", rpc("16", "tools/call"), -32602, "16");
    rpcError("params a string", rpc("18", "tools/call", R"("state_get")"), -32602, "18");
    rpcError("arguments not an object", rpc("17", "tools/call", R"({"name":"state_get","arguments":["k"]})"), -32602,
             "17");
    toolError("key of the wrong type", "state_get", R"({"key":5})", "invalid_argument");
    toolError("ttl of the wrong type", "state_set", R"({"key":"k","value":1,"ttl_seconds":"soon"})",
              "invalid_argument");
    toolError("value missing", "state_set", R"({"key":"k"})", "invalid_argument");
    toolError("unknown argument", "state_get", R"({"key":"k","keys":["k"]})", "invalid_argument");
    toolError("step of the wrong type", "workflow_checkpoint", R"({"run_id":"r","step":"one","output":1})",
              "invalid_argument");
    toolError("tags not strings", "workflow_create", R"({"name":"n","tags":{"a":1}})", "invalid_argument");
}

void TestHostile::checkAnswer(const json::Document &answer, Expect expect, int code, const QString &tool,
                              const QByteArray &id, const QByteArray &messageHas, const char *transport)
{
    const QByteArray text = answer.root().compact().left(600);
    const QByteArray where = QByteArray(transport) + ": " + text;
    switch (expect) {
    case Expect::RpcError:
        QVERIFY2(answer.root().isObject() && !answer.root().find("result"), where.constData());
        QCOMPARE(answer.root().find("jsonrpc") ? answer.root().find("jsonrpc")->compact() : QByteArray(),
                 QByteArray("\"2.0\""));
        QVERIFY2(rpcErrorCode(answer) == code, where.constData());
        QVERIFY2(answerId(answer) == id, where.constData());
        QVERIFY2(errorMessage(answer).contains(messageHas), where.constData());
        break;
    case Expect::ToolError:
        QVERIFY2(toolErrorCode(answer) == tool, where.constData());
        QVERIFY2(answerId(answer) == id, where.constData());
        break;
    case Expect::Result:
        QVERIFY2(answer.root().isObject() && answer.root().find("result"), where.constData());
        QVERIFY2(toolErrorCode(answer).isEmpty(), where.constData());
        QVERIFY2(answerId(answer) == id, where.constData());
        break;
    case Expect::Batch: {
        QVERIFY2(answer.root().isArray() && int(answer.root().items().size()) == code, where.constData());
        for (const json::Value &item : answer.root().items())
            QVERIFY2(item.isObject() && item.find("id") && !item.find("id")->isNull(), where.constData());
        break;
    }
    case Expect::Nothing: QFAIL(where.constData());
    }
}

void TestHostile::badRequests()
{
    QFETCH(QByteArray, message);
    QFETCH(QByteArray, version);
    QFETCH(Expect, expect);
    QFETCH(int, code);
    QFETCH(QString, tool);
    QFETCH(QByteArray, id);
    QFETCH(QByteArray, messageHas);
    QFETCH(int, httpStatus);

    // ---- stdio: the message as one line.
    ServerProcess &p = stdio(version);
    QVERIFY(p.takeUnclaimed().isEmpty());
    p.process().write(message + '\n');
    const int expected = expect == Expect::Nothing ? 0 : 1;
    QList<QByteArray> lines;
    QDeadlineTimer deadline(60000);
    while (lines.size() < expected && !deadline.hasExpired()) {
        p.pump(200);
        lines += p.takeUnclaimed();
    }
    // Then a valid call: once its answer is here, any stray answer to the row is here too.
    auto after = p.call(QStringLiteral("state_get"), R"({"key":"after"})", 60000);
    QVERIFY2(after && structured(*after), "stdio: the server must go on after the row");
    lines += p.takeUnclaimed();
    QVERIFY2(lines.size() == expected, qPrintable(QStringLiteral("stdio: %1 answers, expected %2: %3")
                                                      .arg(lines.size())
                                                      .arg(expected)
                                                      .arg(QString::fromUtf8(lines.join('\n').left(1000)))));
    if (expected == 1) {
        auto answer = json::parse(lines.front());
        QVERIFY2(answer, lines.front().left(500).constData());
        checkAnswer(*answer, expect, code, tool, id, messageHas, "stdio");
        if (QTest::currentTestFailed())
            return;
    }

    // ---- HTTP: the message as one POST body in the session.
    McpHttpClient &c = http(version);
    const HttpReply r = c.post(message, {}, 60000);
    if (httpStatus != 0) {
        QVERIFY2(r.status == httpStatus, qPrintable(r.describe()));
    } else if (expect == Expect::Nothing) {
        QVERIFY2(r.status == 202 && r.body.isEmpty(), qPrintable(r.describe()));
    } else {
        // A request-level error (null id) is 400 (TOOLS.md, "Transports"); every other answer 200.
        const int status = expect == Expect::RpcError && id == "null" ? 400 : 200;
        QVERIFY2(r.status == status, qPrintable(r.describe()));
        auto answer = jsonRpcAnswer(r);
        QVERIFY2(answer, qPrintable(r.describe()));
        checkAnswer(*answer, expect, code, tool, id, messageHas, "HTTP");
        if (QTest::currentTestFailed())
            return;
    }
    auto httpAfter = c.call(QStringLiteral("state_get"), R"({"key":"after"})", 60000);
    QVERIFY2(httpAfter && structured(*httpAfter), qPrintable(QStringLiteral("HTTP: the session must go on after the "
                                                                            "row: ")
                                                             + c.errorString()));
}

// ---- The HTTP binary under load

// Idle connections hold a descriptor and a little memory each, and nothing else: a normal client
// is served while they are open, and the server's resident set stays bounded.
void TestHostile::idleConnections()
{
    int count = 2000;
    const qint64 available = descriptorsAvailable();
    if (available < count + 100) {
        count = int(std::max<qint64>(available - 100, 0));
        qInfo("only %lld descriptors available (ulimit -n): opening %d idle connections instead of 2000", available,
              count);
    }
    QVERIFY2(count >= 100, "too few descriptors for this test (ulimit -n)");
    HttpServerProcess server;
    // Long timeouts: the connections must stay open for the length of the test.
    QVERIFY2(server.start({QStringLiteral("--http-max-connections"), QString::number(count + 100),
                           QStringLiteral("--http-header-timeout"), QStringLiteral("300"),
                           QStringLiteral("--http-idle-timeout"), QStringLiteral("300")}),
             qPrintable(server.errorString()));
    const qint64 rssBefore = rssKiB(server.pid());

    std::vector<int> fds;
    fds.reserve(size_t(count));
    const auto closeAll = qScopeGuard([&fds] {
        for (int fd : fds)
            ::close(fd);
    });
    for (int i = 0; i < count; ++i) {
        const int fd = openIdleConnection(server.port());
        QVERIFY2(fd >= 0, qPrintable(QStringLiteral("connection %1 failed: %2").arg(i).arg(qt_error_string(errno))));
        fds.push_back(fd);
    }
    // All accepted (the /metrics request itself is one more).
    QDeadlineTimer deadline(60000);
    qint64 open = -1;
    while ((open = metric(server.port(), "sidecar_http_connections")) < count && !deadline.hasExpired())
        QThread::msleep(100);
    QVERIFY2(open >= count, qPrintable(QStringLiteral("%1 of %2 connections open").arg(open).arg(count)));

    // A normal client meanwhile.
    McpHttpClient c(server.port());
    QVERIFY2(c.initialize(), qPrintable(c.errorString()));
    for (int i = 0; i < 20; ++i) {
        const QByteArray key = "idle/" + QByteArray::number(i);
        QVERIFY2(c.call(QStringLiteral("state_set"), R"({"key":")" + key + R"(","value":)" + QByteArray::number(i) + '}'),
                 qPrintable(c.errorString()));
    }
    auto got = c.call(QStringLiteral("state_get"), R"({"key":"idle/19"})");
    QVERIFY2(got && structured(*got), qPrintable(c.errorString()));
    QCOMPARE(structured(*got)->find("value")->compact(), QByteArray("19"));

    const qint64 rss = rssKiB(server.pid());
    qInfo("%d idle connections: server RSS %lld KiB (before them: %lld KiB)", count, rss, rssBefore);
    QVERIFY2(rss > 0 && rss < kRssBoundKiB, QByteArray::number(rss).constData());
    QVERIFY(server.isRunning());
}

// Sessions up to SIDECAR_HTTP_MAX_SESSIONS, then initialize is refused while every session lives on.
void TestHostile::manySessions()
{
    constexpr int cap = 3000;
    HttpServerProcess server;
    QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
    env.insert(QStringLiteral("SIDECAR_HTTP_MAX_SESSIONS"), QString::number(cap));
    env.insert(QStringLiteral("SIDECAR_DURABILITY"), QStringLiteral("normal")); // no sync per session record
    QVERIFY2(server.start({}, {}, env), qPrintable(server.errorString()));
    const qint64 rssBefore = rssKiB(server.pid());

    // One keep-alive connection, one initialize after another.
    HttpConnection conn(server.port());
    QVERIFY2(conn.connectToServer(), qPrintable(conn.errorString()));
    QList<QByteArray> sessions;
    sessions.reserve(cap);
    for (int i = 0; i < cap; ++i) {
        const QByteArray body = initializeBody(i % 2 ? "2025-11-25" : "2025-03-26", i);
        QVERIFY2(conn.sendRaw(postHead(body.size()) + body), qPrintable(conn.errorString()));
        auto r = conn.readResponse(60000);
        QVERIFY2(r, qPrintable(conn.errorString()));
        QVERIFY2(r->status == 200 && r->hasHeader("mcp-session-id"), qPrintable(r->describe()));
        sessions.append(r->header("mcp-session-id"));
    }
    QCOMPARE(QSet<QByteArray>(sessions.begin(), sessions.end()).size(), cap);
    QCOMPARE(metric(server.port(), "sidecar_mcp_sessions"), qint64(cap));

    // The cap: 503 with a JSON-RPC error that carries the initialize's id.
    const QByteArray refusedBody = initializeBody("2025-11-25", 777);
    QVERIFY(conn.sendRaw(postHead(refusedBody.size()) + refusedBody));
    auto refused = conn.readResponse(60000);
    QVERIFY2(refused, qPrintable(conn.errorString()));
    QVERIFY2(refused->status == 503 && !refused->hasHeader("mcp-session-id"), qPrintable(refused->describe()));
    auto error = json::parse(refused->body);
    QVERIFY2(error, qPrintable(refused->describe()));
    QCOMPARE(rpcErrorCode(*error), -32000);
    QCOMPARE(answerId(*error), QByteArray("777"));

    // Every session still answers: the first, one in the middle, the last.
    for (int i : {0, cap / 2, cap - 1}) {
        McpHttpClient c(server.port());
        c.setSessionId(sessions.at(i));
        auto got = c.call(QStringLiteral("state_get"), R"({"key":"sessions/k"})");
        QVERIFY2(got && structured(*got), qPrintable(QStringLiteral("session %1: ").arg(i) + c.errorString()));
    }
    const qint64 rss = rssKiB(server.pid());
    qInfo("%d sessions: server RSS %lld KiB (before them: %lld KiB)", cap, rss, rssBefore);
    QVERIFY2(rss > 0 && rss < kRssBoundKiB, QByteArray::number(rss).constData());
    QVERIFY(server.stderrText().contains("refusing new sessions"));
}

// Slowloris on the body: every byte arrives well within the idle timeout, yet the request as a
// whole must arrive within SIDECAR_HTTP_REQUEST_TIMEOUT (2 s here), or the server answers 408
// and closes.
void TestHostile::slowBody()
{
    HttpServerProcess server;
    QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
    env.insert(QStringLiteral("SIDECAR_HTTP_REQUEST_TIMEOUT"), QStringLiteral("2"));
    QVERIFY2(server.start({}, {}, env), qPrintable(server.errorString()));
    McpHttpClient c(server.port());
    QVERIFY2(c.initialize(), qPrintable(c.errorString()));

    const QByteArray body = toolCall("1", "state_set", R"({"key":"slow","value":")" + QByteArray(400, 's') + "\"}");
    HttpConnection slow(server.port());
    QVERIFY2(slow.connectToServer(), qPrintable(slow.errorString()));
    QVERIFY(slow.sendRaw(postHead(body.size(), c.sessionHeaders())));
    qsizetype sent = 0;
    bool closed = false;
    QDeadlineTimer deadline(60000); // the body would take 100 s at this pace
    while (sent < body.size() && !deadline.hasExpired()) {
        if (!slow.sendRaw(body.mid(sent, 1)) || slow.waitForDisconnected(250)) {
            closed = true;
            break;
        }
        ++sent;
    }
    QVERIFY2(closed || slow.waitForDisconnected(10000),
             qPrintable(QStringLiteral("still open after %1 of %2 bytes").arg(sent).arg(body.size())));
    QVERIFY2(sent < body.size(), "the whole body went through");
    auto timedOut = slow.readResponse(5000);
    QVERIFY2(timedOut, qPrintable(slow.errorString()));
    QCOMPARE(timedOut->status, 408);
    auto got = c.call(QStringLiteral("state_get"), R"({"key":"slow"})");
    QVERIFY2(got && structured(*got), qPrintable(c.errorString()));
    QCOMPARE(structured(*got)->find("found")->compact(), QByteArray("false"));
    qInfo("the trickled request was cut off after %lld of %lld bytes", qint64(sent), qint64(body.size()));
}

// A connection over SIDECAR_HTTP_RATE_LIMIT gets 429 with Retry-After and a JSON-RPC error, and
// stays usable; another connection has its own allowance.
void TestHostile::rateLimit()
{
    HttpServerProcess server;
    QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
    env.insert(QStringLiteral("SIDECAR_HTTP_RATE_LIMIT"), QStringLiteral("1"));
    env.insert(QStringLiteral("SIDECAR_HTTP_RATE_BURST"), QStringLiteral("5"));
    QVERIFY2(server.start({}, {}, env), qPrintable(server.errorString()));
    McpHttpClient c(server.port()); // a fresh connection per request: never limited
    QVERIFY2(c.initialize(), qPrintable(c.errorString()));

    HttpConnection hot(server.port());
    QVERIFY2(hot.connectToServer(), qPrintable(hot.errorString()));
    constexpr int n = 30;
    QByteArray all;
    for (int i = 0; i < n; ++i) {
        const QByteArray body = rpc(QByteArray::number(i), "ping");
        all += postHead(body.size(), c.sessionHeaders()) + body;
    }
    QElapsedTimer t;
    t.start();
    QVERIFY(hot.sendRaw(all)); // pipelined
    int ok = 0;
    int limited = 0;
    for (int i = 0; i < n; ++i) {
        auto r = hot.readResponse(60000);
        QVERIFY2(r, qPrintable(hot.errorString()));
        if (r->status == 200) {
            ++ok;
            continue;
        }
        QVERIFY2(r->status == 429, qPrintable(r->describe()));
        ++limited;
        QVERIFY2(r->header("retry-after").toInt() >= 1, qPrintable(r->describe()));
        QCOMPARE(r->mediaType(), QByteArray("application/json"));
        auto error = json::parse(r->body);
        QVERIFY2(error, qPrintable(r->describe()));
        QCOMPARE(rpcErrorCode(*error), -32000);
        QCOMPARE(answerId(*error), QByteArray("null"));
    }
    // Whatever time that took, at most one request per second of it passed beyond the burst.
    QVERIFY2(ok >= 5 && ok <= 5 + int(t.elapsed() / 1000) + 1, QByteArray::number(ok).constData());
    QVERIFY(limited > 0);
    qInfo("%d pipelined requests on one connection: %d answered, %d refused with 429", n, ok, limited);

    // Another connection is not affected.
    HttpConnection other(server.port());
    QVERIFY2(other.connectToServer(), qPrintable(other.errorString()));
    for (int i = 0; i < 5; ++i) {
        const QByteArray body = rpc(QByteArray::number(100 + i), "ping");
        QVERIFY(other.sendRaw(postHead(body.size(), c.sessionHeaders()) + body));
        auto r = other.readResponse(30000);
        QVERIFY2(r && r->status == 200, r ? qPrintable(r->describe()) : qPrintable(other.errorString()));
    }
    // The hot connection is served again once it waited.
    QThread::msleep(1100);
    const QByteArray body = rpc("200", "ping");
    QVERIFY2(hot.sendRaw(postHead(body.size(), c.sessionHeaders()) + body), qPrintable(hot.errorString()));
    auto again = hot.readResponse(30000);
    QVERIFY2(again && again->status == 200, again ? qPrintable(again->describe()) : qPrintable(hot.errorString()));
}

// Over HTTP with a tokens file: every tool and resource is checked against the caller's scope
// (read: the read-only tools and resources; write: all but sidecar_reset; admin: everything), a
// missing or unknown token gets 401, and no token ever appears in the server's log (at debug
// level) or in any answer.
void TestHostile::tokensAndScopes()
{
    const QByteArray tokens[] = {"read-secret-5b1c9e0a7d", "write-secret-8e2f4a6c1b", "admin-secret-3d7a0f9b2e"};
    const char *const scopes[] = {"read", "write", "admin"};
    const QByteArray unknownToken = "unknown-secret-6c4e2a8d0f";
    QByteArray file = R"({"tokens":[)";
    for (int i = 0; i < 3; ++i) {
        file += (i ? "," : "") + QByteArray(R"({"name":")") + scopes[i] + R"(-agent","sha256":")"
                + QCryptographicHash::hash(tokens[i], QCryptographicHash::Sha256).toHex() + R"(","scopes":[")"
                + scopes[i] + R"("]})";
    }
    file += "]}";
    const QString tokensPath = tempPath(QStringLiteral("tokens.json"));
    {
        QFile f(tokensPath);
        QVERIFY(f.open(QIODevice::WriteOnly));
        f.write(file);
    }
    HttpServerProcess server;
    QVERIFY2(server.start({QStringLiteral("--tokens-file"), tokensPath, QStringLiteral("--allow-reset"),
                           QStringLiteral("--log-level"), QStringLiteral("debug")}),
             qPrintable(server.errorString()));
    QByteArray everything; // every answer body, searched for tokens at the end

    // Valid arguments for every tool (scopes are checked after the arguments).
    const QMap<QString, QByteArray> args{
        {QStringLiteral("state_set"), R"({"key":"auth/k","value":1})"},
        {QStringLiteral("state_get"), R"({"key":"auth/k"})"},
        {QStringLiteral("state_delete"), R"({"key":"auth/none"})"},
        {QStringLiteral("state_list"), R"({})"},
        {QStringLiteral("state_watch"), R"({"since_revision":0,"timeout_seconds":0})"},
        {QStringLiteral("workflow_create"), R"({"name":"auth"})"},
        {QStringLiteral("workflow_discover"), R"({})"},
        {QStringLiteral("workflow_list"), R"({})"},
        {QStringLiteral("workflow_claim"), R"({"run_id":"wf-000000000000","agent_id":"a"})"},
        {QStringLiteral("workflow_claim_next"), R"({"agent_id":"a","tags":{"none":"x"}})"},
        {QStringLiteral("workflow_heartbeat"), R"({"run_id":"wf-000000000000","agent_id":"a"})"},
        {QStringLiteral("workflow_checkpoint"), R"({"run_id":"wf-000000000000","step":1,"output":1})"},
        {QStringLiteral("workflow_complete"), R"({"run_id":"wf-000000000000","agent_id":"a","status":"done"})"},
        {QStringLiteral("workflow_resume"), R"({"run_id":"wf-000000000000"})"},
        {QStringLiteral("workflow_status"), R"({"run_id":"wf-000000000000"})"},
        {QStringLiteral("lease_acquire"), R"({"resource_id":"auth/r","holder_id":"h","ttl_seconds":60})"},
        {QStringLiteral("lease_renew"), R"({"resource_id":"auth/r","holder_id":"h","ttl_seconds":60})"},
        {QStringLiteral("lease_release"), R"({"resource_id":"auth/r","holder_id":"h"})"},
        {QStringLiteral("lease_list"), R"({})"},
        {QStringLiteral("session_save"), R"({"session_id":"auth/s","context":{"c":1}})"},
        {QStringLiteral("session_restore"), R"({"session_id":"auth/s"})"},
        {QStringLiteral("session_list"), R"({})"},
        {QStringLiteral("session_delete"), R"({"session_id":"auth/none"})"},
        {QStringLiteral("history_log"), R"({})"},
        {QStringLiteral("sidecar_health"), R"({})"},
        {QStringLiteral("sidecar_reset"), R"({"confirm":"RESET"})"},
    };

    int checked = 0;
    for (int level = 0; level < 3; ++level) {
        McpHttpClient c(server.port());
        c.setBearerToken(tokens[level]);
        QVERIFY2(c.initialize(), qPrintable(c.errorString()));
        auto list = c.request(QStringLiteral("tools/list"));
        QVERIFY2(list, qPrintable(c.errorString()));
        everything += list->root().compact();
        const auto &tools = list->root().find("result")->find("tools")->items();
        QCOMPARE(int(tools.size()), int(args.size())); // tools/list shows every tool to everyone
        for (const json::Value &tool : tools) {
            const QString name = tool.find("name")->toQString();
            QVERIFY2(args.contains(name), qPrintable(name + QStringLiteral(": no arguments in the test's table")));
            const json::Value *hint = tool.find("annotations") ? tool.find("annotations")->find("readOnlyHint") : nullptr;
            const bool readOnly = hint && hint->toBool();
            const bool allowed = level == 2 || (level == 1 && name != QLatin1String("sidecar_reset")) || readOnly;
            if (name == QLatin1String("sidecar_reset") && level == 2)
                continue; // last, below
            auto answer = c.call(name, args.value(name));
            QVERIFY2(answer, qPrintable(c.errorString()));
            everything += answer->root().compact();
            const QString code = toolErrorCode(*answer);
            const QString where = QStringLiteral("%1 with a %2 token: %3")
                                      .arg(name, QString::fromLatin1(scopes[level]),
                                           QString::fromUtf8(answer->root().compact().left(300)));
            QVERIFY2(allowed ? code != QLatin1String("forbidden") : code == QLatin1String("forbidden"),
                     qPrintable(where));
            ++checked;
        }
        // Resources: reading and subscribing need read, which every token has.
        for (const QByteArray &method : {QByteArray("resources/list"), QByteArray("resources/templates/list")}) {
            auto r = c.request(QString::fromLatin1(method));
            QVERIFY2(r && r->root().find("result"), qPrintable(c.errorString()));
        }
        auto read = c.request(QStringLiteral("resources/read"), R"({"uri":"state://kv"})");
        QVERIFY2(read && read->root().find("result"), qPrintable(c.errorString()));
        everything += read->root().compact();
        auto subscribe = c.request(QStringLiteral("resources/subscribe"), R"({"uri":"state://kv"})");
        QVERIFY2(subscribe && subscribe->root().find("result"), qPrintable(c.errorString()));
        // A session belongs to its token: another token cannot use it.
        McpHttpClient thief(server.port());
        thief.setBearerToken(tokens[(level + 1) % 3]);
        thief.setSessionId(c.sessionId());
        const HttpReply stolen = thief.post(rpc("1", "ping"));
        QVERIFY2(stolen.status == 404 || stolen.status == 403, qPrintable(stolen.describe()));
        everything += stolen.body;
        if (level == 2) {
            auto reset = c.call(QStringLiteral("sidecar_reset"), args.value(QStringLiteral("sidecar_reset")));
            QVERIFY2(reset && structured(*reset), reset ? reset->root().compact().constData() : "no answer");
            ++checked;
        }
    }
    // No token, an unknown token: 401 on /mcp and /metrics; a valid one reads /metrics.
    for (const HeaderList &auth : {HeaderList{}, HeaderList{{"Authorization", "Bearer " + unknownToken}}}) {
        McpHttpClient anonymous(server.port());
        const HttpReply r = anonymous.post(rpc("1", "initialize", R"({"protocolVersion":"2025-11-25","capabilities":{},)"
                                                                  R"("clientInfo":{"name":"x","version":"1"}})"),
                                           auth);
        QVERIFY2(r.status == 401, qPrintable(r.describe()));
        QVERIFY(r.header("www-authenticate").startsWith("Bearer"));
        everything += r.body;
        const HttpReply metrics = httpRequest(server.port(), "GET", "/metrics", auth);
        QVERIFY2(metrics.status == 401, qPrintable(metrics.describe()));
        everything += metrics.body;
    }
    const HttpReply metrics = httpRequest(server.port(), "GET", "/metrics", {{"Authorization", "Bearer " + tokens[0]}});
    QVERIFY2(metrics.status == 200, qPrintable(metrics.describe()));

    // Tokens never leave: not in the debug log, not in an answer.
    server.terminate();
    QVERIFY(server.waitForExit(30000));
    const QByteArray log = server.stderrText();
    QVERIFY2(log.contains("loaded 3 token(s)"), log.right(2000).constData());
    for (const QByteArray &secret : {tokens[0], tokens[1], tokens[2], unknownToken}) {
        QVERIFY2(!log.contains(secret), secret.constData());
        QVERIFY2(!everything.contains(secret), secret.constData());
    }
    qInfo("%d tool calls checked against 3 scopes; no token in %lld bytes of log and %lld of answers", checked,
          qint64(log.size()), qint64(everything.size()));
}

QTEST_GUILESS_MAIN(TestHostile)
#include "tst_hostile.moc"
