/**
 * The object kit's offline parts: key patterns, S3 error classification, and what `validate` says about object
 * sources, S3 staging and the connections other connections name.
 */
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadPipeline } from '../../src/config/load.js';
import { keyPattern } from '../../src/connectors/objects/glob.js';
import { checkKey } from '../../src/connectors/objects/object-store.js';
import { parseS3Url } from '../../src/connectors/s3/s3-config.js';
import { s3Error } from '../../src/connectors/s3/s3-errors.js';

describe('key patterns', () => {
  const cases: [string, string, boolean][] = [
    ['in/*.csv', 'in/a.csv', true],
    ['in/*.csv', 'in/sub/a.csv', false],
    ['in/**/*.csv', 'in/a.csv', true],
    ['in/**/*.csv', 'in/x/y/a.csv', true],
    ['in/**', 'in/x/y/a.csv', true],
    ['in/orders-????.csv', 'in/orders-2026.csv', true],
    ['in/orders-????.csv', 'in/orders-26.csv', false],
    ['in/*.{csv,csv.gz}', 'in/a.csv.gz', true],
    ['in/*.{csv,csv.gz}', 'in/a.json', false],
    ['a+b (1).csv', 'a+b (1).csv', true],
    ['a.csv', 'abcsv', false],
  ];
  for (const [pattern, key, expected] of cases) {
    it(`${pattern} ${expected ? 'matches' : 'does not match'} ${key}`, () => assert.equal(keyPattern(pattern).matches(key), expected));
  }
  it('lists under the literal part before the first wildcard', () => {
    assert.equal(keyPattern('exports/2026-*/orders.csv').prefix, 'exports/2026-');
    assert.equal(keyPattern('exports/orders.csv').prefix, 'exports/orders.csv');
  });
  it('keys never leave the root', () => {
    for (const bad of ['', '/abs', 'a/../b', './a', 'a//b', 'a\\b']) assert.notEqual(checkKey(bad), undefined, bad);
    assert.equal(checkKey('a/b c/ü.csv'), undefined);
  });
  it('S3 URLs', () => {
    assert.deepEqual(parseS3Url('s3://my-bucket/a/b/', 'x'), { bucket: 'my-bucket', prefix: 'a/b/' });
    assert.deepEqual(parseS3Url('s3://my-bucket', 'x'), { bucket: 'my-bucket', prefix: '' });
    assert.throws(() => parseS3Url('https://my-bucket/a', 'staging.url'), /staging.url must be s3:\/\/bucket\/prefix/);
  });
});

describe('S3 errors', () => {
  const sdkError = (name: string, status: number, extra: Record<string, unknown> = {}) =>
    Object.assign(new Error(name === 'UnknownError' ? 'UnknownError' : `${name} happened`), { name, $metadata: { httpStatusCode: status }, ...extra });
  it('throttling, timeouts, 5xx answers and network failures are transient', () => {
    for (const e of [sdkError('SlowDown', 503), sdkError('InternalError', 500), sdkError('RequestTimeout', 400), sdkError('UnknownError', 502), Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' })]) {
      assert.equal(s3Error(e, 'read', 's3://b/k', []).transient, true, e.name);
    }
  });
  it('a refused key, a missing bucket or object is not, and says what and where', () => {
    const denied = s3Error(sdkError('AccessDenied', 403), 'write', 's3://b/k', []);
    assert.equal(denied.transient, false);
    assert.equal(denied.message, 'cannot write s3://b/k: AccessDenied happened (AccessDenied, HTTP 403)');
    assert.equal(s3Error(sdkError('NoSuchKey', 404), 'read', 's3://b/k', []).notFound, true);
    assert.equal(s3Error(sdkError('NoSuchBucket', 404), 'read', 's3://b/k', []).notFound, false);
    assert.equal(s3Error(sdkError('UnknownError', 404), 'read', 's3://b/k', []).message, 'cannot read s3://b/k: UnknownError (HTTP 404)');
  });
  it('masks the connection secrets in the message and in the original error', () => {
    const e = new Error('signature for AKIDSECRET1 / wJalrSECRET2 did not match');
    const wrapped = s3Error(e, 'read', 's3://b/k', ['AKIDSECRET1', 'wJalrSECRET2']);
    assert.doesNotMatch(wrapped.message, /SECRET/);
    assert.doesNotMatch(e.message, /SECRET/);
  });
});

describe('validate: object sources, S3 staging, connections that name connections', () => {
  const tmp = mkdtempSync(join(tmpdir(), 'pigeon-object-kit-'));
  after(() => rmSync(tmp, { recursive: true, force: true }));
  const load = (text: string) => {
    const file = join(tmp, `p${Math.random().toString(36).slice(2)}.yaml`);
    writeFileSync(file, `version: 1\nname: objects\n${text}`);
    return loadPipeline(file, { env: {} });
  };
  const codes = (text: string) => load(text).errors.map((e) => `${e.code} ${e.location.line}:${e.location.col}`);
  const conns = `connections:
  lake: { type: s3, bucket: my-bucket, prefix: in/ }
  db: { type: sqlite, path: x.db }
  files: { type: file, dir: out }
`;

  it('an object source takes a table, a prefix or a pattern, one of them', () => {
    assert.deepEqual(codes(`${conns}nodes:\n  a:\n    source: { connection: lake, prefix: orders/ }\n    target: { connection: db, table: a, mode: append }\n`), []);
    assert.deepEqual(codes(`${conns}nodes:\n  a:\n    source: { connection: files, pattern: "*.csv" }\n    target: { connection: lake, table: a, mode: overwrite }\n`), []);
    assert.deepEqual(codes(`${conns}nodes:\n  a:\n    source: { connection: lake, prefix: x/, pattern: "*.csv" }\n    target: { connection: db, table: a, mode: append }\n`), ['SCHEMA 9:45']);
    assert.deepEqual(codes(`${conns}nodes:\n  a:\n    source: { connection: lake }\n    target: { connection: db, table: a, mode: append }\n`), ['SCHEMA 9:5']);
    assert.match(load(`${conns}nodes:\n  a:\n    source: { connection: lake }\n    target: { connection: db, table: a, mode: append }\n`).errors[0]!.message, /`table`, `prefix` or `pattern`/);
  });
  it('a key the source kind does not take is UNSUPPORTED where it is written', () => {
    assert.deepEqual(codes(`${conns}nodes:\n  a:\n    source: { connection: lake, query: "select 1" }\n    target: { connection: db, table: a, mode: append }\n`), ['UNSUPPORTED 9:33']);
    assert.deepEqual(codes(`${conns}nodes:\n  a:\n    source: { connection: db, prefix: x/ }\n    target: { connection: db, table: a, mode: append }\n`), ['UNSUPPORTED 9:31']);
  });
  it('S3 staging names an s3 connection, with a url', () => {
    const node = `nodes:\n  a:\n    source: { connection: db, table: a }\n    target: { connection: lake, table: a, mode: append }\n`;
    assert.deepEqual(codes(`${conns}staging: { url: "s3://my-bucket/stg", connection: lake }\n${node}`), []);
    assert.deepEqual(codes(`${conns}staging: { url: "s3://my-bucket/stg", connection: db }\n${node}`), ['INVALID_CONFIG 7:51']);
    assert.deepEqual(codes(`${conns}staging: { url: "s3://my-bucket/stg", connection: laek }\n${node}`), ['UNKNOWN_CONNECTION 7:51']);
    assert.deepEqual(codes(`${conns}staging: { connection: lake }\n${node}`), ['INVALID_CONFIG 7:12']);
    assert.deepEqual(codes(`${conns}staging: { url: "https://my-bucket/stg" }\n${node}`), ['SCHEMA 7:17']);
    assert.deepEqual(codes(`${conns}staging: { url: "s3://my-bucket/stg", dir: x }\n${node}`), ['SCHEMA 7:1']);
    const env = load(`${conns}staging: { url: "\${STAGING_URL:-https://elsewhere/x}" }\n${node}`).errors;
    assert.deepEqual(env.map((e) => `${e.code} ${e.location.line}:${e.location.col}`), ['SCHEMA 7:17']);
    assert.match(env[0]!.message, /"https:\/\/elsewhere\/x" after substituting/);
  });
});
