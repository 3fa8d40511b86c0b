// The official MCP TypeScript SDK (Client + StreamableHTTPClientTransport) as a client of the real
// mcp-state-sidecar binary over Streamable HTTP: the test starts the server itself with
// `--transport http --port 0` and reads the port from its stderr line
// `serving MCP at http://127.0.0.1:<port>/mcp`. Covers initialize and the session id, tools/list,
// every tool called with valid arguments (the SDK validates each structuredContent against the
// tool's outputSchema), tool and JSON-RPC errors, a state_watch long poll woken by a second SDK
// client, resource subscriptions delivered on the SDK's GET stream, session termination (DELETE,
// then 404), and SIGTERM (exit 0).
//
// Usage: node sdk_http_client.mjs [path/to/mcp-state-sidecar]   (or SIDECAR_BIN in the environment)

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import {
    ErrorCode, LATEST_PROTOCOL_VERSION, McpError, ResourceUpdatedNotificationSchema,
} from '@modelcontextprotocol/sdk/types.js';

import { CONTRACT_TOOLS, DESTRUCTIVE, checkedCall, serverBinary, toolErrorCode } from './lib/results.mjs';

const binary = serverBinary('sdk_http_client.mjs');

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sidecar-http-interop-'));
let server;         // the child process
let stderr = '';
let url;            // http://127.0.0.1:<port>/mcp
let client;         // the main SDK client
let transport;
const transportErrors = [];
const others = [];  // further clients, closed at the end
const called = new Set();

// Starts the server on a free port and resolves with its MCP URL.
function startServer() {
    return new Promise((resolve, reject) => {
        server = spawn(binary, ['--transport', 'http', '--host', '127.0.0.1', '--port', '0',
            '--db-path', path.join(dir, 'interop.db'), '--allow-reset'], { stdio: ['ignore', 'ignore', 'pipe'] });
        const timer = setTimeout(() => reject(new Error(`no "serving MCP at" line within 30 s; stderr:\n${stderr}`)), 30000);
        server.stderr.setEncoding('utf8');
        server.stderr.on('data', (chunk) => {
            stderr += chunk;
            const match = /serving MCP at (http:\/\/127\.0\.0\.1:(\d+)\/mcp)/.exec(stderr);
            if (match && !url) {
                clearTimeout(timer);
                url = match[1];
                resolve(url);
            }
        });
        server.once('exit', (code, signal) => {
            clearTimeout(timer);
            if (!url)
                reject(new Error(`the server exited (code ${code}, signal ${signal}) before serving; stderr:\n${stderr}`));
        });
    });
}

async function connectClient(name, errors) {
    const t = new StreamableHTTPClientTransport(new URL(url));
    const c = new Client({ name, version: '1.0.0' });
    await c.connect(t);
    await c.listTools(); // caches the output validators ok() relies on
    if (errors)
        t.onerror = (error) => errors.push(error);
    return { client: c, transport: t };
}

async function ok(name, args, on = client) {
    return checkedCall(on, name, args, called);
}

async function toolError(name, args) {
    return toolErrorCode(client, name, args);
}

// The store's revision now.
async function revision() {
    return (await ok('state_get', { key: 'sdk-http/no-such-key' })).revision;
}

function waitFor(predicate, what, timeoutMs = 20000) {
    return new Promise((resolve, reject) => {
        const started = Date.now();
        const poll = setInterval(() => {
            const value = predicate();
            if (value) {
                clearInterval(poll);
                resolve(value);
            } else if (Date.now() - started > timeoutMs) {
                clearInterval(poll);
                reject(new Error(`${what} did not happen within ${timeoutMs} ms`));
            }
        }, 20);
    });
}

describe('mcp-state-sidecar over Streamable HTTP through the official MCP TypeScript SDK', () => {
    before(async () => {
        await startServer();
        ({ client, transport } = await connectClient('sidecar-http-interop', transportErrors));
    });

    after(async () => {
        for (const other of others)
            await other.client.close().catch(() => {});
        await client?.close().catch(() => {});
        if (server && server.exitCode === null && server.signalCode === null)
            server.kill('SIGKILL');
        fs.rmSync(dir, { recursive: true, force: true });
    });

    test('initialize: server info, capabilities and a session id', () => {
        const info = client.getServerVersion();
        assert.equal(info.name, 'MCP State Sidecar');
        assert.match(info.version, /^\d+\.\d+\.\d+/);
        const capabilities = client.getServerCapabilities();
        assert.ok(capabilities.tools, 'the server announces tools');
        assert.equal(LATEST_PROTOCOL_VERSION, '2025-11-25', 'this SDK asks for 2025-11-25');
        assert.equal(transport.protocolVersion, '2025-11-25');
        assert.match(transport.sessionId, /^[0-9a-f]{32,}$/i);
    });

    test('tools/list: every contract tool, with schemas and explicit annotations', async () => {
        const { tools } = await client.listTools();
        assert.deepEqual(tools.map((t) => t.name).sort(), [...CONTRACT_TOOLS].sort());
        for (const tool of tools) {
            assert.equal(tool.inputSchema.type, 'object', tool.name);
            assert.equal(tool.inputSchema.additionalProperties, false, tool.name);
            assert.equal(tool.outputSchema?.type, 'object', tool.name);
            for (const hint of ['readOnlyHint', 'destructiveHint', 'idempotentHint', 'openWorldHint'])
                assert.equal(typeof tool.annotations[hint], 'boolean', `${tool.name}.${hint}`);
            assert.equal(tool.annotations.destructiveHint, DESTRUCTIVE.has(tool.name), tool.name);
            assert.ok(client.getToolOutputValidator(tool.name), `${tool.name}: output validator cached`);
        }
    });

    test('key-value tools', async () => {
        const set = await ok('state_set', { key: 'cfg/a', value: { b: 1, a: [1, 'x'] }, agent_id: 'node' });
        assert.equal(set.ok, true);
        const got = await ok('state_get', { key: 'cfg/a' });
        assert.equal(JSON.stringify(got.value), '{"b":1,"a":[1,"x"]}', 'key order kept');
        assert.equal(got.agent_id, 'node');
        const cas = await ok('state_set', { key: 'cfg/a', value: 2, if_version: 0 });
        assert.equal(cas.ok, false);
        assert.equal(cas.conflict, true);
        await ok('state_set', { key: 'cfg/b', value: null, ttl_seconds: 120.5 });
        assert.deepEqual((await ok('state_list', { prefix: 'cfg/' })).keys, ['cfg/a', 'cfg/b']);
        assert.deepEqual((await ok('state_list', { delimiter: '/', limit: 10 })).prefixes, ['cfg/']);
        assert.equal((await ok('state_delete', { key: 'cfg/b' })).ok, true);
        const feed = await ok('state_watch', { since_revision: 0, prefix: 'cfg/', timeout_seconds: 5 });
        assert.deepEqual(feed.events.map((e) => [e.op, e.key]),
            [['set', 'cfg/a'], ['set', 'cfg/b'], ['delete', 'cfg/b']]);
    });

    test('many calls in flight at once', async () => {
        const n = 100;
        const results = await Promise.all(Array.from({ length: n }, (_, i) =>
            ok('state_set', { key: `many/${String(i).padStart(3, '0')}`, value: i })));
        assert.equal(new Set(results.map((r) => r.revision)).size, n, 'one revision per write');
        assert.equal((await ok('state_list', { prefix: 'many/' })).keys.length, n);
    });

    test('workflow tools', async () => {
        const created = await ok('workflow_create', { name: 'build', tags: { team: 'a' }, input: { n: 1 } });
        const run = created.run_id;
        assert.match(run, /^wf-[0-9a-f]{12}$/);
        assert.deepEqual((await ok('workflow_discover', { tags: { team: 'a' } })).runs.map((r) => r.run_id), [run]);
        const claim = await ok('workflow_claim', { run_id: run, agent_id: 'w1', ttl_seconds: 60 });
        assert.equal(claim.claimed, true);
        assert.equal((await ok('workflow_heartbeat', { run_id: run, agent_id: 'w1', fence: claim.fence })).ok, true);
        for (const step of [2, 1])
            assert.equal((await ok('workflow_checkpoint', { run_id: run, step, output: { step }, agent_id: 'w1' })).ok, true);
        const resume = await ok('workflow_resume', { run_id: run });
        assert.deepEqual(Object.keys(resume.step_outputs), ['1', '2']);
        assert.equal((await ok('workflow_status', { run_id: run })).status, 'running');
        assert.equal((await ok('workflow_complete', { run_id: run, agent_id: 'w1', status: 'done', result: [1] })).ok, true);
        const next = await ok('workflow_create', { name: 'queued' });
        assert.equal((await ok('workflow_claim_next', { agent_id: 'w3', name: 'queued' })).run_id, next.run_id);
        assert.deepEqual((await ok('workflow_list', {})).runs.map((r) => r.run_id), [next.run_id, run]);
        assert.equal(await toolError('workflow_status', { run_id: 'wf-000000000000' }), 'not_found');
    });

    test('lease tools', async () => {
        const a = await ok('lease_acquire', { resource_id: 'db', holder_id: 'h1', ttl_seconds: 60 });
        assert.equal(a.acquired, true);
        const b = await ok('lease_acquire', { resource_id: 'db', holder_id: 'h2', ttl_seconds: 60 });
        assert.equal(b.reason, "Held by 'h1'");
        assert.equal((await ok('lease_renew', { resource_id: 'db', holder_id: 'h1', ttl_seconds: 120 })).renewed, true);
        assert.deepEqual((await ok('lease_list', {})).leases.map((l) => l.resource_id), ['db']);
        assert.equal((await ok('lease_release', { resource_id: 'db', holder_id: 'h1', fence: a.fence })).released, true);
    });

    test('session and history tools', async () => {
        assert.equal((await ok('session_save', { session_id: 'chat', context: { turns: [1, 2] } })).ok, true);
        assert.deepEqual((await ok('session_restore', { session_id: 'chat' })).context, { turns: [1, 2] });
        assert.deepEqual((await ok('session_list', { prefix: 'ch' })).sessions.map((s) => s.session_id), ['chat']);
        assert.equal((await ok('session_delete', { session_id: 'chat' })).ok, true);
        const history = await ok('history_log', { key: 'chat', n: 5 });
        assert.deepEqual(history.entries.map((e) => e.op), ['delete', 'save']);
    });

    test('state_watch: a long poll woken by a write from a second SDK client (another session)', async () => {
        const second = await connectClient('sidecar-http-interop-2');
        others.push(second);
        assert.notEqual(second.transport.sessionId, transport.sessionId);
        const since = await revision();
        const parked = ok('state_watch', { since_revision: since, prefix: 'live/', timeout_seconds: 25 });
        // The session answers other calls while its watch waits.
        assert.equal((await ok('sidecar_health', {})).status, 'ok');
        const write = await ok('state_set', { key: 'live/x', value: 'woke' }, second.client);
        const woke = await parked;
        assert.equal(woke.events.length, 1);
        assert.equal(woke.events[0].key, 'live/x');
        assert.equal(woke.events[0].revision, write.revision);
        assert.equal(woke.revision, write.revision);
    });

    test('resources: a subscription is notified on the GET stream when another client writes', async (t) => {
        if (!client.getServerCapabilities().resources?.subscribe) {
            t.diagnostic('the server does not announce resources.subscribe');
            assert.fail('resources.subscribe is not announced');
        }
        const second = await connectClient('sidecar-http-interop-3');
        others.push(second);
        const { resources } = await client.listResources();
        assert.ok(resources.some((r) => r.uri === 'state://kv'), JSON.stringify(resources));
        const updates = [];
        client.setNotificationHandler(ResourceUpdatedNotificationSchema, (n) => { updates.push(n.params.uri); });
        const uri = 'state://kv/sdk-sub';
        await client.subscribeResource({ uri });
        // The GET stream is opened by the SDK after notifications/initialized; a first write may
        // race with it, so write until a notification arrives (the stream replays what it missed).
        await ok('state_set', { key: 'sdk-sub', value: 1 }, second.client);
        await waitFor(() => updates.includes(uri), `notifications/resources/updated for ${uri}`);
        const read = await client.readResource({ uri });
        assert.equal(read.contents[0].uri, uri);
        assert.equal(JSON.parse(read.contents[0].text).value, 1);
        const seen = updates.length;
        await ok('state_set', { key: 'sdk-sub', value: 2 }, second.client);
        await waitFor(() => updates.length > seen, 'a second notification');
        await client.unsubscribeResource({ uri });
    });

    test('observability tools', async () => {
        const health = await ok('sidecar_health', {});
        assert.equal(health.status, 'ok');
        assert.equal(await toolError('sidecar_reset', {}), 'invalid_argument');
        assert.equal((await ok('sidecar_reset', { confirm: 'RESET' })).ok, true);
        assert.equal((await ok('sidecar_health', {})).key_count, 0);
    });

    test('every tool was called and its result validated by the SDK', () => {
        assert.deepEqual([...called].sort(), [...CONTRACT_TOOLS].sort());
    });

    test('errors: a tool error is a result; an unknown tool is JSON-RPC error -32602', async () => {
        assert.equal(await toolError('state_set', { key: 'k', value: 1, ttl_seconds: 0 }), 'invalid_argument');
        await assert.rejects(client.callTool({ name: 'no_such_tool', arguments: {} }), (error) => {
            assert.ok(error instanceof McpError, String(error));
            assert.equal(error.code, ErrorCode.InvalidParams);
            return true;
        });
        assert.equal((await ok('sidecar_health', {})).status, 'ok');
    });

    test('terminateSession: DELETE ends the session, which then answers 404', async () => {
        const third = await connectClient('sidecar-http-interop-4');
        const id = third.transport.sessionId;
        await ok('sidecar_health', {}, third.client);
        await third.transport.terminateSession();
        const response = await fetch(url, {
            method: 'POST',
            headers: {
                'content-type': 'application/json',
                accept: 'application/json, text/event-stream',
                'mcp-session-id': id,
                'mcp-protocol-version': '2025-11-25',
            },
            body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'ping' }),
        });
        assert.equal(response.status, 404);
        await third.client.close();
        // The main session is untouched.
        assert.equal((await ok('sidecar_health', {})).status, 'ok');
    });

    test('no transport errors while the clients were open', () => {
        assert.deepEqual(transportErrors.map(String), []);
    });

    test('SIGTERM stops the server cleanly', async () => {
        for (const other of others.splice(0))
            await other.client.close().catch(() => {});
        await client.close();
        const exited = new Promise((resolve) => server.once('exit', (code, signal) => resolve({ code, signal })));
        server.kill('SIGTERM');
        const { code, signal } = await exited;
        assert.equal(signal, null, `the server needed a signal to stop; stderr:\n${stderr}`);
        assert.equal(code, 0, `stderr:\n${stderr}`);
        assert.doesNotMatch(stderr, /\b(critical|fatal)\b/i);
    });
});
