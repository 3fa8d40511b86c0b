#pragma once

// JSON-RPC 2.0 framing (https://www.jsonrpc.org/specification) as MCP uses it: error codes and
// the builders of response and notification texts. Ids travel as their compact JSON text so
// that a response carries exactly the id of its request, whatever its type.

#include <QByteArray>
#include <QString>

namespace sidecar::jsonrpc {

enum ErrorCodes : int {
    ParseError = -32700,
    InvalidRequest = -32600,
    MethodNotFound = -32601,
    InvalidParams = -32602,
    InternalError = -32603,
    ResourceNotFound = -32002, // MCP: resources/read of an unknown URI
};

inline const QByteArray kNullId = QByteArrayLiteral("null");

// {"jsonrpc":"2.0","id":<id>,"result":<resultJson>}
QByteArray response(const QByteArray &id, const QByteArray &resultJson);
// {"jsonrpc":"2.0","id":<id>,"error":{"code":..,"message":..}}
QByteArray errorResponse(const QByteArray &id, int code, const QString &message);
// {"jsonrpc":"2.0","method":..,"params":<paramsJson>}
QByteArray notification(const QString &method, const QByteArray &paramsJson);
QByteArray request(const QByteArray &id, const QString &method, const QByteArray &paramsJson);

} // namespace sidecar::jsonrpc
