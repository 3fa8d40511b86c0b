#pragma once

// A Store for fuzzing the MCP session: it keeps nothing and answers every call on the next pass of
// the event loop (as the Store contract requires: never inside the call), either with an
// Unavailable error or with a default-constructed ("empty") result, as set by setFailing().
// drain() delivers every queued answer, so that one fuzz iteration ends with nothing in flight.
//
// Thread: the thread that created it (a QCoreApplication must exist).

#include "store/store.h"

namespace sidecar::fuzz {

class AnsweringStore : public store::Store
{
public:
    void setFailing(bool failing) { m_failing = failing; }
    // Delivers queued answers (and whatever they queue in turn) until none is left.
    void drain();
    int pending() const { return m_pending; }

    QString backendName() const override { return QStringLiteral("fuzz"); }
    void close() override { drain(); }

    void kvGet(const QString &, store::Callback<store::KvEntry> done) override { answer(std::move(done)); }
    void kvSet(const store::KvSetArgs &, store::Callback<store::KvWriteResult> done) override
    {
        answer(std::move(done));
    }
    void kvDelete(const store::KvDeleteArgs &, store::Callback<store::KvWriteResult> done) override
    {
        answer(std::move(done));
    }
    void kvList(const store::KvListArgs &, store::Callback<store::KvListResult> done) override
    {
        answer(std::move(done));
    }

    void workflowCreate(const store::WorkflowCreateArgs &,
                        store::Callback<store::WorkflowCreateResult> done) override
    {
        answer(std::move(done));
    }
    void workflowDiscover(const store::WorkflowDiscoverArgs &,
                          store::Callback<store::WorkflowListResult> done) override
    {
        answer(std::move(done));
    }
    void workflowClaim(const store::WorkflowClaimArgs &,
                       store::Callback<store::WorkflowClaimResult> done) override
    {
        answer(std::move(done));
    }
    void workflowClaimNext(const store::WorkflowClaimArgs &,
                           store::Callback<store::WorkflowClaimResult> done) override
    {
        answer(std::move(done));
    }
    void workflowHeartbeat(const store::WorkflowHeartbeatArgs &,
                           store::Callback<store::WorkflowHeartbeatResult> done) override
    {
        answer(std::move(done));
    }
    void workflowCheckpoint(const store::WorkflowCheckpointArgs &,
                            store::Callback<store::WorkflowCheckpointResult> done) override
    {
        answer(std::move(done));
    }
    void workflowComplete(const store::WorkflowCompleteArgs &,
                          store::Callback<store::WorkflowCompleteResult> done) override
    {
        answer(std::move(done));
    }
    void workflowResume(const QString &, store::Callback<store::WorkflowResumeResult> done) override
    {
        answer(std::move(done));
    }
    void workflowStatus(const QString &, store::Callback<store::WorkflowMeta> done) override
    {
        answer(std::move(done));
    }

    void leaseAcquire(const store::LeaseAcquireArgs &,
                      store::Callback<store::LeaseAcquireResult> done) override
    {
        answer(std::move(done));
    }
    void leaseRelease(const store::LeaseReleaseArgs &, store::Callback<bool> done) override
    {
        answer(std::move(done));
    }
    void leaseRenew(const store::LeaseRenewArgs &, store::Callback<store::LeaseRenewResult> done) override
    {
        answer(std::move(done));
    }
    void leaseList(const store::PrefixListArgs &, store::Callback<store::LeaseListResult> done) override
    {
        answer(std::move(done));
    }

    void sessionSave(const store::SessionSaveArgs &, store::Callback<store::SessionSaveResult> done) override
    {
        answer(std::move(done));
    }
    void sessionRestore(const QString &, store::Callback<store::SessionRestoreResult> done) override
    {
        answer(std::move(done));
    }
    void sessionList(const store::PrefixListArgs &, store::Callback<store::SessionListResult> done) override
    {
        answer(std::move(done));
    }
    void sessionDelete(const store::SessionDeleteArgs &, store::Callback<bool> done) override
    {
        answer(std::move(done));
    }

    void historyLog(const store::HistoryQuery &, store::Callback<store::HistoryResult> done) override
    {
        answer(std::move(done));
    }
    void changes(const store::ChangesQuery &, store::Callback<store::ChangesResult> done) override
    {
        answer(std::move(done));
    }

    void mcpSessionPut(const store::McpSessionRecord &, store::Callback<bool> done) override
    {
        answer(std::move(done));
    }
    void mcpSessionGet(const QByteArray &,
                       store::Callback<std::optional<store::McpSessionRecord>> done) override
    {
        answer(std::move(done));
    }
    void mcpSessionDelete(const QByteArray &, store::Callback<bool> done) override
    {
        answer(std::move(done));
    }

    void health(store::Callback<store::HealthInfo> done) override { answer(std::move(done)); }
    void reset(const QString &, store::Callback<store::ResetResult> done) override
    {
        answer(std::move(done));
    }

private:
    template<class T>
    void answer(store::Callback<T> done)
    {
        ++m_pending;
        const bool failing = m_failing;
        QMetaObject::invokeMethod(
            this,
            [this, failing, done = std::move(done)] {
                --m_pending;
                if (failing)
                    done(fail(ErrorCode::Unavailable,
                              QStringLiteral("the fuzz store answers every call with an error")));
                else
                    done(T{});
            },
            Qt::QueuedConnection);
    }

    bool m_failing = false;
    int m_pending = 0;
};

} // namespace sidecar::fuzz
