-- health.lua: the counts of sidecar_health, as the SQLite backend reports them: live keys (no
-- deadline, or a deadline still ahead), every workflow run, live leases, every session, the
-- store's revision, and the runs per status (only statuses with runs, ordered by status name).
-- A lapsed key or lease the sweep has not removed yet is not counted. No arguments.
--
-- Reply: {keys, workflows, leases, sessions, revision, status, count, status, count, ...}.

local t = string.format('%.17g', now())

local keys = redis.call('ZCARD', P .. 'kv') - redis.call('ZCOUNT', P .. 'kv_exp', '-inf', t)
if keys < 0 then
    keys = 0
end
local leases = redis.call('ZCARD', P .. 'lease') - redis.call('ZCOUNT', P .. 'lease_exp', '-inf', t)
if leases < 0 then
    leases = 0
end

local reply = {keys, redis.call('ZCARD', P .. 'wf'), leases, redis.call('ZCARD', P .. 'session'), currentRevision()}
-- In byte order of the status name, as SQLite's GROUP BY status ORDER BY status.
for _, status in ipairs({'claimed', 'created', 'done', 'failed', 'running'}) do
    local count = redis.call('ZCARD', P .. 'wf_status:' .. status)
    if count > 0 then
        reply[#reply + 1] = status
        reply[#reply + 1] = count
    end
end
return reply
