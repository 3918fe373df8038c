import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** One process's wall time and peak resident memory. */
export interface Sample {
  readonly ms: number;
  /** Peak RSS in KiB; undefined when it could not be measured. */
  readonly rssKiB: number | undefined;
  /** CPU seconds (user + system) of the process and the children it waited for; undefined without GNU time. */
  readonly cpuS?: number;
  /** CPU seconds the database servers used during the run (see cpu.ts), when they were read. */
  readonly servers?: Readonly<Record<string, number>>;
}

const GNU_TIME = '/usr/bin/time';

/**
 * Runs `command` to completion and measures it: wall time from here, CPU from GNU time's `%U` and `%S`, peak RSS
 * from GNU time's `%M` (the child's maximum resident set size, KiB) or, without it, by sampling /proc/<pid>/status VmHWM until the process exits.
 * Rejects with the command's output when it fails.
 */
export async function measure(command: string, args: readonly string[], options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<Sample> {
  const dir = await mkdtemp(join(tmpdir(), 'pigeon-bench-time-'));
  const timeFile = join(dir, 'time');
  const gnu = existsSync(GNU_TIME);
  const [file, argv] = gnu ? [GNU_TIME, ['-f', '%M %U %S', '-o', timeFile, command, ...args]] : [command, [...args]];
  const started = process.hrtime.bigint();
  const child = spawn(file, argv, { cwd: options.cwd, env: options.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const keep = (b: Buffer) => {
    output = (output + b.toString('utf8')).slice(-20_000);
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  let sampled = 0;
  const timer = gnu ? undefined : setInterval(() => void hwm(child.pid).then((k) => (sampled = Math.max(sampled, k ?? 0))), 50);
  const code = await new Promise<number | null>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (c) => resolve(c));
  });
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  if (timer) clearInterval(timer);
  try {
    if (code !== 0) throw new Error(`${command} ${args.join(' ')} exited with ${code}:\n${output}`);
    if (!gnu) return { ms, rssKiB: sampled || undefined };
    // The last line: a child killed by a signal makes GNU time write a line of its own before it.
    const [rss, user, system] = ((await readFile(timeFile, 'utf8')).trim().split('\n').pop() ?? '').split(' ').map(Number);
    const cpuS = (user ?? NaN) + (system ?? NaN);
    return { ms, rssKiB: Number.isFinite(rss) ? rss : undefined, ...(Number.isFinite(cpuS) ? { cpuS } : {}) };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function hwm(pid: number | undefined): Promise<number | undefined> {
  if (pid === undefined) return undefined;
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(await readFile(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

/** Steps of one tool run one after the other: times add up, memory is the largest of any step. */
export function sequence(samples: readonly Sample[]): Sample {
  const known = samples.map((s) => s.rssKiB).filter((k): k is number => k !== undefined);
  const cpu = samples.every((s) => s.cpuS !== undefined) ? { cpuS: samples.reduce((n, s) => n + s.cpuS!, 0) } : {};
  return { ms: samples.reduce((n, s) => n + s.ms, 0), rssKiB: known.length > 0 ? Math.max(...known) : undefined, ...cpu };
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}
