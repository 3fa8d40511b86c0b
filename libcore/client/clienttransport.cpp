#include "clienttransport.h"

#include <QLoggingCategory>
#include <QNetworkAccessManager>
#include <QNetworkReply>
#include <QNetworkRequest>
#include <QThread>

#include <algorithm>

#include "protocol/json.h"

Q_LOGGING_CATEGORY(lcClientTransport, "sidecar.client.transport")

namespace sidecar::client {

namespace {

constexpr int kMinBackoffMs = 250;
constexpr int kMaxBackoffMs = 10000;
// Resumptions of one broken answer stream before its request is given up (about 40 s with backoff).
constexpr int kMaxResumeAttempts = 8;
// What a stdio server gets to finish after its stdin closed, then after SIGTERM, then after SIGKILL.
constexpr int kStdioGraceMs = 1500;
constexpr int kStdioTermMs = 1500;
constexpr int kStdioKillMs = 1500;
constexpr qsizetype kMaxStderrBytes = 16 * 1024;
constexpr qsizetype kMaxErrorBodyChars = 500;

const QByteArray kJsonType = QByteArrayLiteral("application/json");
const QByteArray kEventStream = QByteArrayLiteral("text/event-stream");
const QByteArray kSessionHeader = QByteArrayLiteral("Mcp-Session-Id");
const QByteArray kVersionHeader = QByteArrayLiteral("MCP-Protocol-Version");

int httpStatus(const QNetworkReply *reply)
{
    return reply->attribute(QNetworkRequest::HttpStatusCodeAttribute).toInt();
}

bool isEventStream(const QNetworkReply *reply)
{
    return reply->rawHeader("Content-Type").trimmed().toLower().startsWith(kEventStream);
}

// The compact id of a response (a message with an id and a result or error, no method), else empty.
QByteArray responseId(const json::Value &root)
{
    if (!root.isObject() || root.find("method"))
        return {};
    const json::Value *id = root.find("id");
    if (!id || (!root.find("result") && !root.find("error")))
        return {};
    return id->compact();
}

// "HTTP 400 Bad Request: <the message the body carries, or its start>".
QString httpErrorText(const QNetworkReply *reply, const QByteArray &body)
{
    const int status = httpStatus(reply);
    const QString reason = QString::fromLatin1(
        reply->attribute(QNetworkRequest::HttpReasonPhraseAttribute).toByteArray());
    QString text;
    if (auto doc = json::parse(body); doc && doc->root().isObject()) {
        // {"error":{"message":..}} from the sidecar, or a JSON-RPC error object
        const json::Value *error = doc->root().find("error");
        const json::Value *message = error && error->isObject() ? error->find("message") : nullptr;
        if (message && message->isString())
            text = message->toQString();
    }
    if (text.isEmpty())
        text = QString::fromUtf8(body.trimmed()).left(kMaxErrorBodyChars);
    QString out = QStringLiteral("HTTP %1").arg(status);
    if (!reason.isEmpty())
        out += u' ' + reason;
    if (!text.isEmpty())
        out += QStringLiteral(": ") + text;
    return out;
}

} // namespace

// ---------------------------------------------------------------- SseParser

QList<SseParser::Event> SseParser::feed(const QByteArray &bytes)
{
    QList<Event> out;
    // m_buffer holds no line end: only the new bytes are scanned (a long event arriving in many
    // pieces is not scanned again and again).
    qsizetype from = m_buffer.size();
    m_buffer += bytes;
    const qsizetype n = m_buffer.size();
    qsizetype start = 0;
    if (m_skipLf && n > 0) { // the buffer was empty: the previous bytes ended with CR
        if (m_buffer.at(0) == '\n')
            start = from = 1;
        m_skipLf = false;
    }
    for (qsizetype i = from; i < n; ++i) {
        const char c = m_buffer.at(i);
        if (c != '\n' && c != '\r')
            continue;
        processLine(QByteArrayView(m_buffer).sliced(start, i - start), out);
        if (c == '\r') {
            if (i + 1 < n) {
                if (m_buffer.at(i + 1) == '\n')
                    ++i;
            } else {
                m_skipLf = true; // the LF of this CRLF may be in the next bytes
            }
        }
        start = i + 1;
    }
    m_buffer.remove(0, start);
    return out;
}

void SseParser::restart()
{
    m_buffer.clear();
    m_skipLf = false;
    m_data.clear();
    m_type.clear();
    m_hasData = false;
    m_idBuffer = m_lastEventId;
}

void SseParser::processLine(QByteArrayView line, QList<Event> &out)
{
    if (line.isEmpty()) {
        m_lastEventId = m_idBuffer;
        if (m_hasData) {
            Event event;
            event.id = m_lastEventId;
            event.type = m_type;
            m_data.chop(1); // the '\n' after the last data line
            event.data = m_data;
            out.append(std::move(event));
        }
        m_data.clear();
        m_type.clear();
        m_hasData = false;
        return;
    }
    if (line.front() == ':') {
        ++m_comments;
        return;
    }
    const qsizetype colon = line.indexOf(':');
    const QByteArrayView field = colon < 0 ? line : line.first(colon);
    QByteArrayView value = colon < 0 ? QByteArrayView() : line.sliced(colon + 1);
    if (value.startsWith(' '))
        value = value.sliced(1);
    if (field == "data") {
        m_data += value;
        m_data += '\n';
        m_hasData = true;
    } else if (field == "event") {
        m_type = value.toByteArray();
    } else if (field == "id") {
        if (!value.contains('\0'))
            m_idBuffer = value.toByteArray();
    } else if (field == "retry") {
        bool ok = !value.isEmpty()
                  && std::all_of(value.begin(), value.end(), [](char ch) { return ch >= '0' && ch <= '9'; });
        const int ms = ok ? value.toInt(&ok) : 0;
        if (ok)
            m_retryMs = ms;
    }
}

// ---------------------------------------------------------------- HttpClientTransport

struct HttpClientTransport::Exchange
{
    quint64 generation = 0;
    QByteArray requestId; // compact id when the message is a request
    QByteArray method;
    SseParser parser;
    bool answered = false; // the answer to requestId went up
    bool resuming = false; // the reply in flight is a GET resuming the stream
    int resumeAttempts = 0;
    int backoffMs = kMinBackoffMs;
};

HttpClientTransport::HttpClientTransport(QUrl url, QByteArray bearerToken, QObject *parent)
    : ClientTransport(parent), m_url(std::move(url)), m_token(std::move(bearerToken)),
      m_nam(new QNetworkAccessManager(this))
{
    m_streamTimer.setSingleShot(true);
    connect(&m_streamTimer, &QTimer::timeout, this, &HttpClientTransport::openStream);
}

HttpClientTransport::~HttpClientTransport()
{
    // No DELETE here: the network manager goes with this object. The server reaps the idle session.
    m_open = false;
    ++m_generation;
    abortAll();
}

QNetworkRequest HttpClientTransport::baseRequest(const QByteArray &accept) const
{
    QNetworkRequest request(m_url);
    request.setRawHeader("Accept", accept);
    request.setAttribute(QNetworkRequest::Http2AllowedAttribute, false);
    request.setAttribute(QNetworkRequest::CacheLoadControlAttribute, QNetworkRequest::AlwaysNetwork);
    request.setTransferTimeout(0); // streams and long polls stay open; McpClient times requests out
    if (!m_token.isEmpty())
        request.setRawHeader("Authorization", "Bearer " + m_token);
    if (!m_sessionId.isEmpty())
        request.setRawHeader(kSessionHeader, m_sessionId);
    if (!m_protocolVersion.isEmpty())
        request.setRawHeader(kVersionHeader, m_protocolVersion);
    return request;
}

void HttpClientTransport::start()
{
    Q_ASSERT(QThread::currentThread() == thread());
    if (m_open)
        return;
    m_open = true;
    const quint64 generation = ++m_generation;
    m_sessionId.clear();
    m_protocolVersion.clear();
    m_initializeId.clear();
    m_lastEventId.clear();
    m_streamWanted = false;
    m_streamOpen = false;
    m_interrupted = false;
    m_streamBackoffMs = kMinBackoffMs;
    m_streamRetryMs = -1;
    // Nothing to connect before the first POST: the endpoint is reached per message.
    QTimer::singleShot(0, this, [this, generation] {
        if (generation == m_generation && m_open)
            emit opened();
    });
}

void HttpClientTransport::send(const QByteArray &message)
{
    Q_ASSERT(QThread::currentThread() == thread());
    auto exchange = std::make_shared<Exchange>();
    exchange->generation = m_generation;
    if (auto doc = json::parse(message); doc && doc->root().isObject()) {
        const json::Value *method = doc->root().find("method");
        const json::Value *id = doc->root().find("id");
        if (method && method->isString()) {
            exchange->method = QByteArray::fromStdString(method->text());
            if (id)
                exchange->requestId = id->compact();
        }
    }
    if (!m_open) {
        QTimer::singleShot(0, this, [this, id = exchange->requestId] {
            emit errorOccurred(id, QStringLiteral("not connected"));
        });
        return;
    }
    if (exchange->method == "initialize")
        m_initializeId = exchange->requestId;
    QNetworkRequest request = baseRequest(QByteArrayLiteral("application/json, text/event-stream"));
    request.setHeader(QNetworkRequest::ContentTypeHeader, kJsonType);
    watch(m_nam->post(request, message), exchange);
}

void HttpClientTransport::watch(QNetworkReply *reply, const std::shared_ptr<Exchange> &exchange)
{
    m_replies.emplace_back(reply);
    connect(reply, &QNetworkReply::readyRead, this,
            [this, reply, exchange] { onExchangeData(reply, exchange); });
    connect(reply, &QNetworkReply::finished, this,
            [this, reply, exchange] { onExchangeFinished(reply, exchange); });
}

void HttpClientTransport::onExchangeData(QNetworkReply *reply, const std::shared_ptr<Exchange> &exchange)
{
    if (exchange->generation != m_generation || httpStatus(reply) / 100 != 2 || !isEventStream(reply))
        return; // JSON bodies and errors are read whole when they finish
    if (exchange->method == "initialize" && m_sessionId.isEmpty())
        m_sessionId = reply->rawHeader(kSessionHeader);
    for (const SseParser::Event &event : exchange->parser.feed(reply->readAll())) {
        if (event.data.isEmpty() || (!event.type.isEmpty() && event.type != "message"))
            continue; // a priming event (an id to resume from, no message), or not a message
        if (!deliver(exchange, event.data, true))
            return;
    }
}

void HttpClientTransport::onExchangeFinished(QNetworkReply *reply, const std::shared_ptr<Exchange> &exchange)
{
    forget(reply);
    reply->deleteLater();
    if (exchange->generation != m_generation)
        return;
    const int status = httpStatus(reply);
    const bool carriedSession = !reply->request().rawHeader(kSessionHeader).isEmpty();
    if (status / 100 == 2 && isEventStream(reply)) {
        onExchangeData(reply, exchange);
        if (exchange->generation != m_generation || exchange->answered || exchange->requestId.isEmpty())
            return;
        // Transports, "Resumability and redelivery": a stream that ended before the answer is
        // resumed from its last event id; without one the answer is lost.
        const QString why = reply->error() != QNetworkReply::NoError
                                ? QStringLiteral("the answer stream broke: ") + reply->errorString()
                                : QStringLiteral("the server ended the answer stream without an answer");
        if (!exchange->parser.lastEventId().isEmpty())
            resumeExchange(exchange, why);
        else
            failExchange(exchange, why);
        return;
    }
    if (status == 0) {
        const QString why = QStringLiteral("cannot reach %1: %2").arg(m_url.toString(), reply->errorString());
        if (exchange->resuming)
            resumeExchange(exchange, why); // the server is away for now: keep trying
        else
            failExchange(exchange, why);
        return;
    }
    const QByteArray body = reply->readAll().trimmed();
    if (status == 404 && carriedSession) {
        expire();
        return;
    }
    if (status / 100 == 2) {
        if (exchange->method == "initialize" && m_sessionId.isEmpty())
            m_sessionId = reply->rawHeader(kSessionHeader);
        if (!body.isEmpty()) {
            if (!deliver(exchange, body, false))
                return;
        } else if (exchange->method == "notifications/initialized") {
            // Transports, "Listening for messages from the server": the session is ready for it.
            m_streamWanted = true;
            openStream();
        }
        return;
    }
    // An HTTP error. Its body may be the JSON-RPC answer itself (400 for an invalid request).
    if (auto doc = json::parse(body);
        doc && !exchange->requestId.isEmpty() && responseId(doc->root()) == exchange->requestId) {
        deliver(exchange, body, false);
        return;
    }
    failExchange(exchange, httpErrorText(reply, body));
}

void HttpClientTransport::resumeExchange(const std::shared_ptr<Exchange> &exchange, const QString &why)
{
    if (exchange->resumeAttempts >= kMaxResumeAttempts) {
        failExchange(exchange, why + QStringLiteral(" (could not resume it)"));
        return;
    }
    ++exchange->resumeAttempts;
    exchange->resuming = true;
    exchange->parser.restart();
    const int delay = std::max(exchange->backoffMs, exchange->parser.retryMs());
    exchange->backoffMs = std::min(exchange->backoffMs * 2, kMaxBackoffMs);
    qCDebug(lcClientTransport).noquote() << why << "- resuming after" << delay << "ms";
    QTimer::singleShot(delay, this, [this, exchange] {
        if (exchange->generation != m_generation)
            return;
        QNetworkRequest request = baseRequest(kEventStream);
        request.setRawHeader("Last-Event-ID", exchange->parser.lastEventId());
        watch(m_nam->get(request), exchange);
    });
}

bool HttpClientTransport::deliver(const std::shared_ptr<Exchange> &exchange, const QByteArray &message,
                                  bool fromStream)
{
    // Looked into only where it matters: an answer stream must know whether its answer came (to
    // resume it otherwise), and the initialize answer carries the protocol version.
    const bool isInitialize = !m_initializeId.isEmpty() && exchange->requestId == m_initializeId;
    if ((fromStream && !exchange->requestId.isEmpty()) || isInitialize) {
        if (auto doc = json::parse(message)) {
            const QByteArray id = responseId(doc->root());
            if (!id.isEmpty() && id == exchange->requestId)
                exchange->answered = true;
            if (!id.isEmpty() && id == m_initializeId) {
                // Transports, "Protocol version header": every later request carries the version.
                const json::Value *result = doc->root().find("result");
                const json::Value *version = result && result->isObject() ? result->find("protocolVersion")
                                                                          : nullptr;
                if (version && version->isString())
                    m_protocolVersion = QByteArray::fromStdString(version->text());
                m_initializeId.clear();
            }
        }
    }
    const quint64 generation = m_generation;
    emit received(message);
    return generation == m_generation;
}

void HttpClientTransport::failExchange(const std::shared_ptr<Exchange> &exchange, const QString &message)
{
    qCDebug(lcClientTransport).noquote() << exchange->method << "failed:" << message;
    emit errorOccurred(exchange->requestId, message);
}

void HttpClientTransport::openStream()
{
    if (!m_open || !m_streamWanted || m_stream)
        return;
    QNetworkRequest request = baseRequest(kEventStream);
    if (!m_lastEventId.isEmpty())
        request.setRawHeader("Last-Event-ID", m_lastEventId);
    if (m_streamParser.retryMs() >= 0)
        m_streamRetryMs = m_streamParser.retryMs();
    m_streamParser = SseParser();
    m_streamOpen = false;
    m_stream = m_nam->get(request);
    m_replies.emplace_back(m_stream);
    connect(m_stream, &QNetworkReply::metaDataChanged, this, &HttpClientTransport::onStreamData);
    connect(m_stream, &QNetworkReply::readyRead, this, &HttpClientTransport::onStreamData);
    connect(m_stream, &QNetworkReply::finished, this, &HttpClientTransport::onStreamFinished);
}

void HttpClientTransport::onStreamData()
{
    QNetworkReply *reply = m_stream;
    if (!reply || httpStatus(reply) / 100 != 2 || !isEventStream(reply))
        return;
    if (!m_streamOpen) {
        m_streamOpen = true;
        m_streamBackoffMs = kMinBackoffMs;
        if (m_interrupted) {
            m_interrupted = false;
            const quint64 generation = m_generation;
            emit resumed();
            if (generation != m_generation)
                return;
        }
    }
    for (const SseParser::Event &event : m_streamParser.feed(reply->readAll())) {
        if (!event.id.isEmpty())
            m_lastEventId = event.id;
        if (event.data.isEmpty() || (!event.type.isEmpty() && event.type != "message"))
            continue;
        const quint64 generation = m_generation;
        emit received(event.data);
        if (generation != m_generation || reply != m_stream)
            return;
    }
    if (!m_streamParser.lastEventId().isEmpty())
        m_lastEventId = m_streamParser.lastEventId();
}

void HttpClientTransport::onStreamFinished()
{
    auto *reply = qobject_cast<QNetworkReply *>(sender());
    if (!reply)
        return;
    forget(reply);
    reply->deleteLater();
    if (reply != m_stream)
        return;
    const quint64 generation = m_generation;
    onStreamData(); // what arrived with the end
    if (generation != m_generation || reply != m_stream)
        return;
    m_stream = nullptr;
    const int status = httpStatus(reply);
    if (m_streamOpen) {
        m_streamOpen = false;
        const bool broke = reply->error() != QNetworkReply::NoError;
        scheduleStream(broke, broke ? QStringLiteral("the event stream broke: ") + reply->errorString()
                                    : QStringLiteral("the server ended the event stream"));
        return;
    }
    if (status == 0) {
        scheduleStream(true,
                       QStringLiteral("cannot reach %1: %2").arg(m_url.toString(), reply->errorString()));
        return;
    }
    const QByteArray body = reply->readAll();
    if (status == 405) {
        m_streamWanted = false; // Transports: the server offers no stream at this endpoint
        return;
    }
    if (status == 404 && !reply->request().rawHeader(kSessionHeader).isEmpty()) {
        expire();
        return;
    }
    const QString text = httpErrorText(reply, body);
    if (status >= 500 || status == 429 || status == 408) {
        emit errorOccurred({}, QStringLiteral("the event stream: ") + text);
        if (generation == m_generation)
            scheduleStream(true, text);
        return;
    }
    m_streamWanted = false;
    emit errorOccurred({}, QStringLiteral("the server refused the event stream: ") + text);
}

void HttpClientTransport::scheduleStream(bool failed, const QString &reason)
{
    if (!m_open || !m_streamWanted)
        return;
    if (failed && !m_interrupted) {
        m_interrupted = true;
        const quint64 generation = m_generation;
        emit interrupted(reason);
        if (generation != m_generation)
            return;
    }
    const int delay = std::max(m_streamBackoffMs, std::max(m_streamRetryMs, m_streamParser.retryMs()));
    m_streamBackoffMs = std::min(m_streamBackoffMs * 2, kMaxBackoffMs);
    qCDebug(lcClientTransport).noquote() << reason << "- reopening it in" << delay << "ms";
    m_streamTimer.start(delay);
}

void HttpClientTransport::expire()
{
    if (!m_open)
        return;
    qCInfo(lcClientTransport) << "the server forgot the session";
    m_open = false;
    ++m_generation;
    abortAll();
    m_sessionId.clear();
    m_protocolVersion.clear();
    emit closed(QStringLiteral("session expired"));
}

void HttpClientTransport::close()
{
    Q_ASSERT(QThread::currentThread() == thread());
    if (!m_open)
        return;
    m_open = false;
    ++m_generation;
    abortAll();
    if (!m_sessionId.isEmpty()) {
        // Transports, "Session management": a client that no longer needs its session ends it.
        QNetworkReply *reply = m_nam->deleteResource(baseRequest(kJsonType));
        connect(reply, &QNetworkReply::finished, reply, &QObject::deleteLater);
    }
    m_sessionId.clear();
    m_protocolVersion.clear();
    emit closed(QStringLiteral("closed"));
}

void HttpClientTransport::abortAll()
{
    m_streamTimer.stop();
    m_stream = nullptr;
    m_streamOpen = false;
    m_streamWanted = false;
    m_interrupted = false;
    std::vector<QPointer<QNetworkReply>> replies;
    replies.swap(m_replies);
    for (const QPointer<QNetworkReply> &reply : replies) {
        if (!reply)
            continue;
        reply->disconnect(this);
        reply->abort();
        reply->deleteLater();
    }
}

void HttpClientTransport::forget(QNetworkReply *reply)
{
    std::erase_if(m_replies, [reply](const QPointer<QNetworkReply> &p) { return !p || p == reply; });
}

// ---------------------------------------------------------------- StdioClientTransport

StdioClientTransport::StdioClientTransport(QString program, QStringList arguments,
                                           QProcessEnvironment environment, QObject *parent)
    : ClientTransport(parent), m_program(std::move(program)), m_arguments(std::move(arguments)),
      m_environment(std::move(environment))
{
    connect(&m_process, &QProcess::started, this, [this] {
        m_open = true;
        emit opened();
    });
    connect(&m_process, &QProcess::readyReadStandardOutput, this, &StdioClientTransport::onStdout);
    connect(&m_process, &QProcess::readyReadStandardError, this, &StdioClientTransport::onStderr);
    connect(&m_process, &QProcess::finished, this, &StdioClientTransport::onFinished);
    connect(&m_process, &QProcess::errorOccurred, this, &StdioClientTransport::onError);
}

StdioClientTransport::~StdioClientTransport()
{
    m_process.disconnect(this);
    m_open = false;
    m_active = false;
    if (m_process.state() != QProcess::NotRunning) {
        m_process.closeWriteChannel();
        stopChild();
    }
}

void StdioClientTransport::start()
{
    Q_ASSERT(QThread::currentThread() == thread());
    if (m_active)
        return;
    if (m_process.state() != QProcess::NotRunning)
        stopChild(); // a child that outlived its close() (its exit reports nothing now)
    m_stdoutBuffer.clear();
    m_stdoutScanned = 0;
    m_stderr.clear();
    m_active = true;
    m_closing = false;
    m_process.setProgram(m_program);
    m_process.setArguments(m_arguments);
    m_process.setProcessEnvironment(m_environment);
    m_inStart = true;
    m_process.start(QIODevice::ReadWrite);
    m_inStart = false;
}

void StdioClientTransport::send(const QByteArray &message)
{
    Q_ASSERT(QThread::currentThread() == thread());
    if (!m_open) {
        QByteArray id;
        if (auto doc = json::parse(message); doc && doc->root().isObject() && doc->root().find("method")) {
            if (const json::Value *v = doc->root().find("id"))
                id = v->compact();
        }
        QTimer::singleShot(0, this, [this, id] { emit errorOccurred(id, QStringLiteral("not connected")); });
        return;
    }
    QByteArray line;
    line.reserve(message.size() + 1);
    line += message;
    line += '\n';
    m_process.write(line);
}

void StdioClientTransport::close()
{
    Q_ASSERT(QThread::currentThread() == thread());
    if (!m_active)
        return;
    m_open = false;
    m_closing = true;
    if (m_process.state() != QProcess::NotRunning) {
        m_process.closeWriteChannel(); // MCP stdio, "Shutdown": end of input first
        stopChild();
    }
    emitClosed(QStringLiteral("closed"));
}

void StdioClientTransport::stopChild()
{
    if (m_process.state() == QProcess::Starting)
        m_process.waitForStarted(kStdioGraceMs);
    if (m_process.waitForFinished(kStdioGraceMs))
        return;
    m_process.terminate(); // SIGTERM to our child's PID
    if (m_process.waitForFinished(kStdioTermMs))
        return;
    qCWarning(lcClientTransport) << "the server did not end after SIGTERM; killing it";
    m_process.kill();
    m_process.waitForFinished(kStdioKillMs);
}

void StdioClientTransport::onStdout()
{
    m_stdoutBuffer += m_process.readAllStandardOutput();
    if (!m_open) {
        m_stdoutBuffer.clear(); // closing: nobody waits for these any more
        m_stdoutScanned = 0;
        return;
    }
    qsizetype start = 0;
    qsizetype from = m_stdoutScanned; // a long line arriving in pieces is scanned once
    while (m_open) {
        const qsizetype end = m_stdoutBuffer.indexOf('\n', from);
        if (end < 0)
            break;
        QByteArray line = m_stdoutBuffer.mid(start, end - start);
        start = from = end + 1;
        if (line.endsWith('\r'))
            line.chop(1);
        if (!line.trimmed().isEmpty())
            emit received(line);
    }
    if (m_open) {
        m_stdoutBuffer.remove(0, start);
        m_stdoutScanned = m_stdoutBuffer.size();
    } else {
        m_stdoutBuffer.clear();
        m_stdoutScanned = 0;
    }
}

void StdioClientTransport::onStderr()
{
    m_stderr += m_process.readAllStandardError();
    if (m_stderr.size() > kMaxStderrBytes)
        m_stderr.remove(0, m_stderr.size() - kMaxStderrBytes);
}

QString StdioClientTransport::stderrTail(int lines) const
{
    QList<QByteArray> all = m_stderr.split('\n');
    QStringList out;
    for (auto it = all.crbegin(); it != all.crend() && out.size() < lines; ++it) {
        const QByteArray line = it->trimmed();
        if (!line.isEmpty())
            out.prepend(QString::fromUtf8(line));
    }
    return out.join(u'\n');
}

void StdioClientTransport::onFinished(int exitCode, QProcess::ExitStatus status)
{
    onStdout(); // answers written just before the exit
    onStderr();
    if (m_closing) {
        emitClosed(QStringLiteral("closed"));
        return;
    }
    QString reason = status == QProcess::CrashExit
                         ? QStringLiteral("the server process crashed or was killed")
                         : QStringLiteral("the server process exited with code %1").arg(exitCode);
    if (const QString tail = stderrTail(5); !tail.isEmpty())
        reason += QStringLiteral(": ") + tail;
    emitClosed(reason);
}

void StdioClientTransport::onError(QProcess::ProcessError error)
{
    if (error != QProcess::FailedToStart)
        return; // a crash is reported by finished(); write errors end in an exit too
    const QString reason = QStringLiteral("cannot start %1: %2").arg(m_program, m_process.errorString());
    if (m_inStart) { // closed() never inside start()
        QTimer::singleShot(0, this, [this, reason] {
            if (m_process.state() == QProcess::NotRunning)
                emitClosed(reason);
        });
        return;
    }
    emitClosed(reason);
}

void StdioClientTransport::emitClosed(const QString &reason)
{
    if (!m_active)
        return;
    m_active = false;
    m_open = false;
    emit closed(reason);
}

} // namespace sidecar::client
