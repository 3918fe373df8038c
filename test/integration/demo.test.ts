import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pigeon, tempDir } from '../support/cli.js';
import { repoRoot } from '../support/paths.js';
import { tableRows } from '../support/sqlite-fixtures.js';

const pairs = [
  ['customers', 'dim_customers'],
  ['products', 'dim_products'],
  ['orders', 'fact_orders'],
  ['order_items', 'fact_order_items'],
] as const;

test('the demo syncs the sample database, and a second run changes nothing', async () => {
  const t = tempDir('pigeon-demo-');
  try {
    execFileSync(process.execPath, [join(repoRoot, 'dist/scripts/make-demo-db.js')], { cwd: t.dir });
    const demo = join(repoRoot, 'pipelines/demo.yaml');
    const first = await pigeon(['run', demo, '--progress', '0'], { cwd: t.dir });
    assert.equal(first.code, 0, first.stderr);
    const app = join(t.dir, '.pigeon/demo/app.db');
    const dw = join(t.dir, '.pigeon/demo/warehouse.db');
    for (const [src, dst] of pairs) assert.deepEqual(tableRows(dw, dst), tableRows(app, src), `${dst} equals ${src}`);
    const snapshot = () => [
      ...pairs.map(([, dst]) => tableRows(dw, dst).join('\n')),
      readFileSync(join(t.dir, '.pigeon/demo/export/customers.csv'), 'utf8'),
      readFileSync(join(t.dir, '.pigeon/demo/export/daily_sales.csv'), 'utf8'),
    ];
    const before = snapshot();
    const second = await pigeon(['run', demo, '--progress', '0'], { cwd: t.dir });
    assert.equal(second.code, 0, second.stderr);
    assert.match(second.stdout, /order_items\s+succeeded\s+app → warehouse\s+append\s+0\b/, 'nothing new for the id watermark');
    assert.deepEqual(snapshot(), before);
  } finally {
    t.cleanup();
  }
});
