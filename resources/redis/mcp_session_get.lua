-- mcp_session_get: an MCP HTTP session record (docs/redis.md, `P mcp_session:<id>`).
--
-- Arguments: 1 id.
-- Reply: {protocol_version, principal, subscriptions, expires_at}, or nil when unknown or past
-- its deadline.

local f = redis.call('HMGET', P .. 'mcp_session:' .. argText(1), 'protocol_version', 'principal', 'subscriptions',
                     'expires_at')
if f[1] == false or tonumber(f[4]) <= now() then
    return false
end
return f
