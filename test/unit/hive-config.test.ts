/** The Hive connection's keys and the partition settings of a node, without a server. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadPipeline } from '../../src/config/load.js';
import { hiveConfig } from '../../src/connectors/hive/hive-config.js';
import { PipelineError } from '../../src/errors/pipeline-error.js';
import { renderNode } from '../../src/nodes/run-node.js';
import { tempDir } from '../support/cli.js';

function load(nodes: string) {
  const t = tempDir('pigeon-hive-config-');
  try {
    const file = join(t.dir, 'p.yaml');
    writeFileSync(
      file,
      'version: 1\nname: p\nconnections:\n  my: { type: mysql, url: "mysql://root@127.0.0.1/app" }\n' +
        '  hv: { type: hive, host: hs2, port: "10000", password: s3cret, database: ods, format: parquet }\nnodes:\n' +
        nodes,
    );
    return loadPipeline(file, { env: {} });
  } finally {
    t.cleanup();
  }
}

test('target.partition: a mapping is static (rendered per run), a list dynamic; source.partition reads partitions', () => {
  const { pipeline, errors } = load(
    "  a:\n    source: { connection: hv, table: events, partition: { dt: '{{ ds }}' } }\n    target: { connection: my, table: events, mode: append }\n" +
      "  b:\n    source: { connection: my, table: events }\n    target: { connection: hv, table: events, mode: overwrite, partition: { dt: '{{ ds }}', n: 7 } }\n" +
      '  c:\n    source: { connection: my, table: events }\n    target: { connection: hv, table: events2, mode: overwrite, partition: [dt] }\n',
  );
  assert.deepEqual(errors, []);
  const vars = { ds: '2026-01-02' };
  assert.deepEqual(renderNode(pipeline!.nodes['a']!, vars).source.partition, { dt: '2026-01-02' });
  assert.deepEqual(renderNode(pipeline!.nodes['b']!, vars).target.partition, { dt: '2026-01-02', n: '7' });
  assert.deepEqual(renderNode(pipeline!.nodes['c']!, vars).target.partition, ['dt']);
});

test('partitions are refused where the kind keeps none, and on a query source', () => {
  const { errors } = load(
    '  a:\n    source: { connection: hv, query: "select 1", partition: { dt: x } }\n    target: { connection: my, table: t, mode: append, partition: [dt] }\n',
  );
  // The Hive source's own check (a query says what it reads), and a partition on a kind without any.
  assert.deepEqual(errors.map((e) => e.code).sort(), ['INVALID_CONFIG', 'UNSUPPORTED']);
  assert.match(errors.find((e) => e.code === 'INVALID_CONFIG')!.message, /partition/);
});

test('hive connection keys: defaults, a wrong value named, the password never repeated', () => {
  const c = hiveConfig({ name: 'hv', type: 'hive', host: 'hs2', password: 's3cret' }, 2, '/tmp/x', '/work');
  assert.equal(c.port, 10000);
  assert.equal(c.database, 'default');
  assert.equal(c.format, 'orc');
  assert.equal(c.auth, 'plain');
  assert.equal(c.stagingDir, '/tmp/x');
  assert.equal(c.serverStagingDir, '/tmp/x');
  assert.deepEqual(c.secrets, ['s3cret']);
  for (const bad of [{ auth: 'kerberos' }, { format: 'avro' }, { port: 0 }, { database: 'a-b' }, { server_staging_dir: 'rel/dir' }, { passwd: 's3cret' }]) {
    assert.throws(
      () => hiveConfig({ name: 'hv', type: 'hive', host: 'hs2', password: 's3cret', ...bad }, 2, '/tmp/x', '/work'),
      (e: unknown) => e instanceof PipelineError && e.code === 'INVALID_CONFIG' && !e.message.includes('s3cret'),
      JSON.stringify(bad),
    );
  }
});
