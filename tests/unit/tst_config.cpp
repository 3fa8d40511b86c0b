// The daemon's configuration: defaults, environment, flags (both forms), precedence, every
// kind of bad value, --help / --version, and the Markdown table the docs carry.

#include <QFile>
#include <QLoggingCategory>
#include <QProcess>
#include <QProcessEnvironment>
#include <QRegularExpression>
#include <QTest>

#include <algorithm>
#include <functional>
#include <map>

#include "config.h"
#include "logging.h"

using namespace Qt::StringLiterals;
using sidecar::daemon::Config;
using sidecar::daemon::ConfigOutcome;

namespace {

// Each field of Config as text, written out here rather than taken from the table under test.
QString field(const Config &c, const QString &env)
{
    static const std::map<QString, std::function<QString(const Config &)>> fields = {
        {u"STATE_BACKEND"_s, [](const Config &x) { return x.backend; }},
        {u"DB_PATH"_s, [](const Config &x) { return x.dbPath; }},
        {u"REDIS_URL"_s, [](const Config &x) { return x.redisUrl; }},
        {u"SIDECAR_HOST"_s, [](const Config &x) { return x.host; }},
        {u"SIDECAR_PORT"_s, [](const Config &x) { return QString::number(x.port); }},
        {u"SIDECAR_TRANSPORT"_s, [](const Config &x) { return x.transport; }},
        {u"SIDECAR_CLAIM_TTL"_s, [](const Config &x) { return QString::number(x.claimTtl); }},
        {u"SIDECAR_HISTORY_LIMIT"_s, [](const Config &x) { return QString::number(x.historyLimit); }},
        {u"SIDECAR_HISTORY_MAX_BYTES"_s, [](const Config &x) { return QString::number(x.historyMaxBytes); }},
        {u"SIDECAR_MAX_VALUE_BYTES"_s, [](const Config &x) { return QString::number(x.maxValueBytes); }},
        {u"SIDECAR_MAX_REPLY_BYTES"_s, [](const Config &x) { return QString::number(x.maxReplyBytes); }},
        {u"SIDECAR_MAX_LIST"_s, [](const Config &x) { return QString::number(x.maxList); }},
        {u"SIDECAR_DURABILITY"_s, [](const Config &x) { return x.durable ? u"true"_s : u"false"_s; }},
        {u"SIDECAR_ALLOWED_ORIGINS"_s, [](const Config &x) { return x.allowedOrigins.join(u','); }},
        {u"SIDECAR_ALLOWED_HOSTS"_s, [](const Config &x) { return x.allowedHosts.join(u','); }},
        {u"SIDECAR_TOKENS_FILE"_s, [](const Config &x) { return x.tokensFile; }},
        {u"SIDECAR_ALLOW_RESET"_s, [](const Config &x) { return x.allowReset ? u"true"_s : u"false"_s; }},
        {u"SIDECAR_INSECURE"_s, [](const Config &x) { return x.insecure ? u"true"_s : u"false"_s; }},
        {u"SIDECAR_LOG_LEVEL"_s, [](const Config &x) { return x.logLevel; }},
        {u"SIDECAR_REDIS_PREFIX"_s, [](const Config &x) { return x.redisPrefix; }},
        {u"SIDECAR_IMPORT_REDIS_FROM"_s, [](const Config &x) { return x.importRedisFrom; }},
        {u"SIDECAR_BACKUP_TO"_s, [](const Config &x) { return x.backupTo; }},
        {u"SIDECAR_HTTP_MAX_HEADER_BYTES"_s, [](const Config &x) { return QString::number(x.httpMaxHeaderBytes); }},
        {u"SIDECAR_HTTP_MAX_CONNECTIONS"_s, [](const Config &x) { return QString::number(x.httpMaxConnections); }},
        {u"SIDECAR_HTTP_IDLE_TIMEOUT"_s, [](const Config &x) { return QString::number(x.httpIdleTimeout); }},
        {u"SIDECAR_HTTP_HEADER_TIMEOUT"_s, [](const Config &x) { return QString::number(x.httpHeaderTimeout); }},
        {u"SIDECAR_SESSION_IDLE_TIMEOUT"_s, [](const Config &x) { return QString::number(x.sessionIdleTimeout); }},
        {u"SIDECAR_HTTP_LISTEN_BACKLOG"_s, [](const Config &x) { return QString::number(x.httpListenBacklog); }},
        {u"SIDECAR_HTTP_REQUEST_TIMEOUT"_s, [](const Config &x) { return QString::number(x.httpRequestTimeout); }},
        {u"SIDECAR_HTTP_MAX_SESSIONS"_s, [](const Config &x) { return QString::number(x.httpMaxSessions); }},
        {u"SIDECAR_HTTP_RATE_LIMIT"_s, [](const Config &x) { return QString::number(x.httpRateLimit); }},
        {u"SIDECAR_HTTP_RATE_BURST"_s, [](const Config &x) { return QString::number(x.httpRateBurst); }},
    };
    const auto it = fields.find(env);
    if (it == fields.end()) {
        qWarning("no accessor for %s", qPrintable(env));
        return u"<no such setting>"_s;
    }
    return it->second(c);
}

QProcessEnvironment environment(const QStringList &pairs)
{
    QProcessEnvironment env; // empty: nothing inherited from the test's own environment
    for (const QString &pair : pairs) {
        const qsizetype eq = pair.indexOf(u'=');
        env.insert(pair.left(eq), pair.mid(eq + 1));
    }
    return env;
}

ConfigOutcome parse(const QStringList &args, const QStringList &env = {})
{
    return sidecar::daemon::parseConfig(args, environment(env));
}

} // namespace

class TestConfig : public QObject
{
    Q_OBJECT

private slots:
    void defaults();
    void defaultsRoundTrip();
    void fromEnvironment_data();
    void fromEnvironment();
    void fromFlag_data();
    void fromFlag();
    void flagBeatsEnvironment_data();
    void flagBeatsEnvironment();
    void emptyEnvironmentIsUnset();
    void badValue_data();
    void badValue();
    void passwordMasked();
    void booleans_data();
    void booleans();
    void backendCaseInsensitive_data();
    void backendCaseInsensitive();
    void httpShortcut();
    void unknownArguments_data();
    void unknownArguments();
    void help_data();
    void help();
    void version();
    void nonLoopbackHttp_data();
    void nonLoopbackHttp();
    void isLoopbackHost_data();
    void isLoopbackHost();
    void origins_data();
    void origins();
    void hosts_data();
    void hosts();
    void binaryExitCodes_data();
    void binaryExitCodes();
    void oneOffActions_data();
    void oneOffActions();
    void markdownTable();
    void docsTableIsCurrent();
    void environmentFileIsComplete();
    void loggingLevels_data();
    void loggingLevels();
};

void TestConfig::defaults()
{
    const ConfigOutcome o = parse({});
    QCOMPARE(o.exitCode, 0);
    QVERIFY(o.out.isEmpty());
    QVERIFY(o.err.isEmpty());
    QVERIFY(o.config.has_value());
    const Config &c = *o.config;
    QCOMPARE(c.backend, u"sqlite"_s);
    QCOMPARE(c.dbPath, u"state_sidecar.db"_s);
    QCOMPARE(c.redisUrl, u"redis://localhost:6379"_s);
    QCOMPARE(c.host, u"127.0.0.1"_s);
    QCOMPARE(c.port, quint16(8000));
    QCOMPARE(c.transport, u"stdio"_s);
    QCOMPARE(c.claimTtl, 300.0);
    QCOMPARE(c.historyLimit, qint64(1000000));
    QCOMPARE(c.historyMaxBytes, qint64(1073741824));
    QCOMPARE(c.maxValueBytes, qint64(1048576));
    QCOMPARE(c.maxReplyBytes, qint64(16777216));
    QCOMPARE(c.maxList, qint64(100000));
    QCOMPARE(c.durable, true);
    QVERIFY(c.allowedOrigins.isEmpty());
    QVERIFY(c.tokensFile.isEmpty());
    QCOMPARE(c.allowReset, false);
    QCOMPARE(c.insecure, false);
    QCOMPARE(c.logLevel, u"info"_s);
    QCOMPARE(c.redisPrefix, u"sidecar:"_s);
    QCOMPARE(c.httpMaxHeaderBytes, qint64(16384));
    QCOMPARE(c.httpMaxConnections, 1024);
    QCOMPARE(c.httpIdleTimeout, 60.0);
    QCOMPARE(c.httpHeaderTimeout, 10.0);
    QCOMPARE(c.sessionIdleTimeout, 3600.0);
    QCOMPARE(c.httpListenBacklog, 1024);
    QCOMPARE(c.httpRequestTimeout, 30.0);
    QCOMPARE(c.httpMaxSessions, 10000);
    QCOMPARE(c.httpRateLimit, qint64(100000));
    QCOMPARE(c.httpRateBurst, qint64(200000));
    QVERIFY(c.isLoopbackHost());
}

// Every default the table shows is a valid value that gives the default back.
void TestConfig::defaultsRoundTrip()
{
    const auto &settings = sidecar::daemon::configSettings();
    QCOMPARE(settings.size(), std::size_t(32));
    for (const auto &s : settings) {
        Config c;
        const auto applied = s.apply(c, s.defaultText());
        if (s.defaultText().isEmpty())
            continue; // empty means "unset" (tokens file, origins)
        QVERIFY2(applied.has_value(), qPrintable(s.env));
        QCOMPARE(field(c, s.env), field(Config{}, s.env));
        QVERIFY2(s.flag.startsWith(u"--"_s), qPrintable(s.flag));
    }
}

void TestConfig::fromEnvironment_data()
{
    QTest::addColumn<QString>("name");
    QTest::addColumn<QString>("value");
    QTest::addColumn<QString>("expected");
    const auto row = [](const char *name, const char *value, const char *expected) {
        QTest::addRow("%s=%s", name, value) << QString::fromLatin1(name) << QString::fromLatin1(value)
                                             << QString::fromLatin1(expected);
    };
    row("STATE_BACKEND", "redis", "redis");
    row("DB_PATH", "/var/lib/sidecar/state.db", "/var/lib/sidecar/state.db");
    row("REDIS_URL", "redis://user:secret@redis.internal:6380/2", "redis://user:secret@redis.internal:6380/2");
    row("REDIS_URL", "unix:///run/redis/redis.sock", "unix:///run/redis/redis.sock");
    row("REDIS_URL", "redis://localhost", "redis://localhost");
    row("SIDECAR_HOST", "0.0.0.0", "0.0.0.0");
    row("SIDECAR_HOST", "[::1]", "::1");
    row("SIDECAR_HOST", "sidecar.example.com", "sidecar.example.com");
    row("SIDECAR_PORT", "9000", "9000");
    row("SIDECAR_PORT", "0", "0");
    row("SIDECAR_PORT", "65535", "65535");
    row("SIDECAR_TRANSPORT", "http", "http");
    row("SIDECAR_TRANSPORT", "HTTP", "http");
    row("SIDECAR_CLAIM_TTL", "0.5", "0.5");
    row("SIDECAR_CLAIM_TTL", "0.001", "0.001");
    row("SIDECAR_CLAIM_TTL", "31536000", "3.1536e+07");
    row("SIDECAR_HISTORY_LIMIT", "1", "1");
    row("SIDECAR_HISTORY_MAX_BYTES", "5000000", "5000000");
    row("SIDECAR_MAX_VALUE_BYTES", "2048", "2048");
    row("SIDECAR_MAX_REPLY_BYTES", "65536", "65536");
    row("SIDECAR_MAX_LIST", "10", "10");
    row("SIDECAR_DURABILITY", "normal", "false");
    row("SIDECAR_DURABILITY", "FULL", "true");
    row("SIDECAR_ALLOWED_ORIGINS", "https://a.example, http://b.example:3000", "https://a.example,http://b.example:3000");
    row("SIDECAR_TOKENS_FILE", "/etc/sidecar/tokens.json", "/etc/sidecar/tokens.json");
    row("SIDECAR_ALLOW_RESET", "1", "true");
    row("SIDECAR_INSECURE", "yes", "true");
    row("SIDECAR_LOG_LEVEL", "Debug", "debug");
    row("SIDECAR_LOG_LEVEL", "error", "error");
    row("SIDECAR_REDIS_PREFIX", "team-a:", "team-a:");
    row("SIDECAR_HTTP_MAX_HEADER_BYTES", "8192", "8192");
    row("SIDECAR_HTTP_MAX_CONNECTIONS", "16", "16");
    row("SIDECAR_HTTP_IDLE_TIMEOUT", "2.5", "2.5");
    row("SIDECAR_HTTP_HEADER_TIMEOUT", "1", "1");
    row("SIDECAR_SESSION_IDLE_TIMEOUT", "120", "120");
    row("SIDECAR_HTTP_LISTEN_BACKLOG", "50", "50");
    row("SIDECAR_HTTP_REQUEST_TIMEOUT", "2.5", "2.5");
    row("SIDECAR_HTTP_MAX_SESSIONS", "3", "3");
    row("SIDECAR_HTTP_RATE_LIMIT", "0", "0");
    row("SIDECAR_HTTP_RATE_LIMIT", "5", "5");
    row("SIDECAR_HTTP_RATE_BURST", "1", "1");
}

void TestConfig::fromEnvironment()
{
    QFETCH(QString, name);
    QFETCH(QString, value);
    QFETCH(QString, expected);
    // Non-loopback hosts need insecure (or tokens) to pass the final check when serving HTTP;
    // the transport stays stdio here, so they pass as they are.
    const ConfigOutcome o = parse({}, {name + u'=' + value});
    QVERIFY2(o.config.has_value(), qPrintable(o.err));
    QCOMPARE(o.exitCode, 0);
    QCOMPARE(field(*o.config, name), expected);
}

void TestConfig::fromFlag_data()
{
    QTest::addColumn<QStringList>("args");
    QTest::addColumn<QString>("name");
    QTest::addColumn<QString>("expected");
    QTest::newRow("space") << QStringList{u"--db-path"_s, u"x.db"_s} << u"DB_PATH"_s << u"x.db"_s;
    QTest::newRow("equals") << QStringList{u"--db-path=x.db"_s} << u"DB_PATH"_s << u"x.db"_s;
    QTest::newRow("equals in value") << QStringList{u"--db-path=a=b.db"_s} << u"DB_PATH"_s << u"a=b.db"_s;
    QTest::newRow("port space") << QStringList{u"--port"_s, u"1234"_s} << u"SIDECAR_PORT"_s << u"1234"_s;
    QTest::newRow("port equals") << QStringList{u"--port=1234"_s} << u"SIDECAR_PORT"_s << u"1234"_s;
    QTest::newRow("ttl") << QStringList{u"--claim-ttl=12.5"_s} << u"SIDECAR_CLAIM_TTL"_s << u"12.5"_s;
    QTest::newRow("last wins") << QStringList{u"--port=1"_s, u"--port"_s, u"2"_s} << u"SIDECAR_PORT"_s << u"2"_s;
    QTest::newRow("empty prefix") << QStringList{u"--redis-prefix="_s} << u"SIDECAR_REDIS_PREFIX"_s << QString();
    QTest::newRow("value starting with dash") << QStringList{u"--redis-prefix"_s, u"-x-"_s}
                                              << u"SIDECAR_REDIS_PREFIX"_s << u"-x-"_s;
    QTest::newRow("backlog") << QStringList{u"--http-listen-backlog"_s, u"7"_s} << u"SIDECAR_HTTP_LISTEN_BACKLOG"_s
                             << u"7"_s;
    QTest::newRow("several") << QStringList{u"--backend"_s, u"redis"_s, u"--max-list=5"_s} << u"SIDECAR_MAX_LIST"_s
                             << u"5"_s;
}

void TestConfig::fromFlag()
{
    QFETCH(QStringList, args);
    QFETCH(QString, name);
    QFETCH(QString, expected);
    const ConfigOutcome o = parse(args);
    QVERIFY2(o.config.has_value(), qPrintable(o.err));
    QCOMPARE(field(*o.config, name), expected);
}

void TestConfig::flagBeatsEnvironment_data()
{
    QTest::addColumn<QStringList>("args");
    QTest::addColumn<QStringList>("env");
    QTest::addColumn<QString>("name");
    QTest::addColumn<QString>("expected");
    QTest::newRow("flag over env") << QStringList{u"--port=9001"_s} << QStringList{u"SIDECAR_PORT=9002"_s}
                                   << u"SIDECAR_PORT"_s << u"9001"_s;
    QTest::newRow("env over default") << QStringList{} << QStringList{u"SIDECAR_PORT=9002"_s} << u"SIDECAR_PORT"_s
                                      << u"9002"_s;
    QTest::newRow("bad env ignored under flag") << QStringList{u"--port"_s, u"9001"_s}
                                                << QStringList{u"SIDECAR_PORT=nope"_s} << u"SIDECAR_PORT"_s
                                                << u"9001"_s;
    QTest::newRow("boolean flag over env") << QStringList{u"--allow-reset=no"_s}
                                           << QStringList{u"SIDECAR_ALLOW_RESET=yes"_s} << u"SIDECAR_ALLOW_RESET"_s
                                           << u"false"_s;
    QTest::newRow("--http over env") << QStringList{u"--http"_s} << QStringList{u"SIDECAR_TRANSPORT=stdio"_s}
                                     << u"SIDECAR_TRANSPORT"_s << u"http"_s;
    QTest::newRow("other settings keep env") << QStringList{u"--port=1"_s} << QStringList{u"DB_PATH=e.db"_s}
                                             << u"DB_PATH"_s << u"e.db"_s;
}

void TestConfig::flagBeatsEnvironment()
{
    QFETCH(QStringList, args);
    QFETCH(QStringList, env);
    QFETCH(QString, name);
    QFETCH(QString, expected);
    const ConfigOutcome o = parse(args, env);
    QVERIFY2(o.config.has_value(), qPrintable(o.err));
    QCOMPARE(field(*o.config, name), expected);
}

void TestConfig::emptyEnvironmentIsUnset()
{
    QStringList env;
    for (const auto &s : sidecar::daemon::configSettings())
        env << s.env + u'=';
    const ConfigOutcome o = parse({}, env);
    QVERIFY2(o.config.has_value(), qPrintable(o.err));
    for (const auto &s : sidecar::daemon::configSettings())
        QCOMPARE(field(*o.config, s.env), field(Config{}, s.env));
}

void TestConfig::badValue_data()
{
    QTest::addColumn<QStringList>("args");
    QTest::addColumn<QStringList>("env");
    QTest::addColumn<QString>("setting"); // the message must name it
    QTest::addColumn<QString>("value");   // ...and the bad value
    const auto env = [](const char *name, const char *value) {
        QTest::addRow("env %s=%s", name, value) << QStringList{}
                                                 << QStringList{QString::fromLatin1(name) + u'='
                                                                + QString::fromLatin1(value)}
                                                 << QString::fromLatin1(name) << QString::fromLatin1(value);
    };
    const auto flag = [](const char *name, const char *value) {
        QTest::addRow("flag %s=%s", name, value) << QStringList{QString::fromLatin1(name), QString::fromLatin1(value)}
                                                  << QStringList{} << QString::fromLatin1(name)
                                                  << QString::fromLatin1(value);
    };
    // choices
    env("STATE_BACKEND", "mysql");
    flag("--backend", "postgres");
    env("SIDECAR_TRANSPORT", "websocket");
    env("SIDECAR_DURABILITY", "extra");
    env("SIDECAR_LOG_LEVEL", "verbose");
    // integers: not a number, a fraction, out of range
    env("SIDECAR_PORT", "abc");
    env("SIDECAR_PORT", "65536");
    env("SIDECAR_PORT", "-1");
    flag("--port", "80.5");
    env("SIDECAR_HISTORY_LIMIT", "0");
    env("SIDECAR_MAX_LIST", "1e3");
    env("SIDECAR_HTTP_MAX_CONNECTIONS", "0");
    env("SIDECAR_HTTP_LISTEN_BACKLOG", "99999999999999999999");
    env("SIDECAR_HTTP_MAX_SESSIONS", "0");
    env("SIDECAR_HTTP_RATE_LIMIT", "-1");
    env("SIDECAR_HTTP_RATE_LIMIT", "2.5");
    env("SIDECAR_HTTP_RATE_BURST", "0");
    // byte sizes: plain integers only
    env("SIDECAR_MAX_VALUE_BYTES", "1M");
    env("SIDECAR_MAX_VALUE_BYTES", "0");
    env("SIDECAR_HISTORY_MAX_BYTES", "-5");
    env("SIDECAR_MAX_REPLY_BYTES", "100");
    env("SIDECAR_HTTP_MAX_HEADER_BYTES", "10");
    // seconds
    env("SIDECAR_CLAIM_TTL", "0");
    env("SIDECAR_CLAIM_TTL", "31536001");
    env("SIDECAR_CLAIM_TTL", "nan");
    env("SIDECAR_CLAIM_TTL", "inf");
    flag("--http-idle-timeout", "soon");
    env("SIDECAR_HTTP_HEADER_TIMEOUT", "-1");
    env("SIDECAR_SESSION_IDLE_TIMEOUT", "0.0001");
    env("SIDECAR_HTTP_REQUEST_TIMEOUT", "0");
    // booleans
    env("SIDECAR_ALLOW_RESET", "maybe");
    env("SIDECAR_INSECURE", "on");
    QTest::newRow("flag --insecure=2") << QStringList{u"--insecure=2"_s} << QStringList{} << u"--insecure"_s
                                       << u"2"_s;
    // text
    QTest::newRow("flag --db-path=") << QStringList{u"--db-path="_s} << QStringList{} << u"--db-path"_s << QString();
    env("REDIS_URL", "localhost:6379");
    env("REDIS_URL", "http://localhost:6379");
    env("REDIS_URL", "rediss://localhost:6379");
    env("REDIS_URL", "redis://localhost:6379/db");
    env("REDIS_URL", "unix://");
    env("SIDECAR_HOST", "not a host");
    env("SIDECAR_HOST", "under_score.example");
    env("SIDECAR_ALLOWED_ORIGINS", "example.com");
    env("SIDECAR_ALLOWED_ORIGINS", "https://ok.example,ftp://x.example");
    env("SIDECAR_ALLOWED_ORIGINS", "https://x.example/path");
}

void TestConfig::badValue()
{
    QFETCH(QStringList, args);
    QFETCH(QStringList, env);
    QFETCH(QString, setting);
    QFETCH(QString, value);
    const ConfigOutcome o = parse(args, env);
    QCOMPARE(o.exitCode, 2);
    QVERIFY(!o.config.has_value());
    QVERIFY(o.out.isEmpty());
    QVERIFY2(o.err.contains(setting), qPrintable(o.err));
    QVERIFY2(o.err.contains(u'"' + value + u'"'), qPrintable(o.err));
    QVERIFY2(o.err.startsWith(u"mcp-state-sidecar: "_s), qPrintable(o.err));
    QVERIFY2(!o.err.contains(u'\n'), qPrintable(o.err)); // one line; the caller adds the newline
    // A flag's message names the environment variable too, and vice versa where it helps.
    for (const auto &s : sidecar::daemon::configSettings())
        if (s.flag == setting || s.env == setting)
            QVERIFY2(o.err.contains(s.env), qPrintable(o.err));
}

// A bad REDIS_URL is echoed without its password.
void TestConfig::passwordMasked()
{
    const ConfigOutcome o = parse({}, {u"REDIS_URL=redis://app:hunter2@redis.internal:6379/db0"_s});
    QCOMPARE(o.exitCode, 2);
    QVERIFY2(!o.err.contains(u"hunter2"_s), qPrintable(o.err));
    QVERIFY2(o.err.contains(u"\"redis://app:***@redis.internal:6379/db0\""_s), qPrintable(o.err));
    QVERIFY2(o.err.contains(u"REDIS_URL"_s), qPrintable(o.err));
}

void TestConfig::booleans_data()
{
    QTest::addColumn<bool>("viaFlag");
    QTest::addColumn<QString>("text");
    QTest::addColumn<bool>("expected");
    const char *truthy[] = {"1", "true", "TRUE", "True", "yes", "YES", "Yes", " yes "};
    const char *falsy[] = {"0", "false", "FALSE", "False", "no", "NO", "No"};
    for (bool viaFlag : {false, true}) {
        for (const char *t : truthy)
            QTest::addRow("%s %s", viaFlag ? "flag" : "env", t) << viaFlag << QString::fromLatin1(t) << true;
        for (const char *t : falsy)
            QTest::addRow("%s %s", viaFlag ? "flag" : "env", t) << viaFlag << QString::fromLatin1(t) << false;
    }
    QTest::addRow("bare flag") << true << QString() << true;
}

void TestConfig::booleans()
{
    QFETCH(bool, viaFlag);
    QFETCH(QString, text);
    QFETCH(bool, expected);
    // Start from the opposite, so that a no-op cannot pass.
    ConfigOutcome o;
    if (!viaFlag)
        o = parse({}, {u"SIDECAR_ALLOW_RESET="_s + text});
    else if (text.isNull())
        o = parse({u"--allow-reset"_s}, {u"SIDECAR_ALLOW_RESET=0"_s});
    else
        o = parse({u"--allow-reset="_s + text}, {expected ? u"SIDECAR_ALLOW_RESET=0"_s : u"SIDECAR_ALLOW_RESET=1"_s});
    QVERIFY2(o.config.has_value(), qPrintable(o.err));
    QCOMPARE(o.config->allowReset, expected);

    // The same forms for the other boolean.
    const ConfigOutcome insecure = viaFlag ? parse({text.isNull() ? u"--insecure"_s : QString(u"--insecure="_s + text)})
                                           : parse({}, {u"SIDECAR_INSECURE="_s + text});
    QVERIFY2(insecure.config.has_value(), qPrintable(insecure.err));
    QCOMPARE(insecure.config->insecure, expected);
}

void TestConfig::backendCaseInsensitive_data()
{
    QTest::addColumn<QString>("text");
    QTest::addColumn<QString>("expected");
    QTest::newRow("sqlite") << u"sqlite"_s << u"sqlite"_s;
    QTest::newRow("SQLite") << u"SQLite"_s << u"sqlite"_s;
    QTest::newRow("SQLITE") << u"SQLITE"_s << u"sqlite"_s;
    QTest::newRow("redis") << u"redis"_s << u"redis"_s;
    QTest::newRow("Redis") << u"Redis"_s << u"redis"_s;
    QTest::newRow("REDIS") << u"REDIS"_s << u"redis"_s;
}

void TestConfig::backendCaseInsensitive()
{
    QFETCH(QString, text);
    QFETCH(QString, expected);
    const ConfigOutcome fromEnv = parse({}, {u"STATE_BACKEND="_s + text});
    QVERIFY2(fromEnv.config.has_value(), qPrintable(fromEnv.err));
    QCOMPARE(fromEnv.config->backend, expected);
    const ConfigOutcome fromFlag = parse({u"--backend"_s, text});
    QVERIFY2(fromFlag.config.has_value(), qPrintable(fromFlag.err));
    QCOMPARE(fromFlag.config->backend, expected);
}

void TestConfig::httpShortcut()
{
    const ConfigOutcome o = parse({u"--http"_s, u"--port"_s, u"0"_s});
    QVERIFY2(o.config.has_value(), qPrintable(o.err));
    QCOMPARE(o.config->transport, u"http"_s);
    QCOMPARE(o.config->port, quint16(0));
    // The later flag wins, as with any setting.
    const ConfigOutcome back = parse({u"--http"_s, u"--transport=stdio"_s});
    QVERIFY2(back.config.has_value(), qPrintable(back.err));
    QCOMPARE(back.config->transport, u"stdio"_s);
}

void TestConfig::unknownArguments_data()
{
    QTest::addColumn<QStringList>("args");
    QTest::addColumn<QString>("named");
    QTest::newRow("unknown flag") << QStringList{u"--bogus"_s} << u"--bogus"_s;
    QTest::newRow("unknown flag with value") << QStringList{u"--bogus=1"_s} << u"--bogus"_s;
    QTest::newRow("env name as flag") << QStringList{u"--SIDECAR_PORT=1"_s} << u"--SIDECAR_PORT"_s;
    QTest::newRow("single dash") << QStringList{u"-p"_s, u"1"_s} << u"-p"_s;
    QTest::newRow("positional") << QStringList{u"serve"_s} << u"serve"_s;
    QTest::newRow("double dash") << QStringList{u"--"_s} << u"--"_s;
    QTest::newRow("missing value at end") << QStringList{u"--port"_s} << u"--port"_s;
    QTest::newRow("missing value before flag") << QStringList{u"--db-path"_s, u"--http"_s} << u"--db-path"_s;
    QTest::newRow("--http with value") << QStringList{u"--http=1"_s} << u"--http"_s;
}

void TestConfig::unknownArguments()
{
    QFETCH(QStringList, args);
    QFETCH(QString, named);
    const ConfigOutcome o = parse(args);
    QCOMPARE(o.exitCode, 2);
    QVERIFY(!o.config.has_value());
    QVERIFY2(o.err.contains(named), qPrintable(o.err));
    QVERIFY(!o.err.contains(u'\n'));
}

void TestConfig::help_data()
{
    QTest::addColumn<QStringList>("args");
    QTest::addColumn<QStringList>("env");
    QTest::newRow("--help") << QStringList{u"--help"_s} << QStringList{};
    QTest::newRow("-h") << QStringList{u"-h"_s} << QStringList{};
    QTest::newRow("after other flags") << QStringList{u"--port"_s, u"1"_s, u"--help"_s} << QStringList{};
    QTest::newRow("despite bad values") << QStringList{u"--port=x"_s, u"--help"_s}
                                        << QStringList{u"SIDECAR_CLAIM_TTL=never"_s};
}

void TestConfig::help()
{
    QFETCH(QStringList, args);
    QFETCH(QStringList, env);
    const ConfigOutcome o = parse(args, env);
    QCOMPARE(o.exitCode, 0);
    QVERIFY(!o.config.has_value());
    QVERIFY(o.err.isEmpty());
    QVERIFY(o.out.startsWith(u"Usage: mcp-state-sidecar"_s));
    QCOMPARE(o.out, sidecar::daemon::configHelp(u"mcp-state-sidecar"_s));
    for (const auto &s : sidecar::daemon::configSettings()) {
        QVERIFY2(o.out.contains(s.env + u", "_s + s.flag), qPrintable(s.env));
        QVERIFY2(o.out.contains(s.type), qPrintable(s.type));
        QVERIFY2(o.out.contains(s.meaning.left(30)), qPrintable(s.meaning));
    }
    for (const char *word : {"--help", "--version", "--http", "default: sqlite", "default: 1073741824 (1 GiB)"})
        QVERIFY2(o.out.contains(QString::fromLatin1(word)), word);
    for (const QString &line : o.out.split(u'\n'))
        QVERIFY2(line.size() <= 100, qPrintable(line));
}

void TestConfig::version()
{
    for (const QString &flag : {u"--version"_s, u"-V"_s}) {
        const ConfigOutcome o = parse({flag});
        QCOMPARE(o.exitCode, 0);
        QVERIFY(!o.config.has_value());
        QCOMPARE(o.out, u"mcp-state-sidecar "_s + QLatin1StringView(SIDECAR_VERSION) + u'\n');
        QVERIFY(o.err.isEmpty());
    }
}

void TestConfig::nonLoopbackHttp_data()
{
    QTest::addColumn<QStringList>("env");
    QTest::addColumn<bool>("runs");
    QTest::newRow("http on 0.0.0.0") << QStringList{u"SIDECAR_TRANSPORT=http"_s, u"SIDECAR_HOST=0.0.0.0"_s} << false;
    QTest::newRow("http on a name") << QStringList{u"SIDECAR_TRANSPORT=http"_s, u"SIDECAR_HOST=example.com"_s}
                                    << false;
    QTest::newRow("insecure") << QStringList{u"SIDECAR_TRANSPORT=http"_s, u"SIDECAR_HOST=0.0.0.0"_s,
                                             u"SIDECAR_INSECURE=1"_s}
                              << true;
    QTest::newRow("tokens") << QStringList{u"SIDECAR_TRANSPORT=http"_s, u"SIDECAR_HOST=::"_s,
                                           u"SIDECAR_TOKENS_FILE=/etc/t.json"_s}
                            << true;
    QTest::newRow("loopback") << QStringList{u"SIDECAR_TRANSPORT=http"_s, u"SIDECAR_HOST=localhost"_s} << true;
    QTest::newRow("stdio ignores host") << QStringList{u"SIDECAR_HOST=0.0.0.0"_s} << true;
}

void TestConfig::nonLoopbackHttp()
{
    QFETCH(QStringList, env);
    QFETCH(bool, runs);
    const ConfigOutcome o = parse({}, env);
    QCOMPARE(o.config.has_value(), runs);
    QCOMPARE(o.exitCode, runs ? 0 : 2);
    if (!runs) {
        QVERIFY2(o.err.contains(u"SIDECAR_TOKENS_FILE"_s), qPrintable(o.err));
        QVERIFY2(o.err.contains(u"SIDECAR_INSECURE"_s), qPrintable(o.err));
    }
}

void TestConfig::isLoopbackHost_data()
{
    QTest::addColumn<QString>("host");
    QTest::addColumn<bool>("loopback");
    QTest::newRow("127.0.0.1") << u"127.0.0.1"_s << true;
    QTest::newRow("127.1.2.3") << u"127.1.2.3"_s << true;
    QTest::newRow("::1") << u"::1"_s << true;
    QTest::newRow("[::1]") << u"[::1]"_s << true;
    QTest::newRow("localhost") << u"localhost"_s << true;
    QTest::newRow("LocalHost") << u"LocalHost"_s << true;
    QTest::newRow("0.0.0.0") << u"0.0.0.0"_s << false;
    QTest::newRow("::") << u"::"_s << false;
    QTest::newRow("192.168.1.10") << u"192.168.1.10"_s << false;
    QTest::newRow("example.com") << u"example.com"_s << false;
    QTest::newRow("empty") << QString() << false;
}

void TestConfig::isLoopbackHost()
{
    QFETCH(QString, host);
    QFETCH(bool, loopback);
    Config c;
    c.host = host;
    QCOMPARE(c.isLoopbackHost(), loopback);
}

void TestConfig::origins_data()
{
    QTest::addColumn<QString>("text");
    QTest::addColumn<QStringList>("expected");
    QTest::newRow("one") << u"https://app.example"_s << QStringList{u"https://app.example"_s};
    QTest::newRow("trailing slash, case") << u"HTTPS://App.Example/"_s << QStringList{u"https://app.example"_s};
    QTest::newRow("default ports dropped") << u"https://a.example:443,http://b.example:80"_s
                                           << QStringList{u"https://a.example"_s, u"http://b.example"_s};
    QTest::newRow("other port kept") << u"http://localhost:5173"_s << QStringList{u"http://localhost:5173"_s};
    QTest::newRow("ipv6") << u"http://[::1]:3000"_s << QStringList{u"http://[::1]:3000"_s};
    QTest::newRow("spaces, empties, duplicates") << u" https://a.example , ,https://a.example"_s
                                                 << QStringList{u"https://a.example"_s};
}

void TestConfig::origins()
{
    QFETCH(QString, text);
    QFETCH(QStringList, expected);
    const ConfigOutcome o = parse({u"--allowed-origins"_s, text});
    QVERIFY2(o.config.has_value(), qPrintable(o.err));
    QCOMPARE(o.config->allowedOrigins, expected);
}

void TestConfig::hosts_data()
{
    QTest::addColumn<QString>("text");
    QTest::addColumn<QStringList>("expected"); // empty with an empty text: refused
    QTest::newRow("names, case, spaces") << u" Sidecar.Internal ,10.0.0.7,,sidecar.internal"_s
                                         << QStringList{u"sidecar.internal"_s, u"10.0.0.7"_s};
    QTest::newRow("ipv6 brackets dropped") << u"[fd00::1]"_s << QStringList{u"fd00::1"_s};
    QTest::newRow("any") << u"*"_s << QStringList{u"*"_s};
    QTest::newRow("a URL is refused") << u"http://x.example/"_s << QStringList{};
    QTest::newRow("a port is refused") << u"x.example:8000"_s << QStringList{};
}

void TestConfig::hosts()
{
    QFETCH(QString, text);
    QFETCH(QStringList, expected);
    const ConfigOutcome o = parse({u"--allowed-hosts"_s, text});
    if (expected.isEmpty()) {
        QVERIFY(!o.config.has_value());
        QCOMPARE(o.exitCode, 2);
        QVERIFY2(o.err.contains(u"SIDECAR_ALLOWED_HOSTS"_s), qPrintable(o.err));
        return;
    }
    QVERIFY2(o.config.has_value(), qPrintable(o.err));
    QCOMPARE(o.config->allowedHosts, expected);
}

// The real executable: exit codes, and which stream each text goes to (stdout carries protocol).
void TestConfig::binaryExitCodes_data()
{
    QTest::addColumn<QStringList>("args");
    QTest::addColumn<int>("exitCode");
    QTest::addColumn<QString>("stdoutStart");
    QTest::addColumn<QString>("stderrHas");
    QTest::newRow("--help") << QStringList{u"--help"_s} << 0 << u"Usage: "_s << QString();
    QTest::newRow("--version") << QStringList{u"--version"_s} << 0 << u"mcp-state-sidecar "_s << QString();
    QTest::newRow("bad port") << QStringList{u"--port=70000"_s} << 2 << QString() << u"SIDECAR_PORT"_s;
    QTest::newRow("unknown flag") << QStringList{u"--bogus"_s} << 2 << QString() << u"--bogus"_s;
}

void TestConfig::binaryExitCodes()
{
    QFETCH(QStringList, args);
    QFETCH(int, exitCode);
    QFETCH(QString, stdoutStart);
    QFETCH(QString, stderrHas);
    const QString bin = qEnvironmentVariable("SIDECAR_BIN");
    QVERIFY2(!bin.isEmpty() && QFile::exists(bin), "SIDECAR_BIN is not set (run through ctest)");
    QProcess process;
    process.setProcessEnvironment(QProcessEnvironment()); // no SIDECAR_* from the caller
    process.start(bin, args);
    QVERIFY2(process.waitForFinished(10000), qPrintable(process.errorString()));
    const QString out = QString::fromUtf8(process.readAllStandardOutput());
    const QString err = QString::fromUtf8(process.readAllStandardError());
    QCOMPARE(process.exitStatus(), QProcess::NormalExit);
    QCOMPARE(process.exitCode(), exitCode);
    if (stdoutStart.isEmpty())
        QVERIFY2(out.isEmpty(), qPrintable(out));
    else
        QVERIFY2(out.startsWith(stdoutStart), qPrintable(out));
    if (stderrHas.isEmpty())
        QVERIFY2(err.isEmpty(), qPrintable(err));
    else
        QVERIFY2(err.contains(stderrHas) && err.trimmed().count(u'\n') == 0, qPrintable(err));
}

// The one-off actions. --import-redis-from (SIDECAR_IMPORT_REDIS_FROM): a URL checked like
// REDIS_URL (password masked in the message), and only with the Redis backend, which it imports
// into. --backup-to (SIDECAR_BACKUP_TO): a path, only with the SQLite backend. Neither serves, so
// no HTTP address check applies, and one is asked for at a time.
void TestConfig::oneOffActions_data()
{
    QTest::addColumn<QStringList>("args");
    QTest::addColumn<QStringList>("env");
    QTest::addColumn<QString>("expected"); // the URL or path kept, or empty: refused with exit code 2
    QTest::addColumn<QString>("stderrHas");
    QTest::newRow("flag") << QStringList{u"--backend=redis"_s, u"--import-redis-from"_s, u"redis://old:6379/1"_s}
                          << QStringList{} << u"redis://old:6379/1"_s << QString();
    QTest::newRow("env") << QStringList{}
                         << QStringList{u"STATE_BACKEND=redis"_s, u"SIDECAR_IMPORT_REDIS_FROM=unix:///run/r.sock"_s}
                         << u"unix:///run/r.sock"_s << QString();
    QTest::newRow("http elsewhere is not served") << QStringList{u"--import-redis-from=redis://old"_s}
                                                  << QStringList{u"STATE_BACKEND=redis"_s,
                                                                 u"SIDECAR_TRANSPORT=http"_s,
                                                                 u"SIDECAR_HOST=0.0.0.0"_s}
                                                  << u"redis://old"_s << QString();
    QTest::newRow("sqlite backend") << QStringList{u"--import-redis-from=redis://old:6379"_s} << QStringList{}
                                    << QString() << u"STATE_BACKEND=redis"_s;
    QTest::newRow("malformed") << QStringList{u"--backend=redis"_s, u"--import-redis-from=http://old"_s}
                               << QStringList{} << QString() << u"SIDECAR_IMPORT_REDIS_FROM"_s;
    QTest::newRow("password masked") << QStringList{u"--backend=redis"_s,
                                                    u"--import-redis-from=redis://u:hunter2@old:6379/x"_s}
                                     << QStringList{} << QString() << u"redis://u:***@old:6379/x"_s;
    // --backup-to: a path, only with the SQLite backend, and one one-off action at a time.
    QTest::newRow("backup flag") << QStringList{u"--backup-to"_s, u"/var/backups/s.db"_s} << QStringList{}
                                 << u"/var/backups/s.db"_s << QString();
    QTest::newRow("backup env") << QStringList{} << QStringList{u"SIDECAR_BACKUP_TO=/srv/copies/"_s}
                                << u"/srv/copies/"_s << QString();
    QTest::newRow("backup, http elsewhere is not served")
        << QStringList{u"--backup-to=/tmp/c.db"_s} << QStringList{u"SIDECAR_TRANSPORT=http"_s, u"SIDECAR_HOST=0.0.0.0"_s}
        << u"/tmp/c.db"_s << QString();
    QTest::newRow("backup of redis") << QStringList{u"--backend=redis"_s, u"--backup-to=/tmp/c.db"_s} << QStringList{}
                                     << QString() << u"BGSAVE"_s;
    QTest::newRow("backup and import") << QStringList{u"--backend=redis"_s, u"--backup-to=/tmp/c.db"_s,
                                                      u"--import-redis-from=redis://old"_s}
                                       << QStringList{} << QString() << u"one at a time"_s;
}

void TestConfig::oneOffActions()
{
    QFETCH(QStringList, args);
    QFETCH(QStringList, env);
    QFETCH(QString, expected);
    QFETCH(QString, stderrHas);
    const ConfigOutcome o = parse(args, env);
    if (expected.isEmpty()) {
        QVERIFY(!o.config.has_value());
        QCOMPARE(o.exitCode, 2);
        QVERIFY2(o.err.contains(stderrHas), qPrintable(o.err));
        QVERIFY2(!o.err.contains(u"hunter2"_s), qPrintable(o.err));
        QVERIFY2(!o.err.contains(u'\n'), qPrintable(o.err));
        return;
    }
    QVERIFY2(o.config.has_value(), qPrintable(o.err));
    QVERIFY(o.config->isOneOffAction());
    QCOMPARE(args.join(u' ').contains(u"backup"_s) || env.join(u' ').contains(u"BACKUP"_s)
                 ? o.config->backupTo
                 : o.config->importRedisFrom,
             expected);
}

void TestConfig::markdownTable()
{
    const QString md = sidecar::daemon::configTableMarkdown();
    const QStringList lines = md.trimmed().split(u'\n');
    QCOMPARE(lines.size(), qsizetype(sidecar::daemon::configSettings().size() + 2));
    QVERIFY(lines.at(0).startsWith(u"| Environment variable | Flag | Type | Default | Meaning |"_s));
    for (const auto &s : sidecar::daemon::configSettings())
        QVERIFY2(md.contains(u"| `"_s + s.env + u"` | `"_s + s.flag + u"` |"_s), qPrintable(s.env));
    QVERIFY(md.contains(u"`sqlite\\|redis`"_s)); // pipes escaped inside cells
    QVERIFY(md.contains(u"`1048576` (1 MiB)"_s));
}

// docs/configuration-table.md, docs/configuration.md and the README carry copies of
// configTableMarkdown(): they must not drift.
void TestConfig::docsTableIsCurrent()
{
    const QString root = qEnvironmentVariable("SIDECAR_SOURCE_DIR");
    QVERIFY2(!root.isEmpty(), "SIDECAR_SOURCE_DIR is not set (run through ctest)");
    const QString table = sidecar::daemon::configTableMarkdown();
    // The rows (the copies may introduce the table with text of their own).
    const QString rows = table.mid(table.indexOf(u"| `"_s));
    for (const QString &name : {u"docs/configuration-table.md"_s, u"docs/configuration.md"_s, u"README.md"_s}) {
        QFile file(root + u'/' + name);
        QVERIFY2(file.open(QIODevice::ReadOnly), qPrintable(file.fileName()));
        const QString text = QString::fromUtf8(file.readAll());
        QVERIFY2(text.contains(rows), qPrintable(name + u" differs from configTableMarkdown(): copy it again"_s));
    }
}

// packaging/mcp-state-sidecar.default, installed as /etc/default/mcp-state-sidecar, lists every
// setting commented out, under a one-line description, with the value the service runs with: the
// table's default, or the value packaging/mcp-state-sidecar.service sets. It must not drift.
void TestConfig::environmentFileIsComplete()
{
    const QString root = qEnvironmentVariable("SIDECAR_SOURCE_DIR");
    QVERIFY2(!root.isEmpty(), "SIDECAR_SOURCE_DIR is not set (run through ctest)");
    const auto readLines = [&root](const QString &name) {
        QFile file(root + u'/' + name);
        if (!file.open(QIODevice::ReadOnly))
            qWarning("cannot read %s", qPrintable(file.fileName()));
        return QString::fromUtf8(file.readAll()).split(u'\n');
    };

    std::map<QString, QString> serviceValues; // the unit's Environment=KEY=value lines
    QStringList serviceEnv;
    for (const QString &line : readLines(u"packaging/mcp-state-sidecar.service"_s)) {
        if (!line.startsWith("Environment="_L1))
            continue;
        const QString pair = line.mid(qsizetype(sizeof("Environment=") - 1));
        const qsizetype eq = pair.indexOf(u'=');
        serviceValues[pair.left(eq)] = pair.mid(eq + 1);
        serviceEnv << pair;
    }
    // The unit's own values must be valid settings.
    const ConfigOutcome unitOutcome = parse({u"--transport=http"_s}, serviceEnv);
    QVERIFY2(unitOutcome.config.has_value(), qPrintable(unitOutcome.err));
    // The unit runs mcp-state-sidecar-http, which serves HTTP whatever SIDECAR_TRANSPORT says.
    serviceValues[u"SIDECAR_TRANSPORT"_s] = u"http"_s;

    const QStringList lines = readLines(u"packaging/mcp-state-sidecar.default"_s);
    QVERIFY(lines.size() > 1);
    static const QRegularExpression assignment(u"^#([A-Z][A-Z0-9_]*)=(.*)$"_s);
    QStringList listed;
    for (qsizetype i = 0; i < lines.size(); ++i) {
        const QString &line = lines.at(i);
        QVERIFY2(line.isEmpty() || line.startsWith(u'#'), qPrintable(u"not commented out: "_s + line));
        const QRegularExpressionMatch m = assignment.match(line);
        if (!m.hasMatch())
            continue;
        const QString env = m.captured(1);
        const auto &settings = sidecar::daemon::configSettings();
        const auto setting = std::find_if(settings.begin(), settings.end(),
                                          [&env](const auto &s) { return s.env == env; });
        QVERIFY2(setting != settings.end(), qPrintable(env + u" is no setting"_s));
        QVERIFY2(!listed.contains(env), qPrintable(env + u" is listed twice"_s));
        listed << env;
        const QString &above = lines.at(qMax<qsizetype>(0, i - 1));
        QVERIFY2(i > 0 && above.startsWith(u"# "_s) && above.size() > 10,
                 qPrintable(env + u" has no description on the line above it"_s));
        const auto fromUnit = serviceValues.find(env);
        const QString expected = fromUnit != serviceValues.end() ? fromUnit->second : setting->defaultText();
        QVERIFY2(m.captured(2) == expected,
                 qPrintable(u"%1: the file says \"%2\", the service runs with \"%3\""_s.arg(
                     env, m.captured(2), expected)));
    }
    for (const auto &s : sidecar::daemon::configSettings())
        QVERIFY2(listed.contains(s.env),
                 qPrintable(s.env + u" is missing from packaging/mcp-state-sidecar.default"_s));
}

void TestConfig::loggingLevels_data()
{
    QTest::addColumn<QString>("level");
    QTest::addColumn<bool>("debug");
    QTest::addColumn<bool>("info");
    QTest::addColumn<bool>("warning");
    QTest::newRow("debug") << u"debug"_s << true << true << true;
    QTest::newRow("info") << u"info"_s << false << true << true;
    QTest::newRow("warning") << u"WARNING"_s << false << false << true;
    QTest::newRow("error") << u"error"_s << false << false << false;
}

void TestConfig::loggingLevels()
{
    QFETCH(QString, level);
    QFETCH(bool, debug);
    QFETCH(bool, info);
    QFETCH(bool, warning);
    // QT_LOGGING_RULES would override the rules under test (they are re-read on each install).
    qunsetenv("QT_LOGGING_RULES");
    const QtMessageHandler previous = sidecar::daemon::installLogging(level);
    qInstallMessageHandler(previous); // keep QtTest's handler; only the rules are under test
    const QLoggingCategory &server = sidecar::daemon::lcServer();
    QCOMPARE(server.isDebugEnabled(), debug);
    QCOMPARE(server.isInfoEnabled(), info);
    QCOMPARE(server.isWarningEnabled(), warning);
    QVERIFY(server.isCriticalEnabled());
    QLoggingCategory other("sidecar.store.sqlite");
    QCOMPARE(other.isInfoEnabled(), info);
    QCOMPARE(other.isWarningEnabled(), warning);
    QLoggingCategory::setFilterRules(QString());
}

QTEST_GUILESS_MAIN(TestConfig)
#include "tst_config.moc"
