#!/usr/bin/env node
// The side-by-side benchmark: the sidecar (SQLite durability full, SQLite normal, Redis) and the peer from
// ../shared/bench (the original package's SQLite schema on the official MCP TypeScript SDK, PEER_SYNC=FULL
// as the original ran, and NORMAL) driven by the same workloads in one run. Writes results.json, results.md
// and chart.png to --out and prints the table. Run through bench/run.sh, which installs and builds first.
//
//   node bench/harness.mjs --build build/release --peer build/bench/peer --out bench/results
//                          [--duration 5] [--soak 600] [--big 1000000] [--only http,stdio,...] [--quick]
//
// Sections (--only): http, stdio, workers, queue, size, startup, idle, soak, redis, watch.
import { mkdirSync, rmSync, readFileSync, existsSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort, cpuMicros, rssMiB, rssSampler, startProcess, waitHttp, run, percentile } from './lib/procs.mjs';
import { McpHttpSession } from './lib/mcphttp.mjs';
import { driveStdio } from './lib/stdiodriver.mjs';
import { writeReport } from './lib/report.mjs';

const HERE = path.dirname(new URL(import.meta.url).pathname);
const ROOT = path.resolve(HERE, '..');
const SHARED = path.resolve(ROOT, '../shared/bench');

const argv = process.argv.slice(2);
const opt = (k, d) => { const i = argv.indexOf(k); return i >= 0 ? argv[i + 1] : d; };
const quick = argv.includes('--quick');
const BUILD = path.resolve(opt('--build', path.join(ROOT, 'build/release')));
const PEER = path.resolve(opt('--peer', path.join(ROOT, 'build/bench/peer')));
const OUT = path.resolve(opt('--out', path.join(ROOT, 'bench/results')));
const DURATION = Number(opt('--duration', quick ? 2 : 5));
const SOAK = Number(opt('--soak', quick ? 20 : 600));
const BIG = Number(opt('--big', quick ? 100000 : 1000000));
const ONLY = new Set((opt('--only', 'http,stdio,workers,queue,size,startup,idle,soak,redis,watch')).split(','));
const WORK = path.join(os.tmpdir(), `sidecar-bench-${process.pid}`);
const LOG = path.join(WORK, 'logs');
mkdirSync(LOG, { recursive: true });

const SIDECAR_STDIO = path.join(BUILD, 'server/mcp-state-sidecar');
const SIDECAR_HTTP = path.join(BUILD, 'server/mcp-state-sidecar-http');
const PEER_SERVER = path.join(PEER, 'server.mjs');
const WRK_SCRIPT = path.join(SHARED, 'wrk/mcp_call.lua');
for (const f of [SIDECAR_STDIO, SIDECAR_HTTP, PEER_SERVER, WRK_SCRIPT]) {
  if (!existsSync(f)) { console.error(`bench: missing ${f} (run bench/run.sh)`); process.exit(2); }
}

const log = (...a) => console.error('bench:', ...a);
const results = { machine: machine(), config: { duration_s: DURATION, soak_s: SOAK, big: BIG }, rows: [], extra: {} };
const running = new Set();
process.on('exit', () => { for (const p of running) { try { p.child.kill('SIGKILL'); } catch { /* gone */ } } });
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => process.exit(130));

// --- the systems under test ---------------------------------------------------------------------------------

// Each system: how to start it over HTTP and over stdio. `side` pairs rows in the table: a sidecar row is
// compared with the peer row of the same `pair`.
const SYSTEMS = {
  'sidecar-full': { side: 'sidecar', pair: 'full', env: { SIDECAR_DURABILITY: 'full' } },
  'sidecar-normal': { side: 'sidecar', pair: 'normal', env: { SIDECAR_DURABILITY: 'normal' } },
  'sidecar-redis': { side: 'sidecar', pair: 'redis', redis: true },
  'peer-full': { side: 'peer', pair: 'full', env: { PEER_SYNC: 'FULL' } },
  'peer-normal': { side: 'peer', pair: 'normal', env: { PEER_SYNC: 'NORMAL' } },
};
// The Redis row has no peer of its own (the peer has no Redis backend): it is compared with the peer at NORMAL.
const PEER_OF = { full: 'peer-full', normal: 'peer-normal', redis: 'peer-normal' };

let redis = null;   // { port, url, proc }
let dbCounter = 0;
const freshDb = (name) => path.join(WORK, `${name}-${++dbCounter}.db`);

function systemEnv(name, db) {
  const s = SYSTEMS[name];
  if (s.side === 'peer') return { DB_PATH: db, ...s.env };
  const env = { DB_PATH: db, SIDECAR_LOG_LEVEL: 'warning', ...s.env };
  if (s.redis) Object.assign(env, { STATE_BACKEND: 'redis', REDIS_URL: redis.url, SIDECAR_REDIS_PREFIX: `bench${++dbCounter}:` });
  return env;
}

async function startHttp(name, { db = freshDb(name), env = {} } = {}) {
  const port = await freePort();
  const s = SYSTEMS[name];
  const e = { ...systemEnv(name, db), ...env };
  const proc = s.side === 'peer'
    ? startProcess('node', [PEER_SERVER], { env: { ...e, PORT: String(port), JSON_RESPONSE: '1' }, log: path.join(LOG, `${name}.log`) })
    : startProcess(SIDECAR_HTTP, [], { env: { ...e, SIDECAR_PORT: String(port) }, log: path.join(LOG, `${name}.log`) });
  running.add(proc);
  const base = `http://127.0.0.1:${port}`;
  await waitHttp(s.side === 'peer' ? `${base}/mcp` : `${base}/healthz`, proc);
  return { name, proc, pid: proc.pid, url: `${base}/mcp`, db, async stop() { await proc.stop(); running.delete(proc); } };
}

function stdioCommand(name, db, env = {}) {
  const e = { ...systemEnv(name, db), ...env };
  return SYSTEMS[name].side === 'peer' ? { cmd: 'node', args: [PEER_SERVER, '--stdio'], env: e } : { cmd: SIDECAR_STDIO, args: [], env: e };
}

function record(row) {
  results.rows.push(row);
  const v = (x, d = 0) => (Number.isFinite(x) ? x.toFixed(d) : '-');
  log(`${row.section} ${row.workload} ${row.load} ${row.system}: ${v(row.cps)} calls/s p50 ${v(row.p50_us / 1000, 2)} ms ` +
      `p99 ${v(row.p99_us / 1000, 2)} ms cpu ${v(row.cpu_us_per_call, 1)} µs/call rss ${v(row.rss_mib, 1)} MiB` +
      (row.errors ? ` ERRORS ${row.errors}` : ''));
}

// --- HTTP with wrk --------------------------------------------------------------------------------------------

async function wrk(server, tool, conns, { keys = 1000, seconds = DURATION } = {}) {
  const session = await new McpHttpSession(server.url).initialize();
  session.close();   // wrk carries on with this session id on connections of its own
  const threads = Math.min(conns, 2);
  const cpu0 = cpuMicros(server.pid);
  const redisCpu0 = server.name === 'sidecar-redis' ? cpuMicros(redis.proc.pid) : 0;
  const rss = rssSampler(server.pid);
  const out = await run('wrk', ['-t', String(threads), '-c', String(conns), '-d', `${seconds}s`, '-s', WRK_SCRIPT, server.url],
    { env: { SID: session.sid, TOOL: tool, KEYS: String(keys) }, timeoutMs: (seconds + 60) * 1000 });
  const r = rss.stop();
  const m = /RESULT rps=(\d+) p50_us=(\d+) p99_us=(\d+) non2xx=(\d+) errors=(\d+) tool_errors=(\d+)/.exec(out);
  if (!m) throw new Error(`wrk printed no RESULT: ${out}`);
  const [rps, p50, p99, non2xx, errs, toolErrors] = m.slice(1).map(Number);
  const calls = rps * seconds;
  const row = { cps: rps, p50_us: p50, p99_us: p99, rss_mib: r.max, errors: non2xx + errs + toolErrors,
    cpu_us_per_call: (cpuMicros(server.pid) - cpu0) / calls };
  if (server.name === 'sidecar-redis') row.store_cpu_us_per_call = (cpuMicros(redis.proc.pid) - redisCpu0) / calls;
  return row;
}

async function httpSection() {
  for (const name of Object.keys(SYSTEMS)) {
    const server = await startHttp(name);
    try {
      // state_set first: it also writes the keys the reads then find.
      for (const tool of ['state_set', 'state_get', 'mixed']) {
        for (const conns of [1, 16, 64]) {
          record({ section: 'http', workload: tool, load: `${conns} conn`, system: name, ...await wrk(server, tool, conns) });
        }
      }
    } finally { await server.stop(); }
  }
}

// --- stdio ------------------------------------------------------------------------------------------------------

const benchValue = (i) => ({ n: i, by: 'bench', tags: ['a', 'b'] });
const setCall = (keys) => (i) => ({ name: 'state_set', arguments: { key: `bench:${i % keys}`, value: benchValue(i), agent_id: 'bench' } });
const getCall = (keys) => (i) => ({ name: 'state_get', arguments: { key: `bench:${(i * 7919) % keys}` } });

async function stdioSection() {
  for (const name of ['sidecar-full', 'peer-full', 'sidecar-normal', 'peer-normal']) {
    const db = freshDb(name);
    for (const tool of ['state_set', 'state_get']) {
      for (const window of [1, 64]) {
        const r = await driveStdio({ ...stdioCommand(name, db), window, durationMs: DURATION * 1000,
          makeCall: tool === 'state_set' ? setCall(1000) : getCall(1000) });
        record({ section: 'stdio', workload: tool, load: `window ${window}`, system: name, ...r });
      }
    }
  }
}

// --- workers: workflows and leases from 16 concurrent clients, each with its own session ----------------------

async function workers(server, count, seconds, body) {
  const sessions = await Promise.all(Array.from({ length: count }, () => new McpHttpSession(server.url).initialize()));
  const latencies = [];
  let cycles = 0, calls = 0, errors = 0, firstError = null, stop = false;
  const timed = (s) => async (tool, args) => {
    const t = performance.now();
    try { return await s.call(tool, args); } finally { latencies.push((performance.now() - t) * 1000); calls++; }
  };
  const cpu0 = cpuMicros(server.pid);
  const rss = rssSampler(server.pid);
  const t0 = performance.now();
  const end = t0 + seconds * 1000;
  await Promise.all(sessions.map(async (s, w) => {
    const call = timed(s);
    for (let i = 0; !stop && performance.now() < end; i++) {
      try {
        if ((await body(call, w, i)) === false) { stop = true; break; }
        cycles++;
      } catch (e) { errors++; firstError ??= String(e.message).slice(0, 300); }
    }
  }));
  const secs = (performance.now() - t0) / 1000;
  for (const s of sessions) s.close();
  latencies.sort((a, b) => a - b);
  return { cps: calls / secs, cycles_per_s: cycles / secs, calls, p50_us: percentile(latencies, 50), p99_us: percentile(latencies, 99),
    cpu_us_per_call: (cpuMicros(server.pid) - cpu0) / calls, rss_mib: rss.stop().max, errors, first_error: firstError };
}

// create + claim + checkpoint: three calls per cycle, the tools both sides have.
const workflowCycle = async (call, w, i) => {
  const { run_id } = await call('workflow_create', { name: 'bench', tags: { worker: String(w) } });
  const c = await call('workflow_claim', { run_id, agent_id: `agent-${w}` });
  if (!c.claimed) throw new Error(`claim of a new run refused: ${JSON.stringify(c)}`);
  const k = await call('workflow_checkpoint', { run_id, step: 1, output: { worker: w, i, data: 'x'.repeat(64) } });
  if (k.ok === false) throw new Error(`checkpoint refused: ${JSON.stringify(k)}`);
};

// acquire + release of a resource of this worker's own (one of four), so every acquire should succeed.
const leaseCycle = async (call, w, i) => {
  const resource_id = `res-${w}-${i % 4}`;
  const a = await call('lease_acquire', { resource_id, holder_id: `holder-${w}`, ttl_seconds: 30 });
  if (!a.acquired) throw new Error(`lease refused: ${JSON.stringify(a)}`);
  const r = await call('lease_release', { resource_id, holder_id: `holder-${w}` });
  if (!r.released) throw new Error(`release refused: ${JSON.stringify(r)}`);
};

async function workersSection() {
  for (const name of ['sidecar-full', 'peer-full', 'sidecar-normal', 'peer-normal', 'sidecar-redis']) {
    const server = await startHttp(name);
    try {
      for (const [workload, body] of [['workflow create+claim+checkpoint', workflowCycle], ['lease acquire+release', leaseCycle]]) {
        record({ section: 'workers', workload, load: '16 workers', system: name, ...await workers(server, 16, DURATION, body) });
      }
    } finally { await server.stop(); }
  }
}

// --- the sidecar's own work queue: claim_next + heartbeat + checkpoint + complete -------------------------------

async function queueSection() {
  const runs = quick ? 2000 : 8000;
  for (const name of ['sidecar-full', 'sidecar-normal', 'sidecar-redis']) {
    const server = await startHttp(name);
    try {
      const creators = await Promise.all(Array.from({ length: 16 }, () => new McpHttpSession(server.url).initialize()));
      let made = 0;
      await Promise.all(creators.map(async (s) => {
        while (made < runs) { made++; await s.call('workflow_create', { name: 'job', tags: { queue: 'bench' } }); }
        s.close();
      }));
      const r = await workers(server, 16, DURATION * 2, async (call, w) => {
        const agent_id = `agent-${w}`;
        const c = await call('workflow_claim_next', { agent_id, tags: { queue: 'bench' } });
        if (!c.claimed) return false;   // the queue is empty
        const { run_id, fence } = c;
        const h = await call('workflow_heartbeat', { run_id, agent_id, fence });
        if (!h.ok) throw new Error(`heartbeat refused: ${JSON.stringify(h)}`);
        const k = await call('workflow_checkpoint', { run_id, step: 1, output: { done: true }, agent_id, fence });
        if (!k.ok) throw new Error(`checkpoint refused: ${JSON.stringify(k)}`);
        const d = await call('workflow_complete', { run_id, agent_id, status: 'done', result: { ok: true }, fence });
        if (!d.ok) throw new Error(`complete refused: ${JSON.stringify(d)}`);
        return true;
      });
      record({ section: 'queue', workload: 'claim_next+heartbeat+checkpoint+complete', load: '16 workers', system: name, ...r });
    } finally { await server.stop(); }
  }
}

// --- store size: 10k against `BIG` keys, and history at its limit -----------------------------------------------

async function fillSidecar(db, keys, env = {}) {
  const r = await driveStdio({ ...stdioCommand('sidecar-normal', db, env), window: 256, count: keys, durationMs: 1e9,
    makeCall: setCall(keys) });
  if (r.errors) throw new Error(`filling ${keys} keys: ${r.errors} errors, first ${r.first_error}`);
  return r;
}

// The peer's rows are written straight into its table (its history table stays empty; the reads and writes
// measured afterwards go through its MCP tools as usual).
async function fillPeer(db, keys) {
  const first = await startHttp('peer-full', { db });   // creates the schema
  await first.stop();
  await run('node', [path.join(HERE, 'lib/peerfill.mjs'), PEER, db, String(keys)]);
}

async function sizeSection() {
  // Filling writes one history entry per key: at 1M keys the history is at its default limit
  // (SIDECAR_HISTORY_LIMIT, 1M entries), so every write measured there also prunes one.
  const big = BIG >= 1e6 ? `${BIG / 1e6}M` : `${BIG / 1e3}k`;
  const sizes = [[10000, 'keys 10k'], [BIG, BIG >= 1e6 ? `keys ${big}, history at its 1M limit` : `keys ${big}`]];
  for (const [keys, label] of sizes) {
    const sdb = freshDb('size-sidecar');
    const t = performance.now();
    const fill = await fillSidecar(sdb, keys);
    log(`filled ${keys} keys into the sidecar in ${((performance.now() - t) / 1000).toFixed(1)} s (${Math.round(fill.cps)} calls/s)`);
    results.extra[`fill_${keys}`] = { secs: fill.secs, cps: fill.cps };
    const pdb = freshDb('size-peer');
    await fillPeer(pdb, keys);
    for (const [name, db] of [['sidecar-full', sdb], ['peer-full', pdb]]) {
      const server = await startHttp(name, { db });
      try {
        for (const tool of ['state_get', 'state_set']) {
          record({ section: 'size', workload: tool, load: `${label}, 16 conn`, system: name, ...await wrk(server, tool, 16, { keys }) });
        }
      } finally { await server.stop(); }
    }
    if (keys === BIG) {
      const started = [];
      for (let i = 0; i < 5; i++) started.push((await driveStdio({ ...stdioCommand('sidecar-full', sdb), count: 1, makeCall: getCall(keys) })).startup_ms);
      results.extra.startup_big_ms = started.sort((a, b) => a - b)[2];
    }
  }
  // History at its limit: 10k keys with a limit of 10k entries, so that every write also prunes one.
  const db = freshDb('history');
  const env = { SIDECAR_HISTORY_LIMIT: '10000' };
  await fillSidecar(db, 10000, env);
  const server = await startHttp('sidecar-full', { db, env });
  try {
    record({ section: 'size', workload: 'state_set', load: 'history at its 10k limit, 16 conn', system: 'sidecar-full',
      ...await wrk(server, 'state_set', 16, { keys: 10000 }) });
  } finally { await server.stop(); }
}

// --- startup, idle memory, soak ----------------------------------------------------------------------------------

async function startupSection() {
  for (const name of ['sidecar-full', 'peer-full']) {
    const times = [];
    for (let i = 0; i < 11; i++) {
      times.push((await driveStdio({ ...stdioCommand(name, freshDb('startup')), count: 1, makeCall: getCall(1) })).startup_ms);
    }
    times.sort((a, b) => a - b);
    results.extra[`startup_${name}`] = { median_ms: times[5], min_ms: times[0], max_ms: times[10] };
    log(`startup to first answer ${name}: median ${times[5].toFixed(1)} ms`);
  }
}

async function idleSection() {
  for (const name of Object.keys(SYSTEMS)) {
    const server = await startHttp(name);
    try {
      const s = await new McpHttpSession(server.url).initialize();
      await s.call('state_set', { key: 'idle', value: 1 });
      s.close();
      await sleep(2000);
      results.extra[`idle_rss_${name}`] = rssMiB(server.pid);
      log(`idle RSS ${name}: ${results.extra[`idle_rss_${name}`].toFixed(1)} MiB`);
    } finally { await server.stop(); }
  }
}

async function soakSection() {
  const server = await startHttp('sidecar-full');
  try {
    const rss = rssSampler(server.pid, 5000);
    const row = await wrk(server, 'mixed', 16, { keys: 10000, seconds: SOAK });
    const { samples } = rss.stop();
    const quarter = samples[Math.floor(samples.length / 4)].mib;
    const last = samples[samples.length - 1].mib;
    results.extra.soak = { seconds: SOAK, cps: row.cps, errors: row.errors, rss_after_quarter_mib: quarter, rss_end_mib: last,
      rss_max_mib: Math.max(...samples.map((s) => s.mib)), samples: samples.map((s) => [Math.round((s.t - samples[0].t) / 1000), +s.mib.toFixed(1)]) };
    log(`soak ${SOAK} s mixed: ${Math.round(row.cps)} calls/s, RSS ${quarter.toFixed(1)} MiB after a quarter, ${last.toFixed(1)} MiB at the end`);
  } finally { await server.stop(); }
}

// --- Redis itself, and change-to-wake latency ----------------------------------------------------------------------

async function redisSection() {
  const out = await run('redis-benchmark', ['-h', '127.0.0.1', '-p', String(redis.port), '-c', '16', '-n', String(quick ? 100000 : 400000),
    '-t', 'get', '--csv']);
  const m = /"GET","([\d.]+)"(?:,"([\d.]+)","([\d.]+)","([\d.]+)","([\d.]+)")?/.exec(out);
  if (!m) throw new Error(`redis-benchmark printed no GET line: ${out}`);
  const [, rps, , , p50, p99] = m;
  results.extra.redis_benchmark_get = { rps: Number(rps), p50_ms: Number(p50), p99_ms: Number(p99), conns: 16 };
  log(`redis-benchmark GET -c 16: ${Math.round(Number(rps))} req/s`);
}

async function watchSection() {
  results.extra.watch = [];
  for (const extra of [[], ['--across'], ['--redis-url', redis.url], ['--redis-url', redis.url, '--across']]) {
    const out = await run('node', [path.join(HERE, 'watch_latency.mjs'), '--bin', SIDECAR_STDIO, '--n', quick ? '30' : '100', ...extra]);
    for (const line of out.split('\n').filter((l) => l.startsWith('RESULT'))) {
      const kv = Object.fromEntries(line.slice(7).split(' ').map((p) => p.split('=')));
      results.extra.watch.push({ kind: kv.kind, backend: kv.backend, scope: kv.scope, n: Number(kv.n),
        p50_ms: Number(kv.p50_ms), p99_ms: Number(kv.p99_ms), max_ms: Number(kv.max_ms) });
      log(line);
    }
  }
}

// --- main ------------------------------------------------------------------------------------------------------------

function machine() {
  const cpu = os.cpus();
  const version = (cmd, args) => { try { return execFileSync(cmd, args, { stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim().split('\n')[0]; } catch { return null; } };
  return { date: new Date().toISOString(), cpus: cpu.length, cpu_model: cpu[0]?.model, kernel: os.release(), mem_gib: +(os.totalmem() / 2 ** 30).toFixed(1),
    load_before: os.loadavg(), node: process.version, redis: version('redis-server', ['--version']), wrk: version('wrk', ['-v']),
    commit: version('git', ['-C', ROOT, 'rev-parse', '--short', 'HEAD']),
    sidecar_build: (() => { try { return /CMAKE_BUILD_TYPE:STRING=(\w+)/.exec(readFileSync(path.join(BUILD, 'CMakeCache.txt'), 'utf8'))?.[1]; } catch { return null; } })() };
}

async function startRedis() {
  const port = await freePort();
  const proc = startProcess('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no',
    '--dir', WORK], { log: path.join(LOG, 'redis.log') });
  running.add(proc);
  for (let i = 0; i < 200; i++) {
    try { await run('redis-cli', ['-p', String(port), 'ping'], { timeoutMs: 2000 }); break; } catch { await sleep(50); }
  }
  return { port, url: `redis://127.0.0.1:${port}`, proc };
}

const SECTIONS = { http: httpSection, stdio: stdioSection, workers: workersSection, queue: queueSection, size: sizeSection,
  startup: startupSection, idle: idleSection, soak: soakSection, redis: redisSection, watch: watchSection };

const started = Date.now();
let finished = false;
try {
  redis = await startRedis();
  for (const [name, fn] of Object.entries(SECTIONS)) {
    if (!ONLY.has(name)) continue;
    log(`--- ${name}`);
    const t = Date.now();
    try {
      await fn();
    } catch (e) {
      // One section failing does not lose the others: it is reported, and the run goes on.
      log(`section ${name} failed: ${e.stack ?? e}`);
      results.failed_sections = [...(results.failed_sections ?? []), { section: name, error: String(e.message ?? e).slice(0, 500) }];
    }
    results.extra[`section_${name}_s`] = Math.round((Date.now() - t) / 1000);
  }
  results.machine.total_s = Math.round((Date.now() - started) / 1000);
  mkdirSync(OUT, { recursive: true });
  const table = await writeReport(results, OUT, PEER_OF);
  process.stdout.write(table);
  finished = !results.failed_sections;
  process.exitCode = finished ? 0 : 1;
} finally {
  for (const p of [...running]) await p.stop();
  if (finished) rmSync(WORK, { recursive: true, force: true });
  else log(`stopped early; the servers' logs are in ${LOG}`);
}
