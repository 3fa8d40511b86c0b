#pragma once

// The inspector's link to one sidecar: what to connect to (ConnectionSpec), how to launch it
// (launchPlan, locateServer), and Connection, which owns the MCP client, its transport and the
// typed SidecarClient for as long as the window shows that sidecar.
//
// Three kinds of connection:
// - Http: Streamable HTTP at a URL, with an optional bearer token.
// - Command: a command line run as a child process speaking MCP over stdio. It is split with
//   QProcess::splitCommand (quotes group words); leading NAME=value words set environment variables
//   of the child, as a shell would ("DB_PATH=/tmp/a.db mcp-state-sidecar").
// - Database: a SQLite file opened by launching the sidecar's own binary over stdio with
//   DB_PATH=<file> (and --transport stdio --backend sqlite, so that the user's environment cannot
//   turn it into something else). The binary is the one next to the inspector's executable, else
//   the build tree's server/ directory beside it, else the first on PATH.
//
// Connection keeps the client connected (McpClient reconnects by itself after a loss), asks
// sidecar_health every few seconds while ready and soon after any resource notification (the
// views subscribe; a change anywhere means the counts and revision moved), and measures the last
// request's round trip, leaving out state_watch long polls, whose round trip is their wait.
//
// Thread: GUI thread only. Ownership: Connection owns the McpClient (which owns its transport) and
// the SidecarClient; the window owns the Connection.

#include <QByteArray>
#include <QObject>
#include <QProcessEnvironment>
#include <QSet>
#include <QString>
#include <QStringList>
#include <QTimer>
#include <QUrl>
#include <QVariantMap>

#include <memory>
#include <optional>

#include "client/mcpclient.h"
#include "client/sidecarclient.h"
#include "protocol/result.h"

namespace sidecar::inspector {

struct ConnectionSpec
{
    enum class Kind { Http, Command, Database };

    Kind kind = Kind::Http;
    QUrl url;              // Http
    QByteArray token;      // Http: bearer token, or empty
    QString command;       // Command: the command line
    QString databasePath;  // Database: the SQLite file
    QString serverProgram; // Database: the server binary to launch; empty: locateServer()

    static ConnectionSpec http(const QUrl &url, const QByteArray &token = {});
    static ConnectionSpec stdioCommand(const QString &commandLine);
    static ConnectionSpec database(const QString &path, const QString &serverProgram = {});
    // http://127.0.0.1:8000/mcp, where the sidecar's HTTP daemon listens by default.
    static QUrl defaultUrl();

    // What a person reads: the URL, the command line, or the database file's path.
    QString displayName() const;
    // Empty when this spec can be tried; otherwise why not, in a sentence.
    QString problem() const;
    // Leads to the same server (the token does not count).
    bool sameTarget(const ConnectionSpec &other) const;

    // For QSettings: kind, url, command, database, server; the token only when `withToken`.
    QVariantMap toVariantMap(bool withToken) const;
    static ConnectionSpec fromVariantMap(const QVariantMap &map);
};

// How to start the child process of a Command or Database spec.
struct LaunchPlan
{
    QString program;
    QStringList arguments;
    QProcessEnvironment environment;
};

Result<LaunchPlan> launchPlan(const ConnectionSpec &spec);

// The sidecar's stdio binary (mcp-state-sidecar): next to this executable, in ../server (a build
// tree), then on PATH. Empty when there is none.
QString locateServer();

class Connection : public QObject
{
    Q_OBJECT
public:
    using State = client::McpClient::State;
    static constexpr int kHealthIntervalMs = 5000;
    static constexpr int kChangeRefreshDelayMs = 400;

    explicit Connection(ConnectionSpec spec, QObject *parent = nullptr);
    ~Connection() override;

    // Starts connecting. When the spec cannot be launched at all (no server binary, an empty
    // command), the state stays Disconnected and lastError() says why.
    void open();
    // Stops and stays disconnected.
    void close();

    const ConnectionSpec &spec() const { return m_spec; }
    State state() const { return m_mcp ? m_mcp->state() : State::Disconnected; }
    QString lastError() const { return m_lastError; }
    // Where the transport leads ("http://…/mcp", or the program with the database file).
    QString endpoint() const;
    // Null until open() created them (and when launching failed).
    client::McpClient *mcp() const { return m_mcp.get(); }
    client::SidecarClient *client() const { return m_client.get(); }

    const std::optional<client::Health> &health() const { return m_health; }
    // When the last health answer came (ms since the epoch), 0 before any.
    qint64 healthTimeMs() const { return m_healthTimeMs; }
    // The round trip of the last answered request other than a long poll, in µs; -1 before any.
    qint64 latencyUs() const { return m_latencyUs; }

    void setHealthInterval(int ms);
    // Asks sidecar_health now (when ready and no such call is in flight).
    void refreshHealth();

signals:
    void stateChanged(sidecar::client::McpClient::State state);
    void lastErrorChanged(const QString &message);
    void healthChanged();
    void latencyChanged(qint64 us);
    void traffic(sidecar::client::McpClient::Direction direction, const QByteArray &message,
                 qint64 roundTripUs);

private:
    void setLastError(const QString &message);
    void onTraffic(client::McpClient::Direction direction, const QByteArray &message, qint64 roundTripUs);
    void onStateChanged(State state);

    ConnectionSpec m_spec;
    std::unique_ptr<client::McpClient> m_mcp;
    std::unique_ptr<client::SidecarClient> m_client;
    QString m_lastError;
    QString m_endpoint;
    std::optional<client::Health> m_health;
    qint64 m_healthTimeMs = 0;
    bool m_healthInFlight = false;
    qint64 m_latencyUs = -1;
    QSet<QString> m_longPollIds; // ids of state_watch calls in flight
    QTimer m_healthTimer;
    QTimer m_changeTimer;
};

} // namespace sidecar::inspector
