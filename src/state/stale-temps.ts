import { processAlive } from './process.js';
import { readdir, unlink } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * Temp files pigeon writes before a rename: `….<pid>.<8 hex>.tmp` (atomic-file.ts, lock.ts, a file target's new
 * version) and `….<pid>.<8 hex>.partial` (a DirectoryStore write). The pid says whether the writer still lives.
 */
export const TEMP_NAME = /\.(\d+)\.[0-9a-f]{8}\.(?:tmp|partial)$/;

/**
 * Removes the temp files that processes killed mid-write left under `dir` (down to `depth` levels of folders).
 * A temp file of a live process is in use and stays. Returns the paths removed; a missing `dir` is not an error.
 */
export async function removeStaleTemps(dir: string, depth: number): Promise<string[]> {
  const removed: string[] = [];
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch {
    return removed;
  }
  for (const e of entries) {
    const p = join(dir, e.name);
    if (e.isDirectory()) {
      if (depth > 0) removed.push(...(await removeStaleTemps(p, depth - 1)));
      continue;
    }
    const m = TEMP_NAME.exec(e.name);
    if (!m || processAlive(Number(m[1]))) continue;
    try {
      await unlink(p);
      removed.push(p);
    } catch {
      // Removed by someone else meanwhile, or not ours to remove: either way not worth failing a run for.
    }
  }
  return removed;
}
