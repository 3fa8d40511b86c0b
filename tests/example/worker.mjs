// One agent of the multi-agent example: an independent process that takes workflow runs from the
// sidecar until none is left, and works through their steps so that a crash at any moment loses
// at most the step under way.
//
//   loop: workflow_claim_next -> workflow_resume -> per step not yet checkpointed:
//         workflow_heartbeat, the step's work, workflow_checkpoint (fenced) -> workflow_complete (fenced)
//
// It writes one JSON line per event on stdout (claimed, resumed, work, checkpointed, stalled,
// completed, lost, waiting) for the coordinator, and exits 0 when every run of its batch is
// finished (1 on an error, or when runs are still open after --deadline-seconds, default 150).
//
// Usage: node worker.mjs --url http://127.0.0.1:<port>/mcp --agent <agent_id> --batch <tag>
//                        [--stall-after-step <n>] [--deadline-seconds <s>]
// --stall-after-step makes the worker stop making progress after checkpointing step n of its first
// run (it keeps heartbeating, as an agent stuck in a long call does) and print a "stalled" line,
// so that the coordinator can kill it at a known point in the middle of a run.

import { parseArgs } from 'node:util';

import { CLAIM_TTL_SECONDS, HEARTBEAT_MS, STEPS, STEP_WORK_MS, call, connect, finalResult, sleep } from './lib.mjs';

const { values: opts } = parseArgs({
    options: {
        url: { type: 'string' },
        agent: { type: 'string' },
        batch: { type: 'string' },
        'stall-after-step': { type: 'string' },
        'deadline-seconds': { type: 'string', default: '150' },
    },
});
if (!opts.url || !opts.agent || !opts.batch) {
    console.error('usage: node worker.mjs --url <mcp url> --agent <agent_id> --batch <tag> [--stall-after-step <n>]');
    process.exit(2);
}
const AGENT = opts.agent;
const TAGS = { job: 'summarise', batch: opts.batch };
const stallAfterStep = opts['stall-after-step'] === undefined ? null : Number(opts['stall-after-step']);
const deadline = Date.now() + Number(opts['deadline-seconds']) * 1000;

function emit(event, fields = {}) {
    process.stdout.write(`${JSON.stringify({ event, agent: AGENT, ...fields })}\n`);
}

const { client } = await connect(opts.url, `example-worker-${AGENT}`);

// Runs `work` while renewing the claim every HEARTBEAT_MS; resolves with the work's value, or
// with `lost` set when a heartbeat was refused (the claim lapsed and may belong to someone else).
async function withHeartbeats(claim, work) {
    let lost = null;
    const timer = setInterval(async () => {
        const hb = await call(client, 'workflow_heartbeat',
            { run_id: claim.run_id, agent_id: AGENT, fence: claim.fence, ttl_seconds: CLAIM_TTL_SECONDS })
            .catch((error) => ({ ok: false, reason: String(error) }));
        if (!hb.ok)
            lost ??= hb.reason;
    }, HEARTBEAT_MS);
    try {
        const value = await work();
        return { value, lost };
    } finally {
        clearInterval(timer);
    }
}

// Works through one claimed run. Returns when it is completed, or as soon as the claim is lost.
async function processRun(claim) {
    const { run_id: runId, fence, attempt } = claim;
    const held = { run_id: runId, agent_id: AGENT, fence }; // names this grant of the claim on every write

    // Whatever an earlier attempt checkpointed is kept: start after it.
    const resumed = await call(client, 'workflow_resume', { run_id: runId });
    const { input } = resumed.meta;
    const outputs = { ...resumed.step_outputs };
    emit('resumed', { run_id: runId, doc: input.doc, attempt, fence, done_steps: Object.keys(outputs).map(Number) });

    for (const { step, name, run } of STEPS) {
        if (String(step) in outputs)
            continue; // checkpointed by an earlier attempt: not redone
        const hb = await call(client, 'workflow_heartbeat', { ...held, ttl_seconds: CLAIM_TTL_SECONDS });
        if (!hb.ok)
            return emit('lost', { run_id: runId, step, reason: hb.reason });

        const { value: output, lost } = await withHeartbeats(claim, async () => {
            await sleep(STEP_WORK_MS);
            return run(input, outputs);
        });
        emit('work', { run_id: runId, doc: input.doc, step, name, attempt, fence });
        if (lost)
            return emit('lost', { run_id: runId, step, reason: lost });

        const cp = await call(client, 'workflow_checkpoint', { ...held, step, output });
        if (!cp.ok)
            return emit('lost', { run_id: runId, step, reason: cp.reason });
        outputs[String(step)] = output;
        emit('checkpointed', { run_id: runId, doc: input.doc, step, attempt, fence });

        if (step === stallAfterStep) {
            emit('stalled', { run_id: runId, doc: input.doc, step, attempt, fence });
            await withHeartbeats(claim, () => new Promise(() => {})); // until the coordinator kills us
        }
    }

    const done = await call(client, 'workflow_complete',
        { ...held, status: 'done', result: finalResult(input, outputs) });
    if (!done.ok)
        return emit('lost', { run_id: runId, step: null, reason: done.reason });
    emit('completed', { run_id: runId, doc: input.doc, attempt, fence });
}

for (;;) {
    if (Date.now() > deadline) {
        console.error(`worker ${AGENT}: runs still unfinished after ${opts['deadline-seconds']} s`);
        process.exit(1);
    }
    const claim = await call(client, 'workflow_claim_next',
        { agent_id: AGENT, tags: TAGS, ttl_seconds: CLAIM_TTL_SECONDS });
    if (claim.claimed) {
        emit('claimed', { run_id: claim.run_id, attempt: claim.attempt, fence: claim.fence });
        await processRun(claim);
        continue;
    }
    // Nothing claimable. Runs that others hold may still come back (a holder that dies lets its
    // claim lapse, which writes nothing): stay until every run of the batch is finished, checking
    // again when the earliest claim would lapse.
    const { runs } = await call(client, 'workflow_discover', { tags: TAGS });
    const open = runs.filter((r) => r.status !== 'done' && r.status !== 'failed');
    if (open.length === 0)
        break;
    const lapse = Math.min(...open.map((r) => r.claim_expires_at ?? 0)) * 1000 - Date.now();
    emit('waiting', { open: open.length });
    await sleep(Math.min(Math.max(lapse, 100), 1000));
}

await client.close();
process.exit(0);
