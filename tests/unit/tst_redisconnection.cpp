// RedisConnection (libcore/store/redis/redisconnection.h) against real redis-servers that the
// test starts on free loopback ports (tests/support/redisserverprocess.h): REDIS_URL parsing
// (never echoing the password), commands with binary-safe values, 10k pipelined commands
// answered in order, scripts with the NOSCRIPT fallback, error replies, pub/sub, AUTH (right and
// wrong passwords, nothing secret in errors or logs), SELECT, a unix socket, kill -9 of Redis
// mid-traffic and recovery, the per-command timeout, and close()/destruction answering every
// callback exactly once. Deadlines are generous; nothing here measures speed.

#include <QLoggingCategory>
#include <QMutex>
#include <QRandomGenerator>
#include <QSignalSpy>
#include <QTcpServer>
#include <QtTest>

#include <algorithm>
#include <memory>
#include <optional>

#include "redisserverprocess.h"
#include "store/redis/redisconnection.h"
#include "testutil.h"

using namespace sidecar;
using namespace sidecar::store::redis;

Q_DECLARE_METATYPE(sidecar::ErrorCode)

namespace {

constexpr int kLong = 20000; // generous deadline for anything asynchronous

// Every message logged while it exists (to prove that no password reaches a log line).
class LogCapture
{
public:
    LogCapture()
    {
        s_lines.clear();
        QLoggingCategory::setFilterRules(QStringLiteral("sidecar.redis*.debug=true"));
        m_previous = qInstallMessageHandler(&LogCapture::handler);
    }
    ~LogCapture()
    {
        qInstallMessageHandler(m_previous);
        QLoggingCategory::setFilterRules(QString());
    }
    QString all() const
    {
        QMutexLocker lock(&s_mutex);
        return s_lines.join(u'\n');
    }

private:
    static void handler(QtMsgType, const QMessageLogContext &, const QString &message)
    {
        QMutexLocker lock(&s_mutex);
        s_lines << message;
    }
    QtMessageHandler m_previous = nullptr;
    static inline QMutex s_mutex;
    static inline QStringList s_lines;
};

RedisConnectionOptions quickOptions()
{
    RedisConnectionOptions o;
    o.connectTimeoutMs = 5000;
    o.commandTimeoutMs = 10000;
    o.minBackoffMs = 50;
    o.maxBackoffMs = 500;
    return o;
}

RedisEndpoint endpointOf(const QString &url)
{
    auto e = parseRedisUrl(url);
    return e ? *e : RedisEndpoint{};
}

// One command, waiting for its callback (which must not run inside the call).
Result<RedisReply> run(RedisConnection &c, const QList<QByteArray> &argv, int timeoutMs = kLong)
{
    return test::await<RedisReply>([&](auto done) { c.command(argv, done); }, timeoutMs);
}

Result<RedisReply> runScript(RedisConnection &c, const RedisScript &script, const QList<QByteArray> &keys,
                             const QList<QByteArray> &args)
{
    return test::await<RedisReply>([&](auto done) { c.script(script, keys, args, done); }, kLong);
}

QByteArray allBytes()
{
    QByteArray bytes;
    for (int i = 0; i < 256; ++i)
        bytes.append(char(i));
    return bytes;
}

QString describeReply(const Result<RedisReply> &r)
{
    if (!r)
        return test::describe(r.error());
    return QStringLiteral("type %1: %2").arg(int(r->type)).arg(QString::fromUtf8(r->str.left(200)));
}

// A loopback port nothing listens on (free a moment ago).
quint16 unusedPort()
{
    QTcpServer probe;
    probe.listen(QHostAddress::LocalHost, 0);
    return probe.serverPort();
}

} // namespace

class TestRedisConnection : public QObject
{
    Q_OBJECT

private slots:
    void initTestCase();

    void parseUrl_data();
    void parseUrl();
    void badUrl_data();
    void badUrl();
    void endpointDisplay();
    void replyHelpers();
    void scriptSha();

    void commandsAndBinaryValues();
    void replyTypes();
    void errorRepliesAreReplies();
    void pipelineInOrder();
    void scriptWithNoscriptFallback();
    void commandsWhileDownFailAfterTheCall();
    void subscriberReceivesMessages();
    void subscriberTakesNoCommands();
    void authWithPassword();
    void wrongPasswordIsNotConnected();
    void databaseNumber();
    void unixSocket();
    void killMidTrafficThenRecover();
    void commandTimeoutBreaksTheLink();
    void connectTimeout();
    void connectionRefused();
    void closeAnswersPending();
    void destructionAnswersPending();
    void deletedFromItsOwnCallback();

private:
    std::unique_ptr<RedisConnection> connectTo(const QString &url, RedisConnectionOptions options = quickOptions(),
                                               RedisConnection::Mode mode = RedisConnection::Mode::Commands)
    {
        auto c = std::make_unique<RedisConnection>(endpointOf(url), options, mode);
        c->start();
        if (!QTest::qWaitFor([&] { return c->isConnected(); }, kLong)) {
            qWarning("no connection to %s: %s", qPrintable(url), qPrintable(c->lastError()));
            return nullptr;
        }
        return c;
    }

    test::RedisServerProcess m_redis;
};

void TestRedisConnection::initTestCase()
{
    qRegisterMetaType<ErrorCode>();
    QVERIFY2(m_redis.start(), qPrintable(m_redis.errorString()));
    QVERIFY(m_redis.port() != 0);
    QVERIFY(m_redis.pid() > 0);
    QCOMPARE(m_redis.url(), QStringLiteral("redis://127.0.0.1:%1").arg(m_redis.port()));
}

// ---- URL parsing

void TestRedisConnection::parseUrl_data()
{
    QTest::addColumn<QString>("url");
    QTest::addColumn<QString>("host");
    QTest::addColumn<int>("port");
    QTest::addColumn<QString>("unixPath");
    QTest::addColumn<QString>("user");
    QTest::addColumn<QString>("password");
    QTest::addColumn<int>("db");

    QTest::newRow("host only") << "redis://localhost" << "localhost" << 6379 << "" << "" << "" << 0;
    QTest::newRow("host port db") << "redis://127.0.0.1:6380/2" << "127.0.0.1" << 6380 << "" << "" << "" << 2;
    QTest::newRow("trailing slash") << "redis://h:1/" << "h" << 1 << "" << "" << "" << 0;
    QTest::newRow("upper-case scheme") << "REDIS://Cache-1.example_x:65535/15" << "Cache-1.example_x" << 65535 << ""
                                       << "" << "" << 15;
    QTest::newRow("spaces around") << "  redis://h:7000  " << "h" << 7000 << "" << "" << "" << 0;
    QTest::newRow("password only") << "redis://:s3cret@h:1234" << "h" << 1234 << "" << "" << "s3cret" << 0;
    QTest::newRow("password without colon (redis-cli)") << "redis://s3cret@h" << "h" << 6379 << "" << ""
                                                        << "s3cret" << 0;
    QTest::newRow("user and password") << "redis://alice:pw@h/3" << "h" << 6379 << "" << "alice" << "pw" << 3;
    QTest::newRow("percent-decoded") << "redis://al%69ce:p%40ss%3Aw%2Fd%25@h" << "h" << 6379 << "" << "alice"
                                     << "p@ss:w/d%" << 0;
    QTest::newRow("unencoded @ and / in the password") << "redis://:p@s/s@h:9/1" << "h" << 9 << "" << ""
                                                       << "p@s/s" << 1;
    QTest::newRow("utf-8 password") << "redis://:%C3%A9t%C3%A9@h" << "h" << 6379 << "" << ""
                                    << QStringLiteral("été") << 0;
    QTest::newRow("ipv6") << "redis://[::1]:7000/4" << "::1" << 7000 << "" << "" << "" << 4;
    QTest::newRow("ipv6 default port") << "redis://[fe80::1]" << "fe80::1" << 6379 << "" << "" << "" << 0;
    QTest::newRow("unix") << "unix:///tmp/redis.sock" << "" << 6379 << "/tmp/redis.sock" << "" << "" << 0;
    QTest::newRow("unix db") << "unix:///var/run/redis/r.sock?db=4" << "" << 6379 << "/var/run/redis/r.sock" << ""
                             << "" << 4;
    QTest::newRow("unix encoded path") << "unix:///tmp/with%20space.sock" << "" << 6379 << "/tmp/with space.sock"
                                       << "" << "" << 0;
    QTest::newRow("unix password") << "unix://:pw@/tmp/r.sock?db=1" << "" << 6379 << "/tmp/r.sock" << "" << "pw"
                                   << 1;
}

void TestRedisConnection::parseUrl()
{
    QFETCH(QString, url);
    QFETCH(QString, host);
    QFETCH(int, port);
    QFETCH(QString, unixPath);
    QFETCH(QString, user);
    QFETCH(QString, password);
    QFETCH(int, db);
    const auto e = parseRedisUrl(url);
    QVERIFY2(e, e ? "" : qPrintable(e.error().message));
    QCOMPARE(e->host, host);
    QCOMPARE(int(e->port), port);
    QCOMPARE(e->unixPath, unixPath);
    QCOMPARE(e->user, user);
    QCOMPARE(e->password, password);
    QCOMPARE(e->db, db);
    if (!password.isEmpty())
        QVERIFY(!e->display().contains(password));
}

void TestRedisConnection::badUrl_data()
{
    QTest::addColumn<QString>("url");
    QTest::addColumn<QString>("secret"); // must not appear in the error

    QTest::newRow("empty") << "" << "";
    QTest::newRow("no scheme") << "localhost:6379" << "";
    QTest::newRow("http") << "http://h" << "";
    QTest::newRow("tls") << "rediss://:hunter2@h" << "hunter2";
    QTest::newRow("no host") << "redis://" << "";
    QTest::newRow("credentials, no host") << "redis://:hunter2@" << "hunter2";
    QTest::newRow("port 0") << "redis://:hunter2@h:0" << "hunter2";
    QTest::newRow("port too big") << "redis://u:hunter2@h:65536" << "hunter2";
    QTest::newRow("port not a number") << "redis://:hunter2@h:abc" << "hunter2";
    QTest::newRow("empty port") << "redis://h:" << "";
    QTest::newRow("db not a number") << "redis://:hunter2@h/x" << "hunter2";
    QTest::newRow("db negative") << "redis://h/-1" << "";
    QTest::newRow("db with extra path") << "redis://h/1/2" << "";
    QTest::newRow("query") << "redis://:hunter2@h/1?timeout=3" << "hunter2";
    QTest::newRow("fragment") << "redis://h#x" << "";
    QTest::newRow("bare ipv6") << "redis://::1:6379" << "";
    QTest::newRow("bad ipv6") << "redis://[zz::1]" << "";
    QTest::newRow("unterminated ipv6") << "redis://[::1" << "";
    QTest::newRow("space in host") << "redis://ho st" << "";
    QTest::newRow("user without password") << "redis://alice:@h" << "";
    QTest::newRow("bad percent-encoding") << "redis://:hunter2%zz@h" << "hunter2";
    QTest::newRow("truncated percent-encoding") << "redis://:hunter2%4@h" << "hunter2";
    QTest::newRow("unix no path") << "unix://" << "";
    QTest::newRow("unix root") << "unix:///" << "";
    QTest::newRow("unix relative") << "unix://relative/path.sock" << "";
    QTest::newRow("unix bad db") << "unix:///tmp/r.sock?db=x" << "";
    QTest::newRow("unix unknown parameter") << "unix:///tmp/r.sock?password=hunter2" << "hunter2";
    QTest::newRow("unix bad credentials") << "unix://:hunter2%g1@/tmp/r.sock" << "hunter2";
}

void TestRedisConnection::badUrl()
{
    QFETCH(QString, url);
    QFETCH(QString, secret);
    const auto e = parseRedisUrl(url);
    QVERIFY2(!e, e ? qPrintable(e->display()) : "");
    QCOMPARE(e.error().code, ErrorCode::InvalidArgument);
    QVERIFY(!e.error().message.isEmpty());
    if (!secret.isEmpty())
        QVERIFY2(!e.error().message.contains(secret), qPrintable(e.error().message));
}

void TestRedisConnection::endpointDisplay()
{
    QCOMPARE(endpointOf(QStringLiteral("redis://:pw@127.0.0.1:6380/2")).display(), QStringLiteral("127.0.0.1:6380"));
    QCOMPARE(endpointOf(QStringLiteral("redis://u:pw@[::1]:7000")).display(), QStringLiteral("[::1]:7000"));
    QCOMPARE(endpointOf(QStringLiteral("unix:///tmp/r.sock?db=2")).display(), QStringLiteral("/tmp/r.sock"));
}

void TestRedisConnection::replyHelpers()
{
    RedisReply integer;
    integer.type = RedisReply::Type::Integer;
    integer.integer = -42;
    QCOMPARE(integer.toInt64(), -42);
    QCOMPARE(integer.toDouble(), -42.0);
    QCOMPARE(integer.text(), QString());

    RedisReply number;
    number.type = RedisReply::Type::String;
    number.str = "1732451234.123456";
    QCOMPARE(number.toDouble(), 1732451234.123456);
    QCOMPARE(number.toInt64(7), 7); // not an integer
    number.str = "9007199254740993";
    QCOMPARE(number.toInt64(), 9007199254740993LL);
    QCOMPARE(number.text(), QStringLiteral("9007199254740993"));

    RedisReply nil;
    QVERIFY(nil.isNil());
    QCOMPARE(nil.toInt64(5), 5);
    QCOMPARE(nil.toDouble(1.5), 1.5);
    QVERIFY(nil.at(0).isNil());

    RedisReply array;
    array.type = RedisReply::Type::Array;
    array.elements.push_back(number);
    array.elements.push_back(integer);
    QCOMPARE(array.at(1).integer, -42);
    QVERIFY(array.at(2).isNil());
    QVERIFY(array.at(0).at(0).isNil());

    RedisReply error;
    error.type = RedisReply::Type::Error;
    error.str = "ERR x";
    QVERIFY(error.isError());
    QCOMPARE(error.text(), QString());
}

void TestRedisConnection::scriptSha()
{
    const RedisScript s("return 1");
    QCOMPARE(s.source(), QByteArray("return 1"));
    QCOMPARE(s.sha1(), QByteArray("e0e1f9fabfc9d4800c877a703b823ac0578ff8db")); // as Redis's SCRIPT LOAD says
}

// ---- against Redis

void TestRedisConnection::commandsAndBinaryValues()
{
    auto c = connectTo(m_redis.url());
    QVERIFY(c);
    const QByteArray bytes = allBytes();
    const QByteArray key = QByteArray("bin\0key\xff", 8);
    auto set = run(*c, {"SET", key, bytes});
    QVERIFY2(set && set->type == RedisReply::Type::Status, qPrintable(describeReply(set)));
    QCOMPARE(set->str, QByteArray("OK"));
    auto got = run(*c, {"GET", key});
    QVERIFY2(got && got->type == RedisReply::Type::String, qPrintable(describeReply(got)));
    QCOMPARE(got->str, bytes);
    QCOMPARE(got->str.size(), 256);

    // Empty and large values.
    QVERIFY(run(*c, {"SET", "empty", QByteArray()}));
    got = run(*c, {"GET", "empty"});
    QVERIFY(got && got->type == RedisReply::Type::String);
    QVERIFY(got->str.isEmpty());
    QByteArray big(2 * 1024 * 1024, '\0');
    for (qsizetype i = 0; i < big.size(); ++i)
        big[i] = char(i * 7);
    QVERIFY(run(*c, {"SET", "big", big}));
    got = run(*c, {"GET", "big"});
    QVERIFY(got && got->str == big);

    // A hash with binary fields and values.
    QVERIFY(run(*c, {"HSET", "h", bytes, bytes.right(10), "plain", "x"}));
    auto all = run(*c, {"HGET", "h", bytes});
    QVERIFY(all && all->str == bytes.right(10));
}

void TestRedisConnection::replyTypes()
{
    auto c = connectTo(m_redis.url());
    QVERIFY(c);
    auto missing = run(*c, {"GET", "no-such-key"});
    QVERIFY(missing && missing->isNil());
    auto incr = run(*c, {"INCRBY", "counter-types", "41"});
    QVERIFY(incr && incr->type == RedisReply::Type::Integer);
    QCOMPARE(incr->integer, 41);
    auto nested = run(*c, {"EVAL", "return {1, {2, 'x', false}, 'y', -3}", "0"});
    QVERIFY2(nested && nested->type == RedisReply::Type::Array, qPrintable(describeReply(nested)));
    QCOMPARE(nested->elements.size(), size_t(4));
    QCOMPARE(nested->at(0).integer, 1);
    QCOMPARE(nested->at(1).type, RedisReply::Type::Array);
    QCOMPARE(nested->at(1).at(0).integer, 2);
    QCOMPARE(nested->at(1).at(1).str, QByteArray("x"));
    QVERIFY(nested->at(1).at(2).isNil());
    QCOMPARE(nested->at(2).text(), QStringLiteral("y"));
    QCOMPARE(nested->at(3).toInt64(), -3);
    auto empty = run(*c, {"LRANGE", "no-such-list", "0", "-1"});
    QVERIFY(empty && empty->type == RedisReply::Type::Array && empty->elements.empty());
    auto time = run(*c, {"TIME"});
    QVERIFY(time && time->at(0).toInt64() > 1600000000);
}

void TestRedisConnection::errorRepliesAreReplies()
{
    auto c = connectTo(m_redis.url());
    QVERIFY(c);
    QVERIFY(run(*c, {"SET", "not-a-number", "abc"}));
    auto incr = run(*c, {"INCR", "not-a-number"});
    QVERIFY2(incr, qPrintable(describeReply(incr))); // a reply, not a failed Result
    QCOMPARE(incr->type, RedisReply::Type::Error);
    QVERIFY2(incr->str.startsWith("ERR"), incr->str.constData());
    auto unknown = run(*c, {"NO-SUCH-COMMAND", "x"});
    QVERIFY(unknown && unknown->isError());
    // The link is still fine afterwards.
    auto ping = run(*c, {"PING"});
    QVERIFY(ping && ping->text() == QStringLiteral("PONG"));
    QVERIFY(c->isConnected());
}

// 10k commands written without waiting: every callback once, in the order sent.
void TestRedisConnection::pipelineInOrder()
{
    auto c = connectTo(m_redis.url());
    QVERIFY(c);
    QVERIFY(run(*c, {"DEL", "pipeline-counter"}));
    constexpr int kCount = 10000;
    std::vector<qint64> values;
    values.reserve(kCount);
    int failures = 0;
    bool inside = true;
    bool answeredInside = false;
    for (int i = 0; i < kCount; ++i) {
        c->command({"INCR", "pipeline-counter"}, [&](Result<RedisReply> r) {
            answeredInside = answeredInside || inside;
            if (r && r->type == RedisReply::Type::Integer)
                values.push_back(r->integer);
            else
                ++failures;
        });
    }
    inside = false;
    QVERIFY(!answeredInside);
    QTRY_VERIFY_WITH_TIMEOUT(values.size() + size_t(failures) == size_t(kCount), 60000);
    QCOMPARE(failures, 0);
    for (int i = 0; i < kCount; ++i)
        QCOMPARE(values[size_t(i)], qint64(i + 1));
    QTest::qWait(50); // nothing more arrives
    QCOMPARE(values.size(), size_t(kCount));
}

void TestRedisConnection::scriptWithNoscriptFallback()
{
    auto c = connectTo(m_redis.url());
    QVERIFY(c);
    const QByteArray source = "redis.call('SET', KEYS[1], ARGV[1]) return {KEYS[1], ARGV[1], #ARGV}";
    const RedisScript script(source);
    auto loaded = run(*c, {"SCRIPT", "FLUSH"});
    QVERIFY(loaded);

    // Unknown to Redis: EVALSHA gets NOSCRIPT, EVAL runs it.
    const QByteArray binary = allBytes();
    auto first = runScript(*c, script, {"script-key"}, {binary, "second"});
    QVERIFY2(first && first->type == RedisReply::Type::Array, qPrintable(describeReply(first)));
    QCOMPARE(first->at(0).str, QByteArray("script-key"));
    QCOMPARE(first->at(1).str, binary);
    QCOMPARE(first->at(2).integer, 2);
    auto exists = run(*c, {"SCRIPT", "EXISTS", script.sha1()});
    QVERIFY(exists && exists->at(0).integer == 1); // EVAL cached it under the same SHA-1

    // Cached: EVALSHA answers directly.
    auto second = runScript(*c, script, {"script-key"}, {"v2"});
    QVERIFY(second && second->at(1).str == QByteArray("v2"));

    // Flushed again: the fallback once more.
    QVERIFY(run(*c, {"SCRIPT", "FLUSH"}));
    auto third = runScript(*c, script, {"script-key"}, {"v3"});
    QVERIFY2(third && third->at(1).str == QByteArray("v3"), qPrintable(describeReply(third)));
    auto value = run(*c, {"GET", "script-key"});
    QVERIFY(value && value->str == QByteArray("v3"));

    // A script's own error is an Error reply (not mistaken for NOSCRIPT).
    const RedisScript failing("return redis.error_reply('NOT_FOUND no such thing')");
    auto error = runScript(*c, failing, {}, {});
    QVERIFY2(error && error->isError(), qPrintable(describeReply(error)));
    QCOMPARE(error->str, QByteArray("NOT_FOUND no such thing"));
    // A broken script: Redis's compile error, once (no endless EVAL loop).
    const RedisScript broken("this is not lua");
    auto compile = runScript(*c, broken, {}, {});
    QVERIFY(compile && compile->isError());
    QVERIFY(!compile->str.startsWith("NOSCRIPT"));
}

void TestRedisConnection::commandsWhileDownFailAfterTheCall()
{
    // Never started: down.
    RedisConnection idle(endpointOf(m_redis.url()), quickOptions());
    QVERIFY(!idle.isConnected());
    auto r = run(idle, {"PING"}); // await() fails if the callback runs inside the call
    QVERIFY2(!r && r.error().code == ErrorCode::Unavailable, qPrintable(describeReply(r)));
    QVERIFY(r.error().message.contains(idle.endpoint().display()));
    // A bad command shape fails too, also after the call.
    auto empty = run(idle, {});
    QVERIFY(!empty && empty.error().code == ErrorCode::Internal);
}

void TestRedisConnection::subscriberReceivesMessages()
{
    auto publisher = connectTo(m_redis.url());
    QVERIFY(publisher);
    RedisConnection sub(endpointOf(m_redis.url()), quickOptions(), RedisConnection::Mode::Subscriber);
    QSignalSpy connected(&sub, &RedisConnection::connected);
    QList<std::pair<QByteArray, QByteArray>> got;
    connect(&sub, &RedisConnection::message, this,
            [&](const QByteArray &channel, const QByteArray &payload) { got.append({channel, payload}); });
    sub.subscribe({"chan-a", "chan-b", "chan-a"});
    sub.start();
    QTRY_VERIFY_WITH_TIMEOUT(sub.isConnected(), kLong);
    QCOMPARE(connected.count(), 1);

    // Connected means subscribed: a message published now arrives.
    const QByteArray binary = allBytes();
    auto receivers = run(*publisher, {"PUBLISH", "chan-a", binary});
    QVERIFY(receivers && receivers->integer == 1);
    QVERIFY(run(*publisher, {"PUBLISH", "chan-b", "b1"}));
    QVERIFY(run(*publisher, {"PUBLISH", "chan-other", "nobody"}));
    QTRY_COMPARE_WITH_TIMEOUT(got.size(), 2, kLong);
    QCOMPARE(got[0].first, QByteArray("chan-a"));
    QCOMPARE(got[0].second, binary);
    QCOMPARE(got[1].first, QByteArray("chan-b"));
    QCOMPARE(got[1].second, QByteArray("b1"));

    // A channel added while connected.
    sub.subscribe({"chan-c"});
    QTRY_VERIFY_WITH_TIMEOUT(
        [&] {
            auto n = run(*publisher, {"PUBSUB", "NUMSUB", "chan-c"});
            return n && n->at(1).integer == 1;
        }(),
        kLong);
    QVERIFY(run(*publisher, {"PUBLISH", "chan-c", "c1"}));
    QTRY_COMPARE_WITH_TIMEOUT(got.size(), 3, kLong);
    QCOMPARE(got[2], std::make_pair(QByteArray("chan-c"), QByteArray("c1")));
    QVERIFY(sub.isConnected());
}

void TestRedisConnection::subscriberTakesNoCommands()
{
    RedisConnection sub(endpointOf(m_redis.url()), quickOptions(), RedisConnection::Mode::Subscriber);
    sub.start();
    QTRY_VERIFY_WITH_TIMEOUT(sub.isConnected(), kLong); // no channels: connected after PING
    auto r = run(sub, {"GET", "x"});
    QVERIFY(!r && r.error().code == ErrorCode::Internal);
    QVERIFY(sub.isConnected());
    // And a commands connection refuses subscription commands (they would confuse hiredis).
    auto c = connectTo(m_redis.url());
    QVERIFY(c);
    auto s = run(*c, {"subscribe", "x"});
    QVERIFY(!s && s.error().code == ErrorCode::Internal);
    QVERIFY(c->isConnected());
}

void TestRedisConnection::authWithPassword()
{
    const QString password = QStringLiteral("pa ss@w/rd:%");
    test::RedisServerProcess secured;
    QVERIFY2(secured.start({QStringLiteral("--requirepass"), password}), qPrintable(secured.errorString()));
    const QString encoded = QString::fromUtf8(QUrl::toPercentEncoding(password));
    LogCapture logs;
    {
        auto c = connectTo(QStringLiteral("redis://:%1@127.0.0.1:%2").arg(encoded, QString::number(secured.port())));
        QVERIFY(c);
        auto ping = run(*c, {"SET", "k", "v"});
        QVERIFY2(ping && !ping->isError(), qPrintable(describeReply(ping)));
    }
    {
        // Redis 6 ACL form: the default user with its password.
        auto c = connectTo(
            QStringLiteral("redis://default:%1@127.0.0.1:%2/0").arg(encoded, QString::number(secured.port())));
        QVERIFY(c);
        auto got = run(*c, {"GET", "k"});
        QVERIFY(got && got->str == QByteArray("v"));
    }
    QVERIFY(!logs.all().contains(password));
    QVERIFY(!logs.all().contains(encoded));
}

void TestRedisConnection::wrongPasswordIsNotConnected()
{
    test::RedisServerProcess secured;
    QVERIFY2(secured.start({QStringLiteral("--requirepass"), QStringLiteral("right-password")}),
             qPrintable(secured.errorString()));
    const QString wrong = QStringLiteral("wrong-s3cret-password");
    LogCapture logs;
    const QString url = QStringLiteral("redis://:%1@127.0.0.1:%2").arg(wrong, QString::number(secured.port()));
    RedisConnection c(endpointOf(url), quickOptions());
    QSignalSpy connected(&c, &RedisConnection::connected);
    c.start();
    QTRY_VERIFY_WITH_TIMEOUT(!c.lastError().isEmpty(), kLong);
    QVERIFY(!c.isConnected());
    QCOMPARE(connected.count(), 0);
    QVERIFY2(c.lastError().contains(QStringLiteral("authentication failed")), qPrintable(c.lastError()));
    QVERIFY2(c.lastError().contains(QStringLiteral("WRONGPASS")), qPrintable(c.lastError()));
    QVERIFY(!c.lastError().contains(wrong));
    auto r = run(c, {"PING"});
    QVERIFY(!r && r.error().code == ErrorCode::Unavailable);
    QVERIFY(!r.error().message.contains(wrong));
    QTest::qWait(300); // a few retries, still refused
    QVERIFY(!c.isConnected());
    QCOMPARE(connected.count(), 0);

    // No password at all: PING is refused (NOAUTH).
    RedisConnection anonymous(endpointOf(secured.url()), quickOptions());
    anonymous.start();
    QTRY_VERIFY_WITH_TIMEOUT(!anonymous.lastError().isEmpty(), kLong);
    QVERIFY(!anonymous.isConnected());
    QVERIFY2(anonymous.lastError().contains(QStringLiteral("NOAUTH")), qPrintable(anonymous.lastError()));
    c.close();
    anonymous.close();
    QVERIFY2(!logs.all().contains(wrong), qPrintable(logs.all()));
}

void TestRedisConnection::databaseNumber()
{
    auto db3 = connectTo(m_redis.url() + QStringLiteral("/3"));
    auto db0 = connectTo(m_redis.url());
    QVERIFY(db3 && db0);
    QVERIFY(run(*db3, {"SET", "where", "three"}));
    QVERIFY(run(*db0, {"SET", "where", "zero"}));
    auto in3 = run(*db3, {"GET", "where"});
    QVERIFY(in3 && in3->str == QByteArray("three"));
    auto in0 = run(*db0, {"GET", "where"});
    QVERIFY(in0 && in0->str == QByteArray("zero"));
    auto info = run(*db3, {"CLIENT", "INFO"});
    QVERIFY2(info && info->str.contains(" db=3 "), info ? info->str.constData() : "");

    // A database that does not exist: SELECT fails, and lastError says so.
    RedisConnection bad(endpointOf(m_redis.url() + QStringLiteral("/999")), quickOptions());
    bad.start();
    QTRY_VERIFY_WITH_TIMEOUT(!bad.lastError().isEmpty(), kLong);
    QVERIFY(!bad.isConnected());
    QVERIFY2(bad.lastError().contains(QStringLiteral("SELECT 999")), qPrintable(bad.lastError()));
}

void TestRedisConnection::unixSocket()
{
    test::RedisServerProcess local;
    QVERIFY2(local.startUnixSocket(), qPrintable(local.errorString()));
    QCOMPARE(local.port(), quint16(0));
    QVERIFY(local.url().startsWith(QStringLiteral("unix:///")));
    auto c = connectTo(local.url() + QStringLiteral("?db=2"));
    QVERIFY(c);
    QCOMPARE(c->endpoint().display(), local.unixSocketPath());
    QVERIFY(run(*c, {"SET", "over-unix", allBytes()}));
    auto got = run(*c, {"GET", "over-unix"});
    QVERIFY(got && got->str == allBytes());
    auto info = run(*c, {"CLIENT", "INFO"});
    QVERIFY2(info && info->str.contains(" db=2 "), info ? info->str.constData() : "");

    // No socket there: the reason, and retries.
    RedisConnection nowhere(endpointOf(QStringLiteral("unix://") + local.dir() + QStringLiteral("/none.sock")),
                            quickOptions());
    nowhere.start();
    QTRY_VERIFY_WITH_TIMEOUT(!nowhere.lastError().isEmpty(), kLong);
    QVERIFY(!nowhere.isConnected());
}

// kill -9 mid-traffic: what is in flight fails with Unavailable, new commands fail at once,
// and once Redis is back on the same port both connections come back by themselves.
void TestRedisConnection::killMidTrafficThenRecover()
{
    test::RedisServerProcess doomed;
    QVERIFY2(doomed.start(), qPrintable(doomed.errorString()));
    auto c = connectTo(doomed.url());
    QVERIFY(c);
    QSignalSpy disconnected(c.get(), &RedisConnection::disconnected);
    QSignalSpy reconnected(c.get(), &RedisConnection::connected);
    RedisConnection sub(endpointOf(doomed.url()), quickOptions(), RedisConnection::Mode::Subscriber);
    QList<QByteArray> messages;
    connect(&sub, &RedisConnection::message, this,
            [&](const QByteArray &, const QByteArray &payload) { messages << payload; });
    sub.subscribe({"events"});
    sub.start();
    QTRY_VERIFY_WITH_TIMEOUT(sub.isConnected(), kLong);

    // One command surely in flight (blocks forever), and a stream of others.
    std::optional<Result<RedisReply>> blocked;
    c->command({"BLPOP", "never-filled", "0"}, [&](Result<RedisReply> r) { blocked = std::move(r); });
    int answered = 0;
    int unavailable = 0;
    int other = 0;
    constexpr int kStream = 2000;
    for (int i = 0; i < kStream; ++i) {
        c->command({"INCR", "stream"}, [&](Result<RedisReply> r) {
            ++answered;
            if (!r && r.error().code == ErrorCode::Unavailable)
                ++unavailable;
            else if (!r)
                ++other;
        });
    }
    doomed.kill();
    QTRY_VERIFY_WITH_TIMEOUT(blocked.has_value(), kLong);
    QVERIFY2(!*blocked && blocked->error().code == ErrorCode::Unavailable, qPrintable(describeReply(*blocked)));
    QTRY_COMPARE_WITH_TIMEOUT(answered, kStream, kLong);
    QCOMPARE(other, 0);
    QVERIFY(unavailable > 0); // at least the ones behind the BLPOP
    QTRY_VERIFY_WITH_TIMEOUT(!c->isConnected(), kLong);
    QTRY_COMPARE_WITH_TIMEOUT(disconnected.count(), 1, kLong);
    QTRY_VERIFY_WITH_TIMEOUT(!sub.isConnected(), kLong);

    // While down: at once, Unavailable, never inside the call.
    for (int i = 0; i < 3; ++i) {
        auto r = run(*c, {"GET", "x"});
        QVERIFY2(!r && r.error().code == ErrorCode::Unavailable, qPrintable(describeReply(r)));
    }
    QVERIFY(!c->lastError().isEmpty());

    QVERIFY2(doomed.restart(), qPrintable(doomed.errorString()));
    QTRY_VERIFY_WITH_TIMEOUT(c->isConnected(), kLong);
    QTRY_VERIFY_WITH_TIMEOUT(sub.isConnected(), kLong);
    QCOMPARE(reconnected.count(), 1);
    auto after = run(*c, {"INCR", "after-restart"});
    QVERIFY2(after && after->integer == 1, qPrintable(describeReply(after)));
    // The subscriber subscribed again.
    QVERIFY(run(*c, {"PUBLISH", "events", "after"}));
    QTRY_VERIFY_WITH_TIMEOUT(messages.contains(QByteArray("after")), kLong);
}

// A reply later than commandTimeoutMs breaks the link: what is in flight fails with
// Unavailable, then the connection comes back by itself.
void TestRedisConnection::commandTimeoutBreaksTheLink()
{
    test::RedisServerProcess slow;
    QVERIFY2(slow.start({QStringLiteral("--enable-debug-command"), QStringLiteral("yes")}),
             qPrintable(slow.errorString()));
    RedisConnectionOptions options = quickOptions();
    options.commandTimeoutMs = 300;
    auto c = connectTo(slow.url(), options);
    QVERIFY(c);
    QSignalSpy disconnected(c.get(), &RedisConnection::disconnected);
    std::optional<Result<RedisReply>> sleeping;
    std::optional<Result<RedisReply>> behind;
    c->command({"DEBUG", "SLEEP", "2"}, [&](Result<RedisReply> r) { sleeping = std::move(r); });
    c->command({"PING"}, [&](Result<RedisReply> r) { behind = std::move(r); });
    QTRY_VERIFY_WITH_TIMEOUT(sleeping.has_value() && behind.has_value(), kLong);
    QVERIFY2(!*sleeping && sleeping->error().code == ErrorCode::Unavailable, qPrintable(describeReply(*sleeping)));
    QCOMPARE(sleeping->error().message, QStringLiteral("Redis did not answer within 300 ms"));
    QVERIFY(!*behind && behind->error().code == ErrorCode::Unavailable);
    QCOMPARE(disconnected.count(), 1);
    QVERIFY(c->lastError().contains(QStringLiteral("did not answer within 300 ms")));
    // Redis wakes up; the connection is back without help.
    QTRY_VERIFY_WITH_TIMEOUT(c->isConnected(), kLong);
    auto ping = run(*c, {"PING"});
    QVERIFY2(ping && ping->text() == QStringLiteral("PONG"), qPrintable(describeReply(ping)));
}

// Something that accepts the TCP connection but never answers: the connect timeout.
void TestRedisConnection::connectTimeout()
{
    QTcpServer silent;
    QVERIFY(silent.listen(QHostAddress::LocalHost, 0));
    RedisEndpoint e;
    e.host = QStringLiteral("127.0.0.1");
    e.port = silent.serverPort();
    RedisConnectionOptions options = quickOptions();
    options.connectTimeoutMs = 300;
    RedisConnection c(e, options);
    c.start();
    QTRY_VERIFY_WITH_TIMEOUT(c.lastError().contains(QStringLiteral("within 300 ms")), kLong);
    QVERIFY(!c.isConnected());
    c.close();
}

void TestRedisConnection::connectionRefused()
{
    RedisEndpoint e;
    e.host = QStringLiteral("127.0.0.1");
    e.port = unusedPort();
    e.password = QStringLiteral("not-in-any-message");
    RedisConnection c(e, quickOptions());
    c.start();
    QTRY_VERIFY_WITH_TIMEOUT(!c.lastError().isEmpty(), kLong);
    QVERIFY2(c.lastError().contains(QStringLiteral("refused"), Qt::CaseInsensitive), qPrintable(c.lastError()));
    auto r = run(c, {"PING"});
    QVERIFY(!r && r.error().code == ErrorCode::Unavailable);
    QVERIFY2(r.error().message.contains(QString::number(e.port)), qPrintable(r.error().message));
    QVERIFY(!r.error().message.contains(e.password));
}

void TestRedisConnection::closeAnswersPending()
{
    auto c = connectTo(m_redis.url());
    QVERIFY(c);
    QSignalSpy disconnected(c.get(), &RedisConnection::disconnected);
    QList<Result<RedisReply>> answers;
    c->command({"BLPOP", "never-filled-2", "0"}, [&](Result<RedisReply> r) { answers << r; });
    c->command({"PING"}, [&](Result<RedisReply> r) { answers << r; });
    c->close();
    QCOMPARE(answers.size(), 0); // from the event loop, not inside close()
    QTRY_COMPARE_WITH_TIMEOUT(answers.size(), 2, kLong);
    for (const auto &a : std::as_const(answers)) {
        QVERIFY(!a && a.error().code == ErrorCode::Unavailable);
        QVERIFY2(a.error().message.contains(QStringLiteral("closed")), qPrintable(a.error().message));
    }
    QVERIFY(!c->isConnected());
    c->close(); // idempotent
    auto after = run(*c, {"PING"});
    QVERIFY(!after && after.error().code == ErrorCode::Unavailable);
    QVERIFY(after.error().message.contains(QStringLiteral("closed")));
    QTest::qWait(200); // closed means closed: no reconnect
    QVERIFY(!c->isConnected());
    QCOMPARE(answers.size(), 2);
    QCOMPARE(disconnected.count(), 1);
}

void TestRedisConnection::destructionAnswersPending()
{
    auto c = connectTo(m_redis.url());
    QVERIFY(c);
    int calls = 0;
    std::optional<Result<RedisReply>> last;
    c->command({"BLPOP", "never-filled-3", "0"}, [&](Result<RedisReply> r) {
        ++calls;
        last = std::move(r);
    });
    // A script whose answer could need the EVAL retry, and one answered while down.
    c->script(RedisScript("return 'never cached " + QByteArray::number(QRandomGenerator::global()->generate()) + "'"),
              {}, {}, [&](Result<RedisReply>) { ++calls; });
    c.reset();
    QCOMPARE(calls, 2); // synchronously, in the destructor
    QVERIFY(last && !*last && last->error().code == ErrorCode::Unavailable);
    QTest::qWait(100);
    QCOMPARE(calls, 2);
}

// A callback that destroys the connection: the rest are answered once each, nothing crashes.
void TestRedisConnection::deletedFromItsOwnCallback()
{
    auto *c = connectTo(m_redis.url()).release();
    QVERIFY(c);
    constexpr int kCount = 100;
    std::vector<int> calls(kCount, 0);
    int ok = 0;
    for (int i = 0; i < kCount; ++i) {
        c->command({"INCR", "deleted-from-callback"}, [&, i](Result<RedisReply> r) {
            ++calls[size_t(i)];
            if (r)
                ++ok;
            if (i == 10)
                delete c;
        });
    }
    QTRY_VERIFY_WITH_TIMEOUT(std::all_of(calls.begin(), calls.end(), [](int n) { return n >= 1; }), kLong);
    QTest::qWait(100);
    for (int n : calls)
        QCOMPARE(n, 1);
    QVERIFY(ok >= 11);
}

QTEST_GUILESS_MAIN(TestRedisConnection)
#include "tst_redisconnection.moc"
