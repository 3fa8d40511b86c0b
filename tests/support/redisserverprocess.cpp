#include "redisserverprocess.h"

#include <QDeadlineTimer>
#include <QFile>
#include <QFileInfo>
#include <QLocalSocket>
#include <QStandardPaths>
#include <QTcpServer>
#include <QTcpSocket>
#include <QThread>

#include <algorithm>
#include <csignal>
#include <type_traits>

namespace sidecar::test {

namespace {

constexpr int kPortAttempts = 5;

quint16 freeLoopbackPort()
{
    QTcpServer probe;
    if (!probe.listen(QHostAddress::LocalHost, 0))
        return 0;
    return probe.serverPort();
}

// Sends PING on a fresh connection; true when Redis answered +PONG, or refused it for want of
// a password (it is up either way). -LOADING and the like: not ready yet.
template<class Socket>
bool pingOnce(Socket &socket, const QDeadlineTimer &deadline)
{
    auto wait = [&] { return int(std::clamp<qint64>(deadline.remainingTime(), 1, 1000)); };
    if (socket.write("PING\r\n") != 6 || !socket.waitForBytesWritten(wait()))
        return false;
    QByteArray answer;
    while (!answer.contains("\r\n") && !deadline.hasExpired()) {
        if (socket.waitForReadyRead(wait()))
            answer += socket.readAll();
        else if (socket.state() != std::remove_reference_t<decltype(socket)>::ConnectedState)
            break;
    }
    return answer.startsWith("+PONG") || answer.startsWith("-NOAUTH");
}

} // namespace

RedisServerProcess::RedisServerProcess()
{
    m_logPath = m_dir.filePath(QStringLiteral("redis.log"));
}

RedisServerProcess::~RedisServerProcess()
{
    if (isRunning()) {
        ::kill(pid_t(pid()), SIGKILL);
        m_process.waitForFinished(10000);
    }
}

QString RedisServerProcess::redisServerBinary()
{
    const QString found = QStandardPaths::findExecutable(QStringLiteral("redis-server"));
    return found.isEmpty() ? QStringLiteral("/usr/bin/redis-server") : found;
}

QString RedisServerProcess::url() const
{
    if (m_unixOnly)
        return QStringLiteral("unix://") + m_socketPath;
    return QStringLiteral("redis://127.0.0.1:%1").arg(m_port);
}

QStringList RedisServerProcess::arguments() const
{
    QStringList args{QStringLiteral("--daemonize"), QStringLiteral("no"), QStringLiteral("--save"), QString(),
                     QStringLiteral("--appendonly"), QStringLiteral("no"), QStringLiteral("--dir"), m_dir.path(),
                     QStringLiteral("--logfile"), m_logPath};
    if (m_unixOnly) {
        args << QStringLiteral("--port") << QStringLiteral("0") << QStringLiteral("--unixsocket") << m_socketPath;
    } else {
        args << QStringLiteral("--bind") << QStringLiteral("127.0.0.1") << QStringLiteral("--port")
             << QString::number(m_port);
    }
    return args + m_extra;
}

bool RedisServerProcess::start(const QStringList &extraArguments, int timeoutMs)
{
    if (!m_dir.isValid()) {
        m_error = QStringLiteral("no temporary directory");
        return false;
    }
    m_extra = extraArguments;
    m_unixOnly = false;
    for (int attempt = 1; attempt <= kPortAttempts; ++attempt) {
        m_port = freeLoopbackPort();
        if (m_port == 0) {
            m_error = QStringLiteral("no free loopback port");
            return false;
        }
        if (launch(timeoutMs))
            return true;
        // Another process may have taken the port meanwhile: try another one.
        if (!logText().contains("Address already in use"))
            return false;
        stop(SIGKILL);
    }
    return false;
}

bool RedisServerProcess::startUnixSocket(const QStringList &extraArguments, int timeoutMs)
{
    if (!m_dir.isValid()) {
        m_error = QStringLiteral("no temporary directory");
        return false;
    }
    m_extra = extraArguments;
    m_unixOnly = true;
    m_port = 0;
    m_socketPath = m_dir.filePath(QStringLiteral("redis.sock"));
    return launch(timeoutMs);
}

bool RedisServerProcess::restart(int timeoutMs)
{
    if (isRunning())
        stop(SIGTERM);
    // The port was just released by the server itself; should something else take it
    // meanwhile, wait a little and try again.
    for (int attempt = 1; attempt <= kPortAttempts; ++attempt) {
        if (launch(timeoutMs))
            return true;
        if (!logText().contains("Address already in use"))
            return false;
        stop(SIGKILL);
        QThread::msleep(200);
    }
    return false;
}

bool RedisServerProcess::launch(int timeoutMs)
{
    const QString bin = redisServerBinary();
    if (!QFileInfo(bin).isExecutable()) {
        m_error = QStringLiteral("redis-server not found (install the redis-server package)");
        return false;
    }
    QFile::remove(m_logPath);
    m_process.setProgram(bin);
    m_process.setArguments(arguments());
    m_process.setStandardInputFile(QProcess::nullDevice());
    m_process.setStandardOutputFile(m_dir.filePath(QStringLiteral("stdout.log")), QIODevice::Append);
    m_process.setStandardErrorFile(m_dir.filePath(QStringLiteral("stderr.log")), QIODevice::Append);
    m_process.start();
    if (!m_process.waitForStarted(10000)) {
        m_error = QStringLiteral("%1 did not start: %2").arg(bin, m_process.errorString());
        return false;
    }
    return waitUntilReady(timeoutMs);
}

bool RedisServerProcess::waitUntilReady(int timeoutMs)
{
    QDeadlineTimer deadline(timeoutMs);
    for (;;) {
        bool ready = false;
        if (m_unixOnly) {
            QLocalSocket socket;
            socket.connectToServer(m_socketPath);
            if (socket.waitForConnected(1000))
                ready = pingOnce(socket, deadline);
        } else {
            QTcpSocket socket;
            socket.connectToHost(QHostAddress::LocalHost, m_port);
            if (socket.waitForConnected(1000))
                ready = pingOnce(socket, deadline);
        }
        if (ready)
            return true;
        if (!isRunning()) {
            m_error = QStringLiteral("redis-server exited (code %1) before answering PING; its log:\n%2")
                          .arg(m_process.exitCode())
                          .arg(QString::fromUtf8(logText().right(3000)));
            return false;
        }
        if (deadline.hasExpired()) {
            m_error = QStringLiteral("redis-server did not answer PING within %1 ms; its log:\n%2")
                          .arg(timeoutMs)
                          .arg(QString::fromUtf8(logText().right(3000)));
            stop(SIGKILL);
            return false;
        }
        m_process.waitForFinished(50);
    }
}

void RedisServerProcess::stop(int signal)
{
    if (!isRunning() || pid() <= 0)
        return;
    ::kill(pid_t(pid()), signal);
    if (!m_process.waitForFinished(10000) && signal != SIGKILL) {
        ::kill(pid_t(pid()), SIGKILL);
        m_process.waitForFinished(10000);
    }
}

void RedisServerProcess::kill()
{
    stop(SIGKILL);
}

void RedisServerProcess::terminate()
{
    stop(SIGTERM);
}

QByteArray RedisServerProcess::logText() const
{
    QByteArray text;
    for (const QString &name : {m_logPath, m_dir.filePath(QStringLiteral("stderr.log"))}) {
        QFile f(name);
        if (f.open(QIODevice::ReadOnly))
            text += f.readAll();
    }
    return text;
}

} // namespace sidecar::test
