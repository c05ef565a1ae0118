// Replays policy-corpus cases with node-postgres over the extended protocol
// (queryMode: 'extended'), one connection per case. Reads
// [{client, sql}, ...] as JSON on stdin; writes [{sqlstate, output, changed}].
import pg from 'pg';

const input = JSON.parse(await new Promise((resolve) => {
  let text = '';
  process.stdin.on('data', (chunk) => { text += chunk; });
  process.stdin.on('end', () => resolve(text));
}));

const results = [];
for (const { client, sql } of input) {
  const seen = [];
  const c = new pg.Client({
    host: process.env.PGSIEVE_HOST, port: Number(process.env.PGSIEVE_PORT),
    user: client, password: process.env.PGSIEVE_PASSWORD, database: 'app',
  });
  c.on('notice', (n) => seen.push(n.message));
  await c.connect();
  try {
    const r = await c.query({ text: sql, queryMode: 'extended' });
    seen.push(JSON.stringify(r.rows));
    results.push({ sqlstate: null, output: seen.join('\n'), changed: r.command === 'INSERT' ? r.rowCount : 0 });
  } catch (e) {
    seen.push(`${e.message} ${e.detail ?? ''} ${e.hint ?? ''}`);
    results.push({ sqlstate: e.code ?? 'client', output: seen.join('\n'), changed: 0 });
  } finally {
    await c.end().catch(() => {});
  }
}
process.stdout.write(JSON.stringify(results));
