// The MCP session over JSON-RPC 2.0: framing, error codes, lifecycle and version negotiation,
// tools/list and tools/call (argument normalisation, validation, scopes, cancellation, batches).

#include <QtTest>

#include "protocol/json.h"
#include "protocol/mcpserversession.h"
#include "protocol/toolregistry.h"

using namespace sidecar;
using namespace sidecar::protocol;

namespace {

constexpr const char kEchoSchema[] =
    R"({"type":"object","additionalProperties":false,"required":["value"],"properties":{
        "value":{},"n":{"type":"integer","minimum":0},"opt":{"type":"string"},"delay_ms":{"type":"integer"}}})";

// Echoes its arguments' compact text, after delay_ms when given.
void echoHandler(const CallContext &, const json::Value &args, ToolReply reply)
{
    QByteArray text = "{\"echo\":" + args.find("value")->compact();
    if (const json::Value *n = args.find("n"))
        text += ",\"n\":" + n->compact();
    text += ",\"has_opt\":" + QByteArray(args.find("opt") ? "true" : "false") + "}";
    const auto delay = args.find("delay_ms") ? args.find("delay_ms")->toInt64().value_or(0) : 0;
    if (delay <= 0)
        return reply(text);
    QTimer::singleShot(int(delay), [reply, text] { reply(text); });
}

int rpcCode(const json::Document &doc)
{
    const json::Value *error = doc.root().find("error");
    return error ? int(error->find("code")->toInt64().value_or(0)) : 0;
}

} // namespace

class TestMcpSession : public QObject
{
    Q_OBJECT
private slots:
    void init();
    void errorCodes_data();
    void errorCodes();
    void idsOfEveryType_data();
    void idsOfEveryType();
    void versionNegotiation_data();
    void versionNegotiation();
    void requestsBeforeInitialize();
    void initializeOnlyOnce();
    void toolsList();
    void toolCallResultShape();
    void argumentNormalisation();
    void argumentErrors_data();
    void argumentErrors();
    void outOfOrderAnswers();
    void cancelledRequestGetsNoAnswer();
    void batchesOnlyFor20250326();
    void scopes();
    void notificationsGetNoAnswer();
    void closingRefusesNewRequests();

private:
    void initialize(const char *version = "2025-11-25");
    QList<QByteArray> exchange(const QByteArray &message);
    json::Document only(const QByteArray &message);

    std::unique_ptr<ToolRegistry> m_registry;
    std::unique_ptr<McpServerSession> m_session;
    QList<QByteArray> m_out;
};

void TestMcpSession::init()
{
    m_registry = std::make_unique<ToolRegistry>();
    QVERIFY(m_registry->add({QStringLiteral("echo"), QStringLiteral("Echo"), QStringLiteral("Echoes."),
                             QByteArray(kEchoSchema), QByteArray(R"({"type":"object"})"),
                             ToolAnnotations{true, false, true, false}, Scope::Read, echoHandler}));
    QVERIFY(m_registry->add({QStringLiteral("admin_only"), QString(), QStringLiteral("Needs admin."),
                             QByteArray(R"({"type":"object","properties":{}})"), QByteArray(R"({"type":"object"})"),
                             ToolAnnotations{false, true, false, false}, Scope::Admin,
                             [](const CallContext &, const json::Value &, ToolReply r) { r(QByteArray("{}")); }}));
    m_session = std::make_unique<McpServerSession>(*m_registry, ServerInfo{});
    m_out.clear();
    m_session->setSink([this](const QByteArray &m) { m_out.append(m); });
}

QList<QByteArray> TestMcpSession::exchange(const QByteArray &message)
{
    m_out.clear();
    m_session->handle(message);
    return m_out;
}

json::Document TestMcpSession::only(const QByteArray &message)
{
    const auto out = exchange(message);
    if (out.size() != 1)
        qFatal("expected one answer to %s, got %d", message.constData(), int(out.size()));
    auto doc = json::parse(out.first());
    if (!doc)
        qFatal("answer is not JSON: %s", out.first().constData());
    return std::move(*doc);
}

void TestMcpSession::initialize(const char *version)
{
    auto doc = only(QByteArray(R"({"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":")") +
                    version + R"(","capabilities":{},"clientInfo":{"name":"t","version":"1"}}})");
    QVERIFY(doc.root().find("result"));
    QVERIFY(exchange(R"({"jsonrpc":"2.0","method":"notifications/initialized"})").isEmpty());
}

void TestMcpSession::errorCodes_data()
{
    QTest::addColumn<QByteArray>("message");
    QTest::addColumn<int>("code");
    QTest::addColumn<QByteArray>("id");
    QTest::newRow("malformed") << QByteArray("{\"jsonrpc\":") << -32700 << QByteArray("null");
    QTest::newRow("not an object") << QByteArray("42") << -32600 << QByteArray("null");
    QTest::newRow("no jsonrpc") << QByteArray(R"({"id":1,"method":"ping"})") << -32600 << QByteArray("1");
    QTest::newRow("wrong jsonrpc") << QByteArray(R"({"jsonrpc":"1.0","id":1,"method":"ping"})") << -32600
                                   << QByteArray("1");
    QTest::newRow("method not string") << QByteArray(R"({"jsonrpc":"2.0","id":2,"method":5})") << -32600
                                       << QByteArray("2");
    QTest::newRow("duplicate envelope key") << QByteArray(R"({"jsonrpc":"2.0","id":3,"method":"ping","id":4})")
                                            << -32600 << QByteArray("3");
    QTest::newRow("unknown method") << QByteArray(R"({"jsonrpc":"2.0","id":5,"method":"nope"})") << -32601
                                    << QByteArray("5");
    QTest::newRow("unknown tool") << QByteArray(R"({"jsonrpc":"2.0","id":6,"method":"tools/call","params":{"name":"x"}})")
                                  << -32602 << QByteArray("6");
    QTest::newRow("tool name missing") << QByteArray(R"({"jsonrpc":"2.0","id":7,"method":"tools/call","params":{}})")
                                       << -32602 << QByteArray("7");
    QTest::newRow("arguments not object")
        << QByteArray(R"({"jsonrpc":"2.0","id":8,"method":"tools/call","params":{"name":"echo","arguments":[1]}})")
        << -32602 << QByteArray("8");
    QTest::newRow("params scalar") << QByteArray(R"({"jsonrpc":"2.0","id":9,"method":"tools/list","params":3})")
                                   << -32602 << QByteArray("9");
}

void TestMcpSession::errorCodes()
{
    QFETCH(QByteArray, message);
    QFETCH(int, code);
    QFETCH(QByteArray, id);
    initialize();
    auto doc = only(message);
    const json::Value *error = doc.root().find("error");
    QVERIFY2(error, doc.source().constData());
    QCOMPARE(int(*error->find("code")->toInt64()), code);
    QVERIFY(!error->find("message")->text().empty());
    QCOMPARE(doc.root().find("id")->compact(), id);
    // The session still answers afterwards.
    auto pong = only(R"({"jsonrpc":"2.0","id":"after","method":"ping"})");
    QVERIFY(pong.root().find("result"));
}

void TestMcpSession::idsOfEveryType_data()
{
    QTest::addColumn<QByteArray>("id");
    QTest::addColumn<QByteArray>("answeredId");
    QTest::addColumn<bool>("ok");
    QTest::newRow("int") << QByteArray("7") << QByteArray("7") << true;
    QTest::newRow("big int kept") << QByteArray("123456789012345678901234567890") << QByteArray("123456789012345678901234567890") << true;
    QTest::newRow("negative") << QByteArray("-1") << QByteArray("-1") << true;
    QTest::newRow("fraction") << QByteArray("1.50") << QByteArray("1.50") << true;
    QTest::newRow("string") << QByteArray(R"("a\"b")") << QByteArray(R"("a\"b")") << true;
    QTest::newRow("empty string") << QByteArray(R"("")") << QByteArray(R"("")") << true;
    QTest::newRow("null") << QByteArray("null") << QByteArray("null") << false;
    QTest::newRow("bool") << QByteArray("true") << QByteArray("null") << false;
    QTest::newRow("object") << QByteArray(R"({"a":1})") << QByteArray("null") << false;
    QTest::newRow("array") << QByteArray("[1]") << QByteArray("null") << false;
}

void TestMcpSession::idsOfEveryType()
{
    QFETCH(QByteArray, id);
    QFETCH(QByteArray, answeredId);
    QFETCH(bool, ok);
    initialize();
    auto doc = only(R"({"jsonrpc":"2.0","id":)" + id + R"(,"method":"ping"})");
    QCOMPARE(doc.root().find("id")->compact(), answeredId);
    QCOMPARE(doc.root().find("result") != nullptr, ok);
    if (!ok)
        QCOMPARE(*doc.root().find("error")->find("code")->toInt64(), -32600);
}

void TestMcpSession::versionNegotiation_data()
{
    QTest::addColumn<QByteArray>("asked");
    QTest::addColumn<QByteArray>("answered");
    QTest::newRow("2025-11-25") << QByteArray("2025-11-25") << QByteArray("2025-11-25");
    QTest::newRow("2025-06-18") << QByteArray("2025-06-18") << QByteArray("2025-06-18");
    QTest::newRow("2025-03-26") << QByteArray("2025-03-26") << QByteArray("2025-03-26");
    QTest::newRow("older") << QByteArray("2024-11-05") << QByteArray("2025-11-25");
    QTest::newRow("future") << QByteArray("2099-01-01") << QByteArray("2025-11-25");
}

void TestMcpSession::versionNegotiation()
{
    QFETCH(QByteArray, asked);
    QFETCH(QByteArray, answered);
    auto doc = only(R"({"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":")" + asked +
                    R"(","capabilities":{},"clientInfo":{"name":"t","version":"1"}}})");
    const json::Value *result = doc.root().find("result");
    QVERIFY(result);
    QCOMPARE(QByteArray::fromStdString(result->find("protocolVersion")->text()), answered);
    QCOMPARE(result->find("serverInfo")->find("name")->toQString(), QStringLiteral("MCP State Sidecar"));
    QVERIFY(result->find("capabilities")->find("tools"));
    QCOMPARE(m_session->protocolVersion(), QString::fromLatin1(answered));
}

void TestMcpSession::initializeOnlyOnce()
{
    initialize("2025-11-25");
    auto again = only(R"({"jsonrpc":"2.0","id":5,"method":"initialize","params":{"protocolVersion":"2025-03-26",
                         "capabilities":{},"clientInfo":{"name":"t","version":"1"}}})");
    QCOMPARE(rpcCode(again), -32600);
    QCOMPARE(m_session->protocolVersion(), QStringLiteral("2025-11-25"));
}

void TestMcpSession::requestsBeforeInitialize()
{
    auto pong = only(R"({"jsonrpc":"2.0","id":1,"method":"ping"})");
    QVERIFY(pong.root().find("result"));
    auto early = only(R"({"jsonrpc":"2.0","id":2,"method":"tools/list"})");
    QCOMPARE(*early.root().find("error")->find("code")->toInt64(), -32600);
    auto noVersion = only(R"({"jsonrpc":"2.0","id":3,"method":"initialize","params":{}})");
    QCOMPARE(*noVersion.root().find("error")->find("code")->toInt64(), -32602);
}

void TestMcpSession::toolsList()
{
    initialize();
    auto doc = only(R"({"jsonrpc":"2.0","id":1,"method":"tools/list"})");
    const json::Value *tools = doc.root().find("result")->find("tools");
    QCOMPARE(tools->items().size(), std::size_t(2));
    const json::Value &echo = tools->items().front();
    QCOMPARE(echo.find("name")->toQString(), QStringLiteral("echo"));
    QVERIFY(echo.find("inputSchema")->isObject());
    QVERIFY(echo.find("outputSchema")->isObject());
    const json::Value *annotations = echo.find("annotations");
    for (const char *hint : {"readOnlyHint", "destructiveHint", "idempotentHint", "openWorldHint"})
        QVERIFY2(annotations->find(hint) && annotations->find(hint)->isBool(), hint);
}

void TestMcpSession::toolCallResultShape()
{
    initialize();
    auto doc = only(R"({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"value":{"b":1,"a":12345678901234567890123}}}})");
    const json::Value *result = doc.root().find("result");
    QCOMPARE(result->find("isError")->toBool(), false);
    const QByteArray structured = result->find("structuredContent")->compact();
    QCOMPARE(structured, QByteArray(R"({"echo":{"b":1,"a":12345678901234567890123},"has_opt":false})"));
    const json::Value &text = result->find("content")->items().front();
    QCOMPARE(text.find("type")->toQString(), QStringLiteral("text"));
    QCOMPARE(QByteArray::fromStdString(text.find("text")->text()), structured);
}

void TestMcpSession::argumentNormalisation()
{
    initialize();
    // An explicit null means "not given"; a numeric string becomes a number.
    auto doc = only(R"({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"value":1,"opt":null,"n":"5"}}})");
    QCOMPARE(doc.root().find("result")->find("structuredContent")->compact(),
             QByteArray(R"({"echo":1,"n":5,"has_opt":false})"));
}

void TestMcpSession::argumentErrors_data()
{
    QTest::addColumn<QByteArray>("arguments");
    QTest::addColumn<QString>("mentions");
    QTest::newRow("missing required") << QByteArray(R"({})") << QStringLiteral("value");
    QTest::newRow("wrong type") << QByteArray(R"({"value":1,"n":"x"})") << QStringLiteral("n");
    QTest::newRow("out of range") << QByteArray(R"({"value":1,"n":-3})") << QStringLiteral("n");
    QTest::newRow("unknown property") << QByteArray(R"({"value":1,"zzz":1})") << QStringLiteral("zzz");
    QTest::newRow("duplicate key") << QByteArray(R"({"value":{"a":1,"a":2}})") << QStringLiteral("duplicate");
    QTest::newRow("null for required") << QByteArray(R"({"value":null,"opt":5})") << QStringLiteral("opt");
}

void TestMcpSession::argumentErrors()
{
    QFETCH(QByteArray, arguments);
    QFETCH(QString, mentions);
    initialize();
    auto doc = only(R"({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":)" + arguments +
                    "}}");
    const json::Value *result = doc.root().find("result");
    QVERIFY2(result, doc.source().constData());
    QCOMPARE(result->find("isError")->toBool(), true);
    QVERIFY(!result->find("structuredContent"));
    auto error = json::parse(QByteArray::fromStdString(result->find("content")->items().front().find("text")->text()));
    QVERIFY(error);
    QCOMPARE(error->root().find("error")->find("code")->toQString(), QStringLiteral("invalid_argument"));
    const QString message = error->root().find("error")->find("message")->toQString();
    QVERIFY2(message.contains(mentions), qPrintable(message));
}

void TestMcpSession::outOfOrderAnswers()
{
    initialize();
    m_out.clear();
    m_session->handle(R"({"jsonrpc":"2.0","id":"slow","method":"tools/call","params":{"name":"echo","arguments":{"value":1,"delay_ms":200}}})");
    m_session->handle(R"({"jsonrpc":"2.0","id":"fast","method":"tools/call","params":{"name":"echo","arguments":{"value":2}}})");
    QCOMPARE(m_session->pendingCount(), 1);
    QTRY_COMPARE_WITH_TIMEOUT(m_out.size(), 2, 10000);
    QVERIFY(m_out.at(0).contains("\"id\":\"fast\""));
    QVERIFY(m_out.at(1).contains("\"id\":\"slow\""));
    QCOMPARE(m_session->pendingCount(), 0);
}

void TestMcpSession::cancelledRequestGetsNoAnswer()
{
    initialize();
    QSignalSpy drained(m_session.get(), &McpServerSession::drained);
    m_out.clear();
    m_session->handle(R"({"jsonrpc":"2.0","id":9,"method":"tools/call","params":{"name":"echo","arguments":{"value":1,"delay_ms":100}}})");
    m_session->handle(R"({"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":9,"reason":"t"}})");
    QTRY_COMPARE_WITH_TIMEOUT(drained.size(), 1, 10000);
    QVERIFY(m_out.isEmpty());
}

void TestMcpSession::batchesOnlyFor20250326()
{
    initialize("2025-06-18");
    auto refused = only(R"([{"jsonrpc":"2.0","id":1,"method":"ping"}])");
    QCOMPARE(*refused.root().find("error")->find("code")->toInt64(), -32600);

    init();
    initialize("2025-03-26");
    m_out.clear();
    m_session->handle(R"([{"jsonrpc":"2.0","id":1,"method":"ping"},{"jsonrpc":"2.0","method":"notifications/initialized"},
                         {"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"echo","arguments":{"value":3,"delay_ms":50}}}])");
    QTRY_COMPARE_WITH_TIMEOUT(m_out.size(), 1, 10000);
    auto batch = json::parse(m_out.first());
    QVERIFY(batch && batch->root().isArray());
    QCOMPARE(batch->root().items().size(), std::size_t(2));
    auto empty = only("[]");
    QCOMPARE(*empty.root().find("error")->find("code")->toInt64(), -32600);
}

void TestMcpSession::scopes()
{
    m_session->setCallContext({QStringLiteral("reader"), Scope::Read});
    initialize();
    auto doc = only(R"({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"admin_only","arguments":{}}})");
    QVERIFY(doc.source().contains("forbidden"));
    auto echo = only(R"({"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"echo","arguments":{"value":1}}})");
    QCOMPARE(echo.root().find("result")->find("isError")->toBool(), false);
}

void TestMcpSession::notificationsGetNoAnswer()
{
    initialize();
    QVERIFY(exchange(R"({"jsonrpc":"2.0","method":"notifications/unknown"})").isEmpty());
    QVERIFY(exchange(R"({"jsonrpc":"2.0","method":"tools/call","params":{"name":"echo","arguments":{"value":1}}})").isEmpty());
    // A response from the client (to a request this server never sends) is ignored.
    QVERIFY(exchange(R"({"jsonrpc":"2.0","id":1,"result":{}})").isEmpty());
}

void TestMcpSession::closingRefusesNewRequests()
{
    initialize();
    m_out.clear();
    m_session->handle(R"({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"value":1,"delay_ms":50}}})");
    m_session->setClosing();
    auto refused = only(R"({"jsonrpc":"2.0","id":2,"method":"tools/list"})");
    QCOMPARE(rpcCode(refused), -32603);
    // The call already in flight is still answered.
    m_out.clear();
    QTRY_COMPARE_WITH_TIMEOUT(m_out.size(), 1, 10000);
    QVERIFY(m_out.first().contains("\"id\":1"));
}

QTEST_GUILESS_MAIN(TestMcpSession)
#include "tst_mcpsession.moc"
