#include "daemon.h"

#include <QCoreApplication>
#include <QEventLoop>
#include <QFileInfo>
#include <QHostAddress>
#include <QHostInfo>
#include <QTimer>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <optional>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "logging.h"
#include "protocol/mcpserversession.h"
#include "protocol/toolregistry.h"
#include "store/redis/redisimport.h"
#include "store/redis/redisstore.h"
#include "store/sqlitebackup.h"
#include "store/sqlitestore.h"
#include "tools/changefeed.h"
#include "tools/resources.h"
#include "tools/tools.h"
#include "transport/httpserver.h"
#include "transport/metrics.h"
#include "transport/tokens.h"
#include "transport/mcphttpendpoint.h"
#include "transport/stdiotransport.h"

namespace sidecar::daemon {

namespace {

int g_signalFds[2] = {-1, -1};

void writeSignal(int signo)
{
    const char c = char(signo);
    (void)::write(g_signalFds[1], &c, 1);
}

constexpr int kShutdownGraceMs = 10000;
constexpr int kImportConnectTimeoutMs = 5000;

store::StoreOptions storeOptions(const Config &config)
{
    store::StoreOptions options;
    options.defaultClaimTtl = config.claimTtl;
    options.historyLimit = config.historyLimit;
    options.historyMaxBytes = config.historyMaxBytes;
    options.maxList = config.maxList;
    options.maxReplyBytes = config.maxReplyBytes;
    options.durable = config.durable;
    return options;
}

// "host:port", "host:port db 2", or the socket path: never the credentials.
QString describe(const store::redis::RedisEndpoint &endpoint)
{
    return endpoint.db != 0 ? QStringLiteral("%1 db %2").arg(endpoint.display()).arg(endpoint.db)
                            : endpoint.display();
}

void printError(const QString &text)
{
    std::fputs((QStringLiteral("mcp-state-sidecar: ") + text + u'\n').toLocal8Bit().constData(), stderr);
}

// Runs the event loop until the connection is up or the time is over.
bool waitConnected(store::redis::RedisConnection &connection, int timeoutMs)
{
    if (connection.isConnected())
        return true;
    QEventLoop loop;
    QTimer deadline;
    deadline.setSingleShot(true);
    QObject::connect(&deadline, &QTimer::timeout, &loop, &QEventLoop::quit);
    QObject::connect(&connection, &store::redis::RedisConnection::connected, &loop, &QEventLoop::quit);
    deadline.start(timeoutMs);
    loop.exec();
    return connection.isConnected();
}

// Every connection costs a descriptor: the soft limit (often 1024) goes up to the hard one, so
// that SIDECAR_HTTP_MAX_CONNECTIONS, not the process, decides how many clients are served. Out of
// descriptors, the server pauses accepting for a moment (httpserver.h) instead of failing.
void raiseOpenFilesLimit(int maxConnections)
{
    rlimit limit{};
    if (::getrlimit(RLIMIT_NOFILE, &limit) != 0) {
        const int error = errno;
        qCDebug(lcServer) << "cannot read the open files limit:" << std::strerror(error);
        return;
    }
    if (limit.rlim_cur != RLIM_INFINITY && (limit.rlim_max == RLIM_INFINITY || limit.rlim_cur < limit.rlim_max)) {
        rlimit raised = limit;
        raised.rlim_cur = limit.rlim_max;
        // RLIM_INFINITY is refused for this resource; nr_open (1048576 by default) is the ceiling.
        if (raised.rlim_cur == RLIM_INFINITY)
            raised.rlim_cur = 1048576;
        if (::setrlimit(RLIMIT_NOFILE, &raised) == 0) {
            limit = raised;
        } else {
            const int error = errno;
            qCDebug(lcServer) << "cannot raise the open files limit:" << std::strerror(error);
        }
    }
    const quint64 current = limit.rlim_cur == RLIM_INFINITY ? quint64(-1) : quint64(limit.rlim_cur);
    qCDebug(lcServer) << "open files limit:" << current;
    // stdio, the store, the listener and a few more besides the connections.
    constexpr quint64 kReserve = 64;
    if (current < quint64(maxConnections) + kReserve)
        qCWarning(lcServer).nospace() << "the open files limit (" << current << ") is below SIDECAR_HTTP_MAX_CONNECTIONS ("
                                      << maxConnections << ") plus " << kReserve
                                      << ": connections past it wait until descriptors free up";
}

} // namespace

int runRedisImport(const Config &config)
{
    using store::redis::RedisConnection;
    // Both URLs passed parseConfig's check; their messages never repeat a password.
    auto source = store::redis::parseRedisUrl(config.importRedisFrom);
    if (!source) {
        printError(QStringLiteral("SIDECAR_IMPORT_REDIS_FROM: ") + source.error().message);
        return 2;
    }
    auto target = store::redis::parseRedisUrl(config.redisUrl);
    if (!target) {
        printError(QStringLiteral("REDIS_URL: ") + target.error().message);
        return 2;
    }
    const QString sourceText = describe(*source);
    const QString targetText = describe(*target);
    qCInfo(lcServer).noquote() << "importing the original package's Redis data from" << sourceText << "into"
                               << targetText << "with key prefix" << config.redisPrefix;

    store::RedisStore store(*target, config.redisPrefix, storeOptions(config));
    if (auto opened = store.open(kImportConnectTimeoutMs); !opened) {
        printError(QStringLiteral("import failed: the target: ") + opened.error().message);
        store.close();
        return 1;
    }
    // The source is only read (SCAN and plain reads); the scratch connection holds the staging
    // sets in the target's Redis.
    RedisConnection sourceConnection(*source);
    RedisConnection scratch(*target);
    sourceConnection.start();
    scratch.start();
    const bool sourceUp = waitConnected(sourceConnection, kImportConnectTimeoutMs);
    const bool scratchUp = sourceUp && waitConnected(scratch, kImportConnectTimeoutMs);
    if (!sourceUp || !scratchUp) {
        const RedisConnection &down = sourceUp ? scratch : sourceConnection;
        const QString why = down.lastError().isEmpty() ? QStringLiteral("no answer") : down.lastError();
        printError(QStringLiteral("import failed: Redis at %1 is unreachable: %2")
                       .arg(sourceUp ? targetText : sourceText, why));
        scratch.close();
        sourceConnection.close();
        store.close();
        return 1;
    }

    store::RedisImportOptions options;
    options.maxValueBytes = config.maxValueBytes;
    options.sourceDisplay = sourceText;
    options.targetDisplay = targetText;
    store::RedisImporter importer(sourceConnection, scratch, store, options);
    std::optional<Result<store::RedisImportSummary>> outcome;
    QEventLoop loop;
    importer.run([&outcome, &loop](Result<store::RedisImportSummary> r) {
        outcome = std::move(r);
        loop.quit();
    });
    loop.exec();
    store.close();
    scratch.close();
    sourceConnection.close();
    if (!outcome) {
        printError(QStringLiteral("import failed: it stopped without an answer"));
        return 1;
    }
    if (!*outcome) {
        printError(QStringLiteral("import failed: ") + outcome->error().message);
        return outcome->error().code == ErrorCode::InvalidArgument ? 2 : 1;
    }
    std::fputs((*outcome)->text().toLocal8Bit().constData(), stderr);
    return 0;
}

int runBackup(const Config &config)
{
    auto summary = store::sqlite::backupDatabase(config.dbPath, config.backupTo);
    if (!summary) {
        printError(QStringLiteral("backup failed: ") + summary.error().message);
        return summary.error().code == ErrorCode::InvalidArgument ? 2 : 1;
    }
    std::fputs((summary->text() + u'\n').toLocal8Bit().constData(), stderr);
    return 0;
}

Daemon::Daemon(Config config, QObject *parent) : QObject(parent), m_config(std::move(config)) {}

Daemon::~Daemon()
{
    m_endpoint.reset();
    m_httpServer.reset();
    m_stdio.reset();
    m_session.reset();
    m_changeFeed.reset();
    if (m_store)
        m_store->close();
}

void Daemon::installSignalHandlers()
{
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, g_signalFds) != 0) {
        qCWarning(lcServer) << "socketpair failed; signals end the process abruptly";
        return;
    }
    m_signalNotifier = new QSocketNotifier(g_signalFds[0], QSocketNotifier::Read, this);
    connect(m_signalNotifier, &QSocketNotifier::activated, this, &Daemon::onSignal);
    struct sigaction sa = {};
    sa.sa_handler = writeSignal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    sigaction(SIGTERM, &sa, nullptr);
    sigaction(SIGINT, &sa, nullptr);
    sigaction(SIGHUP, &sa, nullptr);
    std::signal(SIGPIPE, SIG_IGN); // a client that went away is an error value, not a crash
}

void Daemon::onSignal()
{
    char c = 0;
    if (::read(g_signalFds[0], &c, 1) != 1)
        return;
    if (c == SIGHUP) {
        if (!m_tokens) {
            qCInfo(lcServer) << "SIGHUP: no tokens file to reload";
            return;
        }
        if (auto reloaded = m_tokens->reload(); reloaded)
            qCInfo(lcServer) << "SIGHUP: tokens reloaded:" << m_tokens->store().entries().size() << "token(s)";
        return; // on failure the authority logged why and kept the tokens in force
    }
    qCInfo(lcServer) << (c == SIGTERM ? "SIGTERM" : "SIGINT") << "received: shutting down";
    shutdown();
}

int Daemon::start()
{
    installSignalHandlers();

    store::StoreOptions options = storeOptions(m_config);
    m_metrics = std::make_unique<http::Metrics>();
    options.commitObserver = [metrics = m_metrics.get()](std::int64_t batch, double seconds, bool committed) {
        metrics->recordCommit(batch, seconds, committed);
    };

    if (const int failed = openStore(options); failed != 0)
        return failed;

    m_registry = std::make_unique<protocol::ToolRegistry>();
    tools::ToolOptions toolOptions;
    toolOptions.maxValueBytes = m_config.maxValueBytes;
    toolOptions.maxReplyBytes = m_config.maxReplyBytes;
    toolOptions.defaultClaimTtl = m_config.claimTtl;
    toolOptions.allowReset = m_config.allowReset;
    m_changeFeed = std::make_unique<tools::ChangeFeed>(*m_store);
    if (auto registered = tools::registerAllTools(*m_registry, *m_store, *m_changeFeed, toolOptions); !registered) {
        qCCritical(lcServer).noquote() << "tool registry:" << registered.error().message;
        return 1;
    }
    for (const auto &tool : m_registry->tools())
        m_metrics->addTool(tool->definition.name);

    const int started = m_config.transport == QLatin1String("http") ? startHttp() : startStdio();
    // ---- resources (tools/resources.h): reads and subscriptions over the store, attached to every
    // session before it handles a message (stdio: the first line arrives through the event loop;
    // HTTP: the hook runs as a session is created). A child of the daemon: it outlives the sessions.
    if (started == 0) {
        tools::ResourceHubOptions resourceOptions;
        resourceOptions.maxReplyBytes = m_config.maxReplyBytes;
        auto *resources = new tools::ResourceHub(*m_store, resourceOptions, this);
        if (m_session)
            resources->attach(*m_session);
        if (m_endpoint) {
            m_endpoint->setSessionHook([this, resources](protocol::McpServerSession &s) {
                resources->attach(s);
                s.setCallObserver([this](const protocol::CallRecord &call) { recordCall(call); });
            });
            // HTTP sessions live in the store: any instance on it serves them, and they survive
            // a restart.
            http::McpHttpEndpoint::SessionSharing sharing;
            sharing.store = m_store.get();
            sharing.subscriptions = [resources](const protocol::McpServerSession &s) {
                return resources->subscriptions(s);
            };
            sharing.setSubscriptions = [resources](protocol::McpServerSession &s, const QStringList &uris) {
                resources->setSubscriptions(s, uris);
            };
            m_endpoint->setSessionSharing(std::move(sharing));
            connect(resources, &tools::ResourceHub::subscriptionsChanged, m_endpoint.get(),
                    &http::McpHttpEndpoint::sessionChanged);
        }
    }
    // ---- end resources
    return started;
}

int Daemon::openStore(const store::StoreOptions &options)
{
    if (m_config.backend == QLatin1String("redis")) {
        auto endpoint = store::redis::parseRedisUrl(m_config.redisUrl);
        if (!endpoint) {
            qCCritical(lcServer).noquote() << "REDIS_URL:" << endpoint.error().message;
            return 2;
        }
        qCInfo(lcServer).noquote() << "using Redis at" << endpoint->display() << "with key prefix"
                                   << m_config.redisPrefix;
        auto redis = std::make_unique<store::RedisStore>(*endpoint, m_config.redisPrefix, options);
        // Unreachable at start is not fatal: tools answer `unavailable`, /readyz fails, and the
        // store connects by itself once Redis answers.
        if (auto opened = redis->open(); !opened)
            qCWarning(lcServer).noquote() << opened.error().message;
        m_store = std::move(redis);
        return 0;
    }
    const QString path = QFileInfo(m_config.dbPath).absoluteFilePath();
    qCInfo(lcServer).noquote() << "opening SQLite database" << path
                               << (m_config.durable ? "(durability full)" : "(durability normal)");
    auto sqlite = std::make_unique<store::SqliteStore>(path, options);
    if (auto opened = sqlite->open(); !opened) {
        qCCritical(lcServer).noquote() << "cannot open" << path << ":" << opened.error().message;
        return 1;
    }
    m_store = std::move(sqlite);
    return 0;
}

qint64 Daemon::maxRequestBytes() const
{
    return m_config.maxValueBytes + (qint64(1) << 20); // TOOLS.md: the value limit plus 1 MiB
}

int Daemon::startStdio()
{
    m_session = std::make_unique<protocol::McpServerSession>(*m_registry, protocol::ServerInfo{});
    const qint64 maxRequest = maxRequestBytes();
    m_session->setMaxRequestBytes(maxRequest);
    m_session->setMaxReplyBytes(m_config.maxReplyBytes);
    m_stdio = std::make_unique<transport::StdioTransport>(*m_session, maxRequest);
    connect(m_stdio.get(), &transport::StdioTransport::inputEnded, m_changeFeed.get(), &tools::ChangeFeed::shutdown);
    connect(m_stdio.get(), &transport::StdioTransport::finished, this, [this] { finish(0); });
    m_stdio->start();
    qCInfo(lcServer) << "serving MCP over stdio with" << m_registry->tools().size() << "tools";
    return 0;
}

int Daemon::startHttp()
{
    http::HttpServerOptions serverOptions;
    serverOptions.maxHeaderBytes = m_config.httpMaxHeaderBytes;
    serverOptions.maxBodyBytes = maxRequestBytes();
    serverOptions.maxConnections = m_config.httpMaxConnections;
    serverOptions.idleTimeoutMs = int(m_config.httpIdleTimeout * 1000);
    serverOptions.headerTimeoutMs = int(m_config.httpHeaderTimeout * 1000);
    serverOptions.listenBacklog = m_config.httpListenBacklog;
    serverOptions.requestTimeoutMs = int(std::min(m_config.httpRequestTimeout * 1000, 2e9));
    serverOptions.requestRate = double(m_config.httpRateLimit);
    serverOptions.requestBurst = double(m_config.httpRateBurst);
    // A one-shot answer is written whole: its bytes must fit the per-connection buffer cap
    // (the text copy doubles a result; escapes may double it again).
    serverOptions.maxWriteBuffer = std::max<qint64>(serverOptions.maxWriteBuffer, 4 * m_config.maxReplyBytes + (4 << 20));
    m_httpServer = std::make_unique<http::HttpServer>(serverOptions);
    m_httpServer->setRefusalFormatter(&http::McpHttpEndpoint::jsonRpcRefusal);
    raiseOpenFilesLimit(m_config.httpMaxConnections);

    http::McpHttpOptions endpointOptions;
    endpointOptions.allowedOrigins = m_config.allowedOrigins;
    endpointOptions.allowedHosts = m_config.allowedHosts;
    endpointOptions.checkHost = m_config.isLoopbackHost() || !m_config.allowedHosts.isEmpty();
    endpointOptions.sessionIdleTimeoutMs = int(std::min(m_config.sessionIdleTimeout * 1000, 2e9));
    endpointOptions.maxSessions = m_config.httpMaxSessions;
    endpointOptions.maxRequestBytes = maxRequestBytes();
    endpointOptions.maxReplyBytes = m_config.maxReplyBytes;
    m_endpoint = std::make_unique<http::McpHttpEndpoint>(*m_registry, protocol::ServerInfo{}, endpointOptions);
    if (!m_config.tokensFile.isEmpty()) {
        m_tokens = std::make_unique<http::TokenAuthority>(m_config.tokensFile);
        if (auto loaded = m_tokens->reload(); !loaded) {
            qCCritical(lcServer).noquote() << loaded.error().message;
            return 2;
        }
        qCInfo(lcServer) << "bearer tokens required on /mcp and /metrics:" << m_tokens->store().entries().size()
                         << "token(s)";
        m_endpoint->setAuthenticator([this](QByteArrayView authorization) { return m_tokens->authenticate(authorization); });
    }
    addOperationalRoutes();
    m_httpServer->setHandler([this](const http::HttpRequest &request, std::shared_ptr<http::HttpResponder> r) {
        m_endpoint->handle(request, std::move(r));
    });

    QHostAddress address;
    if (!address.setAddress(m_config.host)) {
        const QHostInfo info = QHostInfo::fromName(m_config.host);
        if (info.addresses().isEmpty()) {
            qCCritical(lcServer).noquote() << "cannot resolve SIDECAR_HOST" << m_config.host;
            return 2;
        }
        address = info.addresses().first();
    }
    if (!m_httpServer->listen(address, m_config.port)) {
        qCCritical(lcServer).noquote() << "cannot listen on" << m_config.host << m_config.port << ":"
                                       << m_httpServer->errorString();
        return 1;
    }
    QString shown = address.toString();
    if (address.protocol() == QAbstractSocket::IPv6Protocol)
        shown = u'[' + shown + u']';
    qCInfo(lcServer).noquote() << QStringLiteral("serving MCP at http://%1:%2/mcp with %3 tools")
                                      .arg(shown)
                                      .arg(m_httpServer->port())
                                      .arg(m_registry->tools().size());
    return 0;
}

void Daemon::recordCall(const protocol::CallRecord &call)
{
    if (call.rpcError)
        m_metrics->recordCall(call.tool, http::Metrics::Outcome::RpcError, call.seconds);
    else if (call.toolError)
        m_metrics->recordCall(call.tool, *call.toolError, call.seconds);
    else
        m_metrics->recordCall(call.tool, http::Metrics::Outcome::Ok, call.seconds);
}

void Daemon::addOperationalRoutes()
{
    auto json = [](http::HttpResponder &r, int status, const QByteArray &body) {
        r.respond(status, {{QByteArrayLiteral("content-type"), QByteArrayLiteral("application/json")}}, body);
    };
    // Process alive.
    m_endpoint->addRoute("/healthz", [json](const http::HttpRequest &, std::shared_ptr<http::HttpResponder> r) {
        json(*r, 200, QByteArrayLiteral("{\"status\":\"ok\"}"));
    });
    // Prometheus text; needs a read token when tokens are on.
    m_endpoint->addRoute("/metrics", [this](const http::HttpRequest &, std::shared_ptr<http::HttpResponder> r) {
        m_store->health([this, r](Result<store::HealthInfo> health) {
            http::Metrics::Snapshot snapshot;
            snapshot.backend = m_store->backendName();
            snapshot.backendUp = health.has_value();
            if (health) {
                snapshot.revision = health->revision;
                snapshot.liveKeys = health->keyCount;
                snapshot.leases = health->leaseCount;
                snapshot.sessions = health->sessionCount;
                for (const char *status : {"created", "claimed", "running", "done", "failed"})
                    snapshot.workflowsByStatus[QString::fromLatin1(status)] = 0;
                for (const auto &[status, count] : health->workflowsByStatus)
                    snapshot.workflowsByStatus[status] = count;
            }
            snapshot.httpConnections = m_httpServer->connectionCount();
            snapshot.mcpSessions = m_endpoint->sessionCount();
            snapshot.pendingWatches = m_changeFeed->pendingCount();
            r->respond(200, {{QByteArrayLiteral("content-type"), QByteArray(http::Metrics::kContentType)}},
                       m_metrics->render(snapshot));
        });
    }, /*needsAuth=*/true);
    // Backend reachable.
    m_endpoint->addRoute("/readyz", [this, json](const http::HttpRequest &, std::shared_ptr<http::HttpResponder> r) {
        m_store->health([r, json](Result<store::HealthInfo> health) {
            const bool ready = health && health->status == QLatin1String("ok");
            json(*r, ready ? 200 : 503,
                 ready ? QByteArrayLiteral("{\"status\":\"ready\"}") : QByteArrayLiteral("{\"status\":\"unavailable\"}"));
        });
    });
}

void Daemon::shutdown()
{
    if (m_stopping)
        return;
    m_stopping = true;
    if (m_changeFeed)
        m_changeFeed->shutdown(); // pending watches are answered at once
    if (m_stdio) {
        m_stdio->stop(); // finished() follows once every call in flight is answered
    } else if (m_httpServer) {
        m_httpServer->stopListening();
        // Calls in flight finish (watches were just answered); then the sessions end.
        auto poll = new QTimer(this);
        connect(poll, &QTimer::timeout, this, [this, poll] {
            if (m_endpoint->inFlight() > 0)
                return;
            poll->stop();
            finish(0);
        });
        poll->start(20);
    } else {
        finish(0);
    }
    QTimer::singleShot(kShutdownGraceMs, this, [this] {
        qCWarning(lcServer) << "calls still in flight after" << kShutdownGraceMs << "ms; stopping anyway";
        finish(0);
    });
}

void Daemon::finish(int exitCode)
{
    if (m_finished)
        return;
    m_finished = true;
    if (m_endpoint)
        m_endpoint->close();
    if (m_httpServer)
        m_httpServer->closeAll();
    if (m_store)
        m_store->close(); // finishes queued writes
    if (m_stdio) {
        m_stdio->flush(); // every answer, those of writes finished by close() included
        if (!m_stdio->drain(kShutdownGraceMs))
            qCWarning(lcServer) << "stdout is not being read; leaving unwritten answers behind";
    }
    qCInfo(lcServer) << "stopped";
    emit stopped(exitCode);
}

} // namespace sidecar::daemon
