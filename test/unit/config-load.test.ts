import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';
import ajvModule from 'ajv/dist/2020.js';
import { formatDuration, parseDuration } from '../../src/config/duration.js';
import { interpolateEnv } from '../../src/config/interpolate.js';
import { loadPipeline, loadPipelineOrThrow } from '../../src/config/load.js';
import { suggest } from '../../src/config/suggest.js';
import { DEFAULTS } from '../../src/config/types.js';
import type { KindLookup } from '../../src/config/validate.js';
import { DEFAULT_CAPABILITIES, type ConnectorKind } from '../../src/connectors/contract.js';
import { PipelineErrors } from '../../src/errors/pipeline-error.js';
import { fixturesDir, repoRoot } from '../support/paths.js';

const goodFull = join(fixturesDir, 'pipelines', 'good-full.yaml');
const tmp = mkdtempSync(join(tmpdir(), 'pigeon-config-load-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

describe('loading good-full.yaml', () => {
  const { pipeline, errors } = loadPipeline(goodFull, { env: {} });

  it('has no errors', () => {
    assert.deepEqual(errors, []);
    assert.ok(pipeline);
  });

  it('resolves the file to an absolute path and names every connection and node', () => {
    assert.ok(pipeline);
    assert.ok(isAbsolute(pipeline.file));
    assert.equal(pipeline.file, resolve(goodFull));
    assert.equal(pipeline.name, 'nightly.full');
    assert.deepEqual(Object.keys(pipeline.connections), ['app', 'out']);
    assert.deepEqual(pipeline.connections['app'], {
      name: 'app', type: 'sqlite', path: '.pigeon/demo/app.db', max_connections: 2,
    });
    for (const [name, node] of Object.entries(pipeline.nodes)) assert.equal(node.name, name);
  });

  it('applies file defaults over built-in defaults, and node values over both', () => {
    assert.ok(pipeline);
    const { users, orders, daily_totals: totals } = pipeline.nodes;
    assert.ok(users && orders && totals);
    assert.deepEqual([users.retries, users.retry_delay, users.timeout], [5, 90_000, 45 * 60_000]);
    assert.deepEqual([orders.retries, orders.retry_delay, orders.timeout], [0, 90_000, 90_000]);
    assert.deepEqual([totals.retries, totals.retry_delay, totals.timeout], [5, 500, 45 * 60_000]);
    assert.equal(pipeline.concurrency, 2);
    assert.deepEqual(pipeline.staging, { dir: '.pigeon/staging-full', compress: 'gzip', keep: false });
  });

  it('fills list, create and strategy defaults and keeps templates unrendered', () => {
    assert.ok(pipeline);
    const { users, orders, daily_totals: totals } = pipeline.nodes;
    assert.ok(users && orders && totals);
    assert.deepEqual(users.depends_on, []);
    assert.deepEqual(totals.tags, []);
    assert.equal(users.target.create, 'never');
    assert.equal(orders.target.create, DEFAULTS.create);
    assert.deepEqual(orders.incremental, { column: 'updated_at', strategy: 'watermark', initial: '2020-01-01' });
    assert.deepEqual(totals.incremental, { column: 'created_at', strategy: 'window' });
    assert.deepEqual(orders.source.split, { column: 'id', chunks: 8 });
    assert.deepEqual(orders.target.key, ['id']);
    assert.equal(totals.target.table, 'totals_{{ ds_nodash }}');
    assert.match(String(totals.source.query), /'\{\{ data_interval_start \}\}'/);
    assert.equal(users.incremental, undefined);
  });

  it('uses ${VAR:-default} when the variable is unset or empty, and the value when set', () => {
    for (const env of [{}, { EXPORT_DIR: '' }]) {
      assert.equal(loadPipeline(goodFull, { env }).pipeline?.connections['out']?.['dir'], '.pigeon/demo/export');
    }
    assert.equal(loadPipeline(goodFull, { env: { EXPORT_DIR: '/data/out' } }).pipeline?.connections['out']?.['dir'], '/data/out');
  });

  it('loadPipelineOrThrow returns the same pipeline', () => {
    assert.deepEqual(loadPipelineOrThrow(goodFull, { env: {} }), pipeline);
  });
});

describe('built-in defaults', () => {
  it('apply when the file sets nothing', () => {
    const file = join(tmp, 'minimal.yaml');
    writeFileSync(file, [
      'version: 1',
      'name: minimal',
      'connections: { app: { type: sqlite, path: a.db } }',
      'nodes:',
      '  a:',
      '    source: { connection: app, table: a }',
      '    target: { connection: app, table: b, mode: append }',
      '',
    ].join('\n'));
    const pipeline = loadPipelineOrThrow(file, { env: {} });
    const a = pipeline.nodes['a'];
    assert.ok(a);
    assert.deepEqual([a.retries, a.retry_delay, a.timeout], [DEFAULTS.retries, DEFAULTS.retry_delay, DEFAULTS.timeout]);
    assert.equal(pipeline.concurrency, DEFAULTS.concurrency);
    assert.deepEqual(pipeline.staging, DEFAULTS.staging);
    assert.deepEqual(pipeline.secrets, []);
  });

  it('S3 staging compresses unless told not to; a local directory does not', () => {
    const staging = (line: string) => {
      const file = join(tmp, 'staging.yaml');
      writeFileSync(file, ['version: 1', 'name: s', 'connections: { app: { type: sqlite, path: a.db } }', line, 'nodes:', '  a:', '    source: { connection: app, table: a }', '    target: { connection: app, table: b, mode: append }', ''].join('\n'));
      return loadPipelineOrThrow(file, { env: {} }).staging.compress;
    };
    assert.equal(staging('staging: { url: "s3://lake-bucket/p" }'), 'gzip');
    assert.equal(staging('staging: { url: "s3://lake-bucket/p", compress: none }'), 'none');
    assert.equal(staging('staging: { dir: st }'), 'none');
    assert.equal(staging('staging: { dir: st, compress: gzip }'), 'gzip');
  });

  it('loadPipelineOrThrow throws PipelineErrors holding every problem', () => {
    assert.throws(
      () => loadPipelineOrThrow(join(fixturesDir, 'pipelines', 'bad-references.yaml'), { env: {} }),
      (e: unknown) => e instanceof PipelineErrors && e.errors.length === 3,
    );
  });
});

describe('secrets', () => {
  const kind = (name: string): ConnectorKind => ({
    kind: name,
    capabilities: DEFAULT_CAPABILITIES,
    sourceKeys: ['table', 'query', 'columns', 'where', 'split'],
    renderExport: () => '',
    load: () => Promise.reject(new Error('unit tests never open connections')),
  });
  const kinds: KindLookup = {
    get: (type) => (['sqlite', 'postgres', 'vault'].includes(type) ? kind(type) : undefined),
    names: () => ['sqlite', 'postgres', 'vault'],
  };

  it('collects secret-named keys, URL passwords and secret-named environment values', () => {
    const file = join(tmp, 'secrets.yaml');
    writeFileSync(file, [
      'version: 1',
      'name: secrets',
      'connections:',
      '  app: { type: sqlite, path: "${APP_DB}" }',
      '  pg: { type: postgres, url: "postgres://bi:p%40ss@db:5432/bi" }',
      '  pg2: { type: postgres, host: db, user: bi, password: "${PG_PASSWORD}" }',
      '  lake: { type: vault, bucket: b, access_key_id: AKIA1, secret_access_key: "${S3_SECRET:-dev-secret}", options: { Token: tok-1 } }',
      'nodes:',
      '  a:',
      '    source: { connection: app, table: a, where: "tenant = \'${TENANT_KEY}\'" }',
      '    target: { connection: pg, table: b, mode: append }',
      '',
    ].join('\n'));
    const pipeline = loadPipelineOrThrow(file, {
      env: { APP_DB: 'app.db', PG_PASSWORD: 'hunter2', TENANT_KEY: 'k-42' },
      kinds,
    });
    assert.deepEqual([...pipeline.secrets].sort(), ['AKIA1', 'dev-secret', 'hunter2', 'k-42', 'p%40ss', 'p@ss', 'tok-1']);
    assert.equal(pipeline.connections['pg2']?.['password'], 'hunter2');
  });
});

describe('interpolateEnv', () => {
  const env = { HOST: 'db.local', EMPTY: '', PORT: '5432' };

  it('substitutes ${VAR}', () => {
    const r = interpolateEnv('pg://${HOST}:${PORT}/x', env);
    assert.equal(r.value, 'pg://db.local:5432/x');
    assert.deepEqual(r.problems, []);
    assert.deepEqual(r.used, ['HOST', 'PORT']);
  });

  it('uses the default of ${VAR:-default} when unset or empty, and may nest', () => {
    assert.equal(interpolateEnv('${NOPE:-a b}|${EMPTY:-x}|${HOST:-y}', env).value, 'a b|x|db.local');
    assert.equal(interpolateEnv('${NOPE:-${HOST}}', env).value, 'db.local');
    assert.equal(interpolateEnv('${NOPE:-}', env).value, '');
  });

  it('reports ${VAR:?message} with the message when unset or empty', () => {
    for (const text of ['${NOPE:?set NOPE please}', '${EMPTY:?set NOPE please}']) {
      const r = interpolateEnv(`x ${text}`, env);
      assert.deepEqual(r.problems.map((p) => [p.offset, p.length, p.message, p.reason]),
        [[2, text.length, 'set NOPE please', 'required']]);
    }
  });

  it('reports an unset or empty ${VAR} at its offset and never substitutes an empty string', () => {
    const r = interpolateEnv('a ${NOPE} b ${EMPTY}', env);
    assert.deepEqual(r.problems.map((p) => [p.offset, p.length, p.variable, p.reason]),
      [[2, 7, 'NOPE', 'unset'], [12, 8, 'EMPTY', 'empty']]);
    assert.equal(r.value, 'a ${NOPE} b ${EMPTY}');
  });

  it('keeps $${ as a literal ${ and a $ without a brace as is', () => {
    const r = interpolateEnv('$${HOST} costs $5, $1 and ${HOST}', env);
    assert.equal(r.value, '${HOST} costs $5, $1 and db.local');
    assert.deepEqual(r.problems, []);
  });

  it('reports a malformed expression', () => {
    assert.deepEqual(interpolateEnv('x ${1A} ${HOST', env).problems.map((p) => [p.offset, p.reason]),
      [[2, 'malformed'], [8, 'malformed']]);
  });
});

describe('durations', () => {
  it('parses units, combinations and seconds', () => {
    const cases: [string | number, number][] = [
      ['500ms', 500], ['30s', 30_000], ['5m', 300_000], ['2h', 7_200_000], ['1d', 86_400_000],
      ['1h30m', 5_400_000], ['1h 30m 15s', 5_415_000], ['1.5s', 1500], [90, 90_000], [0.25, 250], ['45', 45_000],
    ];
    for (const [text, ms] of cases) assert.equal(parseDuration(text), ms, String(text));
  });

  it('rejects anything else', () => {
    for (const bad of ['', 'soon', '5 minutes', '1x', 'm5', -1, Number.NaN]) {
      assert.throws(() => parseDuration(bad), Error, String(bad));
    }
  });

  it('formats for people', () => {
    const cases: [number, string][] = [
      [120, '120ms'], [3400, '3.4s'], [5000, '5s'], [125_000, '2m 5s'], [3_720_000, '1h 2m'], [7_200_000, '2h'],
      [97_200_000, '1d 3h'], [59_960, '1m'],
    ];
    for (const [ms, text] of cases) assert.equal(formatDuration(ms), text);
  });
});

describe('suggest', () => {
  it('offers the closest candidate within two edits, or by prefix', () => {
    assert.equal(suggest('depend_on', ['description', 'depends_on', 'source']), 'depends_on');
    assert.equal(suggest('conection', ['connection', 'table']), 'connection');
    assert.equal(suggest('tabel', ['table', 'query']), 'table');
    assert.equal(suggest('conn', ['connection', 'columns']), 'connection');
    assert.equal(suggest('Table', ['table']), 'table');
  });

  it('offers nothing when nothing is close', () => {
    assert.equal(suggest('zebra', ['table', 'query']), undefined);
    assert.equal(suggest('x', ['id']), undefined);
    assert.equal(suggest('table', ['table']), undefined);
  });
});

describe('schemas/pipeline.schema.json', () => {
  it('compiles in ajv strict mode (no misspelt keywords)', () => {
    const schema = JSON.parse(readFileSync(join(repoRoot, 'schemas', 'pipeline.schema.json'), 'utf8')) as object;
    const ajv = new ajvModule.default({ strict: true, strictTypes: false, strictRequired: false });
    ajv.addKeyword({ keyword: 'x-errors', schemaType: 'object' });
    assert.ok(ajv.validateSchema(schema));
    ajv.compile(schema);
  });
});
