// The multi-agent example, run as a test (CTest `example_multi_agent`): a coordinator and several
// independent worker processes share one mcp-state-sidecar over Streamable HTTP, and one worker
// is killed in the middle of a run.
//
//  1. Starts the real HTTP daemon on a free loopback port with a temporary SQLite file, and checks
//     that tools/list has every argument and result field the example uses.
//  2. Creates RUNS workflow runs ("documents to summarise"), each with an input, tags and an
//     idempotency_key, then submits them again to show that the keys make creation idempotent.
//  3. Starts WORKERS worker processes (worker.mjs). The first one stalls after checkpointing step 2
//     of its first run; the coordinator SIGKILLs it there, mid-run, while it holds the claim.
//  4. Once another worker has claimed the killed run, writes with the dead claim's fence, as a
//     worker that was only paused would send them, and checks that they are refused.
//  5. When every worker has exited, checks the outcome against the sidecar's own records
//     (workflow_status, workflow_resume, history_log) and the workers' event lines.
//
// Usage: node run.mjs [path/to/mcp-state-sidecar]   (or SIDECAR_BIN in the environment)
// Exit status: 0 when every check passes, 1 when one fails (each failure is printed), 2 on bad usage.

import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import { isDeepStrictEqual } from 'node:util';

import { CLAIM_TTL_SECONDS, STEPS, TOOLS_USED, call, connect, expectedRun, makeDocuments, sleep } from './lib.mjs';

const RUNS = 12;
const WORKERS = 4;
const STALL_AFTER_STEP = 2; // the first worker is killed after checkpointing steps 1 and 2 of a run
const BATCH = `b${process.pid}`;
const TAGS = { job: 'summarise', batch: BATCH };
const VICTIM = 'w1';

const binary = process.argv[2] || process.env.SIDECAR_BIN;
if (!binary || !fs.existsSync(binary)) {
    console.error(`run.mjs: server binary not found (argv[2] or SIDECAR_BIN): ${binary}`);
    process.exit(2);
}
const workerScript = fileURLToPath(new URL('./worker.mjs', import.meta.url));
const startedAt = Date.now();
const failures = [];
const check = (ok, message) => {
    if (!ok)
        failures.push(message);
    return ok;
};

// ---------------------------------------------------------------- processes

let server = null;
let serverStderr = '';
const workers = []; // { agent, child, stderr, exited: {code, signal} | null }
const events = [];  // every worker's event lines, in arrival order
const docOf = new Map(); // run_id -> doc id

// Starts the HTTP daemon on a free port (--port 0) and resolves with its MCP URL, read from its
// stderr line `serving MCP at http://127.0.0.1:<port>/mcp`.
function startServer(dbPath) {
    return new Promise((resolve, reject) => {
        server = spawn(binary, ['--transport', 'http', '--host', '127.0.0.1', '--port', '0', '--db-path', dbPath],
            { stdio: ['ignore', 'ignore', 'pipe'] });
        let url = null;
        const timer = setTimeout(() => reject(
            new Error(`the server printed no "serving MCP at" line within 60 s; stderr:\n${serverStderr}`)), 60000);
        server.stderr.setEncoding('utf8');
        server.stderr.on('data', (chunk) => {
            serverStderr += chunk;
            const match = /serving MCP at (http:\/\/127\.0\.0\.1:\d+\/mcp)/.exec(serverStderr);
            if (match && !url) {
                clearTimeout(timer);
                url = match[1];
                resolve(url);
            }
        });
        server.once('exit', (code, signal) => {
            clearTimeout(timer);
            if (!url)
                reject(new Error(`the server exited (${code ?? signal}) before serving; stderr:\n${serverStderr}`));
        });
    });
}

function startWorker(url, agent, extraArgs = []) {
    const args = [workerScript, '--url', url, '--agent', agent, '--batch', BATCH, ...extraArgs];
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const worker = { agent, child, stderr: '', exited: null };
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk) => { worker.stderr += chunk; });
    readline.createInterface({ input: child.stdout }).on('line', (line) => {
        try {
            const event = { ...JSON.parse(line), at: Date.now() };
            events.push(event);
            trace(event);
        } catch {
            worker.stderr += `(stdout) ${line}\n`;
        }
    });
    // 'close': the process has exited and its stdout has been read to the end.
    child.once('close', (code, signal) => { worker.exited = { code, signal }; });
    workers.push(worker);
    return worker;
}

const seconds = (ms) => `${(ms / 1000).toFixed(1)} s`;
const since = () => seconds(Date.now() - startedAt).padStart(6);

function trace(e) {
    const doc = e.doc ?? docOf.get(e.run_id) ?? e.run_id;
    const what = {
        claimed: () => `claimed ${doc} (attempt ${e.attempt}, fence ${e.fence})`,
        resumed: () => (e.done_steps.length ? `resumed ${doc} after steps ${e.done_steps.join(', ')}` : null),
        stalled: () => `stalled in ${doc} after checkpointing step ${e.step}`,
        completed: () => `completed ${doc}`,
        lost: () => `lost its claim on ${doc} at step ${e.step}: ${e.reason}`,
    }[e.event]?.();
    if (what)
        console.log(`${since()}  ${e.agent}  ${what}`);
}

// Polls `probe` (sync or async) until it returns something truthy; fails after timeoutMs, or
// sooner so that the whole example ends before CTest's timeout (180 s) and can report why.
const OVERALL_DEADLINE = startedAt + 160000;
async function waitFor(probe, what, timeoutMs) {
    const deadline = Math.min(Date.now() + timeoutMs, OVERALL_DEADLINE);
    for (;;) {
        const value = await probe();
        if (value)
            return value;
        if (Date.now() > deadline)
            throw new Error(`timed out waiting for ${what}`);
        await sleep(50);
    }
}

// ---------------------------------------------------------------- checks

// Every argument and result field the example uses must be in the live server's schemas.
function checkContract(tools) {
    const byName = new Map(tools.map((t) => [t.name, t]));
    for (const [name, { args, fields }] of Object.entries(TOOLS_USED)) {
        const tool = byName.get(name);
        if (!check(tool, `tools/list has no tool ${name}`))
            continue;
        for (const arg of args)
            check(arg in (tool.inputSchema.properties ?? {}), `${name}: the inputSchema has no argument '${arg}'`);
        for (const field of fields)
            check(field in (tool.outputSchema?.properties ?? {}), `${name}: the outputSchema has no '${field}'`);
    }
    const meta = byName.get('workflow_resume')?.outputSchema?.properties?.meta?.properties ?? {};
    for (const field of ['input', 'result', 'attempt'])
        check(field in meta, `workflow_resume: meta has no field '${field}' in the outputSchema`);
    if (failures.length)
        throw new Error('the server does not offer what the example uses (above)');
}

// A run's history, oldest first.
async function runHistory(client, runId) {
    const entries = [];
    let before;
    for (;;) {
        const page = await call(client, 'history_log',
            { key: runId, kind: 'workflow', n: 1000, ...(before === undefined ? {} : { before_revision: before }) });
        entries.push(...page.entries);
        if (!page.more || page.entries.length === 0)
            break;
        before = page.entries.at(-1).revision;
    }
    return entries.sort((a, b) => a.revision - b.revision);
}

// Replays a run's history and checks that no two claims on it were ever live at once: each new
// grant has a greater fence and comes after the previous holder's claim expired (as its last
// claim, heartbeat or checkpoint extended it), and every heartbeat, checkpoint and complete was
// written by the holder of the live claim. Returns the grants and the completions.
function checkExclusive(doc, history) {
    const EPSILON = 1e-3; // seconds; timestamps are the server's own, rounding only
    const grants = [];
    let completions = 0;
    let hold = null; // { agent, fence, ttl, expires }
    for (const e of history) {
        const v = e.new_value ?? {};
        const where = `${doc}: ${e.op} at revision ${e.revision} by ${e.agent_id}`;
        if (e.op === 'create')
            continue;
        if (e.op === 'claim') {
            if (hold && hold.agent === e.agent_id && hold.fence === v.fence) { // the holder claiming again
                hold.expires = v.claim_expires_at;
                continue;
            }
            const last = grants.at(-1);
            check(!last || v.fence > last.fence, `${where}: fence ${v.fence}, not above the last grant's ${last?.fence}`);
            check(v.attempt === grants.length + 1, `${where}: attempt ${v.attempt}, expected ${grants.length + 1}`);
            check(!hold || hold.expires <= e.written_at + EPSILON,
                `${where}: granted while ${hold?.agent}'s claim (fence ${hold?.fence}) was live until ${hold?.expires}`);
            const ttl = v.claim_expires_at - e.written_at;
            hold = { agent: e.agent_id, fence: v.fence, ttl, expires: v.claim_expires_at };
            grants.push({ agent: e.agent_id, fence: v.fence, attempt: v.attempt });
            continue;
        }
        const live = hold && e.agent_id === hold.agent && e.written_at < hold.expires + EPSILON;
        check(live, `${where}: not written under the live claim (holder ${hold?.agent}, fence ${hold?.fence})`);
        if (!hold)
            continue;
        if (e.op === 'heartbeat') {
            check(v.fence === hold.fence, `${where}: under fence ${v.fence}, the live claim's is ${hold.fence}`);
            hold.expires = v.claim_expires_at;
        } else if (e.op === 'checkpoint') {
            hold.expires = e.written_at + hold.ttl;
        } else if (e.op === 'complete') {
            completions += 1;
            check(v.status === 'done', `${where}: completed as '${v.status}'`);
            hold = null;
        }
    }
    return { grants, completions };
}

// ---------------------------------------------------------------- the example

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sidecar-example-'));
let client = null;
const summary = [];
try {
    const url = await startServer(path.join(dir, 'example.db'));
    console.log(`${since()}  server  ${url} (pid ${server.pid}), database ${path.join(dir, 'example.db')}`);
    let tools;
    ({ client, tools } = await connect(url, 'example-coordinator'));
    checkContract(tools);

    // The work to do: one run per document. The idempotency key makes a repeated submission (a
    // coordinator that restarts, or retries a create whose answer it lost) return the same run.
    const runs = [];
    for (const input of makeDocuments(RUNS)) {
        const created = await call(client, 'workflow_create',
            { name: 'summarise', tags: TAGS, input, idempotency_key: `summarise/${BATCH}/${input.doc}` });
        check(created.created === true, `${input.doc}: workflow_create answered created:${created.created}`);
        runs.push({ runId: created.run_id, input, expected: expectedRun(input) });
        docOf.set(created.run_id, input.doc);
    }
    for (const { runId, input } of runs) {
        const again = await call(client, 'workflow_create',
            { name: 'summarise', tags: TAGS, input, idempotency_key: `summarise/${BATCH}/${input.doc}` });
        check(again.created === false && again.run_id === runId,
            `${input.doc}: submitting it again gave ${JSON.stringify(again)}, not ${runId} with created:false`);
    }
    console.log(`${since()}  coordinator  created ${RUNS} runs (a second submission returned the same ${RUNS})`);

    // The workers. The one to be killed starts first, so that it surely gets a run.
    const victim = startWorker(url, VICTIM, ['--stall-after-step', String(STALL_AFTER_STEP)]);
    await waitFor(() => events.some((e) => e.agent === VICTIM && e.event === 'claimed'),
        `${VICTIM} to claim a run`, 60000);
    for (let k = 2; k <= WORKERS; k++)
        startWorker(url, `w${k}`);

    // Kill it mid-run: steps 1 and 2 of its run are checkpointed, step 3 is not, and it holds the claim.
    const stalled = await waitFor(() => events.find((e) => e.agent === VICTIM && e.event === 'stalled'),
        `${VICTIM} to reach step ${STALL_AFTER_STEP + 1} of its first run`, 60000);
    process.kill(victim.child.pid, 'SIGKILL');
    const killedAt = Date.now();
    const killedRun = stalled.run_id;
    const killedDoc = docOf.get(killedRun);
    console.log(`${since()}  coordinator  killed ${VICTIM} (pid ${victim.child.pid}) holding ${killedDoc} ` +
        `under fence ${stalled.fence}; the claim lapses within ${CLAIM_TTL_SECONDS} s`);

    // Once the run is someone else's, the dead claim's writes must be refused: the same agent id
    // with the old fence, and another agent id with it (a restarted agent reusing a name).
    const reclaimed = await waitFor(async () => {
        const s = await call(client, 'workflow_status', { run_id: killedRun });
        return s.attempt >= 2 ? s : null;
    }, `${killedDoc} to be claimed again after ${VICTIM}'s claim lapsed`, 90000);
    const dead = { run_id: killedRun, agent_id: VICTIM, fence: stalled.fence };
    const zombie = [
        ['workflow_checkpoint', { ...dead, step: 3, output: { zombie: true } }],
        ['workflow_complete', { ...dead, status: 'done', result: { zombie: true } }],
        ['workflow_checkpoint', { ...dead, agent_id: reclaimed.agent_id, step: 3, output: { zombie: true } }],
    ];
    const refusals = [];
    for (const [tool, args] of zombie) {
        const answer = await call(client, tool, args);
        check(answer.ok === false,
            `${tool} as ${args.agent_id} under the dead fence ${stalled.fence} was accepted: ${JSON.stringify(answer)}`);
        refusals.push(`${tool} as ${args.agent_id}: ${answer.reason}`);
    }

    await waitFor(() => workers.every((w) => w.exited), 'every worker to exit', 150000);

    // ---- the checks
    for (const w of workers) {
        if (w === victim)
            check(w.exited.signal === 'SIGKILL', `${w.agent} did not die of SIGKILL: ${JSON.stringify(w.exited)}`);
        else
            check(w.exited.code === 0, `worker ${w.agent} exited ${JSON.stringify(w.exited)}; stderr:\n${w.stderr}`);
    }

    const eventsOf = (type, runId) => events.filter((e) => e.event === type && e.run_id === runId);
    let claims = 0;
    const attemptsCount = new Map();
    for (const { runId, input, expected } of runs) {
        const doc = input.doc;
        const status = await call(client, 'workflow_status', { run_id: runId });
        check(status.status === 'done', `${doc}: status '${status.status}', expected 'done'`);
        const resume = await call(client, 'workflow_resume', { run_id: runId });
        check(isDeepStrictEqual(resume.meta.result, expected.result),
            `${doc}: result ${JSON.stringify(resume.meta.result)}, expected ${JSON.stringify(expected.result)}`);
        for (const { step } of STEPS) {
            const [got, want] = [resume.step_outputs[String(step)], expected.outputs[String(step)]];
            check(isDeepStrictEqual(got, want),
                `${doc}: step ${step} output ${JSON.stringify(got)}, expected ${JSON.stringify(want)}`);
        }
        const { grants, completions } = checkExclusive(doc, await runHistory(client, runId));
        check(completions === 1, `${doc}: completed ${completions} times in history, expected once`);
        const completers = eventsOf('completed', runId).length;
        check(completers === 1, `${doc}: ${completers} workers reported completing it`);
        check(grants.length === status.attempt,
            `${doc}: ${grants.length} grants in history, workflow_status says attempt ${status.attempt}`);
        claims += grants.length;
        attemptsCount.set(grants.length, (attemptsCount.get(grants.length) ?? 0) + 1);

        if (runId !== killedRun)
            continue;
        // The killed run: its second holder resumed after the checkpointed steps, and did not redo them.
        const doneBefore = eventsOf('checkpointed', runId).filter((e) => e.agent === VICTIM).map((e) => e.step);
        check(isDeepStrictEqual(doneBefore, [1, 2]), `${doc}: ${VICTIM} checkpointed steps ${doneBefore}, not 1 and 2`);
        check(status.attempt >= 2, `${doc}: attempt ${status.attempt} after its holder was killed, expected 2 or more`);
        const resumers = eventsOf('resumed', runId).filter((e) => e.agent !== VICTIM);
        check(resumers.length > 0 && resumers.every((e) => isDeepStrictEqual(e.done_steps.slice(0, 2), [1, 2])),
            `${doc}: resumed as ${JSON.stringify(resumers)}, expected after steps 1 and 2`);
        for (const step of doneBefore) {
            const meta = resume.step_meta?.[String(step)];
            check(meta?.agent_id === VICTIM && meta?.fence === stalled.fence,
                `${doc}: step ${step} was rewritten after the kill: step_meta ${JSON.stringify(meta)}`);
            const executions = eventsOf('work', runId).filter((e) => e.step === step);
            check(executions.length === 1,
                `${doc}: step ${step} executed ${executions.length} times: ${JSON.stringify(executions)}`);
        }
        const last = resume.step_meta?.['3'];
        check(last && last.agent_id !== VICTIM && last.fence > stalled.fence,
            `${doc}: step 3 should be the new holder's: step_meta ${JSON.stringify(last)}`);
        const finisher = eventsOf('completed', runId)[0];
        summary.push(`killed: ${VICTIM} in ${doc} after steps 1-2 (fence ${stalled.fence}); ${finisher?.agent} ` +
            `resumed it as attempt ${finisher?.attempt} (fence ${finisher?.fence}) and ran step 3 only, ` +
            `finishing ${seconds((finisher?.at ?? killedAt) - killedAt)} after the kill`);
    }
    summary.push(`writes under the dead claim's fence ${stalled.fence}, all refused:`);
    summary.push(...refusals.map((r) => `  ${r}`));
    const work = events.filter((e) => e.event === 'work').length;
    const attempts = [...attemptsCount].sort((a, b) => a[0] - b[0]).map(([n, count]) => `${count} in ${n}`);
    summary.unshift(`claims: ${claims} (runs by attempts: ${attempts.join(', ')}); ` +
        `step executions: ${work} for ${RUNS} runs × ${STEPS.length} steps`);
    const completedBy = (w) => events.filter((e) => e.agent === w.agent && e.event === 'completed').length;
    summary.push(`runs completed per worker: ${workers.map((w) => `${w.agent} ${completedBy(w)}`).join(', ')}`);
} catch (error) {
    failures.push(error.stack ?? String(error));
} finally {
    for (const w of workers) {
        if (!w.exited && w.child.exitCode === null && w.child.signalCode === null) {
            process.kill(w.child.pid, 'SIGKILL');
            failures.push(`worker ${w.agent} was still running at the end; stderr:\n${w.stderr}`);
        }
    }
    await client?.close().catch(() => {});
    if (server && server.exitCode === null && server.signalCode === null) {
        const exited = new Promise((resolve) => server.once('exit', (code, signal) => resolve({ code, signal })));
        process.kill(server.pid, 'SIGTERM');
        const stop = await Promise.race([exited, sleep(30000).then(() => null)]);
        if (!stop) {
            process.kill(server.pid, 'SIGKILL');
            failures.push('the server did not stop within 30 s of SIGTERM');
        } else {
            check(stop.code === 0 && stop.signal === null, `the server stopped with ${JSON.stringify(stop)}`);
        }
    }
    fs.rmSync(dir, { recursive: true, force: true });
}

if (failures.length) {
    console.error(`\nFAILED: ${failures.length} check(s):`);
    for (const f of failures)
        console.error(`- ${f}`);
    console.error(`\nserver stderr (last 4000 characters):\n${serverStderr.slice(-4000)}`);
    for (const w of workers)
        if (w.stderr)
            console.error(`\nworker ${w.agent} stderr:\n${w.stderr}`);
    process.exit(1);
}
console.log(`\nexample passed: ${RUNS} runs done by ${WORKERS} worker processes (one killed mid-run) ` +
    `in ${seconds(Date.now() - startedAt)}`);
for (const line of summary)
    console.log(`  ${line}`);
process.exit(0);
