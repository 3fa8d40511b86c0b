// The harness's report: one table (each sidecar row beside the peer row it is compared with, and the ratios),
// the targets checked against this run, results.json, results.md and chart.png (gnuplot).
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { run } from './procs.mjs';

const fmt = (x, d = 0) => (Number.isFinite(x) ? x.toFixed(d) : '–');
const ms = (us) => fmt(us / 1000, 2);
const ratio = (a, b) => (Number.isFinite(a) && Number.isFinite(b) && b > 0 ? a / b : NaN);

function findRow(rows, section, workload, load, system) {
  return rows.find((r) => r.section === section && r.workload === workload && r.load === load && r.system === system);
}

export function comparisons(results, peerOf) {
  return results.rows.filter((r) => r.system.startsWith('sidecar')).map((s) => {
    const pair = s.system.slice('sidecar-'.length);
    const p = findRow(results.rows, s.section, s.workload, s.load, peerOf[pair]);
    return { s, p, pair, speedup: ratio(s.cps, p?.cps), cpuRatio: ratio(p?.cpu_us_per_call, s.cpu_us_per_call) };
  });
}

function table(results, peerOf) {
  const lines = [
    '| section | workload | load | sidecar store | calls/s | p50 ms | p99 ms | CPU µs/call | RSS MiB | peer | calls/s | p50 ms | p99 ms | CPU µs/call | RSS MiB | calls/s ×peer | CPU ÷ peer |',
    '|---|---|---|---|--:|--:|--:|--:|--:|---|--:|--:|--:|--:|--:|--:|--:|',
  ];
  for (const { s, p, pair, speedup, cpuRatio } of comparisons(results, peerOf)) {
    const errs = (r) => (r?.errors ? ` ⚠${r.errors} errors` : '');
    const cpu = Number.isFinite(s.store_cpu_us_per_call) ? `${fmt(s.cpu_us_per_call, 1)} (+${fmt(s.store_cpu_us_per_call, 1)} Redis)` : fmt(s.cpu_us_per_call, 1);
    lines.push(`| ${s.section} | ${s.workload} | ${s.load} | ${pair}${errs(s)} | ${fmt(s.cps)} | ${ms(s.p50_us)} | ${ms(s.p99_us)} | ${cpu} | ${fmt(s.rss_mib, 1)} | ` +
      (p ? `${p.system.slice('peer-'.length).toUpperCase()}${errs(p)} | ${fmt(p.cps)} | ${ms(p.p50_us)} | ${ms(p.p99_us)} | ${fmt(p.cpu_us_per_call, 1)} | ${fmt(p.rss_mib, 1)} | ` +
        `**${fmt(speedup, 1)}×** | ${cpuRatio > 0 ? `1/${fmt(cpuRatio, 1)}` : '–'} |`
        : '– | | | | | | | |'));
  }
  return lines.join('\n');
}

function extras(results) {
  const x = results.extra;
  const out = [];
  const startup = (n) => x[`startup_${n}`] ? `${fmt(x[`startup_${n}`].median_ms, 1)} ms` : '–';
  out.push('| measure | sidecar | peer |', '|---|--:|--:|');
  out.push(`| startup to the first answer (stdio, new database, median of 11) | ${startup('sidecar-full')} | ${startup('peer-full')} |`);
  if (x.startup_big_ms) out.push(`| startup to the first answer on the ${results.config.big}-key store | ${fmt(x.startup_big_ms, 1)} ms | |`);
  const idle = (n) => (x[`idle_rss_${n}`] ? `${fmt(x[`idle_rss_${n}`], 1)} MiB` : '–');
  out.push(`| idle RSS (HTTP daemon, SQLite full) | ${idle('sidecar-full')} | ${idle('peer-full')} |`);
  out.push(`| idle RSS (HTTP daemon, Redis) | ${idle('sidecar-redis')} | |`);
  if (x.soak) {
    out.push(`| RSS over a ${x.soak.seconds} s mixed run at 16 connections (after a quarter → end, max) | ` +
      `${fmt(x.soak.rss_after_quarter_mib, 1)} → ${fmt(x.soak.rss_end_mib, 1)} MiB, max ${fmt(x.soak.rss_max_mib, 1)} (${fmt(x.soak.cps)} calls/s, ${x.soak.errors} errors) | |`);
  }
  if (x.redis_benchmark_get) {
    out.push(`| redis-benchmark GET at 16 connections (same Redis) | ${fmt(x.redis_benchmark_get.rps)} req/s, p50 ${x.redis_benchmark_get.p50_ms} ms, p99 ${x.redis_benchmark_get.p99_ms} ms | |`);
  }
  for (const w of x.watch ?? []) {
    out.push(`| change → ${w.kind === 'watch' ? 'state_watch wakes' : 'resource notification'} (${w.backend}, ${w.scope === 'same' ? 'same instance' : 'two instances'}, n=${w.n}) | p50 ${fmt(w.p50_ms, 1)} ms, p99 ${fmt(w.p99_ms, 1)} ms | |`);
  }
  return out.join('\n');
}

// The speed to reach, checked against this run. Each: [what, measured text, ok | null when not measured].
export function targets(results, peerOf) {
  const rows = results.rows;
  const x = results.extra;
  const get = (section, workload, load, system) => findRow(rows, section, workload, load, system);
  const t = [];
  const add = (what, value, ok) => t.push({ what, value, ok: value === undefined ? null : ok });
  const sg = get('http', 'state_get', '16 conn', 'sidecar-full'), pg = get('http', 'state_get', '16 conn', 'peer-full');
  const ss = get('http', 'state_set', '16 conn', 'sidecar-full'), ps = get('http', 'state_set', '16 conn', 'peer-full');
  const sgStdio = get('stdio', 'state_get', 'window 64', 'sidecar-full'), pgStdio = get('stdio', 'state_get', 'window 64', 'peer-full');
  if (sg && pg) add('HTTP state_get, 16 conn: ≥ 10× the peer', `${fmt(sg.cps / pg.cps, 1)}×`, sg.cps >= 10 * pg.cps);
  if (sg && x.redis_benchmark_get) {
    add('HTTP state_get, 16 conn: ≥ 40% of redis-benchmark GET', `${fmt((100 * sg.cps) / x.redis_benchmark_get.rps)}%`, sg.cps >= 0.4 * x.redis_benchmark_get.rps);
  }
  if (ss && ps) add('HTTP state_set (durability full), 16 conn: ≥ 10× the peer (FULL)', `${fmt(ss.cps / ps.cps, 1)}×`, ss.cps >= 10 * ps.cps);
  if (sgStdio) add('CPU per state_get over stdio ≤ 20 µs', `${fmt(sgStdio.cpu_us_per_call, 1)} µs`, sgStdio.cpu_us_per_call <= 20);
  if (sg) add('CPU per state_get over HTTP ≤ 30 µs', `${fmt(sg.cpu_us_per_call, 1)} µs`, sg.cpu_us_per_call <= 30);
  if (sgStdio && pgStdio) {
    add('CPU per state_get over stdio: ≥ 10× less than the peer', `${fmt(pgStdio.cpu_us_per_call / sgStdio.cpu_us_per_call, 1)}× less`,
      pgStdio.cpu_us_per_call >= 10 * sgStdio.cpu_us_per_call);
  }
  for (const [s, p, name] of [[sg, pg, 'state_get'], [ss, ps, 'state_set']]) {
    if (s && p) add(`p99 of HTTP ${name} at 16 conn ≤ a tenth of the peer's`, `${ms(s.p99_us)} ms vs ${ms(p.p99_us)} ms`, s.p99_us * 10 <= p.p99_us);
  }
  if (sg) add('p99 of HTTP state_get at 16 conn ≤ 2 ms', `${ms(sg.p99_us)} ms`, sg.p99_us <= 2000);
  if (x['idle_rss_sidecar-full'] !== undefined) add('idle RSS ≤ 30 MB', `${fmt(x['idle_rss_sidecar-full'], 1)} MiB`, x['idle_rss_sidecar-full'] * 1.048576 <= 30);
  if (x.soak) {
    const growth = x.soak.rss_end_mib - x.soak.rss_after_quarter_mib;
    add(`RSS flat over a ${x.soak.seconds} s mixed run (grows < 2 MiB after the first quarter)`, `${growth >= 0 ? '+' : ''}${fmt(growth, 1)} MiB`, growth < 2);
  }
  if (x['startup_sidecar-full']) add('startup to the first answer ≤ 50 ms', `${fmt(x['startup_sidecar-full'].median_ms, 1)} ms`, x['startup_sidecar-full'].median_ms <= 50);
  if (x.watch?.length) {
    const worst = Math.max(...x.watch.map((w) => w.p50_ms));
    add('change-to-wake ≤ 100 ms (worst p50 of the watch rows)', `${fmt(worst, 1)} ms`, worst <= 100);
  }
  for (const f of results.failed_sections ?? []) add(`section ${f.section} ran to the end`, f.error, false);
  const errors = rows.filter((r) => r.errors > 0);
  add('no failed call (non-2xx, JSON-RPC error, isError) in any row', errors.length ? errors.map((r) => `${r.system} ${r.workload} ${r.load}`).join('; ') : 'none',
    errors.length === 0);
  return t;
}

async function chart(results, peerOf, outDir) {
  const series = ['sidecar-full', 'peer-full', 'sidecar-normal', 'peer-normal', 'sidecar-redis'];
  const groups = [
    ['http', 'state_get', '16 conn', 'HTTP get'], ['http', 'state_set', '16 conn', 'HTTP set'], ['http', 'mixed', '16 conn', 'HTTP 80/20'],
    ['stdio', 'state_get', 'window 64', 'stdio get'], ['stdio', 'state_set', 'window 64', 'stdio set'],
    ['workers', 'workflow create+claim+checkpoint', '16 workers', 'workflows'], ['workers', 'lease acquire+release', '16 workers', 'leases'],
  ];
  const present = groups.filter(([sec, w, l]) => series.some((s) => Number.isFinite(findRow(results.rows, sec, w, l, s)?.cps)));
  if (!present.length) return;
  const data = (field) => present.map(([sec, w, l, label]) =>
    [JSON.stringify(label), ...series.map((s) => fmt(findRow(results.rows, sec, w, l, s)?.[field], 2).replace('–', 'NaN'))].join(' ')).join('\n');
  const dat = path.join(outDir, 'chart.dat');
  writeFileSync(dat, `# calls/s\n${data('cps')}\n\n\n# CPU µs per call\n${data('cpu_us_per_call')}\n`);
  const titles = ['sidecar, durability full', 'peer, synchronous FULL', 'sidecar, durability normal', 'peer, synchronous NORMAL', 'sidecar on Redis'];
  const colors = ['#1f6feb', '#d1242f', '#54aeff', '#ff8182', '#2da44e'];
  const plot = (index) => series.map((_, i) => `'${dat}' index ${index} using ${i + 2}:xtic(1) title '${titles[i]}' lc rgb '${colors[i]}'`).join(', ');
  const gp = `set terminal pngcairo size 1400,560 font 'DejaVu Sans,10'
set output '${path.join(outDir, 'chart.png')}'
set multiplot layout 1,2 title 'mcp-state-sidecar and the peer, one run (${results.machine.cpus} cores, ${results.machine.date.slice(0, 10)}, commit ${results.machine.commit})'
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.9 border -1
set boxwidth 0.9
set grid ytics
set logscale y
set xtics rotate by -25
set key top right font ',9'
set title 'calls per second (higher is better, log scale)'
plot ${plot(0)}
set title 'server CPU µs per call (lower is better, log scale)'
set key top left font ',9'
plot ${plot(1)}
unset multiplot
`;
  writeFileSync(path.join(outDir, 'chart.gp'), gp);
  await run('gnuplot', [path.join(outDir, 'chart.gp')]);
}

export async function writeReport(results, outDir, peerOf) {
  const t = targets(results, peerOf);
  results.targets = t;
  const md = [
    `# Benchmark results`,
    '',
    `${results.machine.date} · ${results.machine.cpus} × ${results.machine.cpu_model} · ${results.machine.mem_gib} GiB · Linux ${results.machine.kernel} · ` +
      `node ${results.machine.node} · ${results.machine.redis?.split(' ').slice(0, 3).join(' ')} · sidecar ${results.machine.sidecar_build} build, commit ${results.machine.commit} · ` +
      `${results.config.duration_s} s per row · whole run ${results.machine.total_s} s`,
    '',
    'Each sidecar row sits beside the peer row it is compared with: durability `full` against the peer at `synchronous=FULL` (as the ' +
      'original package ran), `normal` against `NORMAL`, and Redis (no persistence) against the peer at `NORMAL`. ' +
      'CPU is the server process\'s user + system time over the calls it answered.',
    '',
    '## Targets',
    '',
    '| target | this run | met |',
    '|---|--:|:-:|',
    ...t.map((r) => `| ${r.what} | ${r.value} | ${r.ok === null ? '–' : r.ok ? 'yes' : '**no**'} |`),
    '',
    '## Side by side',
    '',
    table(results, peerOf),
    '',
    '## Startup, memory, Redis, change-to-wake',
    '',
    extras(results),
    '',
  ].join('\n');
  writeFileSync(path.join(outDir, 'results.md'), md);
  writeFileSync(path.join(outDir, 'results.json'), JSON.stringify(results, null, 2) + '\n');
  try { await chart(results, peerOf, outDir); } catch (e) { console.error(`bench: no chart: ${e.message}`); }
  return md;
}
