#pragma once

// The framing of the stdio transport (MCP 2025-11-25, "Transports: stdio"): a byte stream cut into
// newline-delimited messages, whatever the boundaries of the reads that deliver it. A line ends at
// "\n" (a "\r" before it is dropped too); blank lines are skipped; a line longer than the limit is
// skipped as it streams by (never buffered whole) and reported by its size. StdioTransport's reader
// thread feeds it each read(2); tests/fuzz/fuzz_stdio.cpp feeds it arbitrary bytes in arbitrary pieces.
//
// Thread: plain data, used by one thread at a time.

#include <QByteArray>
#include <QList>

namespace sidecar::transport {

class LineSplitter
{
public:
    explicit LineSplitter(qint64 maxLineBytes) : m_maxLineBytes(maxLineBytes) {}

    // Splits the next piece of input: each line it completes is appended to `lines` (without its
    // line break), the size of each oversized line it completes to `oversized`.
    void feed(const char *data, qsizetype size, QList<QByteArray> &lines, QList<qint64> &oversized);
    // End of input: the last line when it had no newline and is not blank, else an empty array.
    // An unfinished oversized line is dropped without a report.
    QByteArray finish();

private:
    const qint64 m_maxLineBytes;
    QByteArray m_pending;   // the start of an unfinished line
    qint64 m_skipping = -1; // >= 0: inside an oversized line, bytes seen so far
};

} // namespace sidecar::transport
