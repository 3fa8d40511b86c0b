#include "httpserverprocess.h"

#include <QDeadlineTimer>
#include <QFile>
#include <QFileInfo>
#include <QRegularExpression>
#include <QThread>

#include <algorithm>
#include <csignal>
#include <sys/socket.h>

namespace sidecar::test {

namespace {

int remainingMs(const QDeadlineTimer &deadline)
{
    return int(std::clamp<qint64>(deadline.remainingTime(), 0, 1000));
}

// The value for `name` in `headers` (case-insensitive), or nullptr.
const std::pair<QByteArray, QByteArray> *findHeader(const HeaderList &headers, QByteArrayView name)
{
    for (const auto &h : headers) {
        if (QByteArrayView(h.first).compare(name, Qt::CaseInsensitive) == 0)
            return &h;
    }
    return nullptr;
}

// `defaults` overridden by `extra` (same name, case-insensitive); an empty value in `extra`
// leaves the header out.
HeaderList mergeHeaders(const HeaderList &defaults, const HeaderList &extra)
{
    HeaderList out;
    for (const auto &h : defaults) {
        if (!findHeader(extra, h.first))
            out.append(h);
    }
    for (const auto &h : extra) {
        if (!h.second.isEmpty())
            out.append(h);
    }
    return out;
}

SseEvent parseEventBlock(const QByteArray &block, bool *hasField, int *comments)
{
    SseEvent e;
    *hasField = false;
    QList<QByteArray> data;
    for (const QByteArray &line : block.split('\n')) {
        if (line.isEmpty())
            continue;
        if (line.startsWith(':')) {
            ++*comments;
            continue;
        }
        const qsizetype colon = line.indexOf(':');
        const QByteArray field = colon < 0 ? line : line.left(colon);
        QByteArray value = colon < 0 ? QByteArray() : line.mid(colon + 1);
        if (value.startsWith(' '))
            value.remove(0, 1);
        *hasField = true;
        if (field == "id") {
            e.id = value;
            e.hasId = true;
        } else if (field == "event") {
            e.event = value;
        } else if (field == "data") {
            data.append(value);
            e.hasData = true;
        } else if (field == "retry") {
            bool ok = false;
            const int retry = value.toInt(&ok);
            if (ok)
                e.retry = retry;
        }
    }
    e.data = data.join('\n');
    return e;
}

} // namespace

// ---- HttpReply

QByteArray HttpReply::header(QByteArrayView name) const
{
    const auto *h = findHeader(headers, name);
    return h ? h->second : QByteArray();
}

QList<QByteArray> HttpReply::headerValues(QByteArrayView name) const
{
    QList<QByteArray> out;
    for (const auto &h : headers) {
        if (QByteArrayView(h.first).compare(name, Qt::CaseInsensitive) == 0)
            out.append(h.second);
    }
    return out;
}

bool HttpReply::hasHeader(QByteArrayView name) const
{
    return findHeader(headers, name) != nullptr;
}

QByteArray HttpReply::mediaType() const
{
    QByteArray type = header("content-type");
    const qsizetype semicolon = type.indexOf(';');
    if (semicolon >= 0)
        type.truncate(semicolon);
    return type.trimmed().toLower();
}

QString HttpReply::describe() const
{
    if (status == 0)
        return QStringLiteral("(no response)");
    QString out = QStringLiteral("HTTP %1 %2").arg(status).arg(QString::fromLatin1(reason));
    for (const auto &h : headers)
        out += QStringLiteral("\n%1: %2").arg(QString::fromLatin1(h.first), QString::fromLatin1(h.second));
    out += QStringLiteral("\n\n") + QString::fromUtf8(body.left(2000));
    return out;
}

QList<SseEvent> parseSse(const QByteArray &body)
{
    QByteArray text = body;
    text.replace("\r\n", "\n");
    QList<SseEvent> events;
    int comments = 0;
    qsizetype pos = 0;
    while (pos < text.size()) {
        qsizetype end = text.indexOf("\n\n", pos);
        const QByteArray block = end < 0 ? text.mid(pos) : text.mid(pos, end - pos);
        bool hasField = false;
        SseEvent e = parseEventBlock(block, &hasField, &comments);
        if (hasField)
            events.append(e);
        if (end < 0)
            break;
        pos = end + 2;
    }
    return events;
}

std::optional<SseEvent> nextDataEvent(HttpConnection &stream, int timeoutMs)
{
    QDeadlineTimer deadline(timeoutMs);
    while (!deadline.hasExpired()) {
        auto e = stream.nextEvent(int(std::max<qint64>(deadline.remainingTime(), 1)));
        if (!e)
            return std::nullopt;
        if (!e->data.isEmpty())
            return e;
    }
    return std::nullopt;
}

// ---- HttpConnection

HttpConnection::HttpConnection(quint16 port, const QString &host) : m_port(port), m_host(host) {}

HttpConnection::~HttpConnection()
{
    m_socket.abort();
}

bool HttpConnection::connectToServer(int timeoutMs)
{
    m_socket.connectToHost(m_host, m_port);
    if (!m_socket.waitForConnected(timeoutMs)) {
        m_error = QStringLiteral("connect to %1:%2 failed: %3").arg(m_host).arg(m_port).arg(m_socket.errorString());
        return false;
    }
    return true;
}

bool HttpConnection::isConnected() const
{
    return m_socket.state() == QAbstractSocket::ConnectedState;
}

bool HttpConnection::send(const QByteArray &method, const QByteArray &target, const HeaderList &headers,
                          const QByteArray &body)
{
    QByteArray out = method + ' ' + target + " HTTP/1.1\r\n";
    if (!findHeader(headers, "host"))
        out += "Host: " + m_host.toLatin1() + ':' + QByteArray::number(m_port) + "\r\n";
    for (const auto &h : headers)
        out += h.first + ": " + h.second + "\r\n";
    const bool hasBodyMethod = method == "POST" || method == "PUT" || method == "PATCH";
    if ((!body.isEmpty() || hasBodyMethod) && !findHeader(headers, "content-length") &&
        !findHeader(headers, "transfer-encoding"))
        out += "Content-Length: " + QByteArray::number(body.size()) + "\r\n";
    out += "\r\n" + body;
    m_headRequest = method == "HEAD";
    return sendRaw(out);
}

bool HttpConnection::sendRaw(const QByteArray &bytes)
{
    if (!isConnected()) {
        m_error = QStringLiteral("not connected");
        return false;
    }
    if (m_socket.write(bytes) != bytes.size()) {
        m_error = QStringLiteral("write failed: ") + m_socket.errorString();
        return false;
    }
    QDeadlineTimer deadline(10000);
    while (m_socket.bytesToWrite() > 0) {
        if (!m_socket.waitForBytesWritten(remainingMs(deadline)) && (deadline.hasExpired() || !isConnected())) {
            m_error = QStringLiteral("write did not complete: ") + m_socket.errorString();
            return false;
        }
    }
    return true;
}

bool HttpConnection::readMore(int timeoutMs)
{
    if (m_socket.bytesAvailable() == 0) {
        if (m_closed)
            return false;
        if (!m_socket.waitForReadyRead(timeoutMs)) {
            if (m_socket.state() != QAbstractSocket::ConnectedState)
                m_closed = true;
            if (m_socket.bytesAvailable() == 0)
                return false;
        }
    }
    m_raw += m_socket.readAll();
    if (m_socket.state() != QAbstractSocket::ConnectedState)
        m_closed = true;
    return true;
}

bool HttpConnection::parseHead(HttpReply *out)
{
    for (;;) {
        const qsizetype end = m_raw.indexOf("\r\n\r\n");
        if (end < 0)
            return false;
        HttpReply r;
        const QList<QByteArray> lines = m_raw.left(end).split('\n');
        const QByteArray statusLine = lines.first().trimmed();
        m_raw.remove(0, end + 4);
        if (!statusLine.startsWith("HTTP/1.") || statusLine.size() < 12) {
            m_error = QStringLiteral("bad status line: ") + QString::fromLatin1(statusLine);
            out->status = -1;
            return true;
        }
        r.status = statusLine.mid(9, 3).toInt();
        r.reason = statusLine.mid(13);
        for (qsizetype i = 1; i < lines.size(); ++i) {
            const QByteArray line = lines.at(i).trimmed();
            const qsizetype colon = line.indexOf(':');
            if (colon > 0)
                r.headers.emplace_back(line.left(colon).trimmed().toLower(), line.mid(colon + 1).trimmed());
        }
        if (r.status / 100 == 1)
            continue; // 100 Continue and the like: the real response follows
        m_streaming = true;
        m_bodyEnded = false;
        m_body.clear();
        m_chunked = r.header("transfer-encoding").toLower().contains("chunked");
        r.chunked = m_chunked;
        m_chunkLeft = -1;
        m_remaining = -1;
        if (m_headRequest || r.status == 204 || r.status == 304) {
            m_remaining = 0;
            m_chunked = false;
        } else if (!m_chunked && r.hasHeader("content-length")) {
            m_remaining = r.header("content-length").toLongLong();
        }
        *out = r;
        return true;
    }
}

void HttpConnection::decodeBody()
{
    if (!m_streaming || m_bodyEnded)
        return;
    if (m_chunked) {
        for (;;) {
            if (m_chunkLeft == -2) { // the CRLF after a chunk's data
                if (m_raw.size() < 2)
                    return;
                m_raw.remove(0, 2);
                m_chunkLeft = -1;
            }
            if (m_chunkLeft == -1) {
                const qsizetype lineEnd = m_raw.indexOf("\r\n");
                if (lineEnd < 0)
                    return;
                QByteArray sizeText = m_raw.left(lineEnd);
                const qsizetype semicolon = sizeText.indexOf(';');
                if (semicolon >= 0)
                    sizeText.truncate(semicolon);
                bool ok = false;
                const qint64 size = sizeText.trimmed().toLongLong(&ok, 16);
                if (!ok) {
                    m_error = QStringLiteral("bad chunk size line: ") + QString::fromLatin1(m_raw.left(lineEnd));
                    m_bodyEnded = true;
                    return;
                }
                if (size == 0) {
                    // Trailers (none expected) end with an empty line.
                    const qsizetype trailerEnd = m_raw.indexOf("\r\n\r\n", lineEnd);
                    if (m_raw.mid(lineEnd, 4) == "\r\n\r\n") {
                        m_raw.remove(0, lineEnd + 4);
                    } else if (trailerEnd >= 0) {
                        m_raw.remove(0, trailerEnd + 4);
                    } else {
                        return;
                    }
                    m_bodyEnded = true;
                    return;
                }
                m_raw.remove(0, lineEnd + 2);
                m_chunkLeft = size;
            }
            const qint64 take = std::min<qint64>(m_chunkLeft, m_raw.size());
            m_body += m_raw.left(take);
            m_raw.remove(0, take);
            m_chunkLeft -= take;
            if (m_chunkLeft > 0)
                return;
            m_chunkLeft = -2;
        }
    }
    if (m_remaining >= 0) {
        const qint64 take = std::min<qint64>(m_remaining, m_raw.size());
        m_body += m_raw.left(take);
        m_raw.remove(0, take);
        m_remaining -= take;
        if (m_remaining == 0)
            m_bodyEnded = true;
        return;
    }
    m_body += m_raw;
    m_raw.clear();
    if (m_closed)
        m_bodyEnded = true;
}

std::optional<HttpReply> HttpConnection::readHead(int timeoutMs)
{
    QDeadlineTimer deadline(timeoutMs);
    HttpReply r;
    while (!parseHead(&r)) {
        if (!readMore(remainingMs(deadline)) && (deadline.hasExpired() || m_closed)) {
            if (!parseHead(&r)) {
                m_error = QStringLiteral("no response head within %1 ms%2; received: %3")
                              .arg(timeoutMs)
                              .arg(m_closed ? QStringLiteral(" (the server closed the connection)") : QString())
                              .arg(QString::fromLatin1(m_raw.left(500)));
                return std::nullopt;
            }
            break;
        }
    }
    if (r.status < 0)
        return std::nullopt;
    return r;
}

std::optional<HttpReply> HttpConnection::readResponse(int timeoutMs)
{
    QDeadlineTimer deadline(timeoutMs);
    auto head = readHead(timeoutMs);
    if (!head)
        return std::nullopt;
    QByteArray body;
    if (!waitForBodyEnd(int(std::max<qint64>(deadline.remainingTime(), 1)), &body)) {
        m_error = QStringLiteral("the body did not end %1; got %2 bytes: %3")
                      .arg(m_closed ? QStringLiteral("(the server closed the connection in the middle of it)")
                                    : QStringLiteral("within %1 ms").arg(timeoutMs))
                      .arg(body.size())
                      .arg(QString::fromUtf8(body.left(300)));
        return std::nullopt;
    }
    head->body = body;
    m_streaming = false;
    return head;
}

bool HttpConnection::waitForBodyEnd(int timeoutMs, QByteArray *rest)
{
    QDeadlineTimer deadline(timeoutMs);
    decodeBody();
    while (!m_bodyEnded) {
        if (!readMore(remainingMs(deadline)) && (deadline.hasExpired() || m_closed)) {
            decodeBody();
            break;
        }
        decodeBody();
    }
    if (rest)
        *rest = m_body;
    if (m_bodyEnded)
        m_body.clear();
    return m_bodyEnded;
}

std::optional<SseEvent> HttpConnection::nextEvent(int timeoutMs)
{
    QDeadlineTimer deadline(timeoutMs);
    for (;;) {
        decodeBody();
        m_body.replace("\r\n", "\n");
        qsizetype end;
        while ((end = m_body.indexOf("\n\n")) >= 0) {
            const QByteArray block = m_body.left(end);
            m_body.remove(0, end + 2);
            bool hasField = false;
            SseEvent e = parseEventBlock(block, &hasField, &m_comments);
            if (hasField)
                return e;
        }
        if (m_bodyEnded || deadline.hasExpired())
            return std::nullopt;
        if (!readMore(remainingMs(deadline)) && m_closed) {
            decodeBody();
            if (m_body.indexOf("\n\n") < 0)
                return std::nullopt;
        }
    }
}

bool HttpConnection::waitForDisconnected(int timeoutMs)
{
    QDeadlineTimer deadline(timeoutMs);
    while (!m_closed) {
        if (!readMore(remainingMs(deadline)) && deadline.hasExpired())
            break;
        decodeBody();
    }
    return m_closed;
}

void HttpConnection::abort()
{
    // SO_LINGER 0: close() sends a reset, as a client that crashed or lost its network would.
    const qintptr fd = m_socket.socketDescriptor();
    if (fd >= 0) {
        struct linger l = {1, 0};
        ::setsockopt(int(fd), SOL_SOCKET, SO_LINGER, &l, sizeof l);
    }
    m_socket.abort();
    m_closed = true;
}

HttpReply httpRequest(quint16 port, const QByteArray &method, const QByteArray &target, const HeaderList &headers,
                      const QByteArray &body, int timeoutMs)
{
    HttpConnection c(port);
    if (!c.connectToServer() || !c.send(method, target, headers, body))
        return {};
    return c.readResponse(timeoutMs).value_or(HttpReply{});
}

// ---- HttpServerProcess

HttpServerProcess::HttpServerProcess()
{
    m_stderrPath = m_dir.filePath(QStringLiteral("stderr.log"));
}

HttpServerProcess::~HttpServerProcess()
{
    if (isRunning()) {
        terminate();
        if (!m_process.waitForFinished(10000)) {
            kill();
            m_process.waitForFinished(5000);
        }
    }
}

QString HttpServerProcess::httpBinary()
{
    const QString bin = qEnvironmentVariable("SIDECAR_BIN");
    return QFileInfo(bin).absolutePath() + QStringLiteral("/mcp-state-sidecar-http");
}

bool HttpServerProcess::start(const QStringList &extraArguments, const QString &dbPath, const QProcessEnvironment &env,
                              int timeoutMs, const QString &program)
{
    QString bin = program;
    QStringList args;
    if (bin.isEmpty()) {
        bin = qEnvironmentVariable("SIDECAR_BIN");
        if (bin.isEmpty()) {
            m_error = QStringLiteral("SIDECAR_BIN is not set");
            return false;
        }
        args << QStringLiteral("--transport") << QStringLiteral("http");
    }
    if (!m_dir.isValid()) {
        m_error = QStringLiteral("no temporary directory");
        return false;
    }
    m_dbPath = dbPath.isEmpty() ? m_dir.filePath(QStringLiteral("state.db")) : dbPath;
    args << QStringLiteral("--host") << QStringLiteral("127.0.0.1") << QStringLiteral("--port") << QStringLiteral("0")
         << QStringLiteral("--db-path") << m_dbPath << extraArguments;
    m_process.setProcessEnvironment(env);
    m_process.setStandardErrorFile(m_stderrPath);
    m_process.setStandardOutputFile(m_dir.filePath(QStringLiteral("stdout.log")));
    m_process.setStandardInputFile(QProcess::nullDevice());
    m_process.start(bin, args);
    if (!m_process.waitForStarted(10000)) {
        m_error = QStringLiteral("%1 did not start: %2").arg(bin, m_process.errorString());
        return false;
    }
    static const QRegularExpression serving(QStringLiteral("serving MCP at http://127\\.0\\.0\\.1:(\\d+)/mcp"));
    QDeadlineTimer deadline(timeoutMs);
    for (;;) {
        const QRegularExpressionMatch match = serving.match(QString::fromUtf8(stderrText()));
        if (match.hasMatch()) {
            m_port = quint16(match.captured(1).toUInt());
            if (m_port != 0)
                return true;
        }
        if (!isRunning()) {
            m_error = QStringLiteral("the server exited (code %1) before serving; stderr:\n%2")
                          .arg(m_process.exitCode())
                          .arg(QString::fromUtf8(stderrText()));
            return false;
        }
        if (deadline.hasExpired()) {
            m_error = QStringLiteral("no \"serving MCP at\" line within %1 ms; stderr:\n%2")
                          .arg(timeoutMs)
                          .arg(QString::fromUtf8(stderrText()));
            return false;
        }
        m_process.waitForFinished(20);
    }
}

void HttpServerProcess::terminate()
{
    if (isRunning() && pid() > 0)
        ::kill(pid_t(pid()), SIGTERM);
}

void HttpServerProcess::kill()
{
    if (isRunning() && pid() > 0)
        ::kill(pid_t(pid()), SIGKILL);
}

bool HttpServerProcess::waitForExit(int timeoutMs)
{
    if (!isRunning())
        return true;
    return m_process.waitForFinished(timeoutMs);
}

QByteArray HttpServerProcess::stderrText() const
{
    QFile f(m_stderrPath);
    if (!f.open(QIODevice::ReadOnly))
        return {};
    return f.readAll();
}

// ---- McpHttpClient

McpHttpClient::McpHttpClient(quint16 port) : m_port(port) {}

HeaderList McpHttpClient::sessionHeaders() const
{
    HeaderList h;
    if (!m_sessionId.isEmpty())
        h.append({"Mcp-Session-Id", m_sessionId});
    if (!m_version.isEmpty())
        h.append({"MCP-Protocol-Version", m_version});
    if (!m_token.isEmpty())
        h.append({"Authorization", "Bearer " + m_token});
    return h;
}

QByteArray McpHttpClient::requestBody(const QString &method, const QByteArray &paramsJson, qint64 id) const
{
    QByteArray body = R"({"jsonrpc":"2.0","id":)" + QByteArray::number(id) + R"(,"method":")" + method.toUtf8() + '"';
    if (!paramsJson.isEmpty())
        body += ",\"params\":" + paramsJson;
    return body + '}';
}

HttpReply McpHttpClient::post(const QByteArray &body, const HeaderList &extra, int timeoutMs)
{
    HeaderList defaults{{"Content-Type", "application/json"}, {"Accept", "application/json, text/event-stream"}};
    defaults += sessionHeaders();
    HttpReply reply = httpRequest(m_port, "POST", "/mcp", mergeHeaders(defaults, extra), body, timeoutMs);
    if (reply.status == 0)
        m_error = QStringLiteral("no answer to POST %1").arg(QString::fromUtf8(body.left(200)));
    return reply;
}

bool McpHttpClient::initialize(const QByteArray &version)
{
    m_sessionId.clear();
    m_version.clear();
    const QByteArray body = requestBody(QStringLiteral("initialize"),
                                        R"({"protocolVersion":")" + version +
                                            R"(","capabilities":{},"clientInfo":{"name":"tst","version":"1"}})",
                                        nextId());
    m_initializeReply = post(body);
    const HttpReply &r = m_initializeReply;
    auto answer = jsonRpcAnswer(r);
    if (r.status != 200 || !answer || !answer->root().find("result")) {
        m_error = QStringLiteral("initialize failed: ") + r.describe();
        return false;
    }
    m_sessionId = r.header("mcp-session-id");
    const json::Value *negotiated = answer->root().find("result")->find("protocolVersion");
    if (m_sessionId.isEmpty() || !negotiated || !negotiated->isString()) {
        m_error = QStringLiteral("initialize gave no session id or version: ") + r.describe();
        return false;
    }
    m_version = negotiated->toQString().toLatin1();
    const HttpReply initialized = post(R"({"jsonrpc":"2.0","method":"notifications/initialized"})");
    if (initialized.status != 202) {
        m_error = QStringLiteral("notifications/initialized was not accepted: ") + initialized.describe();
        return false;
    }
    return true;
}

std::optional<json::Document> McpHttpClient::request(const QString &method, const QByteArray &paramsJson, int timeoutMs)
{
    const qint64 id = nextId();
    const HttpReply reply = post(requestBody(method, paramsJson, id), {}, timeoutMs);
    if (reply.status != 200) {
        m_error = QStringLiteral("%1: ").arg(method) + reply.describe();
        return std::nullopt;
    }
    auto answer = jsonRpcAnswer(reply);
    const json::Value *answerId = answer && answer->root().isObject() ? answer->root().find("id") : nullptr;
    if (!answerId || answerId->compact() != QByteArray::number(id)) {
        m_error = QStringLiteral("%1: no answer with id %2 in ").arg(method).arg(id) + reply.describe();
        return std::nullopt;
    }
    return answer;
}

std::optional<json::Document> McpHttpClient::call(const QString &tool, const QByteArray &argumentsJson, int timeoutMs)
{
    return request(QStringLiteral("tools/call"), toolCallParams(tool, argumentsJson), timeoutMs);
}

std::unique_ptr<HttpConnection> McpHttpClient::startRequest(const QString &method, const QByteArray &paramsJson,
                                                            const HeaderList &extra)
{
    auto c = std::make_unique<HttpConnection>(m_port);
    HeaderList defaults{{"Content-Type", "application/json"}, {"Accept", "application/json, text/event-stream"}};
    defaults += sessionHeaders();
    if (!c->connectToServer() ||
        !c->send("POST", "/mcp", mergeHeaders(defaults, extra), requestBody(method, paramsJson, nextId()))) {
        m_error = c->errorString();
        return nullptr;
    }
    return c;
}

std::unique_ptr<HttpConnection> McpHttpClient::startCall(const QString &tool, const QByteArray &argumentsJson,
                                                         const HeaderList &extra)
{
    return startRequest(QStringLiteral("tools/call"), toolCallParams(tool, argumentsJson), extra);
}

std::unique_ptr<HttpConnection> McpHttpClient::openStream(HttpReply *head, const QByteArray &lastEventId, int timeoutMs)
{
    auto c = std::make_unique<HttpConnection>(m_port);
    HeaderList headers{{"Accept", "text/event-stream"}};
    headers += sessionHeaders();
    if (!lastEventId.isEmpty())
        headers.emplace_back("Last-Event-ID", lastEventId);
    if (!c->connectToServer() || !c->send("GET", "/mcp", headers)) {
        m_error = c->errorString();
        return nullptr;
    }
    auto r = c->readHead(timeoutMs);
    if (!r) {
        m_error = c->errorString();
        return nullptr;
    }
    if (head)
        *head = *r;
    return c;
}

HttpReply McpHttpClient::deleteSession()
{
    return httpRequest(m_port, "DELETE", "/mcp", sessionHeaders());
}

std::optional<json::Document> jsonRpcAnswer(const HttpReply &reply)
{
    const QByteArray type = reply.mediaType();
    if (type == "application/json")
        return json::parse(reply.body);
    if (type == "text/event-stream") {
        for (const SseEvent &e : parseSse(reply.body)) {
            if (!e.data.isEmpty() && (e.event.isEmpty() || e.event == "message"))
                return json::parse(e.data);
        }
    }
    return std::nullopt;
}

QByteArray toolCallParams(const QString &tool, const QByteArray &argumentsJson)
{
    return R"({"name":")" + tool.toUtf8() + R"(","arguments":)" + argumentsJson + '}';
}

} // namespace sidecar::test
