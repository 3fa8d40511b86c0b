#pragma once

// One MCP session on the server side: the lifecycle (initialize with version negotiation,
// notifications/initialized, ping, notifications/cancelled) and the JSON-RPC framing of the
// messages a transport hands in, dispatching tools/list and tools/call through the
// ToolRegistry. MCP 2025-11-25, "Basic protocol" and "Lifecycle".
//
// Thread: lives on one thread (the transport's); handle() is called there and every reply
// leaves through the `send` sink on that thread, possibly later and out of order (each with
// its request's id). Ownership: the session references the registry and outlives no one:
// in-flight tool replies hold only a weak reference (QPointer) to it.

#include <QByteArray>
#include <QHash>
#include <QObject>
#include <QPointer>
#include <QSet>
#include <QString>

#include <QElapsedTimer>

#include <functional>
#include <optional>

#include "json.h"
#include "toolregistry.h"

namespace sidecar::protocol {

struct ServerInfo
{
    QString name = QStringLiteral("MCP State Sidecar");
    QString version = QStringLiteral(SIDECAR_VERSION);
    QString instructions;
};

// Told about every finished tools/call: the tool's name (as the client sent it), the error code
// when it failed as a tool error (nullopt: success), whether it failed at the JSON-RPC level
// (unknown tool, bad params), and its duration. For metrics.
struct CallRecord
{
    QString tool;
    std::optional<ErrorCode> toolError;
    bool rpcError = false;
    double seconds = 0;
};
using CallObserver = std::function<void(const CallRecord &)>;

// Extension point for methods other than the lifecycle and tools (resources, later).
// Returns false when it does not handle `method`.
using MethodHandler = std::function<bool(const QString &method, const QByteArray &id, const json::Value *params,
                                         std::function<void(QByteArray)> respond)>;

class McpServerSession : public QObject
{
    Q_OBJECT
public:
    static const QStringList &supportedVersions(); // newest first

    McpServerSession(const ToolRegistry &registry, ServerInfo info, QObject *parent = nullptr);

    // Where outgoing messages (compact JSON, one message each, no newline) go.
    void setSink(std::function<void(const QByteArray &)> sink) { m_sink = std::move(sink); }
    void setCallContext(CallContext ctx) { m_context = std::move(ctx); }
    void setMethodHandler(MethodHandler handler) { m_extra = std::move(handler); }
    void setCallObserver(CallObserver observer) { m_observer = std::move(observer); }
    void setMaxRequestBytes(qint64 bytes) { m_maxRequestBytes = bytes; }
    // A tool result (its structuredContent) over this size is answered as the tool error
    // too_large instead (TOOLS.md: "A reply never exceeds SIDECAR_MAX_REPLY_BYTES"; the tools that
    // list, page or watch stop early below it by themselves).
    void setMaxReplyBytes(qint64 bytes) { m_maxReplyBytes = bytes; }
    // From now on, new requests are refused with -32603 (the server is shutting down); calls
    // already in flight still get their answers.
    void setClosing() { m_closing = true; }

    // Handles one incoming JSON-RPC text (a message or, for 2025-03-26 sessions, a batch);
    // answers go to the sink.
    void handle(const QByteArray &text);
    // The same, with the answers to this text going to `reply` (once, now or later: a batch is
    // answered as one array). Returns false when no answer will come (only notifications or
    // responses), as HTTP needs to know to answer 202 at once. `reply` gets an empty message when
    // the client cancelled the request (every request of a batch): nothing is to be sent, but the
    // request is over (HTTP ends its POST).
    bool handle(const QByteArray &text, std::function<void(const QByteArray &)> reply);
    // A message that was too large to read whole: answered with an error, id unknown.
    void rejectOversized(qint64 size);

    // Sends a server-to-client notification (e.g. notifications/resources/updated) through the
    // sink; dropped before the session is initialized.
    void sendNotification(const QString &method, const QByteArray &paramsJson);

    // Puts a new session in the state of one initialized elsewhere (another instance sharing the
    // store, or before a restart): `protocolVersion` negotiated, notifications/initialized seen.
    void restore(const QString &protocolVersion)
    {
        m_protocolVersion = protocolVersion;
        m_initialized = true;
    }

    bool initialized() const { return m_initialized; }
    QString protocolVersion() const { return m_protocolVersion; }
    // Requests answered later that have not been answered yet.
    int pendingCount() const { return int(m_pending.size()); }

signals:
    // pendingCount() dropped to zero.
    void drained();

private:
    // Calls `respond` exactly once (now or later) and returns true, or never and returns false
    // (a notification, or a client's response).
    bool handleMessage(const json::Value &message, std::function<void(QByteArray)> respond);
    void handleInitialize(const QByteArray &id, const json::Value *params, const std::function<void(QByteArray)> &respond);
    void handleToolCall(const QByteArray &id, const json::Value *params, std::function<void(QByteArray)> respond);
    void send(const QByteArray &message);
    void finishPending(const QByteArray &id);

    const ToolRegistry &m_registry;
    ServerInfo m_info;
    CallContext m_context;
    MethodHandler m_extra;
    CallObserver m_observer;
    std::function<void(const QByteArray &)> m_sink;
    qint64 m_maxRequestBytes = 2 << 20;
    qint64 m_maxReplyBytes = qint64(16) << 20;
    bool m_initialized = false;
    bool m_closing = false;
    QString m_protocolVersion;
    QSet<QByteArray> m_pending;   // ids of requests being worked on
    QSet<QByteArray> m_cancelled; // of those, the ones the client cancelled
};

// {"content":[{"type":"text","text":<json as string>}],"structuredContent":<json>,"isError":false}
QByteArray toolResult(const QByteArray &structuredJson);
// {"content":[{"type":"text","text":"{\"error\":{...}}"}],"isError":true}
QByteArray toolError(const Error &error);

} // namespace sidecar::protocol
