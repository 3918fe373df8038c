/**
 * Hostile names: a table and columns whose names hold quotes, backticks, semicolons, spaces, SQL and Unicode
 * (`t"`'; DROP TABLE canary;--é名`) are copied between every pair of connectors (sqlite, mysql, postgres, file) in
 * every mode: overwrite with a split on the hostile key, append of a column selection, merge on the hostile key
 * (into a table pigeon creates, and into one with a primary key on it), and an incremental watermark on it. Twice,
 * so the second run appends to, merges into and swaps tables that exist. Every value lands where it belongs and a
 * `canary` table in every database survives.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'csv-parse/sync';
import { pigeon, tempDir } from '../support/cli.js';
import { createDb, type EngineDb } from '../support/engines.js';

/** MySQL allows only the Basic Multilingual Plane in identifiers, and no trailing space: no emoji here. */
const TABLE = 't"`\'; DROP TABLE canary;--é名';
const ID = 'i"d';
const COLUMNS = [ID, 'na`me', 'x; DROP TABLE canary', 'Ünï 名 sp'] as const;
const VALUES = ["'); DROP TABLE canary; --", 'say "hi"', 'back`tick', 'ünï 名', '', null] as const;

type Row = (string | null)[];

function sourceRows(second: boolean): Row[] {
  const rows: Row[] = [];
  for (let k = 1; k <= (second ? 6 : 5); k++) {
    const v = (i: number) => VALUES[i % VALUES.length]!;
    rows.push([String(k), second && k === 2 ? 'updated' : `n${k} ${v(k) ?? ''}`, v(k + 1), v(k + 2)]);
  }
  return rows;
}

const SOURCES = ['sqlite', 'mysql', 'postgres', 'file'] as const;
type Kind = (typeof SOURCES)[number];
const MODES = ['ovr', 'app', 'mrg', 'pk', 'wm'] as const;
type Mode = (typeof MODES)[number];

function targetTable(src: Kind, mode: Mode): string {
  return `${TABLE}~${src.slice(0, 2)}_${mode}`;
}

function columnsOf(mode: Mode): readonly string[] {
  return mode === 'app' ? COLUMNS.slice(0, 2) : COLUMNS;
}

/** What each target holds after the first and the second run. */
function expected(mode: Mode): Row[] {
  const first = sourceRows(false);
  const second = sourceRows(true);
  switch (mode) {
    case 'ovr':
    case 'mrg':
    case 'pk':
      return second;
    case 'app':
      return [...first, ...second].map((r) => r.slice(0, 2));
    case 'wm':
      // The watermark on the key reads only row 6 the second time: row 2's update is not seen.
      return [...first, second[5]!];
  }
}

interface Store {
  readonly kind: Kind;
  readonly yaml: string;
  write(rows: readonly Row[]): Promise<void>;
  read(table: string, columns: readonly string[]): Promise<Row[]>;
  canary(): Promise<string[]>;
  drop(): Promise<void>;
}

async function sqlStore(kind: 'sqlite' | 'mysql' | 'postgres', dir: string): Promise<Store> {
  const db: EngineDb = await createDb(kind, dir);
  const q = db.q;
  const text = kind === 'mysql' ? 'VARCHAR(200)' : 'TEXT';
  await db.exec(`CREATE TABLE canary (alive INTEGER)`);
  await db.exec(`INSERT INTO canary VALUES (1)`);
  await db.exec(`CREATE TABLE ${q(TABLE)} (${q(ID)} INTEGER, ${COLUMNS.slice(1).map((c) => `${q(c)} ${text}`).join(', ')})`);
  if (kind !== 'sqlite') {
    // Merge targets with a primary key on the hostile column: the upsert path (ON DUPLICATE KEY / ON CONFLICT).
    for (const src of SOURCES) {
      await db.exec(`CREATE TABLE ${q(targetTable(src, 'pk'))} (${q(ID)} INTEGER PRIMARY KEY, ${COLUMNS.slice(1).map((c) => `${q(c)} ${text}`).join(', ')})`);
    }
  } else {
    for (const src of SOURCES) {
      await db.exec(`CREATE TABLE ${q(targetTable(src, 'pk'))} (${q(ID)} INTEGER PRIMARY KEY, ${COLUMNS.slice(1).map((c) => `${q(c)} ${text}`).join(', ')})`);
    }
  }
  const marker = (i: number) => (kind === 'postgres' ? `$${i + 1}` : '?');
  return {
    kind,
    yaml: db.yaml,
    write: async (rows) => {
      await db.exec(`DELETE FROM ${q(TABLE)}`);
      for (const r of rows) {
        await db.exec(`INSERT INTO ${q(TABLE)} (${COLUMNS.map(q).join(', ')}) VALUES (${r.map((_, i) => marker(i)).join(', ')})`, [Number(r[0]), ...r.slice(1)]);
      }
    },
    read: async (table, columns) =>
      (await db.rows(`SELECT ${columns.map(q).join(', ')} FROM ${q(table)}`)).map((r) => r.map((v) => (v === null ? null : String(v)))),
    canary: async () => (await db.rows(`SELECT alive FROM canary`)).map((r) => String(r[0])),
    drop: () => db.drop(),
  };
}

function csvField(v: string | null): string {
  if (v === null) return '\\N';
  return v === '' || /[",\r\n]/.test(v) || v === '\\N' ? `"${v.replaceAll('"', '""')}"` : v;
}

function fileStore(dir: string): Store {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'canary.csv'), 'alive\n1\n');
  return {
    kind: 'file',
    yaml: `{ type: file, dir: ${JSON.stringify(dir)} }`,
    write: async (rows) => {
      const lines = [COLUMNS, ...rows].map((r) => r.map(csvField).join(','));
      writeFileSync(join(dir, `${TABLE}.csv`), lines.join('\n') + '\n');
      // The sidecar says the key is an integer, so its watermark reads (saved, max] like the SQL sources'.
      const columns = COLUMNS.map((name) => ({ name, type: name === ID ? 'int64' : 'text', nullable: true }));
      writeFileSync(join(dir, `${TABLE}.schema.json`), JSON.stringify({ format: 'pigeon-csv/1', columns }));
    },
    read: async (table, columns) => {
      const records = parse(readFileSync(join(dir, `${table}.csv`)), {
        cast: (value, ctx) => (!ctx.quoting && value === '\\N' ? null : value),
      }) as (string | null)[][];
      const header = records[0] as string[];
      const index = columns.map((c) => header.indexOf(c));
      assert.ok(index.every((i) => i >= 0), `columns ${JSON.stringify(columns)} in ${JSON.stringify(header)}`);
      return records.slice(1).map((r) => index.map((i) => r[i]!));
    },
    canary: async () => readFileSync(join(dir, 'canary.csv'), 'utf8').trim().split('\n').slice(1),
    drop: async () => {},
  };
}

function sorted(rows: readonly Row[]): string[] {
  return rows.map((r) => JSON.stringify(r)).sort();
}

function pipeline(stores: readonly Store[]): string {
  const y = JSON.stringify;
  const nodes: string[] = [];
  for (const src of stores) {
    for (const dst of stores) {
      for (const mode of MODES) {
        const table = y(targetTable(src.kind, mode));
        const split = src.kind !== 'file' && mode === 'ovr' ? `, split: { column: ${y(ID)}, chunks: 3 }` : '';
        const columns = mode === 'app' ? `, columns: [${columnsOf(mode).map((c) => y(c)).join(', ')}]` : '';
        const targetMode = mode === 'ovr' ? 'overwrite' : mode === 'app' || mode === 'wm' ? 'append' : 'merge';
        const key = targetMode === 'merge' ? `, key: [${y(ID)}]` : '';
        nodes.push(`  ${src.kind}_to_${dst.kind}_${mode}:
    source: { connection: s_${src.kind}, table: ${y(TABLE)}${columns}${split} }${mode === 'wm' ? `\n    incremental: { column: ${y(ID)}, strategy: watermark }` : ''}
    target: { connection: t_${dst.kind}, table: ${table}, mode: ${targetMode}${key} }`);
      }
    }
  }
  const connections = stores.flatMap((s) => [`  s_${s.kind}: ${s.yaml}`, `  t_${s.kind}: ${s.yaml}`]);
  return `version: 1\nname: hostile\nconnections:\n${connections.join('\n')}\ndefaults: { retries: 0 }\nconcurrency: 6\nnodes:\n${nodes.join('\n')}\n`;
}

describe('hostile table and column names are quoted on every connector, as source and as target', () => {
  test('every mode between every pair of connectors, twice; the canary tables survive', async () => {
    const t = tempDir('pigeon-hostile-');
    const stores: Store[] = [];
    try {
      for (const kind of ['sqlite', 'mysql', 'postgres'] as const) stores.push(await sqlStore(kind, t.dir));
      stores.push(fileStore(join(t.dir, 'files')));
      writeFileSync(join(t.dir, 'p.yaml'), pipeline(stores));

      const plan = await pigeon(['plan', 'p.yaml'], { cwd: t.dir });
      assert.equal(plan.code, 0, plan.stderr);

      for (const second of [false, true]) {
        for (const s of stores) await s.write(sourceRows(second));
        const r = await pigeon(['run', 'p.yaml', '--progress', '0'], { cwd: t.dir });
        assert.equal(r.code, 0, `${second ? 'second' : 'first'} run\n${r.stdout}\n${r.stderr}`);
      }

      const problems: string[] = [];
      for (const dst of stores) {
        for (const src of stores) {
          for (const mode of MODES) {
            const got = sorted(await dst.read(targetTable(src.kind, mode), columnsOf(mode)));
            const want = sorted(expected(mode));
            if (JSON.stringify(got) !== JSON.stringify(want)) {
              problems.push(`${src.kind} → ${dst.kind} ${mode}:\n  got  ${got.join('\n       ')}\n  want ${want.join('\n       ')}`);
            }
          }
        }
        assert.deepEqual(await dst.canary(), ['1'], `canary of ${dst.kind}`);
      }
      assert.deepEqual(problems, []);
      for (const dst of stores) {
        if (dst.kind !== 'file') continue;
        assert.deepEqual(readdirSync(join(t.dir, 'files')).filter((f) => f.endsWith('.tmp')), []);
      }
    } finally {
      for (const s of stores) await s.drop().catch(() => {});
      t.cleanup();
    }
  });
});
