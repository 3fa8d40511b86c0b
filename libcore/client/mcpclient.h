#pragma once

// An MCP client session over a ClientTransport (MCP 2025-11-25, "Lifecycle", "Basic protocol"):
// initialize and notifications/initialized, JSON-RPC requests with ids and timeouts, tools/call
// with the sidecar's tool errors turned into Error values, resource subscriptions kept across
// reconnections, and the raw traffic for a protocol log.
//
// Connection: connectToServer() starts the transport and initializes; the state goes
// Disconnected -> Connecting -> Ready. When the connection is lost without being asked (the server
// process exited, the HTTP session expired, initialize failed), every request sent and not yet
// answered fails with ErrorCode::Unavailable, and the client reconnects with backoff (250 ms
// doubling to 10 s, reset once Ready), initializes anew and subscribes again to every resource URI
// it was subscribed to, then becomes Ready (state Reconnecting meanwhile). An HTTP transport that
// loses its event stream but keeps its session also shows Reconnecting until the stream is back.
// Requests made while Connecting or Reconnecting wait for Ready (their timeouts run meanwhile);
// requests made while Disconnected fail at once.
//
// Callbacks are always called later on this object's thread, never inside the call that took them,
// and exactly once (disconnectFromServer() fails what is pending), unless the client is destroyed
// first: then they are dropped uncalled.
//
// Thread: lives on one thread with an event loop and is used only there. Ownership: owns its
// transport.

#include <QByteArray>
#include <QElapsedTimer>
#include <QList>
#include <QObject>
#include <QString>
#include <QStringList>
#include <QTimer>

#include <functional>
#include <map>
#include <memory>

#include "protocol/json.h"
#include "protocol/result.h"

namespace sidecar::client {

class ClientTransport;

class McpClient : public QObject
{
    Q_OBJECT
public:
    enum class State { Disconnected, Connecting, Ready, Reconnecting };
    Q_ENUM(State)
    enum class Direction { Sent, Received };
    Q_ENUM(Direction)

    // The `result` of a JSON-RPC answer (for callTool: the tool's structuredContent), parsed.
    using Callback = std::function<void(Result<json::Document>)>;

    static constexpr int kDefaultTimeoutMs = 30000;
    static const QString kProtocolVersion; // "2025-11-25"

    explicit McpClient(std::unique_ptr<ClientTransport> transport, QObject *parent = nullptr);
    ~McpClient() override;

    ClientTransport *transport() const { return m_transport.get(); }
    // clientInfo sent with initialize (default "mcp-state-sidecar-client", the project's version).
    void setClientInfo(const QString &name, const QString &version);
    // Reconnect after an unexpected loss (default true).
    void setAutoReconnect(bool on) { m_autoReconnect = on; }

    void connectToServer();
    // Closes the connection and stops reconnecting; pending and waiting requests fail.
    void disconnectFromServer();

    State state() const { return m_state; }
    bool isReady() const { return m_state == State::Ready; }

    // A JSON-RPC request. `paramsJson`: compact JSON object text, or empty for none.
    // Fails with Unavailable "timed out" after timeoutMs (the server is told with
    // notifications/cancelled), with Unavailable when the connection is lost, with the JSON-RPC
    // error's message and " (JSON-RPC <code>)" (see rpcErrorCode()), or with an HTTP error's status
    // and body text ("HTTP 500 ...", the code following the status).
    void request(const QString &method, const QByteArray &paramsJson, Callback callback,
                 int timeoutMs = kDefaultTimeoutMs);
    // A JSON-RPC notification; dropped unless Ready.
    void notify(const QString &method, const QByteArray &paramsJson = {});
    // tools/call: the structuredContent on success; a tool error (isError, TOOLS.md's
    // {"error":{"code","message"}}) as Error with the tool's code.
    void callTool(const QString &name, const QByteArray &argumentsJson, Callback callback,
                  int timeoutMs = kDefaultTimeoutMs);

    // resources/subscribe, remembered (also when it cannot be sent now): after a reconnection the
    // client subscribes again. The callback (optional) tells how this attempt went. A URI the server
    // refuses (a JSON-RPC error) is forgotten. unsubscribe() forgets the URI at once.
    void subscribe(const QString &uri, std::function<void(Result<void>)> callback = {});
    void unsubscribe(const QString &uri, std::function<void(Result<void>)> callback = {});
    QStringList subscriptions() const { return m_subscriptions; }

    // The server's serverInfo object as compact JSON, its name and version, its capabilities object,
    // and the negotiated protocol version (empty before the first initialize).
    QByteArray serverInfo() const { return m_serverInfo; }
    QString serverName() const { return m_serverName; }
    QString serverVersion() const { return m_serverVersion; }
    QByteArray serverCapabilities() const { return m_capabilities; }
    QString protocolVersion() const { return m_protocolVersion; }
    // The last problem seen (a lost connection, a failed request, a refused subscription).
    QString lastError() const { return m_lastError; }
    // Round trip of the last answered request, in microseconds (-1 before any).
    qint64 lastLatencyUs() const { return m_lastLatencyUs; }
    // Requests sent and not yet answered, plus those waiting for Ready.
    int pendingCount() const { return int(m_pending.size()); }

    // The JSON-RPC error code an Error of request() carries in its message ("... (JSON-RPC -32602)"),
    // or 0.
    static int rpcErrorCode(const Error &error);
    // ErrorCode for a tool error code name ("invalid_argument" -> InvalidArgument); Internal for
    // unknown names.
    static ErrorCode errorCodeFromName(QStringView name);

signals:
    void stateChanged(sidecar::client::McpClient::State state);
    // notifications/resources/updated for a subscribed URI (as the client spelled it).
    void resourceUpdated(const QString &uri);
    // Every notification from the server (resource updates too): its method and params (compact JSON).
    void notification(const QString &method, const QByteArray &paramsJson);
    // Every message sent or received, as it went over the wire. roundTripUs: for a response, the
    // time since its request was sent; else -1.
    void traffic(sidecar::client::McpClient::Direction direction, const QByteArray &message,
                 qint64 roundTripUs);
    void lastErrorChanged(const QString &message);

private:
    struct Pending
    {
        QString method;
        QByteArray params;
        Callback callback;
        QTimer *timer = nullptr;
        qint64 sentAtNs = -1;      // -1: waiting for Ready
        bool internal = false;     // part of the (re)connection: sent before Ready
        QString subscribeUri;      // a resources/subscribe of this URI
        bool wholeMessage = false; // the callback gets the whole answer, not a copy of its result
    };

    void setState(State state);
    void setLastError(const QString &message);
    void startTransport();
    void onOpened();
    void onReceived(const QByteArray &message);
    void onClosed(const QString &reason);
    void onTransportError(const QByteArray &requestId, const QString &message);
    void onInterrupted(const QString &reason);
    void onResumed();

    qint64 enqueue(const QString &method, const QByteArray &params, Callback callback, int timeoutMs,
                   bool internal);
    void sendPending(qint64 id, Pending &pending);
    void sendRaw(const QByteArray &message);
    void finish(qint64 id, Result<json::Document> result);
    void finishLater(Callback callback, const Error &error);
    // Fails the requests already sent (all of them when `waitingToo`).
    void failPending(const QString &reason, bool waitingToo);
    void flushWaiting();
    void onInitializeAnswer(Result<json::Document> result);
    void becomeReady();
    // Gives up the current connection (the client's decision) and reconnects if wanted.
    void dropConnection(const QString &reason);
    void connectionLost(const QString &reason);
    void answerServerRequest(const json::Value &message);

    std::unique_ptr<ClientTransport> m_transport;
    State m_state = State::Disconnected;
    bool m_wanted = false; // connectToServer() was called and disconnectFromServer() not since
    bool m_autoReconnect = true;
    bool m_closingTransport = false;
    bool m_initialized = false; // initialize answered on the current connection
    quint64 m_epoch = 0;        // one per connection attempt: answers of an older one are ignored
    int m_resubscribing = 0;    // re-subscriptions of this connection not yet answered
    int m_backoffMs = 0;
    QTimer m_reconnectTimer;
    QElapsedTimer m_clock;

    QString m_clientName;
    QString m_clientVersion;
    QByteArray m_serverInfo;
    QString m_serverName;
    QString m_serverVersion;
    QByteArray m_capabilities;
    QString m_protocolVersion;
    QString m_lastError;
    qint64 m_lastLatencyUs = -1;

    qint64 m_nextId = 0;
    std::map<qint64, Pending> m_pending; // by id, so that waiting requests go out in order
    QStringList m_subscriptions;
};

} // namespace sidecar::client
