/**
 * CPU time of the benchmark's servers, read from /proc, and a CPU hog to measure with a busy core.
 *
 * A server's CPU over a run is the difference of two readings: for MariaDB, the mariadbd process (its threads'
 * times, exited ones included); for PostgreSQL, the postmaster's own and reaped children's times (a backend that
 * exits during the run is added to the postmaster's cutime/cstime) plus the times of its live children.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';

/** Clock ticks per second of /proc/<pid>/stat (USER_HZ, 100 on Linux everywhere that matters). */
const TICKS = 100;

interface Stat {
  readonly ppid: number;
  /** utime + stime, seconds. */
  readonly own: number;
  /** cutime + cstime: children waited for, seconds. */
  readonly reaped: number;
}

async function stat(pid: number): Promise<Stat | undefined> {
  try {
    const text = await readFile(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces and parentheses: fields are counted after its closing one.
    const f = text.slice(text.lastIndexOf(')') + 2).split(' ');
    const n = (i: number) => Number(f[i - 3]);
    return { ppid: n(4), own: (n(14) + n(15)) / TICKS, reaped: (n(16) + n(17)) / TICKS };
  } catch {
    return undefined;
  }
}

async function children(pid: number): Promise<number[]> {
  const out: number[] = [];
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const s = await stat(Number(name));
    if (s?.ppid === pid) out.push(Number(name));
  }
  return out;
}

/** The CPU seconds a server process has used so far (see the file's comment). */
export async function serverCpu(pid: number, withChildren: boolean): Promise<number | undefined> {
  const s = await stat(pid);
  if (!s) return undefined;
  if (!withChildren) return s.own;
  let total = s.own + s.reaped;
  for (const c of await children(pid)) total += (await stat(c))?.own ?? 0;
  return total;
}

/** One process spinning on one core until `stop()`. */
export function startHog(): { stop(): void } {
  const child: ChildProcess = spawn(process.execPath, ['-e', 'for (;;) {}'], { stdio: 'ignore' });
  return {
    stop() {
      if (child.exitCode === null) child.kill('SIGKILL');
    },
  };
}
