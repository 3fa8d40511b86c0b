-- changes.lua: history entries after a revision, oldest first (Store::changes: state_watch and
-- resource subscriptions), as the SQLite backend answers them: `since_revision` exclusive, every
-- filter given must hold (exact key, literal key prefix, kind), at most `limit` entries and `more`
-- when further matches remain. When something after since_revision was dropped (retention or
-- reset: since_revision < history_floor) the answer is `compacted` with no entries, so that the
-- caller re-reads. The store's revision is read in the same atomic step.
--
-- Arguments: 1 since_revision, 2 key (exact, '' = any), 3 prefix ('' = any), 4 kind ('' = any),
-- 5 limit (1..100000).
-- Reply: {revision, compacted (0|1), more (0|1), entry, entry, ...}, each entry as historyReply().

local since = arg(1) or '0'
if tonumber(since) == nil then
    return redis.error_reply('INVALID_ARGUMENT since_revision must be an integer')
end
local key = arg(2)
local prefix = arg(3)
local kind = arg(4)
local limit = math.floor(argNumber(5) or 1000)
if limit < 1 then
    limit = 1
elseif limit > 100000 then
    limit = 100000
end

local revision = currentRevision()
local floor = tonumber(redis.call('HGET', META, 'history_floor') or '0')
if tonumber(since) < floor then
    return {revision, 1, 0}
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

-- The smallest index that covers a filter (see history_log.lua), walked oldest first.
local source = HISTORY
local indirect = false
if key then
    source = P .. 'hkey:' .. key
    indirect = true
elseif kind then
    source = P .. 'hkind:' .. kind
    indirect = true
end

local batchSize = math.min(limit + 1, 1024)
if prefix and not key then
    batchSize = 1024
end

local reply = {revision, 0, 0}
local found = 0
local min = '(' .. since
while true do
    local batch = redis.call('ZRANGEBYSCORE', source, min, '+inf', 'WITHSCORES', 'LIMIT', 0, batchSize)
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
                if found > limit then
                    reply[3] = 1
                    return reply
                end
                reply[#reply + 1] = historyReply(member)
            end
        end
    end
    if #batch < 2 * batchSize then
        return reply
    end
    min = '(' .. batch[#batch]
end
