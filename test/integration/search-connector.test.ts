// services: opensearch, elasticsearch
/**
 * What is particular to the elasticsearch and opensearch kinds, on both real servers, through the real executable:
 * the alias swap of an overwrite, rejected documents, merge semantics of a partial update, export by point in time,
 * scroll and slices, and requests the server refuses for a while (429).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { getConnectorKind } from '../../src/connectors/registry.js';
import type { ColumnSchema } from '../../src/csv/types.js';
import { pigeon, tempDir } from '../support/cli.js';
import { assertSameRows, Harness } from '../support/connector-contract.js';
import { createDb, type EngineDb } from '../support/engines.js';
import { SearchAdmin, searchEndpoint } from '../support/search.js';

for (const kind of ['opensearch', 'elasticsearch'] as const) {
  describe(`${kind} target and source`, () => {
    let t: ReturnType<typeof tempDir>;
    let pg: EngineDb;
    let admin: SearchAdmin;

    before(async () => {
      t = tempDir(`pigeon-${kind}-`);
      pg = await createDb('postgres', t.dir);
      admin = new SearchAdmin(searchEndpoint(kind));
    });
    after(async () => {
      await admin.wipe();
      await pg.drop();
      t.cleanup();
    });

    /** Writes a pipeline from pg to the search server (or back) and runs `pigeon run` (or `command`) on it. */
    const run = async (nodes: string, options = '', command = 'run') => {
      const yaml = [
        'version: 1',
        'name: search_test',
        'connections:',
        `  pg: ${pg.yaml}`,
        `  es: { type: ${kind}, url: "${admin.url}"${options ? `, options: { ${options} }` : ''} }`,
        'staging: { dir: staging }',
        'nodes:',
        nodes,
        '',
      ].join('\n');
      writeFileSync(join(t.dir, 'p.yaml'), yaml);
      return pigeon(command === 'run' ? ['run', 'p.yaml', '--progress', '0'] : [command, 'p.yaml'], { cwd: t.dir });
    };

    test('overwrite: a search during the load sees the old documents or the new ones, never part of them', async () => {
      await admin.wipe();
      await pg.exec('DROP TABLE IF EXISTS swap_src');
      await pg.exec(`CREATE TABLE swap_src AS SELECT g AS id, 'old' AS v FROM generate_series(1, 1000) g`);
      const node = '  swap:\n    source: { connection: pg, table: swap_src }\n    target: { connection: es, table: swap, mode: overwrite, key: [id] }';
      assert.equal((await run(node)).code, 0);
      assert.equal(await admin.count('swap'), 1000);
      await pg.exec('DROP TABLE swap_src');
      await pg.exec(`CREATE TABLE swap_src AS SELECT g AS id, 'new' AS v FROM generate_series(1, 30000) g`);

      const seen = new Set<number>();
      let loading = true;
      const watcher = (async () => {
        while (loading) {
          const r = await admin.req<{ count?: number }>('GET', '/swap/_count');
          if (r.status === 200) seen.add(r.body.count!);
          else seen.add(-r.status);
        }
      })();
      const r = await run(node, 'batch_docs: 500, concurrency: 1');
      loading = false;
      await watcher;
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual([...seen].filter((n) => n !== 1000 && n !== 30000), [], `counts seen during the load: ${[...seen].join(', ')}`);
      assert.ok(seen.has(1000), 'the old documents were searched while the new index filled');
      assert.equal(await admin.count('swap'), 30000);
      assert.equal((await admin.req<{ _source: { v: string } }>('GET', '/swap/_doc/17')).body._source.v, 'new');
      // One index behind the alias; the old one is gone, and nothing of the load is left.
      const indices = (await admin.req<{ index: string }[]>('GET', '/_cat/indices/swap*?format=json&h=index')).body.map((x) => x.index);
      assert.equal(indices.length, 1, indices.join(', '));
      assert.deepEqual(await admin.leftovers(), []);
    });

    test('rejected documents fail the node with their ids and reasons, leaving the index as it was; max_rejects allows some', async () => {
      await admin.wipe();
      await admin.req('PUT', '/people', { mappings: { properties: { id: { type: 'long' }, age: { type: 'integer' } } } });
      await admin.req('PUT', '/people/_doc/99?refresh=true', { id: 99, age: 40 });
      await pg.exec('DROP TABLE IF EXISTS people_src');
      await pg.exec(`CREATE TABLE people_src (id int, age text)`);
      await pg.exec(`INSERT INTO people_src VALUES (1, '31'), (2, 'thirty'), (3, '33'), (4, 'old')`);
      const node = (extra: string) => `  people:\n    source: { connection: pg, table: people_src }\n    target: { connection: es, table: people, mode: overwrite, key: [id]${extra} }`;

      const failed = await run(node(''));
      assert.equal(failed.code, 1);
      assert.match(failed.stderr, /IMPORT_FAILED/);
      assert.match(failed.stderr, /2 documents rejected/);
      assert.match(failed.stderr, /document 2 \(.*chunk-00001\.csv line 3\): mapper_parsing_exception/);
      assert.match(failed.stderr, /document 4 /);
      assert.deepEqual([...(await admin.docs('people')).keys()], ['99'], 'the index is as it was');
      assert.deepEqual(await admin.leftovers(), []);

      const allowed = await run(node(', max_rejects: 2'));
      assert.equal(allowed.code, 0, allowed.stderr);
      assert.match(allowed.stderr, /2 documents rejected: document 2/);
      const docs = await admin.docs('people');
      assert.deepEqual([...docs.keys()].sort(), ['1', '3']);
      assert.deepEqual(docs.get('3'), { id: 3, age: '33' });

      const tooMany = await run(node(', max_rejects: 1'));
      assert.equal(tooMany.code, 1);
      assert.match(tooMany.stderr, /the node allows 1/);
    });

    test('merge updates the fields it carries, keeps the others, and replaces JSON objects instead of merging them', async () => {
      await admin.wipe();
      await pg.exec('DROP TABLE IF EXISTS profiles_src');
      await pg.exec('CREATE TABLE profiles_src (id int, name text, prefs jsonb)');
      await pg.exec(`INSERT INTO profiles_src VALUES (1, 'a', '{"theme": "dark", "nested": {"x": 1}}')`);
      const node = '  profiles:\n    source: { connection: pg, table: profiles_src }\n    target: { connection: es, table: profiles, mode: merge, key: [id] }';
      assert.equal((await run(node)).code, 0);
      await admin.req('POST', '/profiles/_update/1?refresh=true', { doc: { extra: 'kept' } });
      await pg.exec('TRUNCATE profiles_src');
      await pg.exec(`INSERT INTO profiles_src VALUES (1, 'b', '{"lang": "fr", "nested": {"y": 2}}'), (2, 'c', '[1, 2]')`);
      const r = await run(node);
      assert.equal(r.code, 0, r.stderr);
      const docs = await admin.docs('profiles');
      assert.deepEqual(docs.get('1'), { id: 1, name: 'b', prefs: { lang: 'fr', nested: { y: 2 } }, extra: 'kept' });
      assert.deepEqual(docs.get('2'), { id: 2, name: 'c', prefs: [1, 2] });
    });

    test('a value the target index refuses is refused before the target changes (merge into a mapping of its own)', async () => {
      await admin.wipe();
      await admin.req('PUT', '/prefs/_doc/1?refresh=true', { id: 1, prefs: { theme: 'dark' } });
      await pg.exec('DROP TABLE IF EXISTS prefs_src');
      await pg.exec('CREATE TABLE prefs_src (id int, prefs jsonb)');
      await pg.exec(`INSERT INTO prefs_src VALUES (1, '{"theme": "light"}'), (2, '[1, 2]')`);
      const r = await run('  prefs:\n    source: { connection: pg, table: prefs_src }\n    target: { connection: es, table: prefs, mode: merge, key: [id] }');
      assert.equal(r.code, 1);
      assert.match(r.stderr, /1 document rejected: document 2 .*mapper_parsing_exception/);
      assert.deepEqual([...(await admin.docs('prefs')).entries()], [['1', { id: 1, prefs: { theme: 'dark' } }]]);
      assert.deepEqual(await admin.leftovers(), []);
    });

    test('export by point in time, by scroll and in slices reads every document exactly once', async () => {
      await admin.wipe();
      await admin.req('PUT', '/events', { settings: { number_of_shards: 3, number_of_replicas: 0 } });
      const lines: unknown[] = [];
      for (let i = 1; i <= 2500; i++) lines.push({ index: { _id: `e${i}` } }, { n: i, tag: i % 2 === 0 ? 'even' : 'odd', at: `2026-01-0${1 + (i % 3)}T10:00:00.${String(i).padStart(6, '0')}Z` });
      assert.equal((await admin.req<{ errors: boolean }>('POST', '/events/_bulk?refresh=true', lines)).body.errors, false);
      await pg.exec('DROP TABLE IF EXISTS ev_pit, ev_scroll, ev_odd');
      for (const [table, options, source] of [
        ['ev_pit', 'page_size: 100', '{ connection: es, index: events, fields: [_id, n, tag, at] }'],
        ['ev_scroll', 'page_size: 100, export: scroll', '{ connection: es, index: events, fields: [_id, n, tag, at], slices: 2 }'],
        ['ev_odd', 'page_size: 100', '{ connection: es, index: events, query: { term: { "tag.keyword": odd } }, fields: [n, at] }'],
      ] as const) {
        const r = await run(`  ${table}:\n    source: ${source}\n    target: { connection: pg, table: ${table}, mode: overwrite }`, options);
        assert.equal(r.code, 0, r.stderr);
      }
      for (const table of ['ev_pit', 'ev_scroll']) {
        const [row] = await pg.rows(`SELECT count(*), count(DISTINCT "_id"), sum(n), min(at)::text FROM ${table}`);
        assert.deepEqual(row!.map(String), ['2500', '2500', String((2500 * 2501) / 2), '2026-01-01 10:00:00.000003+00'], table);
      }
      const [odd] = await pg.rows('SELECT count(*), sum(n % 2) FROM ev_odd');
      assert.deepEqual(odd!.map(String), ['1250', '1250']);
      assert.equal(await admin.openContexts(), 0, 'every point in time and scroll is closed');
    });

    test('a new column fails the load into an existing index unless schema_changes allows it', async () => {
      await admin.wipe();
      await admin.req('PUT', '/wide/_doc/1?refresh=true', { id: 1, v: 'a' });
      await pg.exec('DROP TABLE IF EXISTS wide_src');
      await pg.exec(`CREATE TABLE wide_src AS SELECT 2 AS id, 'b' AS v, 3.5::float8 AS w`);
      const refused = await run('  wide:\n    source: { connection: pg, table: wide_src }\n    target: { connection: es, table: wide, mode: merge, key: [id] }');
      assert.equal(refused.code, 1);
      assert.match(refused.stderr, /SCHEMA_CHANGED.*new column `w`/);
      assert.equal(await admin.count('wide'), 1);
      // `schema_changes` is a node key the pipeline schema does not take yet: the node as the runner sees it.
      const place = { config: { url: admin.url }, cleanup: async () => {} };
      const h = new Harness({ kind: getConnectorKind(kind)!, place: async () => place }, place, t.dir);
      const columns: ColumnSchema[] = [
        { name: 'id', type: 'int32', nullable: false },
        { name: 'v', type: 'text', nullable: true },
        { name: 'w', type: 'float64', nullable: true },
      ];
      await h.load('wide', 'merge', { columns, rows: [['2', 'b', '3.5']] }, { key: ['id'], schemaChanges: 'add_columns' });
      assert.deepEqual((await admin.docs('wide')).get('2'), { id: 2, v: 'b', w: 3.5 });
    });

    test('deletes: detect removes the documents whose key the source no longer has, in the merge', async () => {
      await admin.wipe();
      const place = { config: { url: admin.url }, cleanup: async () => {} };
      const h = new Harness({ kind: getConnectorKind(kind)!, place: async () => place, sourceOf: (table) => ({ index: table }) }, place, t.dir);
      const columns: ColumnSchema[] = [
        { name: 'id', type: 'int32', nullable: false },
        { name: 'v', type: 'text', nullable: true },
      ];
      const all = Array.from({ length: 300 }, (_, i) => [String(i + 1), `v${i + 1}`]);
      await h.load('kept', 'merge', { columns, rows: all }, { key: ['id'], deletes: 'detect' });
      const kept = all.filter(([id]) => Number(id) % 100 !== 0).map((r) => (r[0] === '5' ? ['5', 'changed'] : r));
      const r = await h.load('kept', 'merge', { columns, rows: kept }, { key: ['id'], deletes: 'detect', behaviour: { chunks: 3 } });
      assert.equal(r.counts?.['deleted'], 3);
      assertSameRows(await h.read('kept'), { columns, rows: kept });
      assert.deepEqual(await admin.leftovers(), []);
    });

    test('an incremental export by watermark reads only what is new since the last run', async () => {
      await admin.wipe();
      const put = async (from: number, to: number) => {
        const lines: unknown[] = [];
        for (let i = from; i <= to; i++) lines.push({ index: { _id: String(i) } }, { n: i, at: `2026-03-01T00:00:${String(i % 60).padStart(2, '0')}.${String(i).padStart(6, '0')}Z` });
        assert.equal((await admin.req<{ errors: boolean }>('POST', '/feed/_bulk?refresh=true', lines)).body.errors, false);
      };
      await put(1, 100);
      await pg.exec('DROP TABLE IF EXISTS feed_out');
      const node = '  feed:\n    source: { connection: es, index: feed }\n    incremental: { column: n, strategy: watermark }\n    target: { connection: pg, table: feed_out, mode: append }';
      assert.equal((await run(node)).code, 0);
      await put(101, 150);
      const r = await run(node);
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual((await pg.rows('SELECT count(*), count(DISTINCT n), max(n), min(at)::text FROM feed_out'))[0]!.map(String), ['150', '150', '150', '2026-03-01 00:00:00.00006+00']);
    });

    test('check: the source index, and each target: existing, missing, or made read-only by a block', async () => {
      await admin.wipe();
      await pg.exec('DROP TABLE IF EXISTS chk_src');
      await pg.exec(`CREATE TABLE chk_src AS SELECT g AS id FROM generate_series(1, 3) g`);
      await admin.req('PUT', '/chk_open', { mappings: { properties: { id: { type: 'long' } } } });
      await admin.req('PUT', '/chk_frozen', { settings: { 'index.blocks.write': true } });
      const nodes = [
        '  to_open:\n    source: { connection: pg, table: chk_src }\n    target: { connection: es, table: chk_open, mode: overwrite }',
        '  to_new:\n    source: { connection: pg, table: chk_src }\n    target: { connection: es, table: chk_new, mode: overwrite }',
        '  to_frozen:\n    source: { connection: pg, table: chk_src }\n    target: { connection: es, table: chk_frozen, mode: append }',
        '  back:\n    source: { connection: es, index: chk_open }\n    target: { connection: pg, table: chk_back, mode: overwrite }',
      ].join('\n');
      try {
        const r = await run(nodes, '', 'check');
        assert.equal(r.code, 1, r.stdout + r.stderr);
        const line = (re: RegExp) => r.stdout.split('\n').find((l) => re.test(l)) ?? `(no line ${re} in)\n${r.stdout}`;
        assert.match(line(/to_open: target/), /^✓ to_open: target chk_open on es exists and is writable$/);
        assert.match(line(/to_new: target/), /^✓ to_new: target chk_new on es does not exist yet; it can be created$/);
        assert.match(line(/to_frozen: target/), /^✗ to_frozen: target chk_frozen on es exists, not writable: index chk_frozen has the block index\.blocks\.write/);
        assert.match(line(/back: source/), /^✓ back: source index chk_open on es: 1 column/);
        assert.equal((await admin.req('HEAD', '/chk_new')).status, 404, 'check created nothing');
      } finally {
        await admin.req('PUT', '/chk_frozen/_settings', { 'index.blocks.write': null });
      }
    });

    test('a server refusing requests for a while (429, its in-flight requests breaker) is waited out with backoff', async () => {
      await admin.wipe();
      await pg.exec('DROP TABLE IF EXISTS busy_src');
      await pg.exec(`CREATE TABLE busy_src AS SELECT g AS id, repeat('x', 200) AS v FROM generate_series(1, 3000) g`);
      const limit = (value: string | null) => admin.req('PUT', '/_cluster/settings', { transient: { 'network.breaker.inflight_requests.limit': value } });
      try {
        await limit('1kb');
        setTimeout(() => void limit(null), 2500);
        const r = await run('  busy:\n    source: { connection: pg, table: busy_src }\n    target: { connection: es, table: busy, mode: overwrite, key: [id] }', 'retry_delay: 200ms, retries: 8');
        assert.equal(r.code, 0, r.stderr);
        assert.equal(await admin.count('busy'), 3000);
      } finally {
        await limit(null);
      }
    });
  });
}
