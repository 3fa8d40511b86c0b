// ResourceHub without a process boundary: a SqliteStore on a temporary file and bare
// McpServerSessions whose output is captured. Covers what the stdio suite cannot see directly:
// URI encoding and parsing, the coalescing window measured on the hub's own signal, several
// sessions on one hub (as over HTTP), forgetting destroyed sessions, a session outliving its hub,
// and collection summaries cut short by the reply budget.

#include <QtTest>

#include <memory>

#include "protocol/json.h"
#include "protocol/mcpserversession.h"
#include "protocol/toolregistry.h"
#include "store/sqlitestore.h"
#include "testutil.h"
#include "tools/resources.h"

using namespace sidecar;
using namespace sidecar::tools;

namespace {

// A bare session with its output captured, initialized.
struct Client
{
    explicit Client(const protocol::ToolRegistry &registry)
        : session(std::make_unique<protocol::McpServerSession>(registry, protocol::ServerInfo{}))
    {
        session->setSink([this](const QByteArray &m) { out.append(m); });
    }
    void initialize()
    {
        session->handle(
            R"({"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25",)"
            R"("capabilities":{},"clientInfo":{"name":"t","version":"1"}}})");
        session->handle(R"({"jsonrpc":"2.0","method":"notifications/initialized"})");
        out.clear();
    }
    // Sends a request and waits for its answer.
    std::optional<json::Document> request(const QByteArray &method, const QByteArray &params)
    {
        const QByteArray id = QByteArray::number(++lastId);
        session->handle(R"({"jsonrpc":"2.0","id":)" + id + R"(,"method":")" + method + R"(","params":)"
                        + params + '}');
        std::optional<json::Document> answer;
        test::waitUntil([&] {
            for (qsizetype i = 0; i < out.size(); ++i) {
                auto doc = json::parse(out.at(i));
                if (doc && doc->root().find("id") && doc->root().find("id")->compact() == id) {
                    out.removeAt(i);
                    answer = std::move(doc);
                    return true;
                }
            }
            return false;
        });
        return answer;
    }
    // The URIs of the notifications received so far (removed from `out`).
    QStringList updates()
    {
        QStringList uris;
        for (qsizetype i = 0; i < out.size();) {
            auto doc = json::parse(out.at(i));
            const json::Value *method = doc ? doc->root().find("method") : nullptr;
            if (method && method->text() == "notifications/resources/updated") {
                uris << doc->root().find("params")->find("uri")->toQString();
                out.removeAt(i);
            } else {
                ++i;
            }
        }
        return uris;
    }

    std::unique_ptr<protocol::McpServerSession> session;
    QList<QByteArray> out;
    int lastId = 0;
};

QByteArray uriParams(const QString &uri)
{
    QByteArray out;
    json::appendQuoted(out, uri);
    return "{\"uri\":" + out + '}';
}

int errorCode(const std::optional<json::Document> &answer)
{
    const json::Value *error = answer ? answer->root().find("error") : nullptr;
    return error ? int(error->find("code")->toInt64().value_or(0)) : 0;
}

} // namespace

class TestResourcesUnit : public QObject
{
    Q_OBJECT
private slots:
    void init();
    void cleanup();
    void uriRoundTrip_data();
    void uriRoundTrip();
    void uriErrors_data();
    void uriErrors();
    void rawSpellings();
    void capabilityNeedsTheHub();
    void sessionOutlivingTheHub();
    void severalSessionsAndForgetting();
    void coalescingWindow();
    void summariesStayWithinTheBudget();

private:
    qint64 set(const QString &key, const QByteArray &value);

    std::unique_ptr<test::TempDir> m_dir;
    std::unique_ptr<store::SqliteStore> m_store;
    protocol::ToolRegistry m_registry;
};

void TestResourcesUnit::init()
{
    m_dir = std::make_unique<test::TempDir>();
    m_store = std::make_unique<store::SqliteStore>(m_dir->file(QStringLiteral("r.db")),
                                                   store::StoreOptions{});
    auto opened = m_store->open();
    QVERIFY2(opened, qPrintable(test::describe(opened)));
}

void TestResourcesUnit::cleanup()
{
    if (m_store)
        m_store->close();
    m_store.reset();
    m_dir.reset();
}

qint64 TestResourcesUnit::set(const QString &key, const QByteArray &value)
{
    store::KvSetArgs args;
    args.key = key;
    args.value = value;
    auto r = test::await<store::KvWriteResult>([&](auto done) { m_store->kvSet(args, std::move(done)); });
    return r && r->ok ? r->revision : -1;
}

void TestResourcesUnit::uriRoundTrip_data()
{
    QTest::addColumn<int>("kind");
    QTest::addColumn<QString>("id");
    QTest::addColumn<QString>("uri");
    QTest::newRow("plain") << int(ResourceKind::Kv) << QStringLiteral("a-b.c_d~e")
                           << QStringLiteral("state://kv/a-b.c_d~e");
    QTest::newRow("slash") << int(ResourceKind::Kv) << QStringLiteral("a/b")
                           << QStringLiteral("state://kv/a%2Fb");
    QTest::newRow("reserved") << int(ResourceKind::Sessions) << QStringLiteral("a b+c%d?e#f:g@h")
                              << QStringLiteral("state://sessions/a%20b%2Bc%25d%3Fe%23f%3Ag%40h");
    QTest::newRow("non-ascii") << int(ResourceKind::Leases) << QStringLiteral("é✓😀")
                               << QStringLiteral("state://leases/%C3%A9%E2%9C%93%F0%9F%98%80");
    QTest::newRow("run") << int(ResourceKind::Workflows) << QStringLiteral("wf-0123456789ab")
                         << QStringLiteral("state://workflows/wf-0123456789ab");
    QTest::newRow("collection") << int(ResourceKind::History) << QString()
                                << QStringLiteral("state://history");
}

void TestResourcesUnit::uriRoundTrip()
{
    QFETCH(int, kind);
    QFETCH(QString, id);
    QFETCH(QString, uri);
    const std::optional<QString> optId = id.isNull() ? std::nullopt : std::optional<QString>(id);
    QCOMPARE(resourceUri(ResourceKind(kind), optId), uri);
    auto parsed = parseResourceUri(uri);
    QVERIFY2(parsed, qPrintable(parsed ? QString() : parsed.error().message));
    QCOMPARE(int(parsed->kind), kind);
    QCOMPARE(parsed->id, optId);
    // Lower-case hex names the same resource.
    QCOMPARE(parseResourceUri(uri.toLower())->id, optId);
}

void TestResourcesUnit::uriErrors_data()
{
    QTest::addColumn<QString>("uri");
    QTest::addColumn<bool>("malformed"); // else: not found
    QTest::newRow("empty") << QString() << true;
    QTest::newRow("relative") << QStringLiteral("kv/a") << true;
    QTest::newRow("bad scheme char") << QStringLiteral("st_ate://kv") << true;
    QTest::newRow("opaque") << QStringLiteral("state:kv") << true;
    QTest::newRow("empty id") << QStringLiteral("state://kv/") << true;
    QTest::newRow("bad escape") << QStringLiteral("state://kv/%G0") << true;
    QTest::newRow("not utf-8") << QStringLiteral("state://kv/%C3") << true;
    QTest::newRow("NUL") << QStringLiteral("state://kv/%00") << true;
    QTest::newRow("513 bytes") << QStringLiteral("state://kv/") + QString(513, u'a') << true;
    QTest::newRow("query") << QStringLiteral("state://kv?x") << true;
    QTest::newRow("other scheme") << QStringLiteral("https://example.com/") << false;
    QTest::newRow("unknown collection") << QStringLiteral("state://keys") << false;
    QTest::newRow("history item") << QStringLiteral("state://history/5") << false;
}

void TestResourcesUnit::uriErrors()
{
    QFETCH(QString, uri);
    QFETCH(bool, malformed);
    auto parsed = parseResourceUri(uri);
    QVERIFY(!parsed);
    QCOMPARE(parsed.error().code, malformed ? ErrorCode::InvalidArgument : ErrorCode::NotFound);
}

void TestResourcesUnit::rawSpellings()
{
    // 512 bytes of UTF-8 are fine; a raw '/', raw UTF-8 and a scheme in capitals are read too.
    QCOMPARE(parseResourceUri(QStringLiteral("state://kv/") + QString(256, QChar(0xe9)))->id->size(),
             qsizetype(256));
    QCOMPARE(*parseResourceUri(QStringLiteral("State://kv/a/b/é"))->id, QStringLiteral("a/b/é"));
}

void TestResourcesUnit::capabilityNeedsTheHub()
{
    Client c(m_registry);
    ResourceHub hub(*m_store);
    hub.attach(*c.session);
    hub.attach(*c.session); // idempotent
    c.session->handle(
        R"({"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25"}})");
    QCOMPARE(c.out.size(), qsizetype(1));
    QVERIFY(c.out.first().contains(R"("resources":{"subscribe":true,"listChanged":false})"));
}

void TestResourcesUnit::sessionOutlivingTheHub()
{
    Client c(m_registry);
    auto hub = std::make_unique<ResourceHub>(*m_store);
    hub->attach(*c.session);
    c.initialize();
    QCOMPARE(errorCode(c.request("resources/subscribe", uriParams(QStringLiteral("state://kv/a")))), 0);
    QCOMPARE(hub->subscriptionCount(*c.session), 1);
    hub.reset();
    QCOMPARE(errorCode(c.request("resources/list", "{}")), -32601);
    set(QStringLiteral("a"), "1"); // nothing left to notify: must not crash
    QTest::qWait(50);
    QCOMPARE(c.updates(), QStringList());
}

void TestResourcesUnit::severalSessionsAndForgetting()
{
    ResourceHub hub(*m_store);
    auto a = std::make_unique<Client>(m_registry);
    Client b(m_registry);
    hub.attach(*a->session);
    hub.attach(*b.session);
    a->initialize();
    b.initialize();
    const QString uri = QStringLiteral("state://kv/shared");
    QCOMPARE(errorCode(a->request("resources/subscribe", uriParams(uri))), 0);
    QCOMPARE(errorCode(a->request("resources/subscribe", uriParams(QStringLiteral("state://kv")))), 0);
    QCOMPARE(errorCode(b.request("resources/subscribe", uriParams(uri))), 0);
    QCOMPARE(errorCode(b.request("resources/subscribe", uriParams(uri))), 0); // again: one subscription
    QCOMPARE(hub.subscriptionCount(), 3);

    set(QStringLiteral("shared"), "1");
    QVERIFY(test::waitUntil([&] { return a->out.size() >= 2 && !b.out.isEmpty(); }));
    QTest::qWait(50);
    QStringList got = a->updates();
    got.sort();
    QCOMPARE(got, (QStringList{QStringLiteral("state://kv"), uri}));
    QCOMPARE(b.updates(), QStringList{uri});

    // A destroyed session's subscriptions go; the other session still hears.
    a.reset();
    QCOMPARE(hub.subscriptionCount(), 1);
    QTest::qWait(300); // past b's window
    set(QStringLiteral("shared"), "2");
    QVERIFY(test::waitUntil([&] { return !b.out.isEmpty(); }));
    QCOMPARE(b.updates(), QStringList{uri});

    QCOMPARE(errorCode(b.request("resources/unsubscribe", uriParams(uri))), 0);
    QCOMPARE(hub.subscriptionCount(), 0);
}

void TestResourcesUnit::coalescingWindow()
{
    ResourceHubOptions options;
    options.coalesceMs = 250;
    ResourceHub hub(*m_store, options);
    Client c(m_registry);
    hub.attach(*c.session);
    c.initialize();
    const QString uri = QStringLiteral("state://kv/hot");
    QCOMPARE(errorCode(c.request("resources/subscribe", uriParams(uri))), 0);

    // When each notification left (on the hub's signal, synchronous with sending) and what the
    // hub had seen by then.
    QElapsedTimer clock;
    clock.start();
    QList<qint64> sentAt;
    QList<qint64> seenAt;
    connect(&hub, &ResourceHub::notified, this, [&](protocol::McpServerSession *, const QString &u) {
        QCOMPARE(u, uri);
        sentAt << clock.elapsed();
        seenAt << hub.seenRevision();
    });

    // Writes one after another for about a second.
    qint64 lastRevision = 0;
    int writes = 0;
    while (clock.elapsed() < 1000) {
        lastRevision = set(QStringLiteral("hot"), QByteArray::number(++writes));
        QVERIFY(lastRevision > 0);
    }
    QVERIFY(test::waitUntil([&] { return !seenAt.isEmpty() && seenAt.back() >= lastRevision; }, 5000));
    QTest::qWait(400); // nothing more may follow once the last write is announced
    const int count = int(sentAt.size());
    qInfo("%d writes, %d notifications", writes, count);
    QVERIFY(count >= 2);
    QVERIFY2(count < writes, qPrintable(QString::number(count)));
    for (int i = 1; i < count; ++i) // the window, give or take the two clocks' readings
        QVERIFY2(sentAt[i] - sentAt[i - 1] >= options.coalesceMs - 5,
                 qPrintable(QStringLiteral("gap %1 ms").arg(sentAt[i] - sentAt[i - 1])));
    QCOMPARE(seenAt.back(), lastRevision); // the last notification came after the last write
    QCOMPARE(c.updates().size(), qsizetype(count));
}

void TestResourcesUnit::summariesStayWithinTheBudget()
{
    ResourceHubOptions options;
    options.maxReplyBytes = 64 << 10; // summaries of at most ~28 KiB
    ResourceHub hub(*m_store, options);
    Client c(m_registry);
    hub.attach(*c.session);
    c.initialize();
    const QByteArray big = '"' + QByteArray(10000, 'x') + '"';
    for (int i = 0; i < 10; ++i) {
        store::WorkflowCreateArgs args;
        args.name = QStringLiteral("w");
        args.input = big;
        auto r = test::await<store::WorkflowCreateResult>(
            [&](auto done) { m_store->workflowCreate(args, std::move(done)); });
        QVERIFY(r);
        QVERIFY(set(QStringLiteral("k%1").arg(i), big) > 0);
    }
    for (const char *name : {"workflows", "history"}) {
        auto answer = c.request("resources/read",
                                uriParams(QStringLiteral("state://") + QLatin1String(name)));
        QVERIFY(answer && answer->root().find("result"));
        const json::Value &content = answer->root().find("result")->find("contents")->items().front();
        const QByteArray text = QByteArray::fromStdString(content.find("text")->text());
        QVERIFY2(text.size() < options.maxReplyBytes / 2, name);
        auto summary = json::parse(text);
        QVERIFY(summary);
        QCOMPARE(summary->root().find("more")->toBool(), true);
        QVERIFY(!summary->root().find("next_cursor"));
        const auto items = qsizetype(summary->root().find("items")->items().size());
        QVERIFY2(items >= 1 && items < (qstrcmp(name, "history") == 0 ? 20 : 10), name);
    }
}

QTEST_GUILESS_MAIN(TestResourcesUnit)
#include "tst_resources_unit.moc"
