-- lease_acquire: lease_acquire (docs/redis.md, `P lease:<resource_id>`, `P lease`,
-- `P lease_exp`), as the SQLite backend's leaseAcquire (sqlitewrites.cpp): a lease found past
-- its deadline is first expired with its own 'expire' entry; a live lease of another holder is
-- refused; the live holder acquiring again extends it keeping the grant's fence; else a new
-- grant whose fence is its own revision. One 'acquire' history entry either way.
--
-- Arguments: 1 resource_id, 2 holder_id, 3 ttl_seconds, 4 principal.
-- Reply: {acquired (0/1), holder, expires_at, reason, fence}: refused, holder is the current
-- holder and expires_at, fence are null.

local resourceId = argText(1)
local holderId = argText(2)
local ttl = argNumber(3)
local principal = argText(4)
local bad = ttlError(ttl)
if bad then
    return bad
end

local t = now()
local hkey = P .. 'lease:' .. resourceId
local lease = hgetall(hkey)
if lease then
    lease.expires_at = tonumber(lease.expires_at)
    lease.fence = tonumber(lease.fence)
end

-- A lease whose deadline passed but that the sweep has not removed yet is removed here, with its
-- own 'expire' entry: every expiry is in history exactly once.
if lease and lease.expires_at <= t then
    expireLease(resourceId, leaseJson(lease.holder, lease.expires_at, lease.fence), t)
    lease = nil
end

if lease and lease.holder ~= holderId then
    return {0, lease.holder, false, "Held by '" .. lease.holder .. "'", false}
end

-- Rounded to the microsecond once, so that the reply, the stored deadline, the history entry
-- and the sweep's queue agree.
local expiresAt = tonumber(fmt(t + ttl))
local fence
if lease then
    -- The live holder acquiring again: extend, keeping the grant's fence.
    fence = lease.fence
    mutate('lease', 'acquire', resourceId, leaseJson(holderId, expiresAt, fence),
           leaseJson(lease.holder, lease.expires_at, lease.fence), holderId, principal, t)
    redis.call('HSET', hkey, 'expires_at', fmt(expiresAt))
else
    fence = nextRevision()
    record(fence, 'lease', 'acquire', resourceId, leaseJson(holderId, expiresAt, fence), nil, holderId, principal, t)
    redis.call('HSET', hkey, 'holder', holderId, 'expires_at', fmt(expiresAt), 'fence', fence, 'granted_at', fmt(t))
    redis.call('ZADD', P .. 'lease', 0, resourceId)
end
redis.call('ZADD', P .. 'lease_exp', expiresAt, resourceId)
backstopTtl(hkey, expiresAt)
return {1, holderId, fmt(expiresAt), false, fence}
