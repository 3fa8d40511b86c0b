-- wf_heartbeat: workflow_heartbeat (docs/redis.md, `P wf:<run_id>`), as the SQLite backend's
-- workflowHeartbeat (sqlitewrites.cpp): the live claim's holder (under its fence, when given)
-- extends the claim to now + ttl (the call's, else the claim's own, else the default), with a
-- 'heartbeat' entry; anyone else gets the reason why not.
--
-- Arguments: 1 run_id, 2 agent_id, 3 ttl_seconds (empty: the claim's own), 4 fence,
-- 5 principal, 6 the default claim ttl (SIDECAR_CLAIM_TTL).
-- Reply: {ok (1/0), claim_expires_at, reason}.

local runId = argText(1)
local agentId = argText(2)
local ttl = argNumber(3)
local fence = arg(4)
local principal = argText(5)
if arg(3) ~= nil then
    local bad = ttlError(ttl)
    if bad then
        return bad
    end
end

local t = now()
local run, why = openRun(runId, t, true, agentId, fence)
if not run then
    return {0, false, why}
end

ttl = ttl or tonumber(run.claim_ttl) or argNumber(6)
local expiresAt = fmt(t + ttl)
local entry = '{"claim_expires_at":' .. jsonNumber(tonumber(expiresAt))
if run.fence ~= nil then
    entry = entry .. ',"fence":' .. run.fence
end
mutate('workflow', 'heartbeat', runId, entry .. '}', nil, agentId, principal, t)
redis.call('HSET', P .. 'wf:' .. runId, 'claim_expires_at', expiresAt, 'updated_at', fmt(t))
return {1, expiresAt, false}
