#include "config.h"

#include "store/redis/redisconnection.h"

#include <cmath>
#include <limits>
#include <map>

#include <QHostAddress>
#include <QLocale>
#include <QRegularExpression>
#include <QUrl>

namespace sidecar::daemon {

using namespace Qt::StringLiterals;

namespace {

constexpr qint64 kInt64Max = std::numeric_limits<qint64>::max();
constexpr qint64 kKiB = 1024;
constexpr qint64 kMiB = kKiB * 1024;
constexpr qint64 kGiB = kMiB * 1024;
constexpr double kMaxSeconds = 31536000; // one year, the contract's TTL bound

Result<void> expected(const QString &what)
{
    return fail(ErrorCode::InvalidArgument, u"expected "_s + what);
}

std::optional<qint64> parseInteger(const QString &text)
{
    const QString t = text.trimmed();
    bool ok = false;
    const qint64 n = t.toLongLong(&ok, 10);
    return ok && !t.isEmpty() ? std::optional<qint64>(n) : std::nullopt;
}

std::optional<double> parseNumber(const QString &text)
{
    bool ok = false;
    const double d = text.trimmed().toDouble(&ok);
    return ok && std::isfinite(d) ? std::optional<double>(d) : std::nullopt;
}

std::optional<bool> parseBoolean(const QString &text)
{
    const QString t = text.trimmed().toLower();
    if (t == "1"_L1 || t == "true"_L1 || t == "yes"_L1)
        return true;
    if (t == "0"_L1 || t == "false"_L1 || t == "no"_L1)
        return false;
    return std::nullopt;
}

QString numberText(double d)
{
    return QString::number(d, 'g', QLocale::FloatingPointShortest);
}

QString rangeText(qint64 min, qint64 max)
{
    if (max == kInt64Max)
        return u"an integer of at least %1"_s.arg(min);
    return u"an integer from %1 to %2"_s.arg(min).arg(max);
}

// "1048576" -> "1 MiB", for help and docs; empty when the size is not a whole unit.
QString humanBytes(qint64 n)
{
    if (n >= kGiB && n % kGiB == 0)
        return u"%1 GiB"_s.arg(n / kGiB);
    if (n >= kMiB && n % kMiB == 0)
        return u"%1 MiB"_s.arg(n / kMiB);
    if (n >= kKiB && n % kKiB == 0)
        return u"%1 KiB"_s.arg(n / kKiB);
    return {};
}

Setting makeSetting(const char *env, const char *flag, QString type, const char *meaning)
{
    Setting s;
    s.env = QString::fromLatin1(env);
    s.flag = QString::fromLatin1(flag);
    s.type = std::move(type);
    s.meaning = QString::fromUtf8(meaning);
    return s;
}

template<class T>
Setting integerSetting(const char *env, const char *flag, const char *type, T Config::*member, qint64 min,
                       qint64 max, const char *meaning)
{
    Setting s = makeSetting(env, flag, QString::fromLatin1(type), meaning);
    s.apply = [member, min, max](Config &c, const QString &v) -> Result<void> {
        const auto n = parseInteger(v);
        if (!n || *n < min || *n > max)
            return expected(rangeText(min, max));
        c.*member = static_cast<T>(*n);
        return {};
    };
    s.show = [member](const Config &c) { return QString::number(c.*member); };
    return s;
}

Setting secondsSetting(const char *env, const char *flag, double Config::*member, const char *meaning)
{
    Setting s = makeSetting(env, flag, u"seconds"_s, meaning);
    s.apply = [member](Config &c, const QString &v) -> Result<void> {
        const auto d = parseNumber(v);
        if (!d || *d < 0.001 || *d > kMaxSeconds)
            return expected(u"a number of seconds from 0.001 to %1"_s.arg(numberText(kMaxSeconds)));
        c.*member = *d;
        return {};
    };
    s.show = [member](const Config &c) { return numberText(c.*member); };
    return s;
}

Setting booleanSetting(const char *env, const char *flag, bool Config::*member, const char *meaning)
{
    Setting s = makeSetting(env, flag, u"boolean"_s, meaning);
    s.isBoolean = true;
    s.apply = [member](Config &c, const QString &v) -> Result<void> {
        const auto b = parseBoolean(v);
        if (!b)
            return expected(u"1/0, true/false or yes/no"_s);
        c.*member = *b;
        return {};
    };
    s.show = [member](const Config &c) { return c.*member ? u"true"_s : u"false"_s; };
    return s;
}

// A case-insensitive choice, stored lower-cased.
Setting choiceSetting(const char *env, const char *flag, QStringList choices, QString Config::*member,
                      const char *meaning)
{
    Setting s = makeSetting(env, flag, choices.join(u'|'), meaning);
    s.apply = [member, choices](Config &c, const QString &v) -> Result<void> {
        const QString t = v.trimmed().toLower();
        if (!choices.contains(t))
            return expected(u"one of "_s + choices.join(u", "_s));
        c.*member = t;
        return {};
    };
    s.show = [member](const Config &c) { return c.*member; };
    return s;
}

// A free-form string; `check` returns an error message (empty: fine) and may normalise the value.
Setting textSetting(const char *env, const char *flag, const char *type, QString Config::*member,
                    std::function<QString(QString &)> check, const char *meaning)
{
    Setting s = makeSetting(env, flag, QString::fromLatin1(type), meaning);
    s.apply = [member, check](Config &c, const QString &v) -> Result<void> {
        QString value = v;
        if (check) {
            const QString problem = check(value);
            if (!problem.isEmpty())
                return expected(problem);
        }
        c.*member = value;
        return {};
    };
    s.show = [member](const Config &c) { return c.*member; };
    return s;
}

QString checkNonEmpty(QString &v)
{
    return v.isEmpty() ? u"a non-empty path"_s : QString();
}

QString checkHost(QString &v)
{
    QString h = v.trimmed();
    if (h.startsWith(u'[') && h.endsWith(u']'))
        h = h.mid(1, h.size() - 2);
    static const QRegularExpression hostname(
        u"^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\\.?$"_s);
    QHostAddress address;
    if (h.isEmpty() || (!address.setAddress(h) && !hostname.match(h).hasMatch()))
        return u"an IP address or a host name"_s;
    v = h;
    return {};
}

// The same parser the Redis backend connects with (store/redis/redisconnection.h); its message
// never repeats a password.
QString checkRedisUrl(QString &v)
{
    v = v.trimmed();
    auto parsed = store::redis::parseRedisUrl(v);
    return parsed ? QString() : parsed.error().message;
}

Setting originsSetting()
{
    Setting s = makeSetting("SIDECAR_ALLOWED_ORIGINS", "--allowed-origins", u"list"_s,
                            "Comma-separated browser origins (scheme://host[:port]) allowed to use the HTTP "
                            "transport; empty: localhost origins only.");
    s.apply = [](Config &c, const QString &v) -> Result<void> {
        QStringList origins;
        for (const QString &part : v.split(u',')) {
            const QString text = part.trimmed();
            if (text.isEmpty())
                continue;
            const QUrl url(text, QUrl::StrictMode);
            const QString scheme = url.scheme().toLower();
            const bool bare = url.path().isEmpty() || url.path() == "/"_L1;
            if (!url.isValid() || (scheme != "http"_L1 && scheme != "https"_L1) || url.host().isEmpty() || !bare
                || url.hasQuery() || url.hasFragment() || !url.userInfo().isEmpty())
                return expected(u"comma-separated origins like https://example.com:8443, not \"%1\""_s.arg(text));
            QString host = url.host(QUrl::FullyEncoded).toLower();
            if (host.contains(u':'))
                host = u'[' + host + u']';
            QString origin = scheme + u"://"_s + host;
            const int defaultPort = scheme == "https"_L1 ? 443 : 80;
            if (url.port() != -1 && url.port() != defaultPort)
                origin += u':' + QString::number(url.port());
            if (!origins.contains(origin))
                origins.append(origin);
        }
        c.allowedOrigins = origins;
        return {};
    };
    s.show = [](const Config &c) { return c.allowedOrigins.join(u','); };
    return s;
}

Setting hostsSetting()
{
    Setting s = makeSetting("SIDECAR_ALLOWED_HOSTS", "--allowed-hosts", u"list"_s,
                            "Comma-separated host names the HTTP transport answers to (the Host header) besides "
                            "localhost names; empty: any Host on a non-loopback address, localhost names only "
                            "on a loopback one (against DNS rebinding).");
    s.apply = [](Config &c, const QString &v) -> Result<void> {
        QStringList hosts;
        for (const QString &part : v.split(u',')) {
            QString host = part.trimmed().toLower();
            if (host.isEmpty())
                continue;
            if (host != "*"_L1 && !checkHost(host).isEmpty())
                return expected(u"comma-separated host names or IP addresses (no port), not \"%1\""_s.arg(part.trimmed()));
            if (!hosts.contains(host))
                hosts.append(host);
        }
        c.allowedHosts = hosts;
        return {};
    };
    s.show = [](const Config &c) { return c.allowedHosts.join(u','); };
    return s;
}

Setting durabilitySetting()
{
    Setting s = makeSetting("SIDECAR_DURABILITY", "--durability", u"full|normal"_s,
                            "full: answered writes survive power loss; normal: they survive a crash of the "
                            "process, and a power loss may lose the last moments, never corrupting.");
    s.apply = [](Config &c, const QString &v) -> Result<void> {
        const QString t = v.trimmed().toLower();
        if (t != "full"_L1 && t != "normal"_L1)
            return expected(u"one of full, normal"_s);
        c.durable = t == "full"_L1;
        return {};
    };
    s.show = [](const Config &c) { return c.durable ? u"full"_s : u"normal"_s; };
    return s;
}

std::vector<Setting> buildSettings()
{
    std::vector<Setting> t;
    t.push_back(choiceSetting("STATE_BACKEND", "--backend", {u"sqlite"_s, u"redis"_s}, &Config::backend,
                              "Storage backend, case-insensitive: a SQLite file on this host, or Redis shared by "
                              "several sidecar instances."));
    t.push_back(textSetting("DB_PATH", "--db-path", "path", &Config::dbPath, checkNonEmpty,
                            "SQLite database file, created if missing; its absolute path is logged at start."));
    t.push_back(textSetting("REDIS_URL", "--redis-url", "url", &Config::redisUrl, checkRedisUrl,
                            "Redis server: redis://[user:password@]host[:port][/db] or unix:///path/to/socket."));
    t.back().mayHoldPassword = true;
    t.push_back(textSetting("SIDECAR_HOST", "--host", "host", &Config::host, checkHost,
                            "Address the HTTP transport listens on; a non-loopback address needs "
                            "SIDECAR_TOKENS_FILE or SIDECAR_INSECURE."));
    t.push_back(integerSetting("SIDECAR_PORT", "--port", "port", &Config::port, 0, 65535,
                               "TCP port of the HTTP transport; 0 picks a free port."));
    t.push_back(choiceSetting("SIDECAR_TRANSPORT", "--transport", {u"stdio"_s, u"http"_s}, &Config::transport,
                              "stdio: JSON-RPC lines on stdin/stdout; http: Streamable HTTP at /mcp, with "
                              "/healthz, /readyz and /metrics. --http is short for --transport http."));
    t.push_back(secondsSetting("SIDECAR_CLAIM_TTL", "--claim-ttl", &Config::claimTtl,
                               "How long a workflow claim lasts unless a heartbeat or checkpoint renews it."));
    t.push_back(integerSetting("SIDECAR_HISTORY_LIMIT", "--history-limit", "integer", &Config::historyLimit, 1,
                               kInt64Max, "Most history entries kept; the oldest are pruned first."));
    t.push_back(integerSetting("SIDECAR_HISTORY_MAX_BYTES", "--history-max-bytes", "bytes",
                               &Config::historyMaxBytes, 1, kInt64Max,
                               "Most bytes of history kept; the oldest entries are pruned first."));
    t.push_back(integerSetting("SIDECAR_MAX_VALUE_BYTES", "--max-value-bytes", "bytes", &Config::maxValueBytes, 1,
                               kGiB,
                               "Largest value, input, output, result or context, measured as compact JSON; "
                               "larger is too_large. A request may be at most this plus 1 MiB."));
    t.push_back(integerSetting("SIDECAR_MAX_REPLY_BYTES", "--max-reply-bytes", "bytes", &Config::maxReplyBytes,
                               1024, 4 * kGiB,
                               "Largest reply: lists, history and watch stop early (next_cursor, more:true) "
                               "rather than pass it."));
    t.push_back(integerSetting("SIDECAR_MAX_LIST", "--max-list", "integer", &Config::maxList, 1, kInt64Max,
                               "Most items a list without limit returns; past it the call is too_large and the "
                               "caller must page."));
    t.push_back(durabilitySetting());
    t.push_back(originsSetting());
    t.push_back(hostsSetting());
    t.push_back(textSetting("SIDECAR_TOKENS_FILE", "--tokens-file", "path", &Config::tokensFile, nullptr,
                            "JSON file of SHA-256 hashed bearer tokens and their scopes; SIGHUP reloads it. "
                            "Empty: no tokens, every caller has every scope."));
    t.push_back(booleanSetting("SIDECAR_ALLOW_RESET", "--allow-reset", &Config::allowReset,
                               "Allows the sidecar_reset tool, which erases all state."));
    t.push_back(booleanSetting("SIDECAR_INSECURE", "--insecure", &Config::insecure,
                               "Allows HTTP on a non-loopback address without a tokens file, giving every "
                               "caller every scope."));
    t.push_back(choiceSetting("SIDECAR_LOG_LEVEL", "--log-level", {u"debug"_s, u"info"_s, u"warning"_s, u"error"_s},
                              &Config::logLevel, "Least severe log messages written to stderr."));
    t.push_back(textSetting("SIDECAR_REDIS_PREFIX", "--redis-prefix", "string", &Config::redisPrefix, nullptr,
                            "Prefix of every Redis key; sidecars that share state use the same prefix."));
    t.push_back(textSetting("SIDECAR_IMPORT_REDIS_FROM", "--import-redis-from", "url", &Config::importRedisFrom,
                            checkRedisUrl,
                            "A one-off action instead of serving: imports the original package's Redis data (kv:, "
                            "wf:, lease:, session: keys) from this Redis into the Redis backend, prints a summary "
                            "and exits (docs/redis.md)."));
    t.back().mayHoldPassword = true;
    t.push_back(textSetting("SIDECAR_BACKUP_TO", "--backup-to", "path", &Config::backupTo, nullptr,
                            "A one-off action instead of serving: writes a consistent copy of the SQLite database "
                            "to this new file (or into this directory), while sidecars keep serving from it, "
                            "checks the copy and exits (docs/backup.md)."));
    t.push_back(integerSetting("SIDECAR_HTTP_MAX_HEADER_BYTES", "--http-max-header-bytes", "bytes",
                               &Config::httpMaxHeaderBytes, 1024, 16 * kMiB,
                               "Largest HTTP request line plus headers; a larger request is refused."));
    t.push_back(integerSetting("SIDECAR_HTTP_MAX_CONNECTIONS", "--http-max-connections", "integer",
                               &Config::httpMaxConnections, 1, 1000000,
                               "Most HTTP connections open at once; more are refused until one closes."));
    t.push_back(secondsSetting("SIDECAR_HTTP_IDLE_TIMEOUT", "--http-idle-timeout", &Config::httpIdleTimeout,
                               "How long an HTTP connection may sit idle between requests before it is closed."));
    t.push_back(secondsSetting("SIDECAR_HTTP_HEADER_TIMEOUT", "--http-header-timeout", &Config::httpHeaderTimeout,
                               "How long a client may take to send a request's line and headers."));
    t.push_back(secondsSetting("SIDECAR_SESSION_IDLE_TIMEOUT", "--session-idle-timeout",
                               &Config::sessionIdleTimeout,
                               "How long an HTTP MCP session may go unused before the server ends it."));
    t.push_back(integerSetting("SIDECAR_HTTP_LISTEN_BACKLOG", "--http-listen-backlog", "integer",
                               &Config::httpListenBacklog, 1, 65535,
                               "Connections the kernel queues while the server is busy accepting."));
    t.push_back(secondsSetting("SIDECAR_HTTP_REQUEST_TIMEOUT", "--http-request-timeout", &Config::httpRequestTimeout,
                               "How long a client may take to send a whole request (line, headers and body) from "
                               "its first byte; a slower one gets 408 and is disconnected."));
    t.push_back(integerSetting("SIDECAR_HTTP_MAX_SESSIONS", "--http-max-sessions", "integer", &Config::httpMaxSessions,
                               1, 10000000,
                               "Most MCP sessions live at once over HTTP; an initialize beyond is refused with 503 "
                               "until sessions end (DELETE, or the idle timeout)."));
    t.push_back(integerSetting("SIDECAR_HTTP_RATE_LIMIT", "--http-rate-limit", "integer", &Config::httpRateLimit, 0,
                               1000000000,
                               "Requests per second one HTTP connection may send on average; more are answered "
                               "429 with Retry-After. 0: no limit."));
    t.push_back(integerSetting("SIDECAR_HTTP_RATE_BURST", "--http-rate-burst", "integer", &Config::httpRateBurst, 1,
                               1000000000,
                               "Requests one HTTP connection may send at once above SIDECAR_HTTP_RATE_LIMIT "
                               "before it applies."));
    return t;
}

QString quoted(const QString &value)
{
    return u'"' + value + u'"';
}

// "redis://user:secret@host" -> "redis://user:***@host": bad values are echoed to stderr.
QString maskPassword(const QString &value)
{
    static const QRegularExpression password(u"^([A-Za-z][A-Za-z0-9+.-]*://[^:@/]*):[^@/]*@"_s);
    QString masked = value;
    return masked.replace(password, u"\\1:***@"_s);
}

QString flagSyntax(const Setting &s)
{
    if (s.isBoolean)
        return s.flag + u"[=<boolean>]"_s;
    return s.flag + u" <"_s + s.type + u'>';
}

// The default as shown to humans: "(none)" when empty, bytes with their unit.
QString defaultDisplay(const Setting &s, bool markdown)
{
    const QString text = s.defaultText();
    if (text.isEmpty())
        return u"(none)"_s;
    QString shown = markdown ? QString(u'`' + text + u'`') : text;
    if (s.type == "bytes"_L1) {
        const QString human = humanBytes(text.toLongLong());
        if (!human.isEmpty())
            shown += u" ("_s + human + u')';
    }
    return shown;
}

QString wrapped(const QString &text, int indent, int width)
{
    const QString pad(indent, u' ');
    QString out;
    QString line;
    for (const QString &word : text.split(u' ', Qt::SkipEmptyParts)) {
        if (!line.isEmpty() && indent + line.size() + 1 + word.size() > width) {
            out += pad + line + u'\n';
            line.clear();
        }
        line += (line.isEmpty() ? QString() : u" "_s) + word;
    }
    if (!line.isEmpty())
        out += pad + line + u'\n';
    return out;
}

QString markdownCell(QString text)
{
    return text.replace(u'|', u"\\|"_s);
}

} // namespace

bool Config::isLoopbackHost() const
{
    QString h = host.trimmed();
    if (h.startsWith(u'[') && h.endsWith(u']'))
        h = h.mid(1, h.size() - 2);
    if (h.compare("localhost"_L1, Qt::CaseInsensitive) == 0 || h.compare("localhost."_L1, Qt::CaseInsensitive) == 0)
        return true;
    QHostAddress address;
    return address.setAddress(h) && address.isLoopback();
}

const std::vector<Setting> &configSettings()
{
    static const std::vector<Setting> settings = buildSettings();
    return settings;
}

ConfigOutcome parseConfig(const QStringList &arguments, const QProcessEnvironment &env, const QString &programName)
{
    const std::vector<Setting> &settings = configSettings();
    const auto failed = [&programName](const QString &message) {
        ConfigOutcome outcome;
        outcome.exitCode = 2;
        outcome.err = programName + u": "_s + message;
        return outcome;
    };

    std::map<std::size_t, QString> fromFlags; // setting index -> value; the last occurrence wins
    const auto transportIndex = [&settings] {
        for (std::size_t i = 0; i < settings.size(); ++i)
            if (settings[i].env == "SIDECAR_TRANSPORT"_L1)
                return i;
        Q_UNREACHABLE();
        return std::size_t(0);
    }();

    for (qsizetype i = 0; i < arguments.size(); ++i) {
        const QString &arg = arguments.at(i);
        if (arg == "--help"_L1 || arg == "-h"_L1) {
            ConfigOutcome outcome;
            outcome.out = configHelp(programName);
            return outcome;
        }
        if (arg == "--version"_L1 || arg == "-V"_L1) {
            ConfigOutcome outcome;
            outcome.out = u"mcp-state-sidecar "_s + QLatin1StringView(SIDECAR_VERSION) + u'\n';
            return outcome;
        }
        if (arg == "--http"_L1) {
            fromFlags[transportIndex] = u"http"_s;
            continue;
        }
        if (!arg.startsWith("--"_L1) || arg == "--"_L1)
            return failed(u"unexpected argument %1 (see --help)"_s.arg(quoted(arg)));

        const qsizetype eq = arg.indexOf(u'=');
        const QString name = eq < 0 ? arg : arg.left(eq);
        std::size_t index = settings.size();
        for (std::size_t k = 0; k < settings.size(); ++k)
            if (settings[k].flag == name)
                index = k;
        if (index == settings.size())
            return failed(u"unknown option %1 (see --help)"_s.arg(quoted(name)));

        if (eq >= 0)
            fromFlags[index] = arg.mid(eq + 1);
        else if (settings[index].isBoolean)
            fromFlags[index] = u"true"_s;
        else if (i + 1 < arguments.size() && !arguments.at(i + 1).startsWith("--"_L1))
            fromFlags[index] = arguments.at(++i);
        else
            return failed(u"option %1 (%2) needs a value"_s.arg(name, settings[index].env));
    }

    Config config;
    for (std::size_t k = 0; k < settings.size(); ++k) {
        const Setting &s = settings[k];
        QString value;
        QString source;
        if (const auto it = fromFlags.find(k); it != fromFlags.end()) {
            value = it->second;
            source = s.flag + u" ("_s + s.env + u')';
        } else if (const QString fromEnv = env.value(s.env); !fromEnv.isEmpty()) {
            value = fromEnv;
            source = s.env + u" (environment)"_s;
        } else {
            continue;
        }
        if (const Result<void> applied = s.apply(config, value); !applied)
            return failed(u"bad value %1 for %2: %3"_s.arg(quoted(s.mayHoldPassword ? maskPassword(value) : value),
                                                            source, applied.error().message));
    }

    if (!config.backupTo.isEmpty() && !config.importRedisFrom.isEmpty())
        return failed(u"SIDECAR_BACKUP_TO and SIDECAR_IMPORT_REDIS_FROM are two one-off actions: ask for one at a time"_s);
    if (!config.importRedisFrom.isEmpty() && config.backend != "redis"_L1)
        return failed(u"SIDECAR_IMPORT_REDIS_FROM (--import-redis-from) imports into the Redis backend, not %1: set "
                      "STATE_BACKEND=redis (--backend redis), with REDIS_URL and SIDECAR_REDIS_PREFIX naming the "
                      "target"_s.arg(quoted(config.backend)));

    if (!config.backupTo.isEmpty() && config.backend != "sqlite"_L1)
        return failed(u"SIDECAR_BACKUP_TO (--backup-to) copies the SQLite database; back up Redis with its own "
                      "means (BGSAVE, or a copy of its RDB or AOF files; docs/backup.md)"_s);

    if (!config.isOneOffAction() && config.transport == "http"_L1 && !config.isLoopbackHost()
        && config.tokensFile.isEmpty() && !config.insecure)
        return failed(u"refusing to serve HTTP on %1 without SIDECAR_TOKENS_FILE: anyone who can reach it would "
                      "have every scope; set SIDECAR_TOKENS_FILE, listen on a loopback SIDECAR_HOST, or set "
                      "SIDECAR_INSECURE=1 if that is intended"_s.arg(quoted(config.host)));

    ConfigOutcome outcome;
    outcome.config = config;
    return outcome;
}

QString configHelp(const QString &programName)
{
    constexpr int width = 80;
    QString out = u"Usage: "_s + programName + u" [options]\n\n"_s;
    out += wrapped(u"Durable, concurrent state for multi-agent AI systems, over the Model Context Protocol: "
                   "MCP on stdin/stdout (the default) or Streamable HTTP at /mcp."_s,
                   0, width);
    out += u'\n';
    out += wrapped(u"Every setting is an environment variable and a flag; a flag wins over the environment, "
                   "which wins over the default. Give a value as \"--flag value\" or \"--flag=value\"; a boolean "
                   "flag alone means true. Booleans accept 1/0, true/false, yes/no. An environment variable "
                   "set to the empty string counts as unset. A bad value exits with code 2."_s,
                   0, width);
    out += u"\nOptions:\n"_s
           u"  -h, --help        Print this help and exit.\n"_s
           u"  -V, --version     Print the version and exit.\n"_s
           u"  --http            Same as --transport http.\n"_s
           u"\nSettings (environment variable, flag <type>, default, meaning):\n"_s;
    for (const Setting &s : configSettings()) {
        out += u"  "_s + s.env + u", "_s + flagSyntax(s) + u'\n';
        out += u"      default: "_s + defaultDisplay(s, false) + u'\n';
        out += wrapped(s.meaning, 6, width);
    }
    return out;
}

QString configTableMarkdown()
{
    QString out = u"| Environment variable | Flag | Type | Default | Meaning |\n"_s
                  u"|---|---|---|---|---|\n"_s;
    for (const Setting &s : configSettings()) {
        const QString type = s.type.contains(u'|') ? QString(u'`' + s.type + u'`') : s.type;
        out += u"| `"_s + s.env + u"` | `"_s + s.flag + u"` | "_s + markdownCell(type) + u" | "_s
            + markdownCell(defaultDisplay(s, true)) + u" | "_s + markdownCell(s.meaning) + u" |\n"_s;
    }
    return out;
}

} // namespace sidecar::daemon
