-- kv_get: one key as state_get sees it (docs/redis.md, `P kv:<key>`). A key past its deadline is
-- absent at once, whether or not the sweep has removed it yet.
--
-- Arguments: 1 key.
-- Reply: {found (0/1), value, version, expires_at, updated_at, agent_id, revision}; the fields of
-- a missing key are null, revision is the store's revision at the read.

local key = argText(1)
local f = redis.call('HMGET', P .. 'kv:' .. key, 'value', 'version', 'expires_at', 'updated_at', 'agent_id')
local revision = currentRevision()
if f[1] == false or (f[3] ~= false and tonumber(f[3]) <= now()) then
    return {0, false, false, false, false, false, revision}
end
return {1, f[1], tonumber(f[2]), f[3], f[4], f[5], revision}
