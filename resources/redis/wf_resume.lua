-- wf_resume: workflow_resume (docs/redis.md, `P wf:<run_id>`, `P wf_steps:<run_id>`,
-- `P wf_stepmeta:<run_id>`), as the SQLite backend's workflowResume (sqlitereads.cpp): the run
-- with every step's output and who wrote it, or not_found.
--
-- Arguments: 1 run_id.
-- Reply: {run, steps}: run as in wf_status.lua; steps flat, five items per step (in no order:
-- the store sorts them): step, output, written_at, agent_id, fence.

local runId = argText(1)
local run = hgetall(P .. 'wf:' .. runId)
if not run then
    return redis.error_reply("NOT_FOUND Workflow '" .. runId .. "' not found")
end

local outputs = redis.call('HGETALL', P .. 'wf_steps:' .. runId)
local metas = hgetall(P .. 'wf_stepmeta:' .. runId) or {}
local steps = {}
for i = 1, #outputs, 2 do
    local step = outputs[i]
    -- {"written_at": seconds, "agent_id": text, "fence": integer}, the last two left out when null.
    local m = cjson.decode(metas[step] or '{}')
    steps[#steps + 1] = step
    steps[#steps + 1] = outputs[i + 1]
    steps[#steps + 1] = fmt(m.written_at or 0)
    steps[#steps + 1] = m.agent_id or false
    steps[#steps + 1] = m.fence and string.format('%d', m.fence) or false
end
return {runReply(runId, run), steps}
