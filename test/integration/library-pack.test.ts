/**
 * pigeon as a library, from the packed package: `npm pack` makes the tarball, a scratch project gets it as
 * node_modules/pigeon (unpacked as npm installs it; the scratch project sits under the repository so pigeon's own
 * dependencies, the native SQLite driver among them, resolve from its node_modules without a download), then the
 * README's example is type-checked by tsc (strict, NodeNext: the `exports` map and the declarations) and run.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from '../support/paths.js';
import { makeSourceDb } from '../support/sqlite-fixtures.js';

/** The example the README shows, word for word between its markers. */
function readmeExample(): string {
  const readme = readFileSync(join(repoRoot, 'README.md'), 'utf8');
  const m = /<!-- library-example -->\s*```ts\n([\s\S]*?)```/.exec(readme);
  assert.ok(m, 'the README has the library example');
  return m[1]!;
}

test('the packed package imports from TypeScript with types, and the README example runs', () => {
  mkdirSync(join(repoRoot, 'test-artifacts'), { recursive: true });
  const scratch = mkdtempSync(join(repoRoot, 'test-artifacts', 'pack-'));
  try {
    const out = execFileSync('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', scratch], { cwd: repoRoot, encoding: 'utf8' });
    const [info] = JSON.parse(out) as { filename: string; files: { path: string }[] }[];
    const paths = info!.files.map((f) => f.path);
    assert.ok(paths.includes('dist/src/index.d.ts') && paths.includes('dist/src/index.js') && paths.includes('schemas/pipeline.schema.json'));
    assert.ok(!paths.some((p) => p.startsWith('dist/test/') || p.startsWith('src/')), 'only what a user needs');

    const project = join(scratch, 'project');
    mkdirSync(join(project, 'node_modules', 'pigeon'), { recursive: true });
    execFileSync('tar', ['xzf', join(scratch, info!.filename), '-C', join(project, 'node_modules', 'pigeon'), '--strip-components=1']);
    writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'scratch', private: true, type: 'module' }));
    writeFileSync(
      join(project, 'tsconfig.json'),
      JSON.stringify({ compilerOptions: { target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, outDir: 'out', skipLibCheck: false, types: ['node'], typeRoots: [join(repoRoot, 'node_modules/@types')] }, files: ['example.ts'] }),
    );
    writeFileSync(join(project, 'example.ts'), readmeExample());
    mkdirSync(join(project, 'pipelines'));
    mkdirSync(join(project, 'data'));
    makeSourceDb(join(project, 'data', 'app.db'));
    writeFileSync(
      join(project, 'pipelines', 'nightly.yaml'),
      `version: 1\nname: nightly\nconnections:\n  app: { type: sqlite, path: data/app.db }\n  out: { type: file, dir: exports }\nnodes:\n  orders:\n    source: { connection: app, table: orders }\n    target: { connection: out, table: orders, mode: overwrite }\n  customers:\n    source: { connection: app, table: customers }\n    target: { connection: out, table: customers, mode: overwrite }\n`,
    );
    execFileSync(join(repoRoot, 'node_modules', '.bin', 'tsc'), ['-p', 'tsconfig.json'], { cwd: project, encoding: 'utf8' });
    const d = readFileSync(join(project, 'node_modules', 'pigeon', 'dist', 'src', 'index.d.ts'), 'utf8');
    assert.match(d, /export declare function runPipeline\(file: string, options\?: RunOptions\): Promise<RunOutcome>/);
    const ran = execFileSync(process.execPath, [join('out', 'example.js')], { cwd: project, encoding: 'utf8' });
    assert.match(ran, /nodes: orders, customers/);
    assert.match(ran, /succeeded: orders succeeded 20000 rows/);
    assert.match(readFileSync(join(project, 'exports', 'orders.csv'), 'utf8'), /^id,customer_id,amount,status,updated_at\n/);

    // A file with a problem: errors, not an exception.
    writeFileSync(join(project, 'pipelines', 'nightly.yaml'), 'version: 1\nname: x\nnodes: {}\nconnections: {}\nbogus: 1\n');
    const bad = execFileSync(process.execPath, [join('out', 'example.js')], { cwd: project, encoding: 'utf8' });
    assert.match(bad, /UNKNOWN_KEY at pipelines\/nightly\.yaml:5/);
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
});
