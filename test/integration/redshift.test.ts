// services: s3
/**
 * The redshift kind. No Redshift cluster is available here, so:
 * - the Redshift-only statements, COPY … FROM 's3://…' MANIFEST and UNLOAD, are checked as exact text;
 * - everything else runs for real against PostgreSQL 15 and the S3 test server: the connector's own statements
 *   (staging tables, the swap, append, the three merges, the load records, the cursor export, the split plan), its
 *   uploads and manifests in S3. Where Redshift would run COPY or UNLOAD, the test runs the same work on
 *   PostgreSQL (`COPY … FROM STDIN` of exactly the files the manifest lists; `COPY (SELECT) TO STDOUT` into the files
 *   and manifest UNLOAD writes). The connector suite runs on that pair, without the binary and JSON columns, whose
 *   Redshift types (VARBYTE, SUPER) PostgreSQL does not have.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip, createGzip, gunzipSync } from 'node:zlib';
import type { ConnectorKind, StagedChunk } from '../../src/connectors/contract.js';
import { literal as pgLiteral } from '../../src/connectors/postgres/postgres-sql.js';
import { redshiftConfig } from '../../src/connectors/redshift/redshift-config.js';
import { redshiftConnector } from '../../src/connectors/redshift/redshift-connector.js';
import { mergeStatements } from '../../src/connectors/redshift/redshift-import.js';
import { redshiftKind } from '../../src/connectors/redshift/redshift-kind.js';
import { RedshiftFiles, SeqColumn, type RedshiftManifest } from '../../src/connectors/redshift/redshift-s3.js';
import { exportSelect, inlineParams, rsSql } from '../../src/connectors/redshift/redshift-sql.js';
import type { RedshiftStatements } from '../../src/connectors/redshift/redshift-statements.js';
import { rsTypeFor } from '../../src/connectors/redshift/redshift-types.js';
import { S3Store } from '../../src/connectors/s3/s3-store.js';
import type { ColumnSchema } from '../../src/csv/types.js';
import { tempDir } from '../support/cli.js';
import { assertSameRows, connectorContract, withPlace, type ContractSubject } from '../support/connector-contract.js';
import type { Dataset } from '../support/contract-source.js';
import { createDb } from '../support/engines.js';
import { readyFeed } from '../support/feeds.js';
import { testBucket } from '../support/s3.js';

const ROLE = 'arn:aws:iam::123456789012:role/pigeon-loads';

/** The test bucket from its root: manifests name objects by their full s3:// URL. */
function bucketStore(): S3Store {
  const s3 = testBucket();
  return new S3Store({ name: 'test', endpoint: s3.endpoint, region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId: 'k', secretAccessKey: 's' }, partSize: 5 << 20, secrets: [] }, { bucket: s3.bucket, prefix: '' });
}

function keyOf(url: string): string {
  const m = /^s3:\/\/[^/]+\/(.*)$/.exec(url);
  assert.ok(m, url);
  return m[1]!;
}

async function readText(stream: Readable): Promise<string> {
  const pieces: Buffer[] = [];
  for await (const p of stream as AsyncIterable<Buffer>) pieces.push(p);
  return Buffer.concat(pieces).toString('utf8');
}

/** What Redshift would do for COPY and UNLOAD, done on PostgreSQL with the files in S3. */
const POSTGRES_STAND_IN: RedshiftStatements = {
  async copy(s, job) {
    assert.match(job.statement, /^COPY .* FROM 's3:\/\/.*manifest\.json' IAM_ROLE .* MANIFEST FORMAT AS CSV/);
    const store = bucketStore();
    const manifest = JSON.parse(await readText(await store.read(keyOf(job.files.manifest)))) as RedshiftManifest;
    const { from } = await import('pg-copy-streams');
    for (const entry of manifest.entries) {
      assert.equal(entry.mandatory, true);
      const copy = s.client.query(from(`COPY ${job.staging} (${job.columns.map((c) => `"${c}"`).join(', ')}) FROM STDIN WITH (FORMAT csv, HEADER true, NULL E'\\\\N')`));
      const body = await store.read(keyOf(entry.url));
      await pipeline(job.files.gzip ? [body, createGunzip(), copy] : [body, copy]);
    }
    store.close();
  },
  async unload(s, job) {
    assert.match(job.statement, /^UNLOAD \('SELECT /);
    const store = bucketStore();
    const { to } = await import('pg-copy-streams');
    const select = job.select.replace(/\$(\d+)/g, (_, n: string) => pgLiteral(job.params[Number(n) - 1]!));
    const out = s.client.query(to(`COPY (${select}) TO STDOUT WITH (FORMAT csv, HEADER true, NULL E'\\\\N')`));
    const gz = createGzip();
    await Promise.all([store.write(keyOf(`${job.to}0000_part_00.gz`), gz), pipeline(out, gz)]);
    await store.write(keyOf(`${job.to}manifest`), Readable.from([JSON.stringify({ entries: [{ url: `${job.to}0000_part_00.gz` }] })]));
    store.close();
  },
};

const onPostgres: ConnectorKind = { ...redshiftKind, load: async () => (config, options) => redshiftConnector(config, options, POSTGRES_STAND_IN) };

/** A PostgreSQL database standing in for the cluster, and an S3 prefix for the files COPY reads. */
function subject(extra: { export?: 'cursor' | 'unload' } = {}): ContractSubject {
  return {
    kind: onPostgres,
    label: `redshift on PostgreSQL (COPY/UNLOAD done by the test), export by ${extra.export ?? 'unload'}`,
    omit: ['b', 'j'],
    async place() {
      const s3 = testBucket();
      const prefix = s3.prefix();
      const t = tempDir('pigeon-redshift-');
      const db = await createDb('postgres', t.dir);
      const name = /\/([^/"]+)"/.exec(db.yaml)![1]!;
      return {
        config: { url: `redshift://postgres@127.0.0.1:5432/${name}`, s3: { url: `s3://${s3.bucket}/${prefix}rs`, connection: 'lake' }, iam_role: ROLE, ...(extra.export ? { options: { export: extra.export } } : {}) },
        connections: { lake: { type: 's3', ...s3.config(prefix) } },
        exec: (sql) => db.exec(sql),
        // Staging tables of failed loads, and files uploaded for a COPY, never stay.
        leftovers: async () => [
          ...(await db.rows(`SELECT relname FROM pg_class WHERE relname LIKE '\\_pigeon\\_stg\\_%' OR relname LIKE '\\_pigeon\\_old\\_%'`)).map((r) => String(r[0])),
          ...(await s3.keys(prefix)),
          ...(await s3.uploads(prefix)),
        ],
        cleanup: async () => {
          await db.drop();
          await s3.clear(prefix);
          t.cleanup();
        },
      };
    },
  };
}

connectorContract(subject());
connectorContract({ ...subject({ export: 'cursor' }), label: 'redshift on PostgreSQL, no s3 for exports: cursor' });

const ID: ColumnSchema = { name: 'id', type: 'int64', nullable: false };
const V: ColumnSchema = { name: 'v', type: 'text', nullable: true };
const data = (rows: (string | null)[][], columns: ColumnSchema[] = [ID, V]): Dataset => ({ columns, rows });

describe('redshift statements, as text', () => {
  const files = { manifest: 's3://dw-loads/pigeon/loads/ab12-cd/manifest.json', gzip: true };
  test('COPY from a manifest of gzip CSV files with an IAM role', () => {
    assert.equal(
      rsSql.copy('"public"."_pigeon_stg_x"', ['id', 'name "q"'], files, { role: ROLE }),
      `COPY "public"."_pigeon_stg_x" ("id", "name ""q""") FROM 's3://dw-loads/pigeon/loads/ab12-cd/manifest.json' IAM_ROLE '${ROLE}' ` +
        `MANIFEST FORMAT AS CSV GZIP IGNOREHEADER 1 NULL AS '\\\\N' DATEFORMAT 'auto' TIMEFORMAT 'auto' COMPUPDATE OFF STATUPDATE OFF`,
    );
  });
  test('COPY with keys and a session token, uncompressed, from a bucket in another region', () => {
    assert.equal(
      rsSql.copy('"s"."t"', ['id'], { ...files, gzip: false, region: 'eu-west-1' }, { accessKeyId: 'AKIAX', secretAccessKey: "se'cr\\et", sessionToken: 'tok' }),
      `COPY "s"."t" ("id") FROM 's3://dw-loads/pigeon/loads/ab12-cd/manifest.json' ACCESS_KEY_ID 'AKIAX' SECRET_ACCESS_KEY 'se''cr\\\\et' SESSION_TOKEN 'tok' ` +
        `REGION 'eu-west-1' MANIFEST FORMAT AS CSV IGNOREHEADER 1 NULL AS '\\\\N' DATEFORMAT 'auto' TIMEFORMAT 'auto' COMPUPDATE OFF STATUPDATE OFF`,
    );
  });
  test('UNLOAD of a chunk with its bounds written as literals, quoted once more inside the query literal', () => {
    const req = { node: 'n', source: { connection: 'dw', table: 'sales.orders', columns: ['id', 'paid'] }, window: { column: 'at', lower: { value: "2026-01-01 00:00:00", inclusive: true }, upper: { value: "it's \\ odd", inclusive: false } } };
    const sel = exportSelect(req, { index: 2, range: { column: 'id', lower: { value: '100', inclusive: true } } }, ['id', 'paid'], [undefined, (x) => `CASE WHEN ${x} THEN 'true' WHEN NOT ${x} THEN 'false' END`]);
    assert.equal(
      sel.sql,
      `SELECT pigeon_e."c1" AS "id", CASE WHEN pigeon_e."c2" THEN 'true' WHEN NOT pigeon_e."c2" THEN 'false' END AS "paid" FROM ` +
        `(SELECT "id", "paid" FROM "sales"."orders" WHERE ("at" >= $1 AND "at" < $2) AND ("id" >= $3)) AS pigeon_e("c1", "c2")`,
    );
    assert.equal(
      rsSql.unload(inlineParams(sel.sql, sel.params), 's3://dw-loads/pigeon/unload/x/', { role: ROLE }, undefined),
      `UNLOAD ('SELECT pigeon_e."c1" AS "id", CASE WHEN pigeon_e."c2" THEN ''true'' WHEN NOT pigeon_e."c2" THEN ''false'' END AS "paid" FROM ` +
        `(SELECT "id", "paid" FROM "sales"."orders" WHERE ("at" >= ''2026-01-01 00:00:00'' AND "at" < ''it''''s \\\\\\\\ odd'') AND ("id" >= ''100''))` +
        ` AS pigeon_e("c1", "c2")') TO 's3://dw-loads/pigeon/unload/x/' IAM_ROLE '${ROLE}' FORMAT AS CSV HEADER NULL AS '\\\\N' GZIP MANIFEST ALLOWOVERWRITE PARALLEL ON MAXFILESIZE 256 MB`,
    );
  });
  test('merge: MERGE on NOT NULL keys, DELETE … USING when every column is carried, UPDATE … FROM to keep the others', () => {
    const ref = { schema: 'public', name: 'orders', qualified: '"public"."orders"' };
    const cols = [{ name: 'id' }, { name: 'v' }];
    const src = '"public"."_pigeon_stg_1_last"';
    assert.deepEqual(mergeStatements(ref, { columns: [{ name: 'id', notNull: true }, { name: 'v', notNull: false }] }, src, cols, ['id']), [
      `MERGE INTO "public"."orders" USING ${src} AS s ON "orders"."id" = s."id" WHEN MATCHED THEN UPDATE SET "v" = s."v" WHEN NOT MATCHED THEN INSERT ("id", "v") VALUES (s."id", s."v")`,
    ]);
    assert.deepEqual(mergeStatements(ref, { columns: [{ name: 'id', notNull: false }, { name: 'v', notNull: false }] }, src, cols, ['id']), [
      `DELETE FROM "public"."orders" USING ${src} AS s WHERE ("orders"."id" = s."id" OR ("orders"."id" IS NULL AND s."id" IS NULL))`,
      `INSERT INTO "public"."orders" ("id", "v") SELECT s."id", s."v" FROM ${src} AS s`,
    ]);
    assert.deepEqual(mergeStatements(ref, { columns: [{ name: 'id', notNull: false }, { name: 'v', notNull: false }, { name: 'extra', notNull: false }] }, src, cols, ['id']), [
      `UPDATE "public"."orders" SET "v" = s."v" FROM ${src} AS s WHERE ("orders"."id" = s."id" OR ("orders"."id" IS NULL AND s."id" IS NULL))`,
      `INSERT INTO "public"."orders" ("id", "v") SELECT s."id", s."v" FROM ${src} AS s WHERE NOT EXISTS (SELECT 1 FROM "public"."orders" AS t WHERE (t."id" = s."id" OR (t."id" IS NULL AND s."id" IS NULL)))`,
    ]);
  });
  test('created column types, VARCHAR lengths in bytes', () => {
    const c = (x: Partial<ColumnSchema> & Pick<ColumnSchema, 'type'>): ColumnSchema => ({ name: 'c', nullable: true, ...x });
    assert.deepEqual(
      [c({ type: 'string', length: 10 }), c({ type: 'string', length: 20000 }), c({ type: 'text' }), c({ type: 'decimal', precision: 12, scale: 2 }), c({ type: 'decimal' }), c({ type: 'binary' }), c({ type: 'json' }), c({ type: 'uint64' }), c({ type: 'timestamptz' })].map(rsTypeFor),
      ['VARCHAR(40)', 'VARCHAR(65535)', 'VARCHAR(65535)', 'DECIMAL(12,2)', 'VARCHAR(65535)', 'VARBYTE(1024000)', 'SUPER', 'DECIMAL(20,0)', 'TIMESTAMPTZ'],
    );
  });
  test('configuration: a role ARN, an s3 connection, and keys that become secrets', () => {
    const lake = { name: 'lake', type: 's3', bucket: 'dw-loads', access_key_id: 'AKIAKEY', secret_access_key: 'SeCrEt', session_token: 'ToKeN' };
    const c = redshiftConfig({ name: 'dw', type: 'redshift', host: 'cluster.example', password: 'pw', s3: { url: 's3://dw-loads/p', connection: 'lake' } }, { connection: () => lake });
    assert.deepEqual(c.access, { accessKeyId: 'AKIAKEY', secretAccessKey: 'SeCrEt', sessionToken: 'ToKeN' });
    assert.equal(c.connect.port, 5439);
    assert.equal(c.export, 'unload');
    for (const s of ['pw', 'AKIAKEY', 'SeCrEt', 'ToKeN']) assert.ok(c.secrets.includes(s), s);
    const withRole = redshiftConfig({ name: 'dw', type: 'redshift', url: 'redshift://u@h:5439/d', iam_role: ROLE, s3: { url: 's3://dw-loads/p', connection: 'lake' } }, { connection: () => lake });
    assert.deepEqual(withRole.access, { role: ROLE });
    assert.throws(() => redshiftConfig({ name: 'dw', type: 'redshift', host: 'h', iam_role: 'my-role' }, {}), /iam_role` must be a role ARN/);
    assert.throws(() => redshiftConfig({ name: 'dw', type: 'redshift', host: 'h', options: { export: 'unload' } }, {}), /needs `s3`/);
  });
});

describe('redshift on PostgreSQL: what the kind does beyond the contract', () => {
  test('a merge takes the last row of a key by load order, with each of the three merges', async () => {
    await withPlace(subject(), async (h) => {
      // MERGE: the key is NOT NULL in the target.
      await h.exec(`CREATE TABLE m1 (id BIGINT NOT NULL, v TEXT)`);
      await h.exec(`INSERT INTO m1 VALUES (1, 'old1'), (2, 'old2')`);
      const load = data([['2', 'a'], ['3', 'b'], ['2', 'last2'], ['3', 'last3']]);
      await h.load('m1', 'merge', load, { key: ['id'], behaviour: { chunks: 3 } });
      assertSameRows(await h.read('m1'), data([['1', 'old1'], ['2', 'last2'], ['3', 'last3']]));
      // DELETE … USING: a nullable key, every column carried; NULL keys match each other.
      await h.exec(`CREATE TABLE m2 (id BIGINT, v TEXT)`);
      await h.exec(`INSERT INTO m2 VALUES (NULL, 'oldnull'), (1, 'old1')`);
      await h.load('m2', 'merge', data([[null, 'newnull'], ['1', 'x'], ['1', 'new1']], [{ ...ID, nullable: true }, V]), { key: ['id'] });
      assertSameRows(await h.read('m2'), data([[null, 'newnull'], ['1', 'new1']], [{ ...ID, nullable: true }, V]));
      // UPDATE … FROM: the target has a column the load does not carry, which stays.
      await h.exec(`CREATE TABLE m3 (id BIGINT, v TEXT, extra TEXT DEFAULT 'dflt')`);
      await h.exec(`INSERT INTO m3 VALUES (1, 'a', 'e1'), (2, 'b', 'e2')`);
      await h.load('m3', 'merge', data([['2', 'B'], ['3', 'C']]), { key: ['id'] });
      assertSameRows(await h.read('m3'), data([['1', 'a', 'e1'], ['2', 'B', 'e2'], ['3', 'C', 'dflt']], [ID, V, { name: 'extra', type: 'text', nullable: true }]));
    });
  });

  test('an overwrite swaps a copy in, unless privileges were granted on the table (then it deletes and inserts)', async () => {
    await withPlace(subject(), async (h) => {
      await h.exec(`CREATE TABLE sw (id BIGINT NOT NULL, v TEXT)`);
      await h.exec(`INSERT INTO sw VALUES (1, 'a')`);
      const oid = async (table: string) => {
        const pgc = await import('pg');
        const c = new pgc.default.Client({ connectionString: String(h.place.config['url']).replace('redshift://', 'postgres://') });
        await c.connect();
        try {
          return String((await c.query(`SELECT '${table}'::regclass::oid AS oid`)).rows[0].oid);
        } finally {
          await c.end();
        }
      };
      const before = await oid('sw');
      await h.load('sw', 'overwrite', data([['2', 'b']]));
      assertSameRows(await h.read('sw'), data([['2', 'b']]));
      assert.notEqual(await oid('sw'), before, 'swapped: another table now has the name');
      await h.exec(`GRANT SELECT ON sw TO PUBLIC`);
      const granted = await oid('sw');
      await h.load('sw', 'overwrite', data([['3', 'c']]));
      assertSameRows(await h.read('sw'), data([['3', 'c']]));
      assert.equal(await oid('sw'), granted, 'the table with its grant stays; its rows were replaced');
    });
  });

  test('chunks that S3 staging holds are listed where they are; a merge uploads them with their load order', async () => {
    const s3 = testBucket();
    const prefix = s3.prefix();
    const store = bucketStore();
    try {
      await s3.put(`${prefix}staging/chunk-00001.csv.gz`, await gz('id,v\n1,"a\nb"\n'));
      const chunk = (index: number, url: string | undefined): StagedChunk => ({
        index,
        name: `chunk ${index}`,
        rows: 1,
        open: async () => Readable.from([Buffer.from(`id,v\n${index},"x\ny"\n${index},z\n`)]),
        ...(url ? { stored: { url, gzip: true, bytes: 42 } } : {}),
      });
      const files = new RedshiftFiles(
        new S3Store({ name: 't', endpoint: s3.endpoint, region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId: 'k', secretAccessKey: 's' }, partSize: 5 << 20, secrets: [] }, { bucket: s3.bucket, prefix: `${prefix}rs/` }),
      );
      const stagedUrl = `s3://${s3.bucket}/${prefix}staging/chunk-00001.csv.gz`;
      const reused = await files.stage(readyFeed([chunk(1, stagedUrl)], 2), 'load-1', false);
      const m1 = JSON.parse(await s3.text(keyOf(reused.manifest))) as RedshiftManifest;
      assert.deepEqual(m1.entries, [{ url: stagedUrl, mandatory: true, meta: { content_length: 42 } }]);
      assert.deepEqual(reused.uploaded.map((k) => k.replace(/loads\/[^/]+\//, 'loads/X/')), ['loads/X/manifest.json'], 'nothing but the manifest uploaded');

      const merged = await files.stage(readyFeed([chunk(1, stagedUrl), chunk(2, undefined)], 4), 'load-2', true);
      const m2 = JSON.parse(await s3.text(keyOf(merged.manifest))) as RedshiftManifest;
      assert.equal(m2.entries.length, 2);
      const first = gunzipSync(await s3.bytes(keyOf(m2.entries[0]!.url))).toString('utf8');
      assert.equal(first, `id,v,_pigeon_seq\n1,"x\ny",${1n << 32n}\n1,z,${(1n << 32n) + 1n}\n`);
      assert.equal(m2.entries[1]!.meta!.content_length, (await s3.bytes(keyOf(m2.entries[1]!.url))).length);
      await files.remove([...reused.uploaded, ...merged.uploaded]);
      assert.deepEqual(await s3.keys(`${prefix}rs/`), []);
    } finally {
      store.close();
      await s3.clear(prefix);
    }
  });

  test('SeqColumn numbers records, not lines, whatever the pieces', async () => {
    const text = 'a,b\n1,"two\nlines"\n"3 ""q""",x\n';
    for (const cut of [1, 3, 7, text.length]) {
      const pieces = [];
      for (let i = 0; i < text.length; i += cut) pieces.push(Buffer.from(text.slice(i, i + cut)));
      const out = await readText(Readable.from(pieces).pipe(new SeqColumn(0)));
      assert.equal(out, 'a,b,_pigeon_seq\n1,"two\nlines",0\n"3 ""q""",x,1\n', `pieces of ${cut}`);
    }
  });
});

async function gz(text: string): Promise<Buffer> {
  const out: Buffer[] = [];
  await pipeline(Readable.from([Buffer.from(text)]), createGzip(), async function* (src: AsyncIterable<Buffer>) {
    for await (const p of src) out.push(p);
  });
  return Buffer.concat(out);
}
