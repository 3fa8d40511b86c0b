-- kv_set: state_set (docs/redis.md, `P kv:<key>`, `P kv`, `P kv_exp`), as the SQLite backend's
-- kvSet (sqlitewrites.cpp): a key found past its deadline is first expired with its own 'expire'
-- entry; then the conditions (require_lease, then if_version: kvWriteStart() in lib_kv.lua);
-- then the write, whose revision is the key's new version, with one 'set' history entry.
--
-- Arguments: 1 key, 2 value (compact JSON), 3 ttl_seconds, 4 agent_id, 5 if_version,
-- 6 require_lease given ('1' or ''), 7 its resource_id, 8 its holder_id, 9 its fence, 10 principal.
-- Reply: {ok (0/1), version, revision, expires_at, conflict (0/1), current_version, reason}.

local key = argText(1)
local value = argText(2)
local ttl = nil
if arg(3) ~= nil then
    ttl = argNumber(3)
    local bad = ttlError(ttl)
    if bad then
        return bad
    end
end
local agentId = arg(4)
local principal = argText(10)

local t = now()
local hkey = P .. 'kv:' .. key
local row, refused = kvWriteStart(key, t, 6, 5)
if refused then
    return refused
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
setField(hkey, 'agent_id', agentId)
redis.call('ZADD', P .. 'kv', 0, key)
backstopTtl(hkey, expiresAt)
return {1, rev, rev, fmt(expiresAt), 0, false, false}
