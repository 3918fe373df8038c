import { hostname } from 'node:os';

/**
 * Whether the process `pid` of host `host` (default this one) may still be running: a process of another host cannot
 * be seen from here and counts as running; a pid that exists but is not ours to signal (EPERM) runs.
 */
export function processAlive(pid: number, host: string = hostname()): boolean {
  if (host !== hostname()) return true;
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}
