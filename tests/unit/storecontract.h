#pragma once

// The storage contract suite: one test per behaviour of the Store seam (store.h), written only
// against that interface so that every backend (SqliteStore, later RedisStore) runs the same
// cases. A backend's test executable builds a StoreContract with a factory and runs it with
// QTest::qExec().
//
// Each test gets a fresh, empty, open store from the factory (init()) and destroys it in
// cleanup(); tests that need other limits ask for their own store with makeStore(options).
// Timing: TTL tests use deadlines of a few hundred milliseconds and wait for their effects
// with generous timeouts; no test asserts speed. Assertions about a live lease or claim use
// long TTLs so that a slow machine cannot make them lapse.
//
// Thread: runs on the test's main thread, which owns the stores and runs the event loop.

#include <QList>
#include <QObject>
#include <QStringList>

#include <functional>
#include <memory>

#include "store/store.h"

namespace sidecar::test {

class StoreContract : public QObject
{
    Q_OBJECT
public:
    // Returns a new, empty, open store with these options (a fresh file, database or prefix),
    // or nullptr when the backend cannot be set up.
    using Factory = std::function<std::unique_ptr<store::Store>(const store::StoreOptions &options)>;

    explicit StoreContract(Factory factory, QObject *parent = nullptr);

private slots:
    void init();
    void cleanup();

    // key-value
    void kvRoundTripKeepsExactText();
    void kvGetMissing();
    void kvVersionIsRevisionOfLastWrite();
    void kvIfVersionZeroCreatesOnlyIfAbsent();
    void kvIfVersionCompareAndSet();
    void kvDelete();
    void kvRequireLease();
    void kvRequireLeaseWithFence();
    void kvTtlExpiryInvisibleAndSwept();
    void kvSetWithoutTtlClearsTtl();
    void kvListPrefixIsLiteralAndByteOrdered();
    void kvListDelimiterRollsUpPrefixes();
    void kvListDelimiterPaging();
    void kvListPaging();
    void kvListCursorStableUnderConcurrentWrites();
    void kvListBadCursor();
    void kvListTooLargeWithoutLimit();
    void listsStayUnderReplyBudget();

    // workflows
    void wfCreateAndStatus();
    void wfIdempotencyKey();
    void wfDiscoverFilters();
    void wfDiscoverPaging();
    void wfClaimExactlyOneWinner();
    void wfHolderReclaimExtendsKeepingFence();
    void wfReclaimAfterLapseIsNewGrant();
    void wfOldHolderReclaimAfterLapse();
    void wfMaxAttempts();
    void wfHeartbeat();
    void wfCheckpointFenced();
    void wfCheckpointUnfenced();
    void wfComplete();
    void wfFinishedRunRefusesChanges();
    void wfResumeOrdersSteps();
    void wfUnknownRun();
    void wfClaimNext();
    void wfClaimNextSkipsFinishedRuns();

    // leases
    void leaseAcquireAndRefuse();
    void leaseReacquireExtendsKeepingFence();
    void leaseLapseGivesNewGreaterFence();
    void leaseRenew();
    void leaseReleaseWithFence();
    void leaseList();

    // sessions
    void sessionSaveRestore();
    void sessionListAndDelete();

    // MCP session records
    void mcpSessionRecords();
    void mcpSessionExpiry();

    // history and changes
    void historyLogFilters();
    void historyRecordsEveryKind();
    void changesSince();
    void changesCompactedAfterRetention();
    void historyMaxBytes();

    // store-wide
    void revisionStrictlyIncreasing();
    void resetClearsAndKeepsRevision();
    void healthCounts();
    void callbacksRunLaterOnOwningThread();
    void changedSignal();
    void closeAnswersEverything();

private:
    std::unique_ptr<store::Store> makeStore(const store::StoreOptions &options = {});

    Factory m_factory;
    std::unique_ptr<store::Store> m_store;
};

// Runs each suite with QTest::qExec(); test function names given on the command line go to
// whichever suite has them (options such as -o or -v2 go to all). Returns the OR of the results.
int runSuites(const QStringList &args, const QList<QObject *> &suites);

} // namespace sidecar::test
