-- history_log.lua: history entries newest first (Store::historyLog, tool history_log), as the
-- SQLite backend answers them: every filter given must hold (exact key, literal key prefix, kind),
-- at most n entries strictly before `before_revision`, and `more` when an older match remains.
--
-- Arguments: 1 key (exact, '' = any), 2 prefix ('' = any), 3 kind ('' = any), 4 n (1..1000),
-- 5 before_revision ('' = none).
-- Reply: {more (0|1), entry, entry, ...}, each entry as lib.lua's historyReply().
--
-- Source: the smallest index that covers a filter: `hkey:<key>` for an exact key, else
-- `hkind:<kind>`, else `history` itself; walked newest first in batches, each entry checked
-- against every filter, until n + 1 matches are found (a prefix alone scans history until then).

local key = arg(1)
local prefix = arg(2)
local kind = arg(3)
local n = math.floor(argNumber(4) or 10)
if n < 1 then
    n = 1
elseif n > 1000 then
    n = 1000
end
local before = arg(5)
if before and tonumber(before) == nil then
    return redis.error_reply('INVALID_ARGUMENT before_revision must be an integer')
end

local HISTORY = P .. 'history'

local function matches(e)
    if key and e[5] ~= key then
        return false
    end
    if prefix and string.sub(e[5], 1, #prefix) ~= prefix then
        return false
    end
    if kind and e[3] ~= kind then
        return false
    end
    return true
end

-- An index zset holds revisions (member = score); `history` holds the packed entries.
local source = HISTORY
local indirect = false
if key then
    source = P .. 'hkey:' .. key
    indirect = true
elseif kind then
    source = P .. 'hkind:' .. kind
    indirect = true
end

local batchSize = n + 1
if prefix and not key then
    batchSize = 512 -- most entries may not match: read more per round
end

local reply = {0}
local found = 0
local max = before and ('(' .. before) or '+inf'
while true do
    local batch = redis.call('ZREVRANGEBYSCORE', source, max, '-inf', 'WITHSCORES', 'LIMIT', 0, batchSize)
    for i = 1, #batch, 2 do
        local member = batch[i]
        if indirect then
            member = redis.call('ZRANGEBYSCORE', HISTORY, batch[i + 1], batch[i + 1])[1]
        end
        -- The key's bytes are in the packed entry as they are: an entry without the prefix's
        -- bytes anywhere cannot match, and is skipped without unpacking it.
        if member and (not prefix or string.find(member, prefix, 1, true)) then
            local e = cmsgpack.unpack(member)
            if matches(e) then
                found = found + 1
                if found > n then
                    reply[1] = 1
                    return reply
                end
                reply[#reply + 1] = historyReply(member)
            end
        end
    end
    if #batch < 2 * batchSize then
        return reply
    end
    max = '(' .. batch[#batch]
end
