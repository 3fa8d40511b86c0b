// Processes for the benchmark harness: free ports, servers started and stopped by PID, and what the kernel
// says about them (CPU time from /proc/<pid>/stat, resident memory from /proc/<pid>/status).
import { spawn, execFileSync } from 'node:child_process';
import { createServer } from 'node:net';
import { readFileSync, openSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

export const CLOCK_TICKS = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;

export function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

// User + system CPU time of a process and all its threads, in microseconds (resolution: one clock tick).
export function cpuMicros(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // fields[0] is field 3 (state); utime and stime are fields 14 and 15.
  return ((Number(fields[11]) + Number(fields[12])) * 1e6) / CLOCK_TICKS;
}

export function rssMiB(pid) {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

// Samples a process's RSS every `everyMs` until stopped; stop() returns { max, last, samples }.
export function rssSampler(pid, everyMs = 200) {
  const samples = [];
  const take = () => { try { samples.push({ t: Date.now(), mib: rssMiB(pid) }); } catch { /* exited */ } };
  take();
  const timer = setInterval(take, everyMs);
  return {
    stop() {
      clearInterval(timer);
      take();
      const mibs = samples.map((s) => s.mib);
      return { max: Math.max(...mibs), last: mibs[mibs.length - 1], samples };
    },
  };
}

// Starts a long-running server with its stderr in a log file; returns { child, pid, stop() }.
export function startProcess(cmd, args, { env = {}, log, stdio } = {}) {
  const err = log ? openSync(log, 'a') : 'ignore';
  const child = spawn(cmd, args, { env: { ...process.env, ...env }, stdio: stdio ?? ['ignore', err, err] });
  let exited = false;
  const done = new Promise((resolve) => child.once('exit', (code, sig) => { exited = true; resolve({ code, sig }); }));
  return {
    child,
    pid: child.pid,
    get exited() { return exited; },
    done,
    async stop() {
      if (exited) return done;
      child.kill('SIGTERM');
      const r = await Promise.race([done, sleep(10000).then(() => null)]);
      if (r === null) { child.kill('SIGKILL'); return done; }
      return r;
    },
  };
}

// Polls url until it answers (any HTTP status) or the deadline passes.
export async function waitHttp(url, proc, timeoutMs = 20000) {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (proc?.exited) throw new Error(`process for ${url} exited before answering`);
    try {
      await fetch(url, { method: 'GET', signal: AbortSignal.timeout(1000) });
      return;
    } catch { await sleep(20); }
  }
  throw new Error(`${url} did not answer within ${timeoutMs} ms`);
}

// Runs a command to completion and returns its stdout (stderr inherited).
export function run(cmd, args, { env = {}, timeoutMs = 600000 } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '', err = '';
    child.stdout.on('data', (d) => { out += d; });
    child.stderr.on('data', (d) => { err += d; });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('exit', (code) => {
      clearTimeout(timer);
      if (code === 0) resolve(out);
      else reject(new Error(`${cmd} ${args.join(' ')} exited with ${code}: ${err.slice(-2000)}`));
    });
  });
}

export function percentile(sorted, p) {
  if (!sorted.length) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}
