// Starts the database servers the integration tests use when they are installed but not running, and waits for
// them. A server that is not installed is reported, not faked: its tests then fail with a clear connection error.
import { connect } from 'node:net';
import { existsSync, readdirSync } from 'node:fs';
import { spawnSync } from 'node:child_process';

const SERVICES = [
  {
    name: 'MariaDB',
    port: 3306,
    installed: () => existsSync('/usr/sbin/mariadbd'),
    start: () =>
      spawnSync('start-stop-daemon', ['--start', '--oknodo', '--background', '--exec', '/usr/sbin/mariadbd'], { stdio: 'inherit' }),
  },
  {
    name: 'PostgreSQL',
    port: 5432,
    installed: () => existsSync('/etc/postgresql') && readdirSync('/etc/postgresql').length > 0,
    start: () => {
      const version = readdirSync('/etc/postgresql').sort().at(-1);
      return spawnSync('pg_ctlcluster', ['--skip-systemctl-redirect', version, 'main', 'start'], { stdio: 'inherit' });
    },
  },
];

function listening(port) {
  return new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

export async function ensureServices() {
  for (const svc of SERVICES) {
    if (await listening(svc.port)) continue;
    if (!svc.installed()) {
      console.error(`${svc.name} is not installed and nothing listens on 127.0.0.1:${svc.port}; its tests will fail`);
      continue;
    }
    console.error(`starting ${svc.name}…`);
    svc.start();
    const deadline = Date.now() + 60_000;
    while (!(await listening(svc.port)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 500));
    if (!(await listening(svc.port))) console.error(`${svc.name} did not come up on 127.0.0.1:${svc.port} within 60 s`);
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await ensureServices();
