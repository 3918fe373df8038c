/** The search kinds' keys, as validate and the connector read them (no server). */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadPipeline } from '../../src/config/load.js';
import { searchConfig } from '../../src/connectors/search/search-config.js';
import { serverOf } from '../../src/connectors/search/search-flavor.js';
import { compact, exchangeTimestamp, isoTimestamp, jsonWriter } from '../../src/connectors/search/search-types.js';
import { parseLossless } from '../../src/connectors/search/search-json.js';
import { PipelineError } from '../../src/errors/pipeline-error.js';

const tmp = mkdtempSync(join(tmpdir(), 'pigeon-search-config-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

function validate(nodes: string): { code: string; line: number | undefined; message: string }[] {
  const file = join(tmp, `p${Math.random().toString(36).slice(2)}.yaml`);
  writeFileSync(file, [
    'version: 1',
    'name: s',
    'connections:',
    '  pg: { type: postgres, url: "postgres://u@h/db" }',
    '  es: { type: elasticsearch, url: "https://es.internal:9200", api_key: "c2VjcmV0", ca: ca.pem, options: { batch_docs: 500, export: scroll } }',
    'nodes:',
    nodes,
    '',
  ].join('\n'));
  return loadPipeline(file, { env: {} }).errors.map((e) => ({ code: e.code, line: e.location.line, message: e.message }));
}

describe('validate: search sources and targets', () => {
  it('takes index, a query clause as a map (templates in its strings), fields and slices', () => {
    const errors = validate([
      '  n:',
      '    source: { connection: es, index: orders, query: { range: { at: { gte: "{{ data_interval_start }}" } } }, fields: [_id, total], slices: 4 }',
      '    target: { connection: pg, table: orders, mode: overwrite }',
    ].join('\n'));
    assert.deepEqual(errors, []);
  });

  it("refuses another kind's source keys and a missing index, at their lines", () => {
    const errors = validate([
      '  a:',
      '    source: { connection: es, table: orders }',
      '    target: { connection: pg, table: orders, mode: overwrite }',
      '  b:',
      '    source: { connection: pg, index: orders }',
      '    target: { connection: es, table: orders, mode: overwrite }',
      '  c:',
      '    source: { connection: es, fields: [total] }',
      '    target: { connection: pg, table: totals, mode: overwrite }',
    ].join('\n'));
    assert.deepEqual(errors.map((e) => [e.code, e.line]), [['UNSUPPORTED', 8], ['UNSUPPORTED', 11], ['SCHEMA', 14]]);
    assert.match(errors[2]!.message, /needs `index`/);
  });

  it('refuses a window append into a search index, and max_rejects on a target that loads all or nothing', () => {
    const errors = validate([
      '  a:',
      '    source: { connection: pg, table: events }',
      '    incremental: { column: at }',
      '    target: { connection: es, table: events, mode: append }',
      '  b:',
      '    source: { connection: es, index: events }',
      '    target: { connection: pg, table: events, mode: overwrite, max_rejects: 3 }',
      '  c:',
      '    source: { connection: pg, table: events }',
      '    incremental: { column: at, strategy: watermark }',
      '    target: { connection: es, table: events2, mode: append, max_rejects: 3 }',
    ].join('\n'));
    assert.deepEqual(errors.map((e) => [e.code, e.line]), [['UNSUPPORTED', 9], ['UNSUPPORTED', 13]]);
    assert.match(errors[0]!.message, /would load a day twice/);
  });
});

describe('search connection settings', () => {
  it('builds basic or API-key authorization and never keeps credentials in the URL', () => {
    const c = searchConfig({ name: 'es', type: 'opensearch', url: 'http://etl:s3cret@os.internal:9200/prefix/' }, tmp);
    assert.equal(c.base.href, 'http://os.internal:9200/prefix');
    assert.equal(c.authorization, `Basic ${Buffer.from('etl:s3cret').toString('base64')}`);
    assert.ok(c.secrets.includes('s3cret'));
    const k = searchConfig({ name: 'es', type: 'elasticsearch', url: 'http://es:9200', api_key: 'a2V5' }, tmp);
    assert.equal(k.authorization, 'ApiKey a2V5');
  });

  it('refuses a bad URL without quoting it, and unknown options', () => {
    assert.throws(() => searchConfig({ name: 'es', type: 'opensearch', url: 'http//u:hunter2@x' }, tmp), (e: unknown) => e instanceof PipelineError && e.code === 'INVALID_CONFIG' && !e.message.includes('hunter2'));
    assert.throws(() => searchConfig({ name: 'es', type: 'opensearch', url: 'http://x', options: { bach_docs: 1 } }, tmp), /unknown option `bach_docs`/);
  });

  it('knows which server is which, and what it can do', () => {
    assert.equal(serverOf('opensearch', 'c', { version: { number: '2.19.6', distribution: 'opensearch' } }).pit, true);
    assert.equal(serverOf('opensearch', 'c', { version: { number: '1.3.20', distribution: 'opensearch' } }).pit, false);
    assert.equal(serverOf('elasticsearch', 'c', { version: { number: '7.10.2' } }).pit, false);
    assert.equal(serverOf('elasticsearch', 'c', { version: { number: '8.15.0' } }).unsignedLong, true);
    assert.throws(() => serverOf('elasticsearch', 'c', { version: { number: '2.19.6', distribution: 'opensearch' } }), (e: unknown) => e instanceof PipelineError && e.hint === 'set `type: opensearch`');
    assert.throws(() => serverOf('elasticsearch', 'c', { version: { number: '6.8.23' } }), (e: unknown) => e instanceof PipelineError && e.code === 'UNSUPPORTED');
  });
});

describe('search values', () => {
  it('reads JSON without losing digits or key order', () => {
    const text = '{"2":1,"1":{"big":12345678901234567890,"z":-0,"s":"a\\"b\\u00fc"},"l":[1.50,true,null]}';
    assert.equal(compact(parseLossless(text)), text.replace('\\u00fc', 'ü').replace('"a\\"b', '"a\\"b'));
  });

  it('spells timestamps for the server and back without changing them', () => {
    assert.equal(isoTimestamp('2026-01-02 03:04:05.123456', false), '2026-01-02T03:04:05.123456');
    assert.equal(isoTimestamp('2026-01-02 03:04:05+00', true), '2026-01-02T03:04:05Z');
    assert.equal(isoTimestamp('2026-01-02 03:04:05.5+05:30', true), '2026-01-02T03:04:05.5+05:30');
    assert.equal(exchangeTimestamp('2026-01-02T03:04:05.123456Z', true), '2026-01-02 03:04:05.123456+00');
    assert.equal(exchangeTimestamp('2026-01-02T01:04:05.000001+05:30', true), '2026-01-01 19:34:05.000001+00');
    assert.equal(exchangeTimestamp('2026-01-02T03:04:05', false), '2026-01-02 03:04:05');
  });

  it('refuses what the server would change: NaN, and a JSON null unless lossy loads are allowed', () => {
    assert.throws(() => jsonWriter({ name: 'f', type: 'float64', nullable: true }, false)('NaN'), /finite/);
    assert.throws(() => jsonWriter({ name: 'j', type: 'json', nullable: true }, false)('null'), (e: unknown) => e instanceof PipelineError && e.code === 'LOSSY_VALUE');
    assert.equal(jsonWriter({ name: 'j', type: 'json', nullable: true }, true)('null'), 'null');
    assert.equal(jsonWriter({ name: 'd', type: 'decimal', nullable: true }, false)('+.50'), '0.50');
    assert.equal(jsonWriter({ name: 'j', type: 'json', nullable: true }, false)('{\n  "a": [1, 2]\n}'), '{"a":[1,2]}');
  });
});
