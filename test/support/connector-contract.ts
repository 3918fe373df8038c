/**
 * The contract every connector keeps, as one programmatic suite that each kind registers into (see
 * src/connectors/README.md, "Adding a connector"). It drives the kind for real through the runner's own node code
 * (runNodeAttempt: checkpoints, resume, the export/import overlap), with a test source kind that can fail or stall
 * at a chosen chunk, and reads every result back through the kind's own export.
 *
 * Values are compared by their portable type: decimals and timestamps by value (an engine may print
 * `1.500000` for `1.5`), floats as numbers, JSON as data; everything else (text, binary, dates, booleans) exactly.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import type { ConnectionConfig, ImportMode, IncrementalConfig, NodeConfig, Pipeline, SourceConfig } from '../../src/config/types.js';
import type { Connector, ConnectorKind, CsvSink } from '../../src/connectors/contract.js';
import { ConnectionManager } from '../../src/connectors/runtime.js';
import { openCsv } from '../../src/csv/reader.js';
import type { Cell, ColumnSchema } from '../../src/csv/types.js';
import { encodeRow } from '../../src/csv/writer.js';
import { runNodeAttempt, type NodeAttemptResult } from '../../src/nodes/run-node.js';
import { LocalStagingStore } from '../../src/staging/local-staging.js';
import { FileWatermarkStore } from '../../src/state/watermarks.js';
import { tempDir } from './cli.js';
import { contractSourceKind, type Dataset, type SourceBehaviour } from './contract-source.js';
import { sqlTargetContract, type SqlDialect } from './connector-contract-sql.js';

/** One place (a database, a directory, a bucket prefix) a test may fill, and how to look at it. */
export interface ContractPlace {
  /** The connection's keys besides `name` and `type`. */
  readonly config: Readonly<Record<string, unknown>>;
  /** Other connections the place's connection names (a Redshift target's `s3.connection`), by name. */
  readonly connections?: Readonly<Record<string, Readonly<Record<string, unknown>>>>;
  /** SQL kinds: runs a statement in the place's database (tests make tables of the user's own with it). */
  exec?(sql: string): Promise<void>;
  /** Work tables or temporary files a load left behind (none after a success or a failure). */
  leftovers?(): Promise<readonly string[]>;
  /** Sessions this place's server still has open from pigeon (none once a run has closed its connections). */
  sessions?(): Promise<number>;
  cleanup(): Promise<void>;
}

export interface ContractSubject {
  /** The kind under test: the registry's, or a test's own. */
  readonly kind: ConnectorKind;
  /** Names this registration when a kind is registered more than once (settings of its own): `s3, gzip`. */
  readonly label?: string;
  /** A fresh, empty place for one test. */
  place(): Promise<ContractPlace>;
  /** The source keys that read back a table this kind imported (default `{ table }`). */
  readonly sourceOf?: (table: string) => Omit<SourceConfig, 'connection'>;
  /** Columns of the nasty-values table this subject cannot hold (left out of the round trip), with why in `label`. */
  readonly omit?: readonly string[];
  /** A SQL target: the tests of test/support/connector-contract-sql.ts run too, with statements in this dialect. */
  readonly sql?: SqlDialect;
}

const ID: ColumnSchema = { name: 'id', type: 'int64', nullable: false };

/** The nasty-values table in exchange form: NULLs, empty strings, `\N`, quotes, newlines, 4-byte UTF-8, extremes. */
export const NASTY: Dataset = (() => {
  const columns: ColumnSchema[] = [
    ID,
    { name: 's', type: 'text', nullable: true },
    { name: 'd', type: 'decimal', precision: 20, scale: 6, nullable: true },
    { name: 'f', type: 'float64', nullable: true },
    { name: 'flag', type: 'boolean', nullable: true },
    { name: 'day', type: 'date', nullable: true },
    { name: 'at', type: 'timestamp', nullable: true },
    { name: 'b', type: 'binary', nullable: true },
    { name: 'j', type: 'json', nullable: true },
  ];
  const s = [null, '', '\\N', 'a,b', 'say "hi"', 'line1\nline2', 'cr\r\nlf', 'tab\there', 'back\\slash\\', '🐦 4-byte 𝄞', ' lead and trail ', "it's", 'x; DROP TABLE t', '\\.'];
  const d = ['12345678901234.123456', '-0.000001', '0.000000', null, '1.500000'];
  const f = ['0.1', '1.7976931348623157e+308', '-1.5', '0', null, '2.2250738585072014e-308'];
  const flag = ['true', 'false', null];
  const day = ['1970-01-01', '2038-01-20', '9999-12-31', '1000-01-01', null];
  const at = ['2026-11-26 12:00:00.123456', '1970-01-01 00:00:00', '2038-01-20 03:14:08.000001', null];
  const b = [Buffer.from(Array.from({ length: 256 }, (_, i) => i)).toString('base64'), '', Buffer.from('\\N').toString('base64'), null];
  const j = ['{"a": [1, 2.5, "x\\"y"], "b": null}', '[]', '"str"', null];
  const rows: Cell[][] = [];
  for (let k = 0; k < 40; k++) {
    const at_ = <T>(xs: readonly T[]) => xs[k % xs.length]!;
    rows.push([String(k + 1), at_(s), at_(d), at_(f), at_(flag), at_(day), at_(at), at_(b), at_(j)]);
  }
  return { columns, rows };
})();

/** A small keyed table for the modes: `id`, `v`. */
function keyed(ids: readonly number[], tag: string): Dataset {
  return { columns: [ID, { name: 'v', type: 'text', nullable: true }], rows: ids.map((i) => [String(i), `${tag}${i}`]) };
}

const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

/** Registers the contract tests of one kind. */
export function connectorContract(subject: ContractSubject): void {
  const { kind } = subject;
  const modes = kind.capabilities.modes;
  const firstMode: ImportMode = modes.includes('overwrite') ? 'overwrite' : modes[0]!;

  if (subject.sql) sqlTargetContract(subject, subject.sql);

  describe(`connector contract: ${subject.label ?? kind.kind}`, () => {
    const nasty = without(NASTY, subject.omit ?? []);
    test('the nasty-values table makes a round trip with every value kept', async () => {
      await withPlace(subject, async (h) => {
        await h.load('nasty', firstMode, nasty);
        assertSameRows(await h.read('nasty'), nasty);
      });
    });

    test('an empty export creates the table and loads nothing', async () => {
      await withPlace(subject, async (h) => {
        const empty: Dataset = { columns: nasty.columns, rows: [] };
        const r = await h.load('empty', firstMode, empty);
        assert.equal(r.rowsImported, 0);
        assertSameRows(await h.read('empty'), empty);
      });
    });

    if (modes.includes('append')) {
      test('append adds the rows of every load', async () => {
        await withPlace(subject, async (h) => {
          await h.load('t', 'append', keyed(range(1, 10), 'a'));
          await h.load('t', 'append', keyed(range(5, 12), 'b'));
          assertSameRows(await h.read('t'), { ...keyed([], ''), rows: [...keyed(range(1, 10), 'a').rows, ...keyed(range(5, 12), 'b').rows] });
        });
      });
    }

    if (modes.includes('merge')) {
      test('merge upserts on the key and the last row of a key in a load wins', async () => {
        await withPlace(subject, async (h) => {
          await h.load('t', 'merge', keyed(range(1, 10), 'a'), { key: ['id'] });
          const second = keyed([...range(5, 15), 7], 'b');
          const rows = second.rows.map((r, i) => (i === second.rows.length - 1 ? [r[0]!, 'last7'] : r));
          await h.load('t', 'merge', { ...second, rows }, { key: ['id'] });
          const expected = [...range(1, 4).map((i) => [String(i), `a${i}`]), ...range(5, 15).map((i) => [String(i), i === 7 ? 'last7' : `b${i}`])];
          assertSameRows(await h.read('t'), { ...keyed([], ''), rows: expected });
        });
      });
    }

    if (modes.includes('overwrite')) {
      test('overwrite replaces every row, also by none', async () => {
        await withPlace(subject, async (h) => {
          await h.load('t', 'overwrite', keyed(range(1, 10), 'a'));
          await h.load('t', 'overwrite', keyed(range(20, 25), 'b'));
          assertSameRows(await h.read('t'), keyed(range(20, 25), 'b'));
          await h.load('t', 'overwrite', keyed([], 'c'));
          assertSameRows(await h.read('t'), keyed([], 'c'));
        });
      });
    }

    for (const mode of modes) {
      test(`${mode}: a load that fails mid-way leaves the target as it was, with nothing left behind`, async () => {
        await withPlace(subject, async (h) => {
          const before = keyed(range(1, 8), 'a');
          await h.load('t', mode, before, { key: ['id'] });
          await assert.rejects(h.load('t', mode, keyed(range(1, 400), 'b'), { key: ['id'], behaviour: { chunks: 4, failAt: 3 } }));
          assertSameRows(await h.read('t'), before);
          assert.deepEqual(await h.place.leftovers?.(), h.place.leftovers ? [] : undefined);
        });
      });
    }

    test('an abort mid-load leaves the target as it was and no session open', async () => {
      await withPlace(subject, async (h) => {
        const before = keyed(range(1, 8), 'a');
        await h.load('t', firstMode, before, { key: ['id'] });
        const stop = new AbortController();
        const loading = h.load('t', firstMode, keyed(range(1, 400), 'b'), {
          key: ['id'],
          signal: stop.signal,
          behaviour: { chunks: 4, stallAt: 3, stalled: () => setTimeout(() => stop.abort(new Error('aborted by the test')), 300) },
        });
        await assert.rejects(loading);
        assertSameRows(await h.read('t'), before);
        assert.deepEqual(await h.place.leftovers?.(), h.place.leftovers ? [] : undefined);
        if (h.place.sessions) assert.equal(await h.place.sessions(), 0, 'no session is left open');
      });
    });

    for (const point of ['chunk:2', 'imported']) {
      test(`a crash at ${point}, then a retry: the target holds every row exactly once`, async () => {
        await withPlace(subject, async (h) => {
          const data = keyed(range(1, 300), 'a');
          const mode = modes.includes('append') ? 'append' : firstMode;
          const lineage = `crash-${randomBytes(3).toString('hex')}`;
          const crash = new Error(`simulated crash at ${point}`);
          await assert.rejects(
            h.load('t', mode, data, {
              key: ['id'],
              lineage,
              behaviour: { chunks: 3 },
              fault: (p) => {
                if (p === `n:${point}`) throw crash;
              },
            }),
            (e: unknown) => e === crash,
          );
          const retry = await h.load('t', mode, data, { key: ['id'], lineage, behaviour: { chunks: 3 } });
          assert.ok(retry.chunksResumed >= 1, 'the retry resumed exported chunks');
          assertSameRows(await h.read('t'), data);
        });
      });
    }
  });
}

/** A dataset without some of its columns. */
function without(d: Dataset, omit: readonly string[]): Dataset {
  const keep = d.columns.map((c, i) => (omit.includes(c.name) ? -1 : i)).filter((i) => i >= 0);
  return { columns: keep.map((i) => d.columns[i]!), rows: d.rows.map((r) => keep.map((i) => r[i] ?? null)) };
}

interface LoadOptions {
  readonly key?: readonly string[];
  readonly incremental?: IncrementalConfig;
  /** The node allows values the target cannot hold exactly (`target.lossy: allow`). */
  readonly lossy?: boolean;
  readonly schemaChanges?: NodeConfig['schema_changes'];
  readonly deletes?: NodeConfig['deletes'];
  readonly behaviour?: Partial<SourceBehaviour>;
  readonly lineage?: string;
  readonly signal?: AbortSignal;
  readonly fault?: (point: string) => void;
}

/** One test's place and the loads and reads it runs in it, each as a run of its own would. */
export class Harness {
  readonly place: ContractPlace;
  readonly #subject: ContractSubject;
  readonly #dir: string;

  constructor(subject: ContractSubject, place: ContractPlace, dir: string) {
    this.#subject = subject;
    this.place = place;
    this.#dir = dir;
  }

  #kinds = (type: string): ConnectorKind | undefined =>
    type === contractSourceKind.kind ? contractSourceKind : type === this.#subject.kind.kind ? this.#subject.kind : undefined;

  exec(sql: string): Promise<void> {
    assert.ok(this.place.exec, 'this place runs no statements');
    return this.place.exec(sql);
  }

  #target(): ConnectionConfig {
    return { ...this.place.config, name: 'dst', type: this.#subject.kind.kind };
  }

  #others(): Record<string, ConnectionConfig> {
    return Object.fromEntries(Object.entries(this.place.connections ?? {}).map(([name, c]) => [name, { ...c, name } as ConnectionConfig]));
  }

  async load(table: string, mode: ImportMode, data: Dataset, o: LoadOptions = {}): Promise<NodeAttemptResult> {
    const behaviour: SourceBehaviour = { datasets: new Map([['data', data]]), chunks: 2, ...o.behaviour };
    const node: NodeConfig = {
      name: 'n',
      tags: [],
      depends_on: [],
      source: { connection: 'src', table: 'data' },
      ...(o.incremental ? { incremental: o.incremental } : {}),
      ...(o.schemaChanges ? { schema_changes: o.schemaChanges } : {}),
      ...(o.deletes ? { deletes: o.deletes } : {}),
      target: { connection: 'dst', table, mode, create: 'if_missing', ...(mode === 'merge' && o.key ? { key: o.key } : {}), ...(o.lossy ? { lossy: 'allow' as const } : {}) },
      retries: 0,
      retry_delay: 0,
      timeout: 60_000,
    };
    const pipeline: Pipeline = {
      file: `${this.#dir}/p.yaml`,
      version: 1,
      name: 'contract',
      connections: { ...this.#others(), src: { name: 'src', type: contractSourceKind.kind, behaviour }, dst: this.#target() },
      staging: { dir: `${this.#dir}/staging`, compress: 'none', keep: false },
      concurrency: 1,
      nodes: { n: node },
      secrets: [],
    };
    const connections = new ConnectionManager(pipeline.connections, { cwd: this.#dir, tmpDir: `${this.#dir}/tmp` }, this.#kinds);
    try {
      return await runNodeAttempt(
        node,
        {
          pipeline,
          lineage: o.lineage ?? `run-${randomBytes(3).toString('hex')}`,
          vars: {},
          interval: { start: '2026-01-01 00:00:00', end: '2026-01-02 00:00:00' },
          connections,
          staging: new LocalStagingStore(pipeline.staging.dir, { gzip: false }),
          watermarks: new FileWatermarkStore(`${this.#dir}/state`),
          log: () => {},
          ...(o.fault ? { fault: o.fault } : {}),
        },
        { rowsExported: 0, rowsImported: 0, bytes: 0 },
        o.signal ?? new AbortController().signal,
      );
    } finally {
      await connections.closeAll();
    }
  }

  /** Every row of `table`, read through the kind's own export. */
  read(table: string): Promise<{ columns: readonly ColumnSchema[]; rows: Cell[][] }> {
    const others = this.#others();
    return readThrough(this.#subject.kind, this.#target(), this.#subject.sourceOf?.(table) ?? { table }, this.#dir, (name) => others[name]);
  }
}

/** Every row a source reads, through a kind's own export, in exchange form (for comparing with assertSameRows). */
export async function readThrough(
  kind: ConnectorKind,
  connection: ConnectionConfig,
  source: Omit<SourceConfig, 'connection'>,
  dir: string,
  others?: (name: string) => ConnectionConfig | undefined,
): Promise<{ columns: readonly ColumnSchema[]; rows: Cell[][] }> {
  const create = await kind.load();
  const c: Connector = create(connection, { cwd: dir, tmpDir: `${dir}/tmp`, ...(others ? { connection: others } : {}) });
  await c.open();
  try {
    const req = { node: 'read', source: { connection: connection.name, ...source } };
    const columns = await c.describe(req);
    const pieces: (string | Buffer)[] = [encodeRow(columns.map((x) => x.name))];
    const sink: CsvSink = {
      row: (values) => pieces.push(encodeRow(values)) > 0,
      raw: (bytes) => pieces.push(bytes) > 0,
      drain: async () => {},
    };
    for (const chunk of await c.planChunks(req)) await c.exportChunk(req, chunk, sink);
    const csv = await openCsv(Readable.from(pieces.map((p) => (typeof p === 'string' ? Buffer.from(p) : p))), { name: source.table ?? 'query' });
    const rows: Cell[][] = [];
    for await (const r of csv.rows) rows.push(r.cells);
    return { columns, rows };
  } finally {
    await c.close();
  }
}

/**
 * Starts an overwrite of `table` with `data` that stalls at the third of its four chunks, reads `table` while it
 * stalls, then aborts it; returns what the read saw (the load must fail: it was aborted).
 */
export async function readDuringStalledOverwrite(h: Harness, table: string, data: Dataset): Promise<{ columns: readonly ColumnSchema[]; rows: Cell[][] }> {
  const stop = new AbortController();
  let seen: { columns: readonly ColumnSchema[]; rows: Cell[][] } | undefined;
  let failure: unknown;
  const stalled = h.load(table, 'overwrite', data, {
    signal: stop.signal,
    behaviour: {
      chunks: 4,
      stallAt: 3,
      stalled: () =>
        setTimeout(() => {
          void h.read(table).then(
            (r) => (seen = r),
            (e: unknown) => (failure = e),
          ).finally(() => stop.abort(new Error('stopped by the test')));
        }, 300),
    },
  });
  await assert.rejects(stalled);
  if (failure !== undefined) throw failure;
  assert.ok(seen, 'read while the load was running');
  return seen;
}

/** A connector of `kind` for `connection`, opened, with a temp directory of its own; `done` closes it and removes it. */
export async function openConnector(kind: ConnectorKind, connection: ConnectionConfig): Promise<{ c: Connector; done: () => Promise<void> }> {
  const t = tempDir(`pigeon-${kind.kind}-`);
  const create = await kind.load();
  const c = create(connection, { cwd: t.dir, tmpDir: `${t.dir}/tmp` });
  try {
    await c.open();
  } catch (e) {
    t.cleanup();
    throw e;
  }
  return {
    c,
    done: async () => {
      await c.close();
      t.cleanup();
    },
  };
}

/** Every row a source of connection `connection` reads, sorted by its first column as a number, with the columns. */
export async function readSorted(c: Connector, connection: string, source: Omit<SourceConfig, 'connection'>): Promise<{ columns: string[]; types: string[]; rows: Cell[][] }> {
  const req = { node: 'n', source: { connection, ...source } };
  const columns = await c.describe(req);
  const rows: Cell[][] = [];
  const sink: CsvSink = { row: (v) => rows.push([...v]) > 0, raw: () => true, drain: async () => {} };
  for (const chunk of await c.planChunks(req)) await c.exportChunk(req, chunk, sink);
  return { columns: columns.map((x) => x.name), types: columns.map((x) => x.type), rows: rows.sort((a, b) => Number(a[0]) - Number(b[0])) };
}

export async function withPlace(subject: ContractSubject, fn: (h: Harness) => Promise<void>): Promise<void> {
  const t = tempDir(`pigeon-contract-${subject.kind.kind}-`);
  const place = await subject.place();
  try {
    await fn(new Harness(subject, place, t.dir));
  } finally {
    await place.cleanup().catch(() => {});
    t.cleanup();
  }
}

/** Rows of `actual` (in any order) equal those of `expected`, column by column, compared by portable type. */
export function assertSameRows(actual: { columns: readonly ColumnSchema[]; rows: readonly (readonly Cell[])[] }, expected: Dataset): void {
  const names = expected.columns.map((c) => c.name);
  const at = names.map((n) => {
    const i = actual.columns.findIndex((c) => c.name === n);
    assert.ok(i >= 0, `column ${n} is read back (got ${actual.columns.map((c) => c.name).join(', ')})`);
    return i;
  });
  const canon = (rows: readonly (readonly Cell[])[], pick: (r: readonly Cell[], k: number) => Cell) =>
    rows.map((r) => expected.columns.map((c, k) => canonical(c, pick(r, k)))).sort(byKey);
  assert.deepEqual(
    canon(actual.rows, (r, k) => r[at[k]!] ?? null),
    canon(expected.rows, (r, k) => r[k] ?? null),
  );
}

function byKey(a: readonly Cell[], b: readonly Cell[]): number {
  const x = a.join('\u0000');
  const y = b.join('\u0000');
  const n = Number(a[0]) - Number(b[0]);
  return n !== 0 && !Number.isNaN(n) ? n : x < y ? -1 : x > y ? 1 : 0;
}

function canonical(c: ColumnSchema, v: Cell): Cell {
  if (v === null) return null;
  switch (c.type) {
    case 'decimal':
      return v.includes('.') ? v.replace(/0+$/, '').replace(/\.$/, '').replace(/^-0$/, '0') : v;
    case 'time':
    case 'timestamp':
    case 'timestamptz': {
      // Fractional zeros are the engine's spelling (`00:00:00.000000`, `…:01.5+00`); so is `+00` against `+00:00`.
      const m = /^(.*?)(Z|[+-]\d{2}(?::?\d{2})?)?$/.exec(v)!;
      const zone = m[2] === undefined ? '' : /^(Z|[+-]00(:?00)?)$/.test(m[2]) ? '+00' : m[2];
      const time = m[1]!.includes('.') ? m[1]!.replace(/0+$/, '').replace(/\.$/, '') : m[1]!;
      return `${time}${zone}`;
    }
    case 'float32':
      // An engine may print a float32 as its own shortest text (`3.4028235e+38`), which as a double is another value.
      return String(Math.fround(Number(v)));
    case 'float64':
      return String(Number(v));
    case 'json':
      return JSON.stringify(sortKeys(JSON.parse(v)));
    default:
      return v;
  }
}

function sortKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortKeys);
  if (v && typeof v === 'object') return Object.fromEntries(Object.keys(v).sort().map((k) => [k, sortKeys((v as Record<string, unknown>)[k])]));
  return v;
}
