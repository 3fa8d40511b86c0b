-- lease_list: lease_list (docs/redis.md, `P lease`, `P lease:<resource_id>`), as the SQLite
-- backend's leaseList (sqlitereads.cpp): live leases in byte order of their resource id, from
-- the prefix (or after the cursor's id) up to the prefix's successor; a lease past its deadline
-- is left out at once. One page, a probe and the reply budget as lib.lua's listById(); the store
-- (redisleases.cpp) applies the reply budget, the paging rules and the cursor.
--
-- Arguments: 1 start id ('' for the first), 2 start inclusive ('1' or ''), 3 upper bound
-- (exclusive; '' for none), 4 page size, 5 reply budget in bytes (0 = none). The store gives the
-- start: the prefix (inclusive), or the cursor's id (exclusive) when that is not before it.
-- Reply: {cut (0/1), resource_id, holder, expires_at, fence, ...}; cut = 1 when the scan
-- stopped because the last lease passed the reply budget (more may remain after it).

local t = now()
return listById(P .. 'lease', function(id)
    local f = redis.call('HMGET', P .. 'lease:' .. id, 'holder', 'expires_at', 'fence')
    if f[1] == false or tonumber(f[2]) <= t then
        return nil
    end
    return {f[1], f[2], tonumber(f[3])}
end, function(id, f)
    return textCost(id) + textCost(f[1]) + 96
end)
