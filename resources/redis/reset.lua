-- reset.lua: sidecar_reset, as the SQLite backend does it: every key, run (with its tags and
-- steps), lease and session is deleted, lapsed ones included, and the history emptied; the
-- revision counter is kept (it never goes back, so fences stay greater than every earlier one),
-- history_floor rises to it (change feeds from before learn that history was dropped), and one
-- 'store'/'reset' history entry with {"cleared": N} is written with the next revision.
--
-- Everything under the prefix is found through the indexes of docs/redis.md, never SCAN/KEYS.
-- Kept: `meta` (revision, history_id, wf_seq: like SQLite's AUTOINCREMENT, ids are not reused)
-- and the MCP HTTP sessions (`mcp_session:<id>`, not state).
--
-- Arguments: 1 principal ('' = none).
-- Reply: {cleared, revision}.

local principal = arg(1)
local at = now()

-- DEL in chunks (a Lua call takes a bounded number of arguments).
local pending = {}
local function drop(k)
    pending[#pending + 1] = k
    if #pending >= 512 then
        redis.call('UNLINK', unpack(pending))
        pending = {}
    end
end
local function flush()
    if #pending > 0 then
        redis.call('UNLINK', unpack(pending))
        pending = {}
    end
end

-- Every member of a sorted set, in chunks, passed to fn.
local CHUNK = 1000
local function eachMember(zset, fn)
    local total = redis.call('ZCARD', zset)
    for start = 0, total - 1, CHUNK do
        local members = redis.call('ZRANGE', zset, start, start + CHUNK - 1)
        for _, m in ipairs(members) do
            fn(m)
        end
    end
end

local cleared = redis.call('ZCARD', P .. 'kv') + redis.call('ZCARD', P .. 'wf') + redis.call('ZCARD', P .. 'lease') +
                    redis.call('ZCARD', P .. 'session')

-- Keys.
eachMember(P .. 'kv', function(k)
    drop(P .. 'kv:' .. k)
end)
drop(P .. 'kv')
drop(P .. 'kv_exp')

-- Leases.
eachMember(P .. 'lease', function(r)
    drop(P .. 'lease:' .. r)
end)
drop(P .. 'lease')
drop(P .. 'lease_exp')

-- Sessions.
eachMember(P .. 'session', function(s)
    drop(P .. 'session:' .. s)
end)
drop(P .. 'session')

-- Workflow runs: each run's hash, steps and step metadata, and the name and tag indexes it is in.
local names = {}
local tagKeys = {}
eachMember(P .. 'wf', function(id)
    local fields = redis.call('HMGET', P .. 'wf:' .. id, 'name', 'tags')
    if fields[1] then
        names[fields[1]] = true
    end
    if fields[2] then
        local ok, tags = pcall(cjson.decode, fields[2])
        if ok and type(tags) == 'table' then
            for _, pair in ipairs(tags) do
                if type(pair) == 'table' and type(pair[1]) == 'string' and type(pair[2]) == 'string' then
                    tagKeys[P .. 'wf_tag:' .. #pair[1] .. ':' .. pair[1] .. pair[2]] = true
                end
            end
        end
    end
    drop(P .. 'wf:' .. id)
    drop(P .. 'wf_steps:' .. id)
    drop(P .. 'wf_stepmeta:' .. id)
end)
for name in pairs(names) do
    drop(P .. 'wf_name:' .. name)
end
for k in pairs(tagKeys) do
    drop(k)
end
for _, status in ipairs({'created', 'claimed', 'running', 'done', 'failed'}) do
    drop(P .. 'wf_status:' .. status)
end
drop(P .. 'wf')
drop(P .. 'wf_open')
drop(P .. 'wf_idem')

-- History: the per-key indexes of every retained entry, the per-kind indexes, the entries.
local historyKeys = {}
eachMember(P .. 'history', function(member)
    historyKeys[cmsgpack.unpack(member)[5]] = true
end)
for k in pairs(historyKeys) do
    drop(P .. 'hkey:' .. k)
end
for _, kind in ipairs({'kv', 'workflow', 'lease', 'session', 'store'}) do
    drop(P .. 'hkind:' .. kind)
end
drop(P .. 'history')
flush()

-- Everything up to the current revision counts as dropped from history. (The revision goes over
-- as Redis's own text: a Lua number past 10^14 would be written with an exponent.)
redis.call('HSET', META, 'history_floor', redis.call('HGET', META, 'revision') or '0', 'history_count', 0,
           'history_bytes', 0)

local revision = mutate('store', 'reset', '', string.format('{"cleared":%d}', cleared), nil, nil, principal, at)
return {cleared, revision}
