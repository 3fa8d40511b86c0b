-- wf_heartbeat: workflow_heartbeat (docs/redis.md, `P wf:<run_id>`), as the SQLite backend's
-- workflowHeartbeat (sqlitewrites.cpp): the live claim's holder (under its fence, when given)
-- extends the claim to now + ttl (the call's, else the claim's own, else the default), with a
-- 'heartbeat' entry; anyone else gets the reason why not.
--
-- Arguments: 1 run_id, 2 agent_id, 3 ttl_seconds (empty: the claim's own), 4 fence,
-- 5 principal, 6 the default claim ttl (SIDECAR_CLAIM_TTL).
-- Reply: {ok (1/0), claim_expires_at, reason}.

-- The shortest text that reads back as the same double, as the sidecar's writer does.
local function jsonNumber(x)
    for _, f in ipairs({'%.15g', '%.16g'}) do
        local s = string.format(f, x)
        if tonumber(s) == x then
            return s
        end
    end
    return string.format('%.17g', x)
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
local ttl = argNumber(3)
local fence = arg(4)
local principal = argText(5)
if arg(3) ~= nil and (ttl == nil or ttl ~= ttl or ttl <= 0 or ttl == math.huge) then
    return redis.error_reply('INVALID_ARGUMENT ttl_seconds must be a positive number of seconds')
end

local t = now()
local hkey = P .. 'wf:' .. runId
local run = hgetall(hkey)
if not run then
    return {0, false, "Workflow '" .. runId .. "' not found"}
end
if isFinished(run.status) then
    return {0, false, runStatusReason(run)}
end
local why = claimMismatch(runId, run, agentId, fence, t)
if why then
    return {0, false, why}
end

ttl = ttl or tonumber(run.claim_ttl) or argNumber(6)
local expiresAt = fmt(t + ttl)
local entry = '{"claim_expires_at":' .. jsonNumber(tonumber(expiresAt))
if run.fence ~= nil then
    entry = entry .. ',"fence":' .. run.fence
end
mutate('workflow', 'heartbeat', runId, entry .. '}', nil, agentId, principal, t)
redis.call('HSET', hkey, 'claim_expires_at', expiresAt, 'updated_at', fmt(t))
return {1, expiresAt, false}
