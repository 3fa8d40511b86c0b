#pragma once

// The real server binary ($SIDECAR_BIN, set by CTest) driven over stdio by a test: start it
// with arguments and environment, send JSON-RPC lines, wait for answers by id. The process is
// stopped (SIGTERM, then SIGKILL) by its own PID when the object goes away.

#include <QByteArray>
#include <QHash>
#include <QProcess>
#include <QProcessEnvironment>
#include <QStringList>

#include <optional>

#include "protocol/json.h"

namespace sidecar::test {

class ServerProcess
{
public:
    ServerProcess();
    ~ServerProcess();

    // Starts the server; false (with the reason in errorString()) when it does not start.
    bool start(const QStringList &arguments, const QProcessEnvironment &env = QProcessEnvironment::systemEnvironment());
    // initialize + notifications/initialized; false on any problem.
    bool initialize(const QByteArray &version = "2025-11-25");

    void sendLine(const QByteArray &line);
    // Sends a request with a fresh numeric id and waits for its answer (default 30 s).
    std::optional<json::Document> request(const QString &method, const QByteArray &paramsJson = {}, int timeoutMs = 30000);
    // tools/call; returns the whole JSON-RPC answer.
    std::optional<json::Document> call(const QString &tool, const QByteArray &argumentsJson, int timeoutMs = 30000);
    // Waits for the answer carrying this id (its compact JSON text).
    std::optional<json::Document> waitFor(const QByteArray &id, int timeoutMs = 30000);
    // Every line received so far that was not claimed by waitFor().
    QList<QByteArray> unclaimed() const { return m_unclaimed; }
    // Waits for the next line that is not an answer already claimed; used with null ids.
    std::optional<json::Document> nextLine(int timeoutMs = 30000);
    // Sends queued input and collects whatever output arrives within timeoutMs, without
    // claiming anything; false when nothing arrived. Lets a test drive several servers at once.
    bool pump(int timeoutMs);
    // Removes and returns every line received so far that was not claimed.
    QList<QByteArray> takeUnclaimed();

    void closeInput();
    bool waitForExit(int timeoutMs = 30000);
    void terminate();
    QProcess &process() { return m_process; }
    QByteArray stderrText();
    QString errorString() const { return m_error; }
    qint64 nextId() { return ++m_lastId; }

private:
    bool readSome(int timeoutMs);
    QProcess m_process;
    QByteArray m_stdoutBuffer;
    QByteArray m_stderr;
    QList<QByteArray> m_unclaimed;
    QString m_error;
    qint64 m_lastId = 100;
};

// A JSON-RPC request: {"jsonrpc":"2.0","id":<id>,"method":"<method>"[,"params":<params>]} (id and
// params as compact JSON).
QByteArray rpc(const QByteArray &id, const QByteArray &method, const QByteArray &params = {});
// A tools/call request for `tool` with `args` (a JSON object).
QByteArray toolCall(const QByteArray &id, const QByteArray &tool, const QByteArray &args);
// The answer's "id" as compact text, or empty.
QByteArray answerId(const json::Document &answer);

// The structuredContent of a successful tools/call answer, or nullptr.
const json::Value *structured(const json::Document &answer);
// The tool error code of an isError answer ("invalid_argument", ...), or empty.
QString toolErrorCode(const json::Document &answer);
// The JSON-RPC error code of an error answer, or 0.
int rpcErrorCode(const json::Document &answer);

// A path for a fresh file in a directory that lives as long as the process.
QString tempPath(const QString &name);

} // namespace sidecar::test
