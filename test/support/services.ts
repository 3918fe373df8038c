import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { repoRoot } from './paths.js';

/** A test server of scripts/services/; a test file names the ones it needs in a leading `// services: a, b` line. */
export type ServiceName = 'hive' | 'spark-thrift' | 'opensearch' | 'elasticsearch' | 's3' | 'ftp' | 'sftp' | 'redis';

/**
 * The endpoint of a test server, from `PIGEON_TEST_<NAME>` (`npm test` sets it for the files that declare the
 * service): hive and spark-thrift `127.0.0.1:port` (auth in `PIGEON_TEST_HIVE_AUTH`, `…_SPARK_THRIFT_AUTH`);
 * opensearch, elasticsearch and s3 `http://127.0.0.1:port` (bucket in `PIGEON_TEST_S3_BUCKET`); ftp
 * `ftp://user:password@127.0.0.1:port` (CA file in `PIGEON_TEST_FTP_CA`); sftp
 * `sftp://user:password@127.0.0.1:port/data` (key file in `PIGEON_TEST_SFTP_KEY`); redis `redis://127.0.0.1:port`.
 *
 * When the variable is unset (a test file run alone, `node --test dist/test/…`), this starts the server through
 * its script, blocking until it answers (minutes on the first run: downloads), sets the script's `PIGEON_TEST_*`
 * variables in `process.env`, and leaves the server running for the next run; it prints how to stop it.
 */
export function serviceEndpoint(name: ServiceName): string {
  const key = `PIGEON_TEST_${name.toUpperCase().replaceAll('-', '_')}`;
  const preset = process.env[key];
  if (preset) return preset;
  const script = join(repoRoot, 'scripts/services', `${name}.sh`);
  const r = spawnSync('bash', [script, 'start'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  if (r.status !== 0) throw new Error(`the ${name} test server did not start: bash ${script} start exited ${r.status ?? r.signal}`);
  for (const line of r.stdout.split('\n')) {
    const m = /^(PIGEON_TEST_[A-Z0-9_]+)=(.*)$/.exec(line);
    if (m) process.env[m[1]!] = m[2]!;
  }
  const endpoint = process.env[key];
  if (!endpoint) throw new Error(`bash ${script} start printed no ${key}`);
  console.error(`[${name}] ${key}=${endpoint} is left running; stop it with: bash scripts/services/${name}.sh stop`);
  return endpoint;
}
