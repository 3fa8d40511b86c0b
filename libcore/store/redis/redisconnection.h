#pragma once

// One connection to a Redis server, driven asynchronously by the Qt event loop through hiredis
// (Debian's 0.14). The stock hiredis/adapters/qt.h is not used: it is a Q_OBJECT in a system
// header (AUTOMOC never sees it) and its destructor writes into a freed context after a
// disconnect; redisqtadapter.h is a moc-free replacement over QSocketNotifier.
//
// Role: send commands and Lua scripts, get their replies on the owning thread, never block the
// loop. The connection (re)connects by itself: start() connects, and whenever the link breaks
// (error, EOF, a command past its timeout) every command in flight fails with Unavailable and a
// new attempt follows after a backoff (100 ms doubling to 5 s). While it is down, commands fail
// at once with Unavailable (never queued, never hang). For a write, Unavailable means its outcome
// is unknown: Redis may have applied it.
//
// Scripts: script() sends EVALSHA and, on a NOSCRIPT reply (a restarted or flushed Redis),
// EVAL with the source, once; nothing server-wide is installed (no FUNCTION LOAD).
//
// Subscriber mode: a connection made with Mode::Subscriber issues SUBSCRIBE for the channels
// given to subscribe() (again after each reconnect) and reports each message with message().
//
// Thread: lives on, and is used from, the thread that created it; callbacks and signals run
// there, from the event loop (never inside the call that sent the command).

#include <QByteArray>
#include <QList>
#include <QObject>
#include <QString>

#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "protocol/result.h"

namespace sidecar::store::redis {

// Where and how to connect, from REDIS_URL: redis://[user:password@]host[:port][/db] or
// unix:///path/to/socket[?db=N] (password and user percent-decoded).
struct RedisEndpoint
{
    QString host;       // empty with a unix socket
    quint16 port = 6379;
    QString unixPath;   // set for unix://
    QString user;       // AUTH user password (Redis 6 ACL) when both are set
    QString password;   // AUTH password when only this is set
    int db = 0;         // SELECT when not 0
    // "host:port" or the socket path, without credentials: for logs and errors.
    QString display() const;
};

// InvalidArgument with a message that never contains the password.
Result<RedisEndpoint> parseRedisUrl(const QString &url);

// A reply, copied out of hiredis's redisReply (RESP2 types).
struct RedisReply
{
    enum class Type { Nil, Status, Error, Integer, String, Array };
    Type type = Type::Nil;
    std::int64_t integer = 0;
    QByteArray str;                  // Status, Error, String
    std::vector<RedisReply> elements; // Array

    bool isNil() const { return type == Type::Nil; }
    bool isError() const { return type == Type::Error; }
    // A String or Status as text; empty otherwise.
    QString text() const { return (type == Type::String || type == Type::Status) ? QString::fromUtf8(str) : QString(); }
    // An Integer, or a String holding a decimal integer; `fallback` otherwise.
    std::int64_t toInt64(std::int64_t fallback = 0) const;
    // A String holding a number ("1732451234.123456"), or an Integer.
    double toDouble(double fallback = 0) const;
    // Element i of an Array, or a Nil reply when out of range / not an array.
    const RedisReply &at(std::size_t i) const;
};

// A Lua script: its source and SHA-1, computed once.
class RedisScript
{
public:
    explicit RedisScript(QByteArray source);
    const QByteArray &source() const { return m_source; }
    const QByteArray &sha1() const { return m_sha1; } // lower-case hex
private:
    QByteArray m_source;
    QByteArray m_sha1;
};

struct RedisConnectionOptions
{
    int connectTimeoutMs = 2000;
    int commandTimeoutMs = 5000; // a reply later than this breaks the link (Unavailable)
    int minBackoffMs = 100;
    int maxBackoffMs = 5000;
};

class RedisConnection : public QObject
{
    Q_OBJECT
public:
    enum class Mode { Commands, Subscriber };
    // A Redis error reply arrives as a RedisReply of type Error, not as a failed Result; the
    // Result fails only with Unavailable (link down, timeout) or Internal.
    using ReplyCallback = std::function<void(Result<RedisReply>)>;

    RedisConnection(RedisEndpoint endpoint, RedisConnectionOptions options = {}, Mode mode = Mode::Commands,
                    QObject *parent = nullptr);
    ~RedisConnection() override;

    // Starts connecting (and reconnecting whenever the link breaks, until close()).
    void start();
    // Fails what is in flight with Unavailable, disconnects, stops reconnecting. Idempotent.
    void close();
    bool isConnected() const; // connected, authenticated and the db selected
    const RedisEndpoint &endpoint() const { return m_endpoint; }
    // Why the last attempt or link failed ("Connection refused"), for logs and /readyz.
    QString lastError() const { return m_lastError; }

    // One command, each argument binary-safe.
    void command(const QList<QByteArray> &argv, ReplyCallback done);
    // EVALSHA sha numkeys keys... args..., falling back to EVAL on NOSCRIPT.
    void script(const RedisScript &script, const QList<QByteArray> &keys, const QList<QByteArray> &args,
                ReplyCallback done);

    // Subscriber mode only: channels to listen to (kept across reconnects).
    void subscribe(const QList<QByteArray> &channels);

signals:
    void connected();
    void disconnected(const QString &why);
    // Subscriber mode: a message published on a subscribed channel.
    void message(const QByteArray &channel, const QByteArray &payload);

private:
    struct Private;
    std::unique_ptr<Private> d;
    RedisEndpoint m_endpoint;
    RedisConnectionOptions m_options;
    Mode m_mode;
    QString m_lastError;
};

} // namespace sidecar::store::redis
