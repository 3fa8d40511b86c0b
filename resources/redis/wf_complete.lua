-- wf_complete: workflow_complete (docs/redis.md, `P wf:<run_id>` and the run indexes), as the
-- SQLite backend's workflowComplete (sqlitewrites.cpp): only the live claim's holder (under its
-- fence, when given) may finish the run, as 'done' or 'failed' with an optional result; the
-- claim ends (the holder stays as agent_id), the run leaves the open runs, and one 'complete'
-- entry shows the new status and result over the old status.
--
-- Arguments: 1 run_id, 2 agent_id, 3 status ('done' or 'failed'), 4 result (compact JSON),
-- 5 fence, 6 principal.
-- Reply: {ok (1/0), reason}.

local runId = argText(1)
local agentId = argText(2)
local status = argText(3)
local result = arg(4)
local fence = arg(5)
local principal = argText(6)
if status ~= 'done' and status ~= 'failed' then
    return redis.error_reply("INVALID_ARGUMENT status must be 'done' or 'failed'")
end

local t = now()
local run, why = openRun(runId, t, true, agentId, fence)
if not run then
    return {0, why}
end

local previous = '{"status":' .. jsonString(run.status) .. '}'
local entry = '{"status":' .. jsonString(status)
if result ~= nil then
    entry = entry .. ',"result":' .. result
end
mutate('workflow', 'complete', runId, entry .. '}', previous, agentId, principal, t)

setStatus(runId, run, status)
local hkey = P .. 'wf:' .. runId
redis.call('HSET', hkey, 'status', status, 'updated_at', fmt(t))
setField(hkey, 'result', result)
redis.call('HDEL', hkey, 'claim_expires_at')
return {1, false}
