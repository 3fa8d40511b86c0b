#include "changefeed.h"

#include <QPointer>

namespace sidecar::tools {

ChangeFeed::ChangeFeed(store::Store &store, QObject *parent) : QObject(parent), m_store(store)
{
    connect(&m_store, &store::Store::changed, this, &ChangeFeed::onChanged);
}

ChangeFeed::~ChangeFeed()
{
    shutdown();
}

void ChangeFeed::wait(const store::ChangesQuery &query, int timeoutMs, store::Callback<store::ChangesResult> done)
{
    const quint64 id = m_nextId++;
    Waiter &w = m_waiters[id];
    w.query = query;
    w.done = std::move(done);
    w.timeoutMs = timeoutMs;
    // The deadline starts once the first read found nothing: a read is never cut short.
    poll(id);
}

void ChangeFeed::startDeadline(quint64 id)
{
    auto it = m_waiters.find(id);
    if (it == m_waiters.end() || it->deadline)
        return;
    it->deadline = new QTimer(this);
    it->deadline->setSingleShot(true);
    connect(it->deadline, &QTimer::timeout, this, [this, id] {
        auto w = m_waiters.find(id);
        if (w == m_waiters.end())
            return;
        // Only up to the last completed read is it known that nothing matched: a commit
        // announced since may hold an event this waiter has not seen.
        store::ChangesResult empty;
        empty.revision = w->knownRevision;
        finish(id, std::move(empty));
    });
    it->deadline->start(it->timeoutMs);
}

void ChangeFeed::shutdown()
{
    m_closed = true;
    const auto ids = m_waiters.keys();
    for (quint64 id : ids) {
        auto it = m_waiters.find(id);
        if (it == m_waiters.end())
            continue;
        store::ChangesResult empty;
        empty.revision = it->knownRevision > 0 ? it->knownRevision : it->query.sinceRevision;
        finish(id, std::move(empty));
    }
}

void ChangeFeed::onChanged(qint64 revision)
{
    m_lastRevision = std::max<std::int64_t>(m_lastRevision, revision);
    const auto ids = m_waiters.keys();
    for (quint64 id : ids) {
        auto it = m_waiters.find(id);
        if (it != m_waiters.end() && it->knownRevision < revision)
            poll(id);
    }
}

void ChangeFeed::poll(quint64 id)
{
    auto it = m_waiters.find(id);
    if (it == m_waiters.end())
        return;
    if (it->reading) {
        it->again = true;
        return;
    }
    it->reading = true;
    it->again = false;
    QPointer<ChangeFeed> self(this);
    m_store.changes(it->query, [self, id](Result<store::ChangesResult> result) {
        if (!self)
            return;
        auto w = self->m_waiters.find(id);
        if (w == self->m_waiters.end())
            return;
        w->reading = false;
        if (!result) {
            // The backend failed: answer with the error rather than wait blind.
            auto done = std::move(w->done);
            if (w->deadline)
                w->deadline->deleteLater();
            self->m_waiters.erase(w);
            done(tl::unexpected(result.error()));
            return;
        }
        if (!result->entries.empty() || result->compacted || self->m_closed || w->timeoutMs <= 0) {
            self->finish(id, std::move(*result));
            return;
        }
        w->knownRevision = result->revision;
        self->startDeadline(id);
        // A commit announced while this read ran (or before the wait began) may not be in it.
        if (w->again || self->m_lastRevision > w->knownRevision)
            self->poll(id);
    });
}

void ChangeFeed::finish(quint64 id, store::ChangesResult result)
{
    auto it = m_waiters.find(id);
    if (it == m_waiters.end())
        return;
    auto done = std::move(it->done);
    if (it->deadline)
        it->deadline->deleteLater();
    m_waiters.erase(it);
    done(std::move(result));
}

} // namespace sidecar::tools
