// A small MCP client over Streamable HTTP for the benchmark workers: one session, tools/call, JSON or SSE answers.
// It counts failures instead of hiding them: a JSON-RPC error or a result with isError throws.
const PROTOCOL = '2025-11-25';

export class McpHttpSession {
  constructor(url) {
    this.url = url;
    this.sid = '';
    this.nextId = 1;
  }

  headers() {
    const h = { 'Content-Type': 'application/json', Accept: 'application/json, text/event-stream', 'MCP-Protocol-Version': PROTOCOL };
    if (this.sid) h['Mcp-Session-Id'] = this.sid;
    return h;
  }

  async post(message) {
    const res = await fetch(this.url, { method: 'POST', headers: this.headers(), body: JSON.stringify(message) });
    const text = await res.text();
    if (!res.ok && res.status !== 202) throw new Error(`HTTP ${res.status}: ${text.slice(0, 200)}`);
    return { res, text };
  }

  async initialize() {
    const { res, text } = await this.post({ jsonrpc: '2.0', id: this.nextId++, method: 'initialize',
      params: { protocolVersion: PROTOCOL, capabilities: {}, clientInfo: { name: 'bench', version: '1' } } });
    this.sid = res.headers.get('mcp-session-id') || '';
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
