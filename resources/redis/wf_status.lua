-- wf_status: workflow_status (docs/redis.md, `P wf:<run_id>`), as the SQLite backend's
-- workflowStatus (sqlitereads.cpp): the run as it is, or not_found.
--
-- Arguments: 1 run_id.
-- Reply: the run, flat: {run_id, name, status, tags (flat array: tag, value, ...), agent_id,
-- last_step, created_at, updated_at, input, result, claim_expires_at, fence, attempt,
-- max_attempts, seq}; absent fields are Nil, times are text.

-- A run hash as the flat reply RedisStore decodes (redisworkflows.cpp, runOf()).
local function runReply(id, r)
    local tags = {}
    for _, tv in ipairs(cjson.decode(r.tags or '[]')) do
        tags[#tags + 1] = tv[1]
        tags[#tags + 1] = tv[2]
    end
    return {id, r.name, r.status, tags, r.agent_id or false, r.last_step or '0', r.created_at, r.updated_at,
            r.input or false, r.result or false, r.claim_expires_at or false, r.fence or false,
            r.attempt or false, r.max_attempts or false, r.seq}
end

local runId = argText(1)
local run = hgetall(P .. 'wf:' .. runId)
if not run then
    return redis.error_reply("NOT_FOUND Workflow '" .. runId .. "' not found")
end
return runReply(runId, run)
