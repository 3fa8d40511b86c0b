-- lib.lua: prepended to every script of the Redis backend (docs/redis.md, "How an operation
-- runs"). Holds what scripts of several families share: the common arguments, Redis's clock, the
-- store-wide revision, the history entry with its indexes and retention, the change announcement
-- and the history walk; the JSON text the sidecar's writer makes; expiry of keys and leases; the
-- reply budget and the paging of lists kept in byte order.
--
-- Preludes: RedisStore::script() sends lib.lua, then lib_<family>.lua when that file exists
-- (<family> is the script's name up to its first '_': kv_set.lua gets lib_kv.lua, wf_claim.lua
-- lib_wf.lua), then the script. A helper used by one family only goes into that family's
-- prelude; one used by several goes here. Every helper is a local of the one chunk Redis
-- compiles, and a Lua function has at most 200 locals: keep the preludes to functions and a few
-- constants (group many helpers into a table should that limit come near).
--
-- ARGV[1] key prefix, ARGV[2] history limit (entries), ARGV[3] history limit (bytes); the
-- operation's own arguments start at ARGV[4]: read them with arg(i) (i = 1, 2, ...).

local P = ARGV[1]
local HISTORY_LIMIT = tonumber(ARGV[2])
local HISTORY_MAX_BYTES = tonumber(ARGV[3])
local META = P .. 'meta'

-- The operation's argument i as sent, or nil when absent (sent as the empty string).
local function arg(i)
    local v = ARGV[3 + i]
    if v == nil or v == '' then
        return nil
    end
    return v
end

-- The operation's argument i as a string, '' when absent (for identifiers that may be empty, such
-- as a list prefix).
local function argText(i)
    return ARGV[3 + i] or ''
end

local function argNumber(i)
    local v = arg(i)
    if v == nil then
        return nil
    end
    return tonumber(v)
end

-- The operation's argument i as a whole number within lo..hi (`default` when absent or not a
-- number), as the SQLite backend clamps a count.
local function argCount(i, default, lo, hi)
    local n = math.floor(argNumber(i) or default)
    if n < lo then
        return lo
    elseif n > hi then
        return hi
    end
    return n
end

-- Redis's clock, in Unix seconds with microseconds. Every script takes its times from here, never
-- from the sidecar (instances on several hosts share one clock this way).
local function now()
    local t = redis.call('TIME')
    return tonumber(t[1]) + tonumber(t[2]) / 1000000
end

-- Times travel as text: Redis would truncate a Lua number in a reply to an integer.
local function fmt(t)
    if t == nil or t == false then
        return false
    end
    return string.format('%.6f', t)
end

-- HGET as a Lua value: nil for a missing field (Redis gives false).
local function hget(key, field)
    local v = redis.call('HGET', key, field)
    if v == false then
        return nil
    end
    return v
end

-- A hash as a Lua table (field -> string); nil when the key does not exist.
local function hgetall(key)
    local flat = redis.call('HGETALL', key)
    if #flat == 0 then
        return nil
    end
    local t = {}
    for i = 1, #flat, 2 do
        t[flat[i]] = flat[i + 1]
    end
    return t
end

-- Sets a hash field to `value`, or removes it when `value` is nil (an absent field is null).
local function setField(key, field, value)
    if value ~= nil then
        redis.call('HSET', key, field, value)
    else
        redis.call('HDEL', key, field)
    end
end

-- The next store-wide revision (strictly increasing, shared by every instance).
local function nextRevision()
    return redis.call('HINCRBY', META, 'revision', 1)
end

local function currentRevision()
    return tonumber(redis.call('HGET', META, 'revision') or '0')
end

-- Drops the oldest history entries while over a limit (the newest always stays), raising
-- history_floor to the newest revision dropped.
local function trimHistory()
    local count = tonumber(redis.call('HGET', META, 'history_count') or '0')
    local bytes = tonumber(redis.call('HGET', META, 'history_bytes') or '0')
    local floor = nil
    while count > 1 and (count > HISTORY_LIMIT or (HISTORY_MAX_BYTES > 0 and bytes > HISTORY_MAX_BYTES)) do
        local popped = redis.call('ZPOPMIN', P .. 'history')
        if #popped == 0 then
            count = 0
            bytes = 0
            break
        end
        local e = cmsgpack.unpack(popped[1])
        local rev = tonumber(popped[2])
        redis.call('ZREM', P .. 'hkey:' .. e[5], rev)
        redis.call('ZREM', P .. 'hkind:' .. e[3], rev)
        count = count - 1
        bytes = bytes - e[11]
        floor = rev
    end
    redis.call('HSET', META, 'history_count', count, 'history_bytes', bytes)
    if floor then
        local old = tonumber(redis.call('HGET', META, 'history_floor') or '0')
        if floor > old then
            redis.call('HSET', META, 'history_floor', floor)
        end
    end
end

-- Records one history entry for revision `rev` (new_value, previous_value, agent_id and principal
-- may be nil), applies retention, and announces the revision to every instance.
local function record(rev, kind, op, key, newValue, previousValue, agentId, principal, at)
    local id = redis.call('HINCRBY', META, 'history_id', 1)
    local size = 0
    if newValue then
        size = size + #newValue
    end
    if previousValue then
        size = size + #previousValue
    end
    if principal == '' then
        principal = nil
    end
    local member = cmsgpack.pack({id, rev, kind, op, key, newValue or false, previousValue or false,
                                  agentId or false, principal or false, fmt(at), size})
    redis.call('ZADD', P .. 'history', rev, member)
    redis.call('ZADD', P .. 'hkey:' .. key, rev, rev)
    redis.call('ZADD', P .. 'hkind:' .. kind, rev, rev)
    redis.call('HINCRBY', META, 'history_count', 1)
    redis.call('HINCRBY', META, 'history_bytes', size)
    trimHistory()
    redis.call('PUBLISH', P .. 'changes', rev)
end

-- A new revision and its history entry: what every mutation does once. Returns the revision.
local function mutate(kind, op, key, newValue, previousValue, agentId, principal, at)
    local rev = nextRevision()
    record(rev, kind, op, key, newValue, previousValue, agentId, principal, at)
    return rev
end

-- A history member as the flat reply the store decodes (HistoryEntry's fields, in order):
-- id, revision, kind, op, key, new_value, previous_value, agent_id, principal, written_at.
local function historyReply(member)
    local e = cmsgpack.unpack(member)
    return {e[1], e[2], e[3], e[4], e[5], e[6], e[7], e[8], e[9], e[10]}
end

-- Native TTL as a backstop only (the sweep removes lapsed items with their history entries):
-- one hour after the deadline, so that a store no sidecar sweeps does not keep dead data forever.
local function backstopTtl(key, deadline)
    if deadline then
        redis.call('PEXPIREAT', key, math.floor((deadline + 3600) * 1000))
    else
        redis.call('PERSIST', key)
    end
end

-- Up to `count` members of the sorted set `key` with their scores (member, score, member, ...),
-- from the score `bound` up, or down when `descending`; `bound` as ZRANGEBYSCORE takes it
-- ('(' .. score for an exclusive one, '-inf', '+inf').
local function scoreBatch(key, descending, bound, count)
    if descending then
        return redis.call('ZREVRANGEBYSCORE', key, bound, '-inf', 'WITHSCORES', 'LIMIT', 0, count)
    end
    return redis.call('ZRANGEBYSCORE', key, bound, '+inf', 'WITHSCORES', 'LIMIT', 0, count)
end

-- The history entries that match every filter given (key: exact; prefix: literal key prefix;
-- kind; nil = any), appended to `reply` as historyReply() makes them, walked newest first from
-- `bound` down (newestFirst) or oldest first from `bound` up (`bound` as scoreBatch() takes it).
-- Reads `batchSize` index entries a round and stops after `limit` matches; returns true when a
-- further match remains (history_log.lua, changes.lua).
--
-- Source: the smallest index that covers a filter: `hkey:<key>` for an exact key, else
-- `hkind:<kind>`, else `history` itself (an index holds revisions, member = score; `history`
-- holds the packed entries). Each entry is checked against every filter: a prefix alone scans
-- history until enough entries match.
local function walkHistory(key, prefix, kind, newestFirst, bound, batchSize, limit, reply)
    local history = P .. 'history'
    local source = history
    local indirect = false
    if key then
        source = P .. 'hkey:' .. key
        indirect = true
    elseif kind then
        source = P .. 'hkind:' .. kind
        indirect = true
    end
    local found = 0
    while true do
        local batch = scoreBatch(source, newestFirst, bound, batchSize)
        for i = 1, #batch, 2 do
            local member = batch[i]
            if indirect then
                member = redis.call('ZRANGEBYSCORE', history, batch[i + 1], batch[i + 1])[1]
            end
            -- The key's bytes are in the packed entry as they are: an entry without the prefix's
            -- bytes anywhere cannot match, and is skipped without unpacking it.
            if member and (not prefix or string.find(member, prefix, 1, true)) then
                local e = cmsgpack.unpack(member)
                if (not key or e[5] == key) and (not prefix or string.sub(e[5], 1, #prefix) == prefix) and
                    (not kind or e[3] == kind) then
                    found = found + 1
                    if found > limit then
                        return true
                    end
                    reply[#reply + 1] = historyReply(member)
                end
            end
        end
        if #batch < 2 * batchSize then
            return false
        end
        bound = '(' .. batch[#batch]
    end
end

-- ---------------------------------------------------------------- JSON text
-- JSON that a script writes (history entries, step metadata) reads exactly as the SQLite
-- backend's, which the sidecar's json::Writer writes (protocol/json.cpp).

local JSON_ESCAPES = {['"'] = '\\"', ['\\'] = '\\\\', ['\n'] = '\\n', ['\r'] = '\\r', ['\t'] = '\\t',
                      ['\b'] = '\\b', ['\f'] = '\\f'}

-- The JSON text of a string, escaped as json::Writer does (appendQuoted): '"' and '\' escaped,
-- control characters as short escapes or \u00XX, every other byte as is.
local function jsonString(s)
    local body = string.gsub(s, '[%z\1-\31"\\]', function(c)
        return JSON_ESCAPES[c] or string.format('\\u%04x', string.byte(c))
    end)
    return '"' .. body .. '"'
end

-- The JSON text of a number as json::Writer writes a double (std::to_chars: the shortest digits
-- that read back the same, in fixed notation unless scientific is shorter); null when not finite.
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

-- A lease as its history entries show it (the SQLite backend's leaseJson()).
local function leaseJson(holder, expiresAt, fence)
    return '{"holder":' .. jsonString(holder) .. ',"expires_at":' .. jsonNumber(expiresAt) .. ',"fence":' ..
               string.format('%d', fence) .. '}'
end

-- ---------------------------------------------------------------- deadlines and expiry
-- A key or lease past its deadline is invisible to reads at once; it is removed by the sweep
-- (sweep.lua), or by a write that finds it first, each time with its own 'expire' history entry,
-- so that every expiry is in history exactly once.

-- The error to return for a ttl_seconds that is not a positive, finite number of seconds
-- (absent, not a number, NaN, <= 0, infinite); nil for a valid one.
local function ttlError(ttl)
    if ttl == nil or ttl ~= ttl or ttl <= 0 or ttl == math.huge then
        return redis.error_reply('INVALID_ARGUMENT ttl_seconds must be a positive number of seconds')
    end
    return nil
end

-- Removes key `key` from its hash and its indexes (`P kv:<key>`, `P kv`, `P kv_exp`).
local function dropKey(key)
    redis.call('DEL', P .. 'kv:' .. key)
    redis.call('ZREM', P .. 'kv', key)
    redis.call('ZREM', P .. 'kv_exp', key)
end

-- Removes lease `resourceId` from its hash and its indexes (`P lease:<id>`, `P lease`,
-- `P lease_exp`).
local function dropLease(resourceId)
    redis.call('DEL', P .. 'lease:' .. resourceId)
    redis.call('ZREM', P .. 'lease', resourceId)
    redis.call('ZREM', P .. 'lease_exp', resourceId)
end

-- Removes a lapsed key with its 'expire' entry, whose previous_value is the key's value (nil
-- when its hash is already gone).
local function expireKey(key, value, at)
    dropKey(key)
    mutate('kv', 'expire', key, nil, value, nil, nil, at)
end

-- Removes a lapsed lease with its 'expire' entry, whose previous_value is the lease's leaseJson()
-- (nil when its hash is already gone).
local function expireLease(resourceId, previous, at)
    dropLease(resourceId)
    mutate('lease', 'expire', resourceId, nil, previous, nil, nil, at)
end

-- ---------------------------------------------------------------- lists and the reply budget
-- The lists page as the SQLite backend's (sqlitecursor.h): a script gathers one item more than
-- a page (the probe telling whether more remain) and stops early once its reply estimate passes
-- the budget; the store applies the reply budget exactly, the paging rules and the cursor.

-- ReplyBudget::text(): 6 bytes per UTF-16 code unit (JSON escaping at worst) plus 4.
local function textCost(s)
    local _, continuation = string.gsub(s, '[\128-\191]', '')
    local _, astral = string.gsub(s, '[\240-\247]', '')
    return 6 * (#s - continuation + astral) + 4
end

-- The ZRANGEBYLEX bounds of a scan in byte order from `from` (inclusive or not: '' inclusive is
-- the very first) up to `upper` (exclusive; nil for none).
local function lexRange(from, inclusive, upper)
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
    return lo, hi
end

-- One page of a list whose ids are kept in the sorted set `index` (score 0, byte order), as the
-- SQLite backend's listById() (lease_list.lua, session_list.lua). Reads the script's arguments
-- 1 start id ('' for the first), 2 start inclusive ('1' or ''), 3 upper bound (exclusive; ''
-- for none), 4 page size, 5 reply budget in bytes (0 = none). fields(id) gives an item's reply
-- fields after its id (nil leaves the item out); cost(id, fields) its reply estimate.
-- Returns {cut (0/1), id, fields..., id, fields..., ...}; cut = 1 when the scan stopped because
-- the last item passed the reply budget (more may remain after it).
local function listById(index, fields, cost)
    local pageSize = argNumber(4)
    local maxBytes = argNumber(5) or 0
    local want = pageSize + 1
    local lo, hi = lexRange(argText(1), arg(2) ~= nil, arg(3))
    local reply = {0}
    local count = 0
    local used = 0
    local batch = 256
    while count < want do
        local size = math.min(want - count, batch)
        local ids = redis.call('ZRANGEBYLEX', index, lo, hi, 'LIMIT', 0, size)
        for _, id in ipairs(ids) do
            local f = fields(id)
            if f then
                if count < pageSize then
                    local bytes = cost(id, f)
                    if count > 0 and maxBytes > 0 and used + bytes > maxBytes then
                        reply[1] = 1
                    else
                        used = used + bytes
                    end
                end
                count = count + 1
                reply[#reply + 1] = id
                for _, v in ipairs(f) do
                    reply[#reply + 1] = v
                end
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
end
