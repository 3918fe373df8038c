/**
 * Creates the demo shop database used by `npm run demo` (pipelines/demo.yaml):
 *
 *   node dist/scripts/make-demo-db.js [path] [--force]
 *
 * `path` defaults to `.pigeon/demo/app.db` under the current directory. An existing file is kept unless `--force`.
 * The content is the same on every run (seeded PRNG, fixed dates in 2026), about 100k rows, with the values that
 * break naive CSV code: NULLs, empty strings, a literal `\N`, quotes, commas, newlines, accents and emoji.
 * The database is built in `path + '.partial'` and renamed into place, so an interrupted run leaves no half database.
 */
import { existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import Database from 'better-sqlite3';
import { mulberry32 } from './prng.js';

const COUNTS = { customers: 5_000, products: 500, orders: 40_000 } as const;
/** Orders get one item, and a second one with this probability: about 55,000 items. */
const SECOND_ITEM = 0.375;

const FIRST_NAMES = ['Anna', 'Ben', 'Chloé', 'Dmitri', 'Émile', 'Fatima', 'Günter', 'Hana', 'Ігор', 'José', 'Kai', 'Léa', 'Mónica', 'Nils', 'Olivia', 'Pádraig', 'Quinn', 'Renée', 'Søren', 'Tomás', 'Ümit', 'Wei', 'Yūki', 'Zoë'];
const LAST_NAMES = ['Andersson', 'Brontë', 'Castañeda', 'Dubois', 'Eriksen', 'Fischer', 'García', 'Hernández', 'Ivanova', 'Jørgensen', 'Kowalski', 'Łukasz', 'Müller', 'Nakamura', 'O\'Brien', 'Petrov', 'Rossi', 'Schröder', 'Tanaka', 'Van der Berg', 'Weiß', 'Yılmaz', 'Zhang'];
/** Names no CSV writer gets right by accident. */
const ODD_NAMES = ['Smith, John', 'Robert "Bob" Tables', 'Ana 😀 Lima', '  padded  ', 'Zoë "Z", Jr.', 'line\nbreak', '\\N', 'Chloë 🚀'];
const COUNTRIES = ['DE', 'FR', 'US', 'GB', 'ES', 'IT', 'NL', 'PL', 'SE', 'JP', 'BR', 'CA'];
const DOMAINS = ['example.com', 'mail.test', 'shop.invalid'];
const CATEGORIES = ['books', 'garden', 'kitchen', 'toys', 'electronics', 'sports', 'office'];
const ADJECTIVES = ['Classic', 'Compact', 'Deluxe', 'Eco', 'Giant', 'Mini', 'Pro', 'Smart', 'Ultra', 'Vintage'];
const NOUNS = ['Backpack', 'Blender', 'Chair', 'Desk Lamp', 'Drone', 'Kettle', 'Notebook', 'Puzzle', 'Racket', 'Teapot', 'Umbrella', 'Yoga Mat'];
const STATUSES = ['pending', 'paid', 'shipped', 'delivered', 'delivered', 'delivered', 'cancelled', 'refunded'];
const NOTES = ['', 'Leave at the door', 'Gift wrap, please', 'Call before delivery\nRing twice', 'Deliver after 6 pm; "back door"', 'Fragile 📦', '\\N', 'Ünterschrift nötig'];

const START = Date.UTC(2026, 0, 1);
const ORDERS_END = Date.UTC(2026, 10, 25, 23, 59, 59);
const HOUR = 3_600_000;

const random = mulberry32(20260101);
const int = (min: number, max: number): number => min + Math.floor(random() * (max - min + 1));
const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)] as T;
const chance = (p: number): boolean => random() < p;
const two = (n: number): string => String(n).padStart(2, '0');

/** `YYYY-MM-DD HH:MM:SS` of a UTC instant: the wall-clock text the demo stores, with no zone. */
function timestamp(ms: number): string {
  const d = new Date(ms);
  return `${d.getUTCFullYear()}-${two(d.getUTCMonth() + 1)}-${two(d.getUTCDate())} ${two(d.getUTCHours())}:${two(d.getUTCMinutes())}:${two(d.getUTCSeconds())}`;
}

function between(from: number, to: number): number {
  return from + Math.floor(random() * ((to - from) / 1000)) * 1000;
}

const SCHEMA = `
  CREATE TABLE customers (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    email TEXT,
    country TEXT NOT NULL,
    created_at DATETIME NOT NULL
  );
  CREATE TABLE products (
    id INTEGER PRIMARY KEY,
    sku TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    price DECIMAL(12,2) NOT NULL,
    category TEXT NOT NULL
  );
  CREATE TABLE orders (
    id INTEGER PRIMARY KEY,
    customer_id INTEGER NOT NULL REFERENCES customers(id),
    status TEXT NOT NULL,
    amount DECIMAL(12,2) NOT NULL,
    note TEXT,
    created_at DATETIME NOT NULL,
    updated_at DATETIME NOT NULL
  );
  CREATE TABLE order_items (
    id INTEGER PRIMARY KEY,
    order_id INTEGER NOT NULL REFERENCES orders(id),
    product_id INTEGER NOT NULL REFERENCES products(id),
    quantity INTEGER NOT NULL,
    unit_price DECIMAL(12,2) NOT NULL
  );
  CREATE INDEX orders_updated_at ON orders(updated_at);
`;

function fill(db: Database.Database): Record<string, number> {
  const insertCustomer = db.prepare('INSERT INTO customers (id, name, email, country, created_at) VALUES (?, ?, ?, ?, ?)');
  const insertProduct = db.prepare('INSERT INTO products (id, sku, name, price, category) VALUES (?, ?, ?, ?, ?)');
  const insertOrder = db.prepare(
    'INSERT INTO orders (id, customer_id, status, amount, note, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)',
  );
  const insertItem = db.prepare('INSERT INTO order_items (id, order_id, product_id, quantity, unit_price) VALUES (?, ?, ?, ?, ?)');

  for (let id = 1; id <= COUNTS.customers; id++) {
    const first = pick(FIRST_NAMES);
    const last = pick(LAST_NAMES);
    const name = chance(0.01) ? pick(ODD_NAMES) : `${first} ${last}`;
    const local = `${first}.${last}`.normalize('NFD').replace(/[^A-Za-z.]/g, '').toLowerCase();
    const email = chance(0.02) ? null : `${local}${id}@${pick(DOMAINS)}`;
    insertCustomer.run(id, name, email, pick(COUNTRIES), timestamp(between(Date.UTC(2024, 0, 1), Date.UTC(2026, 0, 1))));
  }

  /** Prices in cents, so order amounts add up exactly. */
  const priceCents: number[] = [0];
  for (let id = 1; id <= COUNTS.products; id++) {
    const cents = int(2, 500) * 100 - pick([1, 5, 10, 51]);
    priceCents.push(cents);
    insertProduct.run(id, `SKU-${String(id).padStart(5, '0')}`, `${pick(ADJECTIVES)} ${pick(NOUNS)}`, cents / 100, pick(CATEGORIES));
  }

  let items = 0;
  for (let id = 1; id <= COUNTS.orders; id++) {
    const created = between(START, ORDERS_END);
    const updated = Math.min(ORDERS_END, created + (chance(0.3) ? 0 : int(1, 24 * 14) * HOUR));
    const lines = chance(SECOND_ITEM) ? 2 : 1;
    let total = 0;
    const orderItems: [number, number, number][] = [];
    for (let line = 0; line < lines; line++) {
      const product = int(1, COUNTS.products);
      const quantity = chance(0.8) ? 1 : int(2, 5);
      const unit = priceCents[product] as number;
      total += unit * quantity;
      orderItems.push([product, quantity, unit]);
    }
    const note = chance(0.6) ? null : pick(NOTES);
    insertOrder.run(id, int(1, COUNTS.customers), pick(STATUSES), total / 100, note, timestamp(created), timestamp(updated));
    for (const [product, quantity, unit] of orderItems) insertItem.run(++items, id, product, quantity, unit / 100);
  }
  return { customers: COUNTS.customers, products: COUNTS.products, orders: COUNTS.orders, order_items: items };
}

function main(): void {
  const { values, positionals } = parseArgs({
    options: { force: { type: 'boolean', default: false } },
    allowPositionals: true,
  });
  if (positionals.length > 1) {
    console.error('usage: make-demo-db [path] [--force]');
    process.exit(2);
  }
  const path = resolve(positionals[0] ?? '.pigeon/demo/app.db');
  if (existsSync(path) && values.force !== true) {
    console.log(`demo database exists: ${path}`);
    return;
  }

  mkdirSync(dirname(path), { recursive: true });
  const partial = path + '.partial';
  rmSync(partial, { force: true });
  const started = performance.now();
  const db = new Database(partial);
  let counts: Record<string, number>;
  try {
    db.pragma('journal_mode = OFF');
    db.pragma('synchronous = OFF');
    db.exec(SCHEMA);
    counts = db.transaction(fill)(db);
    db.close();
  } catch (e) {
    if (db.open) db.close();
    rmSync(partial, { force: true });
    throw e;
  }
  renameSync(partial, path);
  const summary = Object.entries(counts)
    .map(([table, rows]) => `${table} ${rows}`)
    .join(', ');
  console.log(`demo database created: ${path} (${summary}) in ${Math.round(performance.now() - started)} ms`);
}

main();
