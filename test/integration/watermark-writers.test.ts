/**
 * Incremental loads by watermark while the source is being written by concurrent transactions (issue 9, item 5):
 * rows that commit after a larger value was already read must not be lost. Writers keep transactions of 5–45 ms
 * open during 14 runs; then every row of the source must be in the target exactly once (append by an increasing
 * id) or with its last values (merge by an update timestamp set by the server: MySQL NOW(6) at the statement,
 * PostgreSQL now() at the transaction's start).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import mysql from 'mysql2/promise';
import pg from 'pg';
import { pigeon, tempDir } from '../support/cli.js';
import { createDb, type EngineKind } from '../support/engines.js';

const RUNS = 14;

interface Writer {
  begin(): Promise<void>;
  insert(n: number): Promise<void>;
  update(): Promise<void>;
  commit(): Promise<void>;
  end(): Promise<void>;
}

async function writer(kind: EngineKind, db: string): Promise<Writer> {
  if (kind === 'mysql') {
    const c = await mysql.createConnection({ host: '127.0.0.1', port: 3306, user: 'root', database: db });
    return {
      begin: async () => void (await c.query('START TRANSACTION')),
      insert: async (n) => void (await c.query(`INSERT INTO ev (v) VALUES ${Array.from({ length: n }, () => '(0)').join(', ')}`)),
      update: async () => void (await c.query('UPDATE ev SET v = v + 1, updated_at = NOW(6) ORDER BY RAND() LIMIT 1')),
      commit: async () => void (await c.query('COMMIT')),
      end: () => c.end(),
    };
  }
  const c = new pg.Client({ host: '127.0.0.1', port: 5432, user: 'postgres', database: db });
  await c.connect();
  return {
    begin: async () => void (await c.query('BEGIN')),
    insert: async (n) => void (await c.query(`INSERT INTO ev (v) SELECT 0 FROM generate_series(1, ${n})`)),
    update: async () => void (await c.query('UPDATE ev SET v = v + 1, updated_at = now() WHERE id = (SELECT id FROM ev ORDER BY random() LIMIT 1)')),
    commit: async () => void (await c.query('COMMIT')),
    end: () => c.end(),
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

for (const kind of ['mysql', 'postgres'] as const) {
  test(`${kind}: watermark loads during concurrent transactional writes lose no row and load none twice`, async () => {
    const t = tempDir('pigeon-writers-');
    const db = await createDb(kind, t.dir);
    const name = /\/([^/"]+)"/.exec(db.yaml)![1]!;
    const writers: Writer[] = [];
    try {
      await db.exec(
        kind === 'mysql'
          ? 'CREATE TABLE ev (id BIGINT AUTO_INCREMENT PRIMARY KEY, v INT NOT NULL, updated_at DATETIME(6) NOT NULL DEFAULT NOW(6), KEY (updated_at))'
          : 'CREATE TABLE ev (id bigserial PRIMARY KEY, v int NOT NULL, updated_at timestamptz NOT NULL DEFAULT now())',
      );
      writeFileSync(
        join(t.dir, 'p.yaml'),
        `version: 1
name: writers
connections:
  src: ${db.yaml}
  dw: { type: sqlite, path: dw.db }
defaults: { retries: 0 }
nodes:
  by_id:
    source: { connection: src, table: ev, columns: [id] }
    incremental: { column: id, strategy: watermark }
    target: { connection: dw, table: by_id, mode: append }
  by_ts:
    source: { connection: src, table: ev }
    incremental: { column: updated_at, strategy: watermark }
    target: { connection: dw, table: by_ts, mode: merge, key: [id] }
`,
      );
      let writing = true;
      const loops = Array.from({ length: 3 }, async (_, k) => {
        const w = await writer(kind, name);
        writers.push(w);
        let i = 0;
        while (writing) {
          await w.begin();
          await sleep((i * 7 + k * 3) % 20);
          await w.insert(1 + ((i + k) % 5));
          if (i % 3 === 0) await w.update().catch(() => {});
          await sleep(5 + ((i * 13 + k * 11) % 41));
          await w.commit();
          i++;
        }
      });
      for (let r = 0; r < RUNS; r++) {
        const res = await pigeon(['run', 'p.yaml', '--progress', '0'], { cwd: t.dir });
        assert.equal(res.code, 0, res.stderr);
      }
      writing = false;
      await Promise.all(loops);
      const last = await pigeon(['run', 'p.yaml', '--progress', '0'], { cwd: t.dir });
      assert.equal(last.code, 0, last.stderr);

      const source = (await db.rows('SELECT id, v FROM ev ORDER BY id')).map((r) => [String(r[0]), String(r[1])]);
      assert.ok(source.length > 100, `the writers wrote enough rows to race (${source.length})`);
      const dw = new Database(join(t.dir, 'dw.db'), { readonly: true });
      try {
        const ids = (dw.prepare('SELECT id FROM by_id ORDER BY id').raw(true).all() as unknown[][]).map((r) => String(r[0]));
        assert.deepEqual(ids, source.map((r) => r[0]), 'append by id: every id exactly once');
        const merged = (dw.prepare('SELECT id, v FROM by_ts ORDER BY id').raw(true).all() as unknown[][]).map((r) => [String(r[0]), String(r[1])]);
        assert.deepEqual(merged, source, 'merge by timestamp: every row with its last values');
      } finally {
        dw.close();
      }
    } finally {
      for (const w of writers) await w.end().catch(() => {});
      await db.drop().catch(() => {});
      t.cleanup();
    }
  });
}
