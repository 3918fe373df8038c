import { fileURLToPath } from 'node:url';
import { resolve } from 'node:path';

/** The repository root, from the compiled test file's place in dist/test/... */
export const repoRoot = resolve(fileURLToPath(new URL('.', import.meta.url)), '../../..');
export const fixturesDir = resolve(repoRoot, 'test/fixtures');
export const pigeonBin = resolve(repoRoot, 'bin/pigeon.js');
