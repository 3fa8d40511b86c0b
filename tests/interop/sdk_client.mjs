// The official MCP TypeScript SDK (Client + StdioClientTransport) as a client of the real
// mcp-state-sidecar binary: initialize, tools/list, every tool called with valid arguments (the
// SDK validates each structuredContent against the tool's outputSchema itself, once listTools()
// has cached the schemas), a tool error and an unknown tool.
//
// Usage: node sdk_client.mjs [path/to/mcp-state-sidecar]   (or SIDECAR_BIN in the environment)

import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import {
    ErrorCode,
    LATEST_PROTOCOL_VERSION,
    McpError,
    ResourceUpdatedNotificationSchema,
} from '@modelcontextprotocol/sdk/types.js';

import { CONTRACT_TOOLS, DESTRUCTIVE, checkedCall, serverBinary, toolErrorCode } from './lib/results.mjs';

const binary = serverBinary('sdk_client.mjs');

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sidecar-interop-'));
let transport;
let client;
let stderr = '';
const called = new Set();

async function ok(name, args) {
    return checkedCall(client, name, args, called);
}

async function toolError(name, args) {
    return toolErrorCode(client, name, args);
}

describe('mcp-state-sidecar through the official MCP TypeScript SDK', () => {
    before(async () => {
        transport = new StdioClientTransport({
            command: binary,
            args: ['--db-path', path.join(dir, 'interop.db'), '--allow-reset'],
            stderr: 'pipe',
            // The SDK passes only a few variables on; the sanitizer build's options must reach the server.
            env: Object.fromEntries(Object.entries(process.env).filter(([k]) => /^(A|UB|L)SAN_OPTIONS$/.test(k))),
        });
        transport.stderr.on('data', (chunk) => { stderr += chunk; });
        client = new Client({ name: 'sidecar-interop', version: '1.0.0' });
        await client.connect(transport);
    });

    after(async () => {
        fs.rmSync(dir, { recursive: true, force: true });
    });

    test('initialize: server info and capabilities', () => {
        const info = client.getServerVersion();
        assert.equal(info.name, 'MCP State Sidecar');
        assert.match(info.version, /^\d+\.\d+\.\d+/);
        assert.ok(client.getServerCapabilities().tools, 'the server announces tools');
        assert.equal(LATEST_PROTOCOL_VERSION, '2025-11-25', 'this SDK asks for 2025-11-25');
    });

    test('tools/list: every contract tool, with schemas and explicit annotations', async () => {
        const { tools } = await client.listTools();
        const names = tools.map((t) => t.name).sort();
        assert.deepEqual(names, [...CONTRACT_TOOLS].sort());
        for (const tool of tools) {
            assert.equal(tool.inputSchema.type, 'object', tool.name);
            assert.equal(tool.inputSchema.additionalProperties, false, tool.name);
            assert.equal(tool.outputSchema?.type, 'object', tool.name);
            assert.ok(tool.description, tool.name);
            for (const hint of ['readOnlyHint', 'destructiveHint', 'idempotentHint', 'openWorldHint'])
                assert.equal(typeof tool.annotations[hint], 'boolean', `${tool.name}.${hint}`);
            assert.equal(tool.annotations.openWorldHint, false, tool.name);
            assert.equal(tool.annotations.destructiveHint, DESTRUCTIVE.has(tool.name), tool.name);
            assert.ok(client.getToolOutputValidator(tool.name), `${tool.name}: output validator cached`);
        }
    });

    test('key-value tools', async () => {
        const set = await ok('state_set', { key: 'cfg/a', value: { b: 1, a: [1, 'x'] }, agent_id: 'node' });
        assert.equal(set.ok, true);
        assert.equal(set.key, 'cfg/a');
        assert.equal(typeof set.revision, 'number');
        const got = await ok('state_get', { key: 'cfg/a' });
        assert.deepEqual(got.value, { b: 1, a: [1, 'x'] });
        assert.equal(JSON.stringify(got.value), '{"b":1,"a":[1,"x"]}', 'key order kept');
        assert.equal(got.found, true);
        assert.equal(got.agent_id, 'node');
        const missing = await ok('state_get', { key: 'nope' });
        assert.equal(missing.found, false);
        assert.equal(missing.value, null);
        const cas = await ok('state_set', { key: 'cfg/a', value: 2, if_version: 0 });
        assert.equal(cas.ok, false);
        assert.equal(cas.conflict, true);
        assert.equal(cas.current_version, set.version);
        await ok('state_set', { key: 'cfg/b', value: null, ttl_seconds: 120.5, agent_id: null });
        const list = await ok('state_list', { prefix: 'cfg/' });
        assert.deepEqual(list.keys, ['cfg/a', 'cfg/b']);
        const tree = await ok('state_list', { delimiter: '/', limit: 10 });
        assert.deepEqual(tree.prefixes, ['cfg/']);
        const del = await ok('state_delete', { key: 'cfg/b' });
        assert.equal(del.ok, true);
        assert.equal((await ok('state_delete', { key: 'cfg/b' })).ok, false);
    });

    test('state_watch: a change feed, and a long poll that does not block the session', async () => {
        const feed = await ok('state_watch', { since_revision: 0, prefix: 'cfg/', timeout_seconds: 5 });
        assert.deepEqual(feed.events.map((e) => [e.op, e.key]),
            [['set', 'cfg/a'], ['set', 'cfg/b'], ['delete', 'cfg/b']]);
        assert.equal(feed.events[0].kind, 'kv');
        // A watch parked on a prefix; a write on the same session wakes it.
        const parked = ok('state_watch', { since_revision: feed.revision, prefix: 'live/', timeout_seconds: 20 });
        const write = await ok('state_set', { key: 'live/x', value: 'woke' });
        const woke = await parked;
        assert.equal(woke.events.length, 1);
        assert.equal(woke.events[0].key, 'live/x');
        assert.equal(woke.events[0].revision, write.revision);
        assert.equal(woke.revision, write.revision);
    });

    test('many calls in flight at once', async () => {
        const n = 200;
        const results = await Promise.all(Array.from({ length: n }, (_, i) =>
            ok('state_set', { key: `many/${String(i).padStart(3, '0')}`, value: i })));
        assert.ok(results.every((r) => r.ok === true));
        assert.equal(new Set(results.map((r) => r.revision)).size, n, 'one revision per write');
        const list = await ok('state_list', { prefix: 'many/' });
        assert.equal(list.keys.length, n);
        const values = await Promise.all(list.keys.map((key) => ok('state_get', { key })));
        values.forEach((v, i) => assert.equal(v.value, i));
    });

    test('workflow tools', async () => {
        const created = await ok('workflow_create', { name: 'build', tags: { team: 'a' }, input: { n: 1 } });
        assert.match(created.run_id, /^wf-[0-9a-f]{12}$/);
        assert.equal(created.status, 'created');
        const run = created.run_id;
        const discovered = await ok('workflow_discover', { tags: { team: 'a' }, status: null });
        assert.deepEqual(discovered.runs.map((r) => r.run_id), [run]);
        const claim = await ok('workflow_claim', { run_id: run, agent_id: 'w1', ttl_seconds: 60 });
        assert.equal(claim.claimed, true);
        assert.equal(claim.reason, null);
        const lost = await ok('workflow_claim', { run_id: run, agent_id: 'w2' });
        assert.equal(lost.claimed, false);
        assert.equal(lost.agent_id, null);
        assert.match(lost.reason, /w1/);
        const beat = await ok('workflow_heartbeat', { run_id: run, agent_id: 'w1', fence: claim.fence });
        assert.equal(beat.ok, true);
        for (const step of [10, 2, 1])
            assert.equal((await ok('workflow_checkpoint', { run_id: run, step, output: { step }, agent_id: 'w1' })).ok, true);
        const resume = await ok('workflow_resume', { run_id: run });
        assert.deepEqual(Object.keys(resume.step_outputs), ['1', '2', '10']);
        assert.equal(resume.last_step, 10);
        assert.deepEqual(resume.meta.input, { n: 1 });
        const status = await ok('workflow_status', { run_id: run });
        assert.equal(status.status, 'running');
        assert.equal(status.agent_id, 'w1');
        const done = await ok('workflow_complete', { run_id: run, agent_id: 'w1', status: 'done', result: [1] });
        assert.equal(done.ok, true);
        const next = await ok('workflow_create', { name: 'queued' });
        const claimedNext = await ok('workflow_claim_next', { agent_id: 'w3', name: 'queued' });
        assert.equal(claimedNext.run_id, next.run_id);
        const none = await ok('workflow_claim_next', { agent_id: 'w3', name: 'queued' });
        assert.equal(none.claimed, false);
        assert.equal(none.run_id, null);
        const list = await ok('workflow_list', {});
        assert.deepEqual(list.runs.map((r) => r.run_id), [next.run_id, run]);
        const unknown = await ok('workflow_claim', { run_id: 'wf-000000000000', agent_id: 'w1' });
        assert.equal(unknown.reason, "Workflow 'wf-000000000000' not found");
        assert.equal(await toolError('workflow_status', { run_id: 'wf-000000000000' }), 'not_found');
    });

    test('lease tools', async () => {
        const a = await ok('lease_acquire', { resource_id: 'db', holder_id: 'h1', ttl_seconds: 60 });
        assert.equal(a.acquired, true);
        assert.equal(typeof a.fence, 'number');
        const b = await ok('lease_acquire', { resource_id: 'db', holder_id: 'h2', ttl_seconds: '60' });
        assert.equal(b.acquired, false);
        assert.equal(b.holder, 'h1');
        assert.equal(b.expires_at, null);
        assert.equal(b.reason, "Held by 'h1'");
        const renewed = await ok('lease_renew', { resource_id: 'db', holder_id: 'h1', ttl_seconds: 120 });
        assert.equal(renewed.renewed, true);
        const list = await ok('lease_list', {});
        assert.deepEqual(list.leases.map((l) => [l.resource_id, l.holder, l.fence]), [['db', 'h1', a.fence]]);
        assert.equal((await ok('lease_release', { resource_id: 'db', holder_id: 'h1', fence: a.fence })).released, true);
        assert.equal((await ok('lease_release', { resource_id: 'db', holder_id: 'h1' })).released, false);
    });

    test('session and history tools', async () => {
        const saved = await ok('session_save', { session_id: 'chat', context: { turns: [1, 2] }, agent_id: 'node' });
        assert.equal(saved.ok, true);
        const restored = await ok('session_restore', { session_id: 'chat' });
        assert.deepEqual(restored.context, { turns: [1, 2] });
        const missing = await ok('session_restore', { session_id: 'none' });
        assert.equal(missing.found, false);
        assert.equal(missing.context, null);
        const list = await ok('session_list', { prefix: 'ch' });
        assert.deepEqual(list.sessions.map((s) => s.session_id), ['chat']);
        assert.equal((await ok('session_delete', { session_id: 'chat' })).ok, true);
        const history = await ok('history_log', { key: 'chat', n: 5 });
        assert.equal(history.total, 2);
        assert.deepEqual(history.entries.map((e) => e.op), ['delete', 'save']);
        assert.deepEqual(history.entries[0].previous_value, { turns: [1, 2] });
        const all = await ok('history_log', { key: null, n: '1000' });
        assert.ok(all.total > 10);
    });

    test('observability tools', async () => {
        const health = await ok('sidecar_health', {});
        assert.equal(health.status, 'ok');
        assert.equal(health.backend, 'sqlite');
        assert.equal(await toolError('sidecar_reset', {}), 'invalid_argument');
        const reset = await ok('sidecar_reset', { confirm: 'RESET' });
        assert.equal(reset.ok, true);
        const after = await ok('sidecar_health', {});
        assert.equal(after.key_count, 0);
        assert.ok(after.revision > health.revision, 'the revision keeps counting after a reset');
    });

    test('every tool was called and its result validated by the SDK', () => {
        assert.deepEqual([...called].sort(), [...CONTRACT_TOOLS].sort());
    });

    test('a tool error is a result with isError and an error object', async () => {
        assert.equal(await toolError('state_set', { key: 'k', value: 1, ttl_seconds: 0 }), 'invalid_argument');
        assert.equal(await toolError('state_set', { key: '', value: 1 }), 'invalid_argument');
        assert.equal(await toolError('state_get', { key: 'k', extra: true }), 'invalid_argument');
        // the session goes on
        assert.equal((await ok('state_get', { key: 'k' })).found, false);
    });

    test('an unknown tool is JSON-RPC error -32602', async () => {
        await assert.rejects(client.callTool({ name: 'no_such_tool', arguments: {} }), (error) => {
            assert.ok(error instanceof McpError, String(error));
            assert.equal(error.code, ErrorCode.InvalidParams);
            return true;
        });
        assert.equal((await ok('sidecar_health', {})).status, 'ok');
    });

    test('resources: list, templates, read, subscribe, -32002', async () => {
        assert.deepEqual(client.getServerCapabilities().resources, { subscribe: true, listChanged: false });
        const { resources } = await client.listResources();
        assert.deepEqual(resources.map((r) => r.uri),
            ['state://kv', 'state://workflows', 'state://leases', 'state://sessions', 'state://history']);
        const { resourceTemplates } = await client.listResourceTemplates();
        assert.deepEqual(resourceTemplates.map((t) => t.uriTemplate),
            ['state://kv/{key}', 'state://workflows/{run_id}', 'state://leases/{resource_id}', 'state://sessions/{session_id}']);
        const key = 'interop/res \u2713';
        const uri = 'state://kv/' + encodeURIComponent(key).replace(/[!'()*]/g, (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase());
        const updates = [];
        let wake;
        client.setNotificationHandler(ResourceUpdatedNotificationSchema, (n) => { updates.push(n.params.uri); wake?.(); });
        await client.subscribeResource({ uri });
        await client.subscribeResource({ uri: 'state://kv' });
        await ok('state_set', { key, value: { n: 1 } });
        const deadline = Date.now() + 10000;
        while (!(updates.includes(uri) && updates.includes('state://kv')) && Date.now() < deadline)
            await new Promise((r) => { wake = r; setTimeout(r, 100); });
        assert.ok(updates.includes(uri) && updates.includes('state://kv'), `updates: ${updates}`);
        const read = await client.readResource({ uri });
        assert.equal(read.contents[0].mimeType, 'application/json');
        assert.deepEqual(JSON.parse(read.contents[0].text), await ok('state_get', { key }));
        await assert.rejects(client.readResource({ uri: 'state://kv/missing' }),
            (e) => e instanceof McpError && e.code === -32002 && e.data?.uri === 'state://kv/missing');
        await client.unsubscribeResource({ uri });
        await client.unsubscribeResource({ uri: 'state://kv' });
    });

    test('closing stdin stops the server cleanly', async () => {
        const child = transport._process;
        assert.ok(child, 'the SDK transport keeps its child process');
        const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
        await client.close();
        const { code, signal } = await exited;
        assert.equal(signal, null, `the server needed a signal to stop; stderr:\n${stderr}`);
        assert.equal(code, 0, `stderr:\n${stderr}`);
        assert.doesNotMatch(stderr, /\b(critical|fatal)\b/i);
    });
});
