-- lease_renew: lease_renew (docs/redis.md, `P lease:<resource_id>`, `P lease_exp`), as the
-- SQLite backend's leaseRenew (sqlitewrites.cpp): only the live holder (under its fence when one
-- is given) renews; the new deadline is now + ttl, the fence stays, with one 'renew' history
-- entry. A lapsed lease cannot be renewed.
--
-- Arguments: 1 resource_id, 2 holder_id, 3 ttl_seconds, 4 fence, 5 principal.
-- Reply: {renewed (0/1), expires_at, fence}; null fields when not renewed.

local resourceId = argText(1)
local holderId = argText(2)
local ttl = argNumber(3)
local principal = argText(5)
local bad = ttlError(ttl)
if bad then
    return bad
end

local t = now()
local holder, oldExpiresAt, fence = heldLease(resourceId, holderId, argNumber(4), t)
if not holder then
    return {0, false, false}
end
-- Rounded to the microsecond once, so that the reply, the stored deadline, the history entry
-- and the sweep's queue agree.
local expiresAt = tonumber(fmt(t + ttl))
mutate('lease', 'renew', resourceId, leaseJson(holder, expiresAt, fence), leaseJson(holder, oldExpiresAt, fence),
       holderId, principal, t)
local hkey = P .. 'lease:' .. resourceId
redis.call('HSET', hkey, 'expires_at', fmt(expiresAt))
redis.call('ZADD', P .. 'lease_exp', expiresAt, resourceId)
backstopTtl(hkey, expiresAt)
return {1, fmt(expiresAt), fence}
