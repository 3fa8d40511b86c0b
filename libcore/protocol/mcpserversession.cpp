#include "mcpserversession.h"

#include <QLoggingCategory>

#include <memory>

#include "jsonrpc.h"

Q_LOGGING_CATEGORY(lcSession, "sidecar.session")

namespace sidecar::protocol {

namespace {

void appendToolResult(QByteArray &out, const QByteArray &structuredJson)
{
    out.append("{\"content\":[{\"type\":\"text\",\"text\":");
    json::appendQuoted(out, std::string_view(structuredJson.constData(), std::size_t(structuredJson.size())));
    out.append("}],\"structuredContent\":");
    out.append(structuredJson);
    out.append(",\"isError\":false}");
}

// jsonrpc::response(id, toolResult(structuredJson)) in one buffer: the structured JSON is most
// of an answer, and twice in it; building it once spares a copy of the whole answer.
QByteArray toolResultResponse(const QByteArray &id, const QByteArray &structuredJson)
{
    QByteArray out;
    out.reserve(structuredJson.size() * 2 + id.size() + 160);
    out.append("{\"jsonrpc\":\"2.0\",\"id\":");
    out.append(id);
    out.append(",\"result\":");
    appendToolResult(out, structuredJson);
    out.append('}');
    return out;
}

} // namespace

const QStringList &McpServerSession::supportedVersions()
{
    static const QStringList versions{QStringLiteral("2025-11-25"), QStringLiteral("2025-06-18"),
                                      QStringLiteral("2025-03-26")};
    return versions;
}

McpServerSession::McpServerSession(const ToolRegistry &registry, ServerInfo info, QObject *parent)
    : QObject(parent), m_registry(registry), m_info(std::move(info))
{
}

void McpServerSession::send(const QByteArray &message)
{
    if (m_sink)
        m_sink(message);
}

void McpServerSession::sendNotification(const QString &method, const QByteArray &paramsJson)
{
    if (m_protocolVersion.isEmpty())
        return;
    send(jsonrpc::notification(method, paramsJson));
}

void McpServerSession::rejectOversized(qint64 size)
{
    send(jsonrpc::errorResponse(jsonrpc::kNullId, jsonrpc::InvalidRequest,
                                QStringLiteral("Request of %1 bytes exceeds the limit of %2 bytes")
                                    .arg(size)
                                    .arg(m_maxRequestBytes)));
}

void McpServerSession::handle(const QByteArray &text)
{
    handle(text, [this](const QByteArray &message) {
        if (!message.isEmpty()) // empty: a cancelled request's withheld answer
            send(message);
    });
}

bool McpServerSession::handle(const QByteArray &text, std::function<void(const QByteArray &)> reply)
{
    // Answers leave through `reply` only while the session lives.
    auto out = [self = QPointer<McpServerSession>(this), reply = std::move(reply)](QByteArray message) {
        if (self)
            reply(message);
    };
    json::ParseError error;
    auto doc = json::parse(text, &error);
    if (!doc) {
        out(jsonrpc::errorResponse(jsonrpc::kNullId, jsonrpc::ParseError,
                                   QStringLiteral("Parse error: %1 at offset %2")
                                       .arg(QString::fromStdString(error.message))
                                       .arg(error.offset)));
        return true;
    }
    json::Value &root = doc->root();
    if (!root.isArray())
        return handleMessage(root, out);
    // Batches: only 2025-03-26 has them (MCP 2025-03-26, "Basic protocol"; removed in 2025-06-18).
    if (m_protocolVersion != QLatin1String("2025-03-26") || root.items().empty()) {
        out(jsonrpc::errorResponse(jsonrpc::kNullId, jsonrpc::InvalidRequest,
                                   root.items().empty()
                                       ? QStringLiteral("Invalid Request: empty batch")
                                       : QStringLiteral("Invalid Request: JSON-RPC batches are only accepted in "
                                                        "sessions that negotiated protocol version 2025-03-26")));
        return true;
    }
    struct Batch
    {
        QList<QByteArray> responses;
        int outstanding = 1; // the dispatch loop itself
        int answering = 0;   // requests among the messages
    };
    auto batch = std::make_shared<Batch>();
    auto complete = [out, batch]() {
        if (--batch->outstanding != 0 || batch->answering == 0)
            return;
        // Every request cancelled: the batch is over without an answer (an empty message).
        out(batch->responses.isEmpty() ? QByteArray() : '[' + batch->responses.join(',') + ']');
    };
    for (json::Value &message : root.items()) {
        ++batch->outstanding;
        const bool answers = handleMessage(message, [batch, complete](QByteArray r) {
            if (!r.isEmpty())
                batch->responses.append(std::move(r));
            complete();
        });
        if (answers)
            ++batch->answering;
        else
            complete();
    }
    complete();
    return batch->answering > 0;
}

bool McpServerSession::handleMessage(const json::Value &message, std::function<void(QByteArray)> respond)
{
    // Every path below either calls `respond` exactly once and returns true or, for a
    // notification or a client's response, never calls it and returns false. A request the
    // client cancelled gets `respond` with an empty message: no answer is sent, but it is over.
    auto invalid = [&](const QByteArray &id, const QString &why) {
        respond(jsonrpc::errorResponse(id, jsonrpc::InvalidRequest, QStringLiteral("Invalid Request: ") + why));
    };
    if (!message.isObject()) {
        invalid(jsonrpc::kNullId, QStringLiteral("a message must be a JSON object"));
        return true;
    }
    const json::Value *idValue = message.find("id");
    QByteArray id = jsonrpc::kNullId;
    if (idValue && (idValue->isString() || idValue->isNumber()))
        id = idValue->compact();
    if (message.hasOwnDuplicateKeys()) {
        invalid(id, QStringLiteral("duplicate key in the message"));
        return true;
    }
    const json::Value *version = message.find("jsonrpc");
    if (!version || !version->isString() || version->text() != "2.0") {
        invalid(id, QStringLiteral("\"jsonrpc\" must be \"2.0\""));
        return true;
    }
    const json::Value *methodValue = message.find("method");
    if (!methodValue) {
        if (message.find("result") || message.find("error"))
            return false; // a response to a server request; this server sends none
        invalid(id, QStringLiteral("\"method\" is missing"));
        return true;
    }
    if (!methodValue->isString()) {
        invalid(id, QStringLiteral("\"method\" must be a string"));
        return true;
    }
    if (idValue && !(idValue->isString() || idValue->isNumber())) {
        invalid(jsonrpc::kNullId,
                QStringLiteral("\"id\" must be a string or a number, not %1")
                    .arg(QLatin1String(json::typeName(idValue->type()))));
        return true;
    }
    // Compared as UTF-8 (no QString per message); converted only where a QString is needed.
    const std::string &method = methodValue->text();
    const json::Value *params = message.find("params");
    if (params && !(params->isObject() || params->isArray())) {
        if (!idValue)
            return false;
        respond(jsonrpc::errorResponse(id, jsonrpc::InvalidParams,
                                       QStringLiteral("Invalid params: \"params\" must be an object")));
        return true;
    }

    if (!idValue) { // a notification
        if (method == "notifications/initialized") {
            m_initialized = true;
        } else if (method == "notifications/cancelled" && params) {
            if (const json::Value *requestId = params->find("requestId")) {
                const QByteArray cancelled = requestId->compact();
                if (m_pending.contains(cancelled))
                    m_cancelled.insert(cancelled);
            }
        }
        return false; // unknown notifications are ignored (JSON-RPC: no reply to a notification)
    }

    if (m_closing) {
        respond(jsonrpc::errorResponse(id, jsonrpc::InternalError,
                                       QStringLiteral("Internal error: the server is shutting down")));
        return true;
    }
    if (method == "initialize") {
        handleInitialize(id, params, respond);
        return true;
    }
    if (method == "ping") {
        respond(jsonrpc::response(id, QByteArrayLiteral("{}")));
        return true;
    }
    if (m_protocolVersion.isEmpty()) {
        invalid(id, QStringLiteral("the session is not initialized: send \"initialize\" first"));
        return true;
    }
    if (params && params->hasOwnDuplicateKeys()) {
        respond(jsonrpc::errorResponse(id, jsonrpc::InvalidParams, QStringLiteral("Invalid params: duplicate key")));
        return true;
    }
    if (method == "tools/call") {
        handleToolCall(id, params, std::move(respond));
        return true;
    }
    if (method == "tools/list") {
        QByteArray result;
        result.reserve(m_registry.listJson().size() + 16);
        result.append("{\"tools\":").append(m_registry.listJson()).append('}');
        respond(jsonrpc::response(id, result));
        return true;
    }
    if (m_extra) {
        // Counted as pending like tool calls, so that shutdown waits for these answers too.
        m_pending.insert(id);
        QPointer<McpServerSession> self(this);
        auto tracked = [self, id, respond](QByteArray r) {
            respond(std::move(r));
            if (self)
                self->finishPending(id);
        };
        if (m_extra(methodValue->toQString(), id, params, tracked))
            return true;
        m_pending.remove(id);
    }
    respond(jsonrpc::errorResponse(id, jsonrpc::MethodNotFound, QStringLiteral("Method not found: ") + methodValue->toQString()));
    return true;
}

void McpServerSession::handleInitialize(const QByteArray &id, const json::Value *params,
                                        const std::function<void(QByteArray)> &respond)
{
    const json::Value *requested = params ? params->find("protocolVersion") : nullptr;
    if (!params || !params->isObject() || !requested || !requested->isString()) {
        respond(jsonrpc::errorResponse(id, jsonrpc::InvalidParams,
                                       QStringLiteral("Invalid params: initialize needs \"protocolVersion\"")));
        return;
    }
    if (!m_protocolVersion.isEmpty()) {
        respond(jsonrpc::errorResponse(id, jsonrpc::InvalidRequest,
                                       QStringLiteral("Invalid Request: the session is already initialized")));
        return;
    }
    // Lifecycle, "Version negotiation": answer the client's version when supported, else our latest.
    const QString asked = requested->toQString();
    m_protocolVersion = supportedVersions().contains(asked) ? asked : supportedVersions().first();

    json::Writer w(512);
    w.beginObject();
    w.field("protocolVersion", m_protocolVersion);
    w.key("capabilities").beginObject();
    w.key("tools").beginObject().field("listChanged", false).endObject();
    if (m_extra)
        w.key("resources").beginObject().field("subscribe", true).field("listChanged", false).endObject();
    w.endObject();
    w.key("serverInfo").beginObject().field("name", m_info.name).field("version", m_info.version).endObject();
    if (!m_info.instructions.isEmpty())
        w.field("instructions", m_info.instructions);
    w.endObject();
    respond(jsonrpc::response(id, w.take()));
}

void McpServerSession::handleToolCall(const QByteArray &id, const json::Value *params,
                                      std::function<void(QByteArray)> respond)
{
    const json::Value *name = params ? params->find("name") : nullptr;
    if (!name || !name->isString()) {
        respond(jsonrpc::errorResponse(id, jsonrpc::InvalidParams,
                                       QStringLiteral("Invalid params: tools/call needs a string \"name\"")));
        return;
    }
    QElapsedTimer started;
    started.start();
    const ToolRegistry::Tool *tool = m_registry.find(name->text());
    if (!tool) {
        if (m_observer)
            m_observer({name->toQString(), std::nullopt, true, 0});
        respond(jsonrpc::errorResponse(id, jsonrpc::InvalidParams, QStringLiteral("Unknown tool: ") + name->toQString()));
        return;
    }
    // Answers a tool error now (validation, scope), telling the observer.
    auto refuse = [&](Error error) {
        if (m_observer)
            m_observer({tool->definition.name, error.code, false, double(started.nsecsElapsed()) / 1e9});
        respond(jsonrpc::response(id, toolError(error)));
    };
    json::Value noArguments(json::Type::Object);
    // The tree is ours for the duration of this call; arguments are normalised in place.
    auto *args = const_cast<json::Value *>(params->find("arguments"));
    if (!args || args->isNull())
        args = &noArguments;
    if (!args->isObject()) {
        respond(jsonrpc::errorResponse(id, jsonrpc::InvalidParams,
                                       QStringLiteral("Invalid params: \"arguments\" must be an object")));
        return;
    }
    if (args->hasDuplicateKeys()) {
        refuse({ErrorCode::InvalidArgument, QStringLiteral("The arguments contain a duplicate key.")});
        return;
    }
    const QString problem = ToolRegistry::prepareArguments(*tool, *args);
    if (!problem.isEmpty()) {
        refuse({ErrorCode::InvalidArgument,
                QStringLiteral("Invalid arguments for %1: %2").arg(tool->definition.name, problem)});
        return;
    }
    if (int(m_context.scope) < int(tool->definition.scope)) {
        refuse({ErrorCode::Forbidden,
                QStringLiteral("The caller's token does not grant the scope %1 needs.").arg(tool->definition.name)});
        return;
    }

    m_pending.insert(id);
    QPointer<McpServerSession> self(this);
    const qint64 maxReply = m_maxReplyBytes;
    tool->definition.handler(m_context, *args, [self, id, respond = std::move(respond), maxReply, started,
                                                name = tool->definition.name](Result<QByteArray> result) {
        if (!self)
            return;
        if (result && result->size() > maxReply)
            result = fail(ErrorCode::TooLarge, QStringLiteral("The result of %1 would be %2 bytes, over the reply "
                                                              "limit of %3 bytes.")
                                                   .arg(name)
                                                   .arg(result->size())
                                                   .arg(maxReply));
        if (self->m_observer)
            self->m_observer({name, result ? std::nullopt : std::optional<ErrorCode>(result.error().code), false,
                              double(started.nsecsElapsed()) / 1e9});
        const bool cancelled = self->m_cancelled.remove(id);
        respond(cancelled  ? QByteArray()
                : result ? toolResultResponse(id, *result)
                         : jsonrpc::response(id, toolError(result.error())));
        self->finishPending(id);
    });
}

void McpServerSession::finishPending(const QByteArray &id)
{
    if (m_pending.remove(id) && m_pending.isEmpty())
        emit drained();
}


QByteArray toolResult(const QByteArray &structuredJson)
{
    QByteArray out;
    out.reserve(structuredJson.size() * 2 + 96);
    appendToolResult(out, structuredJson);
    return out;
}

QByteArray toolError(const Error &error)
{
    json::Writer inner(128);
    inner.beginObject().key("error").beginObject();
    inner.field("code", errorCodeName(error.code)).field("message", error.message);
    inner.endObject().endObject();
    const QByteArray text = inner.take();
    QByteArray out;
    out.reserve(text.size() * 2 + 64);
    out.append("{\"content\":[{\"type\":\"text\",\"text\":");
    json::appendQuoted(out, std::string_view(text.constData(), std::size_t(text.size())));
    out.append("}],\"isError\":true}");
    return out;
}

} // namespace sidecar::protocol
