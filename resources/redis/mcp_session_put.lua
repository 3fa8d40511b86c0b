-- mcp_session_put: stores an MCP HTTP session record (docs/redis.md, `P mcp_session:<id>`), no
-- revision, no history; Redis drops it at its deadline (native TTL: nothing else refers to it).
--
-- Arguments: 1 id, 2 protocol_version, 3 principal, 4 subscriptions (JSON array text),
-- 5 expires_at (Unix seconds).
-- Reply: 1.

local key = P .. 'mcp_session:' .. argText(1)
redis.call('DEL', key)
redis.call('HSET', key, 'protocol_version', argText(2), 'principal', argText(3), 'subscriptions', argText(4),
           'expires_at', argText(5))
redis.call('PEXPIREAT', key, math.floor(tonumber(argText(5)) * 1000))
return 1
