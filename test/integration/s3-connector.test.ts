// services: s3
/**
 * The s3 kind and its store against the S3 test server (scripts/services/s3.sh, Adobe S3Mock): multipart uploads
 * above the part size with memory that does not grow with the object, interrupted uploads that leave nothing
 * visible, an overwrite that readers never see half-done, sources by prefix and by pattern (gzip or not, with or
 * without a sidecar), and failures that say what and where. The contract suite (connector-contract.test.ts) covers
 * the rest: round trips, every mode, failed and aborted loads, crashes and retries.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { gzipSync } from 'node:zlib';
import { HeadObjectCommand } from '@aws-sdk/client-s3';
import type { ConnectionConfig } from '../../src/config/types.js';
import type { Connector, ExportRequest } from '../../src/connectors/contract.js';
import { getConnectorKind } from '../../src/connectors/registry.js';
import { S3Store } from '../../src/connectors/s3/s3-store.js';
import { PipelineError } from '../../src/errors/pipeline-error.js';
import { tempDir } from '../support/cli.js';
import { assertSameRows, openConnector, readDuringStalledOverwrite, readSorted, withPlace, type ContractSubject } from '../support/connector-contract.js';
import type { Dataset } from '../support/contract-source.js';
import { repoRoot } from '../support/paths.js';
import { noise } from '../support/noise.js';
import { testBucket } from '../support/s3.js';

const MIB = 1024 * 1024;
const s3Kind = getConnectorKind('s3')!;

function store(prefix: string, partSize = 5 * MIB): S3Store {
  const s3 = testBucket();
  return new S3Store({ name: 'test', endpoint: s3.endpoint, region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId: 'k', secretAccessKey: 's' }, partSize, secrets: [] }, { bucket: s3.bucket, prefix });
}

async function sha256Of(stream: Readable): Promise<string> {
  const hash = createHash('sha256');
  await pipeline(stream, async function* (pieces: AsyncIterable<Buffer>) {
    for await (const p of pieces) hash.update(p);
  });
  return hash.digest('hex');
}

describe('S3 store', () => {
  test('an object above the part size is uploaded in streamed parts: every byte kept, memory flat', async () => {
    const s3 = testBucket();
    const prefix = s3.prefix();
    try {
      // In a process of its own, which collects garbage before each sample: what is measured is what the upload
      // holds (parts in flight and the one filling), which must not grow with the object.
      const measure = async (mib: number) => {
        const child = spawn(process.execPath, ['--expose-gc', join(repoRoot, 'dist/test/support/s3-memory-child.js'), s3.endpoint, s3.bucket, prefix, `big-${mib}.bin`, String(mib)], {
          stdio: ['ignore', 'pipe', 'inherit'],
        });
        let out = '';
        child.stdout.on('data', (d: Buffer) => (out += d.toString()));
        assert.equal(await new Promise((resolve) => child.on('close', resolve)), 0);
        return JSON.parse(out) as { peakMiB: number; sha256: string };
      };
      const big = await measure(160);
      const head = await s3.client.send(new HeadObjectCommand({ Bucket: s3.bucket, Key: `${prefix}big-160.bin` }));
      assert.equal(head.ContentLength, 160 * MIB);
      assert.match(head.ETag ?? '', /-32"?$/, `32 parts of 5 MiB: ETag ${head.ETag}`);
      assert.equal(await sha256Of(await store(prefix).read('big-160.bin')), big.sha256);
      // Measured here: 25 MiB for 40 MiB objects, 29 for 160, 35 for 320 (two parts in flight, one filling, copies
      // the SDK makes). A whole object held would be 160.
      assert.ok(big.peakMiB < 48, `Buffers alive while uploading 160 MiB: ${big.peakMiB.toFixed(1)} MiB`);
    } finally {
      await s3.clear(prefix);
    }
  });

  test('an upload aborted after some parts leaves no object and no open multipart upload', async () => {
    const s3 = testBucket();
    const prefix = s3.prefix();
    try {
      const stop = new AbortController();
      const data = noise(40 * MIB, (sent) => {
        if (sent >= 17 * MIB) stop.abort(new Error('stopped by the test'));
      });
      await assert.rejects(store(prefix).write('partial.bin', data.body, stop.signal));
      assert.equal(await store(prefix).stat('partial.bin'), undefined);
      assert.deepEqual(await s3.keys(prefix), []);
      assert.deepEqual(await s3.uploads(prefix), [], 'the multipart upload was aborted');
    } finally {
      await s3.clear(prefix);
    }
  });

  test('an upload whose body fails leaves nothing visible', async () => {
    const s3 = testBucket();
    const prefix = s3.prefix();
    try {
      let n = 0;
      const body = new Readable({
        read() {
          if (++n > 8) this.destroy(new Error('the source broke'));
          else this.push(Buffer.alloc(MIB, 0x62));
        },
      });
      await assert.rejects(store(prefix).write('broken.bin', body), /the source broke/);
      assert.deepEqual(await s3.keys(prefix), []);
      assert.deepEqual(await s3.uploads(prefix), []);
    } finally {
      await s3.clear(prefix);
    }
  });

  test('a process killed in the middle of a multipart upload leaves no visible object', async () => {
    const s3 = testBucket();
    const prefix = s3.prefix();
    try {
      const child = spawn(process.execPath, [join(repoRoot, 'dist/test/support/s3-upload-child.js'), s3.endpoint, s3.bucket, prefix, 'killed.bin'], {
        stdio: ['ignore', 'pipe', 'ignore'],
      });
      await new Promise<void>((resolve, reject) => {
        child.stdout.on('data', (d: Buffer) => {
          if (/parts [4-9]/.test(d.toString())) resolve();
        });
        child.on('exit', () => reject(new Error('the uploader ended before it was killed')));
      });
      child.kill('SIGKILL');
      await new Promise((resolve) => child.on('close', resolve));
      assert.deepEqual(await s3.keys(prefix), [], 'nothing is visible');
      assert.equal((await s3.uploads(prefix)).length, 1, 'only an incomplete multipart upload, which readers never see');
      assert.deepEqual(await store(prefix).sweep(''), [], 'a fresh one is not swept: its writer might be alive elsewhere');
    } finally {
      await s3.clear(prefix);
    }
  });

  test('a temp object that a killed file-layout writer left beside its table goes once stale; nothing else does', async () => {
    const s3 = testBucket();
    const prefix = s3.prefix();
    const st = store(prefix);
    try {
      const temp = 'out/orders.csv.1a2b3c4d5e.4242.deadbeef.tmp';
      const others = ['out/orders.csv', 'out/orders.csv.bak', 'out/orders.csv.1a2b.12.0123abcd.tmp.keep', 'out/other.csv.1a2b3c4d5e.4242.deadbeef.tmp'];
      for (const k of [temp, ...others]) await st.write(k, Readable.from([Buffer.from('x')]));
      assert.deepEqual(await st.sweepTemps('out/orders.csv.'), [], 'a fresh temp may be a live writer\'s, on any machine');
      // A staleness a minute in the future: every temp, however fresh, whatever the server's clock says.
      assert.deepEqual(await st.sweepTemps('out/orders.csv.', -60_000), [`temp object s3://${s3.bucket}/${prefix}${temp}`]);
      assert.deepEqual((await s3.keys(prefix)).sort(), [...others].sort(), 'only the table\'s temp object went');
    } finally {
      st.close();
      await s3.clear(prefix);
    }
  });

  test('rename replaces the destination, and list pages through more than 1,000 keys', async () => {
    const s3 = testBucket();
    const prefix = s3.prefix();
    try {
      const st = store(prefix);
      await s3.put(`${prefix}a.txt`, 'new');
      await s3.put(`${prefix}b.txt`, 'old');
      await st.rename('a.txt', 'b.txt');
      assert.deepEqual(await s3.keys(prefix), ['b.txt']);
      assert.equal(await s3.text(`${prefix}b.txt`), 'new');
      await assert.rejects(st.rename('a.txt', 'c.txt'), (e: unknown) => (e as { notFound?: boolean }).notFound === true);
      await Promise.all(Array.from({ length: 1100 }, (_, i) => s3.put(`${prefix}many/${String(i).padStart(4, '0')}`, 'x')));
      const listed: string[] = [];
      for await (const o of st.list('many/')) listed.push(o.key);
      assert.equal(listed.length, 1100);
      await st.delete(listed);
      assert.deepEqual(await s3.keys(`${prefix}many/`), []);
    } finally {
      await s3.clear(prefix);
    }
  });
});

/** A connector of the s3 kind on `prefix`. */
function connector(prefix: string, extra: Record<string, unknown> = {}): Promise<{ c: Connector; done: () => Promise<void> }> {
  return openConnector(s3Kind, { name: 'lake', type: 's3', ...testBucket().config(prefix, extra) } as ConnectionConfig);
}

const readAll = (c: Connector, source: Omit<ExportRequest['source'], 'connection'>) => readSorted(c, 'lake', source);

describe('s3 source', () => {
  test('objects under a prefix or matching a pattern, gzip or not, typed by a sidecar when there is one', async () => {
    const s3 = testBucket();
    const prefix = s3.prefix();
    const { c, done } = await connector(prefix);
    try {
      await s3.put(`${prefix}in/a.csv`, 'id,name\n1,"x, y"\n');
      await s3.put(`${prefix}in/b.csv.gz`, gzipSync('id,name\n2,\\N\n3,""\n'));
      await s3.put(`${prefix}in/sub/c.csv`, 'id,name\n4,z\n');
      await s3.put(`${prefix}in/notes.txt`, 'not a table');
      await s3.put(`${prefix}in/schema.json`, JSON.stringify({ format: 'pigeon-csv/1', columns: [{ name: 'id', type: 'int64', nullable: false }] }));

      const all = await readAll(c, { prefix: 'in/' });
      assert.deepEqual(all.columns, ['id', 'name']);
      assert.deepEqual(all.types, ['int64', 'text'], 'id typed by in/schema.json, name as text');
      assert.deepEqual(all.rows, [['1', 'x, y'], ['2', null], ['3', ''], ['4', 'z']]);

      assert.deepEqual((await readAll(c, { pattern: 'in/*.csv{,.gz}' })).rows.map((r) => r[0]), ['1', '2', '3'], '* stays in its folder');
      assert.deepEqual((await readAll(c, { pattern: 'in/**/*.csv' })).rows.map((r) => r[0]), ['1', '4'], '** crosses folders');
      const noSidecar = await readAll(c, { prefix: 'in/sub/', columns: ['name'] });
      assert.deepEqual([noSidecar.types, noSidecar.rows], [['text'], [['z']]]);

      const missing = await c.describe({ node: 'n', source: { connection: 'lake', pattern: 'in/*.parquet' } }).then(
        () => assert.fail('no object matches'),
        (e: unknown) => e as PipelineError,
      );
      assert.equal(missing.code, 'SOURCE_NOT_FOUND');
      assert.match(missing.message, /in\/\*\.parquet/);
    } finally {
      await done();
      await s3.clear(prefix);
    }
  });
});

describe('s3 target, prefix layout', () => {
  const subject = (): ContractSubject => ({ kind: s3Kind, place: async () => ({ config: testBucket().config(placePrefix), cleanup: async () => {} }) });
  let placePrefix = '';
  const keyed = (ids: readonly number[], tag: string): Dataset => ({
    columns: [
      { name: 'id', type: 'int64', nullable: false },
      { name: 'v', type: 'text', nullable: true },
    ],
    rows: ids.map((i) => [String(i), `${tag}${i}`]),
  });

  test('readers never see an overwrite half-done, and the previous version stays until the next load', async () => {
    const s3 = testBucket();
    placePrefix = s3.prefix();
    try {
      await withPlace(subject(), async (h) => {
        const a = keyed([1, 2, 3], 'a');
        await h.load('t', 'overwrite', a);
        const versionsOf = async () => new Set((await s3.keys(`${placePrefix}t/`)).filter((k) => k.startsWith('v-')).map((k) => k.split('/')[0]));
        const [va] = [...(await versionsOf())];

        // A load that stalls in the middle: parts of the new version are uploaded, the manifest is not switched.
        const seen = await readDuringStalledOverwrite(h, 't', keyed([10, 11, 12, 13, 14, 15, 16, 17], 'b'));
        assertSameRows(seen, a);
        assertSameRows(await h.read('t'), a);
        assert.deepEqual(await versionsOf(), new Set([va]), 'the aborted load left no part behind');

        const b = keyed([4, 5], 'b');
        await h.load('t', 'overwrite', b);
        assertSameRows(await h.read('t'), b);
        const both = await versionsOf();
        assert.equal(both.size, 2, 'the previous version stays for readers of the previous manifest');
        assert.ok(both.has(va));

        await h.load('t', 'append', keyed([6], 'c'));
        assertSameRows(await h.read('t'), { ...b, rows: [...b.rows, ['6', 'c6']] });
        assert.ok(!(await versionsOf()).has(va), 'and goes at the load after');
      });
    } finally {
      await s3.clear(placePrefix);
    }
  });
});

describe('s3 failures', () => {
  test('a bucket that does not exist fails at open, naming it; a refused connection is transient', async () => {
    const s3 = testBucket();
    const create = await s3Kind.load();
    const t = tempDir('pigeon-s3-');
    try {
      const missing = create({ name: 'lake', type: 's3', ...s3.config('x/', { bucket: 'no-such-bucket-here' }) }, { cwd: t.dir, tmpDir: t.dir });
      const e1 = await missing.open().then(() => assert.fail('open must fail'), (e: unknown) => e as PipelineError);
      assert.equal(e1.code, 'CONNECT_FAILED');
      assert.match(e1.message, /s3:\/\/no-such-bucket-here\/x\//);
      assert.equal(e1.transient, false);
      await missing.close();

      const refused = create({ name: 'lake', type: 's3', ...s3.config('x/', { endpoint: 'http://127.0.0.1:1' }) }, { cwd: t.dir, tmpDir: t.dir });
      const e2 = await refused.open().then(() => assert.fail('open must fail'), (e: unknown) => e as PipelineError);
      assert.equal(e2.code, 'CONNECT_FAILED');
      assert.equal(e2.transient, true, e2.message);
      await refused.close();
    } finally {
      t.cleanup();
    }
  });
});
