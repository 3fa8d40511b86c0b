#include "mcpclient.h"

#include <QLoggingCategory>
#include <QRegularExpression>
#include <QThread>

#include <algorithm>
#include <vector>

#include "clienttransport.h"
#include "protocol/jsonrpc.h"

Q_LOGGING_CATEGORY(lcMcpClient, "sidecar.client")

namespace sidecar::client {

const QString McpClient::kProtocolVersion = QStringLiteral("2025-11-25");

namespace {

constexpr int kMinBackoffMs = 250;
constexpr int kMaxBackoffMs = 10000;
constexpr ErrorCode kAllCodes[] = {ErrorCode::InvalidArgument, ErrorCode::NotFound,    ErrorCode::Conflict,
                                   ErrorCode::Forbidden,       ErrorCode::Unavailable, ErrorCode::TooLarge,
                                   ErrorCode::Internal};

bool supportedVersion(const QString &version)
{
    return version == McpClient::kProtocolVersion || version == QLatin1String("2025-06-18")
           || version == QLatin1String("2025-03-26");
}

// A value of a parsed message as a Document of its own (it must outlive the message's buffer).
Result<json::Document> detach(const json::Value &value)
{
    json::ParseError error;
    auto doc = json::parse(value.compact(), &error);
    if (!doc)
        return fail(ErrorCode::Internal,
                    QStringLiteral("cannot re-read a value: %1").arg(QString::fromStdString(error.message)));
    return std::move(*doc);
}

ErrorCode codeOfRpcError(qint64 code)
{
    switch (code) {
    case jsonrpc::ParseError:
    case jsonrpc::InvalidRequest:
    case jsonrpc::InvalidParams: return ErrorCode::InvalidArgument;
    case jsonrpc::MethodNotFound:
    case jsonrpc::ResourceNotFound: return ErrorCode::NotFound;
    default: return ErrorCode::Internal;
    }
}

// A transport's failure of one request: "HTTP <status> ..." tells what kind it is.
ErrorCode codeOfTransportError(const QString &message)
{
    static const QRegularExpression http(QStringLiteral("^HTTP (\\d{3})"));
    const QRegularExpressionMatch m = http.match(message);
    if (!m.hasMatch())
        return ErrorCode::Unavailable;
    switch (m.captured(1).toInt()) {
    case 400:
    case 406:
    case 415:
    case 422: return ErrorCode::InvalidArgument;
    case 401:
    case 403: return ErrorCode::Forbidden;
    case 404: return ErrorCode::NotFound;
    case 409: return ErrorCode::Conflict;
    case 413: return ErrorCode::TooLarge;
    case 500: return ErrorCode::Internal;
    default: return ErrorCode::Unavailable;
    }
}

// The outcome of tools/call from its result object (MCP "Tools": isError, structuredContent,
// content; TOOLS.md: a tool error's text is {"error":{"code","message"}}).
Result<json::Document> toolOutcome(const json::Value &result)
{
    QByteArray text;
    if (const json::Value *content = result.find("content"); content && content->isArray()) {
        for (const json::Value &item : content->items()) {
            const json::Value *type = item.find("type");
            const json::Value *t = item.find("text");
            if (type && type->isString() && type->text() == "text" && t && t->isString()) {
                text = QByteArray::fromStdString(t->text());
                break;
            }
        }
    }
    const json::Value *isError = result.find("isError");
    if (isError && isError->isBool() && isError->toBool()) {
        if (auto doc = json::parse(text); doc && doc->root().isObject()) {
            const json::Value *error = doc->root().find("error");
            const json::Value *code = error && error->isObject() ? error->find("code") : nullptr;
            const json::Value *message = error && error->isObject() ? error->find("message") : nullptr;
            if (code && code->isString()) {
                return fail(McpClient::errorCodeFromName(code->toQString()),
                            message && message->isString() ? message->toQString() : code->toQString());
            }
        }
        return fail(ErrorCode::Internal, text.isEmpty() ? QStringLiteral("the tool failed without saying why")
                                                        : QString::fromUtf8(text));
    }
    if (const json::Value *structured = result.find("structuredContent"))
        return detach(*structured);
    if (auto doc = json::parse(text))
        return std::move(*doc); // a server without structured output: the text is the JSON
    return fail(ErrorCode::Internal, QStringLiteral("the tool answered without structuredContent"));
}

} // namespace

McpClient::McpClient(std::unique_ptr<ClientTransport> transport, QObject *parent)
    : QObject(parent), m_transport(std::move(transport)),
      m_clientName(QStringLiteral("mcp-state-sidecar-client")),
      m_clientVersion(QStringLiteral(SIDECAR_VERSION))
{
    Q_ASSERT(m_transport);
    Q_ASSERT(m_transport->thread() == thread());
    if (m_transport->parent())
        m_transport->setParent(nullptr); // owned here, not twice
    m_clock.start();
    m_backoffMs = kMinBackoffMs;
    m_reconnectTimer.setSingleShot(true);
    connect(&m_reconnectTimer, &QTimer::timeout, this, [this] {
        if (m_wanted)
            startTransport();
    });
    ClientTransport *t = m_transport.get();
    connect(t, &ClientTransport::opened, this, &McpClient::onOpened);
    connect(t, &ClientTransport::received, this, &McpClient::onReceived);
    connect(t, &ClientTransport::closed, this, &McpClient::onClosed);
    connect(t, &ClientTransport::errorOccurred, this, &McpClient::onTransportError);
    connect(t, &ClientTransport::interrupted, this, &McpClient::onInterrupted);
    connect(t, &ClientTransport::resumed, this, &McpClient::onResumed);
}

McpClient::~McpClient()
{
    // Callbacks still pending are not called: their owners may be going away with this client.
    m_transport->disconnect(this);
    m_transport->close();
    for (auto &entry : m_pending)
        delete entry.second.timer;
    m_pending.clear();
}

void McpClient::setClientInfo(const QString &name, const QString &version)
{
    m_clientName = name;
    m_clientVersion = version;
}

int McpClient::rpcErrorCode(const Error &error)
{
    static const QRegularExpression suffix(QStringLiteral("\\(JSON-RPC (-?\\d+)\\)$"));
    const QRegularExpressionMatch m = suffix.match(error.message);
    return m.hasMatch() ? m.captured(1).toInt() : 0;
}

ErrorCode McpClient::errorCodeFromName(QStringView name)
{
    for (ErrorCode code : kAllCodes) {
        if (name == QLatin1String(errorCodeName(code)))
            return code;
    }
    return ErrorCode::Internal;
}

// ---------------------------------------------------------------- connection

void McpClient::connectToServer()
{
    Q_ASSERT(QThread::currentThread() == thread());
    m_wanted = true;
    if (m_state != State::Disconnected)
        return;
    m_backoffMs = kMinBackoffMs;
    setState(State::Connecting);
    startTransport();
}

void McpClient::disconnectFromServer()
{
    Q_ASSERT(QThread::currentThread() == thread());
    m_wanted = false;
    m_reconnectTimer.stop();
    ++m_epoch;
    m_initialized = false;
    m_resubscribing = 0;
    m_closingTransport = true;
    m_transport->close();
    m_closingTransport = false;
    failPending(QStringLiteral("disconnected"), true);
    setState(State::Disconnected);
}

void McpClient::startTransport()
{
    ++m_epoch;
    m_initialized = false;
    m_resubscribing = 0;
    m_transport->start();
}

void McpClient::onOpened()
{
    if (!m_wanted)
        return;
    // Lifecycle, "Initialization": the client's version, capabilities and info first.
    json::Writer w(128);
    w.beginObject().field("protocolVersion", kProtocolVersion);
    w.key("capabilities").beginObject().endObject();
    w.key("clientInfo")
        .beginObject()
        .field("name", m_clientName)
        .field("version", m_clientVersion)
        .endObject();
    w.endObject();
    enqueue(
        QStringLiteral("initialize"), w.take(),
        [this, epoch = m_epoch](Result<json::Document> result) {
            if (epoch == m_epoch)
                onInitializeAnswer(std::move(result));
        },
        kDefaultTimeoutMs, true);
}

void McpClient::onInitializeAnswer(Result<json::Document> result)
{
    if (!result) {
        dropConnection(QStringLiteral("initialize failed: ") + result.error().message);
        return;
    }
    const json::Value &root = result->root();
    const json::Value *version = root.find("protocolVersion");
    const QString negotiated = version && version->isString() ? version->toQString() : QString();
    if (!supportedVersion(negotiated)) {
        // Lifecycle, "Version negotiation": a version the client does not speak ends the connection.
        dropConnection(
            QStringLiteral("the server speaks MCP version '%1', which this client does not").arg(negotiated));
        return;
    }
    m_protocolVersion = negotiated;
    const json::Value *info = root.find("serverInfo");
    m_serverInfo = info ? info->compact() : QByteArray();
    const json::Value *name = info && info->isObject() ? info->find("name") : nullptr;
    const json::Value *serverVersion = info && info->isObject() ? info->find("version") : nullptr;
    m_serverName = name && name->isString() ? name->toQString() : QString();
    m_serverVersion = serverVersion && serverVersion->isString() ? serverVersion->toQString() : QString();
    const json::Value *capabilities = root.find("capabilities");
    m_capabilities = capabilities ? capabilities->compact() : QByteArray();
    m_initialized = true;
    sendRaw(jsonrpc::notification(QStringLiteral("notifications/initialized"), {}));
    if (!m_initialized)
        return; // the transport failed meanwhile

    // Subscribe again to everything subscribed before (a subscription still waiting to be sent
    // goes out with the other waiting requests).
    QStringList again;
    for (const QString &uri : std::as_const(m_subscriptions)) {
        const bool waiting = std::any_of(m_pending.begin(), m_pending.end(), [&uri](const auto &entry) {
            return entry.second.sentAtNs < 0 && entry.second.subscribeUri == uri;
        });
        if (!waiting)
            again.append(uri);
    }
    if (again.isEmpty()) {
        becomeReady();
        return;
    }
    m_resubscribing = int(again.size());
    for (const QString &uri : std::as_const(again)) {
        json::Writer w(uri.size() + 16);
        w.beginObject().field("uri", uri).endObject();
        enqueue(
            QStringLiteral("resources/subscribe"), w.take(),
            [this, epoch = m_epoch, uri](Result<json::Document> answer) {
                if (epoch != m_epoch)
                    return;
                if (!answer) {
                    setLastError(
                        QStringLiteral("cannot subscribe again to %1: %2").arg(uri, answer.error().message));
                    if (rpcErrorCode(answer.error()) != 0)
                        m_subscriptions.removeAll(uri);
                }
                if (--m_resubscribing == 0)
                    becomeReady();
            },
            kDefaultTimeoutMs, true);
        if (!m_initialized)
            return;
    }
}

void McpClient::becomeReady()
{
    m_backoffMs = kMinBackoffMs;
    setState(State::Ready);
    flushWaiting();
}

void McpClient::dropConnection(const QString &reason)
{
    m_closingTransport = true;
    m_transport->close();
    m_closingTransport = false;
    connectionLost(reason);
}

void McpClient::onClosed(const QString &reason)
{
    if (m_closingTransport)
        return;
    connectionLost(reason);
}

void McpClient::connectionLost(const QString &reason)
{
    ++m_epoch;
    m_initialized = false;
    m_resubscribing = 0;
    const QString message = QStringLiteral("connection lost: ") + reason;
    qCInfo(lcMcpClient).noquote() << message;
    setLastError(message);
    failPending(message, false);
    if (m_wanted && m_autoReconnect) {
        setState(State::Reconnecting);
        m_reconnectTimer.start(m_backoffMs);
        m_backoffMs = std::min(m_backoffMs * 2, kMaxBackoffMs);
        return;
    }
    m_wanted = false;
    failPending(message, true);
    setState(State::Disconnected);
}

void McpClient::onInterrupted(const QString &reason)
{
    setLastError(reason);
    if (m_state == State::Ready)
        setState(State::Reconnecting);
}

void McpClient::onResumed()
{
    if (m_state == State::Reconnecting && m_initialized && m_resubscribing == 0
        && !m_reconnectTimer.isActive())
        becomeReady();
}

void McpClient::onTransportError(const QByteArray &requestId, const QString &message)
{
    setLastError(message);
    bool ok = false;
    const qint64 id = requestId.toLongLong(&ok);
    if (ok && m_pending.count(id))
        finish(id, fail(codeOfTransportError(message), message));
}

void McpClient::setState(State state)
{
    if (state == m_state)
        return;
    m_state = state;
    qCDebug(lcMcpClient) << "state" << state;
    emit stateChanged(state);
}

void McpClient::setLastError(const QString &message)
{
    m_lastError = message;
    emit lastErrorChanged(message);
}

// ---------------------------------------------------------------- requests

void McpClient::request(const QString &method, const QByteArray &paramsJson, Callback callback, int timeoutMs)
{
    Q_ASSERT(QThread::currentThread() == thread());
    QByteArray params;
    if (!paramsJson.isEmpty()) {
        json::ParseError error;
        auto doc = json::parse(paramsJson, &error);
        if (!doc || !doc->root().isObject()) {
            finishLater(std::move(callback), Error{ErrorCode::InvalidArgument,
                                                   doc ? QStringLiteral("params must be a JSON object")
                                                       : QStringLiteral("params are not JSON: %1")
                                                             .arg(QString::fromStdString(error.message))});
            return;
        }
        params = doc->root().compact(); // one line, whatever the caller's layout
    }
    enqueue(method, params, std::move(callback), timeoutMs, false);
}

void McpClient::notify(const QString &method, const QByteArray &paramsJson)
{
    if (m_state != State::Ready)
        return;
    sendRaw(jsonrpc::notification(method, paramsJson));
}

void McpClient::callTool(const QString &name, const QByteArray &argumentsJson, Callback callback,
                         int timeoutMs)
{
    json::Writer w(argumentsJson.size() + name.size() + 32);
    w.beginObject().field("name", name);
    if (auto args = json::parse(argumentsJson.isEmpty() ? QByteArrayLiteral("{}") : argumentsJson)) {
        w.key("arguments").raw(args->root().compact());
    } else {
        finishLater(std::move(callback),
                    Error{ErrorCode::InvalidArgument, QStringLiteral("arguments are not JSON")});
        return;
    }
    w.endObject();
    const qint64 id = enqueue(
        QStringLiteral("tools/call"), w.take(),
        [callback = std::move(callback)](Result<json::Document> answer) {
            if (!answer) {
                callback(tl::unexpected(answer.error()));
                return;
            }
            const json::Value *result = answer->root().find("result");
            if (!result || !result->isObject()) {
                callback(
                    fail(ErrorCode::Internal, QStringLiteral("tools/call answered without a result object")));
                return;
            }
            callback(toolOutcome(*result));
        },
        timeoutMs, false);
    if (auto it = m_pending.find(id); it != m_pending.end())
        it->second.wholeMessage = true; // structuredContent is taken out of the answer at once
}

void McpClient::subscribe(const QString &uri, std::function<void(Result<void>)> callback)
{
    if (!m_subscriptions.contains(uri))
        m_subscriptions.append(uri);
    json::Writer w(uri.size() + 16);
    w.beginObject().field("uri", uri).endObject();
    const qint64 id = enqueue(
        QStringLiteral("resources/subscribe"), w.take(),
        [this, uri, callback = std::move(callback)](Result<json::Document> result) {
            if (!result) {
                setLastError(QStringLiteral("cannot subscribe to %1: %2").arg(uri, result.error().message));
                if (rpcErrorCode(result.error()) != 0)
                    m_subscriptions.removeAll(uri); // the server refuses this URI
            }
            if (callback)
                callback(result ? Result<void>() : Result<void>(tl::unexpected(result.error())));
        },
        kDefaultTimeoutMs, false);
    if (auto it = m_pending.find(id); it != m_pending.end())
        it->second.subscribeUri = uri;
}

void McpClient::unsubscribe(const QString &uri, std::function<void(Result<void>)> callback)
{
    m_subscriptions.removeAll(uri);
    if (m_state == State::Disconnected) { // nothing to tell a server
        if (callback)
            QTimer::singleShot(0, this, [callback = std::move(callback)] { callback(Result<void>()); });
        return;
    }
    json::Writer w(uri.size() + 16);
    w.beginObject().field("uri", uri).endObject();
    enqueue(
        QStringLiteral("resources/unsubscribe"), w.take(),
        [callback = std::move(callback)](Result<json::Document> result) {
            if (callback)
                callback(result ? Result<void>() : Result<void>(tl::unexpected(result.error())));
        },
        kDefaultTimeoutMs, false);
}

qint64 McpClient::enqueue(const QString &method, const QByteArray &params, Callback callback, int timeoutMs,
                          bool internal)
{
    const qint64 id = ++m_nextId;
    if (!internal && m_state == State::Disconnected) {
        finishLater(std::move(callback), Error{ErrorCode::Unavailable, QStringLiteral("not connected")});
        return id;
    }
    Pending &pending = m_pending[id];
    pending.method = method;
    pending.params = params;
    pending.callback = std::move(callback);
    pending.internal = internal;
    pending.timer = new QTimer(this);
    pending.timer->setSingleShot(true);
    connect(pending.timer, &QTimer::timeout, this, [this, id] {
        auto it = m_pending.find(id);
        if (it == m_pending.end())
            return;
        if (it->second.sentAtNs >= 0 && m_initialized) {
            // Cancellation: the server may stop working on it; a late answer is ignored.
            json::Writer w(64);
            w.beginObject().field("requestId", id).field("reason", "timed out").endObject();
            sendRaw(jsonrpc::notification(QStringLiteral("notifications/cancelled"), w.data()));
        }
        finish(id, fail(ErrorCode::Unavailable, QStringLiteral("timed out")));
    });
    pending.timer->start(std::max(timeoutMs, 0));
    if (internal || m_state == State::Ready)
        sendPending(id, pending);
    return id;
}

void McpClient::sendPending(qint64 id, Pending &pending)
{
    pending.sentAtNs = m_clock.nsecsElapsed();
    sendRaw(jsonrpc::request(QByteArray::number(id), pending.method, pending.params));
}

void McpClient::sendRaw(const QByteArray &message)
{
    emit traffic(Direction::Sent, message, -1);
    m_transport->send(message);
}

void McpClient::flushWaiting()
{
    std::vector<qint64> ids;
    for (const auto &[id, pending] : m_pending) {
        if (pending.sentAtNs < 0)
            ids.push_back(id);
    }
    for (qint64 id : ids) {
        if (m_state != State::Ready)
            return; // lost again meanwhile
        if (auto it = m_pending.find(id); it != m_pending.end() && it->second.sentAtNs < 0)
            sendPending(id, it->second);
    }
}

void McpClient::finish(qint64 id, Result<json::Document> result)
{
    auto it = m_pending.find(id);
    if (it == m_pending.end())
        return;
    Pending pending = std::move(it->second);
    m_pending.erase(it);
    delete pending.timer;
    if (!result && !pending.internal)
        qCDebug(lcMcpClient).noquote() << pending.method << "failed:" << result.error().message;
    if (pending.callback)
        pending.callback(std::move(result));
}

void McpClient::finishLater(Callback callback, const Error &error)
{
    if (!callback)
        return;
    QTimer::singleShot(0, this, [callback = std::move(callback), error] { callback(tl::unexpected(error)); });
}

void McpClient::failPending(const QString &reason, bool waitingToo)
{
    std::vector<qint64> ids;
    for (const auto &[id, pending] : m_pending) {
        if (waitingToo || pending.sentAtNs >= 0)
            ids.push_back(id);
    }
    for (qint64 id : ids) {
        auto it = m_pending.find(id);
        if (it == m_pending.end())
            continue;
        Pending pending = std::move(it->second);
        m_pending.erase(it);
        delete pending.timer;
        if (!pending.internal) // those belong to a connection attempt that is over
            finishLater(std::move(pending.callback), Error{ErrorCode::Unavailable, reason});
    }
}

// ---------------------------------------------------------------- incoming

void McpClient::onReceived(const QByteArray &message)
{
    auto doc = json::parse(message);
    if (!doc || !doc->root().isObject()) {
        emit traffic(Direction::Received, message, -1);
        setLastError(QStringLiteral("the server sent something that is not a JSON-RPC message: ")
                     + QString::fromUtf8(message.left(200)));
        return;
    }
    const json::Value &root = doc->root();
    const json::Value *method = root.find("method");
    if (!method) {
        // A response (Basic protocol, "Responses"): matched to its request by id.
        const json::Value *idValue = root.find("id");
        const qint64 id = idValue && idValue->isNumber() ? qint64(idValue->toInt64().value_or(0))
                                                         : 0; // ours are > 0
        auto it = m_pending.find(id);
        qint64 roundTripUs = -1;
        if (it != m_pending.end() && it->second.sentAtNs >= 0) {
            roundTripUs = (m_clock.nsecsElapsed() - it->second.sentAtNs) / 1000;
            m_lastLatencyUs = roundTripUs;
        }
        emit traffic(Direction::Received, message, roundTripUs);
        if (!m_pending.count(id))
            return; // timed out, or not ours
        if (const json::Value *error = root.find("error"); error && error->isObject()) {
            const json::Value *code = error->find("code");
            const json::Value *text = error->find("message");
            const qint64 rpcCode = code ? qint64(code->toInt64().value_or(0)) : 0;
            const QString what = text && text->isString() ? text->toQString() : QStringLiteral("error");
            finish(id,
                   fail(codeOfRpcError(rpcCode), QStringLiteral("%1 (JSON-RPC %2)").arg(what).arg(rpcCode)));
            return;
        }
        const json::Value *result = root.find("result");
        if (!result) {
            finish(id, fail(ErrorCode::Internal, QStringLiteral("an answer without result or error")));
            return;
        }
        if (m_pending[id].wholeMessage)
            finish(id, std::move(*doc));
        else
            finish(id, detach(*result));
        return;
    }
    emit traffic(Direction::Received, message, -1);
    if (root.find("id")) {
        answerServerRequest(root);
        return;
    }
    const json::Value *params = root.find("params");
    const QByteArray paramsJson = params ? params->compact() : QByteArray();
    const QString name = method->toQString();
    if (name == QLatin1String("notifications/resources/updated") && params && params->isObject()) {
        if (const json::Value *uri = params->find("uri"); uri && uri->isString())
            emit resourceUpdated(uri->toQString());
    }
    emit notification(name, paramsJson);
}

void McpClient::answerServerRequest(const json::Value &message)
{
    const QByteArray id = message.find("id")->compact();
    const json::Value *method = message.find("method");
    if (method->isString() && method->text() == "ping") { // Basic protocol, "Ping"
        sendRaw(jsonrpc::response(id, QByteArrayLiteral("{}")));
        return;
    }
    sendRaw(jsonrpc::errorResponse(id, jsonrpc::MethodNotFound,
                                   QStringLiteral("Method not found: ") + method->toQString()));
}

} // namespace sidecar::client
