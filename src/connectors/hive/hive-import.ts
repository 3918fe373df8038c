import { mkdir, rm, readdir, writeFile } from 'node:fs/promises';
import { setTimeout as delay } from 'node:timers/promises';
import { join } from 'node:path';
import { PipelineError, toPipelineError } from '../../errors/pipeline-error.js';
import type { ChunkFeed, ImportRequest, ImportResult } from '../contract.js';
import { abortableChunks } from '../feed.js';
import { describeHolds } from '../lossy.js';
import { widenedColumn, type SchemaChanges } from '../sql/schema-changes.js';
import { stagedImport, targetColumn, type StagedLoad, type TargetColumn, type TargetTable } from '../sql/staged-import.js';
import type { ColumnSchema } from '../../csv/types.js';
import { workTableName, workTablePrefix } from '../sql/work-tables.js';
import { isServerAnswer, type HiveSession, type HiveSessions } from './hive-session.js';
import { HIVE_LOADS_TABLE, HIVE_STAGING_PREFIX, hiveSql, qualified, type CommitColumn, type CommitPlan } from './hive-sql.js';
import { hiveTypeFor, parseHiveType, portableFromHive, type HiveType } from './hive-types.js';
import { sentinelRow, stageChunk } from './hive-load.js';
import { columnCheck, type ColumnCheck } from './hive-checks.js';

interface HiveColumn extends TargetColumn {
  readonly type: HiveType;
}

/** An existing target: its data columns and its partition columns, in the table's order. */
interface HiveTarget extends TargetTable {
  readonly columns: readonly HiveColumn[];
  readonly partitions: readonly HiveColumn[];
}

const NAME = /^[A-Za-z0-9_]+$/;
/** How long a retry waits for a crashed attempt's commit that HiveServer2 may still be finishing. */
const COMMIT_SETTLE_MS = 15_000;

/** `db.table` or `table` (in the connection's database); Hive keeps names in lower case. */
export function targetName(table: string, database: string): { database: string; name: string } {
  const parts = table.split('.');
  if (parts.length > 2 || !parts.every((p) => NAME.test(p))) {
    throw new PipelineError('IMPORT_FAILED', `Hive table name \`${table}\` must be \`table\` or \`database.table\` of letters, digits and _`, { table });
  }
  return parts.length === 2 ? { database: parts[0]!.toLowerCase(), name: parts[1]!.toLowerCase() } : { database, name: parts[0]!.toLowerCase() };
}

/**
 * One import into Hive: the chunk files converted to Hive's delimited text in the staging directory (each value
 * checked against its target column, hive-checks.ts), one `LOAD DATA LOCAL INPATH` of that directory into a staging
 * table of STRING columns, then one multi-insert that writes the target with casts to its types together with the
 * load record (hiveSql.commit).
 */
export async function hiveImport(sessions: HiveSessions, req: ImportRequest, feed: ChunkFeed, signal?: AbortSignal): Promise<ImportResult> {
  signal?.throwIfAborted();
  const s = await sessions.take(signal);
  let released = false;
  const load = new HiveLoad(sessions, s, req, signal);
  try {
    return await stagedImport(req, feed, signal, load);
  } catch (e) {
    let clean: HiveSession | undefined = s;
    if (s.broken || signal?.aborted) {
      // The session may be gone (or busy cancelling): clean up on a fresh one.
      sessions.release(s);
      released = true;
      clean = await sessions.take().catch(() => undefined);
    }
    if (clean !== undefined) {
      await load.cleanUp(clean);
      // Taken anew (possibly the same session, given back and taken again): given back here; else in finally.
      if (released) sessions.release(clean);
    }
    if (signal?.aborted) throw toPipelineError(signal.reason, 'ABORTED', { connection: sessions.config.name, table: req.table });
    throw sessions.error(e, 'IMPORT_FAILED', { table: req.table });
  } finally {
    if (!released) sessions.release(s);
  }
}

/** Whether an incremental node's target is gone or empty (its watermark would then skip rows it never loaded). */
export async function hiveProbeTarget(sessions: HiveSessions, table: string, signal?: AbortSignal): Promise<'missing' | 'empty' | 'filled'> {
  const { database, name } = targetName(table, sessions.config.database);
  try {
    return await sessions.with(signal, async (s) => {
      if (!(await tablesOf(s, database, signal)).includes(name)) return 'missing';
      return (await s.rows(hiveSql.anyRow(qualified(database, name)), signal)).length > 0 ? 'filled' : 'empty';
    });
  } catch (e) {
    throw sessions.error(e, 'IMPORT_FAILED', { table });
  }
}

export async function hiveIsCommitted(sessions: HiveSessions, table: string, loadId: string, signal?: AbortSignal): Promise<boolean> {
  const { database } = targetName(table, sessions.config.database);
  try {
    return await sessions.with(signal, async (s) => {
      if (!(await tablesOf(s, database, signal)).includes(HIVE_LOADS_TABLE)) return false;
      return (await s.rows(hiveSql.loadCommitted(database, loadId, table), signal)).length > 0;
    });
  } catch (e) {
    throw sessions.error(e, 'IMPORT_FAILED', { table });
  }
}

class HiveLoad implements StagedLoad<HiveTarget> {
  readonly caseInsensitiveNames = true;
  readonly #sessions: HiveSessions;
  readonly #s: HiveSession;
  readonly #req: ImportRequest;
  readonly #signal: AbortSignal | undefined;
  readonly #database: string;
  readonly #name: string;
  readonly #staging: string;
  #stagingCreated = false;
  #targetCreated = false;
  readonly #chunkNames = new Map<number, string>();
  #planned: CommitPlan | undefined;
  /** `schema_changes: recreate`: the commit fills a new table, which then replaces the target. */
  #replacing = false;

  constructor(sessions: HiveSessions, s: HiveSession, req: ImportRequest, signal: AbortSignal | undefined) {
    this.#sessions = sessions;
    this.#s = s;
    this.#req = req;
    this.#signal = signal;
    const { database, name } = targetName(req.table, sessions.config.database);
    this.#database = database;
    this.#name = name;
    this.#staging = workTableName(HIVE_STAGING_PREFIX, `${database}.${name}`, req.loadId);
  }

  #q(table: string): string {
    return qualified(this.#database, table);
  }

  /** The new table of a recreate (a work table: the next load drops it as a leftover, after finishing its swap). */
  get #replacement(): string {
    return `${this.#staging}_rep`;
  }

  /** The staging table of the source's key set (`deletes: detect`). */
  get #keys(): string {
    return `${this.#staging}_keys`;
  }

  /** The new table of a recreate takes the target's place: two metastore operations, after its commit. */
  async #swapIn(): Promise<void> {
    await this.#s.exec(hiveSql.dropTable(this.#q(this.#name)), this.#signal);
    await this.#s.exec(hiveSql.renameTable(this.#q(this.#replacement), this.#q(this.#name)), this.#signal);
  }

  /** schema_changes add_columns: `ADD COLUMNS` and `CHANGE COLUMN` to a wider type (Hive changes no data file). */
  async evolve(target: HiveTarget, changes: SchemaChanges): Promise<HiveTarget> {
    const table = this.#q(this.#name);
    const parted = target.partitions.length > 0;
    const first = changes.widened[0];
    if (first && !this.#sessions.changesColumnTypes) {
      throw new PipelineError('SCHEMA_CHANGED', `column \`${first.column.name}\` of \`${this.#req.table}\` would have to be widened to hold the export's ${describeHolds(first.column)}, and this server (Spark SQL) cannot change a column's type`, {
        table: this.#req.table,
        column: first.column.name,
        hint: 'widen the column by hand, or rebuild the table with `schema_changes: recreate` (overwrite)',
      });
    }
    if (changes.added.length > 0) {
      await this.#s.exec(hiveSql.addColumns(table, changes.added.map((c) => ({ name: c.name, type: hiveTypeFor(c) })), parted), this.#signal);
    }
    for (const { column, from } of changes.widened) {
      const t = targetColumn(target.columns, column.name, true)!;
      await this.#s.exec(hiveSql.changeColumn(table, t.name, hiveTypeFor(widenedColumn(column, from)), parted), this.#signal);
    }
    return (await this.target())!;
  }

  /**
   * schema_changes recreate: the load runs as into a missing table; the commit fills a new table from the export's
   * schema and then drops the old and renames the new into its place (see #swapIn; a crash in between is finished by
   * the retry, which finds the load recorded).
   */
  async replace(): Promise<void> {
    this.#replacing = true;
  }

  /** deletes: detect: the source's key set staged like the rows, into a table of its own. */
  async loadKeys(_target: HiveTarget | undefined, feed: ChunkFeed): Promise<number> {
    const plan = this.#planned!;
    const key = plan.key.map((k) => this.#req.columns.findIndex((c) => c.name.toLowerCase() === k.toLowerCase()));
    const columns = key.map((i) => this.#req.columns[i]!);
    const checks = key.map((i) => {
      const into = plan.columns.find((t) => t.from === i);
      return into === undefined ? undefined : columnCheck(this.#req.columns[i]!, into.type, plan.lossy);
    });
    return this.#stage(this.#keys, columns, checks, feed, false);
  }

  async committed(): Promise<boolean> {
    await this.#s.exec(hiveSql.createLoads(this.#database), this.#signal);
    const recorded = async () => (await this.#s.rows(hiveSql.loadCommitted(this.#database, this.#req.loadId, this.#req.table), this.#signal)).length > 0;
    const tables = await tablesOf(this.#s, this.#database, this.#signal);
    if (await recorded()) {
      // A recreate that committed into its new table and died before putting it in place: finish the swap.
      if (tables.includes(this.#replacement)) await this.#swapIn();
      return true;
    }
    if (!tables.includes(this.#staging)) return false;
    const marked = (await this.#s.rows(hiveSql.committing(this.#q(this.#staging)), this.#signal))[0]?.[1];
    if (marked !== 'started') return false;
    // An earlier attempt of this load died while its commit ran. HiveServer2 cancels a disconnected client's
    // statement, but not while it moves files: give it time to finish and record itself.
    for (const until = Date.now() + COMMIT_SETTLE_MS; Date.now() < until; ) {
      await delay(1_000, undefined, this.#signal ? { signal: this.#signal } : {});
      if (await recorded()) return true;
    }
    // Cancelled between the commit's two moves (the target's files, then the record's), an append has added its
    // rows without recording them. Replaying an overwrite, a merge or a window append gives the same table again;
    // an append would add the rows twice, so it goes on only when the target holds none of them.
    if (this.#req.mode === 'append' && !this.#req.replaceWindow) {
      const target = await this.target();
      if (target) {
        const found = Number((await this.#s.rows(hiveSql.stagedRowsInTarget(this.#plan(target, 0)), this.#signal))[0]?.[0] ?? 0);
        if (found > 0) {
          throw new PipelineError(
            'IMPORT_FAILED',
            `an earlier attempt of this append was interrupted while Hive committed it, and \`${this.#req.table}\` holds ${found} of its rows: pigeon cannot tell whether it added them`,
            {
              table: this.#req.table,
              hint: `if it did, record the load with INSERT INTO ${this.#database}.${HIVE_LOADS_TABLE} VALUES ('${this.#req.loadId}', '${this.#req.table}', ${found}, current_timestamp()); otherwise drop table ${this.#database}.${this.#staging}; then run pigeon retry`,
            },
          );
        }
      }
    }
    return false;
  }

  async target(): Promise<HiveTarget | undefined> {
    if (!(await tablesOf(this.#s, this.#database, this.#signal)).includes(this.#name)) return undefined;
    const rows = await this.#s.rows(hiveSql.describe(this.#q(this.#name)), this.#signal);
    const columns: HiveColumn[] = [];
    const partitions: HiveColumn[] = [];
    let section: 'columns' | 'partitions' | 'other' = 'columns';
    for (const r of rows) {
      const name = String(r[0] ?? '').trim();
      const type = String(r[1] ?? '').trim();
      if (name === '# Partition Information') section = 'partitions';
      else if (name.startsWith('#')) {
        if (section !== 'partitions') section = 'other';
        continue;
      }
      if (name === '' || type === '' || section === 'other') continue;
      const t = parseHiveType(type);
      const col = { name, type: t, holds: portableFromHive(t) };
      if (section === 'partitions') partitions.push(col);
      else columns.push(col);
    }
    // DESCRIBE lists partition columns among the columns too.
    const parted = new Set(partitions.map((p) => p.name));
    return { columns: [...columns.filter((c) => !parted.has(c.name)), ...partitions], partitions };
  }

  async dropLeftovers(): Promise<void> {
    const prefix = workTablePrefix(HIVE_STAGING_PREFIX, `${this.#database}.${this.#name}`);
    for (const t of await tablesOf(this.#s, this.#database, this.#signal)) {
      if (t.startsWith(prefix)) await this.#s.exec(hiveSql.dropTable(this.#q(t)), this.#signal);
    }
    const dir = this.#sessions.config.stagingDir;
    for (const f of await readdir(dir).catch(() => [] as string[])) {
      if (f.startsWith(prefix)) await rm(join(dir, f), { recursive: true, force: true });
    }
  }

  async load(target: HiveTarget | undefined, feed: ChunkFeed): Promise<number> {
    const req = this.#req;
    // Planned before a row is staged: what the target cannot take fails here, before the load.
    const plan = (this.#planned = this.#plan(target, 0));
    const checks = req.columns.map((c, i) => {
      const into = plan.columns.find((t) => t.from === i && t.partition?.value === undefined);
      return into === undefined ? undefined : columnCheck(c, into.type, plan.lossy);
    });
    this.#stagingCreated = true;
    return this.#stage(this.#staging, req.columns, checks, feed, true);
  }

  /**
   * Creates a staging table of `columns` (as STRING), converts every chunk of the feed into its directory of
   * staging files and loads them with one `LOAD DATA LOCAL INPATH`; returns the rows. The row table also gets the
   * sentinel row its commit records the load from.
   */
  async #stage(table: string, columns: readonly ColumnSchema[], checks: readonly (ColumnCheck | undefined)[], feed: ChunkFeed, sentinel: boolean): Promise<number> {
    await this.#s.exec(hiveSql.createStaging(this.#q(table), columns.length), this.#signal);
    const dir = join(this.#sessions.config.stagingDir, table);
    const serverDir = `${this.#sessions.config.serverStagingDir.replace(/\/+$/, '')}/${table}`;
    await rm(dir, { recursive: true, force: true });
    await mkdir(dir, { recursive: true, mode: 0o755 });
    try {
      let rows = 0;
      for await (const chunk of abortableChunks(feed, this.#signal)) {
        this.#chunkNames.set(chunk.index, chunk.name);
        rows += await stageChunk(chunk, columns, checks, join(dir, `chunk-${chunk.index}.txt`), this.#req.table, this.#signal);
      }
      if (sentinel) await writeFile(join(dir, 'sentinel.txt'), sentinelRow(columns.length), { mode: 0o644 });
      // One LOAD of the whole directory: HiveServer2 copies the files into the staging table's location.
      if (rows > 0 || sentinel) await this.#s.exec(hiveSql.loadData(serverDir, this.#q(table)), this.#signal);
      return rows;
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  async commit(target: HiveTarget | undefined, rows: number): Promise<void | { deleted: number }> {
    const planned = { ...(this.#planned ?? this.#plan(target, 0)), rows };
    const plan = this.#replacing ? { ...planned, target: this.#q(this.#replacement) } : planned;
    if (this.#replacing) await this.#s.exec(hiveSql.dropTable(plan.target), this.#signal);
    if (!target) {
      const data = plan.columns.filter((c) => !c.partition);
      const parts = plan.columns.filter((c) => c.partition);
      // Set first: a CREATE cancelled by an abort may still complete, and the clean-up must drop it then.
      this.#targetCreated = true;
      const create = hiveSql.createTable(plan.target, data.map((c) => ({ name: c.name, type: c.type.text.toUpperCase() })), parts.map((c) => ({ name: c.name, type: c.type.text.toUpperCase() })), this.#sessions.config.format);
      await this.#s.exec(create, this.#signal).catch((e: unknown) => {
        // Someone else's table, made since target() looked: never dropped by this load.
        if (e instanceof Error && /already exists/i.test(e.message)) this.#targetCreated = false;
        throw e;
      });
    }
    await this.#s.exec(hiveSql.markCommitting(plan.staging), this.#signal);
    // deletes: detect: the rows the merge drops, counted before it (nothing else writes the target meanwhile).
    const deleted = plan.keys !== undefined && target ? Number((await this.#s.rows(hiveSql.countMissingKeys(plan), this.#signal))[0]?.[0] ?? 0) : plan.keys !== undefined ? 0 : undefined;
    try {
      const work = hiveSql.computeWork(plan);
      if (work !== undefined) {
        await this.#s.exec(hiveSql.dropTable(plan.work!), this.#signal);
        await this.#s.exec(work, this.#signal);
      }
      await this.#s.exec(hiveSql.commit(plan), this.#signal);
    } catch (e) {
      if (this.#signal?.aborted || !isServerAnswer(e)) throw e;
      throw (await this.#badValue(plan)) ?? e;
    }
    this.#targetCreated = false;
    if (this.#replacing) await this.#swapIn();
    for (const t of [plan.work, plan.keys, this.#q(this.#staging)]) {
      if (t !== undefined) await this.#s.exec(hiveSql.dropTable(t), this.#signal).catch(() => {});
    }
    this.#stagingCreated = false;
    return deleted === undefined ? undefined : { deleted };
  }

  /** Drops what this load made: the staging table and files, and a target it created whose commit failed. */
  async cleanUp(s: HiveSession): Promise<void> {
    for (const t of [this.#staging, this.#keys]) await rm(join(this.#sessions.config.stagingDir, t), { recursive: true, force: true }).catch(() => {});
    if (this.#stagingCreated) await s.exec(hiveSql.dropTable(this.#q(this.#staging))).catch(() => {});
    for (const t of [`${this.#staging}_new`, this.#keys, this.#replacement]) await s.exec(hiveSql.dropTable(this.#q(t))).catch(() => {});
    if (this.#targetCreated) await s.exec(hiveSql.dropTable(this.#q(this.#name))).catch(() => {});
  }

  /** After a failed commit: the first staged value the target cannot take, located; undefined when none is. */
  async #badValue(plan: CommitPlan): Promise<PipelineError | undefined> {
    const q = hiveSql.badValues(plan);
    if (q === undefined) return undefined;
    const found = (await this.#s.rows(q.sql, this.#signal).catch(() => []))[0];
    if (!found) return undefined;
    const column = q.columns.find((_, i) => Number(found[2 + i]) === 1);
    const bad = plan.columns.find((c) => c.name === column);
    const chunk = this.#chunkNames.get(Number(found[0]));
    const line = Number(found[1]);
    return new PipelineError(
      'BAD_VALUE',
      column === undefined
        ? 'a value does not fit the target row\'s partition or column'
        : `a row's \`${column}\` is not ${JSON.stringify(bad?.partition?.value)}, the partition the node loads`,
      { table: this.#req.table, ...(column === undefined ? {} : { column: this.#exportName(column) }), ...(chunk === undefined ? {} : { chunk, chunkLine: line }) },
    );
  }

  #exportName(target: string): string {
    return this.#req.columns.find((c) => c.name.toLowerCase() === target.toLowerCase())?.name ?? target;
  }

  /** What the commit writes: each target column and where its values come from. */
  #plan(target: HiveTarget | undefined, rows: number): CommitPlan {
    const req = this.#req;
    const exported = req.columns;
    const index = (name: string) => {
      const i = exported.findIndex((c) => c.name.toLowerCase() === name.toLowerCase());
      return i < 0 ? undefined : i;
    };
    const spec = req.partition ?? [];
    const fail = (msg: string, column?: string) => new PipelineError('IMPORT_FAILED', msg, { table: req.table, ...(column === undefined ? {} : { column }) });
    let columns: CommitColumn[];
    if (target) {
      const parted = new Set(target.partitions.map((p) => p.name));
      if (target.partitions.length > 0 && spec.length === 0 && req.mode === 'overwrite') {
        throw fail(`\`${req.table}\` is partitioned by (${target.partitions.map((p) => p.name).join(', ')}): an overwrite needs \`target.partition\` to say which partitions it replaces`);
      }
      if (target.partitions.length === 0 && spec.length > 0) throw fail(`\`${req.table}\` has no partitions, but the node sets \`target.partition\``);
      if (spec.length > 0 && (spec.length !== target.partitions.length || !spec.every((p) => parted.has(p.column.toLowerCase())))) {
        throw fail(`\`target.partition\` must name the partition columns of \`${req.table}\`: ${target.partitions.map((p) => p.name).join(', ')}`);
      }
      columns = target.columns.map((c) => {
        if (c.type.base === 'array' || c.type.base === 'map' || c.type.base === 'struct' || c.type.base === 'uniontype' || c.type.base.startsWith('interval')) {
          if (index(c.name) !== undefined) throw fail(`column \`${c.name}\` of \`${req.table}\` is ${c.type.text}: pigeon loads only primitive Hive types`, c.name);
        }
        const from = index(c.name);
        if (!parted.has(c.name)) return { name: c.name, type: c.type, ...(from === undefined ? {} : { from }) };
        const value = spec.find((p) => p.column.toLowerCase() === c.name)?.value;
        return { name: c.name, type: c.type, ...(from === undefined ? {} : { from }), partition: value === undefined ? {} : { value } };
      });
    } else {
      const parted = new Map(spec.map((p) => [p.column.toLowerCase(), p]));
      const data: CommitColumn[] = exported.flatMap((c, i) => (parted.has(c.name.toLowerCase()) ? [] : [{ name: c.name.toLowerCase(), type: parseHiveType(hiveTypeFor(c)), from: i }]));
      const parts: CommitColumn[] = spec.map((p) => {
        const from = index(p.column);
        const type = from === undefined ? parseHiveType('string') : parseHiveType(hiveTypeFor(exported[from]!));
        return { name: p.column.toLowerCase(), type, ...(from === undefined ? {} : { from }), partition: p.value === undefined ? {} : { value: p.value } };
      });
      columns = [...data, ...parts];
    }
    for (const c of columns) {
      if (c.partition && c.partition.value === undefined && c.from === undefined) {
        throw fail(`partition column \`${c.name}\` takes each row's value from the export, which does not carry it`, c.name);
      }
    }
    const dynamic = columns.filter((c) => c.partition && c.partition.value === undefined);
    const key = req.key ?? [];
    if (req.mode === 'merge' && dynamic.some((c) => !key.some((k) => k.toLowerCase() === c.name))) {
      throw fail(`a merge into dynamic partitions needs the partition columns in \`key\` (a row cannot move between partitions): add ${dynamic.map((c) => c.name).join(', ')}`);
    }
    if (req.deleteMissing && columns.some((c) => c.partition)) {
      throw fail('`deletes: detect` rewrites the whole table: it is not for a partitioned Hive table (the load touches only its partitions)');
    }
    if (req.replaceWindow && dynamic.length > 0) {
      throw fail('a window append replaces its interval in the table or in one static partition; with dynamic partitions use `mode: overwrite`, which replaces each partition the load has rows for');
    }
    const types = new Map(columns.map((c) => [c.name.toLowerCase(), c.type]));
    return {
      target: this.#q(this.#name),
      staging: this.#q(this.#staging),
      loads: this.#q(HIVE_LOADS_TABLE),
      columns,
      exported,
      mode: req.mode,
      key: key.map((k) => targetColumn(columns, k, true)?.name ?? k),
      ...(req.replaceWindow ? { window: { range: { ...req.replaceWindow, column: req.replaceWindow.column.toLowerCase() }, types } } : {}),
      lossy: req.lossy === 'allow',
      // Named after the staging table, so the next load drops it as a leftover too.
      ...(this.#sessions.overwritesWhatItReads ? {} : { work: this.#q(`${this.#staging}_new`) }),
      ...(req.deleteMissing ? { keys: this.#q(this.#keys) } : {}),
      loadId: req.loadId,
      table: req.table,
      rows,
    };
  }
}

async function tablesOf(s: HiveSession, database: string, signal: AbortSignal | undefined): Promise<string[]> {
  // Hive answers `tab_name`; Spark `namespace, tableName, isTemporary`.
  const { names, rows } = await s.records(hiveSql.showTables(database), signal);
  const at = Math.max(0, names.indexOf('tableName'));
  return rows.map((r) => String(r[at]).toLowerCase());
}


