-- lease_acquire: lease_acquire (docs/redis.md, `P lease:<resource_id>`, `P lease`,
-- `P lease_exp`), as the SQLite backend's leaseAcquire (sqlitewrites.cpp): a lease found past
-- its deadline is first expired with its own 'expire' entry; a live lease of another holder is
-- refused; the live holder acquiring again extends it keeping the grant's fence; else a new
-- grant whose fence is its own revision. One 'acquire' history entry either way.
--
-- Arguments: 1 resource_id, 2 holder_id, 3 ttl_seconds, 4 principal.
-- Reply: {acquired (0/1), holder, expires_at, reason, fence}: refused, holder is the current
-- holder and expires_at, fence are null.

-- The JSON text of a string, escaped as json::Writer does (protocol/json.cpp).
local function jsonString(s)
    local escapes = {['"'] = '\\"', ['\\'] = '\\\\', ['\n'] = '\\n', ['\r'] = '\\r', ['\t'] = '\\t',
                     ['\b'] = '\\b', ['\f'] = '\\f'}
    return '"' .. string.gsub(s, '[%z\1-\31"\\]', function(c)
        return escapes[c] or string.format('\\u%04x', string.byte(c))
    end) .. '"'
end

-- The JSON text of a number as json::Writer writes a double (std::to_chars, shortest form that
-- reads back the same; fixed notation unless scientific is shorter).
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

local resourceId = argText(1)
local holderId = argText(2)
local ttl = argNumber(3)
local principal = argText(4)
if ttl == nil or ttl ~= ttl or ttl <= 0 or ttl == math.huge then
    return redis.error_reply('INVALID_ARGUMENT ttl_seconds must be a positive number of seconds')
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
    redis.call('DEL', hkey)
    redis.call('ZREM', P .. 'lease', resourceId)
    redis.call('ZREM', P .. 'lease_exp', resourceId)
    mutate('lease', 'expire', resourceId, nil, leaseJson(lease.holder, lease.expires_at, lease.fence), nil, '', t)
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
