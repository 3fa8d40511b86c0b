-- lib.lua: prepended to every script of the Redis backend (docs/redis.md). Defines the common
-- arguments and the helpers that every mutation uses: Redis's clock, the store-wide revision, the
-- history entry with its indexes and retention, and the change announcement.
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
