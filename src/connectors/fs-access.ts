import { constants } from 'node:fs';
import { access } from 'node:fs/promises';
import { dirname } from 'node:path';

/**
 * Whether pigeon may write `path`: the file itself when it exists, else the nearest directory above it that exists
 * (where the missing directories and the file would be created). For `pigeon check` of file-based targets.
 */
export async function pathWritable(path: string): Promise<{ exists: boolean; writable: boolean; reason?: string }> {
  const exists = await access(path).then(() => true, () => false);
  let at = exists ? path : dirname(path);
  while (!exists && !(await access(at).then(() => true, () => false)) && dirname(at) !== at) at = dirname(at);
  const writable = await access(at, constants.W_OK).then(() => true, () => false);
  return { exists, writable, ...(writable ? {} : { reason: `${at} is not writable` }) };
}
