/**
 * Two loads into one table from different pipelines (or directories) at the same time (issue 16, item 9): each
 * keeps its own staging table, which the other's clean-up of crash leftovers must leave alone while it lives.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from '../support/cli.js';
import { createDb, type EngineKind } from '../support/engines.js';
import { startPigeon } from '../support/reliability.js';

for (const kind of ['sqlite', 'mysql', 'postgres'] as EngineKind[]) {
  test(`${kind}: two pipelines appending to one table at once both succeed, every row once per load`, async () => {
    const t = tempDir('pigeon-concurrent-');
    const src = await createDb('postgres', t.dir);
    const dst = await createDb(kind, t.dir);
    try {
      await src.exec(`CREATE TABLE a AS SELECT i AS id, 'a' || i AS v FROM generate_series(1, 40000) AS i`);
      await src.exec(`CREATE TABLE b AS SELECT i AS id, 'b' || i AS v FROM generate_series(1, 40000) AS i`);
      const dirs = ['a', 'b'].map((name) => {
        const dir = join(t.dir, name);
        mkdirSync(dir);
        writeFileSync(
          join(dir, 'p.yaml'),
          `version: 1
name: load_${name}
connections:
  src: ${src.yaml}
  dst: ${dst.yaml}
defaults: { retries: 2, retry_delay: 100ms }
nodes:
  n:
    source: { connection: src, table: ${name}, split: { column: id, chunks: 4 } }
    target: { connection: dst, table: shared, mode: append }
`,
        );
        return dir;
      });
      const rounds = 3;
      for (let r = 0; r < rounds; r++) {
        const results = await Promise.all(dirs.map((dir) => startPigeon(['run', 'p.yaml', '--progress', '0'], { cwd: dir }).done));
        for (const res of results) assert.equal(res.code, 0, res.stderr);
      }
      const counts = await dst.rows(`SELECT substr(v, 1, 1), COUNT(*), COUNT(DISTINCT id) FROM shared GROUP BY substr(v, 1, 1) ORDER BY 1`);
      assert.deepEqual(counts.map((c) => c.map(String)), [['a', String(40000 * rounds), '40000'], ['b', String(40000 * rounds), '40000']]);
    } finally {
      await src.drop().catch(() => {});
      await dst.drop().catch(() => {});
      t.cleanup();
    }
  });
}
