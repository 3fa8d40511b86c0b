#pragma once

// Small helpers that turn script replies into the Store's structs (docs/redis.md): scripts return
// flat arrays in which a Lua `false` is a Nil element (null), times are decimal text and JSON
// values are their exact text.
//
// Thread: pure functions.

#include <QByteArray>
#include <QString>

#include <cstdint>
#include <optional>

#include "store/redis/redisconnection.h"
#include "store/store.h"

namespace sidecar::store::redis {

inline std::optional<QString> optText(const RedisReply &r)
{
    if (r.isNil())
        return std::nullopt;
    return QString::fromUtf8(r.str);
}

inline std::optional<QByteArray> optJson(const RedisReply &r)
{
    if (r.isNil())
        return std::nullopt;
    return r.str;
}

inline std::optional<double> optDouble(const RedisReply &r)
{
    if (r.isNil())
        return std::nullopt;
    return r.toDouble();
}

inline std::optional<std::int64_t> optInt64(const RedisReply &r)
{
    if (r.isNil())
        return std::nullopt;
    return r.toInt64();
}

// An optional argument for a script: its text, or the empty string for null.
inline QByteArray argOf(const std::optional<QString> &v)
{
    return v ? v->toUtf8() : QByteArray();
}
inline QByteArray argOf(const std::optional<QByteArray> &v)
{
    return v ? *v : QByteArray();
}
inline QByteArray argOf(const std::optional<std::int64_t> &v)
{
    return v ? QByteArray::number(qlonglong(*v)) : QByteArray();
}
inline QByteArray argOf(const std::optional<double> &v)
{
    return v ? QByteArray::number(*v, 'g', 17) : QByteArray();
}
inline QByteArray argOf(const std::optional<int> &v)
{
    return v ? QByteArray::number(*v) : QByteArray();
}

// A history entry from lib.lua's historyReply(): id, revision, kind, op, key, new_value,
// previous_value, agent_id, principal, written_at.
inline HistoryEntry historyEntryOf(const RedisReply &r)
{
    HistoryEntry e;
    e.id = r.at(0).toInt64();
    e.revision = r.at(1).toInt64();
    e.kind = r.at(2).text();
    e.op = r.at(3).text();
    e.key = QString::fromUtf8(r.at(4).str);
    e.newValue = optJson(r.at(5));
    e.previousValue = optJson(r.at(6));
    e.agentId = optText(r.at(7));
    e.principal = optText(r.at(8));
    e.writtenAt = r.at(9).toDouble();
    return e;
}

} // namespace sidecar::store::redis
