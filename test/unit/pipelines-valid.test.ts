import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { loadPipeline } from '../../src/config/load.js';
import { renderErrors } from '../../src/errors/render.js';
import { repoRoot } from '../support/paths.js';

// Every example we ship must validate: a broken example teaches users the wrong thing.
const dir = join(repoRoot, 'pipelines');
for (const file of readdirSync(dir).filter((f) => /\.ya?ml$/.test(f))) {
  test(`pipelines/${file} validates`, () => {
    const { errors } = loadPipeline(join(dir, file), { env: { ...process.env } });
    assert.equal(errors.length, 0, renderErrors(errors));
  });
}
