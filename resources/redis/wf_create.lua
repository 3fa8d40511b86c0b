-- wf_create: workflow_create (docs/redis.md, `P wf:<run_id>` and the run indexes), as the SQLite
-- backend's workflowCreate (sqlitewrites.cpp): a known idempotency key returns that run as it is
-- now (conflict when the name differs); else a new run in status 'created', indexed by sequence,
-- status, name, each tag and as open, with one 'create' history entry.
--
-- The run id is made by the caller (RedisStore::workflowCreate, as the SQLite backend makes it)
-- and only checked here: when it is taken the reply says so and the caller sends another.
--
-- Arguments: 1 run_id, 2 name, 3 input (compact JSON), 4 idempotency_key, 5 max_attempts,
-- 6 principal, then the tags as pairs from 7 on: tag, value, tag, value, ... in the order sent.
-- Reply: {-1} when run_id is taken; else {created (1/0), run}, run as in wf_status.lua.

local runId = argText(1)
local name = argText(2)
local input = arg(3)
local idempotencyKey = arg(4)
local maxAttempts = arg(5)
local principal = argText(6)
local tags = {}
for i = 7, #ARGV - 3, 2 do
    tags[#tags + 1] = {argText(i), argText(i + 1)}
end

if maxAttempts ~= nil and not ((tonumber(maxAttempts) or 0) >= 1) then
    return redis.error_reply('INVALID_ARGUMENT max_attempts must be at least 1')
end

if idempotencyKey ~= nil then
    local existingId = redis.call('HGET', P .. 'wf_idem', idempotencyKey)
    if existingId then
        local existing = hgetall(P .. 'wf:' .. existingId)
        if not existing then
            return redis.error_reply("INTERNAL Run '" .. existingId .. "' vanished")
        end
        if existing.name ~= name then
            return redis.error_reply("CONFLICT Idempotency key '" .. idempotencyKey .. "' already belongs to run '" ..
                                         existingId .. "' of workflow '" .. existing.name .. "', not '" .. name ..
                                         "'")
        end
        return {0, runReply(existingId, existing)}
    end
end

local hkey = P .. 'wf:' .. runId
if redis.call('EXISTS', hkey) == 1 then
    return {-1}
end

local t = now()
local at = fmt(t)
-- Integers go to Redis as text made here: Redis would write a Lua number past 10^14 with an exponent.
local seq = string.format('%d', redis.call('HINCRBY', META, 'wf_seq', 1))

-- The history entry shows the tags as sent; the run keeps one value per tag, the last one sent
-- (as the SQLite backend's run_tags, whose key is the tag), at the position it was sent.
local entry = {'{"name":', jsonString(name), ',"status":"created","tags":{'}
local kept = {}
for i, tv in ipairs(tags) do
    if i > 1 then
        entry[#entry + 1] = ','
    end
    entry[#entry + 1] = jsonString(tv[1]) .. ':' .. jsonString(tv[2])
    for j = #kept, 1, -1 do
        if kept[j][1] == tv[1] then
            table.remove(kept, j)
        end
    end
    kept[#kept + 1] = tv
end
entry[#entry + 1] = '}'
if input ~= nil then
    entry[#entry + 1] = ',"input":' .. input
end
if idempotencyKey ~= nil then
    entry[#entry + 1] = ',"idempotency_key":' .. jsonString(idempotencyKey)
end
if maxAttempts ~= nil then
    entry[#entry + 1] = ',"max_attempts":' .. maxAttempts
end
entry[#entry + 1] = '}'
mutate('workflow', 'create', runId, table.concat(entry), nil, nil, principal, t)

local tagsJson = {}
for i, tv in ipairs(kept) do
    tagsJson[i] = '[' .. jsonString(tv[1]) .. ',' .. jsonString(tv[2]) .. ']'
end
local fields = {'seq', seq, 'name', name, 'status', 'created', 'tags', '[' .. table.concat(tagsJson, ',') .. ']',
                'last_step', '0', 'created_at', at, 'updated_at', at}
if input ~= nil then
    fields[#fields + 1] = 'input'
    fields[#fields + 1] = input
end
if idempotencyKey ~= nil then
    fields[#fields + 1] = 'idempotency_key'
    fields[#fields + 1] = idempotencyKey
    redis.call('HSET', P .. 'wf_idem', idempotencyKey, runId)
end
if maxAttempts ~= nil then
    fields[#fields + 1] = 'max_attempts'
    fields[#fields + 1] = maxAttempts
end
redis.call('HSET', hkey, unpack(fields))

redis.call('ZADD', P .. 'wf', seq, runId)
redis.call('ZADD', P .. 'wf_status:created', seq, runId)
redis.call('ZADD', P .. 'wf_name:' .. name, seq, runId)
redis.call('ZADD', P .. 'wf_open', seq, runId)
for _, tv in ipairs(kept) do
    redis.call('ZADD', tagKey(tv[1], tv[2]), seq, runId)
end

return {1, runReply(runId, hgetall(hkey))}
