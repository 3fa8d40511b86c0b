// LineSplitter: the stdio transport's line framing (see the header), moved out of its reader thread
// unchanged so that it can be fuzzed.

#include "transport/linesplitter.h"

#include <cstring>

namespace sidecar::transport {

void LineSplitter::feed(const char *data, qsizetype size, QList<QByteArray> &lines, QList<qint64> &oversized)
{
    const char *p = data;
    const char *end = p + size;
    while (p != end) {
        const char *nl = static_cast<const char *>(std::memchr(p, '\n', std::size_t(end - p)));
        const char *stop = nl ? nl : end;
        if (m_skipping >= 0) {
            m_skipping += stop - p;
            if (nl) {
                oversized.append(m_skipping);
                m_skipping = -1;
            }
        } else if (m_pending.size() + (stop - p) > m_maxLineBytes) {
            m_skipping = m_pending.size() + (stop - p);
            m_pending.clear();
            if (nl) {
                oversized.append(m_skipping);
                m_skipping = -1;
            }
        } else {
            m_pending.append(p, stop - p);
            if (nl) {
                if (m_pending.endsWith('\r'))
                    m_pending.chop(1);
                if (!m_pending.trimmed().isEmpty())
                    lines.append(m_pending);
                m_pending.clear();
            }
        }
        p = nl ? nl + 1 : end;
    }
}

QByteArray LineSplitter::finish()
{
    QByteArray last;
    if (!m_pending.trimmed().isEmpty())
        last = m_pending;
    m_pending.clear();
    m_skipping = -1;
    return last;
}

} // namespace sidecar::transport
