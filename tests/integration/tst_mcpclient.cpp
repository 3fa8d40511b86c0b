// The client library (libcore/client: transports, McpClient, SidecarClient) against the real server
// binary, over stdio (StdioClientTransport launching $SIDECAR_BIN on a temporary SQLite file) and
// over Streamable HTTP (HttpClientTransport to an HttpServerProcess): connection and health,
// values byte for byte (key order, big numbers, unicode, escapes), listing with a delimiter and
// pages, compare-and-set conflicts as results, tool and JSON-RPC errors as Error codes, resource
// subscriptions fed by another client, the traffic log, timeouts and disconnection, the typed reads
// of workflows, leases, sessions, history and watch, and reconnection: the HTTP server restarted on
// its port (the session kept by the store, then a fresh store where the session is gone and the
// client initializes and subscribes again), the stdio child killed and relaunched.
// What the real server never does (an SSE answer that breaks before the answer and is resumed with
// Last-Event-ID, HTTP 500, 404 for an expired session, 405 for the GET stream) is played by a small
// scripted HTTP server in this file; the SSE parser is checked on its own.
//
// Deadlines are generous and nothing asserts speed.

#include <QtTest>

#include <QCryptographicHash>
#include <QHostAddress>
#include <QTemporaryDir>
#include <QPointer>
#include <QTcpServer>
#include <QTcpSocket>

#include <algorithm>
#include <csignal>
#include <memory>
#include <vector>

#include "client/clienttransport.h"
#include "client/mcpclient.h"
#include "client/sidecarclient.h"
#include "httpserverprocess.h"
#include "testutil.h"

using namespace sidecar;
using namespace sidecar::client;
using namespace sidecar::test;

namespace {

constexpr int kWaitMs = 30000;

enum class Kind { Stdio, Http };

struct TrafficRecord
{
    McpClient::Direction direction;
    QByteArray message;
    qint64 roundTripUs;
};

// Everything a client reports, collected as it comes.
struct Recorder
{
    QList<McpClient::State> states;
    QStringList updates;
    QList<TrafficRecord> traffic;
    QList<QPair<QString, QByteArray>> notifications;

    void attach(McpClient &client)
    {
        QObject::connect(&client, &McpClient::stateChanged, &client,
                         [this](McpClient::State s) { states.append(s); });
        QObject::connect(&client, &McpClient::resourceUpdated, &client,
                         [this](const QString &uri) { updates.append(uri); });
        QObject::connect(&client, &McpClient::traffic, &client,
                         [this](McpClient::Direction d, const QByteArray &m, qint64 us) {
                             traffic.append({d, m, us});
                         });
        QObject::connect(&client, &McpClient::notification, &client,
                         [this](const QString &method, const QByteArray &params) {
                             notifications.append({method, params});
                         });
    }
    // Sent messages containing `needle`, from record `from` on.
    int sentCount(const QByteArray &needle, qsizetype from = 0) const
    {
        int n = 0;
        for (qsizetype i = from; i < traffic.size(); ++i)
            n += traffic[i].direction == McpClient::Direction::Sent && traffic[i].message.contains(needle)
                     ? 1
                     : 0;
        return n;
    }
};

// ---------------------------------------------------------------- a scripted HTTP/1.1 server

// Plays the HTTP side of MCP for what the real server does not do on purpose: each request goes
// to `handler`, which writes a raw response on the socket (and may close it, now or later).
class FakeHttpServer : public QObject
{
public:
    struct Request
    {
        QByteArray method;
        QByteArray target;
        QList<QPair<QByteArray, QByteArray>> headers; // names lower-cased
        QByteArray body;

        QByteArray header(const QByteArray &name) const
        {
            for (const auto &[k, v] : headers) {
                if (k == name)
                    return v;
            }
            return {};
        }
        bool hasHeader(const QByteArray &name) const
        {
            return std::any_of(headers.begin(), headers.end(),
                               [&](const auto &h) { return h.first == name; });
        }
        QByteArray rpcField(std::string_view field) const
        {
            auto doc = json::parse(body);
            const json::Value *v = doc && doc->root().isObject() ? doc->root().find(field) : nullptr;
            return !v ? QByteArray() : v->isString() ? QByteArray::fromStdString(v->text()) : v->compact();
        }
        QByteArray toolName() const
        {
            auto doc = json::parse(body);
            const json::Value *params = doc && doc->root().isObject() ? doc->root().find("params") : nullptr;
            const json::Value *name = params && params->isObject() ? params->find("name") : nullptr;
            return name && name->isString() ? QByteArray::fromStdString(name->text()) : QByteArray();
        }
    };

    std::function<void(const Request &, QTcpSocket *)> handler;
    QList<Request> requests;

    bool listen()
    {
        connect(&m_server, &QTcpServer::newConnection, this, [this] {
            while (QTcpSocket *socket = m_server.nextPendingConnection()) {
                connect(socket, &QTcpSocket::readyRead, this, [this, socket] { onData(socket); });
                connect(socket, &QTcpSocket::disconnected, socket, &QObject::deleteLater);
            }
        });
        return m_server.listen(QHostAddress::LocalHost, 0);
    }
    quint16 port() const { return m_server.serverPort(); }
    QUrl url() const { return QUrl(QStringLiteral("http://127.0.0.1:%1/mcp").arg(port())); }
    int count(const QByteArray &method, const std::function<bool(const Request &)> &pred = {}) const
    {
        return int(std::count_if(requests.begin(), requests.end(),
                                 [&](const Request &r) { return r.method == method && (!pred || pred(r)); }));
    }

    static QByteArray json(int status, const QByteArray &reason, const QByteArray &body,
                           const QByteArray &extraHeaders = {}, const QByteArray &type = "application/json")
    {
        return "HTTP/1.1 " + QByteArray::number(status) + ' ' + reason + "\r\nContent-Type: " + type
               + "\r\nContent-Length: " + QByteArray::number(body.size()) + "\r\n" + extraHeaders + "\r\n"
               + body;
    }
    static QByteArray chunk(const QByteArray &data)
    {
        return QByteArray::number(data.size(), 16) + "\r\n" + data + "\r\n";
    }

private:
    void onData(QTcpSocket *socket)
    {
        QByteArray &buffer = m_buffers[socket];
        buffer += socket->readAll();
        for (;;) {
            const qsizetype headEnd = buffer.indexOf("\r\n\r\n");
            if (headEnd < 0)
                return;
            const QList<QByteArray> lines = buffer.left(headEnd).split('\n');
            Request request;
            const QList<QByteArray> first = lines.value(0).trimmed().split(' ');
            request.method = first.value(0);
            request.target = first.value(1);
            qsizetype length = 0;
            for (qsizetype i = 1; i < lines.size(); ++i) {
                const qsizetype colon = lines[i].indexOf(':');
                if (colon < 0)
                    continue;
                const QByteArray name = lines[i].left(colon).trimmed().toLower();
                const QByteArray value = lines[i].mid(colon + 1).trimmed();
                request.headers.append({name, value});
                if (name == "content-length")
                    length = value.toLongLong();
            }
            if (buffer.size() < headEnd + 4 + length)
                return;
            request.body = buffer.mid(headEnd + 4, length);
            buffer.remove(0, headEnd + 4 + length);
            requests.append(request);
            if (handler)
                handler(request, socket);
        }
    }

    QTcpServer m_server;
    QHash<QTcpSocket *, QByteArray> m_buffers;
};

} // namespace

Q_DECLARE_METATYPE(Kind)

class TestMcpClient : public QObject
{
    Q_OBJECT
private slots:
    void initTestCase();
    void cleanupTestCase();

    void connectAndHealth_data() { kinds(); }
    void connectAndHealth();
    void exactValues_data() { kinds(); }
    void exactValues();
    void listWithDelimiter_data() { kinds(); }
    void listWithDelimiter();
    void compareAndSet_data() { kinds(); }
    void compareAndSet();
    void errors_data() { kinds(); }
    void errors();
    void subscriptionAndTraffic_data() { kinds(); }
    void subscriptionAndTraffic();
    void typedReads_data() { kinds(); }
    void typedReads();
    void timeoutAndDisconnect_data() { kinds(); }
    void timeoutAndDisconnect();

    void httpBearerToken();
    void httpServerRestart();
    void stdioChildKilled();
    void stdioCannotStart();

    void sseParser();
    void httpResumeAndErrors();

private:
    static void kinds()
    {
        QTest::addColumn<Kind>("kind");
        QTest::newRow("stdio") << Kind::Stdio;
        QTest::newRow("http") << Kind::Http;
    }
    QUrl httpUrl(quint16 port) const { return QUrl(QStringLiteral("http://127.0.0.1:%1/mcp").arg(port)); }
    std::unique_ptr<McpClient> stdioClient(const QString &dbPath) const;
    std::unique_ptr<McpClient> httpClient(quint16 port) const;
    std::unique_ptr<McpClient> client(Kind kind) const;
    // Connects and waits for Ready.
    static bool ready(McpClient &c);
    // A key of this test row: "<row>/<name>".
    static QString key(const QString &name)
    {
        return QString::fromLatin1(QTest::currentDataTag()) + u'/' + name;
    }

    TempDir m_dir;
    QString m_stdioDb;
    HttpServerProcess m_http;
};

void TestMcpClient::initTestCase()
{
    QVERIFY(!qEnvironmentVariable("SIDECAR_BIN").isEmpty());
    QVERIFY(m_dir.isValid());
    m_stdioDb = m_dir.file(QStringLiteral("stdio.db"));
    QVERIFY2(m_http.start(), qPrintable(m_http.errorString()));
}

void TestMcpClient::cleanupTestCase()
{
    m_http.terminate();
    m_http.waitForExit();
}

std::unique_ptr<McpClient> TestMcpClient::stdioClient(const QString &dbPath) const
{
    QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
    env.insert(QStringLiteral("DB_PATH"), dbPath);
    auto transport = std::make_unique<StdioClientTransport>(qEnvironmentVariable("SIDECAR_BIN"),
                                                            QStringList{}, env);
    auto c = std::make_unique<McpClient>(std::move(transport));
    c->setClientInfo(QStringLiteral("tst_mcpclient"), QStringLiteral("1"));
    return c;
}

std::unique_ptr<McpClient> TestMcpClient::httpClient(quint16 port) const
{
    auto c = std::make_unique<McpClient>(std::make_unique<HttpClientTransport>(httpUrl(port)));
    c->setClientInfo(QStringLiteral("tst_mcpclient"), QStringLiteral("1"));
    return c;
}

std::unique_ptr<McpClient> TestMcpClient::client(Kind kind) const
{
    return kind == Kind::Stdio ? stdioClient(m_stdioDb) : httpClient(m_http.port());
}

bool TestMcpClient::ready(McpClient &c)
{
    c.connectToServer();
    return waitUntil([&c] { return c.isReady(); }, kWaitMs);
}

// ---------------------------------------------------------------- against the real server

// A sidecar with a tokens file: the client's bearer token is sent on every request, its scope
// applies (a read token reads but cannot write: forbidden), and a client without a token is refused
// (HTTP 401) and says so.
void TestMcpClient::httpBearerToken()
{
    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    const QByteArray readToken = "reader-token-0123456789abcdef";
    const QByteArray writeToken = "writer-token-0123456789abcdef";
    auto hash = [](const QByteArray &t) { return QCryptographicHash::hash(t, QCryptographicHash::Sha256).toHex(); };
    QFile tokens(dir.filePath(QStringLiteral("tokens.json")));
    QVERIFY(tokens.open(QIODevice::WriteOnly));
    tokens.write(R"({"tokens":[{"name":"reader","sha256":")" + hash(readToken) +
                 R"(","scopes":["read"]},{"name":"writer","sha256":")" + hash(writeToken) +
                 R"(","scopes":["read","write"]}]})");
    tokens.close();
    HttpServerProcess server;
    QVERIFY2(server.start({QStringLiteral("--tokens-file"), tokens.fileName()}), qPrintable(server.errorString()));

    McpClient writer(std::make_unique<HttpClientTransport>(httpUrl(server.port()), writeToken));
    QVERIFY2(ready(writer), qPrintable(writer.lastError()));
    SidecarClient w(writer);
    auto written = await<WriteResult>([&](auto done) { w.stateSet(QStringLiteral("auth/k"), "1", {}, done); }, kWaitMs);
    QVERIFY2(written && written->ok, qPrintable(describe(written)));

    McpClient reader(std::make_unique<HttpClientTransport>(httpUrl(server.port()), readToken));
    QVERIFY2(ready(reader), qPrintable(reader.lastError()));
    SidecarClient r(reader);
    auto got = await<StateEntry>([&](auto done) { r.stateGet(QStringLiteral("auth/k"), done); }, kWaitMs);
    QVERIFY2(got && got->found && got->value == "1", qPrintable(describe(got)));
    auto refused = await<WriteResult>([&](auto done) { r.stateSet(QStringLiteral("auth/k"), "2", {}, done); }, kWaitMs);
    QVERIFY(!refused);
    QCOMPARE(refused.error().code, ErrorCode::Forbidden);

    McpClient anonymous(std::make_unique<HttpClientTransport>(httpUrl(server.port())));
    anonymous.connectToServer();
    QTRY_VERIFY_WITH_TIMEOUT(anonymous.lastError().contains(QStringLiteral("401")), kWaitMs);
    QVERIFY(anonymous.state() != McpClient::State::Ready);
    anonymous.disconnectFromServer();
}

void TestMcpClient::connectAndHealth()
{
    QFETCH(Kind, kind);
    auto c = client(kind);
    Recorder rec;
    rec.attach(*c);
    QCOMPARE(c->state(), McpClient::State::Disconnected);
    QVERIFY2(ready(*c), qPrintable(c->lastError()));
    QCOMPARE(rec.states.value(0), McpClient::State::Connecting);
    QCOMPARE(rec.states.last(), McpClient::State::Ready);
    QCOMPARE(c->protocolVersion(), QStringLiteral("2025-11-25"));
    QCOMPARE(c->serverName(), QStringLiteral("MCP State Sidecar"));
    QVERIFY(!c->serverVersion().isEmpty());
    QVERIFY(c->serverInfo().startsWith("{\"name\":"));
    QVERIFY(c->serverCapabilities().contains("\"resources\""));

    SidecarClient sc(*c);
    auto health = await<Health>([&](auto done) { sc.health(done); }, kWaitMs);
    QVERIFY2(health, qPrintable(describe(health)));
    QCOMPARE(health->status, QStringLiteral("ok"));
    QCOMPARE(health->backend, QStringLiteral("sqlite"));
    QCOMPARE(health->version, c->serverVersion());
    QVERIFY(health->uptimeSeconds >= 0);
    QVERIFY(health->revision.has_value());
    QVERIFY(c->lastLatencyUs() >= 0);

    c->disconnectFromServer();
    QCOMPARE(c->state(), McpClient::State::Disconnected);
    QVERIFY(!c->transport()->isOpen());
}

void TestMcpClient::exactValues()
{
    QFETCH(Kind, kind);
    auto c = client(kind);
    QVERIFY2(ready(*c), qPrintable(c->lastError()));
    SidecarClient sc(*c);

    const QList<QByteArray> values = {
        R"({"b":1,"a":[1,2.50,-0.0,1e400,12345678901234567890123],"n":null})",
        R"(123456789012345678901234567890)",
        R"(-98765432109876543210.123456789012345678901)",
        R"({"ключ":"значение ✓ 😀","esc":"\u00e9\n\"q\"\ud83d\ude00","z":{"y":{"x":[]}},"a":{}})",
        R"("a plain string")",
        R"(true)",
        R"(null)",
    };
    for (qsizetype i = 0; i < values.size(); ++i) {
        const QString k = key(QStringLiteral("exact/ключ ✓ %1").arg(i));
        auto set = await<WriteResult>([&](auto done) { sc.stateSet(k, values[i], {}, done); }, kWaitMs);
        QVERIFY2(set && set->ok, qPrintable(describe(set)));
        QVERIFY(set->version.value_or(0) > 0);
        auto got = await<StateEntry>([&](auto done) { sc.stateGet(k, done); }, kWaitMs);
        QVERIFY2(got, qPrintable(describe(got)));
        QVERIFY(got->found);
        QCOMPARE(got->key, k);
        QCOMPARE(got->value, values[i]);
        QCOMPARE(got->version, set->version);
    }

    // A large value (well under the 1 MiB default limit) comes back whole.
    QByteArray large = "[";
    for (int i = 0; i < 6000; ++i)
        large += (i ? "," : "") + QByteArray(R"({"i":)") + QByteArray::number(i) + R"(,"s":")"
                 + QByteArray(80, 'x') + "\"}";
    large += ']';
    const QString largeKey = key(QStringLiteral("exact/large"));
    auto largeSet = await<WriteResult>([&](auto done) { sc.stateSet(largeKey, large, {}, done); }, kWaitMs);
    QVERIFY2(largeSet && largeSet->ok, qPrintable(describe(largeSet)));
    auto largeGot = await<StateEntry>([&](auto done) { sc.stateGet(largeKey, done); }, kWaitMs);
    QVERIFY2(largeGot, qPrintable(describe(largeGot)));
    QCOMPARE(largeGot->value.size(), large.size());
    QVERIFY(largeGot->value == large);

    // Insignificant whitespace goes; everything else stays as written.
    const QString spaced = key(QStringLiteral("exact/spaced"));
    auto set = await<WriteResult>(
        [&](auto done) {
            sc.stateSet(spaced, QByteArrayLiteral("{ \"z\" : 1.10 ,\n \"a\" : [ 2 , \"x y\" ] }"), {}, done);
        },
        kWaitMs);
    QVERIFY2(set && set->ok, qPrintable(describe(set)));
    auto got = await<StateEntry>([&](auto done) { sc.stateGet(spaced, done); }, kWaitMs);
    QVERIFY(got);
    QCOMPARE(got->value, QByteArrayLiteral(R"({"z":1.10,"a":[2,"x y"]})"));

    auto missing = await<StateEntry>(
        [&](auto done) { sc.stateGet(key(QStringLiteral("exact/missing")), done); }, kWaitMs);
    QVERIFY(missing);
    QVERIFY(!missing->found);
    QCOMPARE(missing->value, QByteArrayLiteral("null"));
    QVERIFY(!missing->version.has_value());

    // With a TTL and an agent.
    WriteOptions options;
    options.ttlSeconds = 600.5;
    options.agentId = QStringLiteral("agent-ü");
    const QString ttlKey = key(QStringLiteral("exact/ttl"));
    set = await<WriteResult>([&](auto done) { sc.stateSet(ttlKey, "42", options, done); }, kWaitMs);
    QVERIFY2(set && set->ok, qPrintable(describe(set)));
    QVERIFY(set->expiresAt.has_value());
    got = await<StateEntry>([&](auto done) { sc.stateGet(ttlKey, done); }, kWaitMs);
    QVERIFY(got && got->found);
    QCOMPARE(got->agentId, QStringLiteral("agent-ü"));
    QVERIFY(got->expiresAt.has_value());
    QVERIFY(qAbs(*got->expiresAt - *set->expiresAt) < 0.01);
}

void TestMcpClient::listWithDelimiter()
{
    QFETCH(Kind, kind);
    auto c = client(kind);
    QVERIFY2(ready(*c), qPrintable(c->lastError()));
    SidecarClient sc(*c);
    const QString root = key(QStringLiteral("tree/"));
    const QStringList keys = {root + QStringLiteral("a/1"), root + QStringLiteral("a/2"),
                              root + QStringLiteral("b"), root + QStringLiteral("c/x/y"),
                              root + QStringLiteral("d")};
    for (const QString &k : keys) {
        auto set = await<WriteResult>([&](auto done) { sc.stateSet(k, "1", {}, done); }, kWaitMs);
        QVERIFY2(set && set->ok, qPrintable(describe(set)));
    }
    KeyQuery query;
    query.prefix = root;
    query.delimiter = QStringLiteral("/");
    auto page = await<KeyPage>([&](auto done) { sc.stateList(query, done); }, kWaitMs);
    QVERIFY2(page, qPrintable(describe(page)));
    QCOMPARE(page->keys, QStringList({root + QStringLiteral("b"), root + QStringLiteral("d")}));
    QCOMPARE(page->prefixes, QStringList({root + QStringLiteral("a/"), root + QStringLiteral("c/")}));
    QVERIFY(page->nextCursor.isEmpty());
    QVERIFY(page->revision.has_value());

    // Pages of one, walked with the cursor, give the same items in order.
    query.limit = 1;
    QStringList walked;
    for (int guard = 0; guard < 10; ++guard) {
        page = await<KeyPage>([&](auto done) { sc.stateList(query, done); }, kWaitMs);
        QVERIFY2(page, qPrintable(describe(page)));
        walked += page->keys;
        walked += page->prefixes;
        if (page->nextCursor.isEmpty())
            break;
        query.cursor = page->nextCursor;
    }
    QCOMPARE(walked, QStringList({root + QStringLiteral("a/"), root + QStringLiteral("b"),
                                  root + QStringLiteral("c/"), root + QStringLiteral("d")}));

    // Without a delimiter: every key.
    KeyQuery flat;
    flat.prefix = root;
    page = await<KeyPage>([&](auto done) { sc.stateList(flat, done); }, kWaitMs);
    QVERIFY(page);
    QCOMPARE(page->keys, keys);
    QVERIFY(page->prefixes.isEmpty());
}

void TestMcpClient::compareAndSet()
{
    QFETCH(Kind, kind);
    auto c = client(kind);
    QVERIFY2(ready(*c), qPrintable(c->lastError()));
    SidecarClient sc(*c);
    const QString k = key(QStringLiteral("cas"));

    WriteOptions create;
    create.ifVersion = 0;
    auto first = await<WriteResult>([&](auto done) { sc.stateSet(k, R"({"v":1})", create, done); }, kWaitMs);
    QVERIFY2(first && first->ok, qPrintable(describe(first)));
    const qint64 version = first->version.value_or(-1);
    QVERIFY(version > 0);

    auto again = await<WriteResult>([&](auto done) { sc.stateSet(k, R"({"v":2})", create, done); }, kWaitMs);
    QVERIFY2(again, qPrintable(describe(again))); // a result, not an error
    QVERIFY(!again->ok);
    QVERIFY(again->conflict);
    QCOMPARE(again->currentVersion, std::optional<qint64>(version));
    QVERIFY(!again->reason.isEmpty());

    WriteOptions stale;
    stale.ifVersion = version + 1000;
    auto staleSet = await<WriteResult>([&](auto done) { sc.stateSet(k, "3", stale, done); }, kWaitMs);
    QVERIFY(staleSet && !staleSet->ok && staleSet->conflict);

    WriteOptions exact;
    exact.ifVersion = version;
    auto swapped = await<WriteResult>([&](auto done) { sc.stateSet(k, R"({"v":2})", exact, done); }, kWaitMs);
    QVERIFY2(swapped && swapped->ok, qPrintable(describe(swapped)));
    QVERIFY(swapped->version.value_or(0) > version);

    auto staleDelete = await<WriteResult>([&](auto done) { sc.stateDelete(k, exact, done); }, kWaitMs);
    QVERIFY(staleDelete && !staleDelete->ok && staleDelete->conflict);
    QCOMPARE(staleDelete->currentVersion, swapped->version);

    WriteOptions current;
    current.ifVersion = *swapped->version;
    auto deleted = await<WriteResult>([&](auto done) { sc.stateDelete(k, current, done); }, kWaitMs);
    QVERIFY2(deleted && deleted->ok, qPrintable(describe(deleted)));
    auto gone = await<WriteResult>([&](auto done) { sc.stateDelete(k, {}, done); }, kWaitMs);
    QVERIFY(gone && !gone->ok); // no live key
}

void TestMcpClient::errors()
{
    QFETCH(Kind, kind);
    auto c = client(kind);
    QVERIFY2(ready(*c), qPrintable(c->lastError()));
    SidecarClient sc(*c);

    // Tool errors (TOOLS.md's error object) as Error with the tool's code.
    auto emptyKey = await<StateEntry>([&](auto done) { sc.stateGet(QString(), done); }, kWaitMs);
    QVERIFY(!emptyKey);
    QCOMPARE(emptyKey.error().code, ErrorCode::InvalidArgument);
    QVERIFY(!emptyKey.error().message.isEmpty());
    QCOMPARE(McpClient::rpcErrorCode(emptyKey.error()), 0);

    WriteOptions badTtl;
    badTtl.ttlSeconds = -5;
    auto ttl = await<WriteResult>(
        [&](auto done) { sc.stateSet(key(QStringLiteral("err")), "1", badTtl, done); }, kWaitMs);
    QVERIFY(!ttl);
    QCOMPARE(ttl.error().code, ErrorCode::InvalidArgument);

    auto unknownRun = await<WorkflowStatus>(
        [&](auto done) { sc.workflowStatus(QStringLiteral("wf-000000000000"), done); }, kWaitMs);
    QVERIFY(!unknownRun);
    QCOMPARE(unknownRun.error().code, ErrorCode::NotFound);

    // A value that is not JSON never leaves the client.
    auto notJson = await<WriteResult>(
        [&](auto done) { sc.stateSet(key(QStringLiteral("err")), "{oops", {}, done); });
    QVERIFY(!notJson);
    QCOMPARE(notJson.error().code, ErrorCode::InvalidArgument);

    // JSON-RPC errors: an unknown tool (-32602), an unknown method (-32601), an unknown resource (-32002).
    auto unknownTool = await<json::Document>(
        [&](auto done) { c->callTool(QStringLiteral("no_such_tool"), "{}", done); }, kWaitMs);
    QVERIFY(!unknownTool);
    QCOMPARE(unknownTool.error().code, ErrorCode::InvalidArgument);
    QCOMPARE(McpClient::rpcErrorCode(unknownTool.error()), -32602);

    auto unknownMethod = await<json::Document>(
        [&](auto done) { c->request(QStringLiteral("no/such/method"), {}, done); }, kWaitMs);
    QVERIFY(!unknownMethod);
    QCOMPARE(unknownMethod.error().code, ErrorCode::NotFound);
    QCOMPARE(McpClient::rpcErrorCode(unknownMethod.error()), -32601);

    auto unknownResource = await<json::Document>(
        [&](auto done) {
            c->request(QStringLiteral("resources/read"),
                       "{\"uri\":\"" + SidecarClient::kvUri(key(QStringLiteral("never set"))).toUtf8()
                           + "\"}",
                       done);
        },
        kWaitMs);
    QVERIFY(!unknownResource);
    QCOMPARE(unknownResource.error().code, ErrorCode::NotFound);
    QCOMPARE(McpClient::rpcErrorCode(unknownResource.error()), -32002);

    // Params that are not a JSON object never leave the client.
    auto badParams = await<json::Document>(
        [&](auto done) { c->request(QStringLiteral("ping"), "[1,", done); });
    QVERIFY(!badParams);
    QCOMPARE(badParams.error().code, ErrorCode::InvalidArgument);

    // The connection is still fine.
    auto pong = await<json::Document>([&](auto done) { c->request(QStringLiteral("ping"), {}, done); },
                                      kWaitMs);
    QVERIFY2(pong, qPrintable(describe(pong)));
    QCOMPARE(pong->root().compact(), QByteArrayLiteral("{}"));
    QCOMPARE(c->state(), McpClient::State::Ready);
}

void TestMcpClient::subscriptionAndTraffic()
{
    QFETCH(Kind, kind);
    auto watcher = client(kind);
    Recorder rec;
    rec.attach(*watcher);
    QVERIFY2(ready(*watcher), qPrintable(watcher->lastError()));
    auto writer = client(kind); // another session (stdio: another process on the same file)
    QVERIFY2(ready(*writer), qPrintable(writer->lastError()));
    SidecarClient w(*writer);

    const QString k = key(QStringLiteral("sub/ключ ✓ x"));
    const QString uri = SidecarClient::kvUri(k);
    QVERIFY(uri.startsWith(QStringLiteral("state://kv/")));
    QVERIFY(!uri.mid(11).contains(u'/'));
    QVERIFY(!uri.contains(u' '));
    auto subscribed = await<void>([&](auto done) { watcher->subscribe(uri, done); }, kWaitMs);
    QVERIFY2(subscribed, qPrintable(describe(subscribed)));
    QCOMPARE(watcher->subscriptions(), QStringList{uri});

    auto set = await<WriteResult>([&](auto done) { w.stateSet(k, R"({"n":1})", {}, done); }, kWaitMs);
    QVERIFY2(set && set->ok, qPrintable(describe(set)));
    QTRY_VERIFY_WITH_TIMEOUT(rec.updates.contains(uri), kWaitMs);
    QVERIFY(std::any_of(rec.notifications.begin(), rec.notifications.end(), [&](const auto &n) {
        return n.first == QLatin1String("notifications/resources/updated")
               && n.second.contains("state://kv/");
    }));

    // The traffic log: requests out (no round trip), their answers in (with one), notifications
    // both ways (without).
    auto has = [&](McpClient::Direction d, const QByteArray &needle, auto rtt) {
        return std::any_of(rec.traffic.begin(), rec.traffic.end(), [&](const TrafficRecord &t) {
            return t.direction == d && t.message.contains(needle) && rtt(t.roundTripUs);
        });
    };
    auto none = [](qint64 us) { return us == -1; };
    auto some = [](qint64 us) { return us >= 0; };
    QVERIFY(has(McpClient::Direction::Sent, "\"method\":\"initialize\"", none));
    QVERIFY(has(McpClient::Direction::Sent, "\"method\":\"notifications/initialized\"", none));
    QVERIFY(has(McpClient::Direction::Sent, "\"method\":\"resources/subscribe\"", none));
    QVERIFY(has(McpClient::Direction::Received, "\"protocolVersion\":\"2025-11-25\"", some));
    QVERIFY(has(McpClient::Direction::Received, "\"method\":\"notifications/resources/updated\"", none));
    for (const TrafficRecord &t : rec.traffic)
        QVERIFY2(json::parse(t.message).has_value(), t.message.constData());
    QVERIFY(watcher->lastLatencyUs() >= 0);

    // Unsubscribed: the next change is not announced; a change to a key still subscribed proves
    // the server handled the first one already.
    const QString other = key(QStringLiteral("sub/other"));
    auto sub2 = await<void>([&](auto done) { watcher->subscribe(SidecarClient::kvUri(other), done); },
                            kWaitMs);
    QVERIFY(sub2);
    auto unsub = await<void>([&](auto done) { watcher->unsubscribe(uri, done); }, kWaitMs);
    QVERIFY2(unsub, qPrintable(describe(unsub)));
    rec.updates.clear();
    set = await<WriteResult>([&](auto done) { w.stateSet(k, "2", {}, done); }, kWaitMs);
    QVERIFY(set && set->ok);
    set = await<WriteResult>([&](auto done) { w.stateSet(other, "2", {}, done); }, kWaitMs);
    QVERIFY(set && set->ok);
    QTRY_VERIFY_WITH_TIMEOUT(rec.updates.contains(SidecarClient::kvUri(other)), kWaitMs);
    QVERIFY(!rec.updates.contains(uri));
}

void TestMcpClient::typedReads()
{
    QFETCH(Kind, kind);
    auto c = client(kind);
    QVERIFY2(ready(*c), qPrintable(c->lastError()));
    SidecarClient sc(*c);
    const QString tag = QString::fromLatin1(QTest::currentDataTag());
    auto call = [&](const char *tool, const QByteArray &args) {
        return await<json::Document>([&](auto done) { c->callTool(QLatin1String(tool), args, done); },
                                     kWaitMs);
    };

    // A workflow with tags, input, two steps and a claim.
    const QByteArray input = R"({"z":1,"a":123456789012345678901})";
    auto created = call("workflow_create", R"({"name":"client-)" + tag.toUtf8() + R"(","tags":{"team":")"
                                               + tag.toUtf8() + R"(","b":"2"},"input":)" + input + "}");
    QVERIFY2(created, qPrintable(describe(created)));
    const QString runId = QString::fromStdString(created->root().find("run_id")->text());
    auto claimed = call("workflow_claim", R"({"run_id":")" + runId.toUtf8() + R"(","agent_id":"agent-1"})");
    QVERIFY2(claimed && claimed->root().find("claimed")->toBool(), qPrintable(describe(claimed)));
    const qint64 fence = *claimed->root().find("fence")->toInt64();
    for (int step = 1; step <= 2; ++step) {
        auto cp = call("workflow_checkpoint", R"({"run_id":")" + runId.toUtf8() + R"(","step":)"
                                                  + QByteArray::number(step) + R"(,"output":{"s":)"
                                                  + QByteArray::number(step)
                                                  + R"(,"big":1e999},"agent_id":"agent-1"})");
        QVERIFY2(cp && cp->root().find("ok")->toBool(), qPrintable(describe(cp)));
    }

    RunQuery query;
    query.tags = {{QStringLiteral("team"), tag}};
    auto discovered = await<RunPage>([&](auto done) { sc.workflowDiscover(query, done); }, kWaitMs);
    QVERIFY2(discovered, qPrintable(describe(discovered)));
    QCOMPARE(discovered->runs.size(), 1);
    const WorkflowRun &run = discovered->runs.first();
    QCOMPARE(run.runId, runId);
    QCOMPARE(run.name, QStringLiteral("client-") + tag);
    QCOMPARE(run.status, QStringLiteral("running"));
    QCOMPARE(run.tags.size(), 2);
    QCOMPARE(run.input, input);
    QVERIFY(run.result.isEmpty() || run.result == "null");
    QCOMPARE(run.agentId, QStringLiteral("agent-1"));
    QCOMPARE(run.lastStep, 2);
    QCOMPARE(run.fence, std::optional<qint64>(fence));

    query.status = QStringLiteral("done");
    auto none = await<RunPage>([&](auto done) { sc.workflowDiscover(query, done); }, kWaitMs);
    QVERIFY(none && none->runs.isEmpty());

    auto listed = await<RunPage>([&](auto done) { sc.workflowList(1, {}, done); }, kWaitMs);
    QVERIFY2(listed, qPrintable(describe(listed)));
    QCOMPARE(listed->runs.size(), 1);

    auto status = await<WorkflowStatus>([&](auto done) { sc.workflowStatus(runId, done); }, kWaitMs);
    QVERIFY2(status, qPrintable(describe(status)));
    QCOMPARE(status->status, QStringLiteral("running"));
    QCOMPARE(status->lastStep, 2);
    QCOMPARE(status->fence, std::optional<qint64>(fence));
    QVERIFY(status->claimExpiresAt.has_value());

    auto resumed = await<WorkflowResume>([&](auto done) { sc.workflowResume(runId, done); }, kWaitMs);
    QVERIFY2(resumed, qPrintable(describe(resumed)));
    QCOMPARE(resumed->runId, runId);
    QCOMPARE(resumed->lastStep, 2);
    QCOMPARE(resumed->steps.size(), 2);
    QCOMPARE(resumed->steps[0].step, 1);
    QCOMPARE(resumed->steps[0].output, QByteArrayLiteral(R"({"s":1,"big":1e999})"));
    QCOMPARE(resumed->steps[1].step, 2);
    QVERIFY(resumed->steps[1].hasMeta);
    QCOMPARE(resumed->steps[1].agentId, QStringLiteral("agent-1"));
    QCOMPARE(resumed->steps[1].fence, std::optional<qint64>(fence));
    QCOMPARE(resumed->meta.runId, runId);
    QCOMPARE(resumed->meta.input, input);

    // A lease.
    auto acquired = call("lease_acquire", R"({"resource_id":")" + tag.toUtf8()
                                              + R"(/lease","holder_id":"h-1","ttl_seconds":300})");
    QVERIFY2(acquired && acquired->root().find("acquired")->toBool(), qPrintable(describe(acquired)));
    PageQuery leases;
    leases.prefix = tag + QStringLiteral("/");
    auto leasePage = await<LeasePage>([&](auto done) { sc.leaseList(leases, done); }, kWaitMs);
    QVERIFY2(leasePage, qPrintable(describe(leasePage)));
    QCOMPARE(leasePage->leases.size(), 1);
    QCOMPARE(leasePage->leases[0].resourceId, tag + QStringLiteral("/lease"));
    QCOMPARE(leasePage->leases[0].holder, QStringLiteral("h-1"));
    QVERIFY(leasePage->leases[0].fence > 0);
    QVERIFY(leasePage->leases[0].expiresAt > 0);

    // A session.
    const QByteArray context = R"({"messages":[{"role":"user","text":"héllo"}],"n":1.50})";
    auto saved = call("session_save",
                      R"({"session_id":")" + tag.toUtf8() + R"(/s1","context":)" + context + "}");
    QVERIFY2(saved, qPrintable(describe(saved)));
    PageQuery sessions;
    sessions.prefix = tag + QStringLiteral("/");
    auto sessionPage = await<SessionPage>([&](auto done) { sc.sessionList(sessions, done); }, kWaitMs);
    QVERIFY2(sessionPage, qPrintable(describe(sessionPage)));
    QCOMPARE(sessionPage->sessions.size(), 1);
    QCOMPARE(sessionPage->sessions[0].sessionId, tag + QStringLiteral("/s1"));
    auto restored = await<SessionContext>(
        [&](auto done) { sc.sessionRestore(tag + QStringLiteral("/s1"), done); }, kWaitMs);
    QVERIFY2(restored, qPrintable(describe(restored)));
    QVERIFY(restored->found);
    QCOMPARE(restored->context, context);
    auto absent = await<SessionContext>(
        [&](auto done) { sc.sessionRestore(tag + QStringLiteral("/none"), done); }, kWaitMs);
    QVERIFY(absent && !absent->found);
    QCOMPARE(absent->context, QByteArrayLiteral("null"));

    // History and watch of keys.
    const QString k = key(QStringLiteral("hist"));
    auto one = await<WriteResult>([&](auto done) { sc.stateSet(k, R"({"b":1,"a":2})", {}, done); }, kWaitMs);
    QVERIFY(one && one->ok);
    auto two = await<WriteResult>([&](auto done) { sc.stateSet(k, "[2]", {}, done); }, kWaitMs);
    QVERIFY(two && two->ok);
    HistoryQuery hq;
    hq.key = k;
    hq.n = 1;
    auto history = await<HistoryPage>([&](auto done) { sc.historyLog(hq, done); }, kWaitMs);
    QVERIFY2(history, qPrintable(describe(history)));
    QCOMPARE(history->entries.size(), 1);
    QVERIFY(history->more);
    QCOMPARE(history->entries[0].op, QStringLiteral("set"));
    QCOMPARE(history->entries[0].kind, QStringLiteral("kv"));
    QCOMPARE(history->entries[0].newValue, QByteArrayLiteral("[2]"));
    QCOMPARE(history->entries[0].previousValue, QByteArrayLiteral(R"({"b":1,"a":2})"));
    hq.beforeRevision = history->entries[0].revision;
    auto older = await<HistoryPage>([&](auto done) { sc.historyLog(hq, done); }, kWaitMs);
    QVERIFY(older && older->entries.size() == 1);
    QCOMPARE(older->entries[0].newValue, QByteArrayLiteral(R"({"b":1,"a":2})"));
    QCOMPARE(older->entries[0].previousValue, QByteArrayLiteral("null"));

    WatchQuery wq;
    wq.key = k;
    wq.sinceRevision = *one->revision - 1;
    wq.timeoutSeconds = 1;
    auto watched = await<WatchResult>([&](auto done) { sc.stateWatch(wq, done); }, kWaitMs);
    QVERIFY2(watched, qPrintable(describe(watched)));
    QCOMPARE(watched->events.size(), 2);
    QCOMPARE(watched->events[0].newValue, QByteArrayLiteral(R"({"b":1,"a":2})"));
    QCOMPARE(watched->events[1].revision, *two->revision);
    QVERIFY(watched->revision >= *two->revision);
    QVERIFY(!watched->compacted);
}

void TestMcpClient::timeoutAndDisconnect()
{
    QFETCH(Kind, kind);
    auto c = client(kind);
    Recorder rec;
    rec.attach(*c);
    QVERIFY2(ready(*c), qPrintable(c->lastError()));
    SidecarClient sc(*c);

    // A watch that waits 20 s on the server, given 200 ms by the client.
    const QByteArray watchArgs = R"({"name":"state_watch","arguments":{"key":")"
                                 + key(QStringLiteral("quiet")).toUtf8()
                                 + R"(","since_revision":999999999,"timeout_seconds":20}})";
    auto timedOut = await<json::Document>(
        [&](auto done) { c->request(QStringLiteral("tools/call"), watchArgs, done, 200); }, kWaitMs);
    QVERIFY(!timedOut);
    QCOMPARE(timedOut.error().code, ErrorCode::Unavailable);
    QCOMPARE(timedOut.error().message, QStringLiteral("timed out"));
    QCOMPARE(rec.sentCount("\"method\":\"notifications/cancelled\""), 1);
    QCOMPARE(c->pendingCount(), 0);
    auto health = await<Health>([&](auto done) { sc.health(done); }, kWaitMs);
    QVERIFY2(health, qPrintable(describe(health)));

    // Pending requests fail when the client disconnects, later and not inside the call.
    std::optional<Result<WatchResult>> pending;
    WatchQuery wq;
    wq.key = key(QStringLiteral("quiet"));
    wq.sinceRevision = 999999999;
    wq.timeoutSeconds = 20;
    sc.stateWatch(wq, [&pending](Result<WatchResult> r) { pending = std::move(r); });
    QTRY_VERIFY_WITH_TIMEOUT(rec.sentCount("\"name\":\"state_watch\"") == 2, kWaitMs);
    c->disconnectFromServer();
    QVERIFY(!pending.has_value());
    QTRY_VERIFY_WITH_TIMEOUT(pending.has_value(), kWaitMs);
    QVERIFY(!*pending);
    QCOMPARE(pending->error().code, ErrorCode::Unavailable);
    QCOMPARE(c->state(), McpClient::State::Disconnected);

    // While disconnected, requests fail at once (but never inside the call).
    auto offline = await<Health>([&](auto done) { sc.health(done); }, kWaitMs);
    QVERIFY(!offline);
    QCOMPARE(offline.error().code, ErrorCode::Unavailable);

    // And it connects again.
    QVERIFY2(ready(*c), qPrintable(c->lastError()));
    health = await<Health>([&](auto done) { sc.health(done); }, kWaitMs);
    QVERIFY2(health, qPrintable(describe(health)));
}

// ---------------------------------------------------------------- reconnection

void TestMcpClient::httpServerRestart()
{
    HttpServerProcess server;
    QVERIFY2(server.start(), qPrintable(server.errorString()));
    const quint16 port = server.port();
    const QString db = server.dbPath();
    const QStringList samePort = {QStringLiteral("--port"), QString::number(port)};

    auto watcher = httpClient(port);
    Recorder rec;
    rec.attach(*watcher);
    QVERIFY2(ready(*watcher), qPrintable(watcher->lastError()));
    auto *transport = qobject_cast<HttpClientTransport *>(watcher->transport());
    QVERIFY(transport);
    QTRY_VERIFY_WITH_TIMEOUT(transport->isStreamOpen(), kWaitMs);
    const QByteArray firstSession = transport->sessionId();
    QVERIFY(!firstSession.isEmpty());
    QCOMPARE(transport->protocolVersion(), QByteArrayLiteral("2025-11-25"));

    const QString k = QStringLiteral("restart/ключ");
    const QString uri = SidecarClient::kvUri(k);
    auto subscribed = await<void>([&](auto done) { watcher->subscribe(uri, done); }, kWaitMs);
    QVERIFY2(subscribed, qPrintable(describe(subscribed)));

    // 1. Restarted on the same store: the session lives on in it; the client's event stream comes
    // back (Reconnecting while the server is away) and the server restores the subscription.
    server.terminate();
    QVERIFY(server.waitForExit());
    QTRY_COMPARE_WITH_TIMEOUT(watcher->state(), McpClient::State::Reconnecting, kWaitMs);
    QVERIFY(!transport->isStreamOpen());
    QVERIFY2(server.start(samePort, db), qPrintable(server.errorString()));
    QCOMPARE(server.port(), port);
    QTRY_VERIFY_WITH_TIMEOUT(watcher->isReady() && transport->isStreamOpen(), kWaitMs);
    QCOMPARE(transport->sessionId(), firstSession);
    {
        auto writer = httpClient(port);
        QVERIFY2(ready(*writer), qPrintable(writer->lastError()));
        SidecarClient w(*writer);
        rec.updates.clear();
        auto set = await<WriteResult>([&](auto done) { w.stateSet(k, "1", {}, done); }, kWaitMs);
        QVERIFY2(set && set->ok, qPrintable(describe(set)));
        QTRY_VERIFY_WITH_TIMEOUT(rec.updates.contains(uri), kWaitMs);
    }

    // 2. Restarted on a fresh store: the session is gone (404), so the client initializes anew
    // and subscribes again by itself.
    const qsizetype mark = rec.traffic.size();
    rec.states.clear();
    server.terminate();
    QVERIFY(server.waitForExit());
    QTRY_COMPARE_WITH_TIMEOUT(watcher->state(), McpClient::State::Reconnecting, kWaitMs);
    const QString freshDb = m_dir.file(QStringLiteral("fresh.db"));
    QVERIFY2(server.start(samePort, freshDb), qPrintable(server.errorString()));
    QTRY_VERIFY_WITH_TIMEOUT(watcher->isReady() && transport->sessionId() != firstSession
                                 && !transport->sessionId().isEmpty(),
                             kWaitMs);
    QVERIFY(rec.sentCount("\"method\":\"initialize\"", mark) >= 1);
    QVERIFY(rec.sentCount("\"method\":\"resources/subscribe\"", mark) >= 1);
    QCOMPARE(rec.states.last(), McpClient::State::Ready);
    QCOMPARE(watcher->subscriptions(), QStringList{uri});
    QTRY_VERIFY_WITH_TIMEOUT(transport->isStreamOpen(), kWaitMs);
    {
        auto writer = httpClient(port);
        QVERIFY2(ready(*writer), qPrintable(writer->lastError()));
        SidecarClient w(*writer);
        rec.updates.clear();
        auto set = await<WriteResult>([&](auto done) { w.stateSet(k, "2", {}, done); }, kWaitMs);
        QVERIFY2(set && set->ok, qPrintable(describe(set)));
        QTRY_VERIFY_WITH_TIMEOUT(rec.updates.contains(uri), kWaitMs);
    }
    watcher->disconnectFromServer();
    server.terminate();
    QVERIFY(server.waitForExit());
}

void TestMcpClient::stdioChildKilled()
{
    const QString db = m_dir.file(QStringLiteral("killed.db"));
    auto watcher = stdioClient(db);
    Recorder rec;
    rec.attach(*watcher);
    QVERIFY2(ready(*watcher), qPrintable(watcher->lastError()));
    auto *transport = qobject_cast<StdioClientTransport *>(watcher->transport());
    QVERIFY(transport);
    const qint64 firstPid = transport->processId();
    QVERIFY(firstPid > 0);
    QCOMPARE(transport->endpoint(), qEnvironmentVariable("SIDECAR_BIN"));

    const QString k = QStringLiteral("killed/key");
    const QString uri = SidecarClient::kvUri(k);
    auto subscribed = await<void>([&](auto done) { watcher->subscribe(uri, done); }, kWaitMs);
    QVERIFY2(subscribed, qPrintable(describe(subscribed)));
    SidecarClient sc(*watcher);

    // A request in flight when the child dies fails; the client relaunches the server.
    std::optional<Result<WatchResult>> inFlight;
    WatchQuery wq;
    wq.key = k;
    wq.sinceRevision = 999999999;
    wq.timeoutSeconds = 20;
    sc.stateWatch(wq, [&inFlight](Result<WatchResult> r) { inFlight = std::move(r); });
    QTRY_VERIFY_WITH_TIMEOUT(rec.sentCount("\"name\":\"state_watch\"") == 1, kWaitMs);
    rec.states.clear();
    QCOMPARE(::kill(pid_t(firstPid), SIGKILL), 0); // our own child, by its PID
    QTRY_VERIFY_WITH_TIMEOUT(rec.states.contains(McpClient::State::Reconnecting), kWaitMs);
    QVERIFY(watcher->lastError().contains(QStringLiteral("connection lost")));
    QTRY_VERIFY_WITH_TIMEOUT(inFlight.has_value(), kWaitMs);
    QVERIFY(!*inFlight);
    QCOMPARE(inFlight->error().code, ErrorCode::Unavailable);

    // A request made meanwhile waits for the new server.
    auto health = await<Health>([&](auto done) { sc.health(done); }, kWaitMs);
    QVERIFY2(health, qPrintable(describe(health)));
    QVERIFY(watcher->isReady());
    QVERIFY(transport->processId() > 0);
    QVERIFY(transport->processId() != firstPid);

    // Subscribed again: a change by another process is announced.
    auto writer = stdioClient(db);
    QVERIFY2(ready(*writer), qPrintable(writer->lastError()));
    SidecarClient w(*writer);
    rec.updates.clear();
    auto set = await<WriteResult>([&](auto done) { w.stateSet(k, "1", {}, done); }, kWaitMs);
    QVERIFY2(set && set->ok, qPrintable(describe(set)));
    QTRY_VERIFY_WITH_TIMEOUT(rec.updates.contains(uri), kWaitMs);

    // Closing ends the child.
    const qint64 pid = transport->processId();
    watcher->disconnectFromServer();
    QVERIFY(pid > 0);
    QCOMPARE(transport->processId(), qint64(0));
    QCOMPARE(watcher->state(), McpClient::State::Disconnected);
}

void TestMcpClient::stdioCannotStart()
{
    auto c = std::make_unique<McpClient>(
        std::make_unique<StdioClientTransport>(m_dir.file(QStringLiteral("no-such-binary")), QStringList{},
                                               QProcessEnvironment::systemEnvironment()));
    c->setAutoReconnect(false);
    Recorder rec;
    rec.attach(*c);
    c->connectToServer();
    QCOMPARE(c->state(), McpClient::State::Connecting);
    QTRY_COMPARE_WITH_TIMEOUT(c->state(), McpClient::State::Disconnected, kWaitMs);
    QVERIFY2(c->lastError().contains(QStringLiteral("cannot start")), qPrintable(c->lastError()));
}

// ---------------------------------------------------------------- HTTP details, scripted

void TestMcpClient::sseParser()
{
    // Byte by byte, CRLF, a priming event, a comment, two data lines, a retry hint.
    const QByteArray stream = "id: p1.0\r\ndata: \r\n\r\n: keep-alive\r\nretry: 1500\r\n"
                              "id: p1.1\r\nevent: message\r\ndata: {\"a\":1}\r\ndata: more\r\n\r\n";
    SseParser byteWise;
    QList<SseParser::Event> events;
    for (char ch : stream)
        events += byteWise.feed(QByteArray(1, ch));
    QCOMPARE(events.size(), 2);
    QCOMPARE(events[0].id, QByteArrayLiteral("p1.0"));
    QCOMPARE(events[0].data, QByteArray());
    QCOMPARE(events[1].id, QByteArrayLiteral("p1.1"));
    QCOMPARE(events[1].type, QByteArrayLiteral("message"));
    QCOMPARE(events[1].data, QByteArrayLiteral("{\"a\":1}\nmore"));
    QCOMPARE(byteWise.lastEventId(), QByteArrayLiteral("p1.1"));
    QCOMPARE(byteWise.retryMs(), 1500);
    QCOMPARE(byteWise.comments(), 1);

    // CR alone ends lines too; a field without a colon; no space after the colon; an id without data.
    SseParser p;
    events = p.feed("data:cr\r\rdata\r\r");
    QCOMPARE(events.size(), 2);
    QCOMPARE(events[0].data, QByteArrayLiteral("cr"));
    QCOMPARE(events[1].data, QByteArray());
    events = p.feed("id: only\n\nevent: other\ndata: x\n\n");
    QCOMPARE(events.size(), 1);
    QCOMPARE(events[0].type, QByteArrayLiteral("other"));
    QCOMPARE(p.lastEventId(), QByteArrayLiteral("only"));

    // A broken event is dropped by restart(); the id seen last is kept.
    events = p.feed("id: half\ndata: par");
    QVERIFY(events.isEmpty());
    p.restart();
    QCOMPARE(p.lastEventId(), QByteArrayLiteral("only"));
    events = p.feed("data: whole\n\n");
    QCOMPARE(events.size(), 1);
    QCOMPARE(events[0].data, QByteArrayLiteral("whole"));
    QCOMPARE(events[0].id, QByteArrayLiteral("only"));
}

void TestMcpClient::httpResumeAndErrors()
{
    FakeHttpServer fake;
    QVERIFY(fake.listen());
    int sessions = 0;
    const QByteArray answer =
        R"({"jsonrpc":"2.0","id":ID,"result":{"content":[{"type":"text","text":"{\"n\":1}"}],)"
        R"("structuredContent":{"n":1,"big":123456789012345678901234567890},"isError":false}})";
    QByteArray streamedId;
    fake.handler = [&](const FakeHttpServer::Request &r, QTcpSocket *socket) {
        if (r.method == "GET") {
            const QByteArray last = r.header("last-event-id");
            if (!last.startsWith('p')) {
                if (last.isEmpty() && r.header("mcp-session-id") == "sess-1") {
                    // The session's stream: one notification, then it ends; the client comes back
                    // with Last-Event-ID and learns there is no stream any more.
                    socket->write(
                        "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n"
                        "retry: 300\n\nid: s-1\ndata: {\"jsonrpc\":\"2.0\",\"method\":"
                        "\"notifications/resources/updated\",\"params\":{\"uri\":\"state://kv/"
                        "pushed\"}}\n\n");
                    socket->disconnectFromHost();
                    return;
                }
                socket->write(
                    FakeHttpServer::json(405, "Method Not Allowed", R"({"error":{"message":"no stream"}})"));
                return;
            }
            // The rest of the broken answer stream: its answer, then the end.
            QByteArray body = answer;
            body.replace("ID", streamedId);
            socket->write("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n"
                          "id: p1.2\ndata: "
                          + body + "\n\n");
            socket->disconnectFromHost();
            return;
        }
        const QByteArray method = r.rpcField("method");
        const QByteArray id = r.rpcField("id");
        if (method == "initialize") {
            ++sessions;
            socket->write(FakeHttpServer::json(
                200, "OK",
                R"({"jsonrpc":"2.0","id":)" + id + R"(,"result":{"protocolVersion":"2025-11-25",)"
                    + R"("capabilities":{"tools":{}},"serverInfo":{"name":"fake","version":"0"}}})",
                "Mcp-Session-Id: sess-" + QByteArray::number(sessions) + "\r\n"));
        } else if (id.isEmpty()) {
            socket->write("HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n");
        } else if (r.toolName() == "streamed") {
            // An SSE answer: a priming event, a notification, then the connection breaks.
            streamedId = id;
            socket->write(
                "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n");
            socket->write(FakeHttpServer::chunk("id: p1.0\r\ndata: \r\n\r\n: keep-alive\r\n\r\n"));
            socket->write(FakeHttpServer::chunk(
                "id: p1.1\nevent: message\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/message\",\n"
                "data: \"params\":{\"level\":\"info\",\"data\":\"working\"}}\n\n"));
            socket->flush();
            QTimer::singleShot(100, socket, [socket] { socket->abort(); });
        } else if (r.toolName() == "boom") {
            socket->write(FakeHttpServer::json(500, "Internal Server Error",
                                               "the fake server failed on purpose\n", {}, "text/plain"));
        } else if (r.toolName() == "gone") {
            socket->write(
                FakeHttpServer::json(404, "Not Found", R"({"error":{"message":"Unknown session"}})"));
        } else {
            QByteArray body = answer;
            body.replace("ID", id);
            socket->write(FakeHttpServer::json(200, "OK", body));
        }
    };

    McpClient c(std::make_unique<HttpClientTransport>(fake.url(), QByteArrayLiteral("secret")));
    Recorder rec;
    rec.attach(c);
    QVERIFY2(ready(c), qPrintable(c.lastError()));
    QCOMPARE(c.serverName(), QStringLiteral("fake"));

    // The SSE answer that broke after its notification is resumed with GET + Last-Event-ID.
    auto streamed = await<json::Document>(
        [&](auto done) { c.callTool(QStringLiteral("streamed"), "{}", done); }, kWaitMs);
    QVERIFY2(streamed, qPrintable(describe(streamed)));
    QCOMPARE(streamed->root().compact(),
             QByteArrayLiteral(R"({"n":1,"big":123456789012345678901234567890})"));
    QVERIFY(std::any_of(rec.notifications.begin(), rec.notifications.end(), [](const auto &n) {
        return n.first == QLatin1String("notifications/message") && n.second.contains("working");
    }));
    const auto resumes = [](const FakeHttpServer::Request &r) { return r.header("last-event-id") == "p1.1"; };
    QCOMPARE(fake.count("GET", resumes), 1);

    // Every request's headers.
    for (const FakeHttpServer::Request &r : std::as_const(fake.requests)) {
        QCOMPARE(r.header("authorization"), QByteArrayLiteral("Bearer secret"));
        if (r.method == "POST") {
            QVERIFY(r.header("accept").contains("application/json"));
            QVERIFY(r.header("accept").contains("text/event-stream"));
            QVERIFY(r.header("content-type").startsWith("application/json"));
        } else {
            QCOMPARE(r.header("accept"), QByteArrayLiteral("text/event-stream"));
        }
        if (r.rpcField("method") == "initialize") {
            QVERIFY(!r.hasHeader("mcp-session-id"));
        } else {
            QCOMPARE(r.header("mcp-session-id"), QByteArrayLiteral("sess-1"));
            QCOMPARE(r.header("mcp-protocol-version"), QByteArrayLiteral("2025-11-25"));
        }
    }
    // The session's GET stream delivered its notification, ended, was asked for again with the
    // last event's id, and answered 405: no stream any more, and that is fine. (QNetworkAccessManager
    // may itself send a GET again when the connection closed under it before the answer: counts
    // are bounds, not exact.)
    const auto sessionStream = [](const QByteArray &session) {
        return [session](const FakeHttpServer::Request &r) {
            return r.header("mcp-session-id") == session && !r.header("last-event-id").startsWith('p');
        };
    };
    QTRY_VERIFY_WITH_TIMEOUT(rec.updates.contains(QStringLiteral("state://kv/pushed")), kWaitMs);
    QTRY_VERIFY_WITH_TIMEOUT(
        fake.count("GET", [](const FakeHttpServer::Request &r) { return r.header("last-event-id") == "s-1"; })
            >= 1,
        kWaitMs);

    // An HTTP error reports its status and body.
    auto boom = await<json::Document>([&](auto done) { c.callTool(QStringLiteral("boom"), "{}", done); },
                                      kWaitMs);
    QVERIFY(!boom);
    QVERIFY2(boom.error().message.contains(QStringLiteral("HTTP 500")), qPrintable(boom.error().message));
    QVERIFY2(boom.error().message.contains(QStringLiteral("failed on purpose")),
             qPrintable(boom.error().message));
    QCOMPARE(boom.error().code, ErrorCode::Internal);
    QCOMPARE(c.state(), McpClient::State::Ready);

    // 404 to a request with the session id: the session expired; the client initializes anew.
    rec.states.clear();
    auto gone = await<json::Document>([&](auto done) { c.callTool(QStringLiteral("gone"), "{}", done); },
                                      kWaitMs);
    QVERIFY(!gone);
    QCOMPARE(gone.error().code, ErrorCode::Unavailable);
    QVERIFY2(gone.error().message.contains(QStringLiteral("session expired")),
             qPrintable(gone.error().message));
    QTRY_VERIFY_WITH_TIMEOUT(c.isReady() && sessions == 2, kWaitMs);
    QVERIFY(rec.states.contains(McpClient::State::Reconnecting));
    auto plain = await<json::Document>([&](auto done) { c.callTool(QStringLiteral("plain"), "{}", done); },
                                       kWaitMs);
    QVERIFY2(plain, qPrintable(describe(plain)));
    QCOMPARE(fake.requests.last().header("mcp-session-id"), QByteArrayLiteral("sess-2"));
    // The new session asks for its own stream; neither session asks again and again after a 405.
    QTRY_VERIFY_WITH_TIMEOUT(fake.count("GET", sessionStream("sess-2")) >= 1, kWaitMs);
    QVERIFY(fake.count("GET", sessionStream("sess-1")) <= 4);
    QVERIFY(fake.count("GET", sessionStream("sess-2")) <= 2);

    // Closing ends the session with DELETE.
    c.disconnectFromServer();
    QTRY_VERIFY_WITH_TIMEOUT(fake.count("DELETE") == 1, kWaitMs);
    QCOMPARE(fake.requests.last().header("mcp-session-id"), QByteArrayLiteral("sess-2"));
}

QTEST_GUILESS_MAIN(TestMcpClient)
#include "tst_mcpclient.moc"
