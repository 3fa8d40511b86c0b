-- lease_release: lease_release (docs/redis.md, `P lease:<resource_id>`, `P lease`,
-- `P lease_exp`), as the SQLite backend's leaseRelease (sqlitewrites.cpp): only the live holder
-- (under its fence when one is given) releases; the lease leaves the hash and every index, with
-- one 'release' history entry. A lapsed lease is left to the sweep (or the next acquire).
--
-- Arguments: 1 resource_id, 2 holder_id, 3 fence, 4 principal.
-- Reply: 1 when released, else 0.

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
local fence = argNumber(3)
local principal = argText(4)

local t = now()
local hkey = P .. 'lease:' .. resourceId
local lease = redis.call('HMGET', hkey, 'holder', 'expires_at', 'fence')
if lease[1] == false then
    return 0
end
local holder = lease[1]
local expiresAt = tonumber(lease[2])
local leaseFence = tonumber(lease[3])
if expiresAt <= t or holder ~= holderId or (fence ~= nil and fence ~= leaseFence) then
    return 0
end
redis.call('DEL', hkey)
redis.call('ZREM', P .. 'lease', resourceId)
redis.call('ZREM', P .. 'lease_exp', resourceId)
mutate('lease', 'release', resourceId, nil, leaseJson(holder, expiresAt, leaseFence), holderId, principal, t)
return 1
