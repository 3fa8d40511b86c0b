-- lib_kv.lua: the prelude of the kv_*.lua scripts (sent after lib.lua, see its header): what
-- state_set and state_delete share (docs/redis.md, `P kv:<key>`), as the SQLite backend's kvSet
-- and kvDelete (sqlitewrites.cpp) share it.

-- require_lease: nil when the guard holds (or none was given), else the reason it does not. Its
-- arguments start at index g: given ('1' or ''), resource_id, holder_id, fence ('' for none).
local function leaseGuardFailure(g, t)
    if arg(g) == nil then
        return nil
    end
    local resourceId = argText(g + 1)
    local holderId = argText(g + 2)
    local lease = redis.call('HMGET', P .. 'lease:' .. resourceId, 'holder', 'expires_at', 'fence')
    if lease[1] == false or tonumber(lease[2]) <= t then
        return "Lease '" .. resourceId .. "' is not held"
    end
    if lease[1] ~= holderId then
        return "Held by '" .. lease[1] .. "'"
    end
    local fence = arg(g + 3)
    if fence ~= nil and tonumber(fence) ~= tonumber(lease[3]) then
        return 'Stale fence ' .. fence .. ": lease '" .. resourceId .. "' is held under fence " .. lease[3]
    end
    return nil
end

-- What a key write does first: a key found past its deadline (that the sweep has not removed
-- yet) is expired with its own 'expire' entry; then the conditions, require_lease (its arguments
-- from index g) before if_version (argument v: 0 = the key must not exist). Returns the key's
-- row (a table, nil when the key is absent) and, when a condition fails, the reply to return:
-- {ok 0, version 0, revision 0, expires_at null, conflict (0/1), current_version, reason}.
local function kvWriteStart(key, t, g, v)
    local row = hgetall(P .. 'kv:' .. key)
    if row and row.expires_at and tonumber(row.expires_at) <= t then
        expireKey(key, row.value, t)
        row = nil
    end

    local why = leaseGuardFailure(g, t)
    if why then
        return row, {0, 0, 0, false, 0, false, why}
    end
    local ifVersion = argNumber(v)
    if ifVersion == nil then
        return row, nil
    end
    local current = 0
    if row then
        current = tonumber(row.version)
    end
    if ifVersion == 0 and row ~= nil then
        return row, {0, 0, 0, false, 1, current,
                     "Key '" .. key .. "' already exists (version " .. string.format('%d', current) .. ')'}
    end
    if ifVersion ~= 0 and current ~= ifVersion then
        return row, {0, 0, 0, false, 1, current,
                     "Version conflict: key '" .. key .. "' is at version " .. string.format('%d', current) ..
                         ', not ' .. arg(v)}
    end
    return row, nil
end
