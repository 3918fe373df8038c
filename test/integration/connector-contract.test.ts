// services: s3, ftp, sftp
/** The connector contract suite (test/support/connector-contract.ts) over every kind pigeon ships. */
import { mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import mysql from 'mysql2/promise';
import pg from 'pg';
import { getConnectorKind } from '../../src/connectors/registry.js';
import { tempDir } from '../support/cli.js';
import { connectorContract } from '../support/connector-contract.js';
import { allowLargePackets, createDb } from '../support/engines.js';
import { testServer } from '../support/remote-server.js';
import { testBucket } from '../support/s3.js';

const kind = (name: string) => getConnectorKind(name)!;

connectorContract({
  kind: kind('sqlite'),
  sql: 'sqlite',
  async place() {
    const t = tempDir('pigeon-contract-sqlite-');
    const path = join(t.dir, 'db.sqlite');
    return {
      config: { path },
      exec: async (sql) => {
        const db = new Database(path);
        try {
          db.exec(sql);
        } finally {
          db.close();
        }
      },
      cleanup: async () => t.cleanup(),
    };
  },
});

/** A fresh directory for the file kind with these settings. */
function filePlace(settings: Record<string, unknown>) {
  return async () => {
    const t = tempDir('pigeon-contract-file-');
    const dir = join(t.dir, 'out');
    mkdirSync(dir);
    return {
      config: { dir, ...settings },
      // Temporary files of a load (`*.tmp`, `*.partial`) must not stay in the user's directory.
      leftovers: async () => readdirSync(dir, { recursive: true }).map(String).filter((f) => /\.(tmp|partial)$/.test(f)),
      cleanup: async () => t.cleanup(),
    };
  };
}

connectorContract({ kind: kind('file'), place: filePlace({}) });
// The file kind in its other layout: a manifest and gzip parts under <table>/.
connectorContract({ kind: kind('file'), label: 'file, prefix layout, gzip', place: filePlace({ layout: 'prefix', compress: 'gzip' }) });

// S3 in both layouts and both compressions, against the S3 test server (scripts/services/s3.sh).
for (const settings of [
  { label: 's3, prefix layout', config: {} },
  { label: 's3, prefix layout, gzip', config: { compress: 'gzip' } },
  { label: 's3, file layout, gzip', config: { layout: 'file', compress: 'gzip' } },
]) {
  connectorContract({
    kind: kind('s3'),
    label: settings.label,
    async place() {
      const s3 = testBucket();
      const prefix = s3.prefix();
      return {
        config: s3.config(prefix, settings.config),
        // Temporary objects and multipart uploads never completed must not stay behind.
        leftovers: async () => [...(await s3.keys(prefix)).filter((k) => /\.(tmp|partial)$/.test(k)), ...(await s3.uploads(prefix))],
        cleanup: () => s3.clear(prefix),
      };
    },
  });
}

// FTP and SFTP against the test servers (scripts/services/ftp.sh: ProFTPD; sftp.sh: OpenSSH), each in both layouts
// and with and without gzip.
for (const settings of [
  { server: 'ftp', label: 'ftp, file layout', config: {} },
  { server: 'ftp', label: 'ftp, prefix layout, gzip', config: { layout: 'prefix', compress: 'gzip' } },
  { server: 'sftp', label: 'sftp, file layout, gzip', config: { compress: 'gzip' } },
  { server: 'sftp', label: 'sftp, prefix layout', config: { layout: 'prefix' } },
] as const) {
  connectorContract({
    kind: kind(settings.server),
    label: settings.label,
    async place() {
      const server = testServer(settings.server);
      const root = server.root();
      return {
        config: server.config(root, settings.config),
        // Temp files of a load (the kit's `*.tmp`, the store's hidden `*.partial` uploads) must not stay behind.
        leftovers: async () => (await server.files(root)).filter((f) => /\.(tmp|partial)$/.test(f)),
        cleanup: () => server.clear(root),
      };
    },
  });
}

connectorContract({
  kind: kind('mysql'),
  sql: 'mysql',
  async place() {
    await allowLargePackets();
    const t = tempDir('pigeon-contract-mysql-');
    const db = await createDb('mysql', t.dir);
    const name = /\/([^/"]+)"/.exec(db.yaml)![1]!;
    const admin = () => mysql.createConnection({ host: '127.0.0.1', port: 3306, user: 'root' });
    return {
      config: { url: `mysql://root@127.0.0.1:3306/${name}` },
      exec: (sql) => db.exec(sql),
      leftovers: async () =>
        (await db.rows(`SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND (TABLE_NAME LIKE '\\_pigeon\\_stg\\_%' OR TABLE_NAME LIKE '\\_pigeon\\_old\\_%')`)).map((r) => String(r[0])),
      sessions: async () => {
        const c = await admin();
        try {
          const [rows] = await c.query(`SELECT COUNT(*) AS n FROM information_schema.PROCESSLIST WHERE DB = ? AND ID <> CONNECTION_ID()`, [name]);
          // The test's own connection to the database is not pigeon's.
          return Number((rows as { n: number }[])[0]!.n) - 1;
        } finally {
          await c.end();
        }
      },
      cleanup: async () => {
        await db.drop();
        t.cleanup();
      },
    };
  },
});

connectorContract({
  kind: kind('postgres'),
  sql: 'postgres',
  async place() {
    const t = tempDir('pigeon-contract-pg-');
    const db = await createDb('postgres', t.dir);
    const name = /\/([^/"]+)"/.exec(db.yaml)![1]!;
    return {
      config: { url: `postgres://postgres@127.0.0.1:5432/${name}` },
      exec: (sql) => db.exec(sql),
      leftovers: async () => (await db.rows(`SELECT relname FROM pg_class WHERE relname LIKE '\\_pigeon\\_stg\\_%' OR relname LIKE '\\_pigeon\\_old\\_%'`)).map((r) => String(r[0])),
      sessions: async () => {
        const c = new pg.Client({ host: '127.0.0.1', port: 5432, user: 'postgres', database: 'postgres' });
        await c.connect();
        try {
          const r = await c.query(`SELECT COUNT(*) AS n FROM pg_stat_activity WHERE datname = $1 AND application_name = 'pigeon'`, [name]);
          return Number(r.rows[0].n);
        } finally {
          await c.end();
        }
      },
      cleanup: async () => {
        await db.drop();
        t.cleanup();
      },
    };
  },
});
