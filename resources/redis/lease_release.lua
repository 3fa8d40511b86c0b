-- lease_release: lease_release (docs/redis.md, `P lease:<resource_id>`, `P lease`,
-- `P lease_exp`), as the SQLite backend's leaseRelease (sqlitewrites.cpp): only the live holder
-- (under its fence when one is given) releases; the lease leaves the hash and every index, with
-- one 'release' history entry. A lapsed lease is left to the sweep (or the next acquire).
--
-- Arguments: 1 resource_id, 2 holder_id, 3 fence, 4 principal.
-- Reply: 1 when released, else 0.

local resourceId = argText(1)
local holderId = argText(2)
local principal = argText(4)

local t = now()
local holder, expiresAt, fence = heldLease(resourceId, holderId, argNumber(3), t)
if not holder then
    return 0
end
dropLease(resourceId)
mutate('lease', 'release', resourceId, nil, leaseJson(holder, expiresAt, fence), holderId, principal, t)
return 1
