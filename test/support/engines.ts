import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import mysql from 'mysql2/promise';
import pg from 'pg';

export type EngineKind = 'sqlite' | 'mysql' | 'postgres';

/** A fresh database on one engine, for one test: driven directly (not through pigeon) to set up and to check. */
export interface EngineDb {
  readonly kind: EngineKind;
  /** The connection as a YAML flow map, for a pipeline file. */
  readonly yaml: string;
  exec(sql: string, params?: readonly unknown[]): Promise<void>;
  rows(sql: string, params?: readonly unknown[]): Promise<unknown[][]>;
  /** Quotes an identifier the engine's way. */
  q(name: string): string;
  /** Drops the database (or file). */
  drop(): Promise<void>;
}

const MYSQL = { host: '127.0.0.1', port: 3306, user: 'root' };
const PG = { host: '127.0.0.1', port: 5432, user: 'postgres' };

export async function createDb(kind: EngineKind, tmpDir: string): Promise<EngineDb> {
  const name = `pigeon_t_${randomBytes(5).toString('hex')}`;
  switch (kind) {
    case 'sqlite': {
      const path = join(tmpDir, `${name}.db`);
      const db = new Database(path);
      db.defaultSafeIntegers(true);
      return {
        kind,
        yaml: `{ type: sqlite, path: ${JSON.stringify(path)} }`,
        exec: async (sql, params = []) => {
          if (params.length === 0) db.exec(sql);
          else db.prepare(sql).run(...params);
        },
        rows: async (sql, params = []) => db.prepare(sql).raw(true).all(...params) as unknown[][],
        q: (n) => `"${n.replaceAll('"', '""')}"`,
        drop: async () => {
          db.close();
        },
      };
    }
    case 'mysql': {
      const admin = await mysql.createConnection(MYSQL);
      await admin.query(`CREATE DATABASE \`${name}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin`);
      await admin.end();
      const conn = await mysql.createConnection({ ...MYSQL, database: name, supportBigNumbers: true, bigNumberStrings: true, dateStrings: true, timezone: 'Z' });
      await conn.query(`SET time_zone = '+00:00'`);
      return {
        kind,
        yaml: `{ type: mysql, url: "mysql://root@127.0.0.1:3306/${name}" }`,
        exec: async (sql, params) => {
          await conn.query(sql, params as unknown[]);
        },
        rows: async (sql, params) => (await conn.query({ sql, rowsAsArray: true }, params as unknown[]))[0] as unknown[][],
        q: (n) => `\`${n.replaceAll('`', '``')}\``,
        drop: async () => {
          await conn.query(`DROP DATABASE \`${name}\``);
          await conn.end();
        },
      };
    }
    case 'postgres': {
      const admin = new pg.Client({ ...PG, database: 'postgres' });
      await admin.connect();
      await admin.query(`CREATE DATABASE "${name}"`);
      await admin.end();
      const client = new pg.Client({ ...PG, database: name });
      await client.connect();
      await client.query(`SET TIME ZONE 'UTC'`);
      return {
        kind,
        yaml: `{ type: postgres, url: "postgres://postgres@127.0.0.1:5432/${name}" }`,
        exec: async (sql, params) => {
          await client.query(sql, params as unknown[]);
        },
        rows: async (sql, params) => (await client.query({ text: sql, values: params as unknown[], rowMode: 'array' })).rows as unknown[][],
        q: (n) => `"${n.replaceAll('"', '""')}"`,
        drop: async () => {
          await client.end();
          const a = new pg.Client({ ...PG, database: 'postgres' });
          await a.connect();
          await a.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
          await a.end();
        },
      };
    }
  }
}

/** MariaDB refuses statements over max_allowed_packet (16 MiB by default): the nasty table has a 16 MiB value. */
export async function allowLargePackets(): Promise<void> {
  const c = await mysql.createConnection(MYSQL);
  await c.query('SET GLOBAL max_allowed_packet = 1073741824');
  await c.end();
}
