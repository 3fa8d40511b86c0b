#include "connection.h"

#include <QCoreApplication>
#include <QDateTime>
#include <QDir>
#include <QFileInfo>
#include <QProcess>
#include <QRegularExpression>
#include <QStandardPaths>

#include "client/clienttransport.h"
#include "protocollog.h"

namespace sidecar::inspector {

using client::McpClient;

namespace {

constexpr auto kServerName = "mcp-state-sidecar";

QString kindName(ConnectionSpec::Kind kind)
{
    switch (kind) {
    case ConnectionSpec::Kind::Http: return QStringLiteral("http");
    case ConnectionSpec::Kind::Command: return QStringLiteral("command");
    case ConnectionSpec::Kind::Database: return QStringLiteral("database");
    }
    return {};
}

bool isExecutableFile(const QString &path)
{
    const QFileInfo info(path);
    return info.isFile() && info.isExecutable();
}

} // namespace

// ---------------------------------------------------------------- ConnectionSpec

ConnectionSpec ConnectionSpec::http(const QUrl &url, const QByteArray &token)
{
    ConnectionSpec spec;
    spec.kind = Kind::Http;
    spec.url = url;
    spec.token = token;
    return spec;
}

ConnectionSpec ConnectionSpec::stdioCommand(const QString &commandLine)
{
    ConnectionSpec spec;
    spec.kind = Kind::Command;
    spec.command = commandLine.trimmed();
    return spec;
}

ConnectionSpec ConnectionSpec::database(const QString &path, const QString &serverProgram)
{
    ConnectionSpec spec;
    spec.kind = Kind::Database;
    spec.databasePath = path.isEmpty() ? QString() : QFileInfo(path).absoluteFilePath();
    spec.serverProgram = serverProgram;
    return spec;
}

QUrl ConnectionSpec::defaultUrl()
{
    return QUrl(QStringLiteral("http://127.0.0.1:8000/mcp"));
}

QString ConnectionSpec::displayName() const
{
    switch (kind) {
    case Kind::Http: return url.toDisplayString();
    case Kind::Command: return command;
    case Kind::Database: return databasePath;
    }
    return {};
}

QString ConnectionSpec::problem() const
{
    switch (kind) {
    case Kind::Http:
        if (!url.isValid() || url.host().isEmpty())
            return QCoreApplication::translate("ConnectionSpec", "Enter the server's URL, such as %1.")
                .arg(defaultUrl().toString());
        if (url.scheme() != QLatin1StringView("http") && url.scheme() != QLatin1StringView("https"))
            return QCoreApplication::translate("ConnectionSpec",
                                               "The URL must start with http:// or https://.");
        return {};
    case Kind::Command:
    case Kind::Database:
        if (const auto plan = launchPlan(*this); !plan)
            return plan.error().message;
        return {};
    }
    return {};
}

bool ConnectionSpec::sameTarget(const ConnectionSpec &other) const
{
    if (kind != other.kind)
        return false;
    switch (kind) {
    case Kind::Http:
        return url.adjusted(QUrl::StripTrailingSlash) == other.url.adjusted(QUrl::StripTrailingSlash);
    case Kind::Command: return command == other.command;
    case Kind::Database: return databasePath == other.databasePath && serverProgram == other.serverProgram;
    }
    return false;
}

QVariantMap ConnectionSpec::toVariantMap(bool withToken) const
{
    QVariantMap map;
    map.insert(QStringLiteral("kind"), kindName(kind));
    switch (kind) {
    case Kind::Http:
        map.insert(QStringLiteral("url"), url.toString());
        map.insert(QStringLiteral("hasToken"), !token.isEmpty());
        if (withToken && !token.isEmpty())
            map.insert(QStringLiteral("token"), QString::fromUtf8(token));
        break;
    case Kind::Command: map.insert(QStringLiteral("command"), command); break;
    case Kind::Database:
        map.insert(QStringLiteral("database"), databasePath);
        if (!serverProgram.isEmpty())
            map.insert(QStringLiteral("server"), serverProgram);
        break;
    }
    return map;
}

ConnectionSpec ConnectionSpec::fromVariantMap(const QVariantMap &map)
{
    const QString kind = map.value(QStringLiteral("kind")).toString();
    if (kind == kindName(Kind::Command))
        return stdioCommand(map.value(QStringLiteral("command")).toString());
    if (kind == kindName(Kind::Database))
        return database(map.value(QStringLiteral("database")).toString(),
                        map.value(QStringLiteral("server")).toString());
    return http(QUrl(map.value(QStringLiteral("url")).toString()),
                map.value(QStringLiteral("token")).toString().toUtf8());
}

// ---------------------------------------------------------------- launching

QString locateServer()
{
    const QString name = QLatin1StringView(kServerName);
    const QString here = QCoreApplication::applicationDirPath();
    for (const QString &candidate :
         {QDir(here).filePath(name), QDir(here).filePath(QStringLiteral("../server/") + name)}) {
        if (isExecutableFile(candidate))
            return QFileInfo(candidate).canonicalFilePath();
    }
    return QStandardPaths::findExecutable(name);
}

Result<LaunchPlan> launchPlan(const ConnectionSpec &spec)
{
    LaunchPlan plan;
    plan.environment = QProcessEnvironment::systemEnvironment();
    switch (spec.kind) {
    case ConnectionSpec::Kind::Http:
        return fail(ErrorCode::InvalidArgument, QStringLiteral("an HTTP connection launches nothing"));
    case ConnectionSpec::Kind::Command: {
        QStringList words = QProcess::splitCommand(spec.command);
        static const QRegularExpression assignment(QStringLiteral("^([A-Za-z_][A-Za-z0-9_]*)=(.*)$"),
                                                   QRegularExpression::DotMatchesEverythingOption);
        while (!words.isEmpty()) {
            const QRegularExpressionMatch m = assignment.match(words.first());
            if (!m.hasMatch())
                break;
            plan.environment.insert(m.captured(1), m.captured(2));
            words.removeFirst();
        }
        if (words.isEmpty()) {
            return fail(
                ErrorCode::InvalidArgument,
                QCoreApplication::translate("ConnectionSpec", "Enter the command that starts the server."));
        }
        plan.program = words.takeFirst();
        plan.arguments = words;
        const bool found = plan.program.contains(u'/')
                               ? isExecutableFile(plan.program)
                               : !QStandardPaths::findExecutable(plan.program).isEmpty();
        if (!found) {
            return fail(ErrorCode::NotFound,
                        QCoreApplication::translate("ConnectionSpec", "%1 is not an executable program.")
                            .arg(plan.program));
        }
        return plan;
    }
    case ConnectionSpec::Kind::Database: {
        if (spec.databasePath.isEmpty()) {
            return fail(
                ErrorCode::InvalidArgument,
                QCoreApplication::translate("ConnectionSpec", "Choose the SQLite database file to open."));
        }
        const QFileInfo file(spec.databasePath);
        if (file.isDir()) {
            return fail(
                ErrorCode::InvalidArgument,
                QCoreApplication::translate("ConnectionSpec", "%1 is a directory, not a database file.")
                    .arg(spec.databasePath));
        }
        if (!file.absoluteDir().exists()) {
            return fail(ErrorCode::InvalidArgument,
                        QCoreApplication::translate("ConnectionSpec", "The directory of %1 does not exist.")
                            .arg(spec.databasePath));
        }
        plan.program = spec.serverProgram.isEmpty() ? locateServer() : spec.serverProgram;
        if (plan.program.isEmpty()) {
            return fail(ErrorCode::NotFound,
                        QCoreApplication::translate(
                            "ConnectionSpec", "%1 was found neither next to the inspector (%2) nor on PATH.")
                            .arg(QLatin1StringView(kServerName), QCoreApplication::applicationDirPath()));
        }
        plan.environment.insert(QStringLiteral("DB_PATH"), file.absoluteFilePath());
        plan.arguments = {QStringLiteral("--transport"), QStringLiteral("stdio"), QStringLiteral("--backend"),
                          QStringLiteral("sqlite")};
        return plan;
    }
    }
    return fail(ErrorCode::Internal, QStringLiteral("unknown connection kind"));
}

// ---------------------------------------------------------------- Connection

Connection::Connection(ConnectionSpec spec, QObject *parent) : QObject(parent), m_spec(std::move(spec))
{
    m_healthTimer.setInterval(kHealthIntervalMs);
    connect(&m_healthTimer, &QTimer::timeout, this, &Connection::refreshHealth);
    m_changeTimer.setSingleShot(true);
    m_changeTimer.setInterval(kChangeRefreshDelayMs);
    connect(&m_changeTimer, &QTimer::timeout, this, &Connection::refreshHealth);
}

Connection::~Connection()
{
    if (m_mcp)
        m_mcp->disconnect(this);
    // The SidecarClient goes first (it refers to the McpClient); callbacks still pending in the
    // McpClient are dropped with it, so none reaches this object afterwards.
    m_client.reset();
    m_mcp.reset();
}

QString Connection::endpoint() const
{
    return m_endpoint.isEmpty() ? m_spec.displayName() : m_endpoint;
}

void Connection::open()
{
    if (m_mcp) {
        m_mcp->connectToServer();
        return;
    }
    std::unique_ptr<client::ClientTransport> transport;
    if (m_spec.kind == ConnectionSpec::Kind::Http) {
        if (const QString problem = m_spec.problem(); !problem.isEmpty()) {
            setLastError(problem);
            return;
        }
        transport = std::make_unique<client::HttpClientTransport>(m_spec.url, m_spec.token);
        m_endpoint = m_spec.url.toDisplayString();
    } else {
        auto plan = launchPlan(m_spec);
        if (!plan) {
            setLastError(plan.error().message);
            return;
        }
        m_endpoint = m_spec.kind == ConnectionSpec::Kind::Database
                         ? m_spec.databasePath
                         : QStringList(QStringList{plan->program} + plan->arguments).join(u' ');
        transport = std::make_unique<client::StdioClientTransport>(plan->program, plan->arguments,
                                                                   plan->environment);
    }
    m_mcp = std::make_unique<McpClient>(std::move(transport));
    m_mcp->setClientInfo(QStringLiteral("mcp-state-inspector"), QStringLiteral(SIDECAR_VERSION));
    m_client = std::make_unique<client::SidecarClient>(*m_mcp);
    connect(m_mcp.get(), &McpClient::stateChanged, this, &Connection::onStateChanged);
    connect(m_mcp.get(), &McpClient::lastErrorChanged, this, &Connection::setLastError);
    connect(m_mcp.get(), &McpClient::traffic, this, &Connection::onTraffic);
    connect(m_mcp.get(), &McpClient::notification, this, [this](const QString &method) {
        if (method == QLatin1StringView("notifications/resources/updated") && !m_changeTimer.isActive())
            m_changeTimer.start();
    });
    m_mcp->connectToServer();
}

void Connection::close()
{
    m_healthTimer.stop();
    m_changeTimer.stop();
    if (m_mcp)
        m_mcp->disconnectFromServer();
}

void Connection::setHealthInterval(int ms)
{
    m_healthTimer.setInterval(ms);
}

void Connection::setLastError(const QString &message)
{
    if (message == m_lastError)
        return;
    m_lastError = message;
    emit lastErrorChanged(message);
}

void Connection::onStateChanged(State state)
{
    if (state == State::Ready) {
        m_healthTimer.start();
        refreshHealth();
    } else {
        m_healthTimer.stop();
        m_changeTimer.stop();
        m_longPollIds.clear();
    }
    emit stateChanged(state);
}

void Connection::refreshHealth()
{
    if (!m_client || !m_mcp || !m_mcp->isReady() || m_healthInFlight)
        return;
    m_healthInFlight = true;
    // The callback is dropped uncalled if the McpClient (owned here) goes away first.
    m_client->health([this](Result<client::Health> health) {
        m_healthInFlight = false;
        if (!health) {
            setLastError(tr("sidecar_health failed: %1").arg(health.error().message));
            return;
        }
        m_health = std::move(*health);
        m_healthTimeMs = QDateTime::currentMSecsSinceEpoch();
        emit healthChanged();
    });
}

void Connection::onTraffic(McpClient::Direction direction, const QByteArray &message, qint64 roundTripUs)
{
    emit traffic(direction, message, roundTripUs);
    if (direction == McpClient::Direction::Sent) {
        // Only a state_watch call needs reading: its answer's round trip is how long it waited.
        if (!message.contains("\"state_watch\""))
            return;
        const MessageSummary summary = summarizeMessage(message);
        if (summary.kind == MessageSummary::Kind::Request
            && summary.target == QLatin1StringView("state_watch"))
            m_longPollIds.insert(summary.id);
        return;
    }
    if (roundTripUs < 0)
        return;
    if (!m_longPollIds.isEmpty()) {
        const MessageSummary summary = summarizeMessage(message);
        if (m_longPollIds.remove(summary.id))
            return;
    }
    m_latencyUs = roundTripUs;
    emit latencyChanged(roundTripUs);
}

} // namespace sidecar::inspector
