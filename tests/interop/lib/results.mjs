// Result checks shared by the interop tests (lib/ is not globbed as a test).
import assert from 'node:assert/strict';

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
