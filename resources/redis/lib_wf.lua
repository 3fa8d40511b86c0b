-- lib_wf.lua: the prelude of the wf_*.lua scripts (sent after lib.lua, see its header): what the
-- workflow operations share (docs/redis.md, `P wf:<run_id>` and the run indexes), as the SQLite
-- backend's workflow functions (sqlitewrites.cpp, sqlitereads.cpp) share it. A run is its hash as
-- a Lua table (hgetall()): absent fields are nil.

local function isFinished(status)
    return status == 'done' or status == 'failed'
end

-- A live claim: the run is not finished and its holder's claim has not lapsed.
local function claimLive(run, t)
    return not isFinished(run.status) and run.agent_id ~= nil and run.claim_expires_at ~= nil and
               tonumber(run.claim_expires_at) > t
end

local function runStatusReason(run)
    -- The original package formatted a missing agent as Python's None.
    return "Workflow is in status '" .. run.status .. "' (agent: " .. (run.agent_id or 'None') .. ')'
end

-- Why a call naming `agentId` / `fence` (nil: not checked) is not the live claim of the run; nil
-- when it is.
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

-- The run `id` as a call that changes it needs it (heartbeat, checkpoint, complete): not
-- finished and, when `checkClaim`, held live by `agentId` under `fence` (claimMismatch()).
-- Returns the run, or nil and the reason why not.
local function openRun(id, t, checkClaim, agentId, fence)
    local run = hgetall(P .. 'wf:' .. id)
    if not run then
        return nil, "Workflow '" .. id .. "' not found"
    end
    if isFinished(run.status) then
        return nil, runStatusReason(run)
    end
    if checkClaim then
        local why = claimMismatch(id, run, agentId, fence, t)
        if why then
            return nil, why
        end
    end
    return run
end

-- Moves the run between the status indexes (and out of the open runs once finished); sets
-- run.status, not the hash's field.
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

-- A run as the flat reply RedisStore decodes (redisworkflows.cpp, runOf()): run_id, name,
-- status, tags (flat array: tag, value, ...), agent_id, last_step, created_at, updated_at,
-- input, result, claim_expires_at, fence, attempt, max_attempts, seq; absent fields are Nil.
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

-- The index of the runs with tag `tag` = `value` (`P wf_tag:<len>:<tag><value>`).
local function tagKey(tag, value)
    return P .. 'wf_tag:' .. #tag .. ':' .. tag .. value
end

-- The tag filters of a call, sent as pairs (tag, value, ...) from argument i on: their indexes.
local function tagKeysFrom(i)
    local keys = {}
    for j = i, #ARGV - 3, 2 do
        keys[#keys + 1] = tagKey(argText(j), argText(j + 1))
    end
    return keys
end

-- True when run `id` is in every index of `keys` (it has every tag filtered on).
local function inEvery(keys, id)
    for _, key in ipairs(keys) do
        if redis.call('ZSCORE', key, id) == false then
            return false
        end
    end
    return true
end

-- The smallest of the run indexes a filtered walk may go down: `base` (every run, or every
-- open run), the runs in `status` and of `name` ('' for none), with each tag of `tagKeys`, and
-- the open runs when `open`; the first of equals. Returns its key and size.
local function smallestIndex(base, status, name, tagKeys, open)
    local keys = {base}
    if status ~= '' then
        keys[#keys + 1] = P .. 'wf_status:' .. status
    end
    if name ~= '' then
        keys[#keys + 1] = P .. 'wf_name:' .. name
    end
    for _, key in ipairs(tagKeys) do
        keys[#keys + 1] = key
    end
    if open then
        keys[#keys + 1] = P .. 'wf_open'
    end
    local source = base
    local smallest = redis.call('ZCARD', base)
    for i = 2, #keys do
        local n = redis.call('ZCARD', keys[i])
        if n < smallest then
            source = keys[i]
            smallest = n
        end
    end
    return source, smallest
end

-- Walks the runs of the index `source` (score = seq) oldest first from `bound` up, or newest
-- first from `bound` down when `newestFirst` (`bound` as lib.lua's scoreBatch() takes it),
-- 256 at a time, calling visit(id, run) for each (run: nil when its hash is gone) until visit
-- returns a value other than nil; returns that value (nil when the walk ran out of runs).
local function walkRuns(source, newestFirst, bound, visit)
    local BATCH = 256
    while true do
        local page = scoreBatch(source, newestFirst, bound, BATCH)
        for i = 1, #page, 2 do
            bound = '(' .. page[i + 1]
            local out = visit(page[i], hgetall(P .. 'wf:' .. page[i]))
            if out ~= nil then
                return out
            end
        end
        if #page < 2 * BATCH then
            return nil
        end
    end
end
