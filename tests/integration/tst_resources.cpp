// MCP resources on the real binary over stdio (TOOLS.md, "Resources"; MCP 2025-11-25, "Resources"):
// the capability, resources/list and resources/templates/list, reads of every kind of item (the
// tool's own object, compared with the tool's answer) and of every collection (bounded summaries),
// the error codes (-32002 for what does not exist, -32602 for a malformed URI), subscriptions that
// fire for writes by the same session and by a second process on the same SQLite file, unsubscribe,
// a reset touching every subscription, and coalescing of rapid writes.
//
// Timings are never asserted exactly: waits are generous deadlines, and "no notification" is
// checked after a later notification proved the server had already handled the write in question.

#include <QtTest>

#include <memory>
#include <optional>

#include "sidecartestclient.h"

using namespace sidecar;
using namespace sidecar::test;

namespace {

constexpr int kWaitMs = 15000;
const QByteArray kUpdated = QByteArrayLiteral("notifications/resources/updated");

// A JSON object {"uri": <uri>}.
qint64 integer(const json::Value *v)
{
    return v ? qint64(v->toInt64().value_or(-1)) : qint64(-2);
}

QByteArray uriParams(const QString &uri)
{
    return "{\"uri\":" + quoted(uri) + '}';
}

// "dir/sub/ключ ✓" encoded as RFC 6570 {key} expansion does, written out by hand.
const QString kOddKey = QStringLiteral("dir/sub/ключ ✓");
const QString kOddKeyUri = QStringLiteral("state://kv/dir%2Fsub%2F%D0%BA%D0%BB%D1%8E%D1%87%20%E2%9C%93");

} // namespace

class TestResources : public QObject
{
    Q_OBJECT
private slots:
    void initTestCase();
    void cleanupTestCase();
    void capabilityAndLists();
    void readItems();
    void readItemSpellings();
    void readErrors_data();
    void readErrors();
    void readExpiredAndReleased();
    void collections();
    void subscribeSameSession();
    void subscribeOtherProcess();
    void unsubscribeStops();
    void resetTouchesEverySubscription();
    void coalescesRapidWrites();

private:
    // The answer to a resources/* request (fails the test when none comes).
    json::Document rpc(SidecarClient &c, const char *method, const QByteArray &params);
    // The `text` of a successful read, or "<error N>".
    QByteArray readText(SidecarClient &c, const QString &uri);
    // Waits until every URI of `wanted` was announced (collecting every announced URI into
    // `seen`); false at the deadline.
    bool waitForUpdates(SidecarClient &c, const QStringList &wanted, QStringList &seen,
                        int timeoutMs = kWaitMs);
    // Collects announcements for `ms`.
    QStringList collectUpdates(SidecarClient &c, int ms);
    // Takes the notifications/resources/updated lines out of what arrived, keeping the rest.
    void takeUpdates(SidecarClient &c, QStringList &seen);
    QByteArray structuredText(SidecarClient &c, const QString &tool, const QByteArray &args);

    std::unique_ptr<SidecarClient> m_shared;
};

void TestResources::initTestCase()
{
    QVERIFY2(!qEnvironmentVariableIsEmpty("SIDECAR_BIN"), "SIDECAR_BIN is not set (run through ctest)");
}

void TestResources::cleanupTestCase()
{
    m_shared.reset();
}

json::Document TestResources::rpc(SidecarClient &c, const char *method, const QByteArray &params)
{
    auto answer = c.process().request(QString::fromLatin1(method), params);
    if (!answer) {
        QTest::qFail(qPrintable(QStringLiteral("no answer to %1: %2")
                                    .arg(QLatin1String(method),
                                         QString::fromUtf8(c.process().stderrText().right(2000)))),
                     __FILE__, __LINE__);
        return std::move(*json::parse("{}"));
    }
    return std::move(*answer);
}

QByteArray TestResources::readText(SidecarClient &c, const QString &uri)
{
    auto answer = c.process().request(QStringLiteral("resources/read"), uriParams(uri));
    if (!answer)
        return "<no answer>";
    if (const int code = rpcErrorCode(*answer))
        return "<error " + QByteArray::number(code) + '>';
    const json::Value *contents = answer->root().find("result")
                                      ? answer->root().find("result")->find("contents")
                                      : nullptr;
    if (!contents || contents->items().size() != 1)
        return "<bad contents: " + answer->root().compact() + '>';
    const json::Value &item = contents->items().front();
    if (!item.find("uri") || item.find("uri")->toQString() != uri)
        return "<contents uri differs: " + answer->root().compact() + '>';
    if (!item.find("mimeType") || item.find("mimeType")->text() != "application/json")
        return "<mimeType: " + answer->root().compact() + '>';
    if (!item.find("text") || !item.find("text")->isString())
        return "<no text: " + answer->root().compact() + '>';
    return QByteArray::fromStdString(item.find("text")->text());
}

QByteArray TestResources::structuredText(SidecarClient &c, const QString &tool, const QByteArray &args)
{
    auto reply = c.ok(tool, args);
    return reply ? reply->text() : "<tool failed: " + c.problem().toUtf8() + '>';
}

void TestResources::takeUpdates(SidecarClient &c, QStringList &seen)
{
    for (const QByteArray &line : c.process().takeUnclaimed()) {
        auto doc = json::parse(line);
        const json::Value *method = doc ? doc->root().find("method") : nullptr;
        if (method && method->text() == kUpdated.toStdString()) {
            const json::Value *params = doc->root().find("params");
            QVERIFY2(params && params->find("uri") && params->members().size() == 1, line.constData());
            seen.append(params->find("uri")->toQString());
            continue;
        }
        QFAIL(qPrintable(QStringLiteral("unexpected line: ") + QString::fromUtf8(line)));
    }
}

bool TestResources::waitForUpdates(SidecarClient &c, const QStringList &wanted, QStringList &seen,
                                   int timeoutMs)
{
    QDeadlineTimer deadline(timeoutMs);
    auto done = [&] {
        for (const QString &w : wanted) {
            if (!seen.contains(w))
                return false;
        }
        return true;
    };
    for (;;) {
        takeUpdates(c, seen);
        if (done())
            return true;
        if (deadline.hasExpired())
            return false;
        c.process().pump(50);
    }
}

QStringList TestResources::collectUpdates(SidecarClient &c, int ms)
{
    QStringList seen;
    QDeadlineTimer deadline(ms);
    while (!deadline.hasExpired())
        c.process().pump(int(std::clamp<qint64>(deadline.remainingTime(), 1, 50)));
    takeUpdates(c, seen);
    return seen;
}

// ---------------------------------------------------------------- discovery

void TestResources::capabilityAndLists()
{
    ServerProcess p;
    QVERIFY2(p.start({QStringLiteral("--db-path"), tempPath(QStringLiteral("caps.db"))}),
             qPrintable(p.errorString()));
    auto init = p.request(
        QStringLiteral("initialize"),
        R"({"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"1"}})");
    QVERIFY(init);
    const json::Value *resources = init->root().find("result")->find("capabilities")->find("resources");
    QVERIFY2(resources, init->root().compact().constData());
    QCOMPARE(resources->compact(), QByteArray(R"({"subscribe":true,"listChanged":false})"));
    p.sendLine(R"({"jsonrpc":"2.0","method":"notifications/initialized"})");

    auto list = p.request(QStringLiteral("resources/list"), "{}");
    QVERIFY(list && list->root().find("result"));
    const json::Value *items = list->root().find("result")->find("resources");
    QVERIFY(items && items->isArray());
    QStringList uris;
    for (const json::Value &r : items->items()) {
        uris << r.find("uri")->toQString();
        QVERIFY(r.find("name") && r.find("name")->isString());
        QVERIFY(r.find("title") && r.find("description"));
        QCOMPARE(r.find("mimeType")->toQString(), QStringLiteral("application/json"));
    }
    QCOMPARE(uris, (QStringList{QStringLiteral("state://kv"), QStringLiteral("state://workflows"),
                                QStringLiteral("state://leases"), QStringLiteral("state://sessions"),
                                QStringLiteral("state://history")}));

    auto templates = p.request(QStringLiteral("resources/templates/list"));
    QVERIFY(templates && templates->root().find("result"));
    const json::Value *tpl = templates->root().find("result")->find("resourceTemplates");
    QVERIFY(tpl && tpl->isArray());
    QStringList patterns;
    for (const json::Value &t : tpl->items()) {
        patterns << t.find("uriTemplate")->toQString();
        QVERIFY(t.find("name") && t.find("description"));
        QCOMPARE(t.find("mimeType")->toQString(), QStringLiteral("application/json"));
    }
    QCOMPARE(patterns,
             (QStringList{QStringLiteral("state://kv/{key}"), QStringLiteral("state://workflows/{run_id}"),
                          QStringLiteral("state://leases/{resource_id}"),
                          QStringLiteral("state://sessions/{session_id}")}));
}

// ---------------------------------------------------------------- reads

void TestResources::readItems()
{
    SidecarClient c;
    QVERIFY2(c.start(), qPrintable(c.problem()));

    // A key with '/' and non-ASCII; the value's key order and big numbers come back as sent.
    const QByteArray value = R"({"z":1,"a":[1.50,12345678901234567890123],"s":"é\n"})";
    QVERIFY(c.ok(QStringLiteral("state_set"),
                 "{\"key\":" + quoted(kOddKey) + ",\"value\":" + value + ",\"agent_id\":\"a1\"}"));
    const QByteArray text = readText(c, kOddKeyUri);
    QCOMPARE(text, structuredText(c, QStringLiteral("state_get"), "{\"key\":" + quoted(kOddKey) + '}'));
    auto parsed = json::parse(text);
    QVERIFY(parsed);
    QCOMPARE(parsed->root().find("value")->compact(), json::minify(value.toStdString()));
    QCOMPARE(parsed->root().find("found")->toBool(), true);

    // A workflow run: workflow_status's object.
    auto created = c.ok(QStringLiteral("workflow_create"), R"({"name":"build","tags":{"team":"x"}})");
    QVERIFY(created);
    const QString runId = created->str("run_id");
    QVERIFY(c.ok(QStringLiteral("workflow_claim"), "{\"run_id\":" + quoted(runId) + ",\"agent_id\":\"w1\"}"));
    QCOMPARE(readText(c, QStringLiteral("state://workflows/") + runId),
             structuredText(c, QStringLiteral("workflow_status"), "{\"run_id\":" + quoted(runId) + '}'));

    // A lease: its lease_list item (and not that of a resource whose id it prefixes).
    QVERIFY(c.ok(QStringLiteral("lease_acquire"),
                 R"({"resource_id":"db/main","holder_id":"h1","ttl_seconds":60})"));
    QVERIFY(c.ok(QStringLiteral("lease_acquire"),
                 R"({"resource_id":"db/main2","holder_id":"h2","ttl_seconds":60})"));
    auto leases = c.ok(QStringLiteral("lease_list"), R"({"prefix":"db/main"})");
    QVERIFY(leases);
    QCOMPARE(readText(c, QStringLiteral("state://leases/db%2Fmain")), leases->text("leases.0"));
    QCOMPARE(readText(c, QStringLiteral("state://leases/db%2Fmain2")), leases->text("leases.1"));
    QCOMPARE(readText(c, QStringLiteral("state://leases/db")), QByteArray("<error -32002>"));

    // A session: session_restore's object.
    QVERIFY(c.ok(QStringLiteral("session_save"), R"({"session_id":"s 1","context":{"b":2,"a":1}})"));
    QCOMPARE(readText(c, QStringLiteral("state://sessions/s%201")),
             structuredText(c, QStringLiteral("session_restore"), R"({"session_id":"s 1"})"));
}

void TestResources::readItemSpellings()
{
    SidecarClient c;
    QVERIFY2(c.start(), qPrintable(c.problem()));
    QVERIFY(c.ok(QStringLiteral("state_set"), "{\"key\":" + quoted(kOddKey) + ",\"value\":7}"));
    QVERIFY(c.ok(QStringLiteral("state_set"), R"({"key":"a b+c%d~e.f_g-h","value":8})"));
    const QByteArray expected = structuredText(c, QStringLiteral("state_get"),
                                               "{\"key\":" + quoted(kOddKey) + '}');
    // Any spelling that decodes to the key reads it: lower-case hex, a raw '/', raw UTF-8.
    QCOMPARE(readText(c, kOddKeyUri.toLower()), expected);
    QCOMPARE(readText(c, QStringLiteral("state://kv/") + kOddKey), expected);
    QCOMPARE(readText(c, QStringLiteral("state://kv/dir/sub/%D0%BA%D0%BB%D1%8E%D1%87%20%E2%9C%93")),
             expected);
    // Reserved characters encoded, unreserved ones kept ('+' and '%' must be encoded).
    QCOMPARE(readText(c, QStringLiteral("state://kv/a%20b%2Bc%25d~e.f_g-h")),
             structuredText(c, QStringLiteral("state_get"), R"({"key":"a b+c%d~e.f_g-h"})"));
}

void TestResources::readErrors_data()
{
    QTest::addColumn<QByteArray>("params");
    QTest::addColumn<int>("code");
    QTest::addColumn<bool>("subscribable"); // an item that may exist later
    auto uri = [](const QString &u) { return uriParams(u); };
    QTest::newRow("missing key") << uri(QStringLiteral("state://kv/nope")) << -32002 << true;
    QTest::newRow("unknown run") << uri(QStringLiteral("state://workflows/wf-000000000000")) << -32002
                                 << true;
    QTest::newRow("free lease") << uri(QStringLiteral("state://leases/free")) << -32002 << true;
    QTest::newRow("unknown session") << uri(QStringLiteral("state://sessions/nobody")) << -32002 << true;
    QTest::newRow("unknown collection") << uri(QStringLiteral("state://nope")) << -32002 << false;
    QTest::newRow("history item") << uri(QStringLiteral("state://history/1")) << -32002 << false;
    QTest::newRow("other scheme") << uri(QStringLiteral("file:///etc/passwd")) << -32002 << false;
    QTest::newRow("empty") << uri(QString()) << -32602 << false;
    QTest::newRow("no scheme") << uri(QStringLiteral("kv/x")) << -32602 << false;
    QTest::newRow("no authority") << uri(QStringLiteral("state:kv")) << -32602 << false;
    QTest::newRow("empty id") << uri(QStringLiteral("state://kv/")) << -32602 << false;
    QTest::newRow("bad escape") << uri(QStringLiteral("state://kv/%zz")) << -32602 << false;
    QTest::newRow("cut escape") << uri(QStringLiteral("state://kv/a%2")) << -32602 << false;
    QTest::newRow("not utf-8") << uri(QStringLiteral("state://kv/%FF%FE")) << -32602 << false;
    QTest::newRow("NUL") << uri(QStringLiteral("state://kv/a%00b")) << -32602 << false;
    QTest::newRow("too long") << uri(QStringLiteral("state://kv/") + QString(513, u'x')) << -32602 << false;
    QTest::newRow("query") << uri(QStringLiteral("state://kv/a?b=1")) << -32602 << false;
    QTest::newRow("fragment") << uri(QStringLiteral("state://kv#x")) << -32602 << false;
    QTest::newRow("no uri") << QByteArray("{}") << -32602 << false;
    QTest::newRow("uri not a string") << QByteArray(R"({"uri":5})") << -32602 << false;
}

void TestResources::readErrors()
{
    QFETCH(QByteArray, params);
    QFETCH(int, code);
    QFETCH(bool, subscribable);
    if (!m_shared) { // one server for every row
        m_shared = std::make_unique<SidecarClient>();
        QVERIFY2(m_shared->start(), qPrintable(m_shared->problem()));
    }
    SidecarClient &c = *m_shared;
    for (const char *method : {"resources/read", "resources/subscribe"}) {
        const json::Document answer = rpc(c, method, params);
        const bool subscribe = qstrcmp(method, "resources/subscribe") == 0;
        QCOMPARE(rpcErrorCode(answer), subscribe && subscribable ? 0 : code);
        if (rpcErrorCode(answer) != 0 && params.contains("\"uri\":\"")) {
            // The error names the URI (MCP "Resources", "Error Handling").
            auto request = json::parse(params);
            const json::Value *data = answer.root().find("error")->find("data");
            QVERIFY2(data && data->find("uri"), answer.root().compact().constData());
            QCOMPARE(data->find("uri")->compact(), request->root().find("uri")->compact());
        }
    }
}

void TestResources::readExpiredAndReleased()
{
    SidecarClient c;
    QVERIFY2(c.start(), qPrintable(c.problem()));
    QVERIFY(c.ok(QStringLiteral("state_set"), R"({"key":"brief","value":1,"ttl_seconds":0.2})"));
    QVERIFY(c.ok(QStringLiteral("lease_acquire"), R"({"resource_id":"r","holder_id":"h","ttl_seconds":60})"));
    QVERIFY(c.ok(QStringLiteral("session_save"), R"({"session_id":"gone","context":{}})"));
    QVERIFY(readText(c, QStringLiteral("state://leases/r")).startsWith("{"));
    QVERIFY(readText(c, QStringLiteral("state://sessions/gone")).startsWith("{"));
    QTRY_COMPARE_WITH_TIMEOUT(readText(c, QStringLiteral("state://kv/brief")), QByteArray("<error -32002>"),
                              kWaitMs);
    QVERIFY(c.ok(QStringLiteral("lease_release"), R"({"resource_id":"r","holder_id":"h"})"));
    QCOMPARE(readText(c, QStringLiteral("state://leases/r")), QByteArray("<error -32002>"));
    QVERIFY(c.ok(QStringLiteral("session_delete"), R"({"session_id":"gone"})"));
    QCOMPARE(readText(c, QStringLiteral("state://sessions/gone")), QByteArray("<error -32002>"));
}

void TestResources::collections()
{
    SidecarClient c;
    QVERIFY2(c.start(), qPrintable(c.problem()));

    // Empty store: every summary is well-formed and empty.
    for (const char *name : {"kv", "workflows", "leases", "sessions", "history"}) {
        auto empty = json::parse(readText(c, QStringLiteral("state://") + QLatin1String(name)));
        QVERIFY2(empty, name);
        QCOMPARE(empty->root().find("count")->compact(), QByteArray("0"));
        QCOMPARE(empty->root().find("items")->compact(), QByteArray("[]"));
        QCOMPARE(empty->root().find("more")->toBool(), false);
    }

    // 120 keys, pipelined.
    QList<QByteArray> ids;
    for (int i = 0; i < 120; ++i) {
        const QByteArray id = QByteArray::number(c.process().nextId());
        c.process().sendLine(R"({"jsonrpc":"2.0","id":)" + id
                             + R"(,"method":"tools/call","params":{"name":"state_set","arguments":{"key":"k)"
                             + QByteArray::number(i).rightJustified(3, '0') + R"(","value":)"
                             + QByteArray::number(i) + "}}}");
        ids << id;
    }
    for (const QByteArray &id : std::as_const(ids)) {
        auto answer = c.process().waitFor(id);
        QVERIFY(answer && structured(*answer));
    }
    for (int i = 0; i < 3; ++i)
        QVERIFY(c.ok(QStringLiteral("workflow_create"), R"({"name":"job)" + QByteArray::number(i) + R"("})"));
    QVERIFY(c.ok(QStringLiteral("lease_acquire"), R"({"resource_id":"b","holder_id":"h","ttl_seconds":60})"));
    QVERIFY(c.ok(QStringLiteral("lease_acquire"), R"({"resource_id":"a","holder_id":"h","ttl_seconds":60})"));
    QVERIFY(c.ok(QStringLiteral("session_save"), R"({"session_id":"s2","context":{}})"));
    QVERIFY(c.ok(QStringLiteral("session_save"), R"({"session_id":"s1","context":{"x":1}})"));
    auto health = c.ok(QStringLiteral("sidecar_health"), "{}");
    QVERIFY(health);
    const qint64 revision = health->integer("revision");

    auto kv = json::parse(readText(c, QStringLiteral("state://kv")));
    QVERIFY(kv);
    QCOMPARE(integer(kv->root().find("revision")), revision);
    QCOMPARE(integer(kv->root().find("count")), qint64(120));
    QCOMPARE(kv->root().find("items")->items().size(), std::size_t(100));
    QCOMPARE(kv->root().find("items")->items().front().toQString(), QStringLiteral("k000"));
    QCOMPARE(kv->root().find("items")->items().back().toQString(), QStringLiteral("k099"));
    QCOMPARE(kv->root().find("more")->toBool(), true);
    QVERIFY(kv->root().find("next_cursor") && kv->root().find("next_cursor")->isString());
    // The cursor continues with state_list.
    auto rest = c.ok(QStringLiteral("state_list"),
                     "{\"cursor\":" + kv->root().find("next_cursor")->compact() + '}');
    QVERIFY2(rest, qPrintable(c.problem()));
    QCOMPARE(rest->count("keys"), qsizetype(20));
    QCOMPARE(rest->str("keys.0"), QStringLiteral("k100"));

    // Runs newest first, as workflow_list's; leases and sessions as their list items.
    auto runs = json::parse(readText(c, QStringLiteral("state://workflows")));
    QVERIFY(runs);
    QCOMPARE(integer(runs->root().find("count")), qint64(3));
    QCOMPARE(runs->root().find("items")->compact(),
             c.ok(QStringLiteral("workflow_list"), R"({"limit":100})")->text("runs"));
    QCOMPARE(runs->root().find("items")->items().front().find("name")->toQString(), QStringLiteral("job2"));
    QCOMPARE(runs->root().find("more")->toBool(), false);

    auto leases = json::parse(readText(c, QStringLiteral("state://leases")));
    QVERIFY(leases);
    QCOMPARE(integer(leases->root().find("count")), qint64(2));
    QCOMPARE(leases->root().find("items")->compact(),
             c.ok(QStringLiteral("lease_list"), "{}")->text("leases"));

    auto sessions = json::parse(readText(c, QStringLiteral("state://sessions")));
    QVERIFY(sessions);
    QCOMPARE(integer(sessions->root().find("count")), qint64(2));
    QCOMPARE(sessions->root().find("items")->compact(),
             c.ok(QStringLiteral("session_list"), "{}")->text("sessions"));

    // History: the newest 100 entries, newest first, as history_log's.
    auto history = json::parse(readText(c, QStringLiteral("state://history")));
    QVERIFY(history);
    QCOMPARE(integer(history->root().find("count")), qint64(100));
    QCOMPARE(history->root().find("more")->toBool(), true);
    const json::Value *entries = history->root().find("items");
    QCOMPARE(integer(entries->items().front().find("revision")), revision);
    auto log = c.ok(QStringLiteral("history_log"), R"({"n":100})");
    QVERIFY(log);
    QCOMPARE(entries->compact(), log->text("entries"));
}

// ---------------------------------------------------------------- subscriptions

void TestResources::subscribeSameSession()
{
    SidecarClient c;
    QVERIFY2(c.start(), qPrintable(c.problem()));
    // Items that do not exist yet may be subscribed to; a spelling with lower-case hex is
    // announced as the client spelled it.
    const QString cafeLower = QStringLiteral("state://kv/caf%c3%a9");
    for (const QString &uri : {kOddKeyUri, QStringLiteral("state://kv"), cafeLower,
                               QStringLiteral("state://workflows"), QStringLiteral("state://history")}) {
        const json::Document answer = rpc(c, "resources/subscribe", uriParams(uri));
        QCOMPARE(answer.root().find("result") ? answer.root().find("result")->compact()
                                              : answer.root().compact(),
                 QByteArray("{}"));
    }
    QVERIFY(c.ok(QStringLiteral("state_set"), "{\"key\":" + quoted(kOddKey) + ",\"value\":1}"));
    QStringList seen;
    QVERIFY2(waitForUpdates(c, {kOddKeyUri, QStringLiteral("state://kv"), QStringLiteral("state://history")},
                            seen),
             qPrintable(seen.join(u' ')));

    QVERIFY(c.ok(QStringLiteral("state_set"), R"({"key":"café","value":2})"));
    QVERIFY2(waitForUpdates(c, {cafeLower}, seen), qPrintable(seen.join(u' ')));

    QVERIFY(c.ok(QStringLiteral("workflow_create"), R"({"name":"w"})"));
    QVERIFY2(waitForUpdates(c, {QStringLiteral("state://workflows")}, seen), qPrintable(seen.join(u' ')));

    // Nothing for URIs nobody subscribed to (other keys, other kinds' collections).
    for (const QString &uri : std::as_const(seen)) {
        QVERIFY2(uri == kOddKeyUri || uri == cafeLower || uri == QStringLiteral("state://kv")
                     || uri == QStringLiteral("state://workflows")
                     || uri == QStringLiteral("state://history"),
                 qPrintable(uri));
    }
}

void TestResources::subscribeOtherProcess()
{
    SidecarClient a;
    QVERIFY2(a.start(), qPrintable(a.problem()));
    SidecarClient b;
    QVERIFY2(b.start({}, a.dbPath()), qPrintable(b.problem()));

    const QStringList uris{QStringLiteral("state://kv/shared%2Fkey"), QStringLiteral("state://kv"),
                           QStringLiteral("state://sessions/s%201"),  QStringLiteral("state://sessions"),
                           QStringLiteral("state://leases/gpu"),      QStringLiteral("state://leases")};
    for (const QString &uri : uris)
        QVERIFY(rpc(a, "resources/subscribe", uriParams(uri)).root().find("result"));

    // Writes by the second process reach the first one's subscribers.
    QVERIFY(b.ok(QStringLiteral("state_set"), R"({"key":"shared/key","value":{"from":"b"}})"));
    QStringList seen;
    QVERIFY2(waitForUpdates(a, {uris[0], uris[1]}, seen), qPrintable(seen.join(u' ')));
    QCOMPARE(readText(a, uris[0]), structuredText(b, QStringLiteral("state_get"), R"({"key":"shared/key"})"));

    QVERIFY(b.ok(QStringLiteral("session_save"), R"({"session_id":"s 1","context":{"n":1}})"));
    QVERIFY(
        b.ok(QStringLiteral("lease_acquire"), R"({"resource_id":"gpu","holder_id":"b","ttl_seconds":30})"));
    QVERIFY2(waitForUpdates(a, {uris[2], uris[3], uris[4], uris[5]}, seen), qPrintable(seen.join(u' ')));

    // And a write by the subscriber's own process still does.
    seen.clear();
    QVERIFY(a.ok(QStringLiteral("state_set"), R"({"key":"shared/key","value":{"from":"a"}})"));
    QVERIFY2(waitForUpdates(a, {uris[0], uris[1]}, seen), qPrintable(seen.join(u' ')));
    // The second process subscribed to nothing and hears nothing.
    QVERIFY(b.alive());
    QCOMPARE(collectUpdates(b, 300), QStringList());
}

void TestResources::unsubscribeStops()
{
    SidecarClient c;
    QVERIFY2(c.start(), qPrintable(c.problem()));
    const QString k1 = QStringLiteral("state://kv/k1");
    const QString k2 = QStringLiteral("state://kv/k2");
    QVERIFY(rpc(c, "resources/subscribe", uriParams(k1)).root().find("result"));
    QVERIFY(rpc(c, "resources/subscribe", uriParams(k2)).root().find("result"));
    QVERIFY(c.ok(QStringLiteral("state_set"), R"({"key":"k1","value":1})"));
    QStringList seen;
    QVERIFY2(waitForUpdates(c, {k1}, seen), qPrintable(seen.join(u' ')));

    // Unsubscribing twice is fine; so is unsubscribing from what was never subscribed.
    QCOMPARE(rpc(c, "resources/unsubscribe", uriParams(k1)).root().find("result")->compact(),
             QByteArray("{}"));
    QCOMPARE(rpc(c, "resources/unsubscribe", uriParams(k1)).root().find("result")->compact(),
             QByteArray("{}"));
    QCOMPARE(rpc(c, "resources/unsubscribe", uriParams(QStringLiteral("state://kv/never")))
                 .root()
                 .find("result")
                 ->compact(),
             QByteArray("{}"));
    QCOMPARE(rpcErrorCode(rpc(c, "resources/unsubscribe", uriParams(QStringLiteral("state://kv/%zz")))),
             -32602);

    // After a while (the coalescing window of k1's last notification is over), write k1 then
    // k2: once k2 is announced the server has handled k1's write too, and said nothing of it.
    QTest::qWait(400);
    seen.clear();
    QVERIFY(c.ok(QStringLiteral("state_set"), R"({"key":"k1","value":2})"));
    QVERIFY(c.ok(QStringLiteral("state_set"), R"({"key":"k2","value":2})"));
    QVERIFY2(waitForUpdates(c, {k2}, seen), qPrintable(seen.join(u' ')));
    seen += collectUpdates(c, 600);
    QVERIFY2(!seen.contains(k1), qPrintable(seen.join(u' ')));
}

void TestResources::resetTouchesEverySubscription()
{
    SidecarClient c;
    QVERIFY2(c.start({QStringLiteral("--allow-reset")}), qPrintable(c.problem()));
    QVERIFY(c.ok(QStringLiteral("state_set"), R"({"key":"x","value":1})"));
    const QStringList uris{QStringLiteral("state://kv/x"), QStringLiteral("state://sessions/y"),
                           QStringLiteral("state://leases")};
    for (const QString &uri : uris)
        QVERIFY(rpc(c, "resources/subscribe", uriParams(uri)).root().find("result"));
    QVERIFY(c.ok(QStringLiteral("sidecar_reset"), R"({"confirm":"RESET"})"));
    QStringList seen;
    QVERIFY2(waitForUpdates(c, uris, seen), qPrintable(seen.join(u' ')));
    QCOMPARE(readText(c, uris[0]), QByteArray("<error -32002>"));
}

void TestResources::coalescesRapidWrites()
{
    SidecarClient c;
    QVERIFY2(c.start(), qPrintable(c.problem()));
    const QString uri = QStringLiteral("state://kv/hot");
    QVERIFY(rpc(c, "resources/subscribe", uriParams(uri)).root().find("result"));

    // 50 writes sent at once; every answer and notification arrives on the one stdout, in the
    // order the server sent them.
    constexpr int kWrites = 50;
    QByteArray batch;
    QList<QByteArray> ids;
    for (int i = 1; i <= kWrites; ++i) {
        const QByteArray id = QByteArray::number(c.process().nextId());
        ids << id;
        batch += R"({"jsonrpc":"2.0","id":)" + id
                 + R"(,"method":"tools/call","params":{"name":"state_set","arguments":{"key":"hot","value":)"
                 + QByteArray::number(i) + "}}}\n";
    }
    c.process().process().write(batch);

    // Read the stream in order: each update, and the position of the answer of the write that
    // got the highest revision (the last write).
    qint64 lastRevision = -1;
    int lastWritePosition = -1;
    QList<int> updatePositions;
    int position = 0;
    int answers = 0;
    QDeadlineTimer deadline(60000);
    QDeadlineTimer quiet; // after the last answer: wait for stragglers
    bool allAnswered = false;
    while (!deadline.hasExpired() && !(allAnswered && quiet.hasExpired())) {
        c.process().pump(20);
        for (const QByteArray &line : c.process().takeUnclaimed()) {
            ++position;
            auto doc = json::parse(line);
            QVERIFY2(doc, line.constData());
            if (const json::Value *method = doc->root().find("method")) {
                QCOMPARE(QByteArray::fromStdString(method->text()), kUpdated);
                QCOMPARE(doc->root().find("params")->find("uri")->toQString(), uri);
                updatePositions << position;
                continue;
            }
            const json::Value *sc = structured(*doc);
            QVERIFY2(sc, line.constData());
            const qint64 revision = integer(sc->find("revision"));
            if (revision > lastRevision) {
                lastRevision = revision;
                lastWritePosition = position;
            }
            if (++answers == kWrites) {
                allAnswered = true;
                quiet.setRemainingTime(2000);
            }
        }
    }
    QCOMPARE(answers, kWrites);
    qInfo("%d writes, %d notifications", kWrites, int(updatePositions.size()));
    QVERIFY2(!updatePositions.isEmpty(), "no notification at all");
    // Coalesced: far fewer than one per write (one per 250 ms window at most).
    QVERIFY2(updatePositions.size() <= kWrites / 4, qPrintable(QString::number(updatePositions.size())));
    // And the last write is announced: a notification follows its answer (answers leave before
    // the commit is announced, and the announcement needs one more read of the changes).
    QVERIFY2(updatePositions.back() > lastWritePosition,
             qPrintable(QStringLiteral("last update at %1, last write answered at %2")
                            .arg(updatePositions.back())
                            .arg(lastWritePosition)));
    QCOMPARE(readText(c, uri), structuredText(c, QStringLiteral("state_get"), R"({"key":"hot"})"));
    QVERIFY(json::parse(readText(c, uri))->root().find("value")->compact() == QByteArray::number(kWrites));
}

QTEST_GUILESS_MAIN(TestResources)
#include "tst_resources.moc"
