#pragma once

// Live changes for long-polls (state_watch) and, later, resource subscriptions: "give me the
// changes after revision R that match this filter, or wait until there are some, or until a
// deadline". Waiting costs a map entry and a timer, never a thread or a blocked event loop.
//
// The feed learns of commits from Store::changed(), which the store emits for its own writes
// and for those of other processes sharing the backend; on each, it re-reads the changes of the
// waiters that may have something new. A waiter is answered once: with the first non-empty
// batch, with `compacted`, at its deadline (no events), or by shutdown() (no events).
//
// Thread: lives on the Store's owning thread; callbacks run there.

#include <QHash>
#include <QObject>
#include <QTimer>

#include "store/store.h"

namespace sidecar::tools {

class ChangeFeed : public QObject
{
    Q_OBJECT
public:
    explicit ChangeFeed(store::Store &store, QObject *parent = nullptr);
    ~ChangeFeed() override;

    // Answers `done` with the changes after query.sinceRevision matching the query's filter,
    // waiting up to timeoutMs for the first one.
    void wait(const store::ChangesQuery &query, int timeoutMs, store::Callback<store::ChangesResult> done);

    // Answers every pending waiter now, with what it has (no events). New waits are answered
    // at once from then on.
    void shutdown();
    int pendingCount() const { return int(m_waiters.size()); }

private:
    struct Waiter
    {
        store::ChangesQuery query;
        store::Callback<store::ChangesResult> done;
        int timeoutMs = 0;
        QTimer *deadline = nullptr; // started after the first read found nothing
        std::int64_t knownRevision = 0; // the store's revision at the last read
        bool reading = false;           // a read is in flight
        bool again = false;             // a commit arrived during that read
    };

    void onChanged(qint64 revision);
    void poll(quint64 id);
    void startDeadline(quint64 id);
    void finish(quint64 id, store::ChangesResult result);

    store::Store &m_store;
    QHash<quint64, Waiter> m_waiters;
    quint64 m_nextId = 1;
    std::int64_t m_lastRevision = 0; // the highest revision the store announced
    bool m_closed = false;
};

} // namespace sidecar::tools
