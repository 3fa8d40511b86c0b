-- wf_complete: workflow_complete (docs/redis.md, `P wf:<run_id>` and the run indexes), as the
-- SQLite backend's workflowComplete (sqlitewrites.cpp): only the live claim's holder (under its
-- fence, when given) may finish the run, as 'done' or 'failed' with an optional result; the
-- claim ends (the holder stays as agent_id), the run leaves the open runs, and one 'complete'
-- entry shows the new status and result over the old status.
--
-- Arguments: 1 run_id, 2 agent_id, 3 status ('done' or 'failed'), 4 result (compact JSON),
-- 5 fence, 6 principal.
-- Reply: {ok (1/0), reason}.

local JSON_ESCAPES = {['"'] = '\\"', ['\\'] = '\\\\', ['\n'] = '\\n', ['\r'] = '\\r', ['\t'] = '\\t',
                      ['\b'] = '\\b', ['\f'] = '\\f'}

-- A string as JSON text, escaped exactly as the sidecar's own writer does (protocol/json.cpp).
local function jsonString(s)
    local body = string.gsub(s, '[%z\1-\31"\\]', function(c)
        return JSON_ESCAPES[c] or string.format('\\u%04x', string.byte(c))
    end)
    return '"' .. body .. '"'
end

local function isFinished(status)
    return status == 'done' or status == 'failed'
end

local function claimLive(run, t)
    return not isFinished(run.status) and run.agent_id ~= nil and run.claim_expires_at ~= nil and
               tonumber(run.claim_expires_at) > t
end

local function runStatusReason(run)
    return "Workflow is in status '" .. run.status .. "' (agent: " .. (run.agent_id or 'None') .. ')'
end

-- Why a call naming `agentId` / `fence` is not the live claim of the run; nil when it is.
local function claimMismatch(id, run, agentId, fence, t)
    if not claimLive(run, t) then
        if run.claim_expires_at ~= nil then
            return "The claim on workflow '" .. id .. "' has lapsed"
        end
        return "Workflow '" .. id .. "' is not claimed"
    end
    if agentId ~= nil and agentId ~= run.agent_id then
        return runStatusReason(run)
    end
    if fence ~= nil and fence ~= run.fence then
        return 'Stale fence ' .. fence .. ": the live claim on workflow '" .. id .. "' has fence " .. (run.fence or '0')
    end
    return nil
end

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
local hkey = P .. 'wf:' .. runId
local run = hgetall(hkey)
if not run then
    return {0, "Workflow '" .. runId .. "' not found"}
end
if isFinished(run.status) then
    return {0, runStatusReason(run)}
end
local why = claimMismatch(runId, run, agentId, fence, t)
if why then
    return {0, why}
end

local previous = '{"status":' .. jsonString(run.status) .. '}'
local entry = '{"status":' .. jsonString(status)
if result ~= nil then
    entry = entry .. ',"result":' .. result
end
mutate('workflow', 'complete', runId, entry .. '}', previous, agentId, principal, t)

redis.call('ZREM', P .. 'wf_status:' .. run.status, runId)
redis.call('ZADD', P .. 'wf_status:' .. status, run.seq, runId)
redis.call('ZREM', P .. 'wf_open', runId)
redis.call('HSET', hkey, 'status', status, 'updated_at', fmt(t))
if result ~= nil then
    redis.call('HSET', hkey, 'result', result)
else
    redis.call('HDEL', hkey, 'result')
end
redis.call('HDEL', hkey, 'claim_expires_at')
return {1, false}
