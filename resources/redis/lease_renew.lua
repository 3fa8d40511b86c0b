-- lease_renew: lease_renew (docs/redis.md, `P lease:<resource_id>`, `P lease_exp`), as the
-- SQLite backend's leaseRenew (sqlitewrites.cpp): only the live holder (under its fence when one
-- is given) renews; the new deadline is now + ttl, the fence stays, with one 'renew' history
-- entry. A lapsed lease cannot be renewed.
--
-- Arguments: 1 resource_id, 2 holder_id, 3 ttl_seconds, 4 fence, 5 principal.
-- Reply: {renewed (0/1), expires_at, fence}; null fields when not renewed.

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
local fence = argNumber(4)
local principal = argText(5)
if ttl == nil or ttl ~= ttl or ttl <= 0 or ttl == math.huge then
    return redis.error_reply('INVALID_ARGUMENT ttl_seconds must be a positive number of seconds')
end

local t = now()
local hkey = P .. 'lease:' .. resourceId
local lease = redis.call('HMGET', hkey, 'holder', 'expires_at', 'fence')
if lease[1] == false then
    return {0, false, false}
end
local holder = lease[1]
local oldExpiresAt = tonumber(lease[2])
local leaseFence = tonumber(lease[3])
if oldExpiresAt <= t or holder ~= holderId or (fence ~= nil and fence ~= leaseFence) then
    return {0, false, false}
end
-- Rounded to the microsecond once, so that the reply, the stored deadline, the history entry
-- and the sweep's queue agree.
local expiresAt = tonumber(fmt(t + ttl))
mutate('lease', 'renew', resourceId, leaseJson(holder, expiresAt, leaseFence),
       leaseJson(holder, oldExpiresAt, leaseFence), holderId, principal, t)
redis.call('HSET', hkey, 'expires_at', fmt(expiresAt))
redis.call('ZADD', P .. 'lease_exp', expiresAt, resourceId)
backstopTtl(hkey, expiresAt)
return {1, fmt(expiresAt), leaseFence}
