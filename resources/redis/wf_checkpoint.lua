-- wf_checkpoint: workflow_checkpoint (docs/redis.md, `P wf:<run_id>`, `P wf_steps:<run_id>`,
-- `P wf_stepmeta:<run_id>` and the status indexes), as the SQLite backend's workflowCheckpoint
-- (sqlitewrites.cpp). With agent_id or fence the caller says it holds the claim: refused unless
-- that is the live claim, and then the checkpoint extends the claim by the claim's own ttl.
-- Without both it is the original package's unfenced path, accepted as is. Rewriting a step
-- replaces its output; the 'checkpoint' entry holds {step, output}, over the step's previous
-- output when there was one. A 'created' or 'claimed' run becomes 'running'; last_step is the
-- highest step written.
--
-- Arguments: 1 run_id, 2 step (decimal integer), 3 output (compact JSON), 4 agent_id, 5 fence,
-- 6 principal, 7 the default claim ttl (SIDECAR_CLAIM_TTL).
-- Reply: {ok (1/0), revision, reason}.

local JSON_ESCAPES = {['"'] = '\\"', ['\\'] = '\\\\', ['\n'] = '\\n', ['\r'] = '\\r', ['\t'] = '\\t',
                      ['\b'] = '\\b', ['\f'] = '\\f'}

-- A string as JSON text, escaped exactly as the sidecar's own writer does (protocol/json.cpp).
local function jsonString(s)
    local body = string.gsub(s, '[%z\1-\31"\\]', function(c)
        return JSON_ESCAPES[c] or string.format('\\u%04x', string.byte(c))
    end)
    return '"' .. body .. '"'
end

-- The shortest text that reads back as the same double, as the sidecar's writer does.
local function jsonNumber(x)
    for _, f in ipairs({'%.15g', '%.16g'}) do
        local s = string.format(f, x)
        if tonumber(s) == x then
            return s
        end
    end
    return string.format('%.17g', x)
end

local function isFinished(status)
    return status == 'done' or status == 'failed'
end

local function claimLive(run, t)
    return not isFinished(run.status) and run.agent_id ~= nil and run.claim_expires_at ~= nil and
               tonumber(run.claim_expires_at) > t
end

local function runStatusReason(run)
    return "Workflow is in status '" .. run.status .. "' (agent: " .. (run.agent_id or 'None') .. ')'
end

-- Why a call naming `agentId` / `fence` is not the live claim of the run; nil when it is.
local function claimMismatch(id, run, agentId, fence, t)
    if not claimLive(run, t) then
        if run.claim_expires_at ~= nil then
            return "The claim on workflow '" .. id .. "' has lapsed"
        end
        return "Workflow '" .. id .. "' is not claimed"
    end
    if agentId ~= nil and agentId ~= run.agent_id then
        return runStatusReason(run)
    end
    if fence ~= nil and fence ~= run.fence then
        return 'Stale fence ' .. fence .. ": the live claim on workflow '" .. id .. "' has fence " .. (run.fence or '0')
    end
    return nil
end

-- a > b for non-negative decimal integers without leading zeros (exact past 2^53).
local function greater(a, b)
    if #a ~= #b then
        return #a > #b
    end
    return a > b
end

local runId = argText(1)
local step = argText(2)
local output = argText(3)
local agentId = arg(4)
local fence = arg(5)
local principal = argText(6)
if not string.match(step, '^%d+$') then
    return redis.error_reply('INVALID_ARGUMENT step must be at least 0')
end

local t = now()
local hkey = P .. 'wf:' .. runId
local run = hgetall(hkey)
if not run then
    return {0, false, "Workflow '" .. runId .. "' not found"}
end
if isFinished(run.status) then
    return {0, false, runStatusReason(run)}
end
local fenced = agentId ~= nil or fence ~= nil
if fenced then
    local why = claimMismatch(runId, run, agentId, fence, t)
    if why then
        return {0, false, why}
    end
end

local stepsKey = P .. 'wf_steps:' .. runId
local previous = redis.call('HGET', stepsKey, step)
local function stepJson(out)
    return '{"step":' .. step .. ',"output":' .. out .. '}'
end
-- Who wrote it: the holder under its fence, or (unfenced) nobody in particular.
local writer = nil
local writerFence = nil
if fenced then
    writer = run.agent_id
    writerFence = run.fence
end
local rev = mutate('workflow', 'checkpoint', runId, stepJson(output), previous and stepJson(previous) or nil, writer,
                   principal, t)

local at = fmt(t)
local meta = '{"written_at":' .. jsonNumber(tonumber(at))
if writer ~= nil then
    meta = meta .. ',"agent_id":' .. jsonString(writer)
end
if writerFence ~= nil then
    meta = meta .. ',"fence":' .. writerFence
end
redis.call('HSET', stepsKey, step, output)
redis.call('HSET', P .. 'wf_stepmeta:' .. runId, step, meta .. '}')

local fields = {'updated_at', at}
if run.status == 'created' or run.status == 'claimed' then
    redis.call('ZREM', P .. 'wf_status:' .. run.status, runId)
    redis.call('ZADD', P .. 'wf_status:running', run.seq, runId)
    fields[#fields + 1] = 'status'
    fields[#fields + 1] = 'running'
end
if greater(step, run.last_step or '0') then
    fields[#fields + 1] = 'last_step'
    fields[#fields + 1] = step
end
-- The holder's checkpoint extends its claim by the claim's own ttl.
if fenced then
    fields[#fields + 1] = 'claim_expires_at'
    fields[#fields + 1] = fmt(t + (tonumber(run.claim_ttl) or argNumber(7)))
end
redis.call('HSET', hkey, unpack(fields))
return {1, rev, false}
