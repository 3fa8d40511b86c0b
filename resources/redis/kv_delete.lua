-- kv_delete: state_delete (docs/redis.md, `P kv:<key>`, `P kv`, `P kv_exp`), as the SQLite
-- backend's kvDelete (sqlitewrites.cpp): a key found past its deadline is first expired with its
-- own 'expire' entry; then the conditions (require_lease, then if_version); a missing key is
-- ok:false; else the key leaves the hash and every index, with one 'delete' history entry.
--
-- Arguments: 1 key, 2 agent_id, 3 if_version, 4 require_lease given ('1' or ''), 5 its
-- resource_id, 6 its holder_id, 7 its fence, 8 principal.
-- Reply: {ok (0/1), version (0), revision, expires_at (null), conflict (0/1), current_version,
-- reason}.

-- require_lease: nil when the guard holds, else the reason it does not.
local function checkGuard(t)
    if arg(4) == nil then
        return nil
    end
    local resourceId = argText(5)
    local holderId = argText(6)
    local lease = redis.call('HMGET', P .. 'lease:' .. resourceId, 'holder', 'expires_at', 'fence')
    if lease[1] == false or tonumber(lease[2]) <= t then
        return "Lease '" .. resourceId .. "' is not held"
    end
    if lease[1] ~= holderId then
        return "Held by '" .. lease[1] .. "'"
    end
    local fence = arg(7)
    if fence ~= nil and tonumber(fence) ~= tonumber(lease[3]) then
        return 'Stale fence ' .. fence .. ": lease '" .. resourceId .. "' is held under fence " .. lease[3]
    end
    return nil
end

local key = argText(1)
local agentId = arg(2)
local ifVersionText = arg(3)
local ifVersion = argNumber(3)
local principal = argText(8)

local t = now()
local hkey = P .. 'kv:' .. key
local row = hgetall(hkey)

-- A key whose deadline passed but that the sweep has not removed yet is removed here, with its
-- own 'expire' entry: every expiry is in history exactly once.
if row and row.expires_at and tonumber(row.expires_at) <= t then
    redis.call('DEL', hkey)
    redis.call('ZREM', P .. 'kv', key)
    redis.call('ZREM', P .. 'kv_exp', key)
    mutate('kv', 'expire', key, nil, row.value, nil, '', t)
    row = nil
end

local why = checkGuard(t)
if why then
    return {0, 0, 0, false, 0, false, why}
end
local current = 0
if row then
    current = tonumber(row.version)
end
if ifVersion ~= nil then
    local holds
    if ifVersion == 0 then
        holds = (row == nil)
    else
        holds = (current == ifVersion)
    end
    if not holds then
        local reason
        if ifVersion == 0 then
            reason = "Key '" .. key .. "' already exists (version " .. string.format('%d', current) .. ')'
        else
            reason = "Version conflict: key '" .. key .. "' is at version " .. string.format('%d', current) ..
                         ', not ' .. ifVersionText
        end
        return {0, 0, 0, false, 1, current, reason}
    end
end
if row == nil then
    return {0, 0, 0, false, 0, false, "Key '" .. key .. "' not found"}
end

redis.call('DEL', hkey)
redis.call('ZREM', P .. 'kv', key)
redis.call('ZREM', P .. 'kv_exp', key)
local rev = mutate('kv', 'delete', key, nil, row.value, agentId, principal, t)
return {1, 0, rev, false, 0, false, false}
