// services: s3
/**
 * S3 staging (`staging: { url: s3://bucket/prefix }`), against the S3 test server and real MariaDB and PostgreSQL:
 * a node whose export ran in one process and working directory is imported by another process in another working
 * directory (as on a second machine: nothing local is shared, only the bucket), resumes with the chunks already
 * uploaded (each verified by its SHA-256, a damaged one exported again), and loads exactly the source's rows.
 * Staging failures name the S3 location; a refused connection is retried, a missing bucket is not.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pigeon, tempDir } from '../support/cli.js';
import { createDb, type EngineDb } from '../support/engines.js';
import { repoRoot } from '../support/paths.js';
import { nodeOf, status } from '../support/reliability.js';
import { testBucket } from '../support/s3.js';

const ROWS = 4000;

interface Setup {
  readonly dir: string;
  readonly src: EngineDb;
  readonly dst: EngineDb;
  readonly prefix: string;
}

async function withPipeline(options: { compress: 'gzip' | 'none'; staging?: string; endpoint?: string }, fn: (s: Setup) => Promise<void>): Promise<void> {
  const s3 = testBucket();
  const t = tempDir('pigeon-s3-staging-');
  const prefix = s3.prefix();
  const src = await createDb('mysql', t.dir);
  const dst = await createDb('postgres', t.dir);
  try {
    await src.exec(`CREATE TABLE orders (id BIGINT PRIMARY KEY, name TEXT, amount DECIMAL(12,2), note VARCHAR(50))`);
    await src.exec('SET SESSION max_recursive_iterations = 1000000');
    await src.exec(
      `INSERT INTO orders WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ${ROWS})
       SELECT i, CASE i % 5 WHEN 0 THEN NULL WHEN 1 THEN '' WHEN 2 THEN CONCAT('say "hi", #', i) WHEN 3 THEN CONCAT('line\\nbreak ', i) ELSE '\\\\N' END,
              CASE WHEN i % 7 = 0 THEN NULL ELSE i * 1.25 END, CONCAT('🐦 ', i) FROM n`,
    );
    const c = s3.config(`${prefix}lake/`, options.endpoint !== undefined ? { endpoint: options.endpoint } : {});
    const conn = Object.entries(c).map(([k, v]) => `${k}: ${JSON.stringify(v)}`).join(', ');
    const staging = options.staging ?? `s3://${s3.bucket}/${prefix}staging`;
    writeFileSync(
      join(t.dir, 'p.yaml'),
      `version: 1
name: s3stg
connections:
  shop: ${src.yaml.replace('}', ', max_connections: 1 }')}
  dw: ${dst.yaml}
  lake: { type: s3, ${conn} }
staging: { url: ${JSON.stringify(staging)}, connection: lake, compress: ${options.compress} }
defaults: { retries: 1, retry_delay: 100ms }
nodes:
  orders:
    source: { connection: shop, table: orders, split: { column: id, chunks: 4 } }
    target: { connection: dw, table: orders, mode: overwrite }
`,
    );
    await fn({ dir: t.dir, src, dst, prefix });
  } finally {
    await src.drop().catch(() => {});
    await dst.drop().catch(() => {});
    await s3.clear(prefix).catch(() => {});
    t.cleanup();
  }
}

/** The rows of both sides as text, ordered by id. */
async function assertSameOrders(src: EngineDb, dst: EngineDb): Promise<void> {
  const text = (rows: unknown[][]) => rows.map((r) => r.map((v) => (v === null ? null : String(v))));
  const a = text(await src.rows(`SELECT id, name, amount, note FROM orders ORDER BY id`));
  const b = text(await dst.rows(`SELECT id, name, amount::text, note FROM orders ORDER BY id`));
  assert.equal(b.length, ROWS);
  assert.deepEqual(b, a);
}

/** The run id of the one run recorded in `dir`. */
function onlyRun(dir: string): string {
  const runs = readdirSync(join(dir, '.pigeon', 'runs'));
  assert.equal(runs.length, 1);
  return runs[0]!;
}

/** One attempt of `node`, in a fresh working directory of its own, with the lineage `lineage` (another machine). */
async function attemptElsewhere(from: string, lineage: string, node: string): Promise<{ dir: string; result: Record<string, unknown>; stderr: string }> {
  const dir = join(from, 'second-machine');
  mkdirSync(dir);
  copyFileSync(join(from, 'p.yaml'), join(dir, 'p.yaml'));
  const child = spawn(process.execPath, [join(repoRoot, 'dist/test/support/node-attempt-child.js'), 'p.yaml', lineage, node], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const code = await new Promise((resolve) => child.on('close', resolve));
  assert.equal(code, 0, stderr);
  return { dir, result: JSON.parse(stdout.trim().split('\n').pop()!) as Record<string, unknown>, stderr };
}

describe('S3 staging', () => {
  for (const compress of ['gzip', 'none'] as const) {
    test(`the export runs in one process, the import in another working directory; the same rows load (compress: ${compress})`, async () => {
      await withPipeline({ compress }, async ({ dir, src, dst, prefix }) => {
        const s3 = testBucket();
        // Chunks export one at a time (max_connections: 1): killed when the fourth and last is in S3.
        const first = await pigeon(['run', 'p.yaml', '--progress', '0'], { cwd: dir, env: { PIGEON_CRASH_AT: 'orders:chunk:4' } });
        assert.equal(first.signal, 'SIGKILL', first.stderr);
        const lineage = onlyRun(dir);
        const staged = await s3.keys(`${prefix}staging/s3stg/${lineage}/orders/`);
        const ext = compress === 'gzip' ? '.csv.gz' : '.csv';
        assert.deepEqual(staged, ['checkpoint.json', ...[1, 2, 3, 4].map((i) => `chunk-0000${i}${ext}`), 'schema.json']);

        const second = await attemptElsewhere(dir, lineage, 'orders');
        assert.equal(second.result['chunks'], 4);
        assert.equal(second.result['chunksResumed'], 4, 'every chunk came from S3: none exported again');
        assert.equal(second.result['rowsImported'], ROWS);
        assert.equal(existsSync(join(second.dir, '.pigeon', 'staging')), false, 'the second machine staged nothing locally');
        await assertSameOrders(src, dst);
        assert.deepEqual(await s3.keys(`${prefix}staging/`), [], 'staging is cleared once the load committed');
      });
    });
  }

  test('resume skips the chunks already uploaded and exports again one that was damaged since', async () => {
    await withPipeline({ compress: 'gzip' }, async ({ dir, src, dst, prefix }) => {
      const s3 = testBucket();
      const first = await pigeon(['run', 'p.yaml', '--progress', '0'], { cwd: dir, env: { PIGEON_CRASH_AT: 'orders:chunk:3' } });
      assert.equal(first.signal, 'SIGKILL', first.stderr);
      const lineage = onlyRun(dir);
      const area = `${prefix}staging/s3stg/${lineage}/orders/`;
      // Same size, other bytes: only the SHA-256 tells.
      const damaged = await s3.bytes(`${area}chunk-00002.csv.gz`);
      damaged[damaged.length - 5] ^= 0xff;
      await s3.put(`${area}chunk-00002.csv.gz`, damaged);

      const second = await attemptElsewhere(dir, lineage, 'orders');
      assert.equal(second.result['chunks'], 4);
      assert.equal(second.result['chunksResumed'], 2, 'chunks 1 and 3 reused, 2 (damaged) and 4 (never exported) exported');
      assert.match(String(second.result['note']), /chunk 2 damaged/);
      assert.match(second.stderr, /does not match the checksum/);
      await assertSameOrders(src, dst);
    });
  });

  test('pigeon retry on the same machine finishes a run killed mid-export, with S3 staging', async () => {
    await withPipeline({ compress: 'gzip' }, async ({ dir, src, dst }) => {
      const first = await pigeon(['run', 'p.yaml', '--progress', '0'], { cwd: dir, env: { PIGEON_CRASH_AT: 'orders:chunk:2' } });
      assert.equal(first.signal, 'SIGKILL');
      const retry = await pigeon(['retry', '--progress', '0'], { cwd: dir });
      assert.equal(retry.code, 0, retry.stderr);
      assert.match(retry.stderr, /2\/4 chunks resumed/);
      await assertSameOrders(src, dst);
    });
  });

  test('a staging bucket that does not exist fails the node at once with STAGING_FAILED naming it', async () => {
    await withPipeline({ compress: 'none', staging: 's3://no-such-staging-bucket/x' }, async ({ dir, dst }) => {
      const r = await pigeon(['run', 'p.yaml', '--progress', '0'], { cwd: dir });
      assert.equal(r.code, 1, r.stderr);
      const node = nodeOf(await status(dir), 'orders');
      assert.equal(node.error?.code, 'STAGING_FAILED', node.error?.message);
      assert.match(node.error!.message, /S3 staging s3:\/\/no-such-staging-bucket\/x\//);
      assert.equal(node.attempts, 1, 'a missing bucket is not retried');
      assert.deepEqual(await dst.rows(`SELECT count(*) FROM pg_tables WHERE tablename = 'orders'`), [['0']]);
    });
  });

  test('an S3 staging that refuses connections fails with a transient STAGING_FAILED, retried', async () => {
    await withPipeline({ compress: 'none', endpoint: 'http://127.0.0.1:1' }, async ({ dir }) => {
      const r = await pigeon(['run', 'p.yaml', '--progress', '0'], { cwd: dir });
      assert.equal(r.code, 1, r.stderr);
      const node = nodeOf(await status(dir), 'orders');
      assert.equal(node.error?.code, 'STAGING_FAILED', node.error?.message);
      assert.match(node.error!.message, /ECONNREFUSED|connect/i);
      assert.equal(node.attempts, 2, 'retried once (retries: 1)');
    });
  });
});
