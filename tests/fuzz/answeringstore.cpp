// AnsweringStore: draining the answers it queued (see the header).

#include "answeringstore.h"

#include <QCoreApplication>

namespace sidecar::fuzz {

void AnsweringStore::drain()
{
    // An answer may start another call (a tool that reads twice), queued behind it: loop until the
    // queue stays empty. Bounded, so that a tool calling the store forever fails the fuzzer instead
    // of hanging it.
    for (int round = 0; m_pending > 0; ++round) {
        if (round >= 1000)
            qFatal("AnsweringStore::drain: the store is called without end");
        // Every receiver and type: only then does Qt drop the delivered entries from the thread's
        // event list (with a receiver given it keeps them, and the list grows by one per answer).
        QCoreApplication::sendPostedEvents();
    }
}

} // namespace sidecar::fuzz
