-- history_log.lua: history entries newest first (Store::historyLog, tool history_log), as the
-- SQLite backend answers them: every filter given must hold (exact key, literal key prefix, kind),
-- at most n entries strictly before `before_revision`, and `more` when an older match remains.
-- The walk is lib.lua's walkHistory(), down from before_revision.
--
-- Arguments: 1 key (exact, '' = any), 2 prefix ('' = any), 3 kind ('' = any), 4 n (1..1000),
-- 5 before_revision ('' = none).
-- Reply: {more (0|1), entry, entry, ...}, each entry as lib.lua's historyReply().

local key = arg(1)
local prefix = arg(2)
local kind = arg(3)
local n = argCount(4, 10, 1, 1000)
local before = arg(5)
if before and tonumber(before) == nil then
    return redis.error_reply('INVALID_ARGUMENT before_revision must be an integer')
end

local batchSize = n + 1
if prefix and not key then
    batchSize = 512 -- most entries may not match: read more per round
end

local reply = {0}
if walkHistory(key, prefix, kind, true, before and ('(' .. before) or '+inf', batchSize, n, reply) then
    reply[1] = 1
end
return reply
