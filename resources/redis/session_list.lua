-- session_list: session_list (docs/redis.md, `P session`, `P session:<session_id>`), as the
-- SQLite backend's sessionList (sqlitereads.cpp): sessions in byte order of their id, from the
-- prefix (or after the cursor's id) up to the prefix's successor. One page, a probe and the
-- reply budget as lib.lua's listById(); the store (redisleases.cpp) applies the reply budget,
-- the paging rules and the cursor.
--
-- Arguments: 1 start id ('' for the first), 2 start inclusive ('1' or ''), 3 upper bound
-- (exclusive; '' for none), 4 page size, 5 reply budget in bytes (0 = none). The store gives the
-- start: the prefix (inclusive), or the cursor's id (exclusive) when that is not before it.
-- Reply: {cut (0/1), session_id, saved_at, updated_at, ...}; cut = 1 when the scan stopped
-- because the last session passed the reply budget (more may remain after it).

return listById(P .. 'session', function(id)
    local f = redis.call('HMGET', P .. 'session:' .. id, 'saved_at', 'updated_at')
    if f[1] == false then
        return nil
    end
    return f
end, function(id)
    return textCost(id) + 96
end)
