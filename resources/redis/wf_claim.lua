-- wf_claim: workflow_claim and workflow_claim_next (docs/redis.md, `P wf:<run_id>` and the run
-- indexes), as the SQLite backend's claimRun / workflowClaim / workflowClaimNext
-- (sqlitewrites.cpp).
--
-- A claim is a lease on the run. The live holder claiming again extends it (now + ttl), keeping
-- fence and attempt, with a 'claim' entry. Anyone else is refused while it is live, with the
-- reason naming the holder. A run never claimed, or whose claim lapsed (a lapse writes nothing),
-- gets a new grant: attempt + 1, fence = the revision of the grant, 'created' becomes 'claimed'
-- ('running' stays: its checkpoints are kept), one 'claim' entry; unless that attempt would pass
-- max_attempts: then the run is marked 'failed' instead (a 'complete' entry) and the claim is
-- refused with 'max attempts reached'. claim_next takes the oldest claimable run matching the
-- name and every tag, going on past runs that fail on max_attempts.
--
-- Arguments: 1 mode ('run': workflow_claim, 'next': workflow_claim_next), 2 run_id ('run'),
-- 3 agent_id, 4 ttl_seconds, 5 principal, 6 name ('next'; empty: any), then for 'next' the tags
-- as pairs from 7 on (tag, value, ...; all must match).
-- Reply: {claimed (1/0), run_id, agent_id, reason, fence, claim_expires_at, attempt}; run_id is
-- Nil only for claim_next with nothing to claim.

local JSON_ESCAPES = {['"'] = '\\"', ['\\'] = '\\\\', ['\n'] = '\\n', ['\r'] = '\\r', ['\t'] = '\\t',
                      ['\b'] = '\\b', ['\f'] = '\\f'}

-- A string as JSON text, escaped exactly as the sidecar's own writer does (protocol/json.cpp).
local function jsonString(s)
    local body = string.gsub(s, '[%z\1-\31"\\]', function(c)
        return JSON_ESCAPES[c] or string.format('\\u%04x', string.byte(c))
    end)
    return '"' .. body .. '"'
end

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
    -- The original package formatted a missing agent as Python's None.
    return "Workflow is in status '" .. run.status .. "' (agent: " .. (run.agent_id or 'None') .. ')'
end

-- The 'claim' entry's value: status, agent_id, fence, attempt, claim_expires_at.
local function claimJson(run)
    return '{"status":' .. jsonString(run.status) .. ',"agent_id":' .. jsonString(run.agent_id) .. ',"fence":' ..
               run.fence .. ',"attempt":' .. run.attempt .. ',"claim_expires_at":' ..
               jsonNumber(tonumber(run.claim_expires_at)) .. '}'
end

-- Moves the run between the status indexes (and out of the open runs once finished).
local function setStatus(id, run, status)
    if run.status == status then
        return
    end
    redis.call('ZREM', P .. 'wf_status:' .. run.status, id)
    redis.call('ZADD', P .. 'wf_status:' .. status, run.seq, id)
    if isFinished(status) then
        redis.call('ZREM', P .. 'wf_open', id)
    end
    run.status = status
end

local function claimed(id, run)
    return {1, id, run.agent_id, false, run.fence, run.claim_expires_at, run.attempt}
end

local function refused(id, reason)
    return {0, id, false, reason, false, false, false}
end

-- Claims `run` (its hash as a table) for `agentId`; see the header.
local function claimRun(id, run, agentId, ttl, ttlText, principal, t)
    local hkey = P .. 'wf:' .. id
    if isFinished(run.status) then
        return refused(id, runStatusReason(run))
    end
    if claimLive(run, t) then
        if run.agent_id ~= agentId then
            return refused(id, runStatusReason(run)) -- names the holder
        end
        -- The live holder claiming again: extend, keeping fence and attempt.
        run.claim_expires_at = fmt(t + ttl)
        mutate('workflow', 'claim', id, claimJson(run), nil, agentId, principal, t)
        redis.call('HSET', hkey, 'claim_expires_at', run.claim_expires_at, 'claim_ttl', ttlText, 'updated_at', fmt(t))
        return claimed(id, run)
    end
    -- A new grant: never claimed, or the last claim lapsed (which wrote nothing).
    local attempt = tonumber(run.attempt or '0') + 1
    if run.max_attempts ~= nil and attempt > tonumber(run.max_attempts) then
        local previous = '{"status":' .. jsonString(run.status) .. '}'
        setStatus(id, run, 'failed')
        mutate('workflow', 'complete', id, '{"status":"failed","reason":"max attempts reached"}', previous, agentId,
               principal, t)
        redis.call('HSET', hkey, 'status', 'failed', 'updated_at', fmt(t))
        redis.call('HDEL', hkey, 'claim_expires_at')
        return refused(id, 'max attempts reached')
    end
    local rev = nextRevision()
    -- A run that was already running (its last claim lapsed) stays running: its checkpoints are
    -- kept and the new holder resumes from them.
    if run.status == 'created' then
        setStatus(id, run, 'claimed')
    end
    run.agent_id = agentId
    run.attempt = string.format('%d', attempt)
    run.fence = string.format('%d', rev)
    run.claim_expires_at = fmt(t + ttl)
    record(rev, 'workflow', 'claim', id, claimJson(run), nil, agentId, principal, t)
    redis.call('HSET', hkey, 'status', run.status, 'agent_id', agentId, 'attempt', run.attempt, 'fence', run.fence,
               'claim_expires_at', run.claim_expires_at, 'claim_ttl', ttlText, 'updated_at', fmt(t))
    return claimed(id, run)
end

local mode = argText(1)
local agentId = argText(3)
local ttlText = argText(4)
local ttl = tonumber(ttlText)
local principal = argText(5)
if ttl == nil or ttl ~= ttl or ttl <= 0 or ttl == math.huge then
    return redis.error_reply('INVALID_ARGUMENT ttl_seconds must be a positive number of seconds')
end
local t = now()

if mode == 'run' then
    local runId = argText(2)
    local run = hgetall(P .. 'wf:' .. runId)
    if not run then
        return refused(runId, "Workflow '" .. runId .. "' not found")
    end
    return claimRun(runId, run, agentId, ttl, ttlText, principal, t)
end

-- claim_next: walk the candidates oldest first, from the smallest of the open runs, the runs of
-- that name and the runs of each tag; check the rest on each run.
local name = argText(6)
local tagKeys = {}
for i = 7, #ARGV - 3, 2 do
    local tag = argText(i)
    tagKeys[#tagKeys + 1] = P .. 'wf_tag:' .. #tag .. ':' .. tag .. argText(i + 1)
end
local source = P .. 'wf_open'
local smallest = redis.call('ZCARD', source)
local candidates = {}
if name ~= '' then
    candidates[#candidates + 1] = P .. 'wf_name:' .. name
end
for _, key in ipairs(tagKeys) do
    candidates[#candidates + 1] = key
end
for _, key in ipairs(candidates) do
    local n = redis.call('ZCARD', key)
    if n < smallest then
        source = key
        smallest = n
    end
end

local BATCH = 256
local after = '-inf'
while smallest > 0 do
    local page = redis.call('ZRANGEBYSCORE', source, after, '+inf', 'WITHSCORES', 'LIMIT', 0, BATCH)
    for i = 1, #page, 2 do
        local id = page[i]
        after = '(' .. page[i + 1]
        local run = hgetall(P .. 'wf:' .. id)
        local match = run ~= nil and not isFinished(run.status) and not claimLive(run, t) and
                          (name == '' or run.name == name)
        if match then
            for _, key in ipairs(tagKeys) do
                if redis.call('ZSCORE', key, id) == false then
                    match = false
                    break
                end
            end
        end
        if match then
            local res = claimRun(id, run, agentId, ttl, ttlText, principal, t)
            -- A candidate at its max_attempts is now failed: the search goes on.
            if res[1] == 1 or run.status ~= 'failed' then
                return res
            end
        end
    end
    if #page < 2 * BATCH then
        break
    end
end
return {0, false, false, 'No claimable workflow run', false, false, false}
