import { link, open, readFile, stat, unlink, mkdir } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { dirname } from 'node:path';
import { hostname } from 'node:os';
import { processAlive } from './process.js';
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
 * One run of a pipeline at a time. The lock file appears whole or not at all: its content is written to a temp file
 * that is then hard-linked to the lock's name, which fails if the lock exists, so two processes cannot both win and
 * nobody ever reads a half-written lock. A lock whose process is gone (same host, pid not alive) is stale and is
 * taken over; takeovers are serialised by a second exclusive file (`<lock>.takeover`), so two processes that find
 * the same stale lock cannot both remove it and both win.
 */
export async function acquireLock(path: string, runId: string): Promise<Lock> {
  await mkdir(dirname(path), { recursive: true });
  const info: LockInfo = { pid: process.pid, host: hostname(), run_id: runId, started_at: new Date().toISOString() };
  let takenOver: LockInfo | undefined;
  for (let attempt = 0; attempt < 200; attempt++) {
    if (await createExclusive(path, info)) {
      return {
        ...(takenOver ? { takenOver } : {}),
        release: async () => {
          // Only remove the lock if it is still ours.
          const current = await readLock(path);
          if (current && current.pid === info.pid && current.run_id === info.run_id) await unlink(path).catch(() => {});
        },
      };
    }
    const holder = await readLock(path);
    if (holder && processAlive(holder.pid, holder.host)) throw lockedBy(holder, path);
    const outcome = await removeStale(path, info);
    if (outcome.holder) throw lockedBy(outcome.holder, path);
    if (outcome.removed) takenOver = outcome.removed;
    else await new Promise((r) => setTimeout(r, 10 + Math.random() * 20)); // another process is taking over: wait
  }
  throw new PipelineError('LOCKED', `could not take the lock ${path}`);
}

function lockedBy(holder: LockInfo, path: string): PipelineError {
  return new PipelineError(
    'LOCKED',
    `another run of this pipeline is in progress: run ${holder.run_id}, pid ${holder.pid} on ${holder.host}, started ${holder.started_at}`,
    { hint: `wait for it to finish, or if that process is gone, remove ${path}` },
  );
}

/** Creates `path` with `info` as its whole content, atomically; false when `path` already exists. */
async function createExclusive(path: string, info: LockInfo): Promise<boolean> {
  const tmp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  const fh = await open(tmp, 'wx');
  try {
    await fh.writeFile(JSON.stringify(info) + '\n');
    await fh.sync();
  } finally {
    await fh.close();
  }
  try {
    await link(tmp, path);
    return true;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') return false;
    if (!['EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'ENOSYS'].includes(code ?? '')) throw e;
    // No hard links on this file system: O_EXCL still gives one winner (a reader may then briefly see it empty).
    return createWithExcl(path, info);
  } finally {
    await unlink(tmp).catch(() => {});
  }
}

async function createWithExcl(path: string, info: LockInfo): Promise<boolean> {
  let fh;
  try {
    fh = await open(path, 'wx');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw e;
  }
  try {
    await fh.writeFile(JSON.stringify(info) + '\n');
    await fh.sync();
  } finally {
    await fh.close();
  }
  return true;
}

/**
 * Removes a stale lock while holding `<lock>.takeover`. Under it nobody else removes a dead process's lock, and a
 * new lock can only appear through createExclusive, which cannot replace an existing file: so a dead lock read under
 * the guard is the one removed. (A missing lock is not "removed": someone may be creating theirs right then.) Returns the removed holder, or the live holder found instead, or neither when another process holds
 * the guard (the caller waits and tries again).
 */
async function removeStale(path: string, info: LockInfo): Promise<{ removed?: LockInfo; holder?: LockInfo }> {
  const guard = `${path}.takeover`;
  if (!(await createExclusive(guard, info))) {
    const other = await readLock(guard);
    // A guard whose process died mid-takeover would block every run: it goes (a guard is never half-written).
    if (other && !processAlive(other.pid, other.host)) await unlink(guard).catch(() => {});
    return {};
  }
  try {
    // Gone already (its remover may be creating its own lock right now): nothing to remove, try again.
    if (!(await exists(path))) return {};
    const current = await readLock(path);
    if (current && processAlive(current.pid, current.host)) return { holder: current };
    await unlink(path).catch(() => {});
    return { removed: current ?? { pid: 0, host: '?', run_id: '(unreadable lock)', started_at: '?' } };
  } finally {
    await unlink(guard).catch(() => {});
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

async function readLock(path: string): Promise<LockInfo | undefined> {
  try {
    return JSON.parse(await readFile(path, 'utf8')) as LockInfo;
  } catch {
    return undefined;
  }
}
