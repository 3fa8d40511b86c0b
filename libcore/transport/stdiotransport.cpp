#include "stdiotransport.h"

#include <QLoggingCategory>
#include <QMetaObject>
#include <QPointer>
#include <QTimer>

#include <cerrno>
#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include "protocol/mcpserversession.h"
#include "transport/linesplitter.h"

Q_LOGGING_CATEGORY(lcStdio, "sidecar.stdio")

namespace sidecar::transport {

StdioTransport::StdioTransport(protocol::McpServerSession &session, qint64 maxLineBytes, int inFd, int outFd,
                               QObject *parent)
    : QObject(parent), m_session(session), m_maxLineBytes(maxLineBytes), m_inFd(inFd),
      m_out(std::make_shared<Outbox>(outFd))
{
    m_session.setSink([this](const QByteArray &message) { queue(message); });
    connect(&m_session, &protocol::McpServerSession::drained, this, &StdioTransport::maybeFinish);
}

namespace {

// Answers not yet written beyond which the reader stops reading requests.
constexpr qint64 kMaxBacklogBytes = 64 << 20;
// How long the destructor waits for the writer before leaving it blocked (a host that stopped
// reading): the process is ending then, and a thread blocked in write(2) ends with it.
constexpr int kWriterExitWaitMs = 2000;

} // namespace

StdioTransport::~StdioTransport()
{
    m_stopReading = true;
    if (m_wakeFds[1] >= 0)
        (void)::write(m_wakeFds[1], "x", 1);
    if (m_reader.joinable())
        m_reader.join();
    for (int fd : m_wakeFds) {
        if (fd >= 0)
            ::close(fd);
    }
    flush();
    const bool drained = drain(kWriterExitWaitMs);
    {
        std::lock_guard lock(m_out->mutex);
        m_out->stopWriting = true;
    }
    m_out->ready.notify_all();
    if (m_writer.joinable()) {
        if (drained)
            m_writer.join();
        else
            m_writer.detach(); // blocked in write(2) on a host that stopped reading
    }
}

void StdioTransport::start()
{
    if (::pipe2(m_wakeFds, O_CLOEXEC) != 0)
        qCWarning(lcStdio) << "pipe2 failed:" << strerror(errno);
    m_writer = std::thread([out = m_out] { writeLoop(*out); });
    m_reader = std::thread([this] { readLoop(); });
}

void StdioTransport::stop()
{
    m_session.setClosing();
    m_stopReading = true;
    if (m_wakeFds[1] >= 0)
        (void)::write(m_wakeFds[1], "x", 1);
    onEndOfInput();
}

// Reader thread: owns nothing but its buffer; talks to the transport only through queued calls.
void StdioTransport::readLoop()
{
    QPointer<StdioTransport> self(this);
    LineSplitter splitter(m_maxLineBytes);
    std::vector<char> buf(256 * 1024);
    for (;;) {
        if (m_stopReading)
            return;
        pollfd fds[2] = {{m_inFd, POLLIN, 0}, {m_wakeFds[0], POLLIN, 0}};
        const int nfds = m_wakeFds[0] >= 0 ? 2 : 1;
        // Back-pressure: while the host is not reading answers, do not read more requests.
        if (m_out->backlog.load() > kMaxBacklogBytes) {
            fds[0].events = 0;
            if (::poll(fds, nfds, 20) < 0 && errno != EINTR)
                break;
            continue;
        }
        if (::poll(fds, nfds, -1) < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        if (m_stopReading)
            return;
        const ssize_t n = ::read(m_inFd, buf.data(), buf.size());
        if (n < 0) {
            if (errno == EINTR || errno == EAGAIN)
                continue;
            qCWarning(lcStdio) << "reading stdin failed:" << strerror(errno);
            break;
        }
        if (n == 0)
            break;
        QList<QByteArray> lines;
        QList<qint64> oversized;
        splitter.feed(buf.data(), qsizetype(n), lines, oversized);
        if (!lines.isEmpty() || !oversized.isEmpty()) {
            QMetaObject::invokeMethod(this, [self, lines = std::move(lines), oversized = std::move(oversized)] {
                if (!self)
                    return;
                for (qint64 size : oversized)
                    self->onOversized(size);
                self->onLines(lines);
            }, Qt::QueuedConnection);
        }
    }
    // A last line without a newline still counts.
    if (QByteArray last = splitter.finish(); !last.isEmpty()) {
        QMetaObject::invokeMethod(this, [self, line = std::move(last)] {
            if (self)
                self->onLines({line});
        }, Qt::QueuedConnection);
    }
    QMetaObject::invokeMethod(this, [self] {
        if (self)
            self->onEndOfInput();
    }, Qt::QueuedConnection);
}

void StdioTransport::onLines(const QList<QByteArray> &lines)
{
    for (const QByteArray &line : lines)
        m_session.handle(line);
}

void StdioTransport::onOversized(qint64 size)
{
    qCWarning(lcStdio) << "skipped a request line of" << size << "bytes (limit" << m_maxLineBytes << ")";
    m_session.rejectOversized(size);
}

void StdioTransport::onEndOfInput()
{
    if (m_inputEnded)
        return;
    m_inputEnded = true;
    emit inputEnded();
    maybeFinish();
}

void StdioTransport::maybeFinish()
{
    if (!m_inputEnded || m_finished || m_session.pendingCount() > 0)
        return;
    m_finished = true;
    flush();
    emit finished();
}

void StdioTransport::queue(const QByteArray &message)
{
    m_outBuffer.append(message);
    m_outBuffer.append('\n');
    if (!m_flushScheduled) {
        m_flushScheduled = true;
        QTimer::singleShot(0, this, &StdioTransport::flush);
    }
}

void StdioTransport::flush()
{
    m_flushScheduled = false;
    if (m_outBuffer.isEmpty())
        return;
    m_out->backlog += m_outBuffer.size();
    {
        std::lock_guard lock(m_out->mutex);
        m_out->handedOver.append(m_outBuffer);
    }
    m_outBuffer.clear();
    m_out->ready.notify_one();
}

bool StdioTransport::drain(int timeoutMs)
{
    std::unique_lock lock(m_out->mutex);
    if (!m_writer.joinable())
        return m_out->handedOver.isEmpty();
    return m_out->drained.wait_for(lock, std::chrono::milliseconds(timeoutMs),
                                   [this] { return m_out->handedOver.isEmpty() && !m_out->writing; });
}

// Writer thread: writes what the transport's thread handed over, blocking as long as it takes.
void StdioTransport::writeLoop(Outbox &out)
{
    std::unique_lock lock(out.mutex);
    for (;;) {
        out.ready.wait(lock, [&out] { return out.stopWriting || !out.handedOver.isEmpty(); });
        if (out.handedOver.isEmpty()) {
            if (out.stopWriting)
                return;
            continue;
        }
        QByteArray chunk;
        chunk.swap(out.handedOver);
        out.writing = true;
        lock.unlock();
        const char *p = chunk.constData();
        qsizetype left = chunk.size();
        bool failed = false;
        while (left > 0) {
            const ssize_t n = ::write(out.fd, p, std::size_t(left));
            if (n < 0) {
                if (errno == EINTR)
                    continue;
                if (errno == EAGAIN) {
                    pollfd pfd{out.fd, POLLOUT, 0};
                    ::poll(&pfd, 1, 1000);
                    continue;
                }
                failed = true;
                break;
            }
            p += n;
            left -= n;
        }
        if (failed)
            qCWarning(lcStdio) << "writing stdout failed:" << strerror(errno);
        out.backlog -= chunk.size();
        lock.lock();
        out.writing = false;
        if (out.handedOver.isEmpty())
            out.drained.notify_all();
    }
}

} // namespace sidecar::transport
