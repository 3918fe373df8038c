import { open, readFile, unlink, mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { hostname } from 'node:os';
import { PipelineError } from '../errors/pipeline-error.js';

export interface LockInfo {
  readonly pid: number;
  readonly host: string;
  readonly run_id: string;
  readonly started_at: string;
}

export interface Lock {
  readonly takenOver?: LockInfo;
  release(): Promise<void>;
}

/**
 * One run of a pipeline at a time. The lock file is created exclusively (O_EXCL), so two processes cannot both
 * win. A lock whose process is gone (same host, pid not alive) is stale and is taken over.
 */
export async function acquireLock(path: string, runId: string): Promise<Lock> {
  await mkdir(dirname(path), { recursive: true });
  const info: LockInfo = { pid: process.pid, host: hostname(), run_id: runId, started_at: new Date().toISOString() };
  let takenOver: LockInfo | undefined;
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const fh = await open(path, 'wx');
      await fh.writeFile(JSON.stringify(info) + '\n');
      await fh.sync();
      await fh.close();
      return {
        ...(takenOver ? { takenOver } : {}),
        release: async () => {
          // Only remove the lock if it is still ours (a stale-lock takeover by another process replaced it).
          const current = await readLock(path);
          if (current && current.pid === info.pid && current.run_id === info.run_id) await unlink(path).catch(() => {});
        },
      };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    const holder = await readLock(path);
    if (holder && isAlive(holder)) {
      throw new PipelineError(
        'LOCKED',
        `another run of this pipeline is in progress: run ${holder.run_id}, pid ${holder.pid} on ${holder.host}, started ${holder.started_at}`,
        { hint: `wait for it to finish, or if that process is gone, remove ${path}` },
      );
    }
    // Stale (or unreadable because its writer died mid-write): remove and try again.
    takenOver = holder;
    await unlink(path).catch(() => {});
  }
  throw new PipelineError('LOCKED', `could not take the lock ${path}`);
}

async function readLock(path: string): Promise<LockInfo | undefined> {
  try {
    return JSON.parse(await readFile(path, 'utf8')) as LockInfo;
  } catch {
    return undefined;
  }
}

function isAlive(l: LockInfo): boolean {
  if (l.host !== hostname()) return true; // cannot tell for another machine: assume it runs
  try {
    process.kill(l.pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}
