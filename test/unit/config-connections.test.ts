/**
 * Each kind checks its own settings offline, so `validate` reports them at file:line:col: one URL/host/port/ssl
 * reader for every SQL kind, the source keys a kind takes, and table names a file cannot have. No message quotes a
 * password.
 */
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadPipeline } from '../../src/config/load.js';
import type { ConnectionConfig } from '../../src/config/types.js';
import { mysqlConfig } from '../../src/connectors/mysql/mysql-config.js';
import { postgresConfig } from '../../src/connectors/postgres/postgres-config.js';
import { getConnectorKind } from '../../src/connectors/registry.js';
import type { PipelineError } from '../../src/errors/pipeline-error.js';

const tmp = mkdtempSync(join(tmpdir(), 'pigeon-config-connections-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

const PASSWORD = 'Sup3r-s3cret';
const SQL_KINDS = [
  { kind: 'mysql', scheme: 'mysql', read: (c: ConnectionConfig) => mysqlConfig(c, 4) },
  { kind: 'postgres', scheme: 'postgres', read: (c: ConnectionConfig) => postgresConfig(c, 4).connect },
] as const;

function problems(kind: string, connection: Record<string, unknown>): readonly { path: readonly unknown[]; message: string }[] {
  const check = getConnectorKind(kind)?.checkConnection;
  assert.ok(check, `${kind} checks its connections`);
  return check({ name: 'db', type: kind, ...connection });
}

function found(errors: readonly PipelineError[]): string[] {
  return errors.map((e) => `${e.code} ${e.location.line}:${e.location.col}`);
}

/** Loads a pipeline of these connection and node lines (line 4 is the first connection). */
function load(connections: readonly string[], nodes: readonly string[], env: Record<string, string> = {}): ReturnType<typeof loadPipeline> {
  const file = join(tmp, 'p.yaml');
  writeFileSync(file, ['version: 1', 'name: p', 'connections:', ...connections, 'nodes:', ...nodes, ''].join('\n'));
  return loadPipeline(file, { env });
}

describe('every SQL kind reads url, host, port and ssl by the same rules', () => {
  for (const { kind, scheme, read } of SQL_KINDS) {
    it(`${kind}: a port given as digits (from \${PORT}) is a port, in the key and in the URL`, () => {
      assert.equal(read({ name: 'db', type: kind, host: 'h', port: '6543' }).port, 6543);
      assert.equal(read({ name: 'db', type: kind, url: `${scheme}://u@h:6544/d?port=6545` }).port, 6545);
      assert.equal(read({ name: 'db', type: kind, url: `${scheme}://u@h:6544/d`, port: 6546 }).port, 6546, 'the key wins');
    });

    it(`${kind}: a bad URL is a problem at \`url\` that never quotes the password`, () => {
      const urls = [
        `${scheme}://u:${PASSWORD}@h:notaport/d`,
        `${scheme}://u:${PASSWORD}%ZZ@h/d`,
        `${scheme}://u%ZZ:${PASSWORD}@h/d`,
        `${scheme}://u:${PASSWORD}@h/d%ZZ`,
        `${scheme}://u@h/d?password=${PASSWORD}`,
        `${scheme}://u:${PASSWORD}@h/d?ssl=maybe`,
        `${scheme}://u:${PASSWORD}@h/d?${PASSWORD}=1`,
        `${scheme}://u:${PASSWORD}@h/a/b`,
        `${scheme}://u:${PASSWORD}@[::1/d`,
        `ftp://u:${PASSWORD}@h/d`,
        `u:${PASSWORD}@h/d`,
        `${scheme}://u:pa/${PASSWORD}@h:3306/d`,
      ];
      for (const url of urls) {
        const list = problems(kind, { url });
        assert.ok(list.length > 0, url);
        for (const p of list) {
          assert.deepEqual(p.path, ['url'], url);
          assert.ok(!p.message.includes(PASSWORD) && !p.message.includes('pa/'), p.message);
        }
        assert.throws(() => read({ name: 'db', type: kind, url }), (e: Error) => !e.message.includes(PASSWORD));
      }
    });

    it(`${kind}: ssl takes the same values, as a key and as a URL parameter`, () => {
      assert.deepEqual(read({ name: 'db', type: kind, host: 'h', ssl: true }).ssl, { rejectUnauthorized: true });
      assert.deepEqual(read({ name: 'db', type: kind, host: 'h', ssl: 'require' }).ssl, { rejectUnauthorized: false });
      assert.deepEqual(read({ name: 'db', type: kind, url: `${scheme}://h/d?sslmode=verify-full` }).ssl, { rejectUnauthorized: true });
      assert.deepEqual(read({ name: 'db', type: kind, url: `${scheme}://h/d?ssl=true` }).ssl, { rejectUnauthorized: true });
      assert.deepEqual(read({ name: 'db', type: kind, host: 'h', ssl: { ca: 'x' } }).ssl, { ca: 'x' });
      for (const plain of [false, 'disable', 'prefer']) {
        assert.ok(!read({ name: 'db', type: kind, host: 'h', ssl: plain }).ssl, String(plain));
      }
      assert.deepEqual(problems(kind, { host: 'h', ssl: 'maybe' }).map((p) => p.path), [['ssl']]);
    });

    it(`${kind}: url and host do not go together; a separate password wins over the URL's`, () => {
      assert.deepEqual(problems(kind, { url: `${scheme}://h/d`, host: 'h' }).map((p) => p.path), [['host']]);
      assert.equal(read({ name: 'db', type: kind, url: `${scheme}://u:a%40b@h/d`, password: 'p2' }).password, 'p2');
      assert.equal(read({ name: 'db', type: kind, url: `${scheme}://u:a%40b@[::1]:7/d` }).password, 'a@b');
      assert.equal(read({ name: 'db', type: kind, url: `${scheme}://u:a%40b@[::1]:7/d` }).host, '::1');
    });
  }
});

describe('validate reports what a kind finds at the key, with exit-3 codes', () => {
  const LOCAL = ['  app: { type: sqlite, path: a.db }', '  out: { type: file, dir: out }'];

  it('URL, port and ssl problems of each kind, after ${ENV} substitution, at their values', () => {
    const { errors } = load([
      `  a: { type: mysql, url: "\${A_URL}" }`,
      `  b: { type: postgres, host: h, port: "\${B_PORT}", ssl: "\${B_SSL}" }`,
      `  c: { type: mysql, url: "mysql://u:${PASSWORD}@h/d", options: { tinyint1: integer, connect_timeout: 0 } }`,
    ], [
      '  n:',
      '    source: { connection: a, table: t }',
      '    target: { connection: b, table: t, mode: append }',
    ], { A_URL: `mysql://u:${PASSWORD}@h:notaport/d`, B_PORT: '54x', B_SSL: 'yes please' });
    assert.deepEqual(found(errors), ['INVALID_CONFIG 4:26', 'INVALID_CONFIG 5:39', 'INVALID_CONFIG 5:57', 'SCHEMA 6:103']);
    for (const e of errors) assert.ok(!e.message.includes(PASSWORD), e.message);
    assert.deepEqual(errors.slice(0, 3).map((e) => e.location.connection), ['a', 'b', 'b']);
  });

  it('a key a kind\'s source does not take, and a query a SQL kind cannot run', () => {
    const { errors } = load(LOCAL, [
      '  a:',
      '    source: { connection: out, table: t, where: "x > 1", split: { column: id, chunks: 2 } }',
      '    target: { connection: app, table: t, mode: append }',
      '  b:',
      '    source: { connection: app, query: { match: all } }',
      '    target: { connection: app, table: u, mode: append }',
    ]);
    assert.deepEqual(found(errors), ['UNSUPPORTED 8:42', 'UNSUPPORTED 8:58', 'INVALID_CONFIG 11:39']);
  });

  it('a file table that leaves the directory or is too long for a file name, as source or target', () => {
    const { errors } = load(LOCAL, [
      '  a:',
      '    source: { connection: out, table: "../../etc/x" }',
      `    target: { connection: out, table: ${'t'.repeat(300)}, mode: append }`,
      '  b:',
      '    source: { connection: app, table: t }',
      `    target: { connection: out, table: "${'t'.repeat(190)}_{{ run_id }}", mode: append }`,
      '  c:',
      '    source: { connection: app, table: t }',
      `    target: { connection: out, table: "${'t'.repeat(150)}_{{ ds_nodash }}", mode: append }`,
    ]);
    assert.deepEqual(found(errors), ['INVALID_CONFIG 8:39', 'INVALID_CONFIG 9:39', 'INVALID_CONFIG 12:39']);
  });
});
