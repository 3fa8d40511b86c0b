#include "storecontract.h"

#include <QDateTime>
#include <QRegularExpression>
#include <QSet>
#include <QSignalSpy>
#include <QtTest>

#include <algorithm>
#include <map>

#include "testutil.h"

using namespace sidecar::store;

namespace sidecar::test {

namespace {

// Runs one Store operation and waits for its answer: CALL(Type, store, method, args...).
#define CALL(T, s, method, ...) \
    ::sidecar::test::await<T>([&](Callback<T> cb_) { (s).method(__VA_OPT__(__VA_ARGS__, ) std::move(cb_)); })

// Declares `var` as the value of a Result that must be successful.
#define REQUIRE_OK(var, expr)                                                         \
    auto var##_result = (expr);                                                       \
    QVERIFY2(var##_result.has_value(), qPrintable(describe(var##_result)));           \
    auto var = std::move(*var##_result)

// A Result that must be an error with this code.
#define REQUIRE_ERROR(expr, errorCode)                                                \
    do {                                                                              \
        auto e_ = (expr);                                                             \
        QVERIFY2(!e_.has_value(), "expected an error, got a result");                 \
        QVERIFY2(e_.error().code == (errorCode), qPrintable(describe(e_.error())));   \
        QVERIFY(!e_.error().message.isEmpty());                                       \
    } while (0)

double now()
{
    return double(QDateTime::currentMSecsSinceEpoch()) / 1000.0;
}

QString str(const char *s)
{
    return QString::fromUtf8(s);
}

Result<KvWriteResult> set(Store &s, const QString &key, const QByteArray &value,
                          std::optional<double> ttl = std::nullopt, std::optional<std::int64_t> ifVersion = std::nullopt,
                          std::optional<LeaseGuard> guard = std::nullopt, std::optional<QString> agent = std::nullopt)
{
    KvSetArgs a;
    a.key = key;
    a.value = value;
    a.ttlSeconds = ttl;
    a.ifVersion = ifVersion;
    a.requireLease = guard;
    a.agentId = agent;
    return CALL(KvWriteResult, s, kvSet, a);
}

Result<KvWriteResult> del(Store &s, const QString &key, std::optional<std::int64_t> ifVersion = std::nullopt,
                          std::optional<LeaseGuard> guard = std::nullopt)
{
    KvDeleteArgs a;
    a.key = key;
    a.ifVersion = ifVersion;
    a.requireLease = guard;
    return CALL(KvWriteResult, s, kvDelete, a);
}

Result<KvEntry> get(Store &s, const QString &key)
{
    return CALL(KvEntry, s, kvGet, key);
}

Result<KvListResult> list(Store &s, const QString &prefix = {}, std::optional<QChar> delimiter = std::nullopt,
                          std::optional<int> limit = std::nullopt, const QString &cursor = {})
{
    KvListArgs a;
    a.prefix = prefix;
    a.delimiter = delimiter;
    a.limit = limit;
    a.cursor = cursor;
    return CALL(KvListResult, s, kvList, a);
}

Result<WorkflowCreateResult> create(Store &s, const QString &name,
                                    std::vector<std::pair<QString, QString>> tags = {},
                                    std::optional<QByteArray> input = std::nullopt,
                                    std::optional<QString> idempotencyKey = std::nullopt,
                                    std::optional<std::int64_t> maxAttempts = std::nullopt)
{
    WorkflowCreateArgs a;
    a.name = name;
    a.tags = std::move(tags);
    a.input = input;
    a.idempotencyKey = idempotencyKey;
    a.maxAttempts = maxAttempts;
    return CALL(WorkflowCreateResult, s, workflowCreate, a);
}

WorkflowClaimArgs claimArgs(const QString &runId, const QString &agent, double ttl)
{
    WorkflowClaimArgs a;
    a.runId = runId;
    a.agentId = agent;
    a.ttlSeconds = ttl;
    return a;
}

Result<WorkflowClaimResult> claim(Store &s, const QString &runId, const QString &agent, double ttl = 60)
{
    return CALL(WorkflowClaimResult, s, workflowClaim, claimArgs(runId, agent, ttl));
}

Result<WorkflowCheckpointResult> checkpoint(Store &s, const QString &runId, std::int64_t step, const QByteArray &output,
                                            std::optional<QString> agent = std::nullopt,
                                            std::optional<std::int64_t> fence = std::nullopt)
{
    WorkflowCheckpointArgs a;
    a.runId = runId;
    a.step = step;
    a.output = output;
    a.agentId = agent;
    a.fence = fence;
    return CALL(WorkflowCheckpointResult, s, workflowCheckpoint, a);
}

Result<WorkflowHeartbeatResult> heartbeat(Store &s, const QString &runId, const QString &agent,
                                          std::optional<double> ttl = std::nullopt,
                                          std::optional<std::int64_t> fence = std::nullopt)
{
    WorkflowHeartbeatArgs a;
    a.runId = runId;
    a.agentId = agent;
    a.ttlSeconds = ttl;
    a.fence = fence;
    return CALL(WorkflowHeartbeatResult, s, workflowHeartbeat, a);
}

Result<WorkflowCompleteResult> complete(Store &s, const QString &runId, const QString &agent, const QString &status,
                                        std::optional<QByteArray> result = std::nullopt,
                                        std::optional<std::int64_t> fence = std::nullopt)
{
    WorkflowCompleteArgs a;
    a.runId = runId;
    a.agentId = agent;
    a.status = status;
    a.result = result;
    a.fence = fence;
    return CALL(WorkflowCompleteResult, s, workflowComplete, a);
}

Result<WorkflowMeta> status(Store &s, const QString &runId)
{
    return CALL(WorkflowMeta, s, workflowStatus, runId);
}

Result<WorkflowListResult> discover(Store &s, const WorkflowDiscoverArgs &a)
{
    return CALL(WorkflowListResult, s, workflowDiscover, a);
}

QStringList runIds(const WorkflowListResult &r)
{
    QStringList ids;
    for (const WorkflowMeta &m : r.runs)
        ids << m.runId;
    return ids;
}

Result<LeaseAcquireResult> acquire(Store &s, const QString &resource, const QString &holder, double ttl = 60)
{
    LeaseAcquireArgs a;
    a.resourceId = resource;
    a.holderId = holder;
    a.ttlSeconds = ttl;
    return CALL(LeaseAcquireResult, s, leaseAcquire, a);
}

Result<bool> release(Store &s, const QString &resource, const QString &holder,
                     std::optional<std::int64_t> fence = std::nullopt)
{
    LeaseReleaseArgs a;
    a.resourceId = resource;
    a.holderId = holder;
    a.fence = fence;
    return CALL(bool, s, leaseRelease, a);
}

Result<LeaseRenewResult> renew(Store &s, const QString &resource, const QString &holder, double ttl,
                               std::optional<std::int64_t> fence = std::nullopt)
{
    LeaseRenewArgs a;
    a.resourceId = resource;
    a.holderId = holder;
    a.ttlSeconds = ttl;
    a.fence = fence;
    return CALL(LeaseRenewResult, s, leaseRenew, a);
}

Result<SessionSaveResult> save(Store &s, const QString &id, const QByteArray &context)
{
    SessionSaveArgs a;
    a.sessionId = id;
    a.context = context;
    return CALL(SessionSaveResult, s, sessionSave, a);
}

Result<HistoryResult> history(Store &s, const QString &key = {}, const QString &prefix = {}, const QString &kind = {},
                              int n = 100, std::optional<std::int64_t> before = std::nullopt)
{
    HistoryQuery q;
    q.key = key;
    q.prefix = prefix;
    q.kind = kind;
    q.n = n;
    q.beforeRevision = before;
    return CALL(HistoryResult, s, historyLog, q);
}

Result<ChangesResult> changesAfter(Store &s, std::int64_t since, const QString &key = {}, const QString &prefix = {},
                                   const QString &kind = {}, int limit = 1000)
{
    ChangesQuery q;
    q.sinceRevision = since;
    q.key = key;
    q.prefix = prefix;
    q.kind = kind;
    q.limit = limit;
    return CALL(ChangesResult, s, changes, q);
}

Result<HealthInfo> healthOf(Store &s)
{
    return await<HealthInfo>([&](Callback<HealthInfo> cb) { s.health(std::move(cb)); });
}

// Collects the answers of operations issued together (without waiting in between).
template<class T>
struct Collector
{
    std::vector<std::optional<Result<T>>> results;
    int answered = 0;
    explicit Collector(int n) : results(std::size_t(n)) {}
    Callback<T> slot(int i)
    {
        return [this, i](Result<T> r) {
            results[std::size_t(i)] = std::move(r);
            ++answered;
        };
    }
    bool wait() { return waitUntil([this] { return answered == int(results.size()); }); }
};

} // namespace

StoreContract::StoreContract(Factory factory, QObject *parent) : QObject(parent), m_factory(std::move(factory)) {}

std::unique_ptr<Store> StoreContract::makeStore(const StoreOptions &options)
{
    return m_factory(options);
}

void StoreContract::init()
{
    m_store = makeStore();
    QVERIFY2(m_store, "the backend's factory returned no store");
}

void StoreContract::cleanup()
{
    if (m_store)
        m_store->close();
    m_store.reset();
}

// ---------------------------------------------------------------- key-value

void StoreContract::kvRoundTripKeepsExactText()
{
    Store &s = *m_store;
    const QList<QByteArray> values = {
        R"({"b":1,"a":[1.0,12345678901234567890123,-0.0]})",
        R"("a\u00e9\/b\n")",
        "\"\xc3\xa9\xf0\x9f\x98\x80\"", // é😀 as raw UTF-8
        "null",
        "0.1000",
        R"([{"z":{},"y":[]},"",true,false])",
    };
    int i = 0;
    for (const QByteArray &value : values) {
        const QString key = QStringLiteral("k%1").arg(i++);
        REQUIRE_OK(w, set(s, key, value, std::nullopt, std::nullopt, std::nullopt, QStringLiteral("agent-1")));
        QVERIFY(w.ok);
        QVERIFY(w.version > 0);
        QCOMPARE(qint64(w.revision), qint64(w.version));
        QVERIFY(!w.expiresAt);
        QVERIFY(!w.conflict);
        REQUIRE_OK(g, get(s, key));
        QVERIFY(g.found);
        QCOMPARE(g.key, key);
        QCOMPARE(g.value, value);
        QCOMPARE(qint64(g.version), qint64(w.version));
        QVERIFY(!g.expiresAt);
        QVERIFY(g.updatedAt > 0);
        QCOMPARE(g.agentId.value_or(QString()), QStringLiteral("agent-1"));
        QVERIFY(g.revision >= w.revision);
    }
    // Keys are any UTF-8 text.
    const QString odd = str("k\xc3\xa9 y/\xe2\x82\xac%_*");
    REQUIRE_OK(w, set(s, odd, "1"));
    QVERIFY(w.ok);
    REQUIRE_OK(g, get(s, odd));
    QVERIFY(g.found);
    QCOMPARE(g.value, QByteArray("1"));
}

void StoreContract::kvGetMissing()
{
    Store &s = *m_store;
    REQUIRE_OK(w, set(s, QStringLiteral("present"), "1"));
    REQUIRE_OK(g, get(s, QStringLiteral("absent")));
    QVERIFY(!g.found);
    QCOMPARE(g.key, QStringLiteral("absent"));
    QVERIFY(g.value.isEmpty());
    QVERIFY(g.revision >= w.revision); // the store's revision at the read
}

void StoreContract::kvVersionIsRevisionOfLastWrite()
{
    Store &s = *m_store;
    REQUIRE_OK(a1, set(s, QStringLiteral("a"), "1"));
    REQUIRE_OK(b1, set(s, QStringLiteral("b"), "1"));
    REQUIRE_OK(a2, set(s, QStringLiteral("a"), "2"));
    QVERIFY(b1.version > a1.version);
    QVERIFY(a2.version > b1.version);
    REQUIRE_OK(ga, get(s, QStringLiteral("a")));
    QCOMPARE(qint64(ga.version), qint64(a2.revision));
    REQUIRE_OK(gb, get(s, QStringLiteral("b")));
    QCOMPARE(qint64(gb.version), qint64(b1.revision));
    QCOMPARE(qint64(ga.revision), qint64(a2.revision));
}

void StoreContract::kvIfVersionZeroCreatesOnlyIfAbsent()
{
    Store &s = *m_store;
    REQUIRE_OK(first, set(s, QStringLiteral("once"), "1", std::nullopt, 0));
    QVERIFY(first.ok);
    REQUIRE_OK(second, set(s, QStringLiteral("once"), "2", std::nullopt, 0));
    QVERIFY(!second.ok);
    QVERIFY(second.conflict);
    QCOMPARE(qint64(second.currentVersion.value_or(-1)), qint64(first.version));
    QVERIFY(second.reason && !second.reason->isEmpty());
    REQUIRE_OK(g, get(s, QStringLiteral("once")));
    QCOMPARE(g.value, QByteArray("1"));
    QCOMPARE(qint64(g.version), qint64(first.version));
}

void StoreContract::kvIfVersionCompareAndSet()
{
    Store &s = *m_store;
    REQUIRE_OK(v1, set(s, QStringLiteral("cas"), "1"));
    REQUIRE_OK(v2, set(s, QStringLiteral("cas"), "2", std::nullopt, v1.version));
    QVERIFY(v2.ok);
    QVERIFY(v2.version > v1.version);
    REQUIRE_OK(stale, set(s, QStringLiteral("cas"), "3", std::nullopt, v1.version));
    QVERIFY(!stale.ok);
    QVERIFY(stale.conflict);
    QCOMPARE(qint64(stale.currentVersion.value_or(-1)), qint64(v2.version));
    REQUIRE_OK(absent, set(s, QStringLiteral("nothing"), "1", std::nullopt, 5));
    QVERIFY(!absent.ok);
    QVERIFY(absent.conflict);
    QCOMPARE(qint64(absent.currentVersion.value_or(-1)), qint64(0));
    // Deletes take the same condition.
    REQUIRE_OK(d1, del(s, QStringLiteral("cas"), v1.version));
    QVERIFY(!d1.ok);
    QVERIFY(d1.conflict);
    QCOMPARE(qint64(d1.currentVersion.value_or(-1)), qint64(v2.version));
    REQUIRE_OK(d2, del(s, QStringLiteral("cas"), v2.version));
    QVERIFY(d2.ok);
    REQUIRE_OK(g, get(s, QStringLiteral("cas")));
    QVERIFY(!g.found);
}

void StoreContract::kvDelete()
{
    Store &s = *m_store;
    REQUIRE_OK(missing, del(s, QStringLiteral("d")));
    QVERIFY(!missing.ok);
    QVERIFY(missing.reason && !missing.reason->isEmpty());
    REQUIRE_OK(w, set(s, QStringLiteral("d"), R"({"v": "x"})"));
    REQUIRE_OK(d, del(s, QStringLiteral("d")));
    QVERIFY(d.ok);
    QVERIFY(d.revision > w.revision);
    REQUIRE_OK(g, get(s, QStringLiteral("d")));
    QVERIFY(!g.found);
    REQUIRE_OK(again, del(s, QStringLiteral("d")));
    QVERIFY(!again.ok);
    REQUIRE_OK(h, history(s, QStringLiteral("d")));
    QVERIFY(!h.entries.empty());
    const HistoryEntry &e = h.entries.front();
    QCOMPARE(e.op, QStringLiteral("delete"));
    QCOMPARE(e.kind, QStringLiteral("kv"));
    QCOMPARE(qint64(e.revision), qint64(d.revision));
    QVERIFY(!e.newValue);
    QCOMPARE(e.previousValue.value_or(QByteArray()), QByteArray(R"({"v": "x"})"));
}

void StoreContract::kvRequireLease()
{
    Store &s = *m_store;
    const LeaseGuard guardA{QStringLiteral("L"), QStringLiteral("A"), std::nullopt};
    REQUIRE_OK(noLease, set(s, QStringLiteral("g"), "1", std::nullopt, std::nullopt, guardA));
    QVERIFY(!noLease.ok);
    QVERIFY(!noLease.conflict);
    QVERIFY(noLease.reason && !noLease.reason->isEmpty());

    REQUIRE_OK(b, acquire(s, QStringLiteral("L"), QStringLiteral("B")));
    QVERIFY(b.acquired);
    REQUIRE_OK(otherHolder, set(s, QStringLiteral("g"), "1", std::nullopt, std::nullopt, guardA));
    QVERIFY(!otherHolder.ok);
    QVERIFY(otherHolder.reason && otherHolder.reason->contains(QStringLiteral("B")));
    REQUIRE_OK(g0, get(s, QStringLiteral("g")));
    QVERIFY(!g0.found);

    REQUIRE_OK(released, release(s, QStringLiteral("L"), QStringLiteral("B")));
    QVERIFY(released);
    REQUIRE_OK(a, acquire(s, QStringLiteral("L"), QStringLiteral("A")));
    QVERIFY(a.acquired);
    REQUIRE_OK(held, set(s, QStringLiteral("g"), "2", std::nullopt, std::nullopt, guardA));
    QVERIFY(held.ok);
    REQUIRE_OK(delOther, del(s, QStringLiteral("g"), std::nullopt,
                             LeaseGuard{QStringLiteral("L"), QStringLiteral("B"), std::nullopt}));
    QVERIFY(!delOther.ok);
    REQUIRE_OK(delHeld, del(s, QStringLiteral("g"), std::nullopt, guardA));
    QVERIFY(delHeld.ok);

    // A lapsed lease guards nothing.
    REQUIRE_OK(shortLease, acquire(s, QStringLiteral("S"), QStringLiteral("A"), 0.2));
    QVERIFY(shortLease.acquired);
    QTest::qWait(400);
    REQUIRE_OK(lapsed, set(s, QStringLiteral("g"), "3", std::nullopt, std::nullopt,
                           LeaseGuard{QStringLiteral("S"), QStringLiteral("A"), std::nullopt}));
    QVERIFY(!lapsed.ok);
}

void StoreContract::kvRequireLeaseWithFence()
{
    Store &s = *m_store;
    REQUIRE_OK(a, acquire(s, QStringLiteral("L"), QStringLiteral("A")));
    QVERIFY(a.acquired && a.fence);
    const std::int64_t fence = *a.fence;
    REQUIRE_OK(right, set(s, QStringLiteral("f"), "1", std::nullopt, std::nullopt,
                          LeaseGuard{QStringLiteral("L"), QStringLiteral("A"), fence}));
    QVERIFY(right.ok);
    REQUIRE_OK(wrong, set(s, QStringLiteral("f"), "2", std::nullopt, std::nullopt,
                          LeaseGuard{QStringLiteral("L"), QStringLiteral("A"), fence + 1000}));
    QVERIFY(!wrong.ok);
    QVERIFY(wrong.reason && !wrong.reason->isEmpty());
    // After a release and a new grant to the same holder, the old fence no longer works.
    REQUIRE_OK(r, release(s, QStringLiteral("L"), QStringLiteral("A")));
    QVERIFY(r);
    REQUIRE_OK(a2, acquire(s, QStringLiteral("L"), QStringLiteral("A")));
    QVERIFY(a2.acquired && a2.fence && *a2.fence > fence);
    REQUIRE_OK(old, set(s, QStringLiteral("f"), "3", std::nullopt, std::nullopt,
                        LeaseGuard{QStringLiteral("L"), QStringLiteral("A"), fence}));
    QVERIFY(!old.ok);
    REQUIRE_OK(g, get(s, QStringLiteral("f")));
    QCOMPARE(g.value, QByteArray("1"));
}

void StoreContract::kvTtlExpiryInvisibleAndSwept()
{
    Store &s = *m_store;
    const double before = now();
    REQUIRE_OK(w, set(s, QStringLiteral("ttl"), R"({"t":1})", 0.3));
    QVERIFY(w.ok);
    QVERIFY(w.expiresAt);
    QVERIFY(*w.expiresAt >= before + 0.25 && *w.expiresAt <= now() + 0.35); // sub-second precision
    REQUIRE_OK(keep, set(s, QStringLiteral("ttl-keep"), "1"));
    // Once the deadline passed, the key is invisible whether or not it was swept yet.
    QVERIFY(waitUntil([&] { return now() > *w.expiresAt + 0.05; }));
    REQUIRE_OK(g, get(s, QStringLiteral("ttl")));
    QVERIFY(!g.found);
    REQUIRE_OK(l, list(s, QStringLiteral("ttl")));
    QCOMPARE(l.keys, QStringList{QStringLiteral("ttl-keep")});
    // The sweep records the expiry, with its own revision and the value it removed.
    std::optional<HistoryEntry> expiry;
    QVERIFY(waitUntil(
        [&] {
            auto h = history(s, QStringLiteral("ttl"));
            if (h && !h->entries.empty() && h->entries.front().op == QLatin1String("expire"))
                expiry = h->entries.front();
            return expiry.has_value();
        },
        5000));
    QCOMPARE(expiry->kind, QStringLiteral("kv"));
    QVERIFY(expiry->revision > keep.revision);
    QVERIFY(!expiry->newValue);
    QCOMPARE(expiry->previousValue.value_or(QByteArray()), QByteArray(R"({"t":1})"));
    // Exactly once.
    REQUIRE_OK(h, history(s, QStringLiteral("ttl")));
    QCOMPARE(std::count_if(h.entries.begin(), h.entries.end(),
                           [](const HistoryEntry &e) { return e.op == QLatin1String("expire"); }),
             std::ptrdiff_t(1));
    // Setting it again starts afresh (if_version 0 sees it absent).
    REQUIRE_OK(again, set(s, QStringLiteral("ttl"), "2", std::nullopt, 0));
    QVERIFY(again.ok);
}

void StoreContract::kvSetWithoutTtlClearsTtl()
{
    Store &s = *m_store;
    REQUIRE_OK(w1, set(s, QStringLiteral("t"), "1", 0.3));
    QVERIFY(w1.expiresAt);
    REQUIRE_OK(w2, set(s, QStringLiteral("t"), "2"));
    QVERIFY(!w2.expiresAt);
    QTest::qWait(600);
    REQUIRE_OK(g, get(s, QStringLiteral("t")));
    QVERIFY(g.found);
    QVERIFY(!g.expiresAt);
    QCOMPARE(g.value, QByteArray("2"));
}

void StoreContract::kvListPrefixIsLiteralAndByteOrdered()
{
    Store &s = *m_store;
    const QStringList keys = {str("a%b"),     str("a_b"), str("aXb"), str("A%b"), str("a%c"), str("ab"),
                              str("a\\b"),    str("e"),   str("z"),   str("a%"),  str("\xc3\xa9"),
                              str("\xef\xbd\x81"), str("a%\xc3\xa9")};
    for (const QString &k : keys) {
        REQUIRE_OK(w, set(s, k, "1"));
        QVERIFY(w.ok);
    }
    // Byte order of the UTF-8 text: upper case before lower case, non-ASCII after 'z'.
    QStringList expected = keys;
    std::sort(expected.begin(), expected.end(),
              [](const QString &x, const QString &y) { return x.toUtf8() < y.toUtf8(); });
    REQUIRE_OK(all, list(s));
    QCOMPARE(all.keys, expected);
    QVERIFY(!all.prefixes);
    QVERIFY(!all.nextCursor);
    QVERIFY(all.revision > 0);

    REQUIRE_OK(pct, list(s, str("a%")));
    QCOMPARE(pct.keys, (QStringList{str("a%"), str("a%b"), str("a%c"), str("a%\xc3\xa9")}));
    REQUIRE_OK(under, list(s, str("a_")));
    QCOMPARE(under.keys, QStringList{str("a_b")});
    REQUIRE_OK(upper, list(s, str("A")));
    QCOMPARE(upper.keys, QStringList{str("A%b")});
    REQUIRE_OK(backslash, list(s, str("a\\")));
    QCOMPARE(backslash.keys, QStringList{str("a\\b")});
    REQUIRE_OK(none, list(s, str("nothing")));
    QVERIFY(none.keys.isEmpty());
    REQUIRE_OK(accent, list(s, str("\xc3")));
    QVERIFY(accent.keys.isEmpty()); // a prefix is whole characters, not bytes
}

void StoreContract::kvListDelimiterRollsUpPrefixes()
{
    Store &s = *m_store;
    for (const char *k : {"a/1", "a/2", "a/b/1", "b", "c/x", "c/y/z", "d", "a/b/2"}) {
        REQUIRE_OK(w, set(s, str(k), "1"));
    }
    REQUIRE_OK(top, list(s, QString(), QChar(u'/')));
    QCOMPARE(top.keys, (QStringList{str("b"), str("d")}));
    QVERIFY(top.prefixes);
    QCOMPARE(*top.prefixes, (QStringList{str("a/"), str("c/")}));
    REQUIRE_OK(a, list(s, str("a/"), QChar(u'/')));
    QCOMPARE(a.keys, (QStringList{str("a/1"), str("a/2")}));
    QCOMPARE(*a.prefixes, QStringList{str("a/b/")});
    REQUIRE_OK(ab, list(s, str("a/b/"), QChar(u'/')));
    QCOMPARE(ab.keys, (QStringList{str("a/b/1"), str("a/b/2")}));
    QVERIFY(ab.prefixes && ab.prefixes->isEmpty());
}

void StoreContract::kvListDelimiterPaging()
{
    Store &s = *m_store;
    for (const char *k : {"a/1", "a/2", "a/b/1", "b", "c/x", "c/y/z", "d"}) {
        REQUIRE_OK(w, set(s, str(k), "1"));
    }
    // Each rolled-up prefix counts as one item toward the limit.
    QStringList seen;
    QString cursor;
    int pages = 0;
    do {
        REQUIRE_OK(page, list(s, QString(), QChar(u'/'), 1, cursor));
        QCOMPARE(page.keys.size() + (page.prefixes ? page.prefixes->size() : 0), qsizetype(1));
        seen << page.keys << page.prefixes.value_or(QStringList());
        cursor = page.nextCursor.value_or(QString());
        QVERIFY(++pages <= 10);
    } while (!cursor.isEmpty());
    QCOMPARE(seen, (QStringList{str("a/"), str("b"), str("c/"), str("d")}));
    REQUIRE_OK(two, list(s, QString(), QChar(u'/'), 3));
    QCOMPARE(two.keys, QStringList{str("b")});
    QCOMPARE(*two.prefixes, (QStringList{str("a/"), str("c/")}));
    QVERIFY(two.nextCursor);
    REQUIRE_OK(rest, list(s, QString(), QChar(u'/'), 3, *two.nextCursor));
    QCOMPARE(rest.keys, QStringList{str("d")});
    QVERIFY(!rest.nextCursor);
}

void StoreContract::kvListPaging()
{
    Store &s = *m_store;
    Collector<KvWriteResult> writes(25);
    for (int i = 0; i < 25; ++i) {
        KvSetArgs a;
        a.key = QStringLiteral("k%1").arg(i, 2, 10, QLatin1Char('0'));
        a.value = "1";
        s.kvSet(a, writes.slot(i));
    }
    QVERIFY(writes.wait());
    REQUIRE_OK(p1, list(s, str("k"), std::nullopt, 10));
    QCOMPARE(p1.keys.size(), qsizetype(10));
    QCOMPARE(p1.keys.front(), str("k00"));
    QVERIFY(p1.nextCursor);
    REQUIRE_OK(p2, list(s, str("k"), std::nullopt, 10, *p1.nextCursor));
    QCOMPARE(p2.keys.front(), str("k10"));
    QCOMPARE(p2.keys.size(), qsizetype(10));
    QVERIFY(p2.nextCursor);
    REQUIRE_OK(p3, list(s, str("k"), std::nullopt, 10, *p2.nextCursor));
    QCOMPARE(p3.keys.size(), qsizetype(5));
    QCOMPARE(p3.keys.back(), str("k24"));
    QVERIFY(!p3.nextCursor);
    // A cursor without limit goes on with pages of 1000: here, everything left.
    REQUIRE_OK(rest, list(s, str("k"), std::nullopt, std::nullopt, *p1.nextCursor));
    QCOMPARE(rest.keys.size(), qsizetype(15));
    QVERIFY(!rest.nextCursor);
    // An exact fit has no cursor.
    REQUIRE_OK(exact, list(s, str("k"), std::nullopt, 25));
    QCOMPARE(exact.keys.size(), qsizetype(25));
    QVERIFY(!exact.nextCursor);
    REQUIRE_ERROR(list(s, str("k"), std::nullopt, 0), ErrorCode::InvalidArgument);
    REQUIRE_ERROR(list(s, str("k"), std::nullopt, 10001), ErrorCode::InvalidArgument);
}

void StoreContract::kvListCursorStableUnderConcurrentWrites()
{
    Store &s = *m_store;
    QStringList original;
    Collector<KvWriteResult> writes(30);
    for (int i = 0; i < 30; ++i) {
        KvSetArgs a;
        a.key = QStringLiteral("k%1").arg(10 + i);
        a.value = "1";
        original << a.key;
        s.kvSet(a, writes.slot(i));
    }
    QVERIFY(writes.wait());
    QStringList seen;
    QString cursor;
    int round = 0;
    do {
        REQUIRE_OK(page, list(s, str("k"), std::nullopt, 7, cursor));
        seen << page.keys;
        cursor = page.nextCursor.value_or(QString());
        // Between pages: insert keys before and after the position, and rewrite seen ones.
        REQUIRE_OK(w1, set(s, QStringLiteral("k10%1").arg(round), "new"));
        REQUIRE_OK(w2, set(s, QStringLiteral("k39%1").arg(round), "new"));
        REQUIRE_OK(w3, set(s, original.front(), "rewritten"));
        ++round;
        QVERIFY(round < 40);
    } while (!cursor.isEmpty());
    // No key twice; every key that existed throughout exactly once.
    QCOMPARE(QSet<QString>(seen.begin(), seen.end()).size(), seen.size());
    for (const QString &k : original)
        QCOMPARE(seen.count(k), qsizetype(1));
    QVERIFY(std::is_sorted(seen.begin(), seen.end(),
                           [](const QString &x, const QString &y) { return x.toUtf8() < y.toUtf8(); }));
}

void StoreContract::kvListBadCursor()
{
    Store &s = *m_store;
    for (int i = 0; i < 5; ++i) {
        REQUIRE_OK(w, set(s, QStringLiteral("k%1").arg(i), "1"));
    }
    REQUIRE_OK(page, list(s, str("k"), std::nullopt, 2));
    QVERIFY(page.nextCursor);
    REQUIRE_ERROR(list(s, str("k"), std::nullopt, 2, str("garbage!!")), ErrorCode::InvalidArgument);
    REQUIRE_ERROR(list(s, str("k"), std::nullopt, 2, str("eyJ2IjoxfQ")), ErrorCode::InvalidArgument);
    REQUIRE_ERROR(list(s, str("j"), std::nullopt, 2, *page.nextCursor), ErrorCode::InvalidArgument);
    REQUIRE_ERROR(list(s, str("k"), QChar(u'/'), 2, *page.nextCursor), ErrorCode::InvalidArgument);
    PrefixListArgs leases;
    leases.prefix = str("k");
    leases.limit = 2;
    leases.cursor = *page.nextCursor;
    REQUIRE_ERROR(CALL(LeaseListResult, s, leaseList, leases), ErrorCode::InvalidArgument);
    REQUIRE_OK(ok, list(s, str("k"), std::nullopt, 2, *page.nextCursor));
    QCOMPARE(ok.keys, (QStringList{str("k2"), str("k3")}));
}

void StoreContract::kvListTooLargeWithoutLimit()
{
    StoreOptions options;
    options.maxList = 5;
    auto small = makeStore(options);
    QVERIFY(small);
    Store &s = *small;
    for (int i = 0; i < 6; ++i) {
        REQUIRE_OK(w, set(s, QStringLiteral("k%1").arg(i), "1"));
    }
    REQUIRE_ERROR(list(s), ErrorCode::TooLarge);
    REQUIRE_ERROR(list(s, str("k")), ErrorCode::TooLarge);
    // Paging is the way through.
    REQUIRE_OK(paged, list(s, str("k"), std::nullopt, 10));
    QCOMPARE(paged.keys.size(), qsizetype(6));
    // Exactly maxList matches is fine.
    REQUIRE_OK(d, del(s, str("k0")));
    QVERIFY(d.ok);
    REQUIRE_OK(five, list(s));
    QCOMPARE(five.keys.size(), qsizetype(5));
    // The same rule for the other lists.
    for (int i = 0; i < 6; ++i) {
        REQUIRE_OK(c, create(s, str("job")));
    }
    REQUIRE_ERROR(discover(s, WorkflowDiscoverArgs{}), ErrorCode::TooLarge);
    WorkflowDiscoverArgs pagedRuns;
    pagedRuns.limit = 100;
    REQUIRE_OK(runs, discover(s, pagedRuns));
    QCOMPARE(runs.runs.size(), std::size_t(6));
}

void StoreContract::listsStayUnderReplyBudget()
{
    StoreOptions options;
    options.maxReplyBytes = 4096;
    auto small = makeStore(options);
    QVERIFY(small);
    Store &s = *small;
    const QString longName = QString(200, u'x');
    QStringList keys;
    QStringList runs;
    for (int i = 0; i < 20; ++i) {
        keys << QStringLiteral("%1-%2").arg(longName).arg(i, 2, 10, QLatin1Char('0'));
        REQUIRE_OK(w, set(s, keys.back(), "1"));
        REQUIRE_OK(c, create(s, str("big"), {}, '"' + QByteArray(1000, 'i') + '"'));
        runs.prepend(c.run.runId);
    }
    // Unpaged: every match or too_large, never a silently cut list.
    REQUIRE_ERROR(list(s), ErrorCode::TooLarge);
    REQUIRE_ERROR(discover(s, WorkflowDiscoverArgs{}), ErrorCode::TooLarge);
    // Paged: pages stop early, with a cursor, and together hold everything once.
    QStringList seenKeys;
    QString cursor;
    int pages = 0;
    do {
        REQUIRE_OK(page, list(s, QString(), std::nullopt, 1000, cursor));
        QVERIFY(!page.keys.isEmpty());
        seenKeys << page.keys;
        cursor = page.nextCursor.value_or(QString());
        QVERIFY(++pages < 100);
    } while (!cursor.isEmpty());
    QVERIFY(pages > 1);
    QCOMPARE(seenKeys, keys);
    QStringList seenRuns;
    WorkflowDiscoverArgs a;
    a.limit = 1000;
    pages = 0;
    for (;;) {
        REQUIRE_OK(page, discover(s, a));
        QVERIFY(!page.runs.empty());
        seenRuns << runIds(page);
        QVERIFY(++pages < 100);
        if (!page.nextCursor)
            break;
        a.cursor = *page.nextCursor;
    }
    QVERIFY(pages > 1);
    QCOMPARE(seenRuns, runs);
}

// ---------------------------------------------------------------- workflows

void StoreContract::wfCreateAndStatus()
{
    Store &s = *m_store;
    const double before = now();
    REQUIRE_OK(c, create(s, str("build"), {{str("team"), str("a")}, {str("env"), str("prod")}},
                         QByteArray(R"({"x":[1,2.50],"big":12345678901234567890})"), std::nullopt, 3));
    QVERIFY(c.created);
    QVERIFY(QRegularExpression(QStringLiteral("^wf-[0-9a-f]{12}$")).match(c.run.runId).hasMatch());
    QCOMPARE(c.run.name, str("build"));
    QCOMPARE(c.run.status, str("created"));
    QVERIFY(c.run.createdAt >= before - 1 && c.run.createdAt <= now() + 1);
    REQUIRE_OK(m, status(s, c.run.runId));
    QCOMPARE(m.runId, c.run.runId);
    QCOMPARE(m.name, str("build"));
    QCOMPARE(m.status, str("created"));
    QCOMPARE(m.tags.size(), std::size_t(2));
    QCOMPARE(m.tags[0].first, str("team")); // in the order sent
    QCOMPARE(m.tags[1].second, str("prod"));
    QCOMPARE(m.input.value_or(QByteArray()), QByteArray(R"({"x":[1,2.50],"big":12345678901234567890})"));
    QVERIFY(!m.result);
    QCOMPARE(qint64(m.lastStep), qint64(0));
    QVERIFY(!m.agentId);
    QVERIFY(!m.claimExpiresAt);
    QVERIFY(!m.fence);
    QCOMPARE(qint64(m.maxAttempts.value_or(0)), qint64(3));
    QCOMPARE(m.createdAt, c.run.createdAt);
    QVERIFY(m.updatedAt >= m.createdAt);
    // Two runs never share an id.
    REQUIRE_OK(c2, create(s, str("build")));
    QVERIFY(c2.run.runId != c.run.runId);
}

void StoreContract::wfIdempotencyKey()
{
    Store &s = *m_store;
    REQUIRE_OK(first, create(s, str("ingest"), {}, std::nullopt, str("idem-1")));
    QVERIFY(first.created);
    REQUIRE_OK(cl, claim(s, first.run.runId, str("A")));
    QVERIFY(cl.claimed);
    REQUIRE_OK(again, create(s, str("ingest"), {}, std::nullopt, str("idem-1")));
    QVERIFY(!again.created);
    QCOMPARE(again.run.runId, first.run.runId);
    QCOMPARE(again.run.status, str("claimed")); // as it is now
    REQUIRE_ERROR(create(s, str("other"), {}, std::nullopt, str("idem-1")), ErrorCode::Conflict);
    REQUIRE_OK(other, create(s, str("ingest"), {}, std::nullopt, str("idem-2")));
    QVERIFY(other.created);
    QVERIFY(other.run.runId != first.run.runId);
}

void StoreContract::wfDiscoverFilters()
{
    Store &s = *m_store;
    REQUIRE_OK(r1, create(s, str("a"), {{str("env"), str("prod")}}));
    REQUIRE_OK(r2, create(s, str("b"), {{str("env"), str("dev")}}));
    REQUIRE_OK(r3, create(s, str("a"), {{str("env"), str("prod")}, {str("team"), str("x")}}));
    const QString id1 = r1.run.runId, id2 = r2.run.runId, id3 = r3.run.runId;

    REQUIRE_OK(all, discover(s, {}));
    QCOMPARE(runIds(all), (QStringList{id3, id2, id1})); // newest first
    QVERIFY(!all.nextCursor);

    WorkflowDiscoverArgs a;
    a.tags = {{str("env"), str("prod")}};
    REQUIRE_OK(prod, discover(s, a));
    QCOMPARE(runIds(prod), (QStringList{id3, id1}));
    a.tags = {{str("team"), str("x")}, {str("env"), str("prod")}};
    REQUIRE_OK(both, discover(s, a));
    QCOMPARE(runIds(both), QStringList{id3});
    QCOMPARE(both.runs.front().tags.size(), std::size_t(2));
    a.tags = {{str("env"), str("PROD")}};
    REQUIRE_OK(caseSensitive, discover(s, a));
    QVERIFY(caseSensitive.runs.empty());

    WorkflowDiscoverArgs byName;
    byName.name = str("a");
    REQUIRE_OK(named, discover(s, byName));
    QCOMPARE(runIds(named), (QStringList{id3, id1}));

    REQUIRE_OK(cl, claim(s, id1, str("A")));
    QVERIFY(cl.claimed);
    WorkflowDiscoverArgs claimable;
    claimable.claimable = true;
    REQUIRE_OK(freeRuns, discover(s, claimable));
    QCOMPARE(runIds(freeRuns), (QStringList{id3, id2}));
    claimable.claimable = false;
    REQUIRE_OK(taken, discover(s, claimable));
    QCOMPARE(runIds(taken), QStringList{id1});
    WorkflowDiscoverArgs byStatus;
    byStatus.status = str("claimed");
    REQUIRE_OK(claimed, discover(s, byStatus));
    QCOMPARE(runIds(claimed), QStringList{id1});
    QCOMPARE(claimed.runs.front().agentId.value_or(QString()), str("A"));
    QVERIFY(claimed.runs.front().fence);
    byStatus.status = str("done");
    REQUIRE_OK(done, discover(s, byStatus));
    QVERIFY(done.runs.empty());
}

void StoreContract::wfDiscoverPaging()
{
    Store &s = *m_store;
    QStringList created;
    for (int i = 0; i < 7; ++i) {
        REQUIRE_OK(c, create(s, str("p"), {{str("k"), str("v")}}));
        created.prepend(c.run.runId); // newest first
    }
    WorkflowDiscoverArgs a;
    a.tags = {{str("k"), str("v")}};
    a.limit = 3;
    QStringList seen;
    int pages = 0;
    for (;;) {
        REQUIRE_OK(page, discover(s, a));
        seen << runIds(page);
        ++pages;
        // A run created between pages is newer than the cursor: not in later pages.
        REQUIRE_OK(extra, create(s, str("p"), {{str("k"), str("v")}}));
        if (!page.nextCursor)
            break;
        a.cursor = *page.nextCursor;
        QVERIFY(pages < 10);
    }
    QCOMPARE(seen, created);
    QCOMPARE(pages, 3);
    // The cursor is bound to the filters.
    WorkflowDiscoverArgs first;
    first.tags = {{str("k"), str("v")}};
    first.limit = 2;
    REQUIRE_OK(p1, discover(s, first));
    QVERIFY(p1.nextCursor);
    WorkflowDiscoverArgs other;
    other.name = str("p");
    other.limit = 2;
    other.cursor = *p1.nextCursor;
    REQUIRE_ERROR(discover(s, other), ErrorCode::InvalidArgument);
    // Without limit, a cursor goes on to the end.
    first.limit.reset();
    first.cursor = *p1.nextCursor;
    REQUIRE_OK(rest, discover(s, first));
    QVERIFY(!rest.nextCursor);
    QVERIFY(rest.runs.size() >= 7 - 2);
}

void StoreContract::wfClaimExactlyOneWinner()
{
    Store &s = *m_store;
    REQUIRE_OK(c, create(s, str("race")));
    const int n = 20;
    Collector<WorkflowClaimResult> claims(n);
    for (int i = 0; i < n; ++i)
        s.workflowClaim(claimArgs(c.run.runId, QStringLiteral("agent-%1").arg(i), 60), claims.slot(i));
    QVERIFY(claims.wait());
    int winners = 0;
    QString winner;
    std::int64_t fence = 0;
    for (const auto &r : claims.results) {
        QVERIFY2(r && r->has_value(), "a claim failed");
        const WorkflowClaimResult &res = **r;
        QCOMPARE(res.runId.value_or(QString()), c.run.runId);
        if (res.claimed) {
            ++winners;
            winner = res.agentId.value_or(QString());
            QVERIFY(!res.reason);
            QVERIFY(res.fence && *res.fence > 0);
            fence = *res.fence;
            QCOMPARE(qint64(res.attempt.value_or(0)), qint64(1));
            QVERIFY(res.claimExpiresAt && *res.claimExpiresAt > now());
        }
    }
    QCOMPARE(winners, 1);
    for (const auto &r : claims.results) {
        const WorkflowClaimResult &res = **r;
        if (!res.claimed) {
            QVERIFY(!res.agentId); // a lost claim has agent_id null
            QVERIFY(res.reason && res.reason->contains(winner)); // and names the holder
            QVERIFY(!res.fence);
        }
    }
    REQUIRE_OK(m, status(s, c.run.runId));
    QCOMPARE(m.status, str("claimed"));
    QCOMPARE(m.agentId.value_or(QString()), winner);
    QCOMPARE(qint64(m.fence.value_or(0)), qint64(fence));
    QCOMPARE(qint64(m.attempt.value_or(0)), qint64(1));
}

void StoreContract::wfHolderReclaimExtendsKeepingFence()
{
    Store &s = *m_store;
    REQUIRE_OK(c, create(s, str("x")));
    REQUIRE_OK(first, claim(s, c.run.runId, str("A"), 60));
    QVERIFY(first.claimed);
    REQUIRE_OK(again, claim(s, c.run.runId, str("A"), 120));
    QVERIFY(again.claimed);
    QCOMPARE(qint64(*again.fence), qint64(*first.fence));
    QCOMPARE(qint64(*again.attempt), qint64(1));
    QVERIFY(*again.claimExpiresAt > *first.claimExpiresAt + 30);
    // Every TTL set means now + ttl, even a shorter one.
    REQUIRE_OK(shorter, claim(s, c.run.runId, str("A"), 30));
    QVERIFY(shorter.claimed);
    QVERIFY(*shorter.claimExpiresAt < *again.claimExpiresAt);
    REQUIRE_OK(other, claim(s, c.run.runId, str("B"), 60));
    QVERIFY(!other.claimed);
    QVERIFY(other.reason->contains(str("A")));
}

void StoreContract::wfReclaimAfterLapseIsNewGrant()
{
    Store &s = *m_store;
    REQUIRE_OK(c, create(s, str("lapse")));
    const QString id = c.run.runId;
    REQUIRE_OK(a, claim(s, id, str("A"), 0.2));
    QVERIFY(a.claimed);
    REQUIRE_OK(cp, checkpoint(s, id, 1, R"({"done":1})")); // unfenced: accepted any time
    QVERIFY(cp.ok);
    QTest::qWait(400);
    // The lapse wrote nothing: the status stays, claim_expires_at in the past shows it.
    REQUIRE_OK(m, status(s, id));
    QCOMPARE(m.status, str("running"));
    QVERIFY(m.claimExpiresAt && *m.claimExpiresAt < now());
    WorkflowDiscoverArgs claimable;
    claimable.claimable = true;
    REQUIRE_OK(freeRuns, discover(s, claimable));
    QCOMPARE(runIds(freeRuns), QStringList{id});
    REQUIRE_OK(b, claim(s, id, str("B"), 60));
    QVERIFY(b.claimed);
    QVERIFY(*b.fence > *a.fence);
    QCOMPARE(qint64(*b.attempt), qint64(2));
    // The old holder's grant is gone; checkpoints are kept.
    REQUIRE_OK(oldHb, heartbeat(s, id, str("A")));
    QVERIFY(!oldHb.ok);
    REQUIRE_OK(oldCp, checkpoint(s, id, 2, "2", std::nullopt, *a.fence));
    QVERIFY(!oldCp.ok);
    REQUIRE_OK(resume, CALL(WorkflowResumeResult, s, workflowResume, id));
    QCOMPARE(resume.stepOutputs.size(), std::size_t(1));
    QCOMPARE(resume.stepOutputs[0].second, QByteArray(R"({"done":1})"));
    REQUIRE_OK(again, claim(s, id, str("A"), 60));
    QVERIFY(!again.claimed);
}

void StoreContract::wfOldHolderReclaimAfterLapse()
{
    Store &s = *m_store;
    REQUIRE_OK(c, create(s, str("lapse")));
    REQUIRE_OK(a1, claim(s, c.run.runId, str("A"), 0.2));
    QVERIFY(a1.claimed);
    QTest::qWait(400);
    REQUIRE_OK(a2, claim(s, c.run.runId, str("A"), 60));
    QVERIFY(a2.claimed);
    QVERIFY(*a2.fence > *a1.fence); // a new grant, not an extension
    QCOMPARE(qint64(*a2.attempt), qint64(2));
}

void StoreContract::wfMaxAttempts()
{
    Store &s = *m_store;
    REQUIRE_OK(c, create(s, str("fragile"), {}, std::nullopt, std::nullopt, 2));
    const QString id = c.run.runId;
    REQUIRE_OK(a, claim(s, id, str("A"), 0.2));
    QVERIFY(a.claimed);
    QTest::qWait(400);
    REQUIRE_OK(b, claim(s, id, str("B"), 0.2));
    QVERIFY(b.claimed);
    QCOMPARE(qint64(*b.attempt), qint64(2));
    QTest::qWait(400);
    REQUIRE_OK(third, claim(s, id, str("C"), 60));
    QVERIFY(!third.claimed);
    QCOMPARE(third.reason.value_or(QString()), str("max attempts reached"));
    QVERIFY(!third.agentId);
    REQUIRE_OK(m, status(s, id));
    QCOMPARE(m.status, str("failed"));
    REQUIRE_OK(h, history(s, id));
    QVERIFY(!h.entries.empty());
    QCOMPARE(h.entries.front().op, str("complete"));
    QVERIFY(h.entries.front().newValue && h.entries.front().newValue->contains("failed"));
    WorkflowDiscoverArgs claimable;
    claimable.claimable = true;
    REQUIRE_OK(freeRuns, discover(s, claimable));
    QVERIFY(freeRuns.runs.empty());
}

void StoreContract::wfHeartbeat()
{
    Store &s = *m_store;
    REQUIRE_OK(c, create(s, str("hb")));
    const QString id = c.run.runId;
    REQUIRE_OK(a, claim(s, id, str("A"), 60));
    REQUIRE_OK(longer, heartbeat(s, id, str("A"), 120.0));
    QVERIFY(longer.ok);
    QCOMPARE(longer.runId, id);
    QVERIFY(*longer.claimExpiresAt > now() + 100);
    REQUIRE_OK(own, heartbeat(s, id, str("A"))); // by the claim's own ttl
    QVERIFY(own.ok);
    QVERIFY(*own.claimExpiresAt > now() + 50 && *own.claimExpiresAt < now() + 70);
    REQUIRE_OK(other, heartbeat(s, id, str("B")));
    QVERIFY(!other.ok);
    QVERIFY(other.reason && !other.reason->isEmpty());
    REQUIRE_OK(badFence, heartbeat(s, id, str("A"), std::nullopt, *a.fence + 1000));
    QVERIFY(!badFence.ok);
    REQUIRE_OK(goodFence, heartbeat(s, id, str("A"), std::nullopt, *a.fence));
    QVERIFY(goodFence.ok);
    REQUIRE_OK(m, status(s, id));
    QCOMPARE(qint64(*m.fence), qint64(*a.fence)); // heartbeats keep the grant
    // A lapsed claim cannot be heartbeaten back.
    REQUIRE_OK(c2, create(s, str("hb")));
    REQUIRE_OK(a2, claim(s, c2.run.runId, str("A"), 0.2));
    QTest::qWait(400);
    REQUIRE_OK(late, heartbeat(s, c2.run.runId, str("A")));
    QVERIFY(!late.ok);
}

void StoreContract::wfCheckpointFenced()
{
    Store &s = *m_store;
    REQUIRE_OK(c, create(s, str("cp")));
    const QString id = c.run.runId;
    REQUIRE_OK(a, claim(s, id, str("A"), 60));
    REQUIRE_OK(byAgent, checkpoint(s, id, 1, R"({"a":1})", str("A")));
    QVERIFY(byAgent.ok);
    QVERIFY(byAgent.revision && *byAgent.revision > *a.fence);
    QCOMPARE(qint64(byAgent.step), qint64(1));
    REQUIRE_OK(m1, status(s, id));
    QCOMPARE(m1.status, str("running"));
    QCOMPARE(qint64(m1.lastStep), qint64(1));
    REQUIRE_OK(other, checkpoint(s, id, 2, "2", str("B")));
    QVERIFY(!other.ok);
    QVERIFY(other.reason && !other.reason->isEmpty());
    REQUIRE_OK(stale, checkpoint(s, id, 2, "2", std::nullopt, *a.fence + 1000));
    QVERIFY(!stale.ok);
    REQUIRE_OK(byFence, checkpoint(s, id, 2, "2", std::nullopt, *a.fence));
    QVERIFY(byFence.ok);
    REQUIRE_OK(both, checkpoint(s, id, 3, "3", str("A"), *a.fence));
    QVERIFY(both.ok);
    // The holder's checkpoint extends the claim by its own ttl.
    REQUIRE_OK(m2, status(s, id));
    QVERIFY(*m2.claimExpiresAt >= *a.claimExpiresAt);
    QCOMPARE(qint64(m2.lastStep), qint64(3));
    REQUIRE_OK(resume, CALL(WorkflowResumeResult, s, workflowResume, id));
    QCOMPARE(resume.stepOutputs.size(), std::size_t(3));
    QCOMPARE(resume.stepMeta.size(), std::size_t(3));
    QCOMPARE(resume.stepMeta[0].second.agentId.value_or(QString()), str("A"));
    QCOMPARE(qint64(resume.stepMeta[0].second.fence.value_or(0)), qint64(*a.fence));
    QVERIFY(resume.stepMeta[0].second.writtenAt > 0);
    // A refused checkpoint on a run nobody holds.
    REQUIRE_OK(c2, create(s, str("cp")));
    REQUIRE_OK(unclaimed, checkpoint(s, c2.run.runId, 1, "1", str("A")));
    QVERIFY(!unclaimed.ok);
}

void StoreContract::wfCheckpointUnfenced()
{
    Store &s = *m_store;
    REQUIRE_OK(c, create(s, str("cp")));
    const QString id = c.run.runId;
    REQUIRE_OK(cp0, checkpoint(s, id, 0, R"("zero")"));
    QVERIFY(cp0.ok);
    REQUIRE_OK(m, status(s, id));
    QCOMPARE(m.status, str("running")); // created -> running
    QCOMPARE(qint64(m.lastStep), qint64(0));
    REQUIRE_OK(a, claim(s, id, str("A"), 60));
    QVERIFY(a.claimed);
    REQUIRE_OK(cp1, checkpoint(s, id, 1, "1"));
    QVERIFY(cp1.ok); // the compatibility path: accepted even while someone holds the claim
    REQUIRE_OK(m2, status(s, id));
    QCOMPARE(qint64(m2.lastStep), qint64(1));
}

void StoreContract::wfComplete()
{
    Store &s = *m_store;
    REQUIRE_OK(c, create(s, str("done")));
    const QString id = c.run.runId;
    REQUIRE_OK(unclaimed, complete(s, id, str("A"), str("done")));
    QVERIFY(!unclaimed.ok);
    QCOMPARE(unclaimed.runId, id);
    REQUIRE_OK(a, claim(s, id, str("A"), 60));
    REQUIRE_OK(other, complete(s, id, str("B"), str("done")));
    QVERIFY(!other.ok);
    QVERIFY(other.reason && !other.reason->isEmpty());
    REQUIRE_OK(stale, complete(s, id, str("A"), str("done"), std::nullopt, *a.fence + 1000));
    QVERIFY(!stale.ok);
    REQUIRE_ERROR(complete(s, id, str("A"), str("bogus")), ErrorCode::InvalidArgument);
    REQUIRE_OK(ok, complete(s, id, str("A"), str("done"), QByteArray(R"({"r":1.50})"), *a.fence));
    QVERIFY(ok.ok);
    QCOMPARE(ok.status, str("done"));
    QVERIFY(!ok.reason);
    REQUIRE_OK(m, status(s, id));
    QCOMPARE(m.status, str("done"));
    QCOMPARE(m.result.value_or(QByteArray()), QByteArray(R"({"r":1.50})"));
    QCOMPARE(m.agentId.value_or(QString()), str("A"));
    // failed is a final status too.
    REQUIRE_OK(c2, create(s, str("fails")));
    REQUIRE_OK(a2, claim(s, c2.run.runId, str("A"), 60));
    REQUIRE_OK(f, complete(s, c2.run.runId, str("A"), str("failed")));
    QVERIFY(f.ok);
    REQUIRE_OK(m2, status(s, c2.run.runId));
    QCOMPARE(m2.status, str("failed"));
}

void StoreContract::wfFinishedRunRefusesChanges()
{
    Store &s = *m_store;
    REQUIRE_OK(c, create(s, str("fin")));
    const QString id = c.run.runId;
    REQUIRE_OK(a, claim(s, id, str("A"), 60));
    REQUIRE_OK(done, complete(s, id, str("A"), str("done")));
    QVERIFY(done.ok);
    REQUIRE_OK(again, complete(s, id, str("A"), str("failed")));
    QVERIFY(!again.ok);
    REQUIRE_OK(cp, checkpoint(s, id, 5, "5"));
    QVERIFY(!cp.ok);
    QVERIFY(cp.reason && cp.reason->contains(str("done")));
    REQUIRE_OK(cl, claim(s, id, str("B"), 60));
    QVERIFY(!cl.claimed);
    QCOMPARE(cl.reason.value_or(QString()), str("Workflow is in status 'done' (agent: A)"));
    REQUIRE_OK(hb, heartbeat(s, id, str("A")));
    QVERIFY(!hb.ok);
    REQUIRE_OK(m, status(s, id));
    QCOMPARE(m.status, str("done"));
    QCOMPARE(qint64(m.lastStep), qint64(0));
}

void StoreContract::wfResumeOrdersSteps()
{
    Store &s = *m_store;
    REQUIRE_OK(c, create(s, str("steps"), {}, QByteArray(R"({"in":true})")));
    const QString id = c.run.runId;
    for (const auto &[step, output] : std::vector<std::pair<int, QByteArray>>{
             {10, R"({"s":10})"}, {2, R"({"s":2})"}, {1, R"([1.0])"}, {2, R"({"s":"two","big":1e400})"}}) {
        REQUIRE_OK(cp, checkpoint(s, id, step, output));
        QVERIFY(cp.ok);
    }
    REQUIRE_OK(r, CALL(WorkflowResumeResult, s, workflowResume, id));
    QCOMPARE(r.runId, id);
    QCOMPARE(qint64(r.lastStep), qint64(10));
    QCOMPARE(r.stepOutputs.size(), std::size_t(3));
    QCOMPARE(qint64(r.stepOutputs[0].first), qint64(1));
    QCOMPARE(qint64(r.stepOutputs[1].first), qint64(2));
    QCOMPARE(qint64(r.stepOutputs[2].first), qint64(10));
    QCOMPARE(r.stepOutputs[0].second, QByteArray("[1.0]"));
    QCOMPARE(r.stepOutputs[1].second, QByteArray(R"({"s":"two","big":1e400})")); // rewritten
    QCOMPARE(r.stepMeta.size(), std::size_t(3));
    QCOMPARE(qint64(r.stepMeta[2].first), qint64(10));
    QCOMPARE(r.meta.runId, id);
    QCOMPARE(r.meta.status, str("running"));
    QCOMPARE(r.meta.input.value_or(QByteArray()), QByteArray(R"({"in":true})"));
    // The rewrite is in history with the previous output.
    REQUIRE_OK(h, history(s, id, {}, {}, 1));
    QCOMPARE(h.entries.front().op, str("checkpoint"));
    QVERIFY(h.entries.front().previousValue && h.entries.front().previousValue->contains(R"({"s":2})"));
}

void StoreContract::wfUnknownRun()
{
    Store &s = *m_store;
    const QString id = str("wf-000000000000");
    const QString reason = str("Workflow 'wf-000000000000' not found");
    REQUIRE_OK(cl, claim(s, id, str("A")));
    QVERIFY(!cl.claimed);
    QCOMPARE(cl.reason.value_or(QString()), reason);
    QVERIFY(!cl.agentId);
    QCOMPARE(cl.runId.value_or(QString()), id);
    REQUIRE_OK(hb, heartbeat(s, id, str("A")));
    QVERIFY(!hb.ok);
    QCOMPARE(hb.reason.value_or(QString()), reason);
    REQUIRE_OK(cp, checkpoint(s, id, 1, "1"));
    QVERIFY(!cp.ok);
    QCOMPARE(cp.reason.value_or(QString()), reason);
    REQUIRE_OK(co, complete(s, id, str("A"), str("done")));
    QVERIFY(!co.ok);
    QCOMPARE(co.reason.value_or(QString()), reason);
    REQUIRE_ERROR(CALL(WorkflowResumeResult, s, workflowResume, id), ErrorCode::NotFound);
    REQUIRE_ERROR(status(s, id), ErrorCode::NotFound);
}

void StoreContract::wfClaimNext()
{
    Store &s = *m_store;
    REQUIRE_OK(r1, create(s, str("a"), {{str("t"), str("1")}}));
    REQUIRE_OK(r2, create(s, str("b")));
    REQUIRE_OK(r3, create(s, str("a"), {{str("t"), str("2")}}));
    REQUIRE_OK(r4, create(s, str("a"), {{str("t"), str("1")}}));
    WorkflowClaimArgs a;
    a.agentId = str("X");
    a.ttlSeconds = 60;
    REQUIRE_OK(first, CALL(WorkflowClaimResult, s, workflowClaimNext, a));
    QVERIFY(first.claimed);
    QCOMPARE(first.runId.value_or(QString()), r1.run.runId); // the oldest claimable
    QCOMPARE(first.agentId.value_or(QString()), str("X"));
    QVERIFY(first.fence && first.attempt);
    a.name = str("b");
    REQUIRE_OK(byName, CALL(WorkflowClaimResult, s, workflowClaimNext, a));
    QCOMPARE(byName.runId.value_or(QString()), r2.run.runId);
    a.name.clear();
    a.tags = {{str("t"), str("1")}};
    REQUIRE_OK(byTag, CALL(WorkflowClaimResult, s, workflowClaimNext, a));
    QCOMPARE(byTag.runId.value_or(QString()), r4.run.runId); // r1 is taken
    REQUIRE_OK(none, CALL(WorkflowClaimResult, s, workflowClaimNext, a));
    QVERIFY(!none.claimed);
    QVERIFY(!none.runId);
    QVERIFY(!none.agentId);
    a.tags.clear();
    REQUIRE_OK(last, CALL(WorkflowClaimResult, s, workflowClaimNext, a));
    QCOMPARE(last.runId.value_or(QString()), r3.run.runId);
}

// A queue drained in order: finished runs (done or failed, by complete() or by max_attempts)
// are passed over, with one tag and with two, however many there are.
void StoreContract::wfClaimNextSkipsFinishedRuns()
{
    Store &s = *m_store;
    std::vector<QString> finished;
    for (int i = 0; i < 20; ++i) {
        REQUIRE_OK(r, create(s, str("job"), {{str("queue"), str("q")}, {str("lane"), str(i % 2 ? "odd" : "even")}}));
        finished.push_back(r.run.runId);
    }
    REQUIRE_OK(open1, create(s, str("job"), {{str("queue"), str("q")}, {str("lane"), str("even")}}));
    REQUIRE_OK(open2, create(s, str("job"), {{str("queue"), str("q")}, {str("lane"), str("odd")}}));
    for (std::size_t i = 0; i < finished.size(); ++i) {
        REQUIRE_OK(c, claim(s, finished[i], str("W")));
        QVERIFY(c.claimed);
        REQUIRE_OK(d, complete(s, finished[i], str("W"), str(i % 3 ? "done" : "failed")));
        QVERIFY(d.ok);
    }
    WorkflowClaimArgs a;
    a.agentId = str("X");
    a.ttlSeconds = 60;
    a.tags = {{str("queue"), str("q")}, {str("lane"), str("odd")}};
    REQUIRE_OK(odd, CALL(WorkflowClaimResult, s, workflowClaimNext, a));
    QCOMPARE(odd.runId.value_or(QString()), open2.run.runId);
    a.tags = {{str("queue"), str("q")}};
    REQUIRE_OK(any, CALL(WorkflowClaimResult, s, workflowClaimNext, a));
    QCOMPARE(any.runId.value_or(QString()), open1.run.runId);
    REQUIRE_OK(none, CALL(WorkflowClaimResult, s, workflowClaimNext, a));
    QVERIFY(!none.claimed);
    // A finished run stays finished for claim_next once its tags are all that match.
    a.tags = {{str("lane"), str("even")}};
    REQUIRE_OK(even, CALL(WorkflowClaimResult, s, workflowClaimNext, a));
    QVERIFY(!even.claimed);
}

// ---------------------------------------------------------------- leases

void StoreContract::leaseAcquireAndRefuse()
{
    Store &s = *m_store;
    const double before = now();
    REQUIRE_OK(a, acquire(s, str("res"), str("A"), 60));
    QVERIFY(a.acquired);
    QCOMPARE(a.resourceId, str("res"));
    QCOMPARE(a.holder.value_or(QString()), str("A"));
    QVERIFY(a.expiresAt && *a.expiresAt >= before + 59 && *a.expiresAt <= now() + 61);
    QVERIFY(!a.reason);
    QVERIFY(a.fence && *a.fence > 0);
    REQUIRE_OK(b, acquire(s, str("res"), str("B"), 60));
    QVERIFY(!b.acquired);
    QCOMPARE(b.holder.value_or(QString()), str("A"));
    QVERIFY(!b.expiresAt);
    QCOMPARE(b.reason.value_or(QString()), str("Held by 'A'"));
    QVERIFY(!b.fence);
    // Another resource is independent.
    REQUIRE_OK(other, acquire(s, str("res2"), str("B"), 60));
    QVERIFY(other.acquired);
    QVERIFY(*other.fence > *a.fence);
}

void StoreContract::leaseReacquireExtendsKeepingFence()
{
    Store &s = *m_store;
    REQUIRE_OK(a1, acquire(s, str("res"), str("A"), 60));
    REQUIRE_OK(a2, acquire(s, str("res"), str("A"), 120));
    QVERIFY(a2.acquired);
    QCOMPARE(qint64(*a2.fence), qint64(*a1.fence));
    QVERIFY(*a2.expiresAt > *a1.expiresAt + 30);
}

void StoreContract::leaseLapseGivesNewGreaterFence()
{
    Store &s = *m_store;
    REQUIRE_OK(a, acquire(s, str("res"), str("A"), 0.2));
    QVERIFY(a.acquired);
    REQUIRE_OK(m, acquire(s, str("other"), str("A"), 60));
    QTest::qWait(400);
    PrefixListArgs all;
    REQUIRE_OK(live, CALL(LeaseListResult, s, leaseList, all));
    QCOMPARE(live.leases.size(), std::size_t(1)); // the lapsed one is invisible at once
    QCOMPARE(live.leases.front().resourceId, str("other"));
    REQUIRE_OK(b, acquire(s, str("res"), str("B"), 60));
    QVERIFY(b.acquired);
    QVERIFY(*b.fence > *m.fence); // greater than every fence granted before
    QVERIFY(*m.fence > *a.fence);
    REQUIRE_OK(h, history(s, str("res"), {}, str("lease")));
    QVERIFY(std::any_of(h.entries.begin(), h.entries.end(),
                        [](const HistoryEntry &e) { return e.op == QLatin1String("expire"); }));
}

void StoreContract::leaseRenew()
{
    Store &s = *m_store;
    REQUIRE_OK(a, acquire(s, str("res"), str("A"), 60));
    REQUIRE_OK(r, renew(s, str("res"), str("A"), 120));
    QVERIFY(r.renewed);
    QCOMPARE(r.resourceId, str("res"));
    QVERIFY(*r.expiresAt > *a.expiresAt + 30);
    QCOMPARE(qint64(r.fence.value_or(0)), qint64(*a.fence));
    REQUIRE_OK(other, renew(s, str("res"), str("B"), 60));
    QVERIFY(!other.renewed);
    QVERIFY(!other.expiresAt);
    REQUIRE_OK(stale, renew(s, str("res"), str("A"), 60, *a.fence + 1000));
    QVERIFY(!stale.renewed);
    REQUIRE_OK(fenced, renew(s, str("res"), str("A"), 60, *a.fence));
    QVERIFY(fenced.renewed);
    REQUIRE_OK(none, renew(s, str("missing"), str("A"), 60));
    QVERIFY(!none.renewed);
    // A lapsed lease cannot be renewed.
    REQUIRE_OK(k, acquire(s, str("short"), str("A"), 0.2));
    QTest::qWait(400);
    REQUIRE_OK(late, renew(s, str("short"), str("A"), 60));
    QVERIFY(!late.renewed);
    QVERIFY(!late.expiresAt);
}

void StoreContract::leaseReleaseWithFence()
{
    Store &s = *m_store;
    REQUIRE_OK(a, acquire(s, str("res"), str("A"), 60));
    REQUIRE_OK(byOther, release(s, str("res"), str("B")));
    QVERIFY(!byOther);
    REQUIRE_OK(stale, release(s, str("res"), str("A"), *a.fence + 1000));
    QVERIFY(!stale);
    REQUIRE_OK(ok, release(s, str("res"), str("A"), *a.fence));
    QVERIFY(ok);
    REQUIRE_OK(again, release(s, str("res"), str("A")));
    QVERIFY(!again);
    REQUIRE_OK(b, acquire(s, str("res"), str("B"), 60));
    QVERIFY(b.acquired);
    QVERIFY(*b.fence > *a.fence);
    // A lapsed lease cannot be released.
    REQUIRE_OK(k, acquire(s, str("short"), str("A"), 0.2));
    QTest::qWait(400);
    REQUIRE_OK(late, release(s, str("short"), str("A")));
    QVERIFY(!late);
}

void StoreContract::leaseList()
{
    Store &s = *m_store;
    for (const char *r : {"r/2", "r/1", "s/1", "r/3"}) {
        REQUIRE_OK(a, acquire(s, str(r), str("H"), 60));
    }
    PrefixListArgs args;
    args.prefix = str("r/");
    REQUIRE_OK(l, CALL(LeaseListResult, s, leaseList, args));
    QCOMPARE(l.leases.size(), std::size_t(3));
    QCOMPARE(l.leases[0].resourceId, str("r/1"));
    QCOMPARE(l.leases[2].resourceId, str("r/3"));
    QCOMPARE(l.leases[0].holder, str("H"));
    QVERIFY(l.leases[0].fence > 0 && l.leases[0].expiresAt > now());
    QVERIFY(!l.nextCursor);
    args.limit = 2;
    REQUIRE_OK(p1, CALL(LeaseListResult, s, leaseList, args));
    QCOMPARE(p1.leases.size(), std::size_t(2));
    QVERIFY(p1.nextCursor);
    args.cursor = *p1.nextCursor;
    REQUIRE_OK(p2, CALL(LeaseListResult, s, leaseList, args));
    QCOMPARE(p2.leases.size(), std::size_t(1));
    QCOMPARE(p2.leases[0].resourceId, str("r/3"));
    QVERIFY(!p2.nextCursor);
}

// ---------------------------------------------------------------- sessions

void StoreContract::sessionSaveRestore()
{
    Store &s = *m_store;
    REQUIRE_OK(missing, CALL(SessionRestoreResult, s, sessionRestore, str("s1")));
    QVERIFY(!missing.found);
    QVERIFY(!missing.context);
    QCOMPARE(missing.sessionId, str("s1"));
    REQUIRE_OK(first, save(s, str("s1"), R"({"a":1,"n":12345678901234567890})"));
    QVERIFY(first.ok);
    QCOMPARE(first.sessionId, str("s1"));
    QVERIFY(first.revision > 0);
    REQUIRE_OK(r1, CALL(SessionRestoreResult, s, sessionRestore, str("s1")));
    QVERIFY(r1.found);
    QCOMPARE(r1.context.value_or(QByteArray()), QByteArray(R"({"a":1,"n":12345678901234567890})"));
    QVERIFY(r1.savedAt && r1.updatedAt);
    QCOMPARE(*r1.savedAt, *r1.updatedAt);
    QTest::qWait(20);
    REQUIRE_OK(second, save(s, str("s1"), R"({"b":[2]})"));
    QVERIFY(second.revision > first.revision);
    REQUIRE_OK(r2, CALL(SessionRestoreResult, s, sessionRestore, str("s1")));
    QCOMPARE(r2.context.value_or(QByteArray()), QByteArray(R"({"b":[2]})")); // replaced whole
    QCOMPARE(*r2.savedAt, *r1.savedAt); // the first save's time is kept
    QVERIFY(*r2.updatedAt > *r1.updatedAt);
}

void StoreContract::sessionListAndDelete()
{
    Store &s = *m_store;
    for (const char *id : {"p/2", "p/1", "q"}) {
        REQUIRE_OK(w, save(s, str(id), R"({"id":1})"));
    }
    PrefixListArgs args;
    args.prefix = str("p/");
    REQUIRE_OK(l, CALL(SessionListResult, s, sessionList, args));
    QCOMPARE(l.sessions.size(), std::size_t(2));
    QCOMPARE(l.sessions[0].sessionId, str("p/1"));
    QVERIFY(l.sessions[0].savedAt > 0 && l.sessions[0].updatedAt > 0);
    REQUIRE_OK(all, CALL(SessionListResult, s, sessionList, PrefixListArgs{}));
    QCOMPARE(all.sessions.size(), std::size_t(3));
    QCOMPARE(all.sessions[2].sessionId, str("q"));
    REQUIRE_OK(d, CALL(bool, s, sessionDelete, SessionDeleteArgs{str("p/1"), QString()}));
    QVERIFY(d);
    REQUIRE_OK(d2, CALL(bool, s, sessionDelete, SessionDeleteArgs{str("p/1"), QString()}));
    QVERIFY(!d2);
    REQUIRE_OK(r, CALL(SessionRestoreResult, s, sessionRestore, str("p/1")));
    QVERIFY(!r.found);
    REQUIRE_OK(h, history(s, str("p/1"), {}, str("session")));
    QCOMPARE(h.entries.front().op, str("delete"));
    QCOMPARE(h.entries.front().previousValue.value_or(QByteArray()), QByteArray(R"({"id":1})"));
    QVERIFY(!h.entries.front().newValue);
}

// ---------------------------------------------------------------- history and changes

void StoreContract::historyLogFilters()
{
    Store &s = *m_store;
    REQUIRE_OK(w1, set(s, str("a"), "1", std::nullopt, std::nullopt, std::nullopt, str("agent-1")));
    REQUIRE_OK(w2, set(s, str("b"), "2"));
    REQUIRE_OK(w3, set(s, str("a/x"), "3"));
    REQUIRE_OK(c, create(s, str("wf")));
    REQUIRE_OK(l, acquire(s, str("A"), str("h")));
    REQUIRE_OK(all, history(s));
    QCOMPARE(all.entries.size(), std::size_t(5));
    QVERIFY(!all.more);
    for (std::size_t i = 1; i < all.entries.size(); ++i)
        QVERIFY(all.entries[i - 1].revision > all.entries[i].revision); // newest first
    QCOMPARE(all.entries.back().key, str("a"));
    QCOMPARE(all.entries.back().newValue.value_or(QByteArray()), QByteArray("1"));
    QCOMPARE(all.entries.back().agentId.value_or(QString()), str("agent-1"));
    QVERIFY(all.entries.back().writtenAt > 0);
    QVERIFY(all.entries.back().id > 0);

    REQUIRE_OK(exact, history(s, str("a")));
    QCOMPARE(exact.entries.size(), std::size_t(1));
    REQUIRE_OK(prefixed, history(s, {}, str("a")));
    QCOMPARE(prefixed.entries.size(), std::size_t(2)); // "a" and "a/x", not the lease "A"
    REQUIRE_OK(kind, history(s, {}, {}, str("workflow")));
    QCOMPARE(kind.entries.size(), std::size_t(1));
    QCOMPARE(kind.entries.front().op, str("create"));
    QCOMPARE(kind.entries.front().key, c.run.runId);

    // Paging back with before_revision while more is true.
    REQUIRE_OK(p1, history(s, {}, {}, {}, 2));
    QCOMPARE(p1.entries.size(), std::size_t(2));
    QVERIFY(p1.more);
    REQUIRE_OK(p2, history(s, {}, {}, {}, 2, p1.entries.back().revision));
    QCOMPARE(p2.entries.size(), std::size_t(2));
    QVERIFY(p2.more);
    QVERIFY(p2.entries.front().revision < p1.entries.back().revision);
    REQUIRE_OK(p3, history(s, {}, {}, {}, 2, p2.entries.back().revision));
    QCOMPARE(p3.entries.size(), std::size_t(1));
    QVERIFY(!p3.more);
    QCOMPARE(qint64(p3.entries.front().revision), qint64(w1.revision));
}

void StoreContract::historyRecordsEveryKind()
{
    Store &s = *m_store;
    KvSetArgs sa;
    sa.key = str("k");
    sa.value = "1";
    sa.principal = str("token-1");
    REQUIRE_OK(w, CALL(KvWriteResult, s, kvSet, sa));
    REQUIRE_OK(d, del(s, str("k")));
    REQUIRE_OK(c, create(s, str("wf")));
    REQUIRE_OK(cl, claim(s, c.run.runId, str("A")));
    REQUIRE_OK(hb, heartbeat(s, c.run.runId, str("A")));
    REQUIRE_OK(cp, checkpoint(s, c.run.runId, 1, "1", str("A")));
    REQUIRE_OK(co, complete(s, c.run.runId, str("A"), str("done")));
    REQUIRE_OK(la, acquire(s, str("L"), str("A")));
    REQUIRE_OK(lr, renew(s, str("L"), str("A"), 60));
    REQUIRE_OK(rel, release(s, str("L"), str("A")));
    QVERIFY(rel);
    REQUIRE_OK(ss, save(s, str("S"), "{}"));
    REQUIRE_OK(sd, CALL(bool, s, sessionDelete, SessionDeleteArgs{str("S"), QString()}));
    QVERIFY(sd);
    REQUIRE_OK(h, history(s));
    QStringList seen;
    for (auto it = h.entries.rbegin(); it != h.entries.rend(); ++it)
        seen << it->kind + u':' + it->op;
    QCOMPARE(seen, (QStringList{str("kv:set"), str("kv:delete"), str("workflow:create"), str("workflow:claim"),
                                str("workflow:heartbeat"), str("workflow:checkpoint"), str("workflow:complete"),
                                str("lease:acquire"), str("lease:renew"), str("lease:release"), str("session:save"),
                                str("session:delete")}));
    QCOMPARE(h.entries.back().principal.value_or(QString()), str("token-1"));
    QVERIFY(!h.entries.front().principal); // none given
    QCOMPARE(h.entries.back().revision, w.revision);
}

void StoreContract::changesSince()
{
    Store &s = *m_store;
    REQUIRE_OK(h0, healthOf(s));
    const std::int64_t r0 = h0.revision;
    for (int i = 1; i <= 5; ++i) {
        REQUIRE_OK(w, set(s, QStringLiteral("c/%1").arg(i), QByteArray::number(i)));
    }
    REQUIRE_OK(other, set(s, str("other"), "x"));
    REQUIRE_OK(all, changesAfter(s, r0));
    QCOMPARE(all.entries.size(), std::size_t(6));
    QVERIFY(!all.more);
    QVERIFY(!all.compacted);
    QCOMPARE(qint64(all.revision), qint64(other.revision));
    for (std::size_t i = 1; i < all.entries.size(); ++i)
        QVERIFY(all.entries[i - 1].revision < all.entries[i].revision); // ascending
    QVERIFY(all.entries.front().revision > r0); // exclusive
    REQUIRE_OK(prefixed, changesAfter(s, r0, {}, str("c/")));
    QCOMPARE(prefixed.entries.size(), std::size_t(5));
    REQUIRE_OK(exact, changesAfter(s, r0, str("c/3")));
    QCOMPARE(exact.entries.size(), std::size_t(1));
    QCOMPARE(exact.entries.front().newValue.value_or(QByteArray()), QByteArray("3"));
    REQUIRE_OK(kind, changesAfter(s, r0, {}, {}, str("lease")));
    QVERIFY(kind.entries.empty());
    REQUIRE_OK(limited, changesAfter(s, r0, {}, {}, {}, 2));
    QCOMPARE(limited.entries.size(), std::size_t(2));
    QVERIFY(limited.more);
    REQUIRE_OK(rest, changesAfter(s, limited.entries.back().revision));
    QCOMPARE(rest.entries.size(), std::size_t(4));
    REQUIRE_OK(none, changesAfter(s, other.revision));
    QVERIFY(none.entries.empty());
    QVERIFY(!none.more);
    QVERIFY(!none.compacted);
}

void StoreContract::changesCompactedAfterRetention()
{
    StoreOptions options;
    options.historyLimit = 5;
    auto small = makeStore(options);
    QVERIFY(small);
    Store &s = *small;
    std::int64_t last = 0;
    for (int i = 0; i < 10; ++i) {
        REQUIRE_OK(w, set(s, QStringLiteral("k%1").arg(i), "1"));
        last = w.revision;
    }
    REQUIRE_OK(h, history(s));
    QCOMPARE(h.entries.size(), std::size_t(5)); // the newest 5
    QCOMPARE(qint64(h.entries.front().revision), qint64(last));
    QVERIFY(!h.more);
    REQUIRE_OK(old, changesAfter(s, 0));
    QVERIFY(old.compacted);
    QVERIFY(old.entries.empty());
    QCOMPARE(qint64(old.revision), qint64(last));
    // The oldest retained is last-4: from last-5 on nothing was dropped.
    REQUIRE_OK(edge, changesAfter(s, last - 5));
    QVERIFY(!edge.compacted);
    QCOMPARE(edge.entries.size(), std::size_t(5));
    REQUIRE_OK(gap, changesAfter(s, last - 6));
    QVERIFY(gap.compacted);
}

void StoreContract::historyMaxBytes()
{
    StoreOptions options;
    options.historyMaxBytes = 200;
    auto small = makeStore(options);
    QVERIFY(small);
    Store &s = *small;
    const QByteArray value = '"' + QByteArray(48, 'x') + '"'; // 50 bytes
    std::int64_t last = 0;
    for (int i = 0; i < 10; ++i) {
        REQUIRE_OK(w, set(s, QStringLiteral("k%1").arg(i), value));
        last = w.revision;
    }
    REQUIRE_OK(h, history(s));
    qint64 bytes = 0;
    for (const HistoryEntry &e : h.entries)
        bytes += e.newValue.value_or(QByteArray()).size() + e.previousValue.value_or(QByteArray()).size();
    QVERIFY2(bytes <= 200, qPrintable(QString::number(bytes)));
    QVERIFY(!h.entries.empty());
    QCOMPARE(qint64(h.entries.front().revision), qint64(last)); // oldest dropped first
}

// ---------------------------------------------------------------- store-wide

void StoreContract::revisionStrictlyIncreasing()
{
    Store &s = *m_store;
    const int n = 50;
    Collector<KvWriteResult> writes(n);
    for (int i = 0; i < n; ++i) {
        KvSetArgs a;
        a.key = QStringLiteral("k%1").arg(i % 7);
        a.value = QByteArray::number(i);
        s.kvSet(a, writes.slot(i));
    }
    QVERIFY(writes.wait());
    std::int64_t previous = 0;
    for (const auto &r : writes.results) {
        QVERIFY(r && r->has_value());
        QVERIFY((*r)->revision > previous); // in the order issued
        previous = (*r)->revision;
    }
    // Every kind of mutation takes the next one.
    REQUIRE_OK(c, create(s, str("wf")));
    REQUIRE_OK(cl, claim(s, c.run.runId, str("A")));
    QVERIFY(*cl.fence > previous);
    REQUIRE_OK(l, acquire(s, str("L"), str("A")));
    QVERIFY(*l.fence > *cl.fence);
    REQUIRE_OK(ss, save(s, str("S"), "{}"));
    QVERIFY(ss.revision > *l.fence);
    REQUIRE_OK(h, healthOf(s));
    QCOMPARE(qint64(h.revision), qint64(ss.revision));
}

void StoreContract::resetClearsAndKeepsRevision()
{
    Store &s = *m_store;
    for (const char *k : {"a", "b", "c"}) {
        REQUIRE_OK(w, set(s, str(k), "1"));
    }
    REQUIRE_OK(c1, create(s, str("wf")));
    REQUIRE_OK(c2, create(s, str("wf")));
    REQUIRE_OK(cp, checkpoint(s, c1.run.runId, 1, "1"));
    REQUIRE_OK(l, acquire(s, str("L"), str("A")));
    REQUIRE_OK(ss, save(s, str("S"), "{}"));
    REQUIRE_OK(before, healthOf(s));
    REQUIRE_OK(r, CALL(ResetResult, s, reset, str("admin")));
    QVERIFY(r.ok);
    QCOMPARE(qint64(r.cleared), qint64(3 + 2 + 1 + 1));
    REQUIRE_OK(after, healthOf(s));
    QCOMPARE(qint64(after.keyCount), qint64(0));
    QCOMPARE(qint64(after.workflowCount), qint64(0));
    QCOMPARE(qint64(after.leaseCount), qint64(0));
    QCOMPARE(qint64(after.sessionCount), qint64(0));
    QCOMPARE(qint64(after.revision), qint64(before.revision + 1)); // kept, plus the reset entry
    REQUIRE_OK(h, history(s));
    QCOMPARE(h.entries.size(), std::size_t(1));
    QCOMPARE(h.entries.front().kind, str("store"));
    QCOMPARE(h.entries.front().op, str("reset"));
    QCOMPARE(qint64(h.entries.front().revision), qint64(after.revision));
    QCOMPARE(h.entries.front().principal.value_or(QString()), str("admin"));
    REQUIRE_OK(g, get(s, str("a")));
    QVERIFY(!g.found);
    REQUIRE_ERROR(status(s, c1.run.runId), ErrorCode::NotFound);
    REQUIRE_OK(runs, discover(s, {}));
    QVERIFY(runs.runs.empty());
    REQUIRE_OK(leases, CALL(LeaseListResult, s, leaseList, PrefixListArgs{}));
    QVERIFY(leases.leases.empty());
    REQUIRE_OK(sessions, CALL(SessionListResult, s, sessionList, PrefixListArgs{}));
    QVERIFY(sessions.sessions.empty());
    // Watchers from before the reset learn that history was dropped.
    REQUIRE_OK(old, changesAfter(s, before.revision - 1));
    QVERIFY(old.compacted);
    REQUIRE_OK(edge, changesAfter(s, before.revision));
    QVERIFY(!edge.compacted);
    QCOMPARE(edge.entries.size(), std::size_t(1));
    // The counter goes on; fences stay greater than every earlier one.
    REQUIRE_OK(l2, acquire(s, str("L"), str("B")));
    QVERIFY(*l2.fence > *l.fence);
    QVERIFY(*l2.fence > after.revision);
}

void StoreContract::healthCounts()
{
    Store &s = *m_store;
    REQUIRE_OK(h0, healthOf(s));
    QCOMPARE(h0.status, str("ok"));
    QCOMPARE(qint64(h0.keyCount), qint64(0));
    REQUIRE_OK(w1, set(s, str("a"), "1"));
    REQUIRE_OK(w2, set(s, str("b"), "1"));
    REQUIRE_OK(w3, set(s, str("short"), "1", 0.2));
    REQUIRE_OK(c1, create(s, str("wf")));
    REQUIRE_OK(c2, create(s, str("wf")));
    REQUIRE_OK(l1, acquire(s, str("L"), str("A"), 60));
    REQUIRE_OK(l2, acquire(s, str("M"), str("A"), 0.2));
    REQUIRE_OK(ss, save(s, str("S"), "{}"));
    QTest::qWait(400);
    REQUIRE_OK(h, healthOf(s));
    QCOMPARE(h.status, str("ok"));
    QCOMPARE(h.backend, s.backendName());
    QCOMPARE(qint64(h.keyCount), qint64(2)); // live keys only
    QCOMPARE(qint64(h.workflowCount), qint64(2));
    QCOMPARE(qint64(h.leaseCount), qint64(1)); // live leases only
    QCOMPARE(qint64(h.sessionCount), qint64(1));
    QVERIFY(h.revision >= ss.revision);
}

void StoreContract::callbacksRunLaterOnOwningThread()
{
    Store &s = *m_store;
    bool called = false;
    QThread *thread = nullptr;
    KvSetArgs a;
    a.key = str("k");
    a.value = "1";
    s.kvSet(a, [&](Result<KvWriteResult>) {
        called = true;
        thread = QThread::currentThread();
    });
    QVERIFY(!called);
    QVERIFY(waitUntil([&] { return called; }));
    QCOMPARE(thread, QThread::currentThread());
    called = false;
    s.kvGet(str("k"), [&](Result<KvEntry>) {
        called = true;
        thread = QThread::currentThread();
    });
    QVERIFY(!called);
    QVERIFY(waitUntil([&] { return called; }));
    QCOMPARE(thread, QThread::currentThread());
}

void StoreContract::changedSignal()
{
    Store &s = *m_store;
    QSignalSpy spy(&s, &Store::changed);
    REQUIRE_OK(w, set(s, str("k"), "1"));
    QVERIFY(waitUntil([&] { return !spy.isEmpty() && spy.last().at(0).toLongLong() >= w.revision; }, 5000));
    // Announced revisions only grow.
    qint64 previous = 0;
    for (const QList<QVariant> &args : spy) {
        QVERIFY(args.at(0).toLongLong() > previous);
        previous = args.at(0).toLongLong();
    }
}

void StoreContract::closeAnswersEverything()
{
    auto store = makeStore();
    QVERIFY(store);
    const int n = 50;
    int answered = 0;
    int failed = 0;
    for (int i = 0; i < n; ++i) {
        KvSetArgs a;
        a.key = QStringLiteral("k%1").arg(i);
        a.value = "1";
        store->kvSet(a, [&](Result<KvWriteResult> r) {
            ++answered;
            failed += r ? 0 : 1;
        });
        store->kvGet(a.key, [&](Result<KvEntry> r) {
            ++answered;
            failed += r ? 0 : 1;
        });
    }
    store->close();
    QCOMPARE(answered, 2 * n); // finished, not dropped
    QCOMPARE(failed, 0);
    // After close, calls still get an answer (an error), later.
    bool late = false;
    store->kvGet(str("k0"), [&](Result<KvEntry> r) {
        late = true;
        QVERIFY(!r);
    });
    QVERIFY(!late);
    QVERIFY(waitUntil([&] { return late; }));
    store->close(); // idempotent
}

// MCP session records: put, get (exact fields back, subscriptions in order), replace, delete;
// no revision or history, untouched by reset.
void StoreContract::mcpSessionRecords()
{
    Store &s = *m_store;
    McpSessionRecord r;
    r.id = "0123456789abcdef0123456789abcdef";
    r.protocolVersion = str("2025-11-25");
    r.principal = str("agent-token");
    r.subscriptions = {str("state://kv/a%2Fb"), str("state://workflows"), str("state://kv/é")};
    r.expiresAt = now() + 3600;
    REQUIRE_OK(before, CALL(KvEntry, s, kvGet, str("none")));
    REQUIRE_OK(put, CALL(bool, s, mcpSessionPut, r));
    QVERIFY(put);
    REQUIRE_OK(got, CALL(std::optional<McpSessionRecord>, s, mcpSessionGet, r.id));
    QVERIFY(got.has_value());
    QCOMPARE(got->id, r.id);
    QCOMPARE(got->protocolVersion, r.protocolVersion);
    QCOMPARE(got->principal, r.principal);
    QCOMPARE(got->subscriptions, r.subscriptions);
    QVERIFY(std::abs(got->expiresAt - r.expiresAt) < 0.01);

    // Replaced whole.
    r.subscriptions = {};
    r.principal.clear();
    REQUIRE_OK(put2, CALL(bool, s, mcpSessionPut, r));
    QVERIFY(put2);
    REQUIRE_OK(got2, CALL(std::optional<McpSessionRecord>, s, mcpSessionGet, r.id));
    QVERIFY(got2 && got2->subscriptions.isEmpty() && got2->principal.isEmpty());

    // Not state: no revision, no history; reset keeps it.
    REQUIRE_OK(after, CALL(KvEntry, s, kvGet, str("none")));
    QCOMPARE(after.revision, before.revision);
    REQUIRE_OK(cleared, CALL(ResetResult, s, reset, QString()));
    QVERIFY(cleared.ok);
    REQUIRE_OK(kept, CALL(std::optional<McpSessionRecord>, s, mcpSessionGet, r.id));
    QVERIFY(kept.has_value());

    REQUIRE_OK(deleted, CALL(bool, s, mcpSessionDelete, r.id));
    QVERIFY(deleted);
    REQUIRE_OK(gone, CALL(std::optional<McpSessionRecord>, s, mcpSessionGet, r.id));
    QVERIFY(!gone.has_value());
    REQUIRE_OK(again, CALL(bool, s, mcpSessionDelete, r.id));
    QVERIFY(!again);
    REQUIRE_OK(unknown, CALL(std::optional<McpSessionRecord>, s, mcpSessionGet, QByteArray("ffff")));
    QVERIFY(!unknown.has_value());
}

void StoreContract::mcpSessionExpiry()
{
    Store &s = *m_store;
    McpSessionRecord r;
    r.id = "short-lived";
    r.protocolVersion = str("2025-06-18");
    r.expiresAt = now() + 0.3;
    REQUIRE_OK(put, CALL(bool, s, mcpSessionPut, r));
    QVERIFY(put);
    REQUIRE_OK(live, CALL(std::optional<McpSessionRecord>, s, mcpSessionGet, r.id));
    QVERIFY(live.has_value());
    QVERIFY(waitUntil(
        [&] {
            auto g = CALL(std::optional<McpSessionRecord>, s, mcpSessionGet, r.id);
            return g && !g->has_value();
        },
        15000));
    REQUIRE_OK(deleted, CALL(bool, s, mcpSessionDelete, r.id));
    QVERIFY(!deleted);
}

int runSuites(const QStringList &args, const QList<QObject *> &suites)
{
    QStringList options;
    QStringList functions;
    for (int i = 1; i < args.size(); ++i) {
        const QString &a = args.at(i);
        if (a.startsWith(u'-')) {
            options << a;
            // Options that take a value.
            if ((a == QLatin1String("-o") || a == QLatin1String("-maxwarnings") || a == QLatin1String("-eventdelay") ||
                 a == QLatin1String("-keydelay") || a == QLatin1String("-mousedelay")) &&
                i + 1 < args.size())
                options << args.at(++i);
        } else {
            functions << a;
        }
    }
    int status = 0;
    for (QObject *suite : suites) {
        QStringList mine;
        for (const QString &f : functions) {
            const QString name = f.section(u':', 0, 0);
            if (suite->metaObject()->indexOfMethod(QString(name + QStringLiteral("()")).toLatin1().constData()) >= 0)
                mine << f;
        }
        if (!functions.isEmpty() && mine.isEmpty())
            continue;
        status |= QTest::qExec(suite, QStringList{args.at(0)} + options + mine);
    }
    return status;
}

} // namespace sidecar::test
