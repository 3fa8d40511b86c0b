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

-- The JSON text of a string, escaped as json::Writer does (protocol/json.cpp appendQuoted): '"'
-- and '\' escaped, control characters as short escapes or \u00XX, every other byte as is.
-- The same as lease_acquire.lua's, so that an 'expire' entry shows the lease as 'acquire' did.
local function jsonString(s)
    local escapes = {['"'] = '\\"', ['\\'] = '\\\\', ['\n'] = '\\n', ['\r'] = '\\r', ['\t'] = '\\t',
                     ['\b'] = '\\b', ['\f'] = '\\f'}
    return '"' .. string.gsub(s, '[%z\1-\31"\\]', function(c)
        return escapes[c] or string.format('\\u%04x', string.byte(c))
    end) .. '"'
end

-- The JSON text of a number as json::Writer writes a double (std::to_chars, shortest form that
-- reads back the same; fixed notation unless scientific is shorter), as lease_acquire.lua's.
local function jsonNumber(v)
    if v ~= v or v == math.huge or v == -math.huge then
        return 'null'
    end
    if v == 0 then
        return '0'
    end
    local sci
    for digits = 1, 17 do
        sci = string.format('%.' .. (digits - 1) .. 'e', v)
        if tonumber(sci) == v then
            break
        end
    end
    local mantissa, exponent = string.match(sci, '^(-?[%d.]+)e([-+]%d+)$')
    local significant = #string.gsub(mantissa, '[-.]', '')
    local decimals = math.max(0, significant - 1 - tonumber(exponent))
    local fixed = string.format('%.' .. decimals .. 'f', v)
    sci = string.gsub(sci, '%.?0*e', 'e', 1)
    if #sci < #fixed then
        return sci
    end
    return fixed
end

local function leaseJson(holder, expiresAt, fence)
    return '{"holder":' .. jsonString(holder) .. ',"expires_at":' .. jsonNumber(expiresAt) .. ',"fence":' ..
               string.format('%d', fence) .. '}'
end

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
local function expireKey(k)
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
    redis.call('DEL', data)
    redis.call('ZREM', P .. 'kv', k)
    redis.call('ZREM', P .. 'kv_exp', k)
    mutate('kv', 'expire', k, nil, row and row.value, nil, nil, at)
    return true
end

-- One lapsed lease, likewise.
local function expireLease(r)
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
    redis.call('DEL', data)
    redis.call('ZREM', P .. 'lease', r)
    redis.call('ZREM', P .. 'lease_exp', r)
    mutate('lease', 'expire', r, nil, previous, nil, nil, at)
    return true
end

local swept = 0
for i = 1, math.min(#candidates, MAX) do
    local c = candidates[i]
    local removed
    if c.kind == 'kv' then
        removed = expireKey(c.id)
    else
        removed = expireLease(c.id)
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
