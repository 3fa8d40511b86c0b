// RedisStore's workflow operations: each is one script (resources/redis/wf_*.lua) that mirrors
// the SQLite backend's function of the same name (sqlitewrites.cpp, sqlitereads.cpp); this file
// packs the arguments and turns the flat replies into the Store's structs. What happens only
// here: run ids are made (as the SQLite backend makes them) and sent, and a taken one is
// replaced; discover's paging (limits, cursors bound to the filters, the reply budget) uses the
// SQLite backend's rules (sqlitecursor.h) so that both backends page alike.
//
// Thread: the store's thread; callbacks run there, from the event loop, never inside the call.

#include "store/redis/redisstore.h"

#include <QPointer>
#include <QRandomGenerator>

#include <algorithm>
#include <functional>

#include "store/redis/redisdecode.h"
#include "store/sqlitecursor.h"

namespace sidecar::store {

using redis::argOf;
using redis::badReply;
using redis::failLater;
using redis::isArray;
using redis::numberArg;
using redis::optDouble;
using redis::optInt64;
using redis::optJson;
using redis::optText;
using redis::RedisReply;

namespace {

// Fields of a run in a script's reply (runReply() in the wf_*.lua scripts).
enum RunField : std::size_t {
    RunId,
    Name,
    Status,
    Tags,
    AgentId,
    LastStep,
    CreatedAt,
    UpdatedAt,
    Input,
    ResultField,
    ClaimExpiresAt,
    Fence,
    Attempt,
    MaxAttempts,
    Seq,
    RunFieldCount
};

// Run ids as the SQLite backend makes them: "wf-" and 12 lower-case hex digits.
QString newRunId()
{
    const quint64 bits = QRandomGenerator::system()->generate64() & 0xffffffffffffULL;
    return QStringLiteral("wf-%1").arg(bits, 12, 16, QLatin1Char('0'));
}

// How many ids workflowCreate tries before giving up (as the SQLite backend).
constexpr int kRunIdTries = 17;

struct RunReply
{
    WorkflowMeta meta;
    std::int64_t seq = 0;
};

std::optional<RunReply> runOf(const RedisReply &r)
{
    if (!isArray(r, RunFieldCount) || r.at(Tags).type != RedisReply::Type::Array)
        return std::nullopt;
    RunReply out;
    WorkflowMeta &m = out.meta;
    m.runId = QString::fromUtf8(r.at(RunId).str);
    m.name = QString::fromUtf8(r.at(Name).str);
    m.status = r.at(Status).text();
    const auto &tags = r.at(Tags).elements;
    m.tags.reserve(tags.size() / 2);
    for (std::size_t i = 0; i + 1 < tags.size(); i += 2)
        m.tags.emplace_back(QString::fromUtf8(tags[i].str), QString::fromUtf8(tags[i + 1].str));
    m.agentId = optText(r.at(AgentId));
    m.lastStep = r.at(LastStep).toInt64();
    m.createdAt = r.at(CreatedAt).toDouble();
    m.updatedAt = r.at(UpdatedAt).toDouble();
    m.input = optJson(r.at(Input));
    m.result = optJson(r.at(ResultField));
    m.claimExpiresAt = optDouble(r.at(ClaimExpiresAt));
    m.fence = optInt64(r.at(Fence));
    m.attempt = optInt64(r.at(Attempt));
    m.maxAttempts = optInt64(r.at(MaxAttempts));
    out.seq = r.at(Seq).toInt64();
    return out;
}

void appendTags(QList<QByteArray> &argv, const std::vector<std::pair<QString, QString>> &tags)
{
    for (const auto &[tag, value] : tags)
        argv << tag.toUtf8() << value.toUtf8();
}

// The reply of a script that changes one run (wf_heartbeat, wf_checkpoint, wf_complete):
// {ok (1/0), fields..., reason}, `size` items in all. The result gets ok, run_id and reason
// here, and the fields in between from fill().
template<class T>
std::function<Result<T>(const RedisReply &)> runChangeReply(const char *script, std::size_t size, const QString &runId,
                                                            std::function<void(const RedisReply &, T &)> fill)
{
    return [script, size, runId, fill = std::move(fill)](const RedisReply &r) -> Result<T> {
        if (!isArray(r, size))
            return tl::unexpected(badReply(script));
        T res;
        res.ok = r.at(0).toInt64() == 1;
        res.runId = runId;
        res.reason = optText(r.at(size - 1));
        fill(r, res);
        return res;
    };
}

Result<WorkflowClaimResult> claimResultOf(const RedisReply &r)
{
    if (!isArray(r, 7))
        return tl::unexpected(badReply("wf_claim"));
    WorkflowClaimResult res;
    res.claimed = r.at(0).toInt64() == 1;
    res.runId = optText(r.at(1));
    res.agentId = optText(r.at(2));
    res.reason = optText(r.at(3));
    res.fence = optInt64(r.at(4));
    res.claimExpiresAt = optDouble(r.at(5));
    res.attempt = optInt64(r.at(6));
    return res;
}

// One try of workflowCreate with a fresh run id; another try when that id is taken.
void createRun(QPointer<RedisStore> store, WorkflowCreateArgs args, int tries, Callback<WorkflowCreateResult> done)
{
    QList<QByteArray> argv{newRunId().toUtf8(),          args.name.toUtf8(),        argOf(args.input),
                           argOf(args.idempotencyKey), argOf(args.maxAttempts), args.principal.toUtf8()};
    appendTags(argv, args.tags);
    // nullopt: the id is taken.
    using Attempt = std::optional<WorkflowCreateResult>;
    auto next = [store, args, tries, done](Result<Attempt> r) mutable {
        if (!r) {
            done(tl::unexpected(r.error()));
        } else if (*r) {
            WorkflowCreateResult res = std::move(**r);
            if (res.created)
                res.run.tags = args.tags; // as sent, as the SQLite backend answers
            done(std::move(res));
        } else if (tries + 1 >= kRunIdTries) {
            done(fail(ErrorCode::Internal, QStringLiteral("Could not find a free run id")));
        } else if (!store) {
            done(fail(ErrorCode::Unavailable, QStringLiteral("The store is closed")));
        } else {
            createRun(store, std::move(args), tries + 1, std::move(done));
        }
    };
    store->run<Attempt>("wf_create", std::move(argv), std::move(next), [](const RedisReply &r) -> Result<Attempt> {
        if (isArray(r, 1) && r.at(0).toInt64() == -1)
            return Attempt();
        if (!isArray(r, 2))
            return tl::unexpected(badReply("wf_create"));
        auto run = runOf(r.at(1));
        if (!run)
            return tl::unexpected(badReply("wf_create"));
        return Attempt(WorkflowCreateResult{std::move(run->meta), r.at(0).toInt64() == 1});
    });
}

} // namespace

void RedisStore::workflowCreate(const WorkflowCreateArgs &args, Callback<WorkflowCreateResult> done)
{
    createRun(QPointer<RedisStore>(this), args, 0, std::move(done));
}

void RedisStore::workflowDiscover(const WorkflowDiscoverArgs &args, Callback<WorkflowListResult> done)
{
    using namespace sqlite;
    auto paged = paging(args.limit, args.cursor, m_options.maxList);
    if (!paged)
        return failLater(this, std::move(done), paged.error());
    const Paging page = *paged;
    auto tags = args.tags;
    std::sort(tags.begin(), tags.end());
    QStringList parts{args.status, args.name,
                      args.claimable ? (*args.claimable ? QStringLiteral("1") : QStringLiteral("0")) : QString()};
    for (const auto &[tag, value] : tags)
        parts << tag << value;
    const QByteArray filters = filterHash(QStringLiteral("workflows"), parts);
    QByteArray afterSeq;
    if (!args.cursor.isEmpty()) {
        auto cursor = decodeCursor(args.cursor, QStringLiteral("workflows"), filters);
        if (!cursor)
            return failLater(this, std::move(done), cursor.error());
        if (!cursor->afterKey.isNull())
            return failLater(this, std::move(done),
                             Error{ErrorCode::InvalidArgument, QStringLiteral("Invalid cursor: no position")});
        afterSeq = QByteArray::number(cursor->afterSeq);
    }
    QList<QByteArray> argv{args.status.toUtf8(),
                           args.name.toUtf8(),
                           args.claimable ? QByteArray(*args.claimable ? "1" : "0") : QByteArray(),
                           afterSeq,
                           QByteArray::number(page.size + 1), // one more than a page tells whether more remain
                           QByteArray::number(page.size),
                           QByteArray::number(qlonglong(m_options.maxReplyBytes))};
    appendTags(argv, tags);
    const qint64 maxList = m_options.maxList;
    const qint64 maxReplyBytes = m_options.maxReplyBytes;
    run<WorkflowListResult>(
        "wf_discover", std::move(argv), std::move(done),
        [page, filters, maxList, maxReplyBytes](const RedisReply &r) -> Result<WorkflowListResult> {
            if (!isArray(r, 2) || r.at(1).type != RedisReply::Type::Array)
                return tl::unexpected(badReply("wf_discover"));
            const bool exhausted = r.at(0).toInt64() == 1;
            std::vector<RunReply> rows;
            rows.reserve(r.at(1).elements.size());
            for (const RedisReply &item : r.at(1).elements) {
                auto row = runOf(item);
                if (!row)
                    return tl::unexpected(badReply("wf_discover"));
                rows.push_back(std::move(*row));
            }
            if (exhausted && !page.paged)
                return tl::unexpected(replyTooLarge(maxReplyBytes));
            WorkflowListResult res;
            if (exhausted || qint64(rows.size()) > page.size) {
                if (!page.paged)
                    return tl::unexpected(tooManyMatches(maxList));
                if (!exhausted)
                    rows.pop_back(); // the probe: more remain
                if (!rows.empty()) {
                    ListCursor c;
                    c.list = QStringLiteral("workflows");
                    c.filters = filters;
                    c.afterSeq = rows.back().seq;
                    res.nextCursor = encodeCursor(c);
                }
            }
            res.runs.reserve(rows.size());
            for (RunReply &row : rows)
                res.runs.push_back(std::move(row.meta));
            return res;
        });
}

void RedisStore::workflowClaim(const WorkflowClaimArgs &args, Callback<WorkflowClaimResult> done)
{
    run<WorkflowClaimResult>("wf_claim",
                             {QByteArrayLiteral("run"), args.runId.toUtf8(), args.agentId.toUtf8(),
                              numberArg(args.ttlSeconds), args.principal.toUtf8()},
                             std::move(done), claimResultOf);
}

void RedisStore::workflowClaimNext(const WorkflowClaimArgs &args, Callback<WorkflowClaimResult> done)
{
    QList<QByteArray> argv{QByteArrayLiteral("next"), QByteArray(), args.agentId.toUtf8(), numberArg(args.ttlSeconds),
                           args.principal.toUtf8(), args.name.toUtf8()};
    appendTags(argv, args.tags);
    run<WorkflowClaimResult>("wf_claim", std::move(argv), std::move(done), claimResultOf);
}

void RedisStore::workflowHeartbeat(const WorkflowHeartbeatArgs &args, Callback<WorkflowHeartbeatResult> done)
{
    run<WorkflowHeartbeatResult>(
        "wf_heartbeat",
        {args.runId.toUtf8(), args.agentId.toUtf8(), argOf(args.ttlSeconds), argOf(args.fence),
         args.principal.toUtf8(), numberArg(m_options.defaultClaimTtl)},
        std::move(done),
        runChangeReply<WorkflowHeartbeatResult>("wf_heartbeat", 3, args.runId,
                                                [](const RedisReply &r, WorkflowHeartbeatResult &res) {
                                                    res.claimExpiresAt = optDouble(r.at(1));
                                                }));
}

void RedisStore::workflowCheckpoint(const WorkflowCheckpointArgs &args, Callback<WorkflowCheckpointResult> done)
{
    const std::int64_t step = args.step;
    run<WorkflowCheckpointResult>(
        "wf_checkpoint",
        {args.runId.toUtf8(), QByteArray::number(qlonglong(step)), args.output, argOf(args.agentId), argOf(args.fence),
         args.principal.toUtf8(), numberArg(m_options.defaultClaimTtl)},
        std::move(done),
        runChangeReply<WorkflowCheckpointResult>("wf_checkpoint", 3, args.runId,
                                                 [step](const RedisReply &r, WorkflowCheckpointResult &res) {
                                                     res.step = step;
                                                     res.revision = optInt64(r.at(1));
                                                 }));
}

void RedisStore::workflowComplete(const WorkflowCompleteArgs &args, Callback<WorkflowCompleteResult> done)
{
    run<WorkflowCompleteResult>(
        "wf_complete",
        {args.runId.toUtf8(), args.agentId.toUtf8(), args.status.toUtf8(), argOf(args.result), argOf(args.fence),
         args.principal.toUtf8()},
        std::move(done),
        runChangeReply<WorkflowCompleteResult>(
            "wf_complete", 2, args.runId,
            [status = args.status](const RedisReply &, WorkflowCompleteResult &res) { res.status = status; }));
}

void RedisStore::workflowResume(const QString &runId, Callback<WorkflowResumeResult> done)
{
    run<WorkflowResumeResult>(
        "wf_resume", {runId.toUtf8()}, std::move(done), [runId](const RedisReply &r) -> Result<WorkflowResumeResult> {
            if (!isArray(r, 2) || r.at(1).type != RedisReply::Type::Array)
                return tl::unexpected(badReply("wf_resume"));
            auto run = runOf(r.at(0));
            if (!run)
                return tl::unexpected(badReply("wf_resume"));
            struct Step
            {
                std::int64_t step;
                QByteArray output;
                StepMeta meta;
            };
            std::vector<Step> steps;
            const auto &flat = r.at(1).elements;
            steps.reserve(flat.size() / 5);
            for (std::size_t i = 0; i + 4 < flat.size(); i += 5)
                steps.push_back(Step{flat[i].toInt64(), flat[i + 1].str,
                                     StepMeta{flat[i + 2].toDouble(), optText(flat[i + 3]), optInt64(flat[i + 4])}});
            // Ascending by step, on every backend.
            std::sort(steps.begin(), steps.end(), [](const Step &a, const Step &b) { return a.step < b.step; });
            WorkflowResumeResult res;
            res.runId = runId;
            res.lastStep = run->meta.lastStep;
            res.stepOutputs.reserve(steps.size());
            res.stepMeta.reserve(steps.size());
            for (Step &s : steps) {
                res.stepOutputs.emplace_back(s.step, std::move(s.output));
                res.stepMeta.emplace_back(s.step, std::move(s.meta));
            }
            res.meta = std::move(run->meta);
            return res;
        });
}

void RedisStore::workflowStatus(const QString &runId, Callback<WorkflowMeta> done)
{
    run<WorkflowMeta>("wf_status", {runId.toUtf8()}, std::move(done), [](const RedisReply &r) -> Result<WorkflowMeta> {
        auto run = runOf(r);
        if (!run)
            return tl::unexpected(badReply("wf_status"));
        return std::move(run->meta);
    });
}

} // namespace sidecar::store
