// Result checks shared by the interop tests (lib/ is not globbed as a test).
import assert from 'node:assert/strict';
import fs from 'node:fs';

// A successful call: checks the result's shape, records the tool in `called`, returns structuredContent.
export async function checkedCall(client, name, args, called) {
    assert.ok(client.getToolOutputValidator(name), `the SDK has no output validator cached for ${name}`);
    const result = await client.callTool({ name, arguments: args }); // throws if it does not validate
    assert.notEqual(result.isError, true, `${name} failed: ${JSON.stringify(result.content)}`);
    assert.equal(typeof result.structuredContent, 'object');
    assert.equal(result.content.length, 1);
    assert.equal(result.content[0].type, 'text');
    assert.deepEqual(JSON.parse(result.content[0].text), result.structuredContent);
    called.add(name);
    return result.structuredContent;
}

// A tool error: returns its code after checking its shape.
export async function toolErrorCode(client, name, args) {
    const result = await client.callTool({ name, arguments: args });
    assert.equal(result.isError, true, `${name} should have failed: ${JSON.stringify(result)}`);
    assert.equal(result.structuredContent, undefined);
    assert.equal(result.content.length, 1);
    const body = JSON.parse(result.content[0].text);
    assert.equal(typeof body.error.message, 'string');
    assert.ok(body.error.message.length > 0);
    return body.error.code;
}

// Every tool of the contract, and the ones whose destructiveHint is true.
export const CONTRACT_TOOLS = [
    'state_set', 'state_get', 'state_delete', 'state_list', 'state_watch',
    'workflow_create', 'workflow_discover', 'workflow_claim', 'workflow_claim_next', 'workflow_heartbeat',
    'workflow_checkpoint', 'workflow_complete', 'workflow_resume', 'workflow_status', 'workflow_list',
    'lease_acquire', 'lease_release', 'lease_renew', 'lease_list',
    'session_save', 'session_restore', 'session_list', 'session_delete',
    'history_log', 'sidecar_health', 'sidecar_reset',
];
export const DESTRUCTIVE = new Set(['state_delete', 'session_delete', 'sidecar_reset']);

// The server binary under test (argv[2] or SIDECAR_BIN); exits 2 when it is missing.
export function serverBinary(script) {
    const binary = process.argv[2] || process.env.SIDECAR_BIN;
    if (!binary || !fs.existsSync(binary)) {
        console.error(`${script}: server binary not found (argv[2] or SIDECAR_BIN): ${binary}`);
        process.exit(2);
    }
    return binary;
}
