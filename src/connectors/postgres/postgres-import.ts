import { pipeline } from 'node:stream/promises';
import { PipelineError } from '../../errors/pipeline-error.js';
import type { ChunkFeed, ImportRequest, ImportResult, StagedChunk } from '../contract.js';
import { spreadChunks } from '../feed.js';
import { stagedImport, type StagedLoad, type TargetColumn, type TargetTable } from '../sql/staged-import.js';
import { STAGING_PREFIX, workTableLock, workTableName, workTablePrefix } from '../sql/work-tables.js';
import { newTableKey } from '../sql/new-table.js';
import { commitLoad, dropQuietly, type LoadPlan, type TargetRef } from './postgres-commit.js';
import { copyError, isDatabaseError } from './postgres-errors.js';
import { factsOf } from './postgres-export.js';
import { rows, type PgSessions, type Session } from './postgres-session.js';
import {
  converter,
  currentSchema,
  findTable,
  loadsTableExists,
  pgSql,
  qualified,
  claimLeftover,
  claimWorkTable,
  releaseWorkTable,
  releaseWorkTables,
  stagingTables,
  swapBlockers,
  tableColumns,
  targetIndexes,
  uniqueIndexOnKey,
  type ColumnSource,
  type StagingColumn,
} from './postgres-sql.js';
import { needsConversion, pgTypeFor, portableFromPg, type PgTypeFacts } from './postgres-types.js';
import type { ColumnSchema } from '../../csv/types.js';
import { widenedColumn, type SchemaChanges } from '../sql/schema-changes.js';

interface PgColumn extends TargetColumn, PgTypeFacts {}

/** An existing target: where it is, its oid and its columns. */
interface PgTarget extends TargetTable, TargetRef {
  readonly oid: string;
  readonly columns: readonly PgColumn[];
}

/**
 * One import into PostgreSQL: `COPY … FROM STDIN` into a staging table in the target's schema, then one
 * transaction that swaps, appends or merges and records the load (postgres-commit.ts).
 */
export async function pgImport(sessions: PgSessions, req: ImportRequest, feed: ChunkFeed, signal?: AbortSignal): Promise<ImportResult> {
  let load: PgLoad | undefined;
  return sessions.importing(
    req.table,
    signal,
    (s) => stagedImport(req, feed, signal, (load = new PgLoad(sessions, s, req, signal))),
    async (s) => {
      if (load?.schema !== undefined && load.created.length > 0) await dropQuietly(s, load.schema, load.created);
    },
    // The locks on this load's work tables go with them (a discarded session releases them by itself).
    async (s) => {
      await s.client.query(releaseWorkTables).catch(() => {});
    },
  );
}

export async function pgIsCommitted(sessions: PgSessions, table: string, loadId: string, signal?: AbortSignal): Promise<boolean> {
  signal?.throwIfAborted();
  const s = await sessions.take();
  try {
    const target = await resolveTarget(s, table, false);
    if (!target) return false;
    if ((await rows<{ found: string }>(s, loadsTableExists, [target.schema]))[0]?.found !== 't') return false;
    return (await rows(s, pgSql.loadCommitted(target.schema), [loadId, table])).length > 0;
  } catch (e) {
    if (!isDatabaseError(e)) s.broken = true;
    throw sessions.error(e, 'IMPORT_FAILED', { table });
  } finally {
    sessions.release(s);
  }
}

export async function pgProbeTarget(sessions: PgSessions, table: string, signal?: AbortSignal): Promise<'missing' | 'empty' | 'filled'> {
  signal?.throwIfAborted();
  const s = await sessions.take();
  try {
    const target = await resolveTarget(s, table, false);
    if (target?.oid === undefined) return 'missing';
    return (await rows(s, pgSql.anyRow(target.qualified))).length > 0 ? 'filled' : 'empty';
  } catch (e) {
    if (!isDatabaseError(e)) s.broken = true;
    throw sessions.error(e, 'IMPORT_FAILED', { table });
  } finally {
    sessions.release(s);
  }
}

class PgLoad implements StagedLoad<PgTarget> {
  readonly #sessions: PgSessions;
  readonly #s: Session;
  readonly #req: ImportRequest;
  readonly #signal: AbortSignal | undefined;
  #ref: TargetRef | undefined;
  #plan: LoadPlan | undefined;
  /** Schema changes the commit makes first (schema_changes), in its transaction. */
  readonly #before: string[] = [];
  /** Tables this load created, to drop if it fails. */
  readonly created: string[] = [];

  constructor(sessions: PgSessions, s: Session, req: ImportRequest, signal: AbortSignal | undefined) {
    this.#sessions = sessions;
    this.#s = s;
    this.#req = req;
    this.#signal = signal;
  }

  get schema(): string | undefined {
    return this.#ref?.schema;
  }

  async committed(): Promise<boolean> {
    const ref = (this.#ref = (await resolveTarget(this.#s, this.#req.table, true))!);
    await ensureLoads(this.#s, ref.schema);
    return (await rows(this.#s, pgSql.loadCommitted(ref.schema), [this.#req.loadId, this.#req.table])).length > 0;
  }

  async target(): Promise<PgTarget | undefined> {
    const ref = this.#ref!;
    if (ref.oid === undefined) return undefined;
    const columns = (await rows<{ name: string } & Parameters<typeof factsOf>[0]>(this.#s, tableColumns, [ref.oid])).map((r) => {
      const facts = factsOf(r);
      return { name: r.name, ...facts, holds: portableFromPg(facts) };
    });
    return { ...ref, oid: ref.oid, columns };
  }

  /**
   * Drops staging tables left by crashed loads into the same target table. Only one load writes a given target at a
   * time (one run per pipeline holds the lock), so any such table belongs to a dead process.
   */
  async dropLeftovers(): Promise<void> {
    const schema = this.#ref!.schema;
    const prefix = workTablePrefix(STAGING_PREFIX, this.#req.table);
    for (const { name } of await rows<{ name: string }>(this.#s, stagingTables, [schema, prefix])) {
      // A staging table whose lock is held belongs to a load running now (another pipeline into the same table).
      if ((await rows<{ free: string }>(this.#s, claimLeftover, [workTableLock(name)]))[0]?.free !== 't') continue;
      await dropQuietly(this.#s, schema, [name]);
      await rows(this.#s, releaseWorkTable, [workTableLock(name)]);
    }
  }

  /**
   * Takes the advisory lock of a work table before it exists (see workTableLock). A table of that name is then this
   * load's own, left by an earlier attempt of it: the lock waited for that attempt's backend to end, and it goes.
   */
  async #claim(name: string): Promise<void> {
    await rows(this.#s, claimWorkTable, [workTableLock(name)]);
    await this.#s.client.query(pgSql.dropTable(qualified(this.#ref!.schema, name)));
  }

  /**
   * schema_changes add_columns: the columns are added and widened inside the commit's transaction (PostgreSQL's DDL
   * is transactional), so a failed load leaves the table as it was; the load sees the target as it will be.
   */
  async evolve(target: PgTarget, changes: SchemaChanges): Promise<PgTarget> {
    const facts = (c: ColumnSchema): PgColumn => {
      const f = createdFacts(c);
      return { name: c.name, ...f, holds: portableFromPg(f) };
    };
    for (const c of changes.added) this.#before.push(pgSql.addColumn(target.qualified, c.name, pgTypeFor(c)));
    const widened = new Map(changes.widened.map((w) => [w.column.name, widenedColumn(w.column, w.from)]));
    for (const [name, c] of widened) this.#before.push(pgSql.alterColumnType(target.qualified, name, pgTypeFor(c)));
    return {
      ...target,
      columns: [...target.columns.map((t) => (widened.has(t.name) ? { ...facts(widened.get(t.name)!), name: t.name } : t)), ...changes.added.map(facts)],
    };
  }

  /** schema_changes recreate: the commit drops the table and creates it from the export's schema, in one transaction. */
  async replace(target: PgTarget): Promise<void> {
    this.#before.push(pgSql.dropOld(target.qualified));
    this.#ref = { schema: target.schema, name: target.name, qualified: target.qualified };
  }

  async load(target: PgTarget | undefined, feed: ChunkFeed): Promise<number> {
    const plan = (this.#plan = await this.#planLoad(target));
    await this.#claim(plan.staging);
    await this.#s.client.query(plan.createStaging);
    this.created.push(plan.staging);
    const loaded = await this.#copyAll(plan, feed);
    for (const sql of plan.buildIndexes) {
      this.#signal?.throwIfAborted();
      await this.#s.client.query(sql);
    }
    return loaded;
  }

  /** deletes: detect: the source's key set, COPYed into a staging table of the key's columns. */
  async loadKeys(_target: PgTarget | undefined, feed: ChunkFeed): Promise<number> {
    const plan = this.#plan!;
    const key = this.#req.key ?? [];
    const name = workTableName(STAGING_PREFIX, this.#req.table, `${this.#req.loadId}#keys`);
    await this.#claim(name);
    const stagingQ = qualified(this.#ref!.schema, name);
    await this.#s.client.query(pgSql.createStaging(stagingQ, key.map((k) => plan.stagingColumns.find((c) => c.name === k)!)));
    this.created.push(name);
    const n = await this.#copyAll({ ...plan, kind: 'typed', copy: pgSql.copyFrom(stagingQ, key) }, feed);
    await this.#s.client.query(pgSql.stagingIndex(stagingQ, key));
    await this.#s.client.query(pgSql.analyze(stagingQ));
    this.#plan = { ...plan, keys: stagingQ };
    return n;
  }

  commit(_target: PgTarget | undefined, loaded: number): Promise<void | { deleted: number }> {
    return commitLoad(this.#s, this.#req, this.#ref!, this.#plan!, loaded, this.created);
  }

  async #planLoad(target: PgTarget | undefined): Promise<LoadPlan> {
    const s = this.#s;
    const req = this.#req;
    const ref = this.#ref!;
    const names = req.columns.map((c) => c.name);
    const columns: PgTypeFacts[] = req.columns.map((c) => (target ? target.columns.find((t) => t.name === c.name)! : createdFacts(c)));
    const conversions = req.columns.map((c, i) => needsConversion(c.type, columns[i]!));
    const sources: ColumnSource[] = req.columns.map((c, i) => {
      const kind = conversions[i];
      return kind ? { name: c.name, convert: converter(kind, columns[i]!.sourceType) } : { name: c.name };
    });
    const stagingCols: StagingColumn[] = req.columns.map((c, i) => ({ name: c.name, type: conversions[i] ? 'text' : columns[i]!.sourceType }));
    const converts = conversions.some((k) => k !== undefined);
    const blockers =
      req.mode !== 'overwrite' || !target
        ? ''
        : this.#before.length > 0
          ? 'schema changes'
          : ((await rows<{ blockers: string }>(s, swapBlockers, [target.oid]))[0]?.blockers ?? 'unknown');
    const staging = workTableName(STAGING_PREFIX, req.table, req.loadId);
    const stagingQ = qualified(ref.schema, staging);
    const like = req.mode === 'overwrite' && target !== undefined && blockers === '' && !converts;
    const upsert = req.mode === 'merge' && target !== undefined && (await rows<{ found: string }>(s, uniqueIndexOnKey, [target.oid, req.key ?? []]))[0]?.found === 't';
    const buildIndexes = like ? await deferredIndexes(s, target.oid, stagingQ) : undefined;
    return {
      staging,
      stagingQ,
      kind: like ? 'like' : 'typed',
      createStaging: !like
        ? pgSql.createStaging(stagingQ, stagingCols)
        : buildIndexes
          ? pgSql.createLikeWithoutIndexes(stagingQ, ref.qualified)
          : pgSql.createLike(stagingQ, ref.qualified),
      buildIndexes: buildIndexes ?? [],
      copy: pgSql.copyFrom(stagingQ, names),
      sources,
      ...(target === undefined
        ? {
            createTarget: [
              pgSql.createTable(ref.qualified, req.columns.map((c, i) => ({ name: c.name, type: columns[i]!.sourceType, ...(c.nullable ? {} : { notNull: true }) })), newTableKey(req)),
              ...req.columns.filter((c) => c.comment).map((c) => pgSql.commentOnColumn(ref.qualified, c.name, c.comment!)),
            ],
          }
        : {}),
      blockers,
      upsert,
      stagingColumns: stagingCols,
      before: this.#before,
    };
  }

  /**
   * COPYs every chunk into staging. When the staging table's row order does not matter (a copy of the target to be
   * swapped in), a backlog of exported chunks is spread over spare sessions as well: each COPY is parsed and
   * written by its own backend, so a second one uses another core.
   */
  #copyAll(plan: LoadPlan, feed: ChunkFeed): Promise<number> {
    const sessions = this.#sessions;
    const spareSession = plan.kind === 'like' ? this.#req.spareSession : undefined;
    return spreadChunks<Session>({
      feed,
      signal: this.#signal,
      session: this.#s,
      maxSessions: sessions.config.maxConnections,
      spare:
        spareSession &&
        ((use, stop) =>
          spareSession(async () => {
            const h = await sessions.take();
            const unhook = sessions.onAbort(h, stop);
            try {
              return await use(h);
            } finally {
              unhook();
              sessions.release(h);
            }
          })),
      load: (session, chunk, stop) => this.#copyChunk(session, plan, chunk, stop),
    });
  }

  async #copyChunk(s: Session, plan: LoadPlan, chunk: StagedChunk, signal: AbortSignal | undefined): Promise<number> {
    const input = await chunk.open();
    const stream = s.client.query(this.#sessions.copy.from(plan.copy));
    try {
      // Chunk files quote a `\.` value (see csv/writer.ts), so no line of them can end COPY's data early.
      await pipeline([input, stream], ...(signal ? [{ signal }] : []));
    } catch (e) {
      s.broken = true;
      throw await copyError(e, this.#req, chunk, (err, code, where) => this.#sessions.error(err, code, where));
    }
    return stream.rowCount;
  }
}

/** The facts of a column pigeon creates: only its type and whether it is bytea matter to a load. */
function createdFacts(c: ColumnSchema): PgTypeFacts {
  return { sourceType: pgTypeFor(c), baseName: c.type === 'binary' ? 'bytea' : '', typtype: 'b', category: '', typmod: -1 };
}

/** `schema.table` split on the dot; an unqualified name is looked up along the search path, created in its first schema. */
async function resolveTarget(s: Session, table: string, required: boolean): Promise<TargetRef | undefined> {
  const parts = table.split('.');
  if (parts.length > 2 || parts.some((p) => p === '')) {
    throw new PipelineError('IMPORT_FAILED', `table name \`${table}\` must be \`table\` or \`schema.table\``, { table });
  }
  const [given, name] = parts.length === 2 ? [parts[0]!, parts[1]!] : [undefined, parts[0]!];
  const found = (await rows<{ oid: string; nspname: string; relkind: string }>(s, findTable, [given ?? null, name]))[0];
  if (found) {
    if (found.relkind !== 'r' && found.relkind !== 'p') {
      throw new PipelineError('IMPORT_FAILED', `\`${table}\` is not a table (pg_class.relkind ${found.relkind})`, { table });
    }
    return { schema: found.nspname, name, qualified: qualified(found.nspname, name), oid: found.oid };
  }
  const schema = given ?? (await rows<{ schema: string | null }>(s, currentSchema))[0]?.schema ?? undefined;
  if (schema === undefined || schema === null) {
    if (!required) return undefined;
    throw new PipelineError('IMPORT_FAILED', `no schema of the search path exists to create \`${table}\` in`, { table, hint: 'set options.schema on the connection' });
  }
  return { schema, name, qualified: qualified(schema, name) };
}

async function ensureLoads(s: Session, schema: string): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    try {
      await s.client.query(pgSql.createLoads(schema));
      return;
    } catch (e) {
      // Two sessions creating it at once: one wins, the other sees a duplicate catalog entry (the table, its row
      // type, or the unique index behind either) and finds the table there when it tries again.
      const code = (e as { code?: string }).code ?? '';
      if (attempt > 0 || !['23505', '42P07', '42710'].includes(code)) throw e;
    }
  }
}

/**
 * The statements that give `staging` the target's indexes after the load, unnamed so that PostgreSQL names them as
 * LIKE would (the swap gives them the target's names back); undefined when one of them cannot be rebuilt that way,
 * and the staging table then gets them from LIKE before the load.
 */
async function deferredIndexes(s: Session, targetOid: string, stagingQ: string): Promise<string[] | undefined> {
  // Sessions read every value as text: booleans are 't' / 'f'.
  const indexes = await rows<{ is_unique: string; is_constraint: string; def: string; prefix: string; special: string }>(s, targetIndexes, [targetOid]);
  const out: string[] = [];
  for (const r of indexes) {
    if (r.special !== 'f') return undefined;
    if (r.is_constraint === 't') {
      out.push(`ALTER TABLE ${stagingQ} ADD ${r.def}`);
    } else {
      if (!r.def.startsWith(r.prefix)) return undefined;
      out.push(`CREATE ${r.is_unique === 't' ? 'UNIQUE ' : ''}INDEX ON ${stagingQ} ${r.def.slice(r.prefix.length)}`);
    }
  }
  return out;
}
