-- mcp_session_delete: removes an MCP HTTP session record (docs/redis.md, `P mcp_session:<id>`).
--
-- Arguments: 1 id.
-- Reply: 1 when a live record was there, else 0.

local key = P .. 'mcp_session:' .. argText(1)
local expires = redis.call('HGET', key, 'expires_at')
redis.call('DEL', key)
if expires and tonumber(expires) > now() then
    return 1
end
return 0
