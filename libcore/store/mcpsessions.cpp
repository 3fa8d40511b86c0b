#include "store/mcpsessions.h"

#include "protocol/json.h"

namespace sidecar::store {

QByteArray encodeSubscriptions(const QStringList &uris)
{
    json::Writer w(64);
    w.beginArray();
    for (const QString &uri : uris)
        w.value(uri);
    w.endArray();
    return w.take();
}

QStringList decodeSubscriptions(const QByteArray &text)
{
    QStringList uris;
    auto doc = json::parse(text);
    if (!doc || !doc->root().isArray())
        return uris;
    for (const json::Value &v : doc->root().items()) {
        if (v.isString())
            uris.append(v.toQString());
    }
    return uris;
}

} // namespace sidecar::store
