// Fuzz target "stdio": the stdio transport's line framing (libcore/transport/linesplitter.h).
//
// Input: the first byte sets the line limit (1-64 bytes, so that oversized lines are common), the
// rest is the stream. It is split whole, one byte at a time and in pieces of 2-17 bytes; the lines,
// the oversized reports and the unfinished last line must be the same whatever the pieces. Each
// line is within the limit, holds no newline and is not blank; what is reported never exceeds
// what came in.

#include <algorithm>

#include <QByteArray>
#include <QList>

#include "fuzzsupport.h"
#include "transport/linesplitter.h"

using namespace sidecar;

namespace {

struct Split
{
    QList<QByteArray> lines;
    QList<qint64> oversized;
    QByteArray last;

    bool operator==(const Split &) const = default;
};

Split split(const QByteArray &stream, qint64 maxLine, qsizetype piece)
{
    transport::LineSplitter splitter(maxLine);
    Split out;
    for (qsizetype at = 0; at < stream.size(); at += piece) {
        const qsizetype n = std::min(piece, stream.size() - at);
        splitter.feed(stream.constData() + at, n, out.lines, out.oversized);
    }
    out.last = splitter.finish();
    return out;
}

} // namespace

extern "C" int LLVMFuzzerInitialize(int *, char ***)
{
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size)
{
    if (size == 0)
        return 0;
    const qint64 maxLine = 1 + data[0] % 64;
    const QByteArray stream(reinterpret_cast<const char *>(data + 1), qsizetype(size - 1));

    const Split whole = split(stream, maxLine, std::max<qsizetype>(stream.size(), 1));
    qint64 reported = 0;
    for (const QByteArray &line : whole.lines) {
        FUZZ_CHECK(line.size() <= maxLine);
        FUZZ_CHECK(!line.contains('\n'));
        FUZZ_CHECK(!line.trimmed().isEmpty());
        reported += line.size();
    }
    for (qint64 n : whole.oversized) {
        FUZZ_CHECK(n > maxLine);
        reported += n;
    }
    FUZZ_CHECK(whole.last.size() <= maxLine && !whole.last.contains('\n'));
    reported += whole.last.size();
    FUZZ_CHECK(reported <= stream.size());

    FUZZ_CHECK(split(stream, maxLine, 1) == whole);
    FUZZ_CHECK(split(stream, maxLine, 2 + qsizetype(size % 16)) == whole);
    return 0;
}
