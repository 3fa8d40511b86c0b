// RedisConnection over hiredis's asynchronous API (redisconnection.h), and the URL parsing,
// reply and script helpers.
//
// How the hiredis lifetimes are kept safe:
// - Nothing but this file's own bookkeeping runs inside hiredis. The reply, subscription and
//   cleanup callbacks only copy what they need and queue an event; the events (user callbacks,
//   handshake steps, signals) run in drain(), after redisAsyncHandleRead/Write has returned (the
//   adapter's afterEvent) or from a queued call. So user code never runs inside hiredis, and the
//   context is only ever freed (redisAsyncFree) from outside a hiredis callback.
// - hiredis frees a context by itself when the link fails (connect error, EOF, read or write
//   error); the adapter's cleanup hook reports it, and the context is forgotten at once.
// - A context this file frees has its `data` nulled first, so the callbacks hiredis runs while
//   freeing it (pending replies with a NULL reply) find nothing.
// - A user callback may destroy the connection: drain() checks a QPointer after each event, and
//   the destructor answers whatever is still queued or in flight.

#include "store/redis/redisconnection.h"

#include <QCryptographicHash>
#include <QElapsedTimer>
#include <QLoggingCategory>
#include <QPointer>
#include <QSet>
#include <QTimer>

#include <algorithm>
#include <deque>
#include <limits>
#include <map>
#include <optional>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <hiredis/async.h>

#include "store/redis/redisqtadapter.h"

namespace sidecar::store::redis {

namespace {

Q_LOGGING_CATEGORY(lcRedis, "sidecar.redis")

constexpr char kUrlForms[] = "expected redis://[user:password@]host[:port][/db] or unix:///path/to/socket[?db=N]";

tl::unexpected<Error> badUrl(const QString &why)
{
    return fail(ErrorCode::InvalidArgument, QStringLiteral("invalid Redis URL: %1").arg(why));
}

int hexValue(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

// %XX sequences decoded; false on a '%' not followed by two hex digits.
bool percentDecode(QByteArrayView in, QByteArray *out)
{
    out->clear();
    out->reserve(in.size());
    for (qsizetype i = 0; i < in.size(); ++i) {
        const char c = in[i];
        if (c != '%') {
            out->append(c);
            continue;
        }
        if (i + 2 >= in.size())
            return false;
        const int high = hexValue(in[i + 1]);
        const int low = hexValue(in[i + 2]);
        if (high < 0 || low < 0)
            return false;
        out->append(char(high * 16 + low));
        i += 2;
    }
    return true;
}

// A database number: decimal digits only.
std::optional<int> parseDb(QByteArrayView text)
{
    if (text.isEmpty() || text.size() > 9)
        return std::nullopt;
    int value = 0;
    for (const char c : text) {
        if (c < '0' || c > '9')
            return std::nullopt;
        value = value * 10 + (c - '0');
    }
    return value;
}

bool isHostChar(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '-' ||
           c == '_';
}

// "user:password" (or "password" alone, as redis-cli reads it), percent-decoded.
Result<void> parseUserInfo(QByteArrayView userInfo, RedisEndpoint *e)
{
    const qsizetype colon = userInfo.indexOf(':');
    QByteArray user;
    QByteArray password;
    const bool userOk = colon < 0 || percentDecode(userInfo.first(colon), &user);
    const bool passwordOk = percentDecode(colon < 0 ? userInfo : userInfo.sliced(colon + 1), &password);
    if (!userOk || !passwordOk)
        return badUrl(QStringLiteral("bad percent-encoding in the user or password (write %XX for special "
                                     "characters)"));
    if (!user.isEmpty() && password.isEmpty())
        return badUrl(QStringLiteral("a user needs a password (redis://user:password@host)"));
    e->user = QString::fromUtf8(user);
    e->password = QString::fromUtf8(password);
    return {};
}

Result<RedisEndpoint> parseUnixUrl(QByteArrayView rest)
{
    RedisEndpoint e;
    e.host.clear();
    // unix://[[user:]password@]/path: credentials only before a '/' that starts the path.
    if (!rest.startsWith('/')) {
        const qsizetype at = rest.indexOf("@/");
        if (at < 0)
            return badUrl(QStringLiteral("a unix socket URL needs an absolute path (unix:///path/to/socket)"));
        if (auto r = parseUserInfo(rest.first(at), &e); !r)
            return tl::unexpected(r.error());
        rest = rest.sliced(at + 1);
    }
    QByteArrayView query;
    const qsizetype question = rest.indexOf('?');
    if (question >= 0) {
        query = rest.sliced(question + 1);
        rest = rest.first(question);
    }
    QByteArray path;
    if (!percentDecode(rest, &path))
        return badUrl(QStringLiteral("bad percent-encoding in the socket path"));
    if (path.size() < 2 || path.endsWith('/'))
        return badUrl(QStringLiteral("the socket path is missing (unix:///path/to/socket)"));
    e.unixPath = QString::fromUtf8(path);
    if (!query.isEmpty()) {
        for (const QByteArrayView item : QByteArray(query.data(), query.size()).split('&')) {
            const qsizetype eq = item.indexOf('=');
            const QByteArrayView name = eq < 0 ? item : item.first(eq);
            if (name != "db")
                return badUrl(QStringLiteral("unknown parameter \"%1\" (only db=N is understood)")
                                  .arg(QString::fromUtf8(name.data(), name.size()).left(40)));
            const auto db = parseDb(eq < 0 ? QByteArrayView() : item.sliced(eq + 1));
            if (!db)
                return badUrl(QStringLiteral("the database must be a number (db=N)"));
            e.db = *db;
        }
    }
    return e;
}

Result<RedisEndpoint> parseTcpUrl(QByteArrayView rest)
{
    RedisEndpoint e;
    // The credentials end at the last '@', so a password with an unencoded '@' or '/' still
    // parses (nothing after the host may contain one).
    const qsizetype at = rest.lastIndexOf('@');
    if (at >= 0) {
        if (auto r = parseUserInfo(rest.first(at), &e); !r)
            return tl::unexpected(r.error());
        rest = rest.sliced(at + 1);
    }
    if (rest.contains('?') || rest.contains('#'))
        return badUrl(QStringLiteral("redis:// URLs take no query or fragment (the database goes in the path: /db)"));
    QByteArrayView hostPort = rest;
    QByteArrayView path;
    const qsizetype slash = rest.indexOf('/');
    if (slash >= 0) {
        hostPort = rest.first(slash);
        path = rest.sliced(slash + 1);
    }
    QByteArrayView portText;
    bool hasPort = false;
    if (hostPort.startsWith('[')) {
        const qsizetype close = hostPort.indexOf(']');
        if (close < 0)
            return badUrl(QStringLiteral("unterminated [ in the host"));
        const QByteArrayView v6 = hostPort.sliced(1, close - 1);
        if (v6.isEmpty() || !std::all_of(v6.begin(), v6.end(), [](char c) {
                return c == ':' || c == '.' || hexValue(c) >= 0;
            }))
            return badUrl(QStringLiteral("the host between [ ] must be an IPv6 address"));
        e.host = QString::fromLatin1(v6.data(), v6.size());
        const QByteArrayView after = hostPort.sliced(close + 1);
        if (!after.isEmpty()) {
            if (!after.startsWith(':'))
                return badUrl(QStringLiteral("unexpected text after the IPv6 address"));
            portText = after.sliced(1);
            hasPort = true;
        }
    } else {
        const qsizetype colon = hostPort.indexOf(':');
        QByteArrayView host = hostPort;
        if (colon >= 0) {
            host = hostPort.first(colon);
            portText = hostPort.sliced(colon + 1);
            hasPort = true;
            if (portText.contains(':'))
                return badUrl(QStringLiteral("an IPv6 address must be written in brackets: redis://[::1]:6379"));
        }
        if (!std::all_of(host.begin(), host.end(), isHostChar))
            return badUrl(QStringLiteral("the host may hold only letters, digits, '.', '-' and '_'"));
        e.host = QString::fromLatin1(host.data(), host.size());
    }
    if (e.host.isEmpty())
        return badUrl(QStringLiteral("the host is missing; ") + QLatin1String(kUrlForms));
    if (hasPort) {
        bool ok = portText.size() <= 5 && !portText.isEmpty() &&
                  std::all_of(portText.begin(), portText.end(), [](char c) { return c >= '0' && c <= '9'; });
        const int port = ok ? QByteArray(portText.data(), portText.size()).toInt(&ok) : 0;
        if (!ok || port < 1 || port > 65535)
            return badUrl(QStringLiteral("the port must be a number from 1 to 65535"));
        e.port = quint16(port);
    }
    if (!path.isEmpty()) {
        const auto db = parseDb(path);
        if (!db)
            return badUrl(QStringLiteral("the database must be a number (redis://host:port/N)"));
        e.db = *db;
    }
    return e;
}

void copyReply(const redisReply &from, RedisReply *to)
{
    switch (from.type) {
    case REDIS_REPLY_STRING:
        to->type = RedisReply::Type::String;
        to->str = QByteArray(from.str, qsizetype(from.len));
        break;
    case REDIS_REPLY_STATUS:
        to->type = RedisReply::Type::Status;
        to->str = QByteArray(from.str, qsizetype(from.len));
        break;
    case REDIS_REPLY_ERROR:
        to->type = RedisReply::Type::Error;
        to->str = QByteArray(from.str, qsizetype(from.len));
        break;
    case REDIS_REPLY_INTEGER:
        to->type = RedisReply::Type::Integer;
        to->integer = from.integer;
        break;
    case REDIS_REPLY_ARRAY:
        to->type = RedisReply::Type::Array;
        to->elements.resize(from.elements);
        for (size_t i = 0; i < from.elements; ++i)
            copyReply(*from.element[i], &to->elements[i]);
        break;
    case REDIS_REPLY_NIL:
    default:
        to->type = RedisReply::Type::Nil;
        break;
    }
}

// Keepalive probes on a TCP link, so that a subscriber whose peer vanished without a FIN
// (a host gone, a cable pulled) notices within a minute or so. Failures are harmless.
void enableKeepAlive(int fd)
{
    int on = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof on);
    int idle = 15;
    int interval = 5;
    int count = 3;
    ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof idle);
    ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &interval, sizeof interval);
    ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &count, sizeof count);
}

bool isSubscriptionCommand(const QByteArray &name)
{
    const QByteArray upper = name.toUpper();
    return upper == "SUBSCRIBE" || upper == "PSUBSCRIBE" || upper == "UNSUBSCRIBE" || upper == "PUNSUBSCRIBE" ||
           upper == "SSUBSCRIBE" || upper == "SUNSUBSCRIBE" || upper == "MONITOR";
}

} // namespace

// ---- URL, reply, script

QString RedisEndpoint::display() const
{
    if (!unixPath.isEmpty())
        return unixPath;
    const QString h = host.contains(u':') ? QStringLiteral("[%1]").arg(host) : host;
    return QStringLiteral("%1:%2").arg(h).arg(port);
}

Result<RedisEndpoint> parseRedisUrl(const QString &url)
{
    const QByteArray text = url.trimmed().toUtf8();
    if (text.isEmpty())
        return badUrl(QStringLiteral("it is empty; ") + QLatin1String(kUrlForms));
    const qsizetype schemeEnd = text.indexOf("://");
    if (schemeEnd <= 0)
        return badUrl(QLatin1String(kUrlForms));
    const QByteArray scheme = text.left(schemeEnd).toLower();
    const QByteArrayView rest = QByteArrayView(text).sliced(schemeEnd + 3);
    if (scheme == "redis")
        return parseTcpUrl(rest);
    if (scheme == "unix")
        return parseUnixUrl(rest);
    if (scheme == "rediss")
        return badUrl(QStringLiteral("TLS (rediss://) is not supported; use redis:// or unix://"));
    return badUrl(QStringLiteral("unknown scheme \"%1\"; ").arg(QString::fromUtf8(scheme.left(20))) +
                  QLatin1String(kUrlForms));
}

std::int64_t RedisReply::toInt64(std::int64_t fallback) const
{
    if (type == Type::Integer)
        return integer;
    if (type == Type::String || type == Type::Status) {
        bool ok = false;
        const qlonglong value = str.toLongLong(&ok);
        if (ok)
            return value;
    }
    return fallback;
}

double RedisReply::toDouble(double fallback) const
{
    if (type == Type::Integer)
        return double(integer);
    if (type == Type::String || type == Type::Status) {
        bool ok = false;
        const double value = str.toDouble(&ok);
        if (ok)
            return value;
    }
    return fallback;
}

const RedisReply &RedisReply::at(std::size_t i) const
{
    static const RedisReply nil;
    if (type != Type::Array || i >= elements.size())
        return nil;
    return elements[i];
}

RedisScript::RedisScript(QByteArray source)
    : m_source(std::move(source)), m_sha1(QCryptographicHash::hash(m_source, QCryptographicHash::Sha1).toHex())
{
}

// ---- RedisConnection

struct RedisConnection::Private
{
    enum class State { Idle, Connecting, Connected, Backoff, Closed };

    struct Pending
    {
        ReplyCallback done;
        bool internal = false; // a handshake step: dropped, not answered, when the link breaks
        qint64 sentAt = 0;     // clock time
    };

    // Something to run from drain(), in order.
    struct Event
    {
        ReplyCallback done;           // a command's callback (the user's, or a handshake step)...
        Result<RedisReply> result;    // ...and what it gets
        std::function<void()> action; // or an internal step (handshake, signal)
        bool internal = false;        // skipped when the connection is being destroyed
        quint64 generation = 0;       // an internal event of an older link (not 0) is dropped
    };

    explicit Private(RedisConnection *owner) : q(owner)
    {
        clock.start();
        connectTimer.setSingleShot(true);
        commandTimer.setSingleShot(true);
        reconnectTimer.setSingleShot(true);
        QObject::connect(&connectTimer, &QTimer::timeout, q, [this] { onConnectTimeout(); });
        QObject::connect(&commandTimer, &QTimer::timeout, q, [this] { checkCommandTimeouts(); });
        QObject::connect(&reconnectTimer, &QTimer::timeout, q, [this] {
            if (state == State::Backoff)
                connectNow();
        });
    }

    RedisConnection *q;
    State state = State::Idle;
    redisAsyncContext *ctx = nullptr; // the current link's context; null once freed
    std::unique_ptr<RedisQtAdapter> adapter;
    quint64 generation = 1; // +1 for each link torn down
    quint64 lastId = 0;
    std::map<quint64, Pending> pending; // by id = send order
    std::deque<Event> ready;
    bool drainScheduled = false;

    QElapsedTimer clock;
    QTimer connectTimer;
    QTimer commandTimer;
    QTimer reconnectTimer;
    qint64 lastReplyAt = 0; // clock time of the last reply on the current link
    int backoffMs = 0;
    QString lastLoggedFailure;

    QList<QByteArray> channels;       // Subscriber mode: what to listen to
    QSet<QByteArray> awaitingConfirm; // SUBSCRIBE confirmations still due before connected()
    bool subscribing = false;         // the handshake reached SUBSCRIBE

    const RedisEndpoint &endpoint() const { return q->m_endpoint; }
    const RedisConnectionOptions &options() const { return q->m_options; }

    // ---- hiredis callbacks (inside hiredis: bookkeeping and queueing only)

    static void onReply(redisAsyncContext *ac, void *reply, void *privdata)
    {
        auto *self = static_cast<Private *>(ac->data);
        if (!self || !reply)
            return; // a context being freed: the link-break path answers its commands
        self->replied(quint64(quintptr(privdata)), *static_cast<const redisReply *>(reply));
    }

    static void onSubscription(redisAsyncContext *ac, void *reply, void *)
    {
        auto *self = static_cast<Private *>(ac->data);
        if (!self || !reply)
            return;
        self->subscriptionEvent(*static_cast<const redisReply *>(reply));
    }

    void replied(quint64 id, const redisReply &reply)
    {
        auto it = pending.find(id);
        if (it == pending.end())
            return;
        lastReplyAt = clock.elapsed();
        Event e;
        e.done = std::move(it->second.done);
        copyReply(reply, &*e.result);
        e.internal = it->second.internal;
        e.generation = e.internal ? generation : 0;
        pending.erase(it);
        ready.push_back(std::move(e));
    }

    void subscriptionEvent(const redisReply &reply)
    {
        const quint64 gen = generation;
        if (reply.type != REDIS_REPLY_ARRAY || reply.elements < 2) {
            RedisReply copy;
            copyReply(reply, &copy);
            const QString why = copy.isError() ? QString::fromUtf8(copy.str) : QStringLiteral("an unexpected reply");
            queueAction(gen, [this, why] { breakLink(QStringLiteral("the subscription failed: %1").arg(why)); });
            return;
        }
        const redisReply &kind = *reply.element[0];
        const redisReply &channel = *reply.element[1];
        const QByteArray kindText(kind.str, qsizetype(kind.len));
        const QByteArray channelText(channel.str, qsizetype(channel.len));
        if (kindText == "message" && reply.elements >= 3) {
            const redisReply &payload = *reply.element[2];
            const QByteArray payloadText(payload.str, qsizetype(payload.len));
            queueAction(0, [this, channelText, payloadText] { emit q->message(channelText, payloadText); });
        } else if (kindText == "subscribe") {
            queueAction(gen, [this, channelText] { subscriptionConfirmed(channelText); });
        }
    }

    // The adapter's cleanup hook: hiredis is freeing `gone` (by itself after a failure, or
    // because this file called redisAsyncFree, in which case ctx was nulled before).
    void contextFreed(redisAsyncContext *gone)
    {
        if (gone != ctx)
            return;
        ctx = nullptr;
        QString why = gone->c.err ? QString::fromLocal8Bit(gone->c.errstr) : QString();
        if (why.isEmpty())
            why = QStringLiteral("the connection was closed");
        queueAction(generation, [this, why] { breakLink(why); });
    }

    // ---- events

    void queueAction(quint64 gen, std::function<void()> action)
    {
        Event e;
        e.action = std::move(action);
        e.internal = true;
        e.generation = gen;
        ready.push_back(std::move(e));
    }

    void answerLater(ReplyCallback done, ErrorCode code, const QString &message)
    {
        Event e;
        e.done = std::move(done);
        e.result = fail(code, message);
        ready.push_back(std::move(e));
        scheduleDrain();
    }

    void scheduleDrain()
    {
        if (drainScheduled)
            return;
        drainScheduled = true;
        QMetaObject::invokeMethod(
            q,
            [this] {
                drainScheduled = false;
                drain();
            },
            Qt::QueuedConnection);
    }

    // Runs the queued events in order. Any of them may destroy the connection: then stop (the
    // destructor has answered the rest).
    void drain()
    {
        const QPointer<RedisConnection> alive(q);
        while (!ready.empty()) {
            Event e = std::move(ready.front());
            ready.pop_front();
            if (e.generation != 0 && e.generation != generation)
                continue;
            if (e.action)
                e.action();
            else if (e.done)
                e.done(std::move(e.result));
            if (!alive)
                return;
        }
    }

    // The destructor's drain: every user callback gets its answer; internal steps and signals
    // are dropped. A callback may queue more (a script's EVAL retry): those are answered too.
    void drainForDestruction()
    {
        while (!ready.empty()) {
            Event e = std::move(ready.front());
            ready.pop_front();
            if (!e.internal && e.done)
                e.done(std::move(e.result));
        }
    }

    // ---- connecting

    void connectNow()
    {
        state = State::Connecting;
        subscribing = false;
        awaitingConfirm.clear();
        const RedisEndpoint &e = endpoint();
        redisAsyncContext *c = e.unixPath.isEmpty() ? redisAsyncConnect(e.host.toUtf8().constData(), int(e.port))
                                                    : redisAsyncConnectUnix(e.unixPath.toUtf8().constData());
        if (!c) {
            breakLink(QStringLiteral("out of memory"));
            return;
        }
        if (c->err) {
            QString why = QString::fromLocal8Bit(c->c.errstr);
            redisAsyncFree(c); // nothing attached yet: frees the context and closes its socket
            breakLink(why.isEmpty() ? QStringLiteral("cannot connect") : why);
            return;
        }
        if (e.unixPath.isEmpty())
            enableKeepAlive(c->c.fd);
        c->data = this;
        ctx = c;
        adapter = std::make_unique<RedisQtAdapter>(c);
        adapter->setAfterEvent([this] { drain(); });
        adapter->setOnCleanup([this](redisAsyncContext *gone) { contextFreed(gone); });
        connectTimer.start(std::max(1, options().connectTimeoutMs));
        // The handshake's commands wait in hiredis's buffer until the socket connects.
        handshakeAuth();
    }

    void sendInternal(const QList<QByteArray> &argv, std::function<void(const RedisReply &)> step)
    {
        const quint64 gen = generation;
        send(
            argv,
            [this, gen, step = std::move(step)](Result<RedisReply> reply) {
                if (gen == generation && reply)
                    step(*reply);
            },
            true);
    }

    void handshakeAuth()
    {
        const RedisEndpoint &e = endpoint();
        if (e.password.isEmpty()) {
            handshakeSelect();
            return;
        }
        QList<QByteArray> argv{"AUTH"};
        if (!e.user.isEmpty())
            argv << e.user.toUtf8();
        argv << e.password.toUtf8();
        sendInternal(argv, [this](const RedisReply &r) {
            if (r.isError()) {
                breakLink(QStringLiteral("authentication failed: %1").arg(QString::fromUtf8(r.str)));
                return;
            }
            handshakeSelect();
        });
    }

    void handshakeSelect()
    {
        const int db = endpoint().db;
        if (db == 0) {
            handshakePing();
            return;
        }
        sendInternal({"SELECT", QByteArray::number(db)}, [this, db](const RedisReply &r) {
            if (r.isError()) {
                breakLink(QStringLiteral("SELECT %1 failed: %2").arg(db).arg(QString::fromUtf8(r.str)));
                return;
            }
            handshakePing();
        });
    }

    void handshakePing()
    {
        sendInternal({"PING"}, [this](const RedisReply &r) {
            if (r.isError()) {
                breakLink(QStringLiteral("PING failed: %1").arg(QString::fromUtf8(r.str)));
                return;
            }
            handshakeSubscribe();
        });
    }

    // Subscriber mode: SUBSCRIBE comes last (a subscribed hiredis context cannot PING), and the
    // link counts as up once every channel is confirmed, so nothing published after connected()
    // is missed.
    void handshakeSubscribe()
    {
        if (q->m_mode != Mode::Subscriber || channels.isEmpty()) {
            becomeConnected();
            return;
        }
        subscribing = true;
        for (const QByteArray &channel : std::as_const(channels))
            awaitingConfirm.insert(channel);
        if (!sendSubscribe(channels))
            breakLink(QStringLiteral("SUBSCRIBE could not be sent"));
    }

    bool sendSubscribe(const QList<QByteArray> &list)
    {
        if (!ctx || list.isEmpty())
            return false;
        std::vector<const char *> argv{"SUBSCRIBE"};
        std::vector<size_t> lengths{9};
        for (const QByteArray &channel : list) {
            argv.push_back(channel.constData());
            lengths.push_back(size_t(channel.size()));
        }
        return redisAsyncCommandArgv(ctx, &Private::onSubscription, nullptr, int(argv.size()), argv.data(),
                                     lengths.data()) == REDIS_OK;
    }

    void subscriptionConfirmed(const QByteArray &channel)
    {
        awaitingConfirm.remove(channel);
        if (state == State::Connecting && subscribing && awaitingConfirm.isEmpty())
            becomeConnected();
    }

    void becomeConnected()
    {
        state = State::Connected;
        connectTimer.stop();
        backoffMs = 0;
        lastLoggedFailure.clear();
        qCInfo(lcRedis).noquote() << "connected to Redis at" << endpoint().display()
                                  << (q->m_mode == Mode::Subscriber ? "(subscriber)" : "");
        emit q->connected();
    }

    // ---- commands

    void send(const QList<QByteArray> &argv, ReplyCallback done, bool internal)
    {
        std::vector<const char *> pointers;
        std::vector<size_t> lengths;
        pointers.reserve(size_t(argv.size()));
        lengths.reserve(size_t(argv.size()));
        for (const QByteArray &arg : argv) {
            pointers.push_back(arg.constData());
            lengths.push_back(size_t(arg.size()));
        }
        const quint64 id = ++lastId;
        if (!ctx || redisAsyncCommandArgv(ctx, &Private::onReply, reinterpret_cast<void *>(quintptr(id)),
                                          int(argv.size()), pointers.data(), lengths.data()) != REDIS_OK) {
            if (!internal)
                answerLater(std::move(done), ErrorCode::Unavailable, unavailableMessage());
            return;
        }
        Pending p;
        p.done = std::move(done);
        p.internal = internal;
        p.sentAt = clock.elapsed();
        if (!internal && !commandTimer.isActive())
            commandTimer.start(std::max(1, options().commandTimeoutMs));
        pending.emplace(id, std::move(p));
    }

    // Redis answers in order, one command after the other: the oldest command in flight has
    // been Redis's business since it was sent or since the reply before it arrived, whichever
    // is later. (So a long pipeline that is answered steadily never times out as a whole.)
    qint64 oldestDeadline() const
    {
        const Pending &oldest = pending.begin()->second;
        return std::max(oldest.sentAt, lastReplyAt) + options().commandTimeoutMs;
    }

    void checkCommandTimeouts()
    {
        if (state != State::Connected || pending.empty() || !ctx)
            return;
        if (oldestDeadline() <= clock.elapsed()) {
            // Replies may be waiting in the socket behind this timer event (a busy loop): read
            // them before judging.
            const QPointer<RedisConnection> alive(q);
            redisAsyncHandleRead(ctx);
            drain();
            if (!alive || state != State::Connected || pending.empty())
                return;
        }
        const qint64 now = clock.elapsed();
        const qint64 deadline = oldestDeadline();
        if (deadline > now) {
            commandTimer.start(int(std::min<qint64>(deadline - now, std::numeric_limits<int>::max())));
            return;
        }
        const QString why = QStringLiteral("Redis did not answer within %1 ms").arg(options().commandTimeoutMs);
        breakLink(why, why);
        drain();
    }

    void onConnectTimeout()
    {
        if (state != State::Connecting)
            return;
        breakLink(QStringLiteral("no connection within %1 ms").arg(options().connectTimeoutMs));
        drain();
    }

    QString unavailableMessage() const
    {
        if (state == State::Closed)
            return QStringLiteral("the connection to Redis at %1 was closed").arg(endpoint().display());
        const QString why = q->m_lastError.isEmpty() ? QStringLiteral("not connected yet") : q->m_lastError;
        return QStringLiteral("Redis at %1 is unavailable: %2").arg(endpoint().display(), why);
    }

    // ---- tearing down (never from inside hiredis)

    void freeContext()
    {
        redisAsyncContext *c = adapter ? adapter->context() : ctx;
        ctx = nullptr;
        if (c) {
            c->data = nullptr; // the callbacks run while freeing find nothing
            redisAsyncFree(c);
        }
        adapter.reset();
    }

    // Fails every command in flight (queued, with `message`), drops the handshake steps.
    void failPending(const QString &message)
    {
        for (auto &[id, p] : pending) {
            if (p.internal || !p.done)
                continue;
            Event e;
            e.done = std::move(p.done);
            e.result = fail(ErrorCode::Unavailable, message);
            ready.push_back(std::move(e));
        }
        pending.clear();
    }

    // The link (or the attempt) failed: free it, fail what is in flight, retry after a backoff.
    // `failure` is what the commands in flight get (default: "Redis at X is unavailable: why").
    void breakLink(const QString &why, const QString &failure = {})
    {
        if (state == State::Closed || state == State::Idle)
            return;
        const bool wasUp = state == State::Connected;
        freeContext();
        ++generation;
        connectTimer.stop();
        commandTimer.stop();
        q->m_lastError = why;
        state = State::Backoff;
        failPending(failure.isEmpty() ? unavailableMessage() : failure);

        backoffMs = backoffMs == 0 ? std::max(1, options().minBackoffMs)
                                   : std::min(backoffMs * 2, std::max(options().minBackoffMs, options().maxBackoffMs));
        reconnectTimer.start(backoffMs);

        if (wasUp) {
            qCWarning(lcRedis).noquote() << "lost the connection to Redis at" << endpoint().display() << "-" << why
                                         << "- reconnecting";
            queueAction(0, [this, why] { emit q->disconnected(why); });
        } else if (why != lastLoggedFailure) {
            qCWarning(lcRedis).noquote() << "cannot connect to Redis at" << endpoint().display() << "-" << why
                                         << "- retrying";
        } else {
            qCDebug(lcRedis).noquote() << "still cannot connect to Redis at" << endpoint().display() << "-" << why;
        }
        lastLoggedFailure = why;
        scheduleDrain();
    }

    void close()
    {
        if (state == State::Closed)
            return;
        const bool wasUp = state == State::Connected;
        state = State::Closed;
        connectTimer.stop();
        commandTimer.stop();
        reconnectTimer.stop();
        freeContext();
        ++generation;
        failPending(unavailableMessage());
        if (wasUp)
            queueAction(0, [this] { emit q->disconnected(QStringLiteral("closed")); });
        scheduleDrain();
    }
};

RedisConnection::RedisConnection(RedisEndpoint endpoint, RedisConnectionOptions options, Mode mode, QObject *parent)
    : QObject(parent), d(std::make_unique<Private>(this)), m_endpoint(std::move(endpoint)),
      m_options(options), m_mode(mode)
{
}

RedisConnection::~RedisConnection()
{
    d->close();
    d->drainForDestruction();
}

void RedisConnection::start()
{
    if (d->state != Private::State::Idle && d->state != Private::State::Closed)
        return;
    d->backoffMs = 0;
    d->connectNow();
}

void RedisConnection::close()
{
    d->close();
}

bool RedisConnection::isConnected() const
{
    return d->state == Private::State::Connected;
}

void RedisConnection::command(const QList<QByteArray> &argv, ReplyCallback done)
{
    if (!done)
        done = [](Result<RedisReply>) {};
    if (argv.isEmpty()) {
        d->answerLater(std::move(done), ErrorCode::Internal, QStringLiteral("an empty Redis command"));
        return;
    }
    if (m_mode == Mode::Subscriber) {
        d->answerLater(std::move(done), ErrorCode::Internal,
                       QStringLiteral("a subscriber connection sends no commands"));
        return;
    }
    if (isSubscriptionCommand(argv.first())) {
        d->answerLater(std::move(done), ErrorCode::Internal,
                       QStringLiteral("%1 needs a subscriber connection").arg(QString::fromUtf8(argv.first())));
        return;
    }
    if (d->state != Private::State::Connected) {
        d->answerLater(std::move(done), ErrorCode::Unavailable, d->unavailableMessage());
        return;
    }
    d->send(argv, std::move(done), false);
}

void RedisConnection::script(const RedisScript &script, const QList<QByteArray> &keys, const QList<QByteArray> &args,
                             ReplyCallback done)
{
    QList<QByteArray> tail;
    tail.reserve(keys.size() + args.size() + 1);
    tail << QByteArray::number(keys.size()) << keys << args;
    QList<QByteArray> evalsha{"EVALSHA", script.sha1()};
    evalsha += tail;
    const QPointer<RedisConnection> self(this);
    command(evalsha, [self, source = script.source(), tail, done = std::move(done)](Result<RedisReply> r) mutable {
        if (r && r->isError() && r->str.startsWith("NOSCRIPT")) {
            if (!self) {
                done(fail(ErrorCode::Unavailable, QStringLiteral("the connection to Redis was closed")));
                return;
            }
            // A restarted or flushed Redis lost the script: send the source, once.
            QList<QByteArray> eval{"EVAL", source};
            eval += tail;
            self->command(eval, std::move(done));
            return;
        }
        if (done)
            done(std::move(r));
    });
}

void RedisConnection::subscribe(const QList<QByteArray> &channels)
{
    if (m_mode != Mode::Subscriber) {
        qCWarning(lcRedis) << "subscribe() on a connection not in subscriber mode is ignored";
        return;
    }
    QList<QByteArray> added;
    for (const QByteArray &channel : channels) {
        if (!d->channels.contains(channel) && !added.contains(channel))
            added << channel;
    }
    if (added.isEmpty())
        return;
    d->channels += added;
    // Mid-handshake before SUBSCRIBE, or down: the handshake subscribes to them all.
    const bool live =
        d->state == Private::State::Connected || (d->state == Private::State::Connecting && d->subscribing);
    if (!live)
        return;
    if (d->state == Private::State::Connecting) {
        for (const QByteArray &channel : std::as_const(added))
            d->awaitingConfirm.insert(channel);
    }
    if (!d->sendSubscribe(added)) {
        d->breakLink(QStringLiteral("SUBSCRIBE could not be sent"));
    }
}

} // namespace sidecar::store::redis
