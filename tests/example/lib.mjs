// What the coordinator (run.mjs) and the workers (worker.mjs) of the multi-agent example share:
// the official MCP TypeScript SDK, a call helper, the job's deterministic steps, and the list of
// tool arguments and result fields the example relies on (checked against the live tools/list).

import crypto from 'node:crypto';
import { createRequire } from 'node:module';

// The SDK comes from the copy that scripts/setup.sh installs for the interop tests
// (`npm ci` in tests/interop). An agent in its own project installs @modelcontextprotocol/sdk and
// writes `import { Client } from '@modelcontextprotocol/sdk/client/index.js'` instead.
const requireFromInterop = createRequire(new URL('../interop/package.json', import.meta.url));
export const { Client } = requireFromInterop('@modelcontextprotocol/sdk/client/index.js');
export const { StreamableHTTPClientTransport } =
    requireFromInterop('@modelcontextprotocol/sdk/client/streamableHttp.js');

// Connects one MCP client to the sidecar's Streamable HTTP endpoint. listTools() caches each
// tool's outputSchema, so that the SDK validates every structuredContent from then on.
export async function connect(url, name) {
    const client = new Client({ name, version: '1.0.0' });
    await client.connect(new StreamableHTTPClientTransport(new URL(url)));
    const { tools } = await client.listTools();
    return { client, tools };
}

// Calls a tool and returns its structuredContent. A tool error (isError) is a bug in this
// example or in the server, never an expected outcome: refusals such as a lost claim are results.
export async function call(client, name, args) {
    const result = await client.callTool({ name, arguments: args });
    if (result.isError)
        throw new Error(`${name}(${JSON.stringify(args)}) failed: ${result.content?.[0]?.text}`);
    return result.structuredContent;
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// Claims are short so that a dead worker's claim lapses quickly; live workers renew theirs with
// a heartbeat before each step and every HEARTBEAT_MS while a step's work is under way.
export const CLAIM_TTL_SECONDS = 3;
export const HEARTBEAT_MS = 1000;
export const STEP_WORK_MS = 150; // the "work" of a step (a model call, in a real agent)

// ---------------------------------------------------------------- the job

// The documents to summarise: workflow run inputs, deterministic.
const WORDS = ['state', 'agent', 'claim', 'fence', 'step', 'lease', 'queue', 'retry', 'crash', 'resume',
    'history', 'revision', 'durable', 'sqlite', 'worker', 'result'];

export function makeDocuments(count) {
    return Array.from({ length: count }, (_, i) => {
        const id = `doc-${String(i + 1).padStart(2, '0')}`;
        const sentences = Array.from({ length: 3 + (i % 3) }, (_, s) => {
            const words = Array.from({ length: 6 + ((i + s) % 5) },
                (_, w) => WORDS[(i * 7 + s * 5 + w * 3) % WORDS.length]);
            return `${words.join(' ')}.`;
        });
        return { doc: id, title: `Notes ${i + 1}`, text: `  ${sentences.join('   ')}  ` };
    });
}

const hash = (value) => crypto.createHash('sha256').update(JSON.stringify(value)).digest('hex').slice(0, 16);

// Each step turns the run's input and the outputs of the steps before it into its own output.
// Pure functions: a worker that resumes a run feeds them the checkpointed outputs.
export const STEPS = [
    {
        step: 1,
        name: 'fetch',
        run: (input) => {
            const text = input.text.trim().replace(/\s+/g, ' ').toLowerCase();
            return { text, words: text.split(' ').length };
        },
    },
    {
        step: 2,
        name: 'summarise',
        run: (input, outputs) => {
            const { text } = outputs['1'];
            const counts = new Map();
            for (const word of text.replace(/\./g, '').split(' '))
                counts.set(word, (counts.get(word) ?? 0) + 1);
            const keywords = [...counts].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))
                .slice(0, 3).map(([w]) => w);
            return { summary: `${input.title}: ${text.split('.')[0]}.`, keywords };
        },
    },
    {
        step: 3,
        name: 'review',
        run: (input, outputs) => ({ approved: outputs['2'].summary.length <= 120, digest: hash(outputs['2']) }),
    },
];

// The run's result, from its input and the outputs of every step.
export function finalResult(input, outputs) {
    const { summary, keywords } = outputs['2'];
    const { approved, digest } = outputs['3'];
    return { doc: input.doc, summary, keywords, approved, digest };
}

// What a run's step outputs and result must be: the steps run once, in order, with no crash.
export function expectedRun(input) {
    const outputs = {};
    for (const { step, run } of STEPS)
        outputs[String(step)] = run(input, outputs);
    return { outputs, result: finalResult(input, outputs) };
}

// ---------------------------------------------------------------- the contract the example uses

// Per tool: the arguments the example sends and the result fields it reads, as docs/contract/TOOLS.md
// names them. The coordinator checks each against the live server's inputSchema / outputSchema.
export const TOOLS_USED = {
    workflow_create: { args: ['name', 'tags', 'input', 'idempotency_key'], fields: ['run_id', 'created'] },
    workflow_claim_next: {
        args: ['agent_id', 'tags', 'ttl_seconds'],
        fields: ['claimed', 'run_id', 'agent_id', 'reason', 'fence', 'attempt', 'claim_expires_at'],
    },
    workflow_resume: { args: ['run_id'], fields: ['run_id', 'last_step', 'step_outputs', 'step_meta', 'meta'] },
    workflow_heartbeat: {
        args: ['run_id', 'agent_id', 'fence', 'ttl_seconds'],
        fields: ['ok', 'reason', 'claim_expires_at'],
    },
    workflow_checkpoint: {
        args: ['run_id', 'step', 'output', 'agent_id', 'fence'],
        fields: ['ok', 'reason', 'revision'],
    },
    workflow_complete: { args: ['run_id', 'agent_id', 'status', 'result', 'fence'], fields: ['ok', 'reason'] },
    workflow_status: { args: ['run_id'], fields: ['status', 'agent_id', 'attempt', 'fence'] },
    workflow_discover: { args: ['tags'], fields: ['runs'] },
    history_log: { args: ['key', 'kind', 'n', 'before_revision'], fields: ['entries', 'more'] },
};
