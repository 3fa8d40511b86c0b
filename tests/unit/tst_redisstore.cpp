// RedisStore: the storage contract suite (storecontract.*) against a real redis-server that the
// test starts on a free loopback port (each store gets a prefix of its own), then what is
// particular to Redis: scripts reloaded after SCRIPT FLUSH, Unavailable while Redis is down and
// recovery without help, two stores on one Redis seeing each other's changes, the data layout
// (nothing outside the prefix, indexes consistent after a reset).

#include <QTcpServer>
#include <QtTest>

#include <memory>

#include "redisserverprocess.h"
#include "storecontract.h"
#include "store/redis/redisconnection.h"
#include "store/redis/redisstore.h"
#include "testutil.h"

using namespace sidecar;
using namespace sidecar::store;

namespace {

// Runs one command on a fresh connection and waits for its reply (for inspecting Redis itself).
std::optional<redis::RedisReply> redisCommand(const redis::RedisEndpoint &endpoint, const QList<QByteArray> &argv)
{
    redis::RedisConnection c(endpoint);
    c.start();
    if (!QTest::qWaitFor([&] { return c.isConnected(); }, 15000))
        return std::nullopt;
    std::optional<redis::RedisReply> out;
    bool done = false;
    c.command(argv, [&](Result<redis::RedisReply> r) {
        if (r)
            out = *r;
        done = true;
    });
    if (!QTest::qWaitFor([&] { return done; }, 15000))
        return std::nullopt;
    return out;
}

// A loopback port nothing listens on (free a moment ago).
quint16 unusedPort()
{
    QTcpServer probe;
    probe.listen(QHostAddress::LocalHost, 0);
    return probe.serverPort();
}

template<class T, class Call>
Result<T> wait(Call call)
{
    std::optional<Result<T>> result;
    call([&](Result<T> r) { result = std::move(r); });
    if (!QTest::qWaitFor([&] { return result.has_value(); }, 20000))
        return fail(ErrorCode::Internal, QStringLiteral("no answer within 20 s"));
    return std::move(*result);
}

} // namespace

class TestRedisStore : public QObject
{
    Q_OBJECT
public:
    explicit TestRedisStore(test::RedisServerProcess &server) : m_server(server) {}

private slots:
    void scriptsReloadedAfterFlush();
    void unavailableWhileDownThenRecovers();
    void openFailsClearlyWhenUnreachable();
    void twoStoresSeeEachOthersChanges();
    void everyKeyUnderThePrefix();

private:
    std::unique_ptr<RedisStore> makeStore(const QString &prefix)
    {
        auto endpoint = redis::parseRedisUrl(m_server.url());
        if (!endpoint)
            return nullptr;
        redis::RedisConnectionOptions connection;
        connection.commandTimeoutMs = 3000;
        connection.maxBackoffMs = 500;
        auto s = std::make_unique<RedisStore>(*endpoint, prefix, StoreOptions{}, connection);
        if (!s->open(15000))
            return nullptr;
        return s;
    }

    test::RedisServerProcess &m_server;
    int m_next = 0;
    QString nextPrefix() { return QStringLiteral("specific%1:").arg(++m_next); }
};

// A Redis that lost its script cache (restart, SCRIPT FLUSH) answers NOSCRIPT: the store resends
// the source, and the call succeeds.
void TestRedisStore::scriptsReloadedAfterFlush()
{
    auto s = makeStore(nextPrefix());
    QVERIFY(s);
    KvSetArgs set;
    set.key = QStringLiteral("a");
    set.value = "1";
    auto first = wait<KvWriteResult>([&](auto done) { s->kvSet(set, done); });
    QVERIFY2(first && first->ok, first ? "" : qPrintable(first.error().message));
    auto flushed = redisCommand(*redis::parseRedisUrl(m_server.url()), {"SCRIPT", "FLUSH"});
    QVERIFY(flushed && !flushed->isError());
    set.value = "2";
    auto second = wait<KvWriteResult>([&](auto done) { s->kvSet(set, done); });
    QVERIFY2(second && second->ok, second ? "" : qPrintable(second.error().message));
    auto got = wait<KvEntry>([&](auto done) { s->kvGet(QStringLiteral("a"), done); });
    QVERIFY(got && got->found);
    QCOMPARE(got->value, QByteArray("2"));
}

// kill -9 of Redis: calls fail with Unavailable at once (no hang), and once Redis is back on the
// same port the store works again without being told.
void TestRedisStore::unavailableWhileDownThenRecovers()
{
    auto s = makeStore(nextPrefix());
    QVERIFY(s);
    m_server.kill();
    QElapsedTimer timer;
    timer.start();
    Result<KvEntry> during = fail(ErrorCode::Internal, {});
    // The first call may still be in flight when the link breaks; either way it fails Unavailable.
    QTRY_VERIFY_WITH_TIMEOUT((during = wait<KvEntry>([&](auto done) { s->kvGet(QStringLiteral("k"), done); }),
                              !during && during.error().code == ErrorCode::Unavailable),
                             20000);
    QVERIFY2(m_server.restart(), qPrintable(m_server.errorString()));
    QTRY_VERIFY_WITH_TIMEOUT(s->isConnected(), 20000);
    KvSetArgs set;
    set.key = QStringLiteral("after");
    set.value = "true";
    Result<KvWriteResult> after = fail(ErrorCode::Internal, {});
    QTRY_VERIFY_WITH_TIMEOUT((after = wait<KvWriteResult>([&](auto done) { s->kvSet(set, done); }), after && after->ok),
                             20000);
}

void TestRedisStore::openFailsClearlyWhenUnreachable()
{
    redis::RedisEndpoint nowhere;
    nowhere.host = QStringLiteral("127.0.0.1");
    nowhere.port = unusedPort();
    nowhere.password = QStringLiteral("s3cret-password");
    RedisStore s(nowhere, QStringLiteral("x:"), StoreOptions{});
    auto opened = s.open(1500);
    QVERIFY(!opened);
    QCOMPARE(opened.error().code, ErrorCode::Unavailable);
    QVERIFY2(opened.error().message.contains(QString::number(nowhere.port)), qPrintable(opened.error().message));
    QVERIFY2(!opened.error().message.contains(nowhere.password), qPrintable(opened.error().message));
    // Calls answer Unavailable at once, never hang.
    auto got = wait<KvEntry>([&](auto done) { s.kvGet(QStringLiteral("k"), done); });
    QVERIFY(!got);
    QCOMPARE(got.error().code, ErrorCode::Unavailable);
}

// Two sidecars on one Redis and one prefix: a write through one emits changed() on the other
// (pub/sub), and each sees the other's data at once.
void TestRedisStore::twoStoresSeeEachOthersChanges()
{
    const QString prefix = nextPrefix();
    auto a = makeStore(prefix);
    auto b = makeStore(prefix);
    QVERIFY(a && b);
    qint64 seenByB = 0;
    connect(b.get(), &Store::changed, this, [&](qint64 revision) { seenByB = std::max(seenByB, revision); });
    KvSetArgs set;
    set.key = QStringLiteral("shared");
    set.value = R"({"from":"a"})";
    auto written = wait<KvWriteResult>([&](auto done) { a->kvSet(set, done); });
    QVERIFY(written && written->ok);
    QTRY_VERIFY_WITH_TIMEOUT(seenByB >= written->revision, 20000);
    auto got = wait<KvEntry>([&](auto done) { b->kvGet(QStringLiteral("shared"), done); });
    QVERIFY(got && got->found);
    QCOMPARE(got->value, set.value);
    QCOMPARE(got->version, written->version);
}

// Every key the store writes starts with its prefix; after reset only `meta` is left.
void TestRedisStore::everyKeyUnderThePrefix()
{
    const QString prefix = QStringLiteral("layout-check:");
    auto s = makeStore(prefix);
    QVERIFY(s);
    KvSetArgs set;
    set.key = QStringLiteral("k");
    set.value = "1";
    set.ttlSeconds = 3600;
    QVERIFY(wait<KvWriteResult>([&](auto done) { s->kvSet(set, done); }));
    WorkflowCreateArgs create;
    create.name = QStringLiteral("job");
    create.tags = {{QStringLiteral("team"), QStringLiteral("a")}};
    create.idempotencyKey = QStringLiteral("idem");
    QVERIFY(wait<WorkflowCreateResult>([&](auto done) { s->workflowCreate(create, done); }));
    LeaseAcquireArgs lease;
    lease.resourceId = QStringLiteral("r");
    lease.holderId = QStringLiteral("h");
    lease.ttlSeconds = 3600;
    QVERIFY(wait<LeaseAcquireResult>([&](auto done) { s->leaseAcquire(lease, done); }));
    SessionSaveArgs session;
    session.sessionId = QStringLiteral("s");
    session.context = "{}";
    QVERIFY(wait<SessionSaveResult>([&](auto done) { s->sessionSave(session, done); }));

    const auto endpoint = *redis::parseRedisUrl(m_server.url());
    auto keys = redisCommand(endpoint, {"KEYS", "*"}); // a test may look; the store never does
    QVERIFY(keys);
    int ours = 0;
    for (const auto &k : keys->elements) {
        if (k.str.startsWith("layout-check:"))
            ++ours;
        else
            QVERIFY2(k.str.contains(':'), k.str.constData()); // other tests' prefixes
    }
    QVERIFY(ours > 5);

    auto cleared = wait<ResetResult>([&](auto done) { s->reset(QString(), done); });
    QVERIFY(cleared && cleared->ok);
    keys = redisCommand(endpoint, {"KEYS", "layout-check:*"});
    QVERIFY(keys);
    QStringList left;
    for (const auto &k : keys->elements)
        left << QString::fromUtf8(k.str);
    left.sort();
    // meta keeps the revision; history keeps the reset's own entry.
    const QStringList allowed{prefix + QStringLiteral("history"), prefix + QStringLiteral("hkey:"),
                              prefix + QStringLiteral("hkind:store"), prefix + QStringLiteral("meta")};
    for (const QString &k : std::as_const(left))
        QVERIFY2(allowed.contains(k), qPrintable(QStringLiteral("left after reset: ") + left.join(u' ')));
}

int main(int argc, char *argv[])
{
    QCoreApplication app(argc, argv);
    test::RedisServerProcess server;
    if (!server.start()) {
        qCritical("redis-server did not start: %s", qPrintable(server.errorString()));
        return 1;
    }
    auto endpoint = redis::parseRedisUrl(server.url());
    if (!endpoint) {
        qCritical("bad URL %s", qPrintable(server.url()));
        return 1;
    }
    int prefixes = 0;
    test::StoreContract contract([&](const StoreOptions &options) -> std::unique_ptr<Store> {
        auto s = std::make_unique<RedisStore>(*endpoint, QStringLiteral("contract%1:").arg(++prefixes), options);
        if (auto r = s->open(15000); !r) {
            qWarning("RedisStore::open failed: %s", qPrintable(r.error().message));
            return nullptr;
        }
        return s;
    });
    TestRedisStore specific(server);
    return test::runSuites(app.arguments(), {&contract, &specific});
}

#include "tst_redisstore.moc"
