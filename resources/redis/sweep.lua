-- sweep.lua: the expiry sweep (every sidecar runs it every 250 ms; whichever runs first does the
-- work, atomically). Removes up to 256 lapsed keys and leases (deadline <= now), the earliest
-- deadlines first, each from its data and its indexes with its own 'expire' history entry, as
-- the SQLite backend's sweep does: for a key, previous_value is its value; for a lease, the JSON
-- {"holder":...,"expires_at":...,"fence":...} of the lease it was. Reads already treat these
-- items as absent; the sweep makes that durable and visible in history, exactly once (a write
-- that finds a lapsed item expires it the same way first, so the sweep never sees it again).
--
-- No arguments. Reply: the number of items swept; 256 when a full batch was handled (more may be
-- waiting: the store runs the sweep again at once).

local MAX = 256
local at = now()
local bound = string.format('%.17g', at)

-- The candidates of both queues, merged by deadline.
local candidates = {}
local function collect(queue, kind)
    local due = redis.call('ZRANGEBYSCORE', P .. queue, '-inf', bound, 'WITHSCORES', 'LIMIT', 0, MAX)
    for i = 1, #due, 2 do
        candidates[#candidates + 1] = {kind = kind, id = due[i], deadline = tonumber(due[i + 1])}
    end
end
collect('kv_exp', 'kv')
collect('lease_exp', 'lease')
table.sort(candidates, function(a, b)
    if a.deadline ~= b.deadline then
        return a.deadline < b.deadline
    end
    if a.kind ~= b.kind then
        return a.kind < b.kind
    end
    return a.id < b.id
end)

-- One lapsed key: true when it was removed. The hash is the truth; a queue entry that disagrees
-- with it (no deadline, or a later one) is corrected instead. A hash already gone while the key
-- is still listed was dropped by the native backstop TTL: its expiry is recorded all the same,
-- without the value.
local function sweepKey(k)
    local data = P .. 'kv:' .. k
    local row = hgetall(data)
    if row then
        local deadline = tonumber(row.expires_at or '')
        if deadline == nil then
            redis.call('ZREM', P .. 'kv_exp', k)
            return false
        end
        if deadline > at then
            redis.call('ZADD', P .. 'kv_exp', deadline, k)
            return false
        end
    elseif redis.call('ZSCORE', P .. 'kv', k) == false then
        redis.call('ZREM', P .. 'kv_exp', k)
        return false
    end
    expireKey(k, row and row.value, at)
    return true
end

-- One lapsed lease, likewise (previous_value: the lease as leaseJson() shows it).
local function sweepLease(r)
    local data = P .. 'lease:' .. r
    local row = hgetall(data)
    local previous = nil
    if row then
        local deadline = tonumber(row.expires_at or '')
        if deadline ~= nil and deadline > at then
            redis.call('ZADD', P .. 'lease_exp', deadline, r)
            return false
        end
        if deadline ~= nil and row.holder and tonumber(row.fence or '') then
            previous = leaseJson(row.holder, deadline, tonumber(row.fence))
        end
    elseif redis.call('ZSCORE', P .. 'lease', r) == false then
        redis.call('ZREM', P .. 'lease_exp', r)
        return false
    end
    expireLease(r, previous, at)
    return true
end

local swept = 0
for i = 1, math.min(#candidates, MAX) do
    local c = candidates[i]
    local removed
    if c.kind == 'kv' then
        removed = sweepKey(c.id)
    else
        removed = sweepLease(c.id)
    end
    if removed then
        swept = swept + 1
    end
end
-- A full batch asks for another run at once, even when a few entries were only corrected.
if #candidates >= MAX and swept < MAX then
    return MAX
end
return swept
