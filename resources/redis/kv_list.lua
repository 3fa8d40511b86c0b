-- kv_list: state_list (docs/redis.md, `P kv`, `P kv_exp`), as the SQLite backend's kvList
-- (sqlitereads.cpp): keys in byte order from a start position up to the prefix's successor,
-- lapsed keys left out, and with a delimiter every key that has it after the prefix rolled up
-- S3-style into one prefix (up to and including the delimiter), the scan going on past
-- everything under it. It gathers one item more than a page (the probe telling whether more
-- remain) and stops early once the reply estimate (textCost(), lib.lua) passes the budget; the
-- store (rediskv.cpp) applies the reply budget (ReplyBudget, sqlitecursor.h), the paging rules
-- and the cursor.
--
-- Arguments: 1 prefix, 2 delimiter ('' for none), 3 start key, 4 start inclusive ('1' or ''),
-- 5 upper bound (exclusive; '' for none), 6 page size, 7 reply budget in bytes (0 = none),
-- 8 nothing to scan ('1' or '': the cursor is past every possible key).
-- Reply: {revision, cut (0/1), item, is_prefix (0/1), item, is_prefix, ...}; cut = 1 when the
-- scan stopped because the last item passed the reply budget (more may remain after it).

local prefix = argText(1)
local delimiter = arg(2)
local from = argText(3)
local inclusive = arg(4) ~= nil
local upper = arg(5)
local pageSize = argNumber(6)
local maxBytes = argNumber(7) or 0
local exhausted = arg(8) ~= nil
local want = pageSize + 1

-- The smallest byte string greater than every string that starts with `s` (nil when none).
local function successor(s)
    local i = #s
    while i > 0 and string.byte(s, i) == 255 do
        i = i - 1
    end
    if i == 0 then
        return nil
    end
    return string.sub(s, 1, i - 1) .. string.char(string.byte(s, i) + 1)
end

local t = now()
local zkey = P .. 'kv'
local expKey = P .. 'kv_exp'
local reply = {currentRevision(), 0}
local count = 0
local used = 0
local cut = false

-- Adds an item; false once the scan must stop (the budget was passed: the item is still sent,
-- so that the store sees where it ran out).
local function add(text, isPrefix)
    if count < pageSize then
        local bytes = textCost(text)
        if count > 0 and maxBytes > 0 and used + bytes > maxBytes then
            cut = true
        else
            used = used + bytes
        end
    end
    count = count + 1
    reply[#reply + 1] = text
    reply[#reply + 1] = isPrefix
    return not cut
end

local lo, hi = lexRange(from, inclusive, upper)
-- With a delimiter most of a batch may be skipped past a rolled-up prefix: start small.
local batch = 256
if delimiter then
    batch = 32
end

while not exhausted and not cut and count < want do
    local size = math.min(want - count, batch)
    local keys = redis.call('ZRANGEBYLEX', zkey, lo, hi, 'LIMIT', 0, size)
    local restart = nil
    local stop = false
    for _, key in ipairs(keys) do
        local deadline = redis.call('ZSCORE', expKey, key)
        if not (deadline and tonumber(deadline) <= t) then
            local at = nil
            if delimiter then
                at = string.find(key, delimiter, #prefix + 1, true)
            end
            if at then
                local rolled = string.sub(key, 1, at + #delimiter - 1)
                add(rolled, 1)
                restart = successor(rolled)
                if not restart then
                    exhausted = true
                end
                break
            end
            if not add(key, 0) or count >= want then
                stop = true
                break
            end
        end
    end
    if stop or cut then
        break
    end
    if restart then
        lo = '[' .. restart
    elseif #keys < size then
        exhausted = true
    else
        lo = '(' .. keys[#keys]
        batch = math.min(batch * 2, 1024)
    end
end
if cut then
    reply[2] = 1
end
return reply
