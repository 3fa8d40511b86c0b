// Group 2: the workflow lifecycle (create, discover, claim, claim_next, heartbeat, checkpoint,
// complete, resume, status, list).

#include "toolsupport.h"

namespace sidecar::tools {

namespace {

#define TAGS_SCHEMA(what) \
    "{\"type\":\"object\",\"additionalProperties\":{\"type\":\"string\"},\"description\":\"" what "\"}"
#define RUN_ID_SCHEMA SIDECAR_ID_SCHEMA("The run's id (wf-...).")
#define AGENT_SCHEMA(what) SIDECAR_ID_SCHEMA(what)
#define CLAIM_TTL_SCHEMA SIDECAR_TTL_SCHEMA("How long the claim lasts without a heartbeat or checkpoint (default 300 s).")

#define RUN_SCHEMA                                                                                                    \
    "{\"type\":\"object\",\"required\":[\"run_id\",\"name\",\"status\",\"tags\",\"agent_id\",\"last_step\","         \
    "\"created_at\",\"updated_at\"],\"properties\":{\"run_id\":{\"type\":\"string\"},\"name\":{\"type\":\"string\"}," \
    "\"status\":{\"type\":\"string\"},\"tags\":{\"type\":\"object\",\"additionalProperties\":{\"type\":\"string\"}},"  \
    "\"agent_id\":" SIDECAR_NULLABLE("string") ",\"last_step\":{\"type\":\"integer\"},"                                \
    "\"created_at\":{\"type\":\"number\"},\"updated_at\":{\"type\":\"number\"},\"input\":{},\"result\":{},"            \
    "\"claim_expires_at\":{\"type\":\"number\"},\"fence\":{\"type\":\"integer\"},\"attempt\":{\"type\":\"integer\"},"  \
    "\"max_attempts\":{\"type\":\"integer\"}}}"

#define RUNS_OUTPUT                                                                                 \
    "{\"type\":\"object\",\"required\":[\"runs\"],\"properties\":{\"runs\":{\"type\":\"array\",\"items\":" RUN_SCHEMA \
    "},\"next_cursor\":{\"type\":\"string\"}}}"

#define CLAIM_OUTPUT                                                                                                 \
    "{\"type\":\"object\",\"required\":[\"claimed\",\"run_id\",\"agent_id\",\"reason\"],\"properties\":{"           \
    "\"claimed\":{\"type\":\"boolean\"},\"run_id\":" SIDECAR_NULLABLE("string") ",\"agent_id\":"                     \
    SIDECAR_NULLABLE("string") ",\"reason\":" SIDECAR_NULLABLE("string") ",\"fence\":{\"type\":\"integer\"},"         \
    "\"claim_expires_at\":{\"type\":\"number\"},\"attempt\":{\"type\":\"integer\"}}}"

constexpr const char kCreateInput[] =
    "{\"type\":\"object\",\"additionalProperties\":false,\"required\":[\"name\"],\"properties\":{"
    "\"name\":" SIDECAR_ID_SCHEMA("The workflow's name (its kind of work).") ","
    "\"tags\":" TAGS_SCHEMA("Labels to find the run by (workflow_discover, workflow_claim_next).") ","
    "\"input\":{\"description\":\"Any JSON the workers need; returned exactly as sent.\"},"
    "\"idempotency_key\":" SIDECAR_ID_SCHEMA("Creating twice with the same key returns the first run.") ","
    "\"max_attempts\":{\"type\":\"integer\",\"minimum\":1,\"description\":\"Claims allowed before the run is marked "
    "failed.\"}}}";

constexpr const char kCreateOutput[] =
    "{\"type\":\"object\",\"required\":[\"run_id\",\"name\",\"status\"],\"properties\":{"
    "\"run_id\":{\"type\":\"string\"},\"name\":{\"type\":\"string\"},\"status\":{\"type\":\"string\"},"
    "\"created_at\":{\"type\":\"number\"},\"created\":{\"type\":\"boolean\"}}}";

constexpr const char kDiscoverInput[] =
    "{\"type\":\"object\",\"additionalProperties\":false,\"properties\":{"
    "\"tags\":" TAGS_SCHEMA("Only runs having all these tags.") ","
    "\"status\":{\"type\":\"string\",\"description\":\"Only runs in this status (created, claimed, running, done, "
    "failed).\"},"
    "\"name\":{\"type\":\"string\",\"description\":\"Only runs with this name.\"},"
    "\"claimable\":{\"type\":\"boolean\",\"description\":\"true: only runs that can be claimed now; false: only runs "
    "that cannot.\"},"
    "\"limit\":" SIDECAR_LIMIT_SCHEMA ",\"cursor\":" SIDECAR_CURSOR_SCHEMA "}}";

constexpr const char kClaimInput[] =
    "{\"type\":\"object\",\"additionalProperties\":false,\"required\":[\"run_id\",\"agent_id\"],\"properties\":{"
    "\"run_id\":" RUN_ID_SCHEMA ",\"agent_id\":" AGENT_SCHEMA("The claiming agent.") ","
    "\"ttl_seconds\":" CLAIM_TTL_SCHEMA "}}";

constexpr const char kClaimNextInput[] =
    "{\"type\":\"object\",\"additionalProperties\":false,\"required\":[\"agent_id\"],\"properties\":{"
    "\"agent_id\":" AGENT_SCHEMA("The claiming agent.") ","
    "\"tags\":" TAGS_SCHEMA("Only runs having all these tags.") ","
    "\"name\":{\"type\":\"string\",\"description\":\"Only runs with this name.\"},"
    "\"ttl_seconds\":" CLAIM_TTL_SCHEMA "}}";

constexpr const char kHeartbeatInput[] =
    "{\"type\":\"object\",\"additionalProperties\":false,\"required\":[\"run_id\",\"agent_id\"],\"properties\":{"
    "\"run_id\":" RUN_ID_SCHEMA ",\"agent_id\":" AGENT_SCHEMA("The claim's holder.") ","
    "\"ttl_seconds\":" SIDECAR_TTL_SCHEMA("New claim duration from now (default: the claim's own).") ","
    "\"fence\":" SIDECAR_FENCE_SCHEMA "}}";

constexpr const char kHeartbeatOutput[] =
    "{\"type\":\"object\",\"required\":[\"ok\",\"run_id\"],\"properties\":{\"ok\":{\"type\":\"boolean\"},"
    "\"run_id\":{\"type\":\"string\"},\"claim_expires_at\":{\"type\":\"number\"},\"reason\":{\"type\":\"string\"}}}";

constexpr const char kCheckpointInput[] =
    "{\"type\":\"object\",\"additionalProperties\":false,\"required\":[\"run_id\",\"step\",\"output\"],"
    "\"properties\":{\"run_id\":" RUN_ID_SCHEMA ","
    "\"step\":{\"type\":\"integer\",\"minimum\":0,\"description\":\"The step number; writing a step again replaces "
    "its output.\"},"
    "\"output\":{\"description\":\"The step's output, any JSON; returned exactly as sent by workflow_resume.\"},"
    "\"agent_id\":" AGENT_SCHEMA("The claim's holder: the checkpoint is refused unless it holds the live claim.") ","
    "\"fence\":" SIDECAR_FENCE_SCHEMA "}}";

constexpr const char kCheckpointOutput[] =
    "{\"type\":\"object\",\"required\":[\"ok\",\"run_id\",\"step\"],\"properties\":{\"ok\":{\"type\":\"boolean\"},"
    "\"run_id\":{\"type\":\"string\"},\"step\":{\"type\":\"integer\"},\"revision\":{\"type\":\"integer\"},"
    "\"reason\":{\"type\":\"string\"}}}";

constexpr const char kCompleteInput[] =
    "{\"type\":\"object\",\"additionalProperties\":false,\"required\":[\"run_id\",\"agent_id\",\"status\"],"
    "\"properties\":{\"run_id\":" RUN_ID_SCHEMA ",\"agent_id\":" AGENT_SCHEMA("The claim's holder.") ","
    "\"status\":{\"type\":\"string\",\"enum\":[\"done\",\"failed\"],\"description\":\"How the run ended.\"},"
    "\"result\":{\"description\":\"The run's result, any JSON.\"},"
    "\"fence\":" SIDECAR_FENCE_SCHEMA "}}";

constexpr const char kCompleteOutput[] =
    "{\"type\":\"object\",\"required\":[\"ok\",\"run_id\",\"status\"],\"properties\":{\"ok\":{\"type\":\"boolean\"},"
    "\"run_id\":{\"type\":\"string\"},\"status\":{\"type\":\"string\"},\"reason\":{\"type\":\"string\"}}}";

constexpr const char kRunIdInput[] =
    "{\"type\":\"object\",\"additionalProperties\":false,\"required\":[\"run_id\"],\"properties\":{"
    "\"run_id\":" RUN_ID_SCHEMA "}}";

constexpr const char kResumeOutput[] =
    "{\"type\":\"object\",\"required\":[\"run_id\",\"last_step\",\"step_outputs\",\"meta\"],\"properties\":{"
    "\"run_id\":{\"type\":\"string\"},\"last_step\":{\"type\":\"integer\"},"
    "\"step_outputs\":{\"type\":\"object\"},\"meta\":" RUN_SCHEMA ","
    "\"step_meta\":{\"type\":\"object\",\"additionalProperties\":{\"type\":\"object\",\"properties\":{"
    "\"written_at\":{\"type\":\"number\"},\"agent_id\":" SIDECAR_NULLABLE("string") ","
    "\"fence\":" SIDECAR_NULLABLE("integer") "}}}}}";

constexpr const char kStatusOutput[] =
    "{\"type\":\"object\",\"required\":[\"run_id\",\"status\",\"last_step\",\"agent_id\",\"created_at\","
    "\"updated_at\"],\"properties\":{\"run_id\":{\"type\":\"string\"},\"status\":{\"type\":\"string\"},"
    "\"last_step\":{\"type\":\"integer\"},\"agent_id\":" SIDECAR_NULLABLE("string") ","
    "\"created_at\":{\"type\":\"number\"},\"updated_at\":{\"type\":\"number\"},"
    "\"claim_expires_at\":{\"type\":\"number\"},\"attempt\":{\"type\":\"integer\"},\"fence\":{\"type\":\"integer\"}}}";

constexpr const char kListInput[] =
    "{\"type\":\"object\",\"additionalProperties\":false,\"properties\":{"
    "\"limit\":" SIDECAR_LIMIT_SCHEMA ",\"cursor\":" SIDECAR_CURSOR_SCHEMA "}}";

void writeClaim(json::Writer &w, const store::WorkflowClaimResult &c)
{
    w.beginObject().field("claimed", c.claimed).field("run_id", c.runId).field("agent_id", c.agentId);
    w.field("reason", c.reason).fieldIf("fence", c.fence).fieldIf("claim_expires_at", c.claimExpiresAt);
    w.fieldIf("attempt", c.attempt).endObject();
}

// Runs lists (discover, list): refuses a reply over the limit when the caller did not page.
auto runsAnswer(protocol::ToolReply reply, bool paged, qint64 maxReply)
{
    return [reply = std::move(reply), paged, maxReply](Result<store::WorkflowListResult> res) {
        if (!res)
            return reply(argError(res.error()));
        json::Writer w(4096);
        w.beginObject().key("runs").beginArray();
        for (const store::WorkflowMeta &run : res->runs)
            writeRun(w, run);
        w.endArray().fieldIf("next_cursor", res->nextCursor).endObject();
        replyList(reply, w, paged, maxReply);
    };
}

} // namespace

Result<void> registerWorkflowTools(protocol::ToolRegistry &registry, store::Store &store, const ToolOptions &options)
{
    using protocol::Scope;
    using protocol::ToolAnnotations;
    store::Store *s = &store;

    auto r = registry.add({
        QStringLiteral("workflow_create"), QStringLiteral("Create a workflow run"),
        QStringLiteral("Register a new workflow run (status 'created') that agents can discover and claim. With "
                       "idempotency_key, creating again returns the existing run with created:false instead of a "
                       "duplicate."),
        QByteArray(kCreateInput), QByteArray(kCreateOutput), ToolAnnotations{false, false, false, false}, Scope::Write,
        [s, options](const protocol::CallContext &ctx, const json::Value &a, protocol::ToolReply reply) {
            store::WorkflowCreateArgs args;
            auto name = idArg(a, "name");
            if (!name)
                return reply(argError(name.error()));
            auto key = optIdArg(a, "idempotency_key");
            if (!key)
                return reply(argError(key.error()));
            if (const json::Value *input = a.find("input")) {
                auto text = valueArg(*input, "input", options);
                if (!text)
                    return reply(argError(text.error()));
                args.input = std::move(*text);
            }
            args.name = *name;
            args.tags = tagsArg(a, "tags");
            args.idempotencyKey = *key;
            args.maxAttempts = intArg(a, "max_attempts");
            args.principal = ctx.principal;
            s->workflowCreate(args, answer<store::WorkflowCreateResult>(std::move(reply), [](json::Writer &w,
                                                                                              const auto &res) {
                                  w.beginObject().field("run_id", res.run.runId).field("name", res.run.name);
                                  w.field("status", res.run.status).field("created_at", res.run.createdAt);
                                  w.field("created", res.created).endObject();
                              }));
        }});
    if (!r)
        return r;

    r = registry.add({
        QStringLiteral("workflow_discover"), QStringLiteral("Find workflow runs"),
        QStringLiteral("Find workflow runs by tags (all must match), status, name, or whether they can be claimed "
                       "now. Newest first. Without limit every match is returned; with limit, one page and "
                       "next_cursor."),
        QByteArray(kDiscoverInput), QByteArray(RUNS_OUTPUT), ToolAnnotations{true, false, true, false}, Scope::Read,
        [s, options](const protocol::CallContext &, const json::Value &a, protocol::ToolReply reply) {
            store::WorkflowDiscoverArgs args;
            args.tags = tagsArg(a, "tags");
            args.status = strArg(a, "status");
            args.name = strArg(a, "name");
            args.claimable = boolArg(a, "claimable");
            if (auto l = intArg(a, "limit"))
                args.limit = int(*l);
            args.cursor = strArg(a, "cursor");
            s->workflowDiscover(args, runsAnswer(std::move(reply), args.limit.has_value(), options.maxReplyBytes));
        }});
    if (!r)
        return r;

    r = registry.add({
        QStringLiteral("workflow_claim"), QStringLiteral("Claim a workflow run"),
        QStringLiteral("Claim a run to work on it. A claim is a lease: it lasts ttl_seconds and is extended by "
                       "heartbeats and checkpoints; if it lapses anyone may claim the run again (attempt + 1, "
                       "checkpoints kept). Exactly one of many concurrent claimers wins; the others get "
                       "claimed:false with the holder in 'reason'. Keep the returned fence for later calls."),
        QByteArray(kClaimInput), QByteArray(CLAIM_OUTPUT), ToolAnnotations{false, false, false, false}, Scope::Write,
        [s, options](const protocol::CallContext &ctx, const json::Value &a, protocol::ToolReply reply) {
            store::WorkflowClaimArgs args;
            auto run = idArg(a, "run_id");
            if (!run)
                return reply(argError(run.error()));
            auto agent = idArg(a, "agent_id");
            if (!agent)
                return reply(argError(agent.error()));
            args.runId = *run;
            args.agentId = *agent;
            args.ttlSeconds = numArg(a, "ttl_seconds").value_or(options.defaultClaimTtl);
            args.principal = ctx.principal;
            s->workflowClaim(args, answer<store::WorkflowClaimResult>(std::move(reply), writeClaim));
        }});
    if (!r)
        return r;

    r = registry.add({
        QStringLiteral("workflow_claim_next"), QStringLiteral("Claim the next workflow run"),
        QStringLiteral("Claim the oldest run that can be claimed now, optionally only among runs with these tags or "
                       "this name. Answers claimed:false with run_id:null when there is none. The claim works as in "
                       "workflow_claim."),
        QByteArray(kClaimNextInput), QByteArray(CLAIM_OUTPUT), ToolAnnotations{false, false, false, false},
        Scope::Write,
        [s, options](const protocol::CallContext &ctx, const json::Value &a, protocol::ToolReply reply) {
            store::WorkflowClaimArgs args;
            auto agent = idArg(a, "agent_id");
            if (!agent)
                return reply(argError(agent.error()));
            args.agentId = *agent;
            args.tags = tagsArg(a, "tags");
            args.name = strArg(a, "name");
            args.ttlSeconds = numArg(a, "ttl_seconds").value_or(options.defaultClaimTtl);
            args.principal = ctx.principal;
            s->workflowClaimNext(args, answer<store::WorkflowClaimResult>(std::move(reply), writeClaim));
        }});
    if (!r)
        return r;

    r = registry.add({
        QStringLiteral("workflow_heartbeat"), QStringLiteral("Extend a claim"),
        QStringLiteral("Tell the registry the claim's holder is alive: extends the claim by its own ttl (or "
                       "ttl_seconds). ok:false when the caller does not hold the live claim."),
        QByteArray(kHeartbeatInput), QByteArray(kHeartbeatOutput), ToolAnnotations{false, false, false, false},
        Scope::Write,
        [s](const protocol::CallContext &ctx, const json::Value &a, protocol::ToolReply reply) {
            store::WorkflowHeartbeatArgs args;
            auto run = idArg(a, "run_id");
            if (!run)
                return reply(argError(run.error()));
            auto agent = idArg(a, "agent_id");
            if (!agent)
                return reply(argError(agent.error()));
            args.runId = *run;
            args.agentId = *agent;
            args.ttlSeconds = numArg(a, "ttl_seconds");
            args.fence = intArg(a, "fence");
            args.principal = ctx.principal;
            s->workflowHeartbeat(args, answer<store::WorkflowHeartbeatResult>(std::move(reply), [](json::Writer &w,
                                                                                                    const auto &res) {
                                     w.beginObject().field("ok", res.ok).field("run_id", res.runId);
                                     w.fieldIf("claim_expires_at", res.claimExpiresAt).fieldIf("reason", res.reason);
                                     w.endObject();
                                 }));
        }});
    if (!r)
        return r;

    r = registry.add({
        QStringLiteral("workflow_checkpoint"), QStringLiteral("Save a step's output"),
        QStringLiteral("Save the output of a step so that the run can be resumed after a crash. With agent_id or "
                       "fence it is accepted only from the live claim (and extends it); without both it is accepted "
                       "unfenced, as older agents expect. ok:false on a finished run."),
        QByteArray(kCheckpointInput), QByteArray(kCheckpointOutput), ToolAnnotations{false, false, true, false},
        Scope::Write,
        [s, options](const protocol::CallContext &ctx, const json::Value &a, protocol::ToolReply reply) {
            store::WorkflowCheckpointArgs args;
            auto run = idArg(a, "run_id");
            if (!run)
                return reply(argError(run.error()));
            auto agent = optIdArg(a, "agent_id");
            if (!agent)
                return reply(argError(agent.error()));
            auto output = valueArg(*a.find("output"), "output", options);
            if (!output)
                return reply(argError(output.error()));
            args.runId = *run;
            args.step = intArg(a, "step").value_or(0);
            args.output = std::move(*output);
            args.agentId = *agent;
            args.fence = intArg(a, "fence");
            args.principal = ctx.principal;
            s->workflowCheckpoint(args, answer<store::WorkflowCheckpointResult>(std::move(reply), [](json::Writer &w,
                                                                                                      const auto &res) {
                                      w.beginObject().field("ok", res.ok).field("run_id", res.runId);
                                      w.field("step", res.step).fieldIf("revision", res.revision);
                                      w.fieldIf("reason", res.reason).endObject();
                                  }));
        }});
    if (!r)
        return r;

    r = registry.add({
        QStringLiteral("workflow_complete"), QStringLiteral("Finish a workflow run"),
        QStringLiteral("Mark a run done or failed, with an optional result. Only the holder of the live claim may "
                       "complete it; otherwise ok:false with a reason."),
        QByteArray(kCompleteInput), QByteArray(kCompleteOutput), ToolAnnotations{false, false, false, false},
        Scope::Write,
        [s, options](const protocol::CallContext &ctx, const json::Value &a, protocol::ToolReply reply) {
            store::WorkflowCompleteArgs args;
            auto run = idArg(a, "run_id");
            if (!run)
                return reply(argError(run.error()));
            auto agent = idArg(a, "agent_id");
            if (!agent)
                return reply(argError(agent.error()));
            if (const json::Value *result = a.find("result")) {
                auto text = valueArg(*result, "result", options);
                if (!text)
                    return reply(argError(text.error()));
                args.result = std::move(*text);
            }
            args.runId = *run;
            args.agentId = *agent;
            args.status = strArg(a, "status");
            args.fence = intArg(a, "fence");
            args.principal = ctx.principal;
            s->workflowComplete(args, answer<store::WorkflowCompleteResult>(std::move(reply), [](json::Writer &w,
                                                                                                  const auto &res) {
                                    w.beginObject().field("ok", res.ok).field("run_id", res.runId);
                                    w.field("status", res.status).fieldIf("reason", res.reason).endObject();
                                }));
        }});
    if (!r)
        return r;

    r = registry.add({
        QStringLiteral("workflow_resume"), QStringLiteral("Resume a workflow run"),
        QStringLiteral("Read everything needed to continue a run: its metadata, the last step written and every "
                       "step's output (keys are step numbers as strings, ascending). Error not_found for an unknown "
                       "run."),
        QByteArray(kRunIdInput), QByteArray(kResumeOutput), ToolAnnotations{true, false, true, false}, Scope::Read,
        [s](const protocol::CallContext &, const json::Value &a, protocol::ToolReply reply) {
            auto run = idArg(a, "run_id");
            if (!run)
                return reply(argError(run.error()));
            s->workflowResume(*run, answer<store::WorkflowResumeResult>(std::move(reply), [](json::Writer &w,
                                                                                             const auto &res) {
                                  w.beginObject().field("run_id", res.runId).field("last_step", res.lastStep);
                                  w.key("step_outputs").beginObject();
                                  for (const auto &[step, output] : res.stepOutputs)
                                      w.key(std::to_string(step)).raw(output);
                                  w.endObject();
                                  w.key("meta");
                                  writeRun(w, res.meta);
                                  w.key("step_meta").beginObject();
                                  for (const auto &[step, meta] : res.stepMeta) {
                                      w.key(std::to_string(step)).beginObject().field("written_at", meta.writtenAt);
                                      w.field("agent_id", meta.agentId).field("fence", meta.fence).endObject();
                                  }
                                  w.endObject().endObject();
                              }));
        }});
    if (!r)
        return r;

    r = registry.add({
        QStringLiteral("workflow_status"), QStringLiteral("Read a run's status"),
        QStringLiteral("Read a run's status, last step, claim holder and claim expiry. Error not_found for an "
                       "unknown run."),
        QByteArray(kRunIdInput), QByteArray(kStatusOutput), ToolAnnotations{true, false, true, false}, Scope::Read,
        [s](const protocol::CallContext &, const json::Value &a, protocol::ToolReply reply) {
            auto run = idArg(a, "run_id");
            if (!run)
                return reply(argError(run.error()));
            s->workflowStatus(*run, answer<store::WorkflowMeta>(std::move(reply), writeWorkflowStatus));
        }});
    if (!r)
        return r;

    return registry.add({
        QStringLiteral("workflow_list"), QStringLiteral("List workflow runs"),
        QStringLiteral("List every workflow run, newest first. Without limit every run is returned; with limit, one "
                       "page and next_cursor."),
        QByteArray(kListInput), QByteArray(RUNS_OUTPUT), ToolAnnotations{true, false, true, false}, Scope::Read,
        [s, options](const protocol::CallContext &, const json::Value &a, protocol::ToolReply reply) {
            store::WorkflowDiscoverArgs args;
            if (auto l = intArg(a, "limit"))
                args.limit = int(*l);
            args.cursor = strArg(a, "cursor");
            s->workflowDiscover(args, runsAnswer(std::move(reply), args.limit.has_value(), options.maxReplyBytes));
        }});
}

} // namespace sidecar::tools
