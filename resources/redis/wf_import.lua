-- wf_import: one workflow run of the original package's Redis data (RedisStore::workflowImport,
-- redisimport.cpp; docs/redis.md, "Moving from the original package's Redis data"). The run keeps
-- its run id, name, status, tags, agent, times, last step and steps, and is written with every
-- index a run has (docs/redis.md: `P wf:<run_id>`, `P wf`, `P wf_status:<status>`,
-- `P wf_name:<name>`, `P wf_tag:<len>:<tag><value>`, `P wf_open` unless finished; no idempotency
-- key) and its steps (`P wf_steps:<run_id>`, `P wf_stepmeta:<run_id>`), under a new sequence
-- number, with one 'workflow' / 'create' history entry. As the SQLite backend's import of the
-- original's database (sqlitemigration.cpp, importOriginal()): no claim deadline and no fence,
-- so a claimed or running run's claim has lapsed and any agent may claim it again (attempt + 1,
-- steps kept); each step's metadata is the run's agent and updated_at, without a fence. A run id
-- that exists already is refused (the import is idempotent). Uses lib.lua's JSON helpers and
-- lib_wf.lua's isFinished().
--
-- Arguments: 1 run_id, 2 name, 3 status, 4 agent_id, 5 last_step (decimal integer), 6 created_at,
-- 7 updated_at (Unix seconds), 8 input, 9 result (compact JSON), 10 attempt (decimal integer),
-- 11 the number of tags n, then n pairs tag, value (one pair per tag, in order), then pairs step,
-- output (compact JSON) to the end.
-- Reply: {0} when the run id exists; else {1, revision, seq}.

local STATUSES = {created = true, claimed = true, running = true, done = true, failed = true}

local runId = argText(1)
local name = argText(2)
local status = argText(3)
local agentId = arg(4)
local lastStep = argText(5)
local createdAt = argNumber(6)
local updatedAt = argNumber(7)
local input = arg(8)
local result = arg(9)
local attempt = arg(10)
local tagCount = tonumber(argText(11))

if runId == '' or name == '' then
    return redis.error_reply('INVALID_ARGUMENT run_id and name must not be empty')
end
if not STATUSES[status] then
    return redis.error_reply("INVALID_ARGUMENT unknown status '" .. status .. "'")
end
if not string.match(lastStep, '^%d+$') or (attempt ~= nil and not string.match(attempt, '^%d+$')) then
    return redis.error_reply('INVALID_ARGUMENT last_step and attempt must be decimal integers')
end
if createdAt == nil or updatedAt == nil or tagCount == nil or tagCount < 0 then
    return redis.error_reply('INVALID_ARGUMENT created_at, updated_at and the tag count must be numbers')
end

local tags = {}
for i = 12, 11 + 2 * tagCount, 2 do
    tags[#tags + 1] = {argText(i), argText(i + 1)}
end
local steps = {}
for i = 12 + 2 * tagCount, #ARGV - 3, 2 do
    local step = argText(i)
    if not string.match(step, '^%d+$') then
        return redis.error_reply('INVALID_ARGUMENT step must be a decimal integer')
    end
    steps[#steps + 1] = {step, argText(i + 1)}
end

local hkey = P .. 'wf:' .. runId
if redis.call('EXISTS', hkey) == 1 then
    return {0}
end

local t = now()
-- Integers go to Redis as text made here: Redis would write a Lua number past 10^14 with an exponent.
local seq = string.format('%d', redis.call('HINCRBY', META, 'wf_seq', 1))
local created = fmt(createdAt)
local updated = fmt(updatedAt)

-- The history entry: the run as imported, marked as such.
local entry = {'{"name":', jsonString(name), ',"status":', jsonString(status), ',"tags":{'}
for i, tv in ipairs(tags) do
    if i > 1 then
        entry[#entry + 1] = ','
    end
    entry[#entry + 1] = jsonString(tv[1]) .. ':' .. jsonString(tv[2])
end
entry[#entry + 1] = '}'
if agentId ~= nil then
    entry[#entry + 1] = ',"agent_id":' .. jsonString(agentId)
end
entry[#entry + 1] = ',"last_step":' .. lastStep
if input ~= nil then
    entry[#entry + 1] = ',"input":' .. input
end
if result ~= nil then
    entry[#entry + 1] = ',"result":' .. result
end
entry[#entry + 1] = ',"imported":true}'
local rev = mutate('workflow', 'create', runId, table.concat(entry), nil, nil, '', t)

local tagsJson = {}
for i, tv in ipairs(tags) do
    tagsJson[i] = '[' .. jsonString(tv[1]) .. ',' .. jsonString(tv[2]) .. ']'
end
local fields = {'seq', seq, 'name', name, 'status', status, 'tags', '[' .. table.concat(tagsJson, ',') .. ']',
                'last_step', lastStep, 'created_at', created, 'updated_at', updated}
local optional = {agent_id = agentId, input = input, result = result, attempt = attempt}
for _, field in ipairs({'agent_id', 'input', 'result', 'attempt'}) do
    if optional[field] ~= nil then
        fields[#fields + 1] = field
        fields[#fields + 1] = optional[field]
    end
end
redis.call('HSET', hkey, unpack(fields))

redis.call('ZADD', P .. 'wf', seq, runId)
redis.call('ZADD', P .. 'wf_status:' .. status, seq, runId)
redis.call('ZADD', P .. 'wf_name:' .. name, seq, runId)
if not isFinished(status) then
    redis.call('ZADD', P .. 'wf_open', seq, runId)
end
for _, tv in ipairs(tags) do
    redis.call('ZADD', P .. 'wf_tag:' .. #tv[1] .. ':' .. tv[1] .. tv[2], seq, runId)
end

-- Who wrote each step, as far as the original tells: the run's agent, at the run's last update.
local meta = '{"written_at":' .. jsonNumber(tonumber(updated))
if agentId ~= nil then
    meta = meta .. ',"agent_id":' .. jsonString(agentId)
end
meta = meta .. '}'
-- In slices: unpack() of a very long list would overflow Lua's stack.
local SLICE = 256
for first = 1, #steps, SLICE do
    local outputs = {}
    local metas = {}
    for i = first, math.min(first + SLICE - 1, #steps) do
        outputs[#outputs + 1] = steps[i][1]
        outputs[#outputs + 1] = steps[i][2]
        metas[#metas + 1] = steps[i][1]
        metas[#metas + 1] = meta
    end
    redis.call('HSET', P .. 'wf_steps:' .. runId, unpack(outputs))
    redis.call('HSET', P .. 'wf_stepmeta:' .. runId, unpack(metas))
end

return {1, rev, tonumber(seq)}
