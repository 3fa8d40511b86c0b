#!/usr/bin/env node
// Change-to-wake latency: how long after a write a waiting `state_watch` answers, and how long until a
// subscriber's `notifications/resources/updated` arrives on its GET stream.
//
// Starts the HTTP daemon (twice with --across: two processes on one SQLite file, the writer on one and the
// watcher on the other), then, N times: the watcher's state_watch (or subscription) waits, the writer calls
// state_set, and the time from sending that call to the watcher's wake-up is recorded.
//
//   node bench/watch_latency.mjs [--bin build/release/server/mcp-state-sidecar] [--n 200] [--across]
//                                [--redis-url redis://127.0.0.1:6379]
//
// With --redis-url the daemons use the Redis backend (a key prefix of their own) instead of a SQLite file.
//
// Prints one line per measure: `RESULT kind=watch|notify scope=same|across n=… p50_ms=… p99_ms=… max_ms=…`.
// Uses only Node's own fetch: nothing to install.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';

const args = process.argv.slice(2);
const option = (name, fallback) => {
    const i = args.indexOf(name);
    return i >= 0 ? args[i + 1] : fallback;
};
const bin = option('--bin', 'build/release/server/mcp-state-sidecar');
const n = Number(option('--n', '200'));
const across = args.includes('--across');
const redisUrl = option('--redis-url', '');
const prefix = `watch-latency-${process.pid}-${Date.now()}:`;

function startServer(dbPath) {
    return new Promise((resolve, reject) => {
        const backend = redisUrl ? ['--backend', 'redis', '--redis-url', redisUrl, '--redis-prefix', prefix]
                                 : ['--db-path', dbPath];
        const child = spawn(bin, ['--transport', 'http', '--host', '127.0.0.1', '--port', '0', ...backend],
            { stdio: ['ignore', 'ignore', 'pipe'] });
        let log = '';
        const timer = setTimeout(() => reject(new Error(`no port within 30 s:\n${log}`)), 30000);
        child.stderr.on('data', chunk => {
            log += chunk;
            const m = /serving MCP at (http:\/\/127\.0\.0\.1:\d+\/mcp)/.exec(log);
            if (m) {
                clearTimeout(timer);
                resolve({ child, url: m[1] });
            }
        });
        child.on('exit', code => reject(new Error(`exited with ${code}:\n${log}`)));
    });
}

class Session {
    constructor(url) {
        this.url = url;
        this.nextId = 1;
    }
    headers(extra = {}) {
        const h = { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...extra };
        if (this.id) {
            h['mcp-session-id'] = this.id;
            h['mcp-protocol-version'] = '2025-11-25';
        }
        return h;
    }
    async post(message) {
        const response = await fetch(this.url, { method: 'POST', headers: this.headers(), body: JSON.stringify(message) });
        const text = await response.text();
        return { response, body: text ? JSON.parse(text) : null };
    }
    async open() {
        const { response, body } = await this.request('initialize', {
            protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'watch-latency', version: '1' },
        });
        this.id = response.headers.get('mcp-session-id');
        if (!this.id || !body.result)
            throw new Error(`initialize failed: ${JSON.stringify(body)}`);
        await this.post({ jsonrpc: '2.0', method: 'notifications/initialized' });
    }
    request(method, params) {
        return this.post({ jsonrpc: '2.0', id: this.nextId++, method, params });
    }
    async call(name, args) {
        const { body } = await this.request('tools/call', { name, arguments: args });
        const result = body.result;
        if (!result || result.isError)
            throw new Error(`${name} failed: ${JSON.stringify(body)}`);
        return result.structuredContent;
    }
    // The GET stream; onMessage(message) for each JSON-RPC message on it.
    async listen(onMessage) {
        const response = await fetch(this.url, { headers: { ...this.headers(), accept: 'text/event-stream' } });
        if (response.status !== 200)
            throw new Error(`GET stream: ${response.status}`);
        const reader = response.body.getReader();
        const decoder = new TextDecoder();
        let buffer = '';
        (async () => {
            for (;;) {
                const { value, done } = await reader.read();
                if (done)
                    return;
                buffer += decoder.decode(value, { stream: true });
                let end;
                while ((end = buffer.indexOf('\n\n')) >= 0) {
                    const block = buffer.slice(0, end);
                    buffer = buffer.slice(end + 2);
                    const data = block.split('\n').filter(l => l.startsWith('data:')).map(l => l.slice(5).trim()).join('\n');
                    if (data)
                        onMessage(JSON.parse(data));
                }
            }
        })().catch(() => {});
        return () => reader.cancel().catch(() => {});
    }
}

const sleep = ms => new Promise(resolve => setTimeout(resolve, ms));

function summary(kind, samples) {
    samples.sort((a, b) => a - b);
    const at = q => samples[Math.min(samples.length - 1, Math.floor(q * samples.length))];
    const f = x => x.toFixed(2);
    console.log(`RESULT kind=${kind} backend=${redisUrl ? 'redis' : 'sqlite'} scope=${across ? 'across' : 'same'} ` +
                `n=${samples.length} ` +
                `p50_ms=${f(at(0.5))} p99_ms=${f(at(0.99))} max_ms=${f(samples[samples.length - 1])}`);
}

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'watch-latency-'));
const dbPath = path.join(dir, 'state.db');
const servers = [await startServer(dbPath)];
if (across)
    servers.push(await startServer(dbPath));
try {
    const writer = new Session(servers[0].url);
    const watcher = new Session(servers[servers.length - 1].url);
    await writer.open();
    await watcher.open();

    // state_watch: a long-poll from the current revision, woken by the writer's state_set.
    const watchSamples = [];
    for (let i = 0; i < n; i++) {
        const { revision } = await watcher.call('state_get', { key: 'bench/none' });
        const woken = watcher.call('state_watch', { prefix: 'bench/w/', since_revision: revision, timeout_seconds: 10 })
            .then(result => ({ result, at: performance.now() }));
        await sleep(5); // the watch is waiting on the server
        const sent = performance.now();
        await writer.call('state_set', { key: `bench/w/${i % 16}`, value: i });
        const { result, at } = await woken;
        if (result.events.length === 0)
            throw new Error('a watch timed out instead of waking');
        watchSamples.push(at - sent);
    }
    summary('watch', watchSamples);

    // resources/subscribe: the notification on the GET stream after the writer's change.
    const uri = 'state://kv/bench/n';
    const { body } = await watcher.request('resources/subscribe', { uri });
    if (!body.result)
        throw new Error(`subscribe failed: ${JSON.stringify(body)}`);
    let waiting = null;
    const stop = await watcher.listen(message => {
        if (message.method === 'notifications/resources/updated' && message.params.uri === uri && waiting)
            waiting(performance.now());
    });
    const notifySamples = [];
    for (let i = 0; i < n; i++) {
        const notified = new Promise(resolve => { waiting = resolve; });
        const sent = performance.now();
        await writer.call('state_set', { key: 'bench/n', value: i });
        const at = await Promise.race([notified, sleep(10000).then(() => null)]);
        waiting = null;
        if (at === null)
            throw new Error('no notification within 10 s');
        notifySamples.push(at - sent);
        await sleep(300); // notifications are coalesced per URI: let each change stand alone
    }
    stop();
    summary('notify', notifySamples);
} finally {
    for (const { child } of servers)
        child.kill('SIGTERM');
    fs.rmSync(dir, { recursive: true, force: true });
}
