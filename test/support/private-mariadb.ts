/**
 * A MariaDB server of a test's own, for faults that must not touch the shared one (stopping it, killing it): a data
 * directory made by mariadb-install-db and a mariadbd on a free port of 127.0.0.1, root without a password.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import mysql from 'mysql2/promise';
import { tempDir } from './cli.js';

export interface PrivateMariadb {
  readonly port: number;
  readonly pid: number;
  /** The connection as a YAML flow map, for a pipeline file (database `t`). */
  readonly yaml: string;
  connect(): Promise<mysql.Connection>;
  /** Freezes the server (SIGSTOP) or lets it go on (SIGCONT). */
  pause(): void;
  resume(): void;
  stop(): Promise<void>;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

export async function startPrivateMariadb(): Promise<PrivateMariadb> {
  const t = tempDir('pigeon-mariadb-');
  const data = join(t.dir, 'data');
  const install = spawnSync('mariadb-install-db', ['--no-defaults', `--datadir=${data}`, '--user=root', '--auth-root-authentication-method=normal', '--skip-test-db'], {
    encoding: 'utf8',
  });
  if (install.status !== 0) throw new Error(`mariadb-install-db failed: ${install.stderr}`);
  const port = await freePort();
  const child: ChildProcess = spawn(
    'mariadbd',
    [
      '--no-defaults',
      `--datadir=${data}`,
      '--user=root',
      `--port=${port}`,
      '--bind-address=127.0.0.1',
      `--socket=${join(t.dir, 'sock')}`,
      `--pid-file=${join(t.dir, 'pid')}`,
      '--skip-grant-tables',
      '--innodb-buffer-pool-size=32M',
      '--local-infile=1',
      `--log-error=${join(t.dir, 'err.log')}`,
    ],
    { stdio: 'ignore' },
  );
  const connect = () => mysql.createConnection({ host: '127.0.0.1', port, user: 'root' });
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      const c = await connect();
      await c.query('CREATE DATABASE IF NOT EXISTS t');
      await c.end();
      break;
    } catch (e) {
      if (Date.now() > deadline) throw new Error(`mariadbd did not start: ${String(e)}\n${readFileSync(join(t.dir, 'err.log'), 'utf8').slice(-2000)}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  const pid = child.pid!;
  return {
    port,
    pid,
    yaml: `{ type: mysql, url: "mysql://root@127.0.0.1:${port}/t" }`,
    connect: async () => {
      const c = await connect();
      await c.query('USE t');
      return c;
    },
    pause: () => process.kill(pid, 'SIGSTOP'),
    resume: () => process.kill(pid, 'SIGCONT'),
    stop: async () => {
      try {
        process.kill(pid, 'SIGCONT');
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
      await new Promise((r) => (child.exitCode !== null || child.signalCode !== null ? r(undefined) : child.once('exit', r)));
      t.cleanup();
    },
  };
}
