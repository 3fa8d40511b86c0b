#pragma once

// The stdio transport (MCP 2025-11-25, "Transports: stdio"): newline-delimited JSON-RPC on
// the input descriptor, answers on the output descriptor, nothing else on it (logs go to
// stderr). Calls are handled concurrently: every complete line is handed to the session at
// once, and answers leave as they come, out of order, each with its id.
//
// Threads: a reader thread blocks in read(2) on the input, splits lines and posts them in
// batches to the transport's thread, where the session runs. Writes happen on the transport's
// thread; answers produced in one event-loop pass leave in one write(2).
// A line longer than the limit is skipped (never buffered whole) and answered with an error.
// At end of input the transport waits until every call has been answered, flushes, and emits
// finished().

#include <QByteArray>
#include <QObject>

#include <atomic>
#include <memory>
#include <thread>

namespace sidecar::protocol {
class McpServerSession;
}

namespace sidecar::transport {

class StdioTransport : public QObject
{
    Q_OBJECT
public:
    StdioTransport(protocol::McpServerSession &session, qint64 maxLineBytes, int inFd = 0, int outFd = 1,
                   QObject *parent = nullptr);
    ~StdioTransport() override;

    void start();
    // Stops reading (a shutdown): behaves as if input ended now.
    void stop();
    // Writes everything queued so far.
    void flush();

signals:
    // Input ended (or stop() was called), every call was answered and flushed.
    void finished();

private:
    void onLines(const QList<QByteArray> &lines);
    void onOversized(qint64 size);
    void onEndOfInput();
    void maybeFinish();
    void queue(const QByteArray &message);
    void readLoop();

    protocol::McpServerSession &m_session;
    const qint64 m_maxLineBytes;
    const int m_inFd;
    const int m_outFd;
    QByteArray m_outBuffer;
    bool m_flushScheduled = false;
    bool m_inputEnded = false;
    bool m_finished = false;
    std::atomic<bool> m_stopReading{false};
    std::thread m_reader;
    int m_wakeFds[2] = {-1, -1}; // a pipe that interrupts the reader's poll() on stop()
};

} // namespace sidecar::transport
