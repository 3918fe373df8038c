import { fileURLToPath } from 'node:url';
import { resolve } from 'node:path';

/** A file shipped with pigeon (schemas/…), found from the compiled module's place in dist/src/cli/. */
export function repoFile(rel: string): string {
  return resolve(fileURLToPath(new URL('.', import.meta.url)), '../../..', rel);
}
