-- wf_status: workflow_status (docs/redis.md, `P wf:<run_id>`), as the SQLite backend's
-- workflowStatus (sqlitereads.cpp): the run as it is, or not_found.
--
-- Arguments: 1 run_id.
-- Reply: the run, flat: {run_id, name, status, tags (flat array: tag, value, ...), agent_id,
-- last_step, created_at, updated_at, input, result, claim_expires_at, fence, attempt,
-- max_attempts, seq}; absent fields are Nil, times are text.

local runId = argText(1)
local run = hgetall(P .. 'wf:' .. runId)
if not run then
    return redis.error_reply("NOT_FOUND Workflow '" .. runId .. "' not found")
end
return runReply(runId, run)
