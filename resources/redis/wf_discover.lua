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

-- Not finished and no live claim (never claimed, or the claim lapsed).
local function claimable(run, t)
    return not isFinished(run.status) and (run.claim_expires_at == nil or tonumber(run.claim_expires_at) <= t)
end

local status = argText(1)
local name = argText(2)
local wantClaimable = arg(3)
local afterSeq = arg(4)
local want = argNumber(5)
local pageSize = argNumber(6)
local maxBytes = argNumber(7)
local tagKeys = tagKeysFrom(8)
local source, smallest = smallestIndex(P .. 'wf', status, name, tagKeys, wantClaimable == '1')

local t = now()
local runs = {}
local used = 0
local exhausted = 0
local upper = '+inf'
if afterSeq ~= nil then
    upper = '(' .. afterSeq
end
if smallest > 0 and #runs < want then
    walkRuns(source, true, upper, function(id, run)
        local match = run ~= nil and (status == '' or run.status == status) and (name == '' or run.name == name)
        if match and wantClaimable ~= nil then
            match = claimable(run, t) == (wantClaimable == '1')
        end
        if match and inEvery(tagKeys, id) then
            -- ReplyBudget::fits(): the first run always fits; the probe past a full page is free.
            if #runs < pageSize then
                local cost = #(run.input or '') + #(run.result or '') + textCost(id) + textCost(run.name) +
                                 textCost(run.agent_id or '') + 512
                if #runs > 0 and maxBytes > 0 and used + cost > maxBytes then
                    exhausted = 1
                    return true
                end
                used = used + cost
            end
            runs[#runs + 1] = runReply(id, run)
            if #runs >= want then
                return true
            end
        end
        return nil
    end)
end
return {exhausted, runs}
