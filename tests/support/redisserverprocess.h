#pragma once

// A real redis-server for tests, started by the test itself:
//
// - TCP (start()): on 127.0.0.1 and a port that was free a moment ago (found by binding port 0
//   with a QTcpServer; if Redis then fails to bind it, another port is tried, a few times).
// - Unix socket only (startUnixSocket()): `--port 0 --unixsocket <dir>/redis.sock`.
//
// Either way with `--save '' --appendonly no --daemonize no --dir <temporary directory>` and the
// test's extra arguments last (so `--appendonly yes --appendfsync always` overrides the default,
// `--requirepass secret` sets a password). start() returns once Redis answers PING (or NOAUTH,
// with a password), within a generous 15 s. Redis's log goes to a file in the directory;
// errorString() quotes it when Redis does not come up.
//
// kill() (SIGKILL) and terminate() (SIGTERM) stop the server by its own PID; restart() starts it
// again with the same port (or socket), directory and arguments, so its data (AOF) is found
// again. The destructor kills it by its PID. Nothing here needs a running event loop.
//
// Thread: the test's main thread.

#include <QProcess>
#include <QString>
#include <QStringList>
#include <QTemporaryDir>

namespace sidecar::test {

class RedisServerProcess
{
public:
    RedisServerProcess();
    ~RedisServerProcess();
    RedisServerProcess(const RedisServerProcess &) = delete;
    RedisServerProcess &operator=(const RedisServerProcess &) = delete;

    // False with errorString() when Redis does not answer PING within `timeoutMs`.
    bool start(const QStringList &extraArguments = {}, int timeoutMs = 15000);
    bool startUnixSocket(const QStringList &extraArguments = {}, int timeoutMs = 15000);
    // Starts it again after kill()/terminate() (or stops it first): same port or socket, same
    // directory, same arguments.
    bool restart(int timeoutMs = 15000);

    void kill();      // SIGKILL to its PID, then waits for it to be gone
    void terminate(); // SIGTERM to its PID, then waits (SIGKILL after 10 s)
    bool isRunning() const { return m_process.state() != QProcess::NotRunning; }

    quint16 port() const { return m_port; }         // 0 with a unix socket only
    QString unixSocketPath() const { return m_socketPath; }
    qint64 pid() const { return m_process.processId(); }
    QString dir() const { return m_dir.path(); }    // Redis's --dir (AOF, RDB files)
    // "redis://127.0.0.1:<port>", or "unix://<socket path>"
    QString url() const;

    QByteArray logText() const; // Redis's log so far
    QString errorString() const { return m_error; }
    static QString redisServerBinary();

private:
    bool launch(int timeoutMs);
    bool waitUntilReady(int timeoutMs);
    QStringList arguments() const;
    void stop(int signal);

    QProcess m_process;
    QTemporaryDir m_dir;
    QStringList m_extra;
    QString m_socketPath;
    QString m_logPath;
    quint16 m_port = 0;
    bool m_unixOnly = false;
    QString m_error;
};

} // namespace sidecar::test
