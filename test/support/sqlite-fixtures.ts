import Database from 'better-sqlite3';
import { readFileSync, existsSync } from 'node:fs';
import { parse } from 'csv-parse/sync';

/** A deterministic source database with nasty values, big enough that a run takes a moment. */
export function makeSourceDb(path: string, scale = 1): void {
  const db = new Database(path);
  db.exec(`
    CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT, note TEXT, score REAL, blob BLOB);
    CREATE TABLE orders (id INTEGER PRIMARY KEY, customer_id INTEGER, amount DECIMAL(12,2), status TEXT, updated_at TEXT);
    CREATE TABLE events (id INTEGER PRIMARY KEY, kind TEXT, payload JSON);
  `);
  const nasty = ['', '\\N', 'a,b', 'say "hi"', 'line1\nline2', 'cr\r\nlf', 'tab\there', 'back\\slash', 'emoji 🐦', 'ünïcødé'];
  let seed = 42;
  const rnd = () => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed / 0x7fffffff;
  };
  db.transaction(() => {
    const c = db.prepare('INSERT INTO customers VALUES (?, ?, ?, ?, ?)');
    for (let i = 1; i <= 2000 * scale; i++) {
      c.run(i, `customer ${i}`, i % 11 === 0 ? null : nasty[i % nasty.length], i % 13 === 0 ? null : Math.round(rnd() * 1e6) / 100, i % 17 === 0 ? null : Buffer.from([i % 256, 0, 255, 10, 13, 44, 34]));
    }
    const o = db.prepare('INSERT INTO orders VALUES (?, ?, ?, ?, ?)');
    for (let i = 1; i <= 20000 * scale; i++) {
      // Skewed key space: most ids are small, a few are huge.
      const id = i <= 19000 * scale ? i : 1_000_000_000 + i;
      o.run(id, 1 + (i % 2000), (Math.round(rnd() * 100000) / 100).toFixed(2), i % 9 === 0 ? 'cancelled' : 'paid', `2026-05-${String(1 + (i % 28)).padStart(2, '0')} 10:00:00`);
    }
    const e = db.prepare('INSERT INTO events VALUES (?, ?, ?)');
    for (let i = 1; i <= 5000 * scale; i++) e.run(i, nasty[i % nasty.length], JSON.stringify({ i, s: nasty[(i * 7) % nasty.length] }));
  })();
  db.close();
}

/** Every row of a table, sorted, as JSON strings: a row-by-row comparison that also catches duplicates. */
export function tableRows(path: string, table: string, orderBy = 'id'): string[] {
  const db = new Database(path, { readonly: true });
  db.defaultSafeIntegers(true);
  try {
    return (db.prepare(`SELECT * FROM "${table}" ORDER BY ${orderBy}`).raw(true).all() as unknown[][]).map((r) =>
      JSON.stringify(r, (_k, v) => (typeof v === 'bigint' ? v.toString() : v instanceof Uint8Array || (v && v.type === 'Buffer') ? Buffer.from(v.data ?? v).toString('base64') : v)),
    );
  } finally {
    db.close();
  }
}

export function tableNames(path: string): string[] {
  if (!existsSync(path)) return [];
  const db = new Database(path, { readonly: true });
  try {
    return (db.prepare(`SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name`).all() as { name: string }[]).map((r) => r.name);
  } finally {
    db.close();
  }
}

/** Rows of a CSV file in the exchange format, NULLs as null. */
export function csvRows(path: string): string[][] {
  const rows = parse(readFileSync(path), {
    cast: (value, ctx) => (!ctx.quoting && value === '\\N' ? null : value),
    relax_column_count: false,
  }) as (string | null)[][];
  return rows.slice(1) as string[][];
}
