-- changes.lua: history entries after a revision, oldest first (Store::changes: state_watch and
-- resource subscriptions), as the SQLite backend answers them: `since_revision` exclusive, every
-- filter given must hold (exact key, literal key prefix, kind), at most `limit` entries and `more`
-- when further matches remain. When something after since_revision was dropped (retention or
-- reset: since_revision < history_floor) the answer is `compacted` with no entries, so that the
-- caller re-reads. The store's revision is read in the same atomic step. The walk is lib.lua's
-- walkHistory(), up from since_revision.
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
local limit = argCount(5, 1000, 1, 100000)

local revision = currentRevision()
local floor = tonumber(redis.call('HGET', META, 'history_floor') or '0')
if tonumber(since) < floor then
    return {revision, 1, 0}
end

local batchSize = math.min(limit + 1, 1024)
if prefix and not key then
    batchSize = 1024
end

local reply = {revision, 0, 0}
if walkHistory(key, prefix, kind, false, '(' .. since, batchSize, limit, reply) then
    reply[3] = 1
end
return reply
