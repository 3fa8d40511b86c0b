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
local fenced = agentId ~= nil or fence ~= nil
local run, why = openRun(runId, t, fenced, agentId, fence)
if not run then
    return {0, false, why}
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
    setStatus(runId, run, 'running')
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
redis.call('HSET', P .. 'wf:' .. runId, unpack(fields))
return {1, rev, false}
