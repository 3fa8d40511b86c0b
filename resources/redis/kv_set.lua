-- kv_set: state_set (docs/redis.md, `P kv:<key>`, `P kv`, `P kv_exp`), as the SQLite backend's
-- kvSet (sqlitewrites.cpp): a key found past its deadline is first expired with its own 'expire'
-- entry; then the conditions (require_lease, then if_version); then the write, whose revision is
-- the key's new version, with one 'set' history entry.
--
-- Arguments: 1 key, 2 value (compact JSON), 3 ttl_seconds, 4 agent_id, 5 if_version,
-- 6 require_lease given ('1' or ''), 7 its resource_id, 8 its holder_id, 9 its fence, 10 principal.
-- Reply: {ok (0/1), version, revision, expires_at, conflict (0/1), current_version, reason}.

local function checkTtl(ttl)
    if ttl == nil or ttl ~= ttl or ttl <= 0 or ttl == math.huge then
        return redis.error_reply('INVALID_ARGUMENT ttl_seconds must be a positive number of seconds')
    end
    return nil
end

-- require_lease: nil when the guard holds, else the reason it does not.
local function checkGuard(t)
    if arg(6) == nil then
        return nil
    end
    local resourceId = argText(7)
    local holderId = argText(8)
    local lease = redis.call('HMGET', P .. 'lease:' .. resourceId, 'holder', 'expires_at', 'fence')
    if lease[1] == false or tonumber(lease[2]) <= t then
        return "Lease '" .. resourceId .. "' is not held"
    end
    if lease[1] ~= holderId then
        return "Held by '" .. lease[1] .. "'"
    end
    local fence = arg(9)
    if fence ~= nil and tonumber(fence) ~= tonumber(lease[3]) then
        return 'Stale fence ' .. fence .. ": lease '" .. resourceId .. "' is held under fence " .. lease[3]
    end
    return nil
end

local key = argText(1)
local value = argText(2)
local ttl = nil
if arg(3) ~= nil then
    ttl = argNumber(3)
    local bad = checkTtl(ttl)
    if bad then
        return bad
    end
end
local agentId = arg(4)
local ifVersionText = arg(5)
local ifVersion = argNumber(5)
local principal = argText(10)

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

local expiresAt = nil
if ttl then
    -- Rounded to the microsecond once, so that the reply, the stored deadline and the sweep's
    -- queue agree.
    expiresAt = tonumber(fmt(t + ttl))
end
local previous = nil
if row then
    previous = row.value
end
local rev = mutate('kv', 'set', key, value, previous, agentId, principal, t)
redis.call('HSET', hkey, 'value', value, 'version', rev, 'updated_at', fmt(t))
if expiresAt then
    redis.call('HSET', hkey, 'expires_at', fmt(expiresAt))
    redis.call('ZADD', P .. 'kv_exp', expiresAt, key)
else
    redis.call('HDEL', hkey, 'expires_at')
    redis.call('ZREM', P .. 'kv_exp', key)
end
if agentId then
    redis.call('HSET', hkey, 'agent_id', agentId)
else
    redis.call('HDEL', hkey, 'agent_id')
end
redis.call('ZADD', P .. 'kv', 0, key)
backstopTtl(hkey, expiresAt)
return {1, rev, rev, fmt(expiresAt), 0, false, false}
