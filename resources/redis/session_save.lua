-- session_save: session_save (docs/redis.md, `P session:<session_id>`, `P session`), as the
-- SQLite backend's sessionSave (sqlitewrites.cpp): the context is replaced whole, saved_at is
-- the first save's time, updated_at and agent_id are this save's; one 'save' history entry with
-- the previous context.
--
-- Arguments: 1 session_id, 2 context (compact JSON), 3 agent_id, 4 principal.
-- Reply: {revision, updated_at}.

local sessionId = argText(1)
local context = argText(2)
local agentId = arg(3)
local principal = argText(4)

local t = now()
local hkey = P .. 'session:' .. sessionId
local previous = hget(hkey, 'context')
local rev = mutate('session', 'save', sessionId, context, previous, agentId, principal, t)
local at = fmt(t)
if previous then
    redis.call('HSET', hkey, 'context', context, 'updated_at', at)
else
    redis.call('HSET', hkey, 'context', context, 'saved_at', at, 'updated_at', at)
    redis.call('ZADD', P .. 'session', 0, sessionId)
end
setField(hkey, 'agent_id', agentId)
return {rev, at}
