// node-postgres and postgres.js through pgsieve. Connection facts come from
// the environment (set by test_drivers_node.py); exits non-zero on failure.
import assert from 'node:assert/strict';
import pg from 'pg';
import postgres from 'postgres';

const host = process.env.PGSIEVE_HOST;
const port = Number(process.env.PGSIEVE_PORT);
const password = process.env.PGSIEVE_PASSWORD;
const tls = process.env.PGSIEVE_TLS === '1';

async function nodePostgres() {
  const client = new pg.Client({
    host, port, user: 'cs_bot', password, database: 'app',
    ssl: tls ? { rejectUnauthorized: false } : false,
    application_name: 'node-postgres-test',
  });
  await client.connect();
  try {
    const all = await client.query('SELECT id, name FROM customers ORDER BY id');
    assert.deepEqual(all.rows.map((r) => r.name), ['Acme Corp', 'Globex', 'Initech']);

    // A named statement is parsed once and reused.
    for (const plan of ['team', 'free', 'team']) {
      const r = await client.query({ name: 'by-plan', text: 'SELECT name FROM customers WHERE plan = $1', values: [plan] });
      assert.equal(r.rows.length, 1);
    }
    const named = await client.query("SELECT count(*)::int AS n FROM pg_prepared_statements WHERE name = 'by-plan'");
    assert.equal(named.rows[0].n, 1);

    // Many queries queued on one client.
    const many = await Promise.all([...Array(25).keys()].map((i) => client.query('SELECT $1::int * 2 AS v', [i])));
    assert.deepEqual(many.map((r) => r.rows[0].v), [...Array(25).keys()].map((i) => i * 2));

    await assert.rejects(client.query('SELECT 1/0'), /division by zero/);
    assert.equal((await client.query('SELECT 5 AS v')).rows[0].v, 5);
  } finally {
    await client.end();
  }
}

async function postgresJs() {
  const sql = postgres({
    host, port, user: 'cs_bot', pass: password, database: 'app', max: 1,
    ssl: tls ? { rejectUnauthorized: false } : false,
    connection: { application_name: 'postgres.js-test' },
    onnotice: () => {},
  });
  try {
    const team = await sql`SELECT id, name FROM customers WHERE plan = ${'team'}`;
    assert.deepEqual(team.map((r) => r.name), ['Globex']);
    // postgres.js pipelines these on its one connection.
    const results = await Promise.all([...Array(30).keys()].map((i) => sql`SELECT ${i}::int + 1 AS v`));
    assert.deepEqual(results.map((r) => r[0].v), [...Array(30).keys()].map((i) => i + 1));
    await assert.rejects(sql`SELECT * FROM missing_table`, /does not exist/);
    const [{ n }] = await sql`SELECT count(*)::int AS n FROM usage_daily`;
    assert.equal(n, 21);
  } finally {
    await sql.end({ timeout: 5 });
  }
}

await nodePostgres();
await postgresJs();
console.log('node drivers ok');
