-- session_delete: session_delete (docs/redis.md, `P session:<session_id>`, `P session`), as the
-- SQLite backend's sessionDelete (sqlitewrites.cpp): the session leaves the hash and the index,
-- with one 'delete' history entry holding the context it had.
--
-- Arguments: 1 session_id, 2 principal.
-- Reply: 1 when deleted, 0 when there was no such session.

local sessionId = argText(1)
local principal = argText(2)
local hkey = P .. 'session:' .. sessionId
local previous = hget(hkey, 'context')
if not previous then
    return 0
end
local t = now()
redis.call('DEL', hkey)
redis.call('ZREM', P .. 'session', sessionId)
mutate('session', 'delete', sessionId, nil, previous, nil, principal, t)
return 1
