-- wf_discover: workflow_discover and workflow_list (docs/redis.md, the run indexes), as the
-- SQLite backend's workflowDiscover (sqlitereads.cpp): the runs matching every filter, newest
-- first, one page after the cursor's sequence, within the reply budget.
--
-- The walk goes down the smallest candidate index (every run, the runs in that status, of that
-- name, with each tag, or the open runs when only claimable ones are wanted), newest first from
-- the cursor's sequence (exclusive), checks every filter on each run, and stops at `want` runs
-- (a page and one more, which tells whether more remain) or when the reply budget is spent,
-- counted as the SQLite backend counts it (ReplyBudget, sqlitecursor.h).
--
-- Arguments: 1 status, 2 name (empty: any), 3 claimable ('1', '0', or empty: any), 4 after seq
-- (the cursor's, exclusive; empty: from the newest), 5 want, 6 page size, 7 reply budget in bytes
-- (0: none), then the tags as pairs from 8 on (tag, value, ...; all must match).
-- Reply: {exhausted (1/0: the budget stopped the walk), {run, run, ...}}, each run as in
-- wf_status.lua.

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

local function isFinished(status)
    return status == 'done' or status == 'failed'
end

-- Not finished and no live claim (never claimed, or the claim lapsed).
local function claimable(run, t)
    return not isFinished(run.status) and (run.claim_expires_at == nil or tonumber(run.claim_expires_at) <= t)
end

-- ReplyBudget::text(): 6 bytes per UTF-16 code unit, plus 4.
local function textCost(s)
    local _, continuation = string.gsub(s, '[\128-\191]', '')
    local _, fourByte = string.gsub(s, '[\240-\247]', '')
    return 6 * (#s - continuation + fourByte) + 4
end

local status = argText(1)
local name = argText(2)
local wantClaimable = arg(3)
local afterSeq = arg(4)
local want = argNumber(5)
local pageSize = argNumber(6)
local maxBytes = argNumber(7)
local tagKeys = {}
for i = 8, #ARGV - 3, 2 do
    local tag = argText(i)
    tagKeys[#tagKeys + 1] = P .. 'wf_tag:' .. #tag .. ':' .. tag .. argText(i + 1)
end

local candidates = {}
if status ~= '' then
    candidates[#candidates + 1] = P .. 'wf_status:' .. status
end
if name ~= '' then
    candidates[#candidates + 1] = P .. 'wf_name:' .. name
end
for _, key in ipairs(tagKeys) do
    candidates[#candidates + 1] = key
end
if wantClaimable == '1' then
    candidates[#candidates + 1] = P .. 'wf_open'
end
local source = P .. 'wf'
local smallest = redis.call('ZCARD', source)
for _, key in ipairs(candidates) do
    local n = redis.call('ZCARD', key)
    if n < smallest then
        source = key
        smallest = n
    end
end

local t = now()
local runs = {}
local used = 0
local exhausted = 0
local BATCH = 256
local upper = '+inf'
if afterSeq ~= nil then
    upper = '(' .. afterSeq
end
while smallest > 0 and #runs < want and exhausted == 0 do
    local page = redis.call('ZREVRANGEBYSCORE', source, upper, '-inf', 'WITHSCORES', 'LIMIT', 0, BATCH)
    for i = 1, #page, 2 do
        local id = page[i]
        upper = '(' .. page[i + 1]
        local run = hgetall(P .. 'wf:' .. id)
        local match = run ~= nil and (status == '' or run.status == status) and (name == '' or run.name == name)
        if match and wantClaimable ~= nil then
            match = claimable(run, t) == (wantClaimable == '1')
        end
        if match then
            for _, key in ipairs(tagKeys) do
                if redis.call('ZSCORE', key, id) == false then
                    match = false
                    break
                end
            end
        end
        if match then
            -- ReplyBudget::fits(): the first run always fits; the probe past a full page is free.
            if #runs < pageSize then
                local cost = #(run.input or '') + #(run.result or '') + textCost(id) + textCost(run.name) +
                                 textCost(run.agent_id or '') + 512
                if #runs > 0 and maxBytes > 0 and used + cost > maxBytes then
                    exhausted = 1
                    break
                end
                used = used + cost
            end
            runs[#runs + 1] = runReply(id, run)
            if #runs >= want then
                break
            end
        end
    end
    if #page < 2 * BATCH then
        break
    end
end
return {exhausted, runs}
