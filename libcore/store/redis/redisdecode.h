#pragma once

// Small helpers that the RedisStore domain files (rediskv.cpp, redisworkflows.cpp,
// redisleases.cpp, redishistory.cpp, redismcpsessions.cpp) share: script arguments, reply
// decoding, and answering an operation that fails before its script runs.
//
// Scripts return flat arrays in which a Lua `false` is a Nil element (null), times are decimal
// text and JSON values are their exact text (docs/redis.md).
//
// Thread: pure functions, except failLater(), which posts to the caller's (the store's) thread.

#include <QByteArray>
#include <QObject>
#include <QString>
#include <QTimer>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <utility>

#include "store/redis/redisconnection.h"
#include "store/store.h"

namespace sidecar::store::redis {

// ---------------------------------------------------------------- replies

// A reply that is an array of at least `minSize` elements.
inline bool isArray(const RedisReply &r, std::size_t minSize)
{
    return r.type == RedisReply::Type::Array && r.elements.size() >= minSize;
}

// The error for a reply that does not have the shape the script's header promises.
inline Error badReply(const char *script)
{
    return Error{ErrorCode::Internal,
                 QStringLiteral("Unexpected reply from the Redis script %1").arg(QLatin1String(script))};
}

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

// ---------------------------------------------------------------- arguments

// A number argument for a script: the shortest text that reads back as the same double.
inline QByteArray numberArg(double v)
{
    return QByteArray::number(v, 'g', 17);
}

// A yes/no argument for a script: '1', or the empty string for no.
inline QByteArray flag(bool b)
{
    return b ? QByteArrayLiteral("1") : QByteArray();
}

// An optional argument for a script: its text, or the empty string for null (lib.lua's arg()
// reads the empty string as absent). For text, an empty value is therefore sent as absent: none
// reaches a store this way (the tools refuse an empty agent_id or idempotency_key: optIdArg(),
// toolsupport.cpp), and values that may be empty travel as required text (argText()).
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
    return v ? numberArg(*v) : QByteArray();
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

// ---------------------------------------------------------------- failures before the script

// Answers `done` with `error` on the next event loop turn of `context`'s thread: an error found
// before any script runs (bad paging arguments, a bad cursor) is never answered inside the call,
// as no Store operation is.
template<class T>
void failLater(QObject *context, Callback<T> done, Error error)
{
    QTimer::singleShot(0, context, [done = std::move(done), error = std::move(error)] { done(tl::unexpected(error)); });
}

} // namespace sidecar::store::redis
