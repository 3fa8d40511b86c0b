#pragma once

// The daemon's configuration: every setting is an environment variable and a command-line
// flag (TOOLS.md, "Configuration"); a flag wins over the environment, which wins over the
// default. One table of setting descriptors (configSettings()) drives parsing, `--help` and the
// Markdown table in docs/configuration-table.md, so the three cannot drift apart.
//
// Thread: plain data and pure functions; parseConfig() reads only its arguments (no global
// state, no output), so tests call it directly and main.cpp prints ConfigOutcome::out/err.

#include <QProcessEnvironment>
#include <QString>
#include <QStringList>
#include <QtGlobal>

#include <functional>
#include <optional>
#include <vector>

#include "protocol/result.h"

namespace sidecar::daemon {

// Every setting of the daemon, with its default. The comment names the environment variable.
struct Config
{
    QString backend = QStringLiteral("sqlite");                  // STATE_BACKEND: "sqlite" | "redis" (lower-cased)
    QString dbPath = QStringLiteral("state_sidecar.db");         // DB_PATH
    QString redisUrl = QStringLiteral("redis://localhost:6379"); // REDIS_URL
    QString host = QStringLiteral("127.0.0.1");                  // SIDECAR_HOST (IPv6 without brackets)
    quint16 port = 8000;                                         // SIDECAR_PORT (0: any free port)
    QString transport = QStringLiteral("stdio");                 // SIDECAR_TRANSPORT: "stdio" | "http"
    double claimTtl = 300;                                       // SIDECAR_CLAIM_TTL, seconds
    qint64 historyLimit = 1000000;                               // SIDECAR_HISTORY_LIMIT, entries
    qint64 historyMaxBytes = qint64(1) << 30;                    // SIDECAR_HISTORY_MAX_BYTES
    qint64 maxValueBytes = qint64(1) << 20;                      // SIDECAR_MAX_VALUE_BYTES
    qint64 maxReplyBytes = qint64(16) << 20;                     // SIDECAR_MAX_REPLY_BYTES
    qint64 maxList = 100000;                                     // SIDECAR_MAX_LIST
    bool durable = true;                                         // SIDECAR_DURABILITY: full (true) | normal
    QStringList allowedOrigins; // SIDECAR_ALLOWED_ORIGINS, normalised "scheme://host[:port]"; empty: localhost only
    QStringList allowedHosts;   // SIDECAR_ALLOWED_HOSTS, lower-case host names; empty: see the setting
    QString tokensFile;         // SIDECAR_TOKENS_FILE; empty: tokens off
    bool allowReset = false;    // SIDECAR_ALLOW_RESET
    bool insecure = false;      // SIDECAR_INSECURE
    QString logLevel = QStringLiteral("info");        // SIDECAR_LOG_LEVEL: debug | info | warning | error
    QString redisPrefix = QStringLiteral("sidecar:"); // SIDECAR_REDIS_PREFIX
    // SIDECAR_IMPORT_REDIS_FROM (--import-redis-from): a one-off action instead of serving: import
    // the original package's Redis data from this URL into the Redis backend, then exit. Empty: serve.
    QString importRedisFrom;
    // SIDECAR_BACKUP_TO (--backup-to): a one-off action instead of serving: copy the SQLite
    // database to this new file or directory (store/sqlitebackup.h), then exit. Empty: serve.
    QString backupTo;
    // HTTP server limits and timeouts.
    qint64 httpMaxHeaderBytes = 16384; // SIDECAR_HTTP_MAX_HEADER_BYTES: request line + headers
    int httpMaxConnections = 1024;     // SIDECAR_HTTP_MAX_CONNECTIONS: open TCP connections
    double httpIdleTimeout = 60;       // SIDECAR_HTTP_IDLE_TIMEOUT: seconds a connection may sit idle
    double httpHeaderTimeout = 10;     // SIDECAR_HTTP_HEADER_TIMEOUT: seconds to receive a request's headers
    double sessionIdleTimeout = 3600;  // SIDECAR_SESSION_IDLE_TIMEOUT: seconds before an unused MCP session ends
    int httpListenBacklog = 1024;      // SIDECAR_HTTP_LISTEN_BACKLOG
    double httpRequestTimeout = 30;    // SIDECAR_HTTP_REQUEST_TIMEOUT: seconds to receive a whole request
    int httpMaxSessions = 10000;       // SIDECAR_HTTP_MAX_SESSIONS: live MCP sessions
    qint64 httpRateLimit = 100000;     // SIDECAR_HTTP_RATE_LIMIT: requests per second per connection (0: off)
    qint64 httpRateBurst = 200000;     // SIDECAR_HTTP_RATE_BURST: requests above the rate a connection may burst

    // True for "localhost", 127.0.0.0/8 and ::1: an address only local users can reach.
    bool isLoopbackHost() const;
    // An import or a backup: the process runs it and exits instead of serving.
    bool isOneOffAction() const { return !importRedisFrom.isEmpty() || !backupTo.isEmpty(); }
};

// One row of the settings table: what parsing, `--help` and the docs all read.
struct Setting
{
    QString env;      // "DB_PATH"
    QString flag;     // "--db-path"
    QString type;     // for humans: "path", "integer", "bytes", "seconds", "boolean", "sqlite|redis", ...
    QString meaning;  // one sentence
    bool isBoolean = false; // a bare flag ("--insecure") means true
    bool mayHoldPassword = false; // error messages mask "user:password@" in the value
    // Validates `value` and stores it into the config; the error's message says what is expected.
    std::function<Result<void>(Config &, const QString &value)> apply;
    // The setting's current value as text, as it would be written in the environment.
    std::function<QString(const Config &)> show;

    QString defaultText() const { return show(Config{}); }
};

// The table, in the order --help and the docs list it.
const std::vector<Setting> &configSettings();

// What parseConfig() decided: a config to run with, or an exit code and text for the caller
// to print (out to stdout, err to stderr). `config` is set exactly when the daemon should run
// (serve, or the one-off import or backup when config->isOneOffAction()).
struct ConfigOutcome
{
    std::optional<Config> config;
    int exitCode = 0; // 0 (run, or --help/--version), 2 (bad flag or value)
    QString out;      // --help / --version text, ending in a newline
    QString err;      // one line naming the setting and the bad value, without a newline
};

// Parses flags (`arguments` without argv[0]) over the environment over the defaults.
// Environment variables that are set but empty count as unset. Also refuses HTTP on a
// non-loopback host without SIDECAR_TOKENS_FILE unless SIDECAR_INSECURE is on, and
// SIDECAR_IMPORT_REDIS_FROM unless STATE_BACKEND is redis (the import writes into it), and
// SIDECAR_BACKUP_TO unless it is sqlite.
ConfigOutcome parseConfig(const QStringList &arguments, const QProcessEnvironment &env,
                          const QString &programName = QStringLiteral("mcp-state-sidecar"));

// The --help text: usage, the fixed options and every setting (name, flag, type, default, meaning).
QString configHelp(const QString &programName = QStringLiteral("mcp-state-sidecar"));

// The same table as GitHub Markdown, for docs/configuration-table.md.
QString configTableMarkdown();

} // namespace sidecar::daemon
