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

-- The 'claim' entry's value: status, agent_id, fence, attempt, claim_expires_at.
local function claimJson(run)
    return '{"status":' .. jsonString(run.status) .. ',"agent_id":' .. jsonString(run.agent_id) .. ',"fence":' ..
               run.fence .. ',"attempt":' .. run.attempt .. ',"claim_expires_at":' ..
               jsonNumber(tonumber(run.claim_expires_at)) .. '}'
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
local bad = ttlError(ttl)
if bad then
    return bad
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
local tagKeys = tagKeysFrom(7)
local source, smallest = smallestIndex(P .. 'wf_open', '', name, tagKeys, false)

if smallest > 0 then
    local res = walkRuns(source, false, '-inf', function(id, run)
        if run ~= nil and not isFinished(run.status) and not claimLive(run, t) and
            (name == '' or run.name == name) and inEvery(tagKeys, id) then
            local outcome = claimRun(id, run, agentId, ttl, ttlText, principal, t)
            -- A candidate at its max_attempts is now failed: the search goes on.
            if outcome[1] == 1 or run.status ~= 'failed' then
                return outcome
            end
        end
        return nil
    end)
    if res then
        return res
    end
end
return {0, false, false, 'No claimable workflow run', false, false, false}
