-- kv_delete: state_delete (docs/redis.md, `P kv:<key>`, `P kv`, `P kv_exp`), as the SQLite
-- backend's kvDelete (sqlitewrites.cpp): a key found past its deadline is first expired with its
-- own 'expire' entry; then the conditions (require_lease, then if_version: kvWriteStart() in
-- lib_kv.lua); a missing key is ok:false; else the key leaves the hash and every index, with one
-- 'delete' history entry.
--
-- Arguments: 1 key, 2 agent_id, 3 if_version, 4 require_lease given ('1' or ''), 5 its
-- resource_id, 6 its holder_id, 7 its fence, 8 principal.
-- Reply: {ok (0/1), version (0), revision, expires_at (null), conflict (0/1), current_version,
-- reason}.

local key = argText(1)
local agentId = arg(2)
local principal = argText(8)

local t = now()
local row, refused = kvWriteStart(key, t, 4, 3)
if refused then
    return refused
end
if row == nil then
    return {0, 0, 0, false, 0, false, "Key '" .. key .. "' not found"}
end

dropKey(key)
local rev = mutate('kv', 'delete', key, nil, row.value, agentId, principal, t)
return {1, 0, rev, false, 0, false, false}
