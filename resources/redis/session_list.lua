-- session_list: session_list (docs/redis.md, `P session`, `P session:<session_id>`), as the
-- SQLite backend's sessionList (sqlitereads.cpp): sessions in byte order of their id, from the
-- prefix (or after the cursor's id) up to the prefix's successor. It gathers one session more
-- than a page (the probe telling whether more remain) and stops early once the reply estimate
-- passes the budget; the store (redisleases.cpp) applies the reply budget, the paging rules and
-- the cursor.
--
-- Arguments: 1 start id ('' for the first), 2 start inclusive ('1' or ''), 3 upper bound
-- (exclusive; '' for none), 4 page size, 5 reply budget in bytes (0 = none). The store gives the
-- start: the prefix (inclusive), or the cursor's id (exclusive) when that is not before it.
-- Reply: {cut (0/1), session_id, saved_at, updated_at, ...}; cut = 1 when the scan stopped
-- because the last session passed the reply budget (more may remain after it).

local from = argText(1)
local inclusive = arg(2) ~= nil
local upper = arg(3)
local pageSize = argNumber(4)
local maxBytes = argNumber(5) or 0
local want = pageSize + 1

-- ReplyBudget::text(): 6 bytes per UTF-16 unit (JSON escaping at worst) plus the quotes.
local function estimate(s)
    local _, continuation = string.gsub(s, '[\128-\191]', '')
    local _, astral = string.gsub(s, '[\240-\247]', '')
    return 6 * (#s - continuation + astral) + 4
end

local lo
if not inclusive then
    lo = '(' .. from
elseif from == '' then
    lo = '-'
else
    lo = '[' .. from
end
local hi = '+'
if upper then
    hi = '(' .. upper
end

local reply = {0}
local count = 0
local used = 0
local batch = 256
while count < want do
    local size = math.min(want - count, batch)
    local ids = redis.call('ZRANGEBYLEX', P .. 'session', lo, hi, 'LIMIT', 0, size)
    for _, id in ipairs(ids) do
        local f = redis.call('HMGET', P .. 'session:' .. id, 'saved_at', 'updated_at')
        if f[1] ~= false then
            if count < pageSize then
                local bytes = estimate(id) + 96
                if count > 0 and maxBytes > 0 and used + bytes > maxBytes then
                    reply[1] = 1
                else
                    used = used + bytes
                end
            end
            count = count + 1
            reply[#reply + 1] = id
            reply[#reply + 1] = f[1]
            reply[#reply + 1] = f[2]
            if reply[1] == 1 or count >= want then
                return reply
            end
        end
    end
    if #ids < size then
        break
    end
    lo = '(' .. ids[#ids]
    batch = math.min(batch * 2, 1024)
end
return reply
