-- session_restore: session_restore (docs/redis.md, `P session:<session_id>`), as the SQLite
-- backend's sessionRestore (sqlitereads.cpp).
--
-- Arguments: 1 session_id.
-- Reply: {found (0/1), context, saved_at, updated_at}; null fields when not found.

local f = redis.call('HMGET', P .. 'session:' .. argText(1), 'context', 'saved_at', 'updated_at')
if f[1] == false then
    return {0, false, false, false}
end
return {1, f[1], f[2], f[3]}
