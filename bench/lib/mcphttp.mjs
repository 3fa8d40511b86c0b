// A small MCP client over Streamable HTTP for the benchmark workers: one session on one kept-alive connection,
// tools/call, JSON or SSE answers. It counts failures instead of hiding them: a JSON-RPC error or a result
// with isError throws. node:http rather than fetch: it costs the client about half the CPU per call, and the
// client shares the machine with the server it measures.
import http from 'node:http';

const PROTOCOL = '2025-11-25';

function request(url, agent, headers, body) {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: 'POST', agent, headers: { ...headers, 'Content-Length': Buffer.byteLength(body) } }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, text: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

export class McpHttpSession {
  constructor(url) {
    this.url = url;
    this.sid = '';
    this.nextId = 1;
    this.agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  }

  headers() {
    const h = { 'Content-Type': 'application/json', Accept: 'application/json, text/event-stream', 'MCP-Protocol-Version': PROTOCOL };
    if (this.sid) h['Mcp-Session-Id'] = this.sid;
    return h;
  }

  async post(message) {
    const res = await request(this.url, this.agent, this.headers(), JSON.stringify(message));
    if (res.status !== 200 && res.status !== 202) throw new Error(`HTTP ${res.status}: ${res.text.slice(0, 200)}`);
    return { res, text: res.text };
  }

  close() {
    this.agent.destroy();
  }

  async initialize() {
    const { res, text } = await this.post({ jsonrpc: '2.0', id: this.nextId++, method: 'initialize',
      params: { protocolVersion: PROTOCOL, capabilities: {}, clientInfo: { name: 'bench', version: '1' } } });
    this.sid = res.headers['mcp-session-id'] || '';
    parseAnswer(text);
    await this.post({ jsonrpc: '2.0', method: 'notifications/initialized' });
    return this;
  }

  async call(name, args) {
    const { text } = await this.post({ jsonrpc: '2.0', id: this.nextId++, method: 'tools/call', params: { name, arguments: args } });
    const msg = parseAnswer(text);
    if (msg.error) throw new Error(`${name}: JSON-RPC error ${JSON.stringify(msg.error)}`);
    if (msg.result?.isError) throw new Error(`${name}: tool error ${JSON.stringify(msg.result.content)}`);
    return msg.result.structuredContent ?? JSON.parse(msg.result.content[0].text);
  }
}

// The answer to a POST: a JSON body, or an SSE stream whose last data line holds it.
function parseAnswer(text) {
  const t = text.trimStart();
  if (t.startsWith('{')) return JSON.parse(t);
  const data = t.split('\n').filter((l) => l.startsWith('data:')).map((l) => l.slice(5).trim()).filter(Boolean);
  if (!data.length) throw new Error(`no answer in ${text.slice(0, 200)}`);
  return JSON.parse(data[data.length - 1]);
}
