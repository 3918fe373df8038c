import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pigeon, tempDir } from '../support/cli.js';
import { createDb } from '../support/engines.js';
import { repoRoot } from '../support/paths.js';

test('pipelines/mysql-to-postgres.yaml runs end to end on the demo shop data', async () => {
  const t = tempDir('pigeon-example-');
  const app = await createDb('mysql', t.dir);
  const dw = await createDb('postgres', t.dir);
  try {
    // The shop's MySQL database, filled from the demo data by pigeon itself.
    execFileSync(process.execPath, [join(repoRoot, 'dist/scripts/make-demo-db.js'), 'demo.db'], { cwd: t.dir });
    const tables = ['customers', 'products', 'orders', 'order_items'];
    writeFileSync(
      join(t.dir, 'load.yaml'),
      `version: 1\nname: load_shop\nconnections:\n  demo: { type: sqlite, path: demo.db }\n  app: ${app.yaml}\nnodes:\n` +
        tables.map((n) => `  ${n}:\n    source: { connection: demo, table: ${n} }\n    target: { connection: app, table: ${n}, mode: overwrite }\n`).join(''),
    );
    const load = await pigeon(['run', 'load.yaml', '--progress', '0'], { cwd: t.dir });
    assert.equal(load.code, 0, load.stderr);
    await dw.exec('CREATE SCHEMA ods');
    await dw.exec('CREATE SCHEMA report');

    const env = { APP_MYSQL_URL: app.yaml.match(/url: "([^"]+)"/)![1]!, DW_PG_URL: dw.yaml.match(/url: "([^"]+)"/)![1]! };
    const example = join(repoRoot, 'pipelines/mysql-to-postgres.yaml');
    const run = await pigeon(['run', example, '--date', '2026-06-15', '--progress', '0'], { cwd: t.dir, env });
    assert.equal(run.code, 0, run.stderr);
    const count = async (table: string) => Number((await dw.rows(`SELECT count(*) FROM ${table}`))[0]![0]);
    assert.equal(await count('ods.customers'), 5000);
    assert.equal(await count('ods.products'), 500);
    assert.equal(await count('ods.orders'), 40000);
    const dayItems = Number(
      (await app.rows(`SELECT count(*) FROM order_items i JOIN orders o ON o.id = i.order_id WHERE o.created_at >= '2026-06-15' AND o.created_at < '2026-06-16'`))[0]![0],
    );
    assert.ok(dayItems > 0, 'the demo data has orders on 2026-06-15');
    assert.equal(await count('ods.order_items'), dayItems);
    assert.ok((await count('report.daily_sales')) > 0);

    // The next day: the watermark node finds nothing new, the window node adds that day's items.
    const next = await pigeon(['run', example, '--date', '2026-06-16', '--progress', '0'], { cwd: t.dir, env });
    assert.equal(next.code, 0, next.stderr);
    assert.equal(await count('ods.orders'), 40000);
    assert.ok((await count('ods.order_items')) > dayItems);
  } finally {
    await app.drop();
    await dw.drop();
    t.cleanup();
  }
});
