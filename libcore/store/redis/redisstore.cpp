#include "store/redis/redisstore.h"

#include <QEventLoop>
#include <QFile>
#include <QLoggingCategory>
#include <QPointer>

#include "store/redis/redisdecode.h"

Q_LOGGING_CATEGORY(lcRedisStore, "sidecar.redis.store")

namespace sidecar::store {

using redis::RedisConnection;
using redis::RedisReply;
using redis::RedisScript;

namespace {

constexpr int kSweepIntervalMs = 250;
constexpr int kPollIntervalMs = 1000;

QByteArray readResource(const QString &path)
{
    QFile file(path);
    if (!file.open(QIODevice::ReadOnly))
        return {};
    return file.readAll();
}

// "CODE message" from redis.error_reply() in a script; anything else (a Lua runtime error, an
// OOM, a READONLY replica) is Internal, with Redis's text.
Error scriptError(const QByteArray &text)
{
    static const std::pair<const char *, ErrorCode> codes[] = {
        {"INVALID_ARGUMENT ", ErrorCode::InvalidArgument},
        {"NOT_FOUND ", ErrorCode::NotFound},
        {"CONFLICT ", ErrorCode::Conflict},
        {"TOO_LARGE ", ErrorCode::TooLarge},
    };
    for (const auto &[prefix, code] : codes) {
        if (text.startsWith(prefix))
            return Error{code, QString::fromUtf8(text.mid(qsizetype(qstrlen(prefix))))};
    }
    if (text.startsWith("READONLY") || text.startsWith("LOADING") || text.startsWith("MASTERDOWN") ||
        text.startsWith("BUSY"))
        return Error{ErrorCode::Unavailable, QStringLiteral("Redis cannot serve now: %1").arg(QString::fromUtf8(text))};
    return Error{ErrorCode::Internal, QStringLiteral("Redis error: %1").arg(QString::fromUtf8(text))};
}

} // namespace

RedisStore::RedisStore(redis::RedisEndpoint endpoint, QString prefix, StoreOptions options,
                       redis::RedisConnectionOptions connectionOptions, QObject *parent)
    : Store(parent), m_endpoint(std::move(endpoint)), m_prefix(std::move(prefix)), m_prefixBytes(m_prefix.toUtf8()),
      m_options(std::move(options)), m_connectionOptions(connectionOptions)
{
    m_commands = std::make_unique<RedisConnection>(m_endpoint, connectionOptions, RedisConnection::Mode::Commands);
    m_subscriber = std::make_unique<RedisConnection>(m_endpoint, connectionOptions, RedisConnection::Mode::Subscriber);
    m_subscriber->subscribe({m_prefixBytes + "changes"});
    connect(m_subscriber.get(), &RedisConnection::message, this,
            [this](const QByteArray &, const QByteArray &payload) {
                bool ok = false;
                const qint64 revision = payload.toLongLong(&ok);
                if (ok)
                    noteRevision(revision);
            });
    // After a reconnect, what was published meanwhile is read once.
    connect(m_subscriber.get(), &RedisConnection::connected, this, &RedisStore::pollRevision);
    m_sweepTimer.setInterval(kSweepIntervalMs);
    connect(&m_sweepTimer, &QTimer::timeout, this, &RedisStore::sweep);
    m_pollTimer.setInterval(kPollIntervalMs);
    connect(&m_pollTimer, &QTimer::timeout, this, &RedisStore::pollRevision);
}

RedisStore::~RedisStore()
{
    close();
}

Result<void> RedisStore::open(int timeoutMs)
{
    m_commands->start();
    m_subscriber->start();
    m_sweepTimer.start();
    m_pollTimer.start();

    // Wait for the first PING to succeed, with the event loop running (the connection is async).
    QEventLoop loop;
    QTimer deadline;
    deadline.setSingleShot(true);
    connect(&deadline, &QTimer::timeout, &loop, &QEventLoop::quit);
    bool up = m_commands->isConnected();
    QMetaObject::Connection onConnected;
    if (!up) {
        onConnected = connect(m_commands.get(), &RedisConnection::connected, &loop, [&] {
            up = true;
            loop.quit();
        });
        deadline.start(timeoutMs);
        loop.exec();
        disconnect(onConnected);
    }
    if (!up) {
        const QString why = m_commands->lastError().isEmpty() ? QStringLiteral("no answer") : m_commands->lastError();
        return fail(ErrorCode::Unavailable, QStringLiteral("Redis at %1 is unreachable: %2 (the sidecar keeps "
                                                           "trying)")
                                                .arg(m_endpoint.display(), why));
    }
    pollRevision();
    return {};
}

bool RedisStore::isConnected() const
{
    return m_commands && m_commands->isConnected();
}

void RedisStore::close()
{
    if (m_closed)
        return;
    m_closed = true;
    m_sweepTimer.stop();
    m_pollTimer.stop();
    // Let the operations in flight finish (each has the command timeout); what is still waiting
    // after that is answered Unavailable by the connection as it closes.
    if (m_inFlight > 0 && m_commands->isConnected()) {
        QEventLoop loop;
        QTimer deadline;
        deadline.setSingleShot(true);
        connect(&deadline, &QTimer::timeout, &loop, &QEventLoop::quit);
        connect(this, &RedisStore::drained, &loop, &QEventLoop::quit);
        connect(m_commands.get(), &redis::RedisConnection::disconnected, &loop, &QEventLoop::quit);
        deadline.start(m_connectionOptions.commandTimeoutMs + 1000);
        loop.exec();
    }
    m_subscriber->close();
    m_commands->close();
}

// A script as Redis runs it: lib.lua, then the prelude of the script's family when there is one
// (lib_<family>.lua, <family> being the name up to its first '_': wf_claim gets lib_wf.lua),
// then the script itself (lib.lua's header).
const RedisScript &RedisStore::script(const char *name)
{
    const QByteArray key(name);
    auto it = m_scripts.constFind(key);
    if (it == m_scripts.constEnd()) {
        static const QByteArray lib = readResource(QStringLiteral(":/redis/lib.lua"));
        const QByteArray body = readResource(QStringLiteral(":/redis/%1.lua").arg(QLatin1String(name)));
        Q_ASSERT_X(!lib.isEmpty() && !body.isEmpty(), "RedisStore::script", name);
        QByteArray source = lib + "\n";
        if (const qsizetype cut = key.indexOf('_'); cut > 0) {
            const QByteArray prelude =
                readResource(QStringLiteral(":/redis/lib_%1.lua").arg(QString::fromLatin1(key.left(cut))));
            if (!prelude.isEmpty())
                source += prelude + "\n";
        }
        it = m_scripts.insert(key, std::make_shared<RedisScript>(source + body));
    }
    return **it;
}

void RedisStore::runRaw(const char *name, QList<QByteArray> args, std::function<void(Result<RedisReply>)> done)
{
    if (m_closed) {
        QTimer::singleShot(0, this, [done = std::move(done)] {
            done(fail(ErrorCode::Unavailable, QStringLiteral("The store is closed")));
        });
        return;
    }
    QList<QByteArray> argv;
    argv.reserve(args.size() + 3);
    argv << m_prefixBytes << QByteArray::number(qlonglong(std::max<std::int64_t>(1, m_options.historyLimit)))
         << QByteArray::number(qlonglong(m_options.historyMaxBytes));
    argv.append(std::move(args));
    ++m_inFlight;
    QPointer<RedisStore> self(this);
    m_commands->script(script(name), {}, argv, [self, done = std::move(done)](Result<RedisReply> reply) {
        if (self && --self->m_inFlight == 0)
            Q_EMIT self->drained();
        if (reply && reply->isError()) {
            done(tl::unexpected(scriptError(reply->str)));
            return;
        }
        done(std::move(reply));
    });
}

void RedisStore::sweep()
{
    if (m_sweeping || m_closed || !m_commands->isConnected())
        return;
    m_sweeping = true;
    QPointer<RedisStore> self(this);
    runRaw("sweep", {}, [self](Result<RedisReply> reply) {
        if (!self)
            return;
        self->m_sweeping = false;
        if (!reply && reply.error().code != ErrorCode::Unavailable)
            qCWarning(lcRedisStore).noquote() << "expiry sweep failed:" << reply.error().message;
        else if (reply && reply->toInt64() >= 256)
            QTimer::singleShot(0, self.data(), &RedisStore::sweep); // more lapsed items wait
    });
}

void RedisStore::pollRevision()
{
    if (m_closed || !m_commands->isConnected())
        return;
    QPointer<RedisStore> self(this);
    runRaw("revision", {}, [self](Result<RedisReply> reply) {
        if (self && reply)
            self->noteRevision(reply->toInt64());
    });
}

void RedisStore::noteRevision(qint64 revision)
{
    if (revision <= m_lastChanged)
        return;
    m_lastChanged = revision;
    Q_EMIT changed(revision);
}

} // namespace sidecar::store
