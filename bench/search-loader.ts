/**
 * The bench's baseline for PostgreSQL → OpenSearch: a plain `_bulk` loader, what one would write by hand. PostgreSQL
 * turns each row into JSON (`row_to_json`, streamed by COPY), the loader adds an action line with the row's id and
 * posts batches of `batch` documents, `concurrency` requests in flight, into a new index (no replicas, no refresh
 * while loading), then refreshes it. Like pigeon, it retries a request answered 429 or 5xx, with backoff.
 *
 *   node dist/bench/search-loader.js <pg connection string> <table> <search url> <index> <batch> <concurrency>
 */
import { createInterface } from 'node:readline';
import pg from 'pg';
import { to as copyTo } from 'pg-copy-streams';

const [pgUrl, table, url, index, batchArg, concurrencyArg] = process.argv.slice(2);
if (!pgUrl || !table || !url || !index) throw new Error('usage: search-loader <pg url> <table> <search url> <index> <batch> <concurrency>');
const batch = Number(batchArg ?? 1000);
const concurrency = Number(concurrencyArg ?? 2);

/** One request; a 429 or 5xx (the server's breakers trip under load on a small heap) is retried with backoff. */
async function call(method: string, path: string, body?: string, ndjson = false): Promise<string> {
  for (let attempt = 0; ; attempt++) {
    const r = await fetch(`${url}${path}`, {
      method,
      headers: { 'content-type': ndjson ? 'application/x-ndjson' : 'application/json' },
      ...(body === undefined ? {} : { body }),
    });
    const text = await r.text();
    if (r.ok) return text;
    if ((r.status === 429 || r.status >= 500) && attempt < 8) {
      await new Promise((resolve) => setTimeout(resolve, 500 * 2 ** attempt));
      continue;
    }
    throw new Error(`${method} ${path}: ${r.status} ${text.slice(0, 300)}`);
  }
}

await call('PUT', `/${index}`, JSON.stringify({ settings: { index: { number_of_replicas: 0, refresh_interval: '-1' } } }));
const client = new pg.Client({ connectionString: pgUrl });
await client.connect();
const rows = client.query(copyTo(`COPY (SELECT row_to_json(t) FROM ${table} t) TO STDOUT (FORMAT csv, QUOTE e'\\x01', DELIMITER e'\\x02')`));
const inFlight = new Set<Promise<void>>();
let lines: string[] = [];
let docs = 0;
const send = async (body: string) => {
  const text = await call('POST', `/${index}/_bulk?filter_path=errors`, body, true);
  if (!text.startsWith('{"errors":false')) throw new Error(`bulk errors: ${text.slice(0, 300)}`);
};
const flush = async () => {
  if (lines.length === 0) return;
  const p = send(lines.join(''));
  lines = [];
  const tracked = p.finally(() => inFlight.delete(tracked));
  inFlight.add(tracked);
  if (inFlight.size >= concurrency) await Promise.race(inFlight);
};
for await (const line of createInterface({ input: rows, crlfDelay: Infinity })) {
  const id = /^\{"id":(\d+)/.exec(line)![1];
  lines.push(`{"index":{"_id":"${id}"}}\n${line}\n`);
  docs++;
  if (lines.length >= batch) await flush();
}
await flush();
await Promise.all(inFlight);
await client.end();
await call('PUT', `/${index}/_settings`, JSON.stringify({ index: { number_of_replicas: null, refresh_interval: null } }));
await call('POST', `/${index}/_refresh`);
console.error(`loaded ${docs} documents`);
