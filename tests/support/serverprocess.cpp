#include "serverprocess.h"

#include <QDeadlineTimer>
#include <QTemporaryDir>

#include <algorithm>
#include <csignal>
#include <utility>

namespace sidecar::test {

ServerProcess::ServerProcess()
{
    m_process.setProcessChannelMode(QProcess::SeparateChannels);
}

ServerProcess::~ServerProcess()
{
    if (m_process.state() != QProcess::NotRunning) {
        m_process.terminate();
        if (!m_process.waitForFinished(10000)) {
            m_process.kill();
            m_process.waitForFinished(5000);
        }
    }
}

bool ServerProcess::start(const QStringList &arguments, const QProcessEnvironment &env)
{
    const QString bin = qEnvironmentVariable("SIDECAR_BIN");
    if (bin.isEmpty()) {
        m_error = QStringLiteral("SIDECAR_BIN is not set");
        return false;
    }
    m_process.setProcessEnvironment(env);
    m_process.start(bin, arguments);
    if (!m_process.waitForStarted(10000)) {
        m_error = m_process.errorString();
        return false;
    }
    return true;
}

bool ServerProcess::initialize(const QByteArray &version)
{
    auto answer = request(QStringLiteral("initialize"),
                          R"({"protocolVersion":")" + version +
                              R"(","capabilities":{},"clientInfo":{"name":"tests","version":"1"}})");
    if (!answer || !answer->root().find("result")) {
        m_error = QStringLiteral("initialize failed: ") + QString::fromUtf8(stderrText());
        return false;
    }
    sendLine(R"({"jsonrpc":"2.0","method":"notifications/initialized"})");
    return true;
}

void ServerProcess::sendLine(const QByteArray &line)
{
    m_process.write(line + '\n');
}

std::optional<json::Document> ServerProcess::request(const QString &method, const QByteArray &paramsJson, int timeoutMs)
{
    const QByteArray id = QByteArray::number(nextId());
    QByteArray line = R"({"jsonrpc":"2.0","id":)" + id + R"(,"method":")" + method.toUtf8() + '"';
    if (!paramsJson.isEmpty())
        line += ",\"params\":" + paramsJson;
    line += '}';
    sendLine(line);
    return waitFor(id, timeoutMs);
}

std::optional<json::Document> ServerProcess::call(const QString &tool, const QByteArray &argumentsJson, int timeoutMs)
{
    return request(QStringLiteral("tools/call"),
                   R"({"name":")" + tool.toUtf8() + R"(","arguments":)" + argumentsJson + '}', timeoutMs);
}

bool ServerProcess::readSome(int timeoutMs)
{
    if (m_process.bytesAvailable() == 0 && !m_process.waitForReadyRead(timeoutMs))
        return false;
    m_stdoutBuffer += m_process.readAllStandardOutput();
    m_stderr += m_process.readAllStandardError();
    qsizetype nl;
    while ((nl = m_stdoutBuffer.indexOf('\n')) >= 0) {
        m_unclaimed.append(m_stdoutBuffer.left(nl));
        m_stdoutBuffer.remove(0, nl + 1);
    }
    return true;
}

std::optional<json::Document> ServerProcess::waitFor(const QByteArray &id, int timeoutMs)
{
    QDeadlineTimer deadline(timeoutMs);
    for (;;) {
        for (qsizetype i = 0; i < m_unclaimed.size(); ++i) {
            auto doc = json::parse(m_unclaimed.at(i));
            if (!doc)
                continue;
            const json::Value *answerId = doc->root().isObject() ? doc->root().find("id") : nullptr;
            if (answerId && answerId->compact() == id) {
                m_unclaimed.removeAt(i);
                return doc;
            }
        }
        if (deadline.hasExpired() || (m_process.state() == QProcess::NotRunning && m_process.bytesAvailable() == 0))
            return std::nullopt;
        readSome(int(std::clamp<qint64>(deadline.remainingTime(), 1, 1000)));
    }
}

std::optional<json::Document> ServerProcess::nextLine(int timeoutMs)
{
    QDeadlineTimer deadline(timeoutMs);
    while (m_unclaimed.isEmpty()) {
        if (deadline.hasExpired())
            return std::nullopt;
        if (!readSome(int(std::clamp<qint64>(deadline.remainingTime(), 1, 1000))) &&
            m_process.state() == QProcess::NotRunning)
            return std::nullopt;
    }
    return json::parse(m_unclaimed.takeFirst());
}

bool ServerProcess::pump(int timeoutMs)
{
    const qsizetype before = m_unclaimed.size();
    readSome(std::max(timeoutMs, 0));
    return m_unclaimed.size() > before;
}

QList<QByteArray> ServerProcess::takeUnclaimed()
{
    return std::exchange(m_unclaimed, {});
}

void ServerProcess::closeInput()
{
    m_process.closeWriteChannel();
}

bool ServerProcess::waitForExit(int timeoutMs)
{
    const bool exited = m_process.waitForFinished(timeoutMs);
    m_stdoutBuffer += m_process.readAllStandardOutput();
    m_stderr += m_process.readAllStandardError();
    qsizetype nl;
    while ((nl = m_stdoutBuffer.indexOf('\n')) >= 0) {
        m_unclaimed.append(m_stdoutBuffer.left(nl));
        m_stdoutBuffer.remove(0, nl + 1);
    }
    return exited;
}

void ServerProcess::terminate()
{
    if (m_process.processId() > 0)
        ::kill(pid_t(m_process.processId()), SIGTERM);
}

QByteArray ServerProcess::stderrText()
{
    m_stderr += m_process.readAllStandardError();
    return m_stderr;
}

QByteArray rpc(const QByteArray &id, const QByteArray &method, const QByteArray &params)
{
    QByteArray line = R"({"jsonrpc":"2.0","id":)" + id + R"(,"method":")" + method + '"';
    if (!params.isEmpty())
        line += ",\"params\":" + params;
    return line + '}';
}

QByteArray toolCall(const QByteArray &id, const QByteArray &tool, const QByteArray &args)
{
    return rpc(id, "tools/call", R"({"name":")" + tool + R"(","arguments":)" + args + '}');
}

QByteArray answerId(const json::Document &answer)
{
    const json::Value *id = answer.root().isObject() ? answer.root().find("id") : nullptr;
    return id ? id->compact() : QByteArray();
}

const json::Value *structured(const json::Document &answer)
{
    const json::Value *result = answer.root().find("result");
    if (!result || !result->find("isError") || result->find("isError")->toBool())
        return nullptr;
    return result->find("structuredContent");
}

QString toolErrorCode(const json::Document &answer)
{
    const json::Value *result = answer.root().find("result");
    if (!result || !result->find("isError") || !result->find("isError")->toBool())
        return {};
    const json::Value *content = result->find("content");
    if (!content || content->items().empty())
        return {};
    auto inner = json::parse(QByteArray::fromStdString(content->items().front().find("text")->text()));
    if (!inner || !inner->root().find("error"))
        return {};
    return inner->root().find("error")->find("code")->toQString();
}

int rpcErrorCode(const json::Document &answer)
{
    const json::Value *error = answer.root().find("error");
    return error && error->find("code") ? int(error->find("code")->toInt64().value_or(0)) : 0;
}

QString tempPath(const QString &name)
{
    static QTemporaryDir dir;
    return dir.filePath(name);
}

} // namespace sidecar::test
