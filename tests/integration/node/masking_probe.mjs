// Runs each statement of a JSON file (argv[2]) through pgsieve with
// node-postgres (text results; once unnamed, once as a named prepared
// statement) and postgres.js (its own prepared statements), and prints one
// JSON line per run: {driver, index, ok, rows | code, message}. The caller
// (test_masking.py) looks for canaries and checks each verdict.
import fs from 'node:fs';
import pg from 'pg';
import postgres from 'postgres';

const statements = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const connection = {
  host: process.env.PGSIEVE_HOST, port: Number(process.env.PGSIEVE_PORT), user: process.env.PGSIEVE_USER,
  database: 'app',
};
const print = (o) => process.stdout.write(JSON.stringify(o) + '\n');
// Values as text, whatever the driver decoded them into.
const asText = (rows) => rows.map((r) => Object.values(r).map((v) => (v === null ? null : String(v))));

async function nodePostgres(named) {
  const client = new pg.Client({ ...connection, password: process.env.PGSIEVE_PASSWORD, ssl: false });
  await client.connect();
  try {
    for (const [index, text] of statements.entries()) {
      const driver = named ? 'node-postgres (named)' : 'node-postgres';
      try {
        const r = await client.query(named ? { name: `probe_${index}`, text } : text);
        print({ driver, index, ok: true, rows: asText(r.rows ?? []) });
      } catch (e) {
        print({ driver, index, ok: false, code: e.code ?? '', message: String(e.message) });
      }
    }
  } finally {
    await client.end();
  }
}

async function postgresJs() {
  const sql = postgres({ ...connection, pass: process.env.PGSIEVE_PASSWORD, max: 1, ssl: false, onnotice: () => {} });
  try {
    for (const [index, text] of statements.entries()) {
      try {
        const rows = await sql.unsafe(text, [], { prepare: true });
        print({ driver: 'postgres.js', index, ok: true, rows: asText(rows) });
      } catch (e) {
        print({ driver: 'postgres.js', index, ok: false, code: e.code ?? '', message: String(e.message) });
      }
    }
  } finally {
    await sql.end({ timeout: 5 });
  }
}

await nodePostgres(false);
await nodePostgres(true);
await postgresJs();
print({ done: true });
