// MCP's Streamable HTTP transport (MCP 2025-11-25, "Transports"; TOOLS.md, "Transports and HTTP
// endpoints") as served by the real binary: `--transport http --port 0` on 127.0.0.1, driven with
// raw HTTP/1.1 from tests/support/httpserverprocess.h so that every header is exactly what the
// test says. Covers the session lifecycle (initialize, Mcp-Session-Id, 202 for notifications and
// responses, 400/404, DELETE), MCP-Protocol-Version, answers as JSON or SSE, batches by version,
// malformed bodies, methods and the routes beside /mcp, Origin validation (default and
// configured), the GET stream with resource notifications and Last-Event-ID resumption,
// state_watch long polls across sessions and processes, shutdown with a watch pending, idle
// sessions reaped, the cap on live sessions, and clients that vanish mid-stream or mid-poll.
//
// Deadlines are generous and nothing asserts speed: where a test needs "at once", it only asks
// for an answer well before the deadline the server would otherwise have waited for.

#include <QtTest>

#include <QRegularExpression>
#include <QSet>
#include <QThread>

#include <memory>
#include <optional>
#include <vector>

#include "httpserverprocess.h"
#include "serverprocess.h"

using namespace sidecar;
using namespace sidecar::test;

namespace {

constexpr int kToolCount = 26;

QByteArray initializeBody(const QByteArray &version, int id = 1)
{
    return R"({"jsonrpc":"2.0","id":)" + QByteArray::number(id) +
           R"(,"method":"initialize","params":{"protocolVersion":")" + version +
           R"(","capabilities":{},"clientInfo":{"name":"tst_httpmcp","version":"1"}}})";
}

const HeaderList kPostHeaders{{"Content-Type", "application/json"}, {"Accept", "application/json, text/event-stream"}};

HeaderList withSession(const QByteArray &sessionId, HeaderList headers = kPostHeaders)
{
    headers.emplace_back("Mcp-Session-Id", sessionId);
    return headers;
}

QByteArray integerText(const json::Value *v)
{
    return v ? v->compact() : QByteArray("<missing>");
}

qint64 integer(const json::Value *v)
{
    return v ? v->toInt64().value_or(-1) : -1;
}

// The structuredContent of a successful tools/call answer, with a message when it is not one.
const json::Value *sc(const std::optional<json::Document> &answer, QString *why = nullptr)
{
    if (!answer) {
        if (why)
            *why = QStringLiteral("no answer");
        return nullptr;
    }
    const json::Value *s = structured(*answer);
    if (!s && why)
        *why = QString::fromUtf8(answer->root().compact());
    return s;
}

// The store's revision now, read through `client`.
qint64 storeRevision(McpHttpClient &client)
{
    auto got = client.call(QStringLiteral("state_get"), R"({"key":"tst_httpmcp/no-such-key"})");
    const json::Value *s = got ? structured(*got) : nullptr;
    return s ? integer(s->find("revision")) : -1;
}

QString answerText(const std::optional<json::Document> &doc)
{
    return doc ? QString::fromUtf8(doc->root().compact()) : QStringLiteral("(none)");
}


} // namespace

class TestHttpMcp : public QObject
{
    Q_OBJECT

private slots:
    void initTestCase();

    // Session lifecycle
    void initializeCreatesSession();
    void initializeNegotiatesVersion_data();
    void initializeNegotiatesVersion();
    void initializedNotificationIs202();
    void clientResponsesAre202();
    void failedInitializeLeavesNoDeadSession();
    void jsonAnswers();
    void sseAnswers();
    void notAcceptable();
    void sessionIdRequired_data();
    void sessionIdRequired();
    void unknownSessionIs404_data();
    void unknownSessionIs404();
    void deleteEndsSession();
    void deleteAnswersPendingRequests();
    void protocolVersionHeader_data();
    void protocolVersionHeader();
    void batches();
    void cancelledCallEndsItsPost_data();
    void cancelledCallEndsItsPost();
    void malformedBodies_data();
    void malformedBodies();
    void manyConcurrentRequests();
    void largeAnswers_data();
    void largeAnswers();

    // Methods and routes
    void methodsNotAllowed_data();
    void methodsNotAllowed();
    void routes();

    // Origin
    void defaultOrigins_data();
    void defaultOrigins();
    void configuredOrigins_data();
    void configuredOrigins();
    void allowedBrowserOriginsGetCors();

    // Host (DNS rebinding)
    void defaultHosts_data();
    void defaultHosts();
    void configuredHosts();

    // GET stream and resumability
    void getStream();
    void getStreamKeepAlive();
    void resourceUpdatesAndResume();
    void postStreamResumedWithGet();
    void postStreamNotPrimedForOlderClients();

    // state_watch over HTTP
    void watchWokenByAnotherSession();
    void watchWokenByAnotherProcess();
    void sigtermAnswersPendingWatch();

    // Sessions reaped
    void idleSessionsAreReaped();
    // Sessions capped
    void sessionCap();

    // Clients that vanish
    void clientVanishesMidWatch();
    void clientVanishesMidStream();

    // The mcp-state-sidecar-http binary
    void httpBinaryServesHttp();

private:
    HttpServerProcess m_server;
    std::unique_ptr<HttpServerProcess> m_originsServer; // --allowed-origins https://app.example
    quint16 port() const { return m_server.port(); }
};

void TestHttpMcp::initTestCase()
{
    QVERIFY2(!qEnvironmentVariableIsEmpty("SIDECAR_BIN"), "SIDECAR_BIN is not set (run through ctest)");
    QVERIFY2(m_server.start(), qPrintable(m_server.errorString()));
    QVERIFY(port() != 0);
}

// ---- Session lifecycle

void TestHttpMcp::initializeCreatesSession()
{
    static const QRegularExpression hex(QStringLiteral("^[0-9a-fA-F]{32,}$"));
    QSet<QByteArray> ids;
    for (int i = 0; i < 4; ++i) {
        const HttpReply r = httpRequest(port(), "POST", "/mcp", kPostHeaders, initializeBody("2025-11-25"));
        QCOMPARE(r.status, 200);
        QCOMPARE(r.mediaType(), QByteArray("application/json"));
        const QByteArray id = r.header("mcp-session-id");
        QVERIFY2(hex.match(QString::fromLatin1(id)).hasMatch(), qPrintable(r.describe()));
        for (char ch : id)
            QVERIFY2(ch >= 0x21 && ch <= 0x7e, "a session id holds only visible ASCII");
        ids.insert(id);

        auto answer = jsonRpcAnswer(r);
        QVERIFY2(answer, qPrintable(r.describe()));
        QCOMPARE(integerText(answer->root().find("id")), QByteArray("1"));
        const json::Value *result = answer->root().find("result");
        QVERIFY2(result, qPrintable(r.describe()));
        QCOMPARE(result->find("protocolVersion")->toQString(), QStringLiteral("2025-11-25"));
        QCOMPARE(result->find("serverInfo")->find("name")->toQString(), QStringLiteral("MCP State Sidecar"));
        QVERIFY(result->find("capabilities")->find("tools"));
    }
    QCOMPARE(ids.size(), 4);
}

void TestHttpMcp::initializeNegotiatesVersion_data()
{
    QTest::addColumn<QByteArray>("asked");
    QTest::addColumn<QByteArray>("answered");
    QTest::newRow("2025-11-25") << QByteArray("2025-11-25") << QByteArray("2025-11-25");
    QTest::newRow("2025-06-18") << QByteArray("2025-06-18") << QByteArray("2025-06-18");
    QTest::newRow("2025-03-26") << QByteArray("2025-03-26") << QByteArray("2025-03-26");
    QTest::newRow("unknown: the server's latest") << QByteArray("2024-11-05") << QByteArray("2025-11-25");
}

void TestHttpMcp::initializeNegotiatesVersion()
{
    QFETCH(QByteArray, asked);
    QFETCH(QByteArray, answered);
    McpHttpClient c(port());
    QVERIFY2(c.initialize(asked), qPrintable(c.errorString()));
    QCOMPARE(c.protocolVersion(), answered);
    // The session works with the negotiated version in its header.
    auto list = c.request(QStringLiteral("tools/list"));
    QVERIFY2(list, qPrintable(c.errorString()));
    QCOMPARE(int(list->root().find("result")->find("tools")->items().size()), kToolCount);
}

void TestHttpMcp::initializedNotificationIs202()
{
    const HttpReply init = httpRequest(port(), "POST", "/mcp", kPostHeaders, initializeBody("2025-11-25"));
    QCOMPARE(init.status, 200);
    const QByteArray id = init.header("mcp-session-id");
    QVERIFY(!id.isEmpty());
    const QByteArray notification = R"({"jsonrpc":"2.0","method":"notifications/initialized"})";
    const HttpReply r = httpRequest(port(), "POST", "/mcp", withSession(id), notification);
    QCOMPARE(r.status, 202);
    QVERIFY2(r.body.isEmpty(), qPrintable(r.describe()));
    // Any notification, whatever the client accepts.
    const HttpReply cancelled =
        httpRequest(port(), "POST", "/mcp",
                    withSession(id, {{"Content-Type", "application/json"}, {"Accept", "text/event-stream"}}),
                    R"({"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":99}})");
    QCOMPARE(cancelled.status, 202);
    QVERIFY(cancelled.body.isEmpty());
}

void TestHttpMcp::clientResponsesAre202()
{
    McpHttpClient c(port());
    QVERIFY2(c.initialize(), qPrintable(c.errorString()));
    HttpReply r = c.post(R"({"jsonrpc":"2.0","id":"server-1","result":{}})");
    QCOMPARE(r.status, 202);
    QVERIFY(r.body.isEmpty());
    r = c.post(R"({"jsonrpc":"2.0","id":"server-2","error":{"code":-32601,"message":"no"}})");
    QCOMPARE(r.status, 202);
    QVERIFY(r.body.isEmpty());
}

// Transports, "Session management": the session id goes on the response holding the
// InitializeResult, and a client MUST use it on every later request. An initialize that fails
// must not hand out the id of a session that is already gone.
void TestHttpMcp::failedInitializeLeavesNoDeadSession()
{
    const QByteArray body = R"({"jsonrpc":"2.0","id":7,"method":"initialize","params":{}})";
    const HttpReply r = httpRequest(port(), "POST", "/mcp", kPostHeaders, body);
    auto answer = jsonRpcAnswer(r);
    QVERIFY2(answer, qPrintable(r.describe()));
    QCOMPARE(rpcErrorCode(*answer), -32602);
    QVERIFY2(!answer->root().find("result"), qPrintable(r.describe()));
    const QByteArray id = r.header("mcp-session-id");
    if (!id.isEmpty()) {
        const HttpReply next = httpRequest(port(), "POST", "/mcp", withSession(id),
                                           R"({"jsonrpc":"2.0","id":8,"method":"ping"})");
        QVERIFY2(next.status != 404,
                 qPrintable(QStringLiteral("a failed initialize answered Mcp-Session-Id %1, a session that "
                                           "does not exist (the next request is 404):\n%2")
                                .arg(QString::fromLatin1(id), r.describe())));
    }
}

void TestHttpMcp::jsonAnswers()
{
    McpHttpClient c(port());
    QVERIFY2(c.initialize(), qPrintable(c.errorString()));

    for (const QByteArray &accept : {QByteArray("application/json, text/event-stream"), QByteArray("application/json"),
                                     QByteArray("text/event-stream, application/json;q=0.9")}) {
        const HttpReply r = c.post(c.requestBody(QStringLiteral("tools/list"), {}, 41), {{"Accept", accept}});
        QCOMPARE(r.status, 200);
        QVERIFY2(r.mediaType() == "application/json", qPrintable(r.describe()));
        auto answer = json::parse(r.body);
        QVERIFY2(answer, qPrintable(r.describe()));
        QCOMPARE(integerText(answer->root().find("id")), QByteArray("41"));
        QCOMPARE(int(answer->root().find("result")->find("tools")->items().size()), kToolCount);
    }

    // Header names are case-insensitive.
    const HttpReply set = httpRequest(
        port(), "POST", "/mcp",
        {{"content-type", "application/json"}, {"ACCEPT", "application/json, text/event-stream"},
         {"MCP-SESSION-ID", c.sessionId()}, {"mcp-protocol-version", "2025-11-25"}},
        c.requestBody(QStringLiteral("tools/call"),
                      toolCallParams(QStringLiteral("state_set"), R"({"key":"json/a","value":{"b":1,"a":[2,3]}})"),
                      42));
    QCOMPARE(set.status, 200);
    QCOMPARE(set.mediaType(), QByteArray("application/json"));
    auto setAnswer = json::parse(set.body);
    QVERIFY(setAnswer);
    QString why;
    const json::Value *s = sc(setAnswer, &why);
    QVERIFY2(s, qPrintable(why));
    QVERIFY(s->find("ok")->toBool());

    auto got = c.call(QStringLiteral("state_get"), R"({"key":"json/a"})");
    s = sc(got, &why);
    QVERIFY2(s, qPrintable(why + c.errorString()));
    QCOMPARE(s->find("value")->compact(), QByteArray(R"({"b":1,"a":[2,3]})"));
}

void TestHttpMcp::sseAnswers()
{
    McpHttpClient c(port());
    QVERIFY2(c.initialize(), qPrintable(c.errorString()));
    const HeaderList sseOnly{{"Accept", "text/event-stream"}};

    QVERIFY(c.call(QStringLiteral("state_set"), R"({"key":"sse/a","value":[1,"x"]})"));
    const HttpReply r = c.post(c.requestBody(QStringLiteral("tools/call"),
                                             toolCallParams(QStringLiteral("state_get"), R"({"key":"sse/a"})"), 51),
                               sseOnly);
    QCOMPARE(r.status, 200);
    QVERIFY2(r.mediaType() == "text/event-stream", qPrintable(r.describe()));
    // readResponse() returned: the stream ended after the answer.
    const QList<SseEvent> events = parseSse(r.body);
    QList<SseEvent> messages;
    for (const SseEvent &e : events) {
        if (!e.data.isEmpty())
            messages.append(e);
    }
    QVERIFY2(messages.size() == 1, qPrintable(r.describe()));
    QVERIFY(messages[0].event.isEmpty() || messages[0].event == "message");
    auto answer = json::parse(messages[0].data);
    QVERIFY2(answer, qPrintable(r.describe()));
    QCOMPARE(integerText(answer->root().find("id")), QByteArray("51"));
    QString why;
    const json::Value *s = sc(answer, &why);
    QVERIFY2(s, qPrintable(why));
    QCOMPARE(s->find("value")->compact(), QByteArray(R"([1,"x"])"));

    // initialize too, with its session id.
    const HttpReply init = httpRequest(port(), "POST", "/mcp",
                                       {{"Content-Type", "application/json"}, {"Accept", "text/event-stream"}},
                                       initializeBody("2025-11-25"));
    QCOMPARE(init.status, 200);
    QCOMPARE(init.mediaType(), QByteArray("text/event-stream"));
    QVERIFY2(!init.header("mcp-session-id").isEmpty(), qPrintable(init.describe()));
    auto initAnswer = jsonRpcAnswer(init);
    QVERIFY2(initAnswer && initAnswer->root().find("result"), qPrintable(init.describe()));

    // tools/list and a JSON-RPC error travel the same way.
    const HttpReply list = c.post(c.requestBody(QStringLiteral("tools/list"), {}, 52), sseOnly);
    QCOMPARE(list.status, 200);
    QCOMPARE(list.mediaType(), QByteArray("text/event-stream"));
    auto listAnswer = jsonRpcAnswer(list);
    QVERIFY2(listAnswer, qPrintable(list.describe()));
    QCOMPARE(int(listAnswer->root().find("result")->find("tools")->items().size()), kToolCount);

    const HttpReply unknown = c.post(
        c.requestBody(QStringLiteral("tools/call"), toolCallParams(QStringLiteral("no_such_tool"), "{}"), 53), sseOnly);
    QCOMPARE(unknown.status, 200);
    auto unknownAnswer = jsonRpcAnswer(unknown);
    QVERIFY2(unknownAnswer, qPrintable(unknown.describe()));
    QCOMPARE(rpcErrorCode(*unknownAnswer), -32602);
    QCOMPARE(integerText(unknownAnswer->root().find("id")), QByteArray("53"));
}

void TestHttpMcp::notAcceptable()
{
    McpHttpClient c(port());
    QVERIFY2(c.initialize(), qPrintable(c.errorString()));
    const HttpReply post = c.post(c.requestBody(QStringLiteral("ping"), {}, 61), {{"Accept", "text/html"}});
    QCOMPARE(post.status, 406);
    HeaderList get{{"Accept", "application/json"}};
    get += c.sessionHeaders();
    QCOMPARE(httpRequest(port(), "GET", "/mcp", get).status, 406);
}

void TestHttpMcp::sessionIdRequired_data()
{
    QTest::addColumn<QByteArray>("method");
    QTest::addColumn<QByteArray>("body");
    QTest::newRow("POST request") << QByteArray("POST") << QByteArray(R"({"jsonrpc":"2.0","id":1,"method":"tools/list"})");
    QTest::newRow("POST tools/call")
        << QByteArray("POST")
        << QByteArray(R"({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"sidecar_health","arguments":{}}})");
    QTest::newRow("POST notification") << QByteArray("POST")
                                       << QByteArray(R"({"jsonrpc":"2.0","method":"notifications/initialized"})");
    QTest::newRow("GET") << QByteArray("GET") << QByteArray();
    QTest::newRow("DELETE") << QByteArray("DELETE") << QByteArray();
}

void TestHttpMcp::sessionIdRequired()
{
    QFETCH(QByteArray, method);
    QFETCH(QByteArray, body);
    HeaderList headers = method == "GET" ? HeaderList{{"Accept", "text/event-stream"}} : kPostHeaders;
    headers.emplace_back("MCP-Protocol-Version", "2025-11-25");
    const HttpReply r = httpRequest(port(), method, "/mcp", headers, body);
    QVERIFY2(r.status == 400, qPrintable(r.describe()));
}

void TestHttpMcp::unknownSessionIs404_data()
{
    sessionIdRequired_data();
}

void TestHttpMcp::unknownSessionIs404()
{
    QFETCH(QByteArray, method);
    QFETCH(QByteArray, body);
    for (const QByteArray &id : {QByteArray("0123456789abcdef0123456789abcdef"), QByteArray("not-a-session")}) {
        HeaderList headers = method == "GET" ? HeaderList{{"Accept", "text/event-stream"}} : kPostHeaders;
        headers.emplace_back("Mcp-Session-Id", id);
        headers.emplace_back("MCP-Protocol-Version", "2025-11-25");
        const HttpReply r = httpRequest(port(), method, "/mcp", headers, body);
        QVERIFY2(r.status == 404, qPrintable(r.describe()));
    }
}

void TestHttpMcp::deleteEndsSession()
{
    McpHttpClient c(port());
    QVERIFY2(c.initialize(), qPrintable(c.errorString()));
    McpHttpClient other(port());
    QVERIFY2(other.initialize(), qPrintable(other.errorString()));
    HttpReply head;
    auto stream = c.openStream(&head);
    QVERIFY2(stream, qPrintable(c.errorString()));
    QCOMPARE(head.status, 200);

    const HttpReply deleted = c.deleteSession();
    QVERIFY2(deleted.status == 200 || deleted.status == 204, qPrintable(deleted.describe()));
    // Its stream ends with it.
    QVERIFY2(stream->waitForBodyEnd(15000) || stream->waitForDisconnected(1), "the session's GET stream stayed open");

    const HttpReply post = c.post(c.requestBody(QStringLiteral("ping"), {}, 71));
    QVERIFY2(post.status == 404, qPrintable(post.describe()));
    HttpReply getHead;
    auto get = c.openStream(&getHead);
    QVERIFY(get);
    QVERIFY2(getHead.status == 404, qPrintable(getHead.describe()));
    QCOMPARE(c.deleteSession().status, 404);
    // Other sessions go on.
    QVERIFY2(other.request(QStringLiteral("ping")), qPrintable(other.errorString()));
}

// A POST in flight when its session is deleted still gets an HTTP response: the JSON-RPC answer,
// or 404 for the ended session (Transports, "Session management" 3). It must not hang.
void TestHttpMcp::deleteAnswersPendingRequests()
{
    McpHttpClient c(port());
    QVERIFY2(c.initialize(), qPrintable(c.errorString()));
    const qint64 revision = storeRevision(c);
    QVERIFY(revision >= 0);
    auto watch = c.startCall(QStringLiteral("state_watch"),
                             R"({"prefix":"deleted-session/","since_revision":)" + QByteArray::number(revision) +
                                 R"(,"timeout_seconds":5})");
    QVERIFY2(watch, qPrintable(c.errorString()));
    QVERIFY2(c.request(QStringLiteral("ping")), qPrintable(c.errorString())); // the watch is parked by now
    const HttpReply deleted = c.deleteSession();
    QVERIFY2(deleted.status == 200 || deleted.status == 204, qPrintable(deleted.describe()));

    // The watch's own deadline is 5 s; 30 s is plenty for any answer.
    auto reply = watch->readResponse(30000);
    QVERIFY2(reply, qPrintable(QStringLiteral("DELETE of a session left its pending POST (state_watch, "
                                              "timeout_seconds 5) without any HTTP response after 30 s: ") +
                               watch->errorString()));
    QVERIFY2(reply->status == 200 || reply->status == 404, qPrintable(reply->describe()));
}

void TestHttpMcp::protocolVersionHeader_data()
{
    QTest::addColumn<QByteArray>("version"); // empty: no header
    QTest::addColumn<bool>("accepted");
    QTest::newRow("absent (2025-03-26 assumed)") << QByteArray() << true;
    QTest::newRow("2025-11-25") << QByteArray("2025-11-25") << true;
    QTest::newRow("2025-06-18") << QByteArray("2025-06-18") << true;
    QTest::newRow("2025-03-26") << QByteArray("2025-03-26") << true;
    QTest::newRow("2099-01-01") << QByteArray("2099-01-01") << false;
    QTest::newRow("2024-11-05") << QByteArray("2024-11-05") << false;
    QTest::newRow("garbage") << QByteArray("latest") << false;
    QTest::newRow("suffix") << QByteArray("2025-11-25x") << false;
}

void TestHttpMcp::protocolVersionHeader()
{
    QFETCH(QByteArray, version);
    QFETCH(bool, accepted);
    McpHttpClient c(port());
    QVERIFY2(c.initialize(), qPrintable(c.errorString()));
    HeaderList headers = withSession(c.sessionId());
    if (!version.isEmpty())
        headers.emplace_back("MCP-Protocol-Version", version);

    const HttpReply post = httpRequest(port(), "POST", "/mcp", headers, R"({"jsonrpc":"2.0","id":81,"method":"ping"})");
    QVERIFY2(post.status == (accepted ? 200 : 400), qPrintable(post.describe()));
    if (accepted) {
        auto answer = jsonRpcAnswer(post);
        QVERIFY(answer && answer->root().find("result"));
    }

    const HttpReply notification =
        httpRequest(port(), "POST", "/mcp", headers, R"({"jsonrpc":"2.0","method":"notifications/initialized"})");
    QVERIFY2(notification.status == (accepted ? 202 : 400), qPrintable(notification.describe()));

    HeaderList getHeaders{{"Accept", "text/event-stream"}, {"Mcp-Session-Id", c.sessionId()}};
    if (!version.isEmpty())
        getHeaders.emplace_back("MCP-Protocol-Version", version);
    HttpConnection get(port());
    QVERIFY(get.connectToServer());
    QVERIFY(get.send("GET", "/mcp", getHeaders));
    auto head = get.readHead(30000);
    QVERIFY2(head, qPrintable(get.errorString()));
    QVERIFY2(head->status == (accepted ? 200 : 400), qPrintable(head->describe()));
    get.abort();

    if (!accepted) {
        HeaderList deleteHeaders{{"Mcp-Session-Id", c.sessionId()}, {"MCP-Protocol-Version", version}};
        const HttpReply del = httpRequest(port(), "DELETE", "/mcp", deleteHeaders);
        QVERIFY2(del.status == 400, qPrintable(del.describe()));
        // The session survived the refused requests.
        QVERIFY2(c.request(QStringLiteral("ping")), qPrintable(c.errorString()));
    }
}

void TestHttpMcp::cancelledCallEndsItsPost_data()
{
    QTest::addColumn<QByteArray>("version");
    QTest::addColumn<QByteArray>("accept");
    QTest::newRow("2025-11-25, SSE") << QByteArray("2025-11-25") << QByteArray("application/json, text/event-stream");
    QTest::newRow("2025-11-25, JSON") << QByteArray("2025-11-25") << QByteArray("application/json");
    QTest::newRow("2025-03-26, SSE") << QByteArray("2025-03-26") << QByteArray("application/json, text/event-stream");
}

void TestHttpMcp::cancelledCallEndsItsPost()
{
    // The client cancels a call in flight: its answer is withheld (MCP, cancellation), and the POST
    // that carried it still ends (202 without a body, or its stream closed without a message)
    // instead of holding the connection for good.
    QFETCH(QByteArray, version);
    QFETCH(QByteArray, accept);
    McpHttpClient c(port());
    QVERIFY2(c.initialize(version), qPrintable(c.errorString()));
    HeaderList headers{{"Content-Type", "application/json"}, {"Accept", accept}};
    headers += c.sessionHeaders();
    const QByteArray watch =
        R"({"jsonrpc":"2.0","id":"w1","method":"tools/call","params":{"name":"state_watch","arguments":)"
        R"({"key":"cancel/never","since_revision":1000000000,"timeout_seconds":2}}})";
    HttpConnection call(port());
    QVERIFY(call.connectToServer());
    QVERIFY(call.send("POST", "/mcp", headers, watch));
    QTest::qWait(200); // the watch is parked
    const HttpReply cancelled =
        c.post(R"({"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":"w1","reason":"test"}})");
    QCOMPARE(cancelled.status, 202);
    auto ended = call.readResponse(20000);
    QVERIFY2(ended, qPrintable(call.errorString()));
    QVERIFY2(ended->status == 202 || ended->status == 200, qPrintable(ended->describe()));
    for (const SseEvent &e : parseSse(ended->body))
        QVERIFY2(!e.hasData || e.data.isEmpty(), qPrintable(ended->describe())); // no answer, only priming
    if (ended->status == 202)
        QVERIFY(ended->body.isEmpty());
    // The session goes on.
    QVERIFY2(c.request(QStringLiteral("ping")), qPrintable(c.errorString()));

    if (version == "2025-03-26") {
        // A batch whose only request is cancelled in the same batch ends too.
        const QByteArray batch =
            "[" + watch + R"(,{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":"w1"}}])";
        HttpConnection batchCall(port());
        QVERIFY(batchCall.connectToServer());
        QVERIFY(batchCall.send("POST", "/mcp", headers, batch));
        auto batchEnded = batchCall.readResponse(20000);
        QVERIFY2(batchEnded, qPrintable(batchCall.errorString()));
        QVERIFY2(batchEnded->status == 202 || batchEnded->status == 200, qPrintable(batchEnded->describe()));
        QVERIFY2(!batchEnded->body.contains("jsonrpc"), qPrintable(batchEnded->describe()));
    }
}

void TestHttpMcp::batches()
{
    const QByteArray twoPings = R"([{"jsonrpc":"2.0","id":1,"method":"ping"},{"jsonrpc":"2.0","id":2,"method":"ping"}])";
    for (const QByteArray &version : {QByteArray("2025-11-25"), QByteArray("2025-06-18")}) {
        McpHttpClient c(port());
        QVERIFY2(c.initialize(version), qPrintable(c.errorString()));
        const HttpReply r = c.post(twoPings);
        QVERIFY2(r.status == 400, qPrintable(r.describe()));
        QCOMPARE(r.mediaType(), QByteArray("application/json"));
        auto answer = json::parse(r.body);
        QVERIFY2(answer && answer->root().isObject(), qPrintable(r.describe()));
        QCOMPARE(rpcErrorCode(*answer), -32600);
        QVERIFY(answer->root().find("id") && answer->root().find("id")->isNull());
        // The session goes on.
        QVERIFY2(c.request(QStringLiteral("ping")), qPrintable(c.errorString()));
    }

    // 2025-03-26 has batches, with or without the version header (absent means 2025-03-26).
    McpHttpClient old(port());
    QVERIFY2(old.initialize("2025-03-26"), qPrintable(old.errorString()));
    QCOMPARE(old.protocolVersion(), QByteArray("2025-03-26"));
    const QByteArray mixed =
        R"([{"jsonrpc":"2.0","id":1,"method":"ping"},)"
        R"({"jsonrpc":"2.0","id":"two","method":"tools/call","params":{"name":"state_set","arguments":{"key":"batch/a","value":1}}},)"
        R"({"jsonrpc":"2.0","method":"notifications/initialized"}])";
    for (const HeaderList &extra : {HeaderList{}, HeaderList{{"MCP-Protocol-Version", ""}}}) {
        const HttpReply r = old.post(mixed, extra);
        QVERIFY2(r.status == 200, qPrintable(r.describe()));
        auto answer = jsonRpcAnswer(r);
        QVERIFY2(answer && answer->root().isArray(), qPrintable(r.describe()));
        QCOMPARE(int(answer->root().items().size()), 2);
        QSet<QByteArray> ids;
        for (const json::Value &item : answer->root().items()) {
            ids.insert(item.find("id")->compact());
            QVERIFY2(item.find("result"), qPrintable(r.describe()));
        }
        QCOMPARE(ids, (QSet<QByteArray>{"1", "\"two\""}));
    }
    const HttpReply onlyNotifications =
        old.post(R"([{"jsonrpc":"2.0","method":"notifications/initialized"},{"jsonrpc":"2.0","id":9,"result":{}}])");
    QVERIFY2(onlyNotifications.status == 202, qPrintable(onlyNotifications.describe()));
    QVERIFY(onlyNotifications.body.isEmpty());
    const HttpReply empty = old.post("[]");
    QVERIFY2(empty.status == 400, qPrintable(empty.describe()));
    auto emptyAnswer = json::parse(empty.body);
    QVERIFY(emptyAnswer);
    QCOMPARE(rpcErrorCode(*emptyAnswer), -32600);
}

void TestHttpMcp::malformedBodies_data()
{
    QTest::addColumn<QByteArray>("body");
    QTest::addColumn<QByteArray>("contentType");
    QTest::addColumn<int>("status");
    QTest::addColumn<int>("rpcCode"); // 0: no JSON-RPC body expected
    QTest::newRow("not JSON") << QByteArray("{bad") << QByteArray("application/json") << 400 << -32700;
    QTest::newRow("truncated") << QByteArray(R"({"jsonrpc":"2.0","id":1,"method":"pi)") << QByteArray("application/json")
                               << 400 << -32700;
    QTest::newRow("empty body") << QByteArray() << QByteArray("application/json") << 400 << -32700;
    QTest::newRow("not an object") << QByteArray("42") << QByteArray("application/json") << 400 << -32600;
    QTest::newRow("method not a string") << QByteArray(R"({"jsonrpc":"2.0","method":5})")
                                         << QByteArray("application/json") << 400 << -32600;
    QTest::newRow("charset parameter") << QByteArray("{bad") << QByteArray("application/json; charset=utf-8") << 400
                                       << -32700;
    QTest::newRow("text/plain") << QByteArray(R"({"jsonrpc":"2.0","id":1,"method":"ping"})")
                                << QByteArray("text/plain") << 415 << 0;
}

void TestHttpMcp::malformedBodies()
{
    QFETCH(QByteArray, body);
    QFETCH(QByteArray, contentType);
    QFETCH(int, status);
    QFETCH(int, rpcCode);
    McpHttpClient c(port());
    QVERIFY2(c.initialize(), qPrintable(c.errorString()));
    const HttpReply r = c.post(body, {{"Content-Type", contentType}});
    QVERIFY2(r.status == status, qPrintable(r.describe()));
    if (rpcCode != 0) {
        QCOMPARE(r.mediaType(), QByteArray("application/json"));
        auto answer = json::parse(r.body);
        QVERIFY2(answer, qPrintable(r.describe()));
        QCOMPARE(rpcErrorCode(*answer), rpcCode);
        QVERIFY(answer->root().find("id") && answer->root().find("id")->isNull());
    }
    QVERIFY2(c.request(QStringLiteral("ping")), qPrintable(c.errorString()));
}

void TestHttpMcp::manyConcurrentRequests()
{
    McpHttpClient c(port());
    QVERIFY2(c.initialize(), qPrintable(c.errorString()));
    constexpr int n = 40;
    std::vector<std::unique_ptr<HttpConnection>> calls;
    for (int i = 0; i < n; ++i) {
        calls.push_back(c.startCall(QStringLiteral("state_set"),
                                    R"({"key":"many/)" + QByteArray::number(i) + R"(","value":)" +
                                        QByteArray::number(i) + '}'));
        QVERIFY2(calls.back(), qPrintable(c.errorString()));
    }
    QSet<qint64> revisions;
    for (auto &call : calls) {
        auto r = call->readResponse(60000);
        QVERIFY2(r, qPrintable(call->errorString()));
        QCOMPARE(r->status, 200);
        auto answer = jsonRpcAnswer(*r);
        QString why;
        const json::Value *s = sc(answer, &why);
        QVERIFY2(s, qPrintable(why));
        revisions.insert(integer(s->find("revision")));
    }
    QCOMPARE(revisions.size(), n);
}

// A watch answer within the reply limit (16 values of 900 KB: about 14.4 MB of structuredContent,
// twice that on the wire with its text copy) arrives whole, as JSON and as SSE, to a client that
// starts reading a moment after sending (as one behind a slow network would) and then reads as
// fast as it can.
void TestHttpMcp::largeAnswers_data()
{
    QTest::addColumn<QByteArray>("accept");
    QTest::newRow("json") << QByteArray("application/json");
    QTest::newRow("sse") << QByteArray("text/event-stream");
}

void TestHttpMcp::largeAnswers()
{
    QFETCH(QByteArray, accept);
    McpHttpClient c(port());
    QVERIFY2(c.initialize(), qPrintable(c.errorString()));
    constexpr int keys = 16;
    const QByteArray prefix = "large-" + accept.left(4) + '/';
    const qint64 revision = storeRevision(c);
    QVERIFY(revision >= 0);
    const QByteArray value = '"' + QByteArray(900 * 1000, 'v') + '"';
    for (int i = 0; i < keys; ++i) {
        auto set = c.call(QStringLiteral("state_set"),
                          R"({"key":")" + prefix + QByteArray::number(i) + R"(","value":)" + value + '}', 60000);
        QVERIFY2(sc(set), qPrintable(c.errorString()));
    }
    auto watch = c.startCall(QStringLiteral("state_watch"),
                             R"({"prefix":")" + prefix + R"(","since_revision":)" + QByteArray::number(revision) +
                                 R"(,"timeout_seconds":1})",
                             {{"Accept", accept}});
    QVERIFY(watch);
    QThread::msleep(1500);
    auto reply = watch->readResponse(60000);
    QVERIFY2(reply, qPrintable(QStringLiteral("the answer did not arrive whole: ") + watch->errorString()));
    QCOMPARE(reply->status, 200);
    QCOMPARE(reply->mediaType(), accept);
    auto answer = jsonRpcAnswer(*reply);
    QString why;
    const json::Value *s = sc(answer, &why);
    QVERIFY2(s, qPrintable(QStringLiteral("%1 bytes, not a whole answer: ").arg(reply->body.size()) + why.left(300)));
    QCOMPARE(int(s->find("events")->items().size()), keys);
}

// ---- Methods and routes

void TestHttpMcp::methodsNotAllowed_data()
{
    QTest::addColumn<QByteArray>("method");
    QTest::newRow("PUT") << QByteArray("PUT");
    QTest::newRow("PATCH") << QByteArray("PATCH");
}

void TestHttpMcp::methodsNotAllowed()
{
    QFETCH(QByteArray, method);
    McpHttpClient c(port());
    QVERIFY2(c.initialize(), qPrintable(c.errorString()));
    for (const HeaderList &headers : {kPostHeaders, withSession(c.sessionId())}) {
        const HttpReply r = httpRequest(port(), method, "/mcp", headers, R"({"jsonrpc":"2.0","id":1,"method":"ping"})");
        QVERIFY2(r.status == 405, qPrintable(r.describe()));
        QSet<QByteArray> allowed;
        for (const QByteArray &value : r.headerValues("allow")) {
            for (const QByteArray &m : value.split(','))
                allowed.insert(m.trimmed().toUpper());
        }
        QVERIFY2(allowed.contains("GET") && allowed.contains("POST") && allowed.contains("DELETE"),
                 qPrintable(r.describe()));
    }
}

void TestHttpMcp::routes()
{
    for (const QByteArray &target : {QByteArray("/nope"), QByteArray("/mcp/"), QByteArray("/mcp/extra"),
                                     QByteArray("/MCP"), QByteArray("/")}) {
        const HttpReply r = httpRequest(port(), "POST", target, kPostHeaders, initializeBody("2025-11-25"));
        QVERIFY2(r.status == 404, qPrintable(QString::fromLatin1(target) + QStringLiteral(": ") + r.describe()));
        QVERIFY(!r.hasHeader("mcp-session-id"));
    }

    const HttpReply health = httpRequest(port(), "GET", "/healthz");
    QVERIFY2(health.status == 200, qPrintable(health.describe()));
    const HttpReply ready = httpRequest(port(), "GET", "/readyz");
    QVERIFY2(ready.status == 200, qPrintable(ready.describe()));
    const HttpReply healthHead = httpRequest(port(), "HEAD", "/healthz");
    QCOMPARE(healthHead.status, 200);
    QVERIFY(healthHead.body.isEmpty());

    for (const QByteArray &method : {QByteArray("POST"), QByteArray("DELETE"), QByteArray("PUT")}) {
        for (const QByteArray &target : {QByteArray("/healthz"), QByteArray("/readyz")}) {
            const HttpReply r = httpRequest(port(), method, target, {{"Content-Type", "application/json"}}, "{}");
            QVERIFY2(r.status == 405, qPrintable(QString::fromLatin1(method + ' ' + target) + QStringLiteral(": ") + r.describe()));
            QVERIFY2(r.header("allow").toUpper().contains("GET"), qPrintable(r.describe()));
        }
    }
}

// ---- Origin (Transports, "Security warning")

void TestHttpMcp::defaultOrigins_data()
{
    QTest::addColumn<QByteArray>("origin");
    QTest::addColumn<bool>("allowed");
    QTest::newRow("localhost:5173") << QByteArray("http://localhost:5173") << true;
    QTest::newRow("localhost") << QByteArray("http://localhost") << true;
    QTest::newRow("https localhost") << QByteArray("https://localhost:8443") << true;
    QTest::newRow("127.0.0.1") << QByteArray("http://127.0.0.1:3000") << true;
    QTest::newRow("[::1]") << QByteArray("http://[::1]:8080") << true;
    QTest::newRow("upper case") << QByteArray("HTTP://LocalHost:5173") << true;
    QTest::newRow("evil") << QByteArray("http://evil.example") << false;
    QTest::newRow("evil with localhost port") << QByteArray("https://evil.example:5173") << false;
    QTest::newRow("localhost as a subdomain label") << QByteArray("http://localhost.evil.example") << false;
    QTest::newRow("loopback-looking name") << QByteArray("http://127.0.0.1.evil.example") << false;
    QTest::newRow("LAN address") << QByteArray("http://192.168.1.10:8000") << false;
    QTest::newRow("opaque origin") << QByteArray("null") << false;
    QTest::newRow("file") << QByteArray("file://") << false;
}

void TestHttpMcp::defaultOrigins()
{
    QFETCH(QByteArray, origin);
    QFETCH(bool, allowed);
    HeaderList headers = kPostHeaders;
    headers.emplace_back("Origin", origin);
    const HttpReply init = httpRequest(port(), "POST", "/mcp", headers, initializeBody("2025-11-25"));
    if (allowed) {
        QVERIFY2(init.status == 200, qPrintable(init.describe()));
        QVERIFY(!init.header("mcp-session-id").isEmpty());
        return;
    }
    QVERIFY2(init.status == 403, qPrintable(init.describe()));
    QVERIFY(!init.hasHeader("mcp-session-id"));

    // Refused before anything else, on every method, with a live session too.
    McpHttpClient c(port());
    QVERIFY2(c.initialize(), qPrintable(c.errorString()));
    HeaderList post = withSession(c.sessionId());
    post.emplace_back("Origin", origin);
    const HttpReply call = httpRequest(
        port(), "POST", "/mcp", post,
        c.requestBody(QStringLiteral("tools/call"),
                      toolCallParams(QStringLiteral("state_set"), R"({"key":"origin/x","value":"evil"})"), 91));
    QVERIFY2(call.status == 403, qPrintable(call.describe()));
    HeaderList get{{"Accept", "text/event-stream"}, {"Mcp-Session-Id", c.sessionId()}, {"Origin", origin}};
    QCOMPARE(httpRequest(port(), "GET", "/mcp", get).status, 403);
    HeaderList del{{"Mcp-Session-Id", c.sessionId()}, {"Origin", origin}};
    QCOMPARE(httpRequest(port(), "DELETE", "/mcp", del).status, 403);
    // Nothing of that reached the session: it lives, and the key was not written.
    auto got = c.call(QStringLiteral("state_get"), R"({"key":"origin/x"})");
    QString why;
    const json::Value *s = sc(got, &why);
    QVERIFY2(s, qPrintable(why + c.errorString()));
    QCOMPARE(s->find("found")->toBool(), false);
}

void TestHttpMcp::configuredOrigins_data()
{
    QTest::addColumn<QByteArray>("origin"); // empty: no Origin header
    QTest::addColumn<bool>("allowed");
    QTest::newRow("no Origin") << QByteArray() << true;
    QTest::newRow("listed") << QByteArray("https://app.example") << true;
    QTest::newRow("listed, default port") << QByteArray("https://app.example:443") << true;
    QTest::newRow("listed, upper case") << QByteArray("HTTPS://APP.EXAMPLE") << true;
    QTest::newRow("other scheme") << QByteArray("http://app.example") << false;
    QTest::newRow("other port") << QByteArray("https://app.example:8443") << false;
    QTest::newRow("subdomain") << QByteArray("https://sub.app.example") << false;
    QTest::newRow("localhost no longer") << QByteArray("http://localhost:5173") << false;
    QTest::newRow("evil") << QByteArray("http://evil.example") << false;
}

void TestHttpMcp::configuredOrigins()
{
    QFETCH(QByteArray, origin);
    QFETCH(bool, allowed);
    if (!m_originsServer) {
        m_originsServer = std::make_unique<HttpServerProcess>();
        QVERIFY2(m_originsServer->start({QStringLiteral("--allowed-origins"), QStringLiteral("https://app.example")}),
                 qPrintable(m_originsServer->errorString()));
    }
    HttpServerProcess &server = *m_originsServer;
    HeaderList headers = kPostHeaders;
    if (!origin.isEmpty())
        headers.emplace_back("Origin", origin);
    const HttpReply init = httpRequest(server.port(), "POST", "/mcp", headers, initializeBody("2025-11-25"));
    QVERIFY2(init.status == (allowed ? 200 : 403), qPrintable(init.describe()));
}

// SIDECAR_ALLOWED_ORIGINS names "browser origins allowed to use the HTTP transport" (localhost
// ones by default). A page on such an origin calls /mcp cross-origin (http://localhost:5173 ->
// http://127.0.0.1:<port>), so fetch() first sends a CORS preflight (JSON body, Mcp-Session-Id),
// and can read the answer and its Mcp-Session-Id only when the server grants them with CORS
// headers. Without them an "allowed" browser origin cannot use the transport at all.
void TestHttpMcp::allowedBrowserOriginsGetCors()
{
    const QByteArray origin = "http://localhost:5173";
    const HttpReply preflight =
        httpRequest(port(), "OPTIONS", "/mcp",
                    {{"Origin", origin},
                     {"Access-Control-Request-Method", "POST"},
                     {"Access-Control-Request-Headers", "content-type, mcp-session-id, mcp-protocol-version"}});
    QVERIFY2(preflight.status == 200 || preflight.status == 204,
             qPrintable(QStringLiteral("CORS preflight from an allowed origin refused:\n") + preflight.describe()));
    QCOMPARE(preflight.header("access-control-allow-origin"), origin);
    const QByteArray methods = preflight.header("access-control-allow-methods").toUpper();
    QVERIFY2(methods.contains("POST") && methods.contains("GET") && methods.contains("DELETE"),
             qPrintable(preflight.describe()));
    const QByteArray allowHeaders = preflight.header("access-control-allow-headers").toLower();
    for (const char *h : {"content-type", "mcp-session-id", "mcp-protocol-version"})
        QVERIFY2(allowHeaders.contains(h) || allowHeaders.contains("*"), qPrintable(preflight.describe()));

    HeaderList headers = kPostHeaders;
    headers.emplace_back("Origin", origin);
    const HttpReply init = httpRequest(port(), "POST", "/mcp", headers, initializeBody("2025-11-25"));
    QCOMPARE(init.status, 200);
    QVERIFY2(init.header("access-control-allow-origin") == origin, qPrintable(init.describe()));
    QVERIFY2(init.header("access-control-expose-headers").toLower().contains("mcp-session-id"),
             qPrintable(init.describe()));

    // A refused origin is granted nothing.
    const HttpReply evil = httpRequest(port(), "OPTIONS", "/mcp",
                                       {{"Origin", "http://evil.example"}, {"Access-Control-Request-Method", "POST"}});
    QVERIFY2(evil.status == 403, qPrintable(evil.describe()));
    QVERIFY(!evil.hasHeader("access-control-allow-origin"));
}

// ---- GET stream and resumability

void TestHttpMcp::getStream()
{
    McpHttpClient c(port());
    QVERIFY2(c.initialize(), qPrintable(c.errorString()));
    HttpReply head;
    auto stream = c.openStream(&head);
    QVERIFY2(stream, qPrintable(c.errorString()));
    QVERIFY2(head.status == 200, qPrintable(head.describe()));
    QCOMPARE(head.mediaType(), QByteArray("text/event-stream"));
    QVERIFY2(!head.hasHeader("content-length"), "an event stream has no length");

    // The stream stays open, and the session answers POSTs meanwhile (on other connections).
    QVERIFY2(!stream->waitForBodyEnd(1000), "the GET stream ended by itself");
    QVERIFY2(c.request(QStringLiteral("tools/list")), qPrintable(c.errorString()));
    QVERIFY2(c.call(QStringLiteral("state_set"), R"({"key":"stream/a","value":1})"), qPrintable(c.errorString()));
    // The server MUST NOT send a JSON-RPC response on the GET stream.
    while (auto e = stream->nextEvent(500)) {
        if (e->data.isEmpty())
            continue;
        auto message = json::parse(e->data);
        QVERIFY2(message && !message->root().find("result") && !message->root().find("error"),
                 qPrintable(QString::fromUtf8(e->data)));
    }
    QVERIFY(!stream->bodyEnded());
    stream->abort();
    // The session outlives its stream.
    QVERIFY2(c.request(QStringLiteral("ping")), qPrintable(c.errorString()));
}

// The endpoint sends an SSE comment on open streams every 15 s (McpHttpOptions::keepAliveMs), so
// proxies and clients do not take a quiet stream for a dead one.
void TestHttpMcp::getStreamKeepAlive()
{
    McpHttpClient c(port());
    QVERIFY2(c.initialize(), qPrintable(c.errorString()));
    HttpReply head;
    auto stream = c.openStream(&head);
    QVERIFY(stream);
    QCOMPARE(head.status, 200);
    QDeadlineTimer deadline(40000);
    while (stream->comments() == 0 && !deadline.hasExpired() && !stream->bodyEnded()) {
        auto e = stream->nextEvent(1000);
        QVERIFY2(!e || e->data.isEmpty(), qPrintable(QString::fromUtf8(e ? e->data : QByteArray())));
    }
    QVERIFY2(stream->comments() > 0, "no keep-alive comment on a quiet stream within 40 s");
    QVERIFY(!stream->bodyEnded());
    QVERIFY2(c.request(QStringLiteral("ping")), qPrintable(c.errorString()));
}

// resources/subscribe on a key, changed from another session: notifications/resources/updated
// arrives on the GET stream with an event id; a change made while the stream is down is replayed
// after a reconnect with Last-Event-ID, and only what was missed.
void TestHttpMcp::resourceUpdatesAndResume()
{
    McpHttpClient a(port());
    QVERIFY2(a.initialize(), qPrintable(a.errorString()));
    McpHttpClient b(port());
    QVERIFY2(b.initialize(), qPrintable(b.errorString()));
    auto init = jsonRpcAnswer(a.initializeReply());
    const json::Value *resources = init->root().find("result")->find("capabilities")->find("resources");
    QVERIFY2(resources && resources->find("subscribe") && resources->find("subscribe")->toBool(),
             "the server does not announce resources.subscribe");

    const QByteArray uri = "state://kv/resume-key";
    auto subscribed = a.request(QStringLiteral("resources/subscribe"), R"({"uri":")" + uri + R"("})");
    QVERIFY2(subscribed && subscribed->root().find("result"), qPrintable(answerText(subscribed) + a.errorString()));

    HttpReply head;
    auto stream = a.openStream(&head);
    QVERIFY2(stream, qPrintable(a.errorString()));
    QVERIFY2(head.status == 200, qPrintable(head.describe()));
    // b listens too, but subscribed to nothing.
    auto bystander = b.openStream(&head);
    QVERIFY(bystander);
    QCOMPARE(head.status, 200);

    auto checkUpdate = [&](const SseEvent &e) {
        QVERIFY2(e.hasId && !e.id.isEmpty(), qPrintable(QStringLiteral("an event without id: ") + QString::fromUtf8(e.data)));
        QVERIFY(e.event.isEmpty() || e.event == "message");
        auto message = json::parse(e.data);
        QVERIFY2(message, qPrintable(QString::fromUtf8(e.data)));
        QCOMPARE(message->root().find("method")->toQString(), QStringLiteral("notifications/resources/updated"));
        QVERIFY(!message->root().find("id"));
        QCOMPARE(message->root().find("params")->find("uri")->toQString(), QString::fromLatin1(uri));
    };

    QVERIFY2(b.call(QStringLiteral("state_set"), R"({"key":"resume-key","value":1})"), qPrintable(b.errorString()));
    auto first = nextDataEvent(*stream, 20000);
    QVERIFY2(first, "no notifications/resources/updated on the GET stream after a change by another session");
    checkUpdate(*first);
    if (QTest::currentTestFailed())
        return;

    // The client drops its stream; a change happens; it comes back with Last-Event-ID.
    stream->abort();
    QVERIFY2(b.call(QStringLiteral("state_set"), R"({"key":"resume-key","value":2})"), qPrintable(b.errorString()));
    auto resumed = a.openStream(&head, first->id);
    QVERIFY2(resumed, qPrintable(a.errorString()));
    QVERIFY2(head.status == 200, qPrintable(head.describe()));
    auto missed = nextDataEvent(*resumed, 20000);
    QVERIFY2(missed, "the change made while the stream was down did not arrive after a reconnect with Last-Event-ID");
    checkUpdate(*missed);
    if (QTest::currentTestFailed())
        return;
    QVERIFY2(missed->id != first->id, "the event the client had already seen was replayed");

    // Reconnecting from the newest id replays nothing; a new change still arrives.
    resumed->abort();
    auto again = a.openStream(&head, missed->id);
    QVERIFY2(again, qPrintable(a.errorString()));
    QCOMPARE(head.status, 200);
    auto nothing = nextDataEvent(*again, 1500);
    QVERIFY2(!nothing, qPrintable(QStringLiteral("replayed although nothing was missed: id %1 %2")
                                      .arg(QString::fromLatin1(nothing ? nothing->id : QByteArray()),
                                           QString::fromUtf8(nothing ? nothing->data : QByteArray()))));
    QVERIFY2(b.call(QStringLiteral("state_set"), R"({"key":"resume-key","value":3})"), qPrintable(b.errorString()));
    auto third = nextDataEvent(*again, 20000);
    QVERIFY2(third, "no notification for a change after resuming");
    checkUpdate(*third);
    QVERIFY(third->id != first->id && third->id != missed->id);
    auto leaked = nextDataEvent(*bystander, 500);
    QVERIFY2(!leaked, qPrintable(QStringLiteral("a session that subscribed to nothing received: ") +
                                 QString::fromUtf8(leaked ? leaked->data : QByteArray())));

    // Unsubscribed: the session hears no more.
    auto unsubscribed = a.request(QStringLiteral("resources/unsubscribe"), R"({"uri":")" + uri + R"("})");
    QVERIFY2(unsubscribed && unsubscribed->root().find("result"), qPrintable(answerText(unsubscribed)));
}

// A page whose DNS name was rebound to 127.0.0.1 is same-origin with the server: its GETs carry
// no Origin, but its Host is its own name. On a loopback address only localhost names are served.
void TestHttpMcp::defaultHosts_data()
{
    QTest::addColumn<QByteArray>("host");
    QTest::addColumn<bool>("allowed");
    const QByteArray p = ':' + QByteArray::number(port());
    QTest::newRow("127.0.0.1:port") << "127.0.0.1" + p << true;
    QTest::newRow("localhost:port") << "localhost" + p << true;
    QTest::newRow("LocalHost") << QByteArray("LocalHost") << true;
    QTest::newRow("[::1]:port") << "[::1]" + p << true;
    QTest::newRow("app.localhost") << "app.localhost" + p << true;
    QTest::newRow("evil") << "evil.example" + p << false;
    QTest::newRow("localhost as a label") << "localhost.evil.example" + p << false;
    QTest::newRow("LAN address") << QByteArray("192.168.1.10") << false;
    QTest::newRow("unclosed bracket") << QByteArray("[::1") << false;
}

void TestHttpMcp::defaultHosts()
{
    QFETCH(QByteArray, host);
    QFETCH(bool, allowed);
    HeaderList headers = kPostHeaders;
    headers.emplace_back("Host", host);
    const HttpReply init = httpRequest(port(), "POST", "/mcp", headers, initializeBody("2025-11-25"));
    QVERIFY2(init.status == (allowed ? 200 : 421), qPrintable(init.describe()));
    QCOMPARE(init.hasHeader("mcp-session-id"), allowed);
    for (const QByteArray &path : {QByteArray("/healthz"), QByteArray("/metrics"), QByteArray("/mcp")}) {
        HeaderList get{{"Host", host}};
        if (path == "/mcp")
            get.emplace_back("Accept", "text/event-stream");
        const HttpReply r = httpRequest(port(), "GET", path, get);
        if (allowed)
            QVERIFY2(r.status != 421, qPrintable(QString::fromLatin1(path) + u": " + r.describe()));
        else
            QVERIFY2(r.status == 421, qPrintable(QString::fromLatin1(path) + u": " + r.describe()));
    }
}

void TestHttpMcp::configuredHosts()
{
    HttpServerProcess server;
    QVERIFY2(server.start({QStringLiteral("--allowed-hosts"), QStringLiteral("Sidecar.Internal, 10.0.0.7")}),
             qPrintable(server.errorString()));
    const QByteArray p = ':' + QByteArray::number(server.port());
    for (const auto &[host, status] : std::vector<std::pair<QByteArray, int>>{
             {"sidecar.internal" + p, 200}, {"SIDECAR.INTERNAL", 200}, {"10.0.0.7" + p, 200},
             {"localhost" + p, 200}, {"other.internal" + p, 421}}) {
        const HttpReply r = httpRequest(server.port(), "GET", "/healthz", {{"Host", host}});
        QVERIFY2(r.status == status, qPrintable(QString::fromLatin1(host) + u": " + r.describe()));
    }
    // A bad list is a configuration error.
    QProcess bad;
    bad.start(QString::fromLocal8Bit(qgetenv("SIDECAR_BIN")),
              {QStringLiteral("--transport"), QStringLiteral("http"), QStringLiteral("--allowed-hosts"),
               QStringLiteral("http://x.example/")});
    QVERIFY(bad.waitForFinished(30000));
    QCOMPARE(bad.exitCode(), 2);
    QVERIFY2(bad.readAllStandardError().contains("SIDECAR_ALLOWED_HOSTS"), "the error does not name the setting");
}

// A POST answered over SSE whose answer takes a while opens with a priming event (an id, no
// data). A client cut off before the answer GETs the rest of that stream with Last-Event-ID and
// receives the answer, then the end of the stream; the answer is kept for a later retry too.
void TestHttpMcp::postStreamResumedWithGet()
{
    McpHttpClient c(port());
    QVERIFY2(c.initialize("2025-11-25"), qPrintable(c.errorString()));
    const qint64 revision = storeRevision(c);
    QVERIFY(revision >= 0);
    const QByteArray args = R"({"prefix":"post-resume/","since_revision":)" + QByteArray::number(revision) +
                            R"(,"timeout_seconds":30})";
    auto watch = c.startCall(QStringLiteral("state_watch"), args, {{"Accept", "text/event-stream"}});
    QVERIFY(watch);
    auto head = watch->readHead(15000);
    QVERIFY2(head && head->status == 200, qPrintable(head ? head->describe() : watch->errorString()));
    QCOMPARE(head->mediaType(), QByteArray("text/event-stream"));
    auto priming = watch->nextEvent(15000);
    QVERIFY2(priming, "no priming event on a POST stream whose answer is pending");
    QVERIFY2(priming->hasId && !priming->id.isEmpty() && priming->data.isEmpty(),
             qPrintable(QStringLiteral("not a priming event: id '%1' data '%2'")
                            .arg(QString::fromLatin1(priming->id), QString::fromUtf8(priming->data))));
    watch->abort(); // cut off before the answer

    // The client comes back for that stream before the answer exists...
    HttpReply resumedHead;
    auto resumed = c.openStream(&resumedHead, priming->id);
    QVERIFY2(resumed && resumedHead.status == 200, qPrintable(resumedHead.describe() + c.errorString()));
    // ... and the change that answers the watch happens.
    QVERIFY2(c.call(QStringLiteral("state_set"), R"({"key":"post-resume/k","value":{"n":1}})"),
             qPrintable(c.errorString()));
    auto answerEvent = nextDataEvent(*resumed, 20000);
    QVERIFY2(answerEvent, "the watch's answer did not arrive on the resumed stream");
    QVERIFY2(answerEvent->hasId && answerEvent->id != priming->id, answerEvent->id.constData());
    auto answer = json::parse(answerEvent->data);
    QString why;
    const json::Value *s = sc(answer, &why);
    QVERIFY2(s, qPrintable(why));
    QCOMPARE(int(s->find("events")->items().size()), 1);
    QCOMPARE(s->find("events")->items()[0].find("key")->toQString(), QStringLiteral("post-resume/k"));
    QVERIFY2(resumed->waitForBodyEnd(15000), "the resumed stream did not end after the answer");

    // Asked again from the priming id, the kept answer comes at once; from the answer's id, nothing.
    auto again = c.openStream(&resumedHead, priming->id);
    QVERIFY(again && resumedHead.status == 200);
    auto replayed = nextDataEvent(*again, 15000);
    QVERIFY2(replayed && replayed->data == answerEvent->data, "the kept answer was not replayed");
    QVERIFY(again->waitForBodyEnd(15000));
    auto done = c.openStream(&resumedHead, answerEvent->id);
    QVERIFY(done && resumedHead.status == 200);
    QByteArray rest;
    QVERIFY(done->waitForBodyEnd(15000, &rest));
    QVERIFY2(parseSse(rest).isEmpty(), rest.constData());

    // An id this session never issued is refused, and the session's own stream is untouched.
    auto unknown = c.openStream(&resumedHead, "p999999.0");
    QVERIFY2(resumedHead.status == 400, qPrintable(resumedHead.describe()));
    QVERIFY2(c.call(QStringLiteral("sidecar_health"), "{}"), qPrintable(c.errorString()));
}

// Clients of 2025-06-18 and older do not expect events with empty data: none is sent.
void TestHttpMcp::postStreamNotPrimedForOlderClients()
{
    McpHttpClient c(port());
    QVERIFY2(c.initialize("2025-06-18"), qPrintable(c.errorString()));
    const qint64 revision = storeRevision(c);
    QVERIFY(revision >= 0);
    const QByteArray args = R"({"prefix":"post-old/","since_revision":)" + QByteArray::number(revision) +
                            R"(,"timeout_seconds":30})";
    auto watch = c.startCall(QStringLiteral("state_watch"), args, {{"Accept", "text/event-stream"}});
    QVERIFY(watch);
    QVERIFY2(c.call(QStringLiteral("state_set"), R"({"key":"post-old/k","value":1})"), qPrintable(c.errorString()));
    auto reply = watch->readResponse(20000);
    QVERIFY2(reply && reply->status == 200, qPrintable(reply ? reply->describe() : watch->errorString()));
    const QList<SseEvent> events = parseSse(reply->body);
    QVERIFY2(events.size() == 1 && !events[0].data.isEmpty(), qPrintable(reply->describe()));
}

// ---- state_watch over HTTP

void TestHttpMcp::watchWokenByAnotherSession()
{
    McpHttpClient a(port());
    McpHttpClient b(port());
    McpHttpClient c(port());
    QVERIFY2(a.initialize(), qPrintable(a.errorString()));
    QVERIFY2(b.initialize(), qPrintable(b.errorString()));
    QVERIFY2(c.initialize(), qPrintable(c.errorString()));

    for (const QByteArray &accept : {QByteArray("application/json, text/event-stream"), QByteArray("text/event-stream")}) {
        const QByteArray prefix = accept == "text/event-stream" ? "watch-sse/" : "watch-json/";
        const qint64 revision = storeRevision(a);
        QVERIFY(revision >= 0);
        auto watch = a.startCall(QStringLiteral("state_watch"),
                                 R"({"prefix":")" + prefix + R"(","since_revision":)" + QByteArray::number(revision) +
                                     R"(,"timeout_seconds":25})",
                                 {{"Accept", accept}});
        QVERIFY2(watch, qPrintable(a.errorString()));

        // While the watch waits, everything else is answered: its own session, and others.
        QVERIFY2(a.call(QStringLiteral("sidecar_health"), "{}"), qPrintable(a.errorString()));
        QVERIFY2(c.request(QStringLiteral("tools/list")), qPrintable(c.errorString()));
        QVERIFY2(c.call(QStringLiteral("state_set"), R"({"key":"elsewhere/x","value":0})"), qPrintable(c.errorString()));
        QCOMPARE(httpRequest(port(), "GET", "/healthz").status, 200);

        auto set = b.call(QStringLiteral("state_set"), R"({"key":")" + prefix + R"(x","value":"woke"})");
        QString why;
        const json::Value *written = sc(set, &why);
        QVERIFY2(written, qPrintable(why + b.errorString()));
        const qint64 setRevision = integer(written->find("revision"));

        auto reply = watch->readResponse(40000);
        QVERIFY2(reply, qPrintable(watch->errorString()));
        QCOMPARE(reply->status, 200);
        QCOMPARE(reply->mediaType(), accept == "text/event-stream" ? QByteArray("text/event-stream")
                                                                    : QByteArray("application/json"));
        auto answer = jsonRpcAnswer(*reply);
        const json::Value *s = sc(answer, &why);
        QVERIFY2(s, qPrintable(why + reply->describe()));
        const auto &events = s->find("events")->items();
        QVERIFY2(events.size() == 1, qPrintable(QString::fromUtf8(s->compact())));
        QCOMPARE(events[0].find("key")->toQString(), QString::fromLatin1(prefix + "x"));
        QCOMPARE(integer(events[0].find("revision")), setRevision);
        QCOMPARE(integer(s->find("revision")), setRevision);
    }
}

// Feeds work across processes that share the SQLite file.
void TestHttpMcp::watchWokenByAnotherProcess()
{
    HttpServerProcess second;
    QVERIFY2(second.start({}, m_server.dbPath()), qPrintable(second.errorString()));
    McpHttpClient a(port());
    McpHttpClient b(second.port());
    QVERIFY2(a.initialize(), qPrintable(a.errorString()));
    QVERIFY2(b.initialize(), qPrintable(b.errorString()));

    const qint64 revision = storeRevision(a);
    QVERIFY(revision >= 0);
    auto watch = a.startCall(QStringLiteral("state_watch"), R"({"prefix":"xproc/","since_revision":)" +
                                                                QByteArray::number(revision) + R"(,"timeout_seconds":25})");
    QVERIFY2(watch, qPrintable(a.errorString()));
    QVERIFY2(a.request(QStringLiteral("ping")), qPrintable(a.errorString()));

    auto set = b.call(QStringLiteral("state_set"), R"({"key":"xproc/k","value":{"from":"second"}})");
    QString why;
    const json::Value *written = sc(set, &why);
    QVERIFY2(written, qPrintable(why + b.errorString()));

    auto reply = watch->readResponse(40000);
    QVERIFY2(reply, qPrintable(watch->errorString()));
    QCOMPARE(reply->status, 200);
    auto answer = jsonRpcAnswer(*reply);
    const json::Value *s = sc(answer, &why);
    QVERIFY2(s, qPrintable(why));
    const auto &events = s->find("events")->items();
    QVERIFY2(events.size() == 1, qPrintable(QString::fromUtf8(s->compact())));
    QCOMPARE(events[0].find("key")->toQString(), QStringLiteral("xproc/k"));
    QCOMPARE(integer(events[0].find("revision")), integer(written->find("revision")));

    second.terminate();
    QVERIFY(second.waitForExit(30000));
    QCOMPARE(second.exitStatus(), QProcess::NormalExit);
    QCOMPARE(second.exitCode(), 0);
}

// "Pending watches are answered at once on shutdown": SIGTERM with a watch parked (JSON and SSE)
// and a GET stream open; the watches are answered well before their 30 s deadline, the stream
// ends, and the process exits 0.
void TestHttpMcp::sigtermAnswersPendingWatch()
{
    HttpServerProcess server;
    QVERIFY2(server.start(), qPrintable(server.errorString()));
    McpHttpClient c(server.port());
    QVERIFY2(c.initialize(), qPrintable(c.errorString()));
    const qint64 revision = storeRevision(c);
    QVERIFY(revision >= 0);
    const QByteArray args = R"({"prefix":"never/","since_revision":)" + QByteArray::number(revision) +
                            R"(,"timeout_seconds":30})";
    auto jsonWatch = c.startCall(QStringLiteral("state_watch"), args);
    auto sseWatch = c.startCall(QStringLiteral("state_watch"), args, {{"Accept", "text/event-stream"}});
    QVERIFY(jsonWatch && sseWatch);
    HttpReply head;
    auto stream = c.openStream(&head);
    QVERIFY(stream);
    QCOMPARE(head.status, 200);
    QVERIFY2(c.call(QStringLiteral("sidecar_health"), "{}"), qPrintable(c.errorString()));

    server.terminate();
    for (HttpConnection *watch : {jsonWatch.get(), sseWatch.get()}) {
        auto reply = watch->readResponse(15000);
        QVERIFY2(reply, qPrintable(QStringLiteral("a watch pending at SIGTERM was not answered within 15 s "
                                                  "(its deadline was 30 s): ") +
                                   watch->errorString() + QStringLiteral("\nstderr:\n") +
                                   QString::fromUtf8(server.stderrText())));
        QCOMPARE(reply->status, 200);
        auto answer = jsonRpcAnswer(*reply);
        QString why;
        const json::Value *s = sc(answer, &why);
        QVERIFY2(s, qPrintable(why + reply->describe()));
        QCOMPARE(int(s->find("events")->items().size()), 0);
    }
    QVERIFY2(stream->waitForBodyEnd(15000) || stream->waitForDisconnected(1), "the GET stream outlived the server");
    QVERIFY2(server.waitForExit(30000), qPrintable(QString::fromUtf8(server.stderrText())));
    QCOMPARE(server.exitStatus(), QProcess::NormalExit);
    QCOMPARE(server.exitCode(), 0);
    static const QRegularExpression bad(QStringLiteral("\\b(critical|fatal)\\b"), QRegularExpression::CaseInsensitiveOption);
    QVERIFY2(!bad.match(QString::fromUtf8(server.stderrText())).hasMatch(), server.stderrText().constData());
}

// ---- Sessions reaped

void TestHttpMcp::idleSessionsAreReaped()
{
    HttpServerProcess server;
    QVERIFY2(server.start({QStringLiteral("--session-idle-timeout"), QStringLiteral("1")}),
             qPrintable(server.errorString()));
    McpHttpClient idle(server.port());
    McpHttpClient listening(server.port());
    McpHttpClient polling(server.port());
    QVERIFY2(idle.initialize(), qPrintable(idle.errorString()));
    QVERIFY2(listening.initialize(), qPrintable(listening.errorString()));
    QVERIFY2(polling.initialize(), qPrintable(polling.errorString()));

    HttpReply head;
    auto stream = listening.openStream(&head);
    QVERIFY(stream);
    QCOMPARE(head.status, 200);
    const qint64 revision = storeRevision(polling);
    QVERIFY(revision >= 0);
    auto watch = polling.startCall(QStringLiteral("state_watch"), R"({"prefix":"reaped/","since_revision":)" +
                                                                       QByteArray::number(revision) +
                                                                       R"(,"timeout_seconds":4})");
    QVERIFY(watch);

    QThread::sleep(4); // nothing touches `idle` for four times its timeout

    const HttpReply r = idle.post(idle.requestBody(QStringLiteral("ping"), {}, 101));
    QVERIFY2(r.status == 404, qPrintable(r.describe()));
    HttpReply getHead;
    auto get = idle.openStream(&getHead);
    QVERIFY(get);
    QCOMPARE(getHead.status, 404);
    QCOMPARE(idle.deleteSession().status, 404);

    // A session with an open stream is in use.
    QVERIFY2(listening.request(QStringLiteral("ping")),
             qPrintable(QStringLiteral("a session with an open GET stream was reaped: ") + listening.errorString()));
    // So is one with a call in flight: the watch is answered, and the session lives on.
    auto reply = watch->readResponse(30000);
    QVERIFY2(reply, qPrintable(watch->errorString()));
    QCOMPARE(reply->status, 200);
    QVERIFY2(sc(jsonRpcAnswer(*reply)), qPrintable(reply->describe()));
    QVERIFY2(polling.request(QStringLiteral("ping")),
             qPrintable(QStringLiteral("a session with a pending watch was reaped: ") + polling.errorString()));
}

// ---- Clients that vanish

void TestHttpMcp::clientVanishesMidWatch()
{
    McpHttpClient a(port());
    McpHttpClient b(port());
    McpHttpClient c(port());
    QVERIFY2(a.initialize(), qPrintable(a.errorString()));
    QVERIFY2(b.initialize(), qPrintable(b.errorString()));
    QVERIFY2(c.initialize(), qPrintable(c.errorString()));
    const qint64 revision = storeRevision(a);
    QVERIFY(revision >= 0);
    const QByteArray args = R"({"prefix":"vanish/","since_revision":)" + QByteArray::number(revision) +
                            R"(,"timeout_seconds":20})";
    auto jsonWatch = a.startCall(QStringLiteral("state_watch"), args);
    auto sseWatch = a.startCall(QStringLiteral("state_watch"), args, {{"Accept", "text/event-stream"}});
    auto survivor = c.startCall(QStringLiteral("state_watch"), args);
    QVERIFY(jsonWatch && sseWatch && survivor);
    QVERIFY2(a.request(QStringLiteral("ping")), qPrintable(a.errorString()));

    jsonWatch->abort();
    sseWatch->abort();
    QVERIFY2(a.request(QStringLiteral("ping")), qPrintable(a.errorString()));

    // The write wakes the watches: two answers go nowhere, one to a client still there.
    QVERIFY2(b.call(QStringLiteral("state_set"), R"({"key":"vanish/x","value":1})"), qPrintable(b.errorString()));
    auto reply = survivor->readResponse(40000);
    QVERIFY2(reply, qPrintable(survivor->errorString()));
    QCOMPARE(reply->status, 200);
    QString why;
    auto answer = jsonRpcAnswer(*reply);
    const json::Value *s = sc(answer, &why);
    QVERIFY2(s, qPrintable(why));
    QCOMPARE(int(s->find("events")->items().size()), 1);

    // The server is up, the deserted session works, new clients are served.
    QCOMPARE(httpRequest(port(), "GET", "/healthz").status, 200);
    auto got = a.call(QStringLiteral("state_get"), R"({"key":"vanish/x"})");
    QVERIFY2(sc(got, &why), qPrintable(why + a.errorString()));
    McpHttpClient fresh(port());
    QVERIFY2(fresh.initialize(), qPrintable(fresh.errorString()));
    QVERIFY2(fresh.call(QStringLiteral("sidecar_health"), "{}"), qPrintable(fresh.errorString()));
}

void TestHttpMcp::clientVanishesMidStream()
{
    McpHttpClient a(port());
    McpHttpClient b(port());
    QVERIFY2(a.initialize(), qPrintable(a.errorString()));
    QVERIFY2(b.initialize(), qPrintable(b.errorString()));
    auto subscribed = a.request(QStringLiteral("resources/subscribe"), R"({"uri":"state://kv/vanish-stream"})");
    QVERIFY2(subscribed && subscribed->root().find("result"), qPrintable(answerText(subscribed) + a.errorString()));

    HttpReply head;
    auto stream = a.openStream(&head);
    QVERIFY(stream);
    QCOMPARE(head.status, 200);
    stream->abort();
    // Notifications for a stream whose client is gone.
    for (int i = 0; i < 5; ++i) {
        QVERIFY2(b.call(QStringLiteral("state_set"), R"({"key":"vanish-stream","value":)" + QByteArray::number(i) + '}'),
                 qPrintable(b.errorString()));
    }
    QCOMPARE(httpRequest(port(), "GET", "/healthz").status, 200);
    QVERIFY2(a.request(QStringLiteral("ping")), qPrintable(a.errorString()));

    // The session can listen again and hears the next change.
    auto again = a.openStream(&head);
    QVERIFY(again);
    QCOMPARE(head.status, 200);
    QVERIFY2(b.call(QStringLiteral("state_set"), R"({"key":"vanish-stream","value":"last"})"), qPrintable(b.errorString()));
    QVERIFY2(nextDataEvent(*again, 20000), "no notification on the new stream");
    McpHttpClient fresh(port());
    QVERIFY2(fresh.initialize(), qPrintable(fresh.errorString()));
}

// ---- The mcp-state-sidecar-http binary: HTTP without --transport.

// Past SIDECAR_HTTP_MAX_SESSIONS, initialize is 503 with a JSON-RPC error carrying its id; the
// sessions that exist go on, and a session ended makes room.
void TestHttpMcp::sessionCap()
{
    HttpServerProcess server;
    QVERIFY2(server.start({QStringLiteral("--http-max-sessions"), QStringLiteral("3")}),
             qPrintable(server.errorString()));
    std::vector<std::unique_ptr<McpHttpClient>> clients;
    for (int i = 0; i < 3; ++i) {
        clients.push_back(std::make_unique<McpHttpClient>(server.port()));
        QVERIFY2(clients.back()->initialize(), qPrintable(clients.back()->errorString()));
    }
    for (const QByteArray &version : {QByteArray("2025-11-25"), QByteArray("2025-03-26")}) {
        const HttpReply refused = httpRequest(server.port(), "POST", "/mcp", kPostHeaders, initializeBody(version, 41));
        QVERIFY2(refused.status == 503, qPrintable(refused.describe()));
        QVERIFY(!refused.hasHeader("mcp-session-id"));
        QCOMPARE(refused.mediaType(), QByteArray("application/json"));
        auto answer = json::parse(refused.body);
        QVERIFY2(answer, qPrintable(refused.describe()));
        QCOMPARE(rpcErrorCode(*answer), -32000);
        QCOMPARE(integerText(answer->root().find("id")), QByteArray("41"));
        QVERIFY2(answer->root().find("error")->find("message")->toQString().contains(u"SIDECAR_HTTP_MAX_SESSIONS"),
                 qPrintable(refused.describe()));
    }
    for (auto &c : clients)
        QVERIFY2(c->call(QStringLiteral("state_set"), R"({"key":"cap/k","value":1})"), qPrintable(c->errorString()));
    QCOMPARE(clients.front()->deleteSession().status, 204);
    McpHttpClient late(server.port());
    QVERIFY2(late.initialize(), qPrintable(late.errorString()));
    QVERIFY2(late.request(QStringLiteral("ping")), qPrintable(late.errorString()));
    QVERIFY(server.stderrText().contains("refusing new sessions"));
}

void TestHttpMcp::httpBinaryServesHttp()
{
    HttpServerProcess server;
    QVERIFY2(server.start({}, {}, QProcessEnvironment::systemEnvironment(), 30000, HttpServerProcess::httpBinary()),
             qPrintable(server.errorString()));
    McpHttpClient c(server.port());
    QVERIFY2(c.initialize(), qPrintable(c.errorString()));
    auto list = c.request(QStringLiteral("tools/list"));
    QVERIFY2(list, qPrintable(c.errorString()));
    QCOMPARE(int(list->root().find("result")->find("tools")->items().size()), kToolCount);
    server.terminate();
    QVERIFY(server.waitForExit(30000));
    QCOMPARE(server.exitCode(), 0);
}

QTEST_GUILESS_MAIN(TestHttpMcp)
#include "tst_httpmcp.moc"
