#pragma once

// The daemon shell: builds the store, the tool registry and the transport from a Config, turns
// Unix signals into orderly shutdown (SIGTERM/SIGINT through a socketpair and a
// QSocketNotifier, as murmur does), and runs until the transport ends.
//
// Shutdown: stop reading input, let every call in flight finish and be answered (bounded by a
// grace period), flush, then close the store, which finishes every queued write. With the
// default durability, every answered write is on disk before its answer left.
//
// Thread: everything runs on the main thread but the store's own threads.

#include <QObject>
#include <QSocketNotifier>

#include <memory>

#include "config.h"

namespace sidecar::protocol {
class McpServerSession;
class ToolRegistry;
} // namespace sidecar::protocol
namespace sidecar::store {
class Store;
struct StoreOptions;
} // namespace sidecar::store
namespace sidecar::tools {
class ChangeFeed;
}
namespace sidecar::transport {
class StdioTransport;
}
namespace sidecar::http {
class HttpServer;
class McpHttpEndpoint;
class Metrics;
class TokenAuthority;
} // namespace sidecar::http
namespace sidecar::protocol {
struct CallRecord;
}

namespace sidecar::daemon {

// `--import-redis-from <url>` (SIDECAR_IMPORT_REDIS_FROM): imports the original package's Redis
// data into the Redis backend (REDIS_URL, SIDECAR_REDIS_PREFIX) with store::RedisImporter, on a
// local event loop and without any transport, prints the summary (or why it failed, never a
// password) to stderr, and returns the exit code: 0 done, 1 failed (Redis unreachable or failing:
// running it again completes what was imported), 2 bad arguments.
int runRedisImport(const Config &config);

// `--backup-to <path>` (SIDECAR_BACKUP_TO): writes a consistent copy of the SQLite database at
// DB_PATH with store::sqlite::backupDatabase while sidecars may be serving from it, prints the
// summary (or why it failed) to stderr and returns the exit code: 0 done, 1 failed (SQLite or the
// disk), 2 bad arguments (no database there, the target exists already).
int runBackup(const Config &config);

class Daemon : public QObject
{
    Q_OBJECT
public:
    explicit Daemon(Config config, QObject *parent = nullptr);
    ~Daemon() override;

    // Opens the store and starts the transport; returns the process exit code on failure.
    int start();
    // Begins an orderly shutdown (as on SIGTERM).
    void shutdown();

signals:
    void stopped(int exitCode);

private:
    void installSignalHandlers();
    // The configured backend into m_store; 0, or the exit code.
    int openStore(const store::StoreOptions &options);
    int startStdio();
    int startHttp();
    void addOperationalRoutes();
    void recordCall(const protocol::CallRecord &call);
    qint64 maxRequestBytes() const;
    void onSignal();
    void finish(int exitCode);

    Config m_config;
    std::unique_ptr<http::Metrics> m_metrics; // before the store: its writer thread reports to it
    std::unique_ptr<store::Store> m_store;
    std::unique_ptr<tools::ChangeFeed> m_changeFeed;
    std::unique_ptr<protocol::ToolRegistry> m_registry;
    std::unique_ptr<protocol::McpServerSession> m_session;
    std::unique_ptr<transport::StdioTransport> m_stdio;
    std::unique_ptr<http::HttpServer> m_httpServer;
    std::unique_ptr<http::McpHttpEndpoint> m_endpoint;
    std::unique_ptr<http::TokenAuthority> m_tokens;
    QSocketNotifier *m_signalNotifier = nullptr;
    bool m_stopping = false;
    bool m_finished = false;
};

} // namespace sidecar::daemon
