#pragma once

// The stdio transport (MCP 2025-11-25, "Transports: stdio"): newline-delimited JSON-RPC on
// the input descriptor, answers on the output descriptor, nothing else on it (logs go to
// stderr). Calls are handled concurrently: every complete line is handed to the session at
// once, and answers leave as they come, out of order, each with its id.
//
// Threads: a reader thread blocks in read(2) on the input, splits lines (LineSplitter) and posts them in
// batches to the transport's thread, where the session runs. Answers produced in one event-loop
// pass are handed together to a writer thread, which blocks in write(2) so that the event loop
// never does: a host that stops reading cannot stop the server from handling signals. When the
// unwritten answers pass a cap, the reader stops reading (back-pressure) until they drain.
// A line longer than the limit is skipped (never buffered whole) and answered with an error.
// At end of input the transport waits until every call has been answered, flushes, and emits
// finished().

#include <QByteArray>
#include <QObject>

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
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
    // Hands everything queued so far to the writer thread.
    void flush();
    // Waits up to timeoutMs until the writer has written everything handed to it.
    bool drain(int timeoutMs);

signals:
    // No more requests will come (end of input, or stop()): long waits should end now.
    void inputEnded();
    // Input ended (or stop() was called), every call was answered and flushed.
    void finished();

private:
    struct Outbox;
    void onLines(const QList<QByteArray> &lines);
    void onOversized(qint64 size);
    void onEndOfInput();
    void maybeFinish();
    void queue(const QByteArray &message);
    void readLoop();
    static void writeLoop(Outbox &out);

    protocol::McpServerSession &m_session;
    const qint64 m_maxLineBytes;
    const int m_inFd;
    QByteArray m_outBuffer;
    bool m_flushScheduled = false;
    bool m_inputEnded = false;
    bool m_finished = false;
    std::atomic<bool> m_stopReading{false};
    std::thread m_reader;
    int m_wakeFds[2] = {-1, -1}; // a pipe that interrupts the reader's poll() on stop()

    // Shared with the writer thread, guarded by mutex (backlog is atomic). Owned jointly: a writer
    // the destructor leaves blocked in write(2) may wake later (a signal, the host reading again)
    // and must then find its state alive, never the destroyed transport.
    struct Outbox
    {
        explicit Outbox(int outFd) : fd(outFd) {}
        const int fd;
        std::mutex mutex;
        std::condition_variable ready;   // data handed over, or stopping
        std::condition_variable drained; // everything handed over was written
        QByteArray handedOver;
        bool writing = false;
        bool stopWriting = false;
        std::atomic<qint64> backlog{0}; // bytes handed over and not yet written
    };
    const std::shared_ptr<Outbox> m_out;
    std::thread m_writer;
};

} // namespace sidecar::transport
