import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync, existsSync, readdirSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { pigeon, tempDir } from '../support/cli.js';
import { leftoverFiles, startPigeon } from '../support/reliability.js';
import { csvRows, makeSourceDb, tableNames, tableRows } from '../support/sqlite-fixtures.js';

// Four nodes over two targets, with every mode, a split export, a watermark and a dependency.
const PIPELINE = `
version: 1
name: crash
connections:
  src: { type: sqlite, path: src.db }
  dw: { type: sqlite, path: dw.db }
  out: { type: file, dir: out }
defaults: { retries: 0 }
concurrency: 2
nodes:
  customers:
    source: { connection: src, table: customers }
    target: { connection: dw, table: customers, mode: overwrite }
  orders:
    source: { connection: src, table: orders, split: { column: id, chunks: 4 } }
    incremental: { column: id, strategy: watermark }
    target: { connection: dw, table: orders, mode: append }
  events:
    source: { connection: src, table: events }
    target: { connection: dw, table: events, mode: merge, key: [id] }
  orders_csv:
    depends_on: [orders]
    source: { connection: dw, table: orders }
    incremental: { column: id, strategy: watermark }
    target: { connection: out, table: orders, mode: append }
`;

function setup() {
  const t = tempDir('pigeon-crash-');
  makeSourceDb(join(t.dir, 'src.db'));
  mkdirSync(join(t.dir, 'pipelines'));
  writeFileSync(join(t.dir, 'pipelines/crash.yaml'), PIPELINE);
  return t;
}

function assertTargetsEqualSource(dir: string) {
  const src = join(dir, 'src.db');
  const dw = join(dir, 'dw.db');
  for (const table of ['customers', 'orders', 'events']) {
    const want = tableRows(src, table);
    const got = tableRows(dw, table);
    assert.equal(got.length, want.length, `${table}: ${got.length} rows in the target, ${want.length} in the source`);
    assert.deepEqual(got, want, `${table}: target differs from source`);
  }
  const csv = csvRows(join(dir, 'out/orders.csv')).map((r) => r.join('\u0001')).sort();
  const want = tableRows(src, 'orders').length;
  assert.equal(csv.length, want, 'orders.csv row count');
  assert.equal(new Set(csv).size, csv.length, 'orders.csv has no duplicate rows');
  assert.deepEqual(tableNames(dw).filter((n) => n.startsWith('_pigeon_stg_')), [], 'no staging table left behind');
  assert.ok(!existsSync(join(dir, '.pigeon/locks/crash.lock')), 'lock released');
  const staged = existsSync(join(dir, '.pigeon/staging')) ? readdirSync(join(dir, '.pigeon/staging'), { recursive: true, withFileTypes: true }) : [];
  assert.deepEqual(staged.filter((e) => e.isFile()).map((e) => e.name), [], 'no staging files left behind');
}

const POINTS = [
  'orders:chunk:1',
  'orders:chunk:3',
  'orders:imported',
  'orders:checkpointed',
  'orders:finished',
  'customers:imported',
  'events:imported',
  'orders_csv:imported',
  'orders_csv:checkpointed',
  // Every node done, the run's own bookkeeping (staging files, final status, lock) not yet.
  '@run:executed',
  '@run:recorded',
];

for (const point of POINTS) {
  test(`SIGKILL at ${point}, then pigeon retry: targets equal the source, nothing duplicated`, async () => {
    const t = setup();
    try {
      const first = await pigeon(['run', 'pipelines/crash.yaml', '--progress', '0'], { cwd: t.dir, env: { PIGEON_CRASH_AT: point } });
      assert.equal(first.signal, 'SIGKILL', `the run should have been killed at ${point}: ${first.stderr}`);
      const retry = await pigeon(['retry', '--progress', '0'], { cwd: t.dir });
      assert.equal(retry.code, 0, retry.stderr);
      assertTargetsEqualSource(t.dir);
      // A later run finds nothing new for the watermark node and loads nothing twice.
      const again = await pigeon(['run', 'pipelines/crash.yaml', '--progress', '0'], { cwd: t.dir });
      assert.equal(again.code, 0, again.stderr);
      assertTargetsEqualSource(t.dir);
    } finally {
      t.cleanup();
    }
  });
}

for (const delay of [150, 300, 450, 700]) {
  test(`SIGKILL after ${delay} ms, then pigeon retry until done: targets equal the source`, async () => {
    const t = setup();
    try {
      const first = await pigeon(['run', 'pipelines/crash.yaml', '--progress', '0'], { cwd: t.dir, killAfterMs: delay });
      const runsDir = join(t.dir, '.pigeon/runs');
      const hasRun = existsSync(runsDir) && readdirSync(runsDir).some((id) => existsSync(join(runsDir, id, 'run.json')));
      if (first.signal === 'SIGKILL' && hasRun) {
        const retry = await pigeon(['retry', '--progress', '0'], { cwd: t.dir });
        assert.equal(retry.code, 0, retry.stderr);
      } else if (first.signal === 'SIGKILL') {
        // Killed before the run was recorded: nothing to retry, so run again.
        const again = await pigeon(['run', 'pipelines/crash.yaml', '--progress', '0'], { cwd: t.dir });
        assert.equal(again.code, 0, again.stderr);
      } else {
        assert.equal(first.code, 0, first.stderr);
      }
      assertTargetsEqualSource(t.dir);
    } finally {
      t.cleanup();
    }
  });
}

test('a file target whose writer is SIGKILLed mid-write: the next run removes what it left in the directory', async () => {
  const t = tempDir('pigeon-crash-file-');
  try {
    makeSourceDb(join(t.dir, 'src.db'), 10);
    mkdirSync(join(t.dir, 'pipelines'));
    writeFileSync(
      join(t.dir, 'pipelines/out.yaml'),
      `version: 1
name: out
connections:
  src: { type: sqlite, path: src.db }
  out: { type: file, dir: out }
nodes:
  orders:
    source: { connection: src, table: orders }
    target: { connection: out, table: orders, mode: overwrite }
`,
    );
    const run = startPigeon(['run', 'pipelines/out.yaml', '--progress', '0'], { cwd: t.dir });
    // Kill at the moment the new version of out/orders.csv is being written: its temp file exists.
    const seen = await new Promise<string[]>((resolve) => {
      const poll = setInterval(() => {
        const temps = leftoverFiles(join(t.dir, 'out'));
        if (temps.length > 0 || run.child.exitCode !== null) {
          clearInterval(poll);
          run.child.kill('SIGKILL');
          resolve(temps);
        }
      }, 2);
    });
    const first = await run.done;
    assert.equal(first.signal, 'SIGKILL', `killed while writing: ${first.stderr}`);
    assert.ok(seen.length > 0, 'the kill found a temp file of the writer');
    assert.ok(leftoverFiles(join(t.dir, 'out')).length > 0, 'a killed writer leaves its temp file behind');

    const again = await pigeon(['run', 'pipelines/out.yaml', '--progress', '0'], { cwd: t.dir });
    assert.equal(again.code, 0, again.stderr);
    assert.deepEqual(leftoverFiles(join(t.dir, 'out')), [], 'the next run removed the temp files of the killed one');
    const csv = csvRows(join(t.dir, 'out/orders.csv')).map((r) => r[0]).sort();
    assert.equal(csv.length, tableRows(join(t.dir, 'src.db'), 'orders').length, 'every row once');
    assert.equal(new Set(csv).size, csv.length, 'no duplicate');
  } finally {
    t.cleanup();
  }
});
