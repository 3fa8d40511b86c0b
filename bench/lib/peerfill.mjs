// Writes N keys (bench:0 … bench:N-1) straight into the peer's kv_store table, in one transaction, with the
// peer's own better-sqlite3. Usage: node peerfill.mjs PEER_DIR DB_PATH N
import { createRequire } from 'node:module';
import path from 'node:path';

const [peerDir, dbPath, n] = process.argv.slice(2);
const Database = createRequire(path.join(path.resolve(peerDir), 'server.mjs'))('better-sqlite3');
const db = new Database(dbPath);
db.pragma('journal_mode = WAL');
const insert = db.prepare('INSERT OR REPLACE INTO kv_store (key, value_json, expires_at) VALUES (?, ?, NULL)');
db.transaction(() => {
  for (let i = 0; i < Number(n); i++) insert.run(`bench:${i}`, JSON.stringify({ n: i, by: 'bench', tags: ['a', 'b'] }));
})();
db.close();
