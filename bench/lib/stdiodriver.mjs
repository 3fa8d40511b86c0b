// Drives an MCP server over stdio (JSON-RPC lines) with a window of calls in flight, like
// ../shared/bench/stdio/drive.mjs, and also measures what that driver cannot see from outside: each call's
// latency, the server's CPU time spent on the calls, and its resident memory.
import { spawn } from 'node:child_process';
import { cpuMicros, rssMiB, percentile } from './procs.mjs';

// opts: { cmd, args, env, window, durationMs | count, makeCall(i) -> { name, arguments } }
// Resolves { calls, secs, cps, p50_us, p99_us, cpu_us_per_call, rss_mib, startup_ms, errors }.
export function driveStdio(opts) {
  const { cmd, args = [], env = {}, window = 1, durationMs = 5000, count = Infinity, makeCall } = opts;
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(cmd, args, { env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'ignore'] });
    const sent = new Map();
    const latencies = [];
    let buf = '', next = 2, errors = 0, firstError = null, startup = 0, tStart = 0, cpu0 = 0, stopAt = 0, rss = 0;
    let finished = false;
    let lastProgress = performance.now();
    const fail = (e) => { if (!finished) { finished = true; clearInterval(watchdog); child.kill('SIGKILL'); reject(e); } };
    // A server that stops answering fails the row instead of hanging the run.
    const watchdog = setInterval(() => {
      if (performance.now() - lastProgress > 60000) fail(new Error(`${cmd}: no answer for 60 s`));
    }, 5000);
    child.once('error', fail);
    child.once('exit', (code) => fail(new Error(`${cmd} exited (${code}) during the run`)));
    const send = (o) => child.stdin.write(JSON.stringify(o) + '\n');
    const issued = () => next - 2;
    const callOne = () => {
      const id = next++;
      sent.set(id, performance.now());
      send({ jsonrpc: '2.0', id, method: 'tools/call', params: makeCall(id - 2) });
    };
    const more = () => issued() < count && performance.now() < stopAt;
    const finish = () => {
      finished = true;
      clearInterval(watchdog);
      const secs = (performance.now() - tStart) / 1000;
      const cpu = cpuMicros(child.pid) - cpu0;
      rss = Math.max(rss, rssMiB(child.pid));
      child.removeAllListeners('exit');
      child.stdin.end();
      child.kill('SIGTERM');
      latencies.sort((a, b) => a - b);
      resolve({ calls: latencies.length, secs, cps: latencies.length / secs, p50_us: percentile(latencies, 50),
        p99_us: percentile(latencies, 99), cpu_us_per_call: cpu / latencies.length, rss_mib: rss,
        startup_ms: startup, errors, first_error: firstError });
    };
    child.stdout.on('data', (d) => {
      buf += d;
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        if (!line.trim() || finished) continue;
        lastProgress = performance.now();
        let m;
        try { m = JSON.parse(line); } catch { errors++; continue; }
        if (m.id === 1) {
          startup = performance.now() - t0;
          send({ jsonrpc: '2.0', method: 'notifications/initialized' });
          cpu0 = cpuMicros(child.pid);
          tStart = performance.now();
          stopAt = tStart + durationMs;
          for (let k = 0; k < window && issued() < count; k++) callOne();
          continue;
        }
        const at = sent.get(m.id);
        if (at === undefined) continue;
        sent.delete(m.id);
        latencies.push((performance.now() - at) * 1000);
        if (m.error || m.result?.isError) {
          errors++;
          firstError ??= JSON.stringify(m.error ?? m.result.content).slice(0, 300);
        }
        if (latencies.length % 4096 === 0) rss = Math.max(rss, rssMiB(child.pid));
        if (more()) callOne();
        else if (sent.size === 0) finish();
      }
    });
    send({ jsonrpc: '2.0', id: 1, method: 'initialize',
      params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'bench', version: '1' } } });
  });
}
