#include "jsonrpc.h"

#include "json.h"

namespace sidecar::jsonrpc {

QByteArray response(const QByteArray &id, const QByteArray &resultJson)
{
    QByteArray out;
    out.reserve(resultJson.size() + id.size() + 32);
    out.append("{\"jsonrpc\":\"2.0\",\"id\":");
    out.append(id);
    out.append(",\"result\":");
    out.append(resultJson);
    out.append('}');
    return out;
}

QByteArray errorResponse(const QByteArray &id, int code, const QString &message)
{
    json::Writer w(128);
    w.beginObject().field("jsonrpc", "2.0").key("id").raw(id);
    w.key("error").beginObject().field("code", code).field("message", message).endObject();
    w.endObject();
    return w.take();
}

QByteArray notification(const QString &method, const QByteArray &paramsJson)
{
    json::Writer w(paramsJson.size() + 64);
    w.beginObject().field("jsonrpc", "2.0").field("method", method);
    if (!paramsJson.isEmpty())
        w.fieldRaw("params", paramsJson);
    w.endObject();
    return w.take();
}

QByteArray request(const QByteArray &id, const QString &method, const QByteArray &paramsJson)
{
    json::Writer w(paramsJson.size() + 64);
    w.beginObject().field("jsonrpc", "2.0").key("id").raw(id).field("method", method);
    if (!paramsJson.isEmpty())
        w.fieldRaw("params", paramsJson);
    w.endObject();
    return w.take();
}

} // namespace sidecar::jsonrpc
