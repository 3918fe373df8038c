// services: ftp, sftp
/**
 * The ftp and sftp kinds and their store against the test servers (scripts/services/ftp.sh: ProFTPD with explicit
 * FTPS; sftp.sh: OpenSSH's internal-sftp): PostgreSQL → server → PostgreSQL with gzip and every value kept, a writer
 * killed or aborted mid-upload that leaves no visible partial file (and the temp a killed one leaves swept by a
 * later run), an overwrite readers never see half-done, sources by pattern and prefix, TLS, key login, and a wrong
 * password that fails with a coded error naming the server and never the password. The contract suite
 * (connector-contract.test.ts) covers the rest: modes, failed and aborted loads, crashes and retries.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { gzipSync } from 'node:zlib';
import type { ConnectionConfig } from '../../src/config/types.js';
import type { Connector, ExportRequest } from '../../src/connectors/contract.js';
import { ftpSettings, sftpSettings } from '../../src/connectors/ftp/ftp-config.js';
import { remoteStore, type StoreTuning } from '../../src/connectors/ftp/ftp-store.js';
import type { RemoteStore } from '../../src/connectors/ftp/remote-store.js';
import { getConnectorKind } from '../../src/connectors/registry.js';
import { PipelineError } from '../../src/errors/pipeline-error.js';
import { pigeon, tempDir } from '../support/cli.js';
import { assertSameRows, openConnector, readDuringStalledOverwrite, readSorted, withPlace, type ContractSubject } from '../support/connector-contract.js';
import type { Dataset } from '../support/contract-source.js';
import { createDb } from '../support/engines.js';
import { noise } from '../support/noise.js';
import { repoRoot } from '../support/paths.js';
import { testServer, type TestServer } from '../support/remote-server.js';

const MIB = 1024 * 1024;
const KINDS = ['ftp', 'sftp'] as const;

function connection(server: TestServer, root: string, extra: Record<string, unknown> = {}): ConnectionConfig {
  return { name: 'partner', type: server.kind, ...server.config(root, extra) } as ConnectionConfig;
}

function store(server: TestServer, root: string, tuning: StoreTuning = {}, extra: Record<string, unknown> = {}): RemoteStore {
  const c = connection(server, root, extra);
  return remoteStore(server.kind === 'ftp' ? ftpSettings(c, '.') : sftpSettings(c, '.'), tuning);
}

async function text(s: RemoteStore, key: string): Promise<string> {
  const pieces: Buffer[] = [];
  for await (const p of await s.read(key)) pieces.push(p as Buffer);
  return Buffer.concat(pieces).toString('utf8');
}

/** A connector of the kind on `root`, opened. */
function connector(server: TestServer, root: string, extra: Record<string, unknown> = {}): Promise<{ c: Connector; done: () => Promise<void> }> {
  return openConnector(getConnectorKind(server.kind)!, connection(server, root, extra));
}

const readAll = (c: Connector, source: Omit<ExportRequest['source'], 'connection'>) => readSorted(c, 'partner', source);

for (const kind of KINDS) {
  describe(`${kind}: PostgreSQL → ${kind} → PostgreSQL`, () => {
    test('a table makes the round trip through gzip files with every value kept, in both layouts', async () => {
      const server = testServer(kind);
      const root = server.root();
      const t = tempDir(`pigeon-${kind}-rt-`);
      const db = await createDb('postgres', t.dir);
      try {
        await db.exec(`CREATE TABLE src (id int PRIMARY KEY, name text, amount numeric(12,3), seen timestamptz, day date, ok boolean, doc jsonb, raw bytea)`);
        await db.exec(`INSERT INTO src VALUES
          (1, 'plain', 1.5, '2026-01-02 03:04:05.678+00', '2026-01-02', true, '{"a": [1, "x"]}', '\\x00ff10'),
          (2, 'comma, "quote" and' || chr(10) || 'newline', -0.001, '1970-01-01 00:00:00+00', '1999-12-31', false, 'null', ''),
          (3, '', 0, NULL, NULL, NULL, NULL, NULL),
          (4, NULL, 123456789.123, '2038-01-19 03:14:07+00', '2000-02-29', true, '"s"', '\\x5c4e'),
          (5, '\\N', NULL, NULL, NULL, NULL, '[]', NULL),
          (6, 'emoji 🦜 and ünïcödé', 42, NULL, NULL, NULL, '{}', NULL)`);
        const partner = JSON.stringify(server.config(root, { compress: 'gzip' }));
        const layouts = JSON.stringify(server.config(`${root}/lake`, { compress: 'gzip', layout: 'prefix' }));
        writeFileSync(
          join(t.dir, 'p.yaml'),
          `version: 1
name: ${kind}_round_trip
defaults: { retries: 0 }
connections:
  pg: ${db.yaml}
  partner: { type: ${kind}, ${partner.slice(1, -1)} }
  lake: { type: ${kind}, ${layouts.slice(1, -1)} }
nodes:
  out: { source: { connection: pg, table: src }, target: { connection: partner, table: daily, mode: overwrite } }
  back: { depends_on: [out], source: { connection: partner, table: daily }, target: { connection: pg, table: dst, mode: overwrite } }
  out2: { source: { connection: pg, table: src }, target: { connection: lake, table: daily, mode: overwrite } }
  back2: { depends_on: [out2], source: { connection: lake, table: daily }, target: { connection: pg, table: dst2, mode: overwrite } }
`,
        );
        const r = await pigeon(['run', 'p.yaml', '--progress', '0'], { cwd: t.dir });
        assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
        assert.ok(!r.stdout.includes(server.password) || server.password === server.user, 'the password is not printed');
        const files = await server.files(root);
        assert.ok(files.includes('daily.csv.gz') && files.includes('daily.schema.json'), `files: ${files.join(', ')}`);
        assert.ok(files.some((f) => /^lake\/daily\/v-[^/]+\/part-00001\.csv\.gz$/.test(f)) && files.includes('lake/daily/manifest.json'), `files: ${files.join(', ')}`);
        assert.ok(!files.some((f) => /\.(partial|tmp)$/.test(f)), `no temp file stays: ${files.join(', ')}`);
        assert.equal((await server.bytes(`${root}/daily.csv.gz`)).subarray(0, 2).toString('hex'), '1f8b', 'gzip on the server');

        const cols = `id, name, amount::text, seen::text, day::text, ok::text, doc::text, encode(raw, 'hex')`;
        const want = await db.rows(`SELECT ${cols} FROM src ORDER BY id`);
        assert.deepEqual(await db.rows(`SELECT ${cols} FROM dst ORDER BY id`), want);
        assert.deepEqual(await db.rows(`SELECT ${cols} FROM dst2 ORDER BY id`), want);
      } finally {
        await db.drop();
        await server.clear(root);
        t.cleanup();
      }
    });
  });

  describe(`${kind} store`, () => {
    test('a writer killed in the middle of an upload leaves no visible file; a later run sweeps its temp', async () => {
      const server = testServer(kind);
      const root = server.root();
      try {
        const old = store(server, root, { staleMs: 0 });
        await old.write('killed.bin', Readable.from([Buffer.from('old')]));
        // A store made before the writer started: the temp is younger than its run, so it is not swept. (Server
        // times have one-second steps: the writer starts a second after this store.)
        await sleep(1100);
        const child = spawn(process.execPath, [join(repoRoot, 'dist/test/support/remote-upload-child.js'), kind, JSON.stringify(server.config(root)), 'killed.bin'], {
          stdio: ['ignore', 'pipe', 'inherit'],
        });
        await new Promise<void>((resolve, reject) => {
          child.stdout.on('data', (d: Buffer) => {
            if (/sent (1[6-9]|[2-9]\d)\b/.test(d.toString())) resolve();
          });
          child.on('exit', () => reject(new Error('the uploader ended before it was killed')));
        });
        child.kill('SIGKILL');
        await new Promise((resolve) => child.on('close', resolve));

        const files = await server.files(root);
        assert.equal(files.length, 2, `the old file and one temp: ${files.join(', ')}`);
        assert.match(files.find((f) => f !== 'killed.bin') ?? '', /^\.killed\.bin\.[0-9a-f]{8}\.partial$/);
        assert.equal(await text(old, 'killed.bin'), 'old', 'readers still see the old file whole');
        const listed: string[] = [];
        for await (const o of old.list('')) listed.push(o.key);
        assert.deepEqual(listed, ['killed.bin'], 'the temp is never listed');
        assert.deepEqual(await old.sweep(''), [], 'a temp written during this run is not swept');
        await old.close();

        const later = store(server, root, { staleMs: 0 });
        const swept = await later.sweep('');
        assert.equal(swept.length, 1, swept.join(', '));
        assert.match(swept[0]!, new RegExp(`^${kind}://.*/\\.killed\\.bin\\.[0-9a-f]{8}\\.partial$`));
        assert.deepEqual(await server.files(root), ['killed.bin']);
        await later.close();
      } finally {
        await server.clear(root);
      }
    });

    test('an upload aborted or failing midway rejects and leaves the old file and no temp', async () => {
      const server = testServer(kind);
      const root = server.root();
      const s = store(server, root);
      try {
        await s.write('sub/data.bin', Readable.from([Buffer.from('v1')]));
        const stop = new AbortController();
        const data = noise(24 * MIB, (sent) => {
          if (sent >= 6 * MIB) stop.abort(new Error('stopped by the test'));
        });
        await assert.rejects(s.write('sub/data.bin', data.body, stop.signal), (e: unknown) => {
          assert.match((e as Error).message, new RegExp(`${kind}://.*sub/data\\.bin`));
          return true;
        });
        let n = 0;
        const broken = new Readable({
          read() {
            if (++n > 8) this.destroy(new Error('the source broke'));
            else this.push(Buffer.alloc(MIB, 0x62));
          },
        });
        await assert.rejects(s.write('sub/data.bin', broken), /the source broke|premature|closed/i);
        assert.deepEqual(await server.files(root), ['sub/data.bin']);
        assert.equal(await text(s, 'sub/data.bin'), 'v1');

        // A reader that stops early frees its session for the next one.
        // Streamed both ways, every byte kept.
        const big = noise(8 * MIB);
        await s.write('sub/big.bin', big.body);
        const hash = createHash('sha256');
        for await (const piece of await s.read('sub/big.bin')) hash.update(piece as Buffer);
        assert.equal(hash.digest('hex'), big.sha256());
        assert.equal((await s.stat('sub/big.bin'))?.size, 8 * MIB);
        const early = await s.read('sub/big.bin');
        for await (const _ of early) break;
        assert.equal(await text(s, 'sub/data.bin'), 'v1');
        await s.delete(['sub/data.bin', 'sub/big.bin']);
        assert.deepEqual(await server.files(root), [], 'the emptied folder goes too');
      } finally {
        await s.close();
        await server.clear(root);
      }
    });
  });

  describe(`${kind} source`, () => {
    test('files under a prefix or matching a pattern, gzip or not, typed by a sidecar when there is one', async () => {
      const server = testServer(kind);
      const root = server.root();
      const { c, done } = await connector(server, root);
      try {
        await server.put(`${root}/in/a.csv`, 'id,name\n1,"x, y"\n');
        await server.put(`${root}/in/b.csv.gz`, gzipSync('id,name\n2,\\N\n3,""\n'));
        await server.put(`${root}/in/sub/c.csv`, 'id,name\n4,z\n');
        await server.put(`${root}/in/notes.txt`, 'not a table');
        await server.put(`${root}/in/.d.csv.0123abcd.partial`, 'id,name\n99,half');
        await server.put(`${root}/in/schema.json`, JSON.stringify({ format: 'pigeon-csv/1', columns: [{ name: 'id', type: 'int64', nullable: false }] }));

        const all = await readAll(c, { prefix: 'in/' });
        assert.deepEqual(all.columns, ['id', 'name']);
        assert.deepEqual(all.types, ['int64', 'text'], 'id typed by in/schema.json, name as text');
        assert.deepEqual(all.rows, [['1', 'x, y'], ['2', null], ['3', ''], ['4', 'z']], 'an upload in progress is not read');
        assert.deepEqual((await readAll(c, { pattern: 'in/*.csv{,.gz}' })).rows.map((r) => r[0]), ['1', '2', '3'], '* stays in its folder');
        assert.deepEqual((await readAll(c, { pattern: 'in/**/*.csv' })).rows.map((r) => r[0]), ['1', '4'], '** crosses folders');
        const missing = await c.describe({ node: 'n', source: { connection: 'partner', pattern: 'in/*.parquet' } }).then(
          () => assert.fail('no file matches'),
          (e: unknown) => e as PipelineError,
        );
        assert.equal(missing.code, 'SOURCE_NOT_FOUND');
        assert.match(missing.message, new RegExp(`in/\\*\\.parquet.*${kind}://`));
      } finally {
        await done();
        await server.clear(root);
      }
    });
  });

  describe(`${kind} target`, () => {
    const keyed = (ids: readonly number[], tag: string): Dataset => ({
      columns: [
        { name: 'id', type: 'int64', nullable: false },
        { name: 'v', type: 'text', nullable: true },
      ],
      rows: ids.map((i) => [String(i), `${tag}${i}`]),
    });

    test('a load sweeps the temps a killed writer left beside the table over an hour before, and only those', async () => {
      const server = testServer(kind);
      const root = server.root();
      const subject: ContractSubject = { kind: getConnectorKind(kind)!, place: async () => ({ config: server.config(root), cleanup: () => server.clear(root) }) };
      await withPlace(subject, async (h) => {
        await server.put(`${root}/.t.csv.0123abcd.partial`, 'id,v\n1,half');
        await server.put(`${root}/.pigeon/.t.csv.loads.json.4567cdef.partial`, '{');
        await server.put(`${root}/.t.csv.89abcdef.partial`, 'id,v\n2,fresh');
        const twoHoursAgo = new Date(Date.now() - 2 * 60 * 60 * 1000);
        await server.touch(`${root}/.t.csv.0123abcd.partial`, twoHoursAgo);
        await server.touch(`${root}/.pigeon/.t.csv.loads.json.4567cdef.partial`, twoHoursAgo);
        await h.load('t', 'overwrite', keyed([1], 'a'));
        const files = await server.files(root);
        assert.ok(!files.includes('.t.csv.0123abcd.partial') && !files.includes('.pigeon/.t.csv.loads.json.4567cdef.partial'), `stale temps swept: ${files.join(', ')}`);
        assert.ok(files.includes('.t.csv.89abcdef.partial'), 'a temp written in the last hour may belong to a live writer: it stays');
      });
    });

    for (const layout of ['file', 'prefix'] as const) {
      test(`readers never see an overwrite half-done (${layout} layout)`, async () => {
        const server = testServer(kind);
        const root = server.root();
        const subject: ContractSubject = { kind: getConnectorKind(kind)!, place: async () => ({ config: server.config(root, { layout }), cleanup: () => server.clear(root) }) };
        await withPlace(subject, async (h) => {
          const a = keyed([1, 2, 3], 'a');
          await h.load('t', 'overwrite', a);
          // A load that stalls in the middle: part of the new data is uploaded, nothing is switched yet.
          const seen = await readDuringStalledOverwrite(h, 't', keyed([10, 11, 12, 13, 14, 15, 16, 17], 'b'));
          assertSameRows(seen, a);
          assertSameRows(await h.read('t'), a);
          assert.ok(!(await server.files(root)).some((f) => /\.(partial|tmp)$/.test(f)), 'the aborted load left no temp behind');
          const b = keyed([4, 5], 'b');
          await h.load('t', 'overwrite', b);
          assertSameRows(await h.read('t'), b);
        });
      });
    }
  });

  describe(`${kind} failures`, () => {
    test('a wrong password fails at open with CONNECT_FAILED naming the server, never the password', async () => {
      const server = testServer(kind);
      const secret = `Wrong-pa55-${kind}-s3cr3t`;
      const t = tempDir(`pigeon-${kind}-`);
      try {
        const create = await getConnectorKind(kind)!.load();
        const c = create(connection(server, server.root(), { password: secret }), { cwd: t.dir, tmpDir: t.dir });
        const e = await c.open().then(() => assert.fail('open must fail'), (err: unknown) => err as PipelineError);
        await c.close();
        assert.equal(e.code, 'CONNECT_FAILED');
        assert.equal(e.location.connection, 'partner');
        assert.match(e.message, new RegExp(`${kind}://${server.user}@${server.host}:${server.port}`));
        assert.equal(e.transient, false, e.message);
        const everything = `${e.message} ${String((e.cause as Error | undefined)?.message)} ${JSON.stringify(e.location)}`;
        assert.ok(!everything.includes(secret), everything);

        const refused = create(connection(server, 'x', { port: 1, connect_timeout: 5 }), { cwd: t.dir, tmpDir: t.dir });
        const r = await refused.open().then(() => assert.fail('open must fail'), (err: unknown) => err as PipelineError);
        await refused.close();
        assert.equal(r.code, 'CONNECT_FAILED');
        assert.equal(r.transient, true, `a refused connection may work later: ${r.message}`);
      } finally {
        t.cleanup();
      }
    });

    test('a server that accepts the connection and never answers fails the open after connect_timeout, as transient', async () => {
      // A peer that went dead after the TCP handshake: no greeting, no SSH banner.
      const silent = createServer(() => {});
      const held: Socket[] = [];
      silent.on('connection', (socket) => held.push(socket));
      await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
      const port = (silent.address() as AddressInfo).port;
      const t = tempDir(`pigeon-${kind}-`);
      try {
        const create = await getConnectorKind(kind)!.load();
        const c = create(connection(testServer(kind), 'x', { port, connect_timeout: 1 }), { cwd: t.dir, tmpDir: t.dir });
        const e = await c.open().then(() => assert.fail('open must fail'), (err: unknown) => err as PipelineError);
        await c.close();
        assert.equal(e.code, 'CONNECT_FAILED');
        assert.match(e.message, new RegExp(`${kind}://.*:${port}`));
        assert.equal(e.transient, true, e.message);
      } finally {
        for (const socket of held) socket.destroy();
        await new Promise((resolve) => silent.close(resolve));
        t.cleanup();
      }
    });
  });
}

describe('ftp over TLS and sftp by key', () => {
  test('explicit FTPS with the server CA works; an untrusted certificate is refused at open', async () => {
    const server = testServer('ftp');
    const root = server.root();
    const ca = process.env['PIGEON_TEST_FTP_CA'];
    assert.ok(ca, 'the ftp test server names its certificate in PIGEON_TEST_FTP_CA');
    try {
      const s = store(server, root, {}, { secure: true, ca });
      await s.probe();
      await s.write('tls.csv', Readable.from([Buffer.from('id\n1\n')]));
      assert.equal(await text(s, 'tls.csv'), 'id\n1\n');
      await s.close();

      const untrusted = store(server, root, {}, { secure: true });
      await assert.rejects(untrusted.probe(), /certificate/i);
      await untrusted.close();
    } finally {
      await server.clear(root);
    }
  });

  test('sftp logs in with a private key file; a host key other than host_fingerprint is refused', async () => {
    const server = testServer('sftp');
    const root = server.root();
    const key = process.env['PIGEON_TEST_SFTP_KEY'];
    assert.ok(key, 'the sftp test server names a client key in PIGEON_TEST_SFTP_KEY');
    try {
      const s = store(server, root, {}, { password: undefined, private_key_file: key });
      await s.write('k.csv', Readable.from([Buffer.from('id\n7\n')]));
      assert.equal(await text(s, 'k.csv'), 'id\n7\n');
      await s.close();

      const other = store(server, root, {}, { host_fingerprint: `SHA256:${'A'.repeat(43)}` });
      await assert.rejects(other.probe(), /host|verif/i);
      await other.close();
    } finally {
      await server.clear(root);
    }
  });
});
