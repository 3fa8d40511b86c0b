-- lib_lease.lua: the prelude of the lease_*.lua scripts (sent after lib.lua, see its header):
-- what lease_release and lease_renew share (docs/redis.md, `P lease:<resource_id>`), as the
-- SQLite backend's leaseRelease and leaseRenew (sqlitewrites.cpp) share it.

-- The lease on `resourceId` when `holderId` holds it live, under `fence` when that is not nil:
-- its holder, expires_at and fence (numbers); nil when there is no lease, it lapsed, or another
-- holder or fence has it.
local function heldLease(resourceId, holderId, fence, t)
    local lease = redis.call('HMGET', P .. 'lease:' .. resourceId, 'holder', 'expires_at', 'fence')
    if lease[1] == false then
        return nil
    end
    local expiresAt = tonumber(lease[2])
    local leaseFence = tonumber(lease[3])
    if expiresAt <= t or lease[1] ~= holderId or (fence ~= nil and fence ~= leaseFence) then
        return nil
    end
    return lease[1], expiresAt, leaseFence
end
