import { PipelineError } from '../../errors/pipeline-error.js';
import type { ChunkFeed, ImportRequest, ImportResult } from '../contract.js';
import { isDatabaseError } from '../postgres/postgres-errors.js';
import { rows, type PgSessions, type Session } from '../postgres/postgres-session.js';
import { buildRange } from '../sql/select-builder.js';
import { stagedImport, type StagedLoad, type TargetColumn, type TargetTable } from '../sql/staged-import.js';
import { STAGING_PREFIX, workTableName, workTablePrefix } from '../sql/work-tables.js';
import type { RedshiftConfig } from './redshift-config.js';
import type { CopyFileSet, RedshiftFiles } from './redshift-s3.js';
import { findTable, qualified, rsDialect, rsSql, swapBlockers, tableColumns, workTables, type ColumnSource, type StagingColumn } from './redshift-sql.js';
import { conversion, holdsOf, rsTypeFor, type RsTypeFacts } from './redshift-types.js';
import type { RedshiftStatements } from './redshift-statements.js';

interface RsColumn extends TargetColumn, RsTypeFacts {
  readonly type: string;
  readonly notNull: boolean;
}

interface TargetRef {
  readonly schema: string;
  readonly name: string;
  readonly qualified: string;
  readonly oid?: string;
}

interface RsTarget extends TargetTable, TargetRef {
  readonly oid: string;
  readonly columns: readonly RsColumn[];
}

/** How one load is staged and committed, decided before the staging table is made. */
interface LoadPlan {
  readonly staging: string;
  readonly stagingQ: string;
  /** `like`: a copy of the target (LIKE) swapped in by an overwrite; `typed`: the export's columns. */
  readonly kind: 'like' | 'typed';
  readonly createStaging: string;
  /** The staging table carries the load order (`_pigeon_seq`): a merge. */
  readonly seq: boolean;
  readonly sources: readonly ColumnSource[];
  readonly createTarget?: string;
}

export interface RedshiftImportContext {
  readonly sessions: PgSessions;
  readonly config: RedshiftConfig;
  readonly files: RedshiftFiles | undefined;
  readonly statements: RedshiftStatements;
}

/**
 * One import into Redshift: the chunks go to S3 (or stay where S3 staging has them), one `COPY … MANIFEST` loads
 * them into a staging table, and one transaction swaps (overwrite), inserts (append) or merges, and records the load
 * in `_pigeon_loads`. The rules every SQL engine shares are stagedImport's.
 */
export async function rsImport(ctx: RedshiftImportContext, req: ImportRequest, feed: ChunkFeed, signal?: AbortSignal): Promise<ImportResult> {
  const { sessions, config } = ctx;
  if (!ctx.files) {
    throw new PipelineError('INVALID_CONFIG', `connection \`${config.name}\`: a Redshift target needs \`s3: { url }\`, where the files COPY loads are put`, { connection: config.name, table: req.table });
  }
  if (!config.access) {
    throw new PipelineError('INVALID_CONFIG', `connection \`${config.name}\`: COPY needs \`iam_role\`, or an \`s3.connection\` with access keys`, { connection: config.name, table: req.table });
  }
  let load: RsLoad | undefined;
  try {
    return await sessions.importing(
      req.table,
      signal,
      (s) => stagedImport(req, feed, signal, (load = new RsLoad(ctx, s, req, signal))),
      async (s) => load?.dropCreated(s),
    );
  } finally {
    await load?.removeFiles();
  }
}

export async function rsIsCommitted(ctx: RedshiftImportContext, table: string, loadId: string, signal?: AbortSignal): Promise<boolean> {
  signal?.throwIfAborted();
  const s = await ctx.sessions.take();
  try {
    const ref = await resolveTarget(s, table, ctx.config.schema);
    const loads = await resolveTarget(s, `${ref.schema}._pigeon_loads`, undefined);
    if (loads.oid === undefined) return false;
    return (await rows(s, rsSql.loadCommitted(ref.schema), [loadId, table])).length > 0;
  } catch (e) {
    if (!isDatabaseError(e)) s.broken = true;
    throw ctx.sessions.error(e, 'IMPORT_FAILED', { table });
  } finally {
    ctx.sessions.release(s);
  }
}

export async function rsProbeTarget(ctx: RedshiftImportContext, table: string, signal?: AbortSignal): Promise<'missing' | 'empty' | 'filled'> {
  signal?.throwIfAborted();
  const s = await ctx.sessions.take();
  try {
    const ref = await resolveTarget(s, table, ctx.config.schema);
    if (ref.oid === undefined) return 'missing';
    return (await rows(s, rsSql.anyRow(ref.qualified))).length > 0 ? 'filled' : 'empty';
  } catch (e) {
    if (!isDatabaseError(e)) s.broken = true;
    throw ctx.sessions.error(e, 'IMPORT_FAILED', { table });
  } finally {
    ctx.sessions.release(s);
  }
}

class RsLoad implements StagedLoad<RsTarget> {
  readonly #ctx: RedshiftImportContext;
  readonly #s: Session;
  readonly #req: ImportRequest;
  readonly #signal: AbortSignal | undefined;
  #ref: TargetRef | undefined;
  #plan: LoadPlan | undefined;
  #files: CopyFileSet | undefined;
  /** Tables this load created, to drop if it fails. */
  readonly #created: string[] = [];

  constructor(ctx: RedshiftImportContext, s: Session, req: ImportRequest, signal: AbortSignal | undefined) {
    this.#ctx = ctx;
    this.#s = s;
    this.#req = req;
    this.#signal = signal;
  }

  #exec(sql: string, values: readonly unknown[] = []) {
    return this.#s.client.query({ text: sql, values: [...values] });
  }

  async committed(): Promise<boolean> {
    const ref = (this.#ref = await resolveTarget(this.#s, this.#req.table, this.#ctx.config.schema));
    await this.#exec(rsSql.createLoads(ref.schema));
    return (await rows(this.#s, rsSql.loadCommitted(ref.schema), [this.#req.loadId, this.#req.table])).length > 0;
  }

  async target(): Promise<RsTarget | undefined> {
    const ref = this.#ref!;
    if (ref.oid === undefined) return undefined;
    const columns = (await rows<{ name: string; oid: string; typmod: string; type: string; not_null: string }>(this.#s, tableColumns, [ref.oid])).map((r) => {
      const facts = { oid: Number(r.oid), typmod: Number(r.typmod) };
      return { name: r.name, ...facts, type: r.type, notNull: r.not_null === 't' || r.not_null === 'true', holds: holdsOf(facts) };
    });
    return { ...ref, oid: ref.oid, columns };
  }

  /** Staging tables of crashed loads into the same table (one run of a pipeline loads a table at a time). */
  async dropLeftovers(): Promise<void> {
    const schema = this.#ref!.schema;
    const prefix = workTablePrefix(STAGING_PREFIX, this.#req.table);
    for (const r of await rows<{ name: string }>(this.#s, workTables, [schema, prefix, prefix.length])) {
      await this.#exec(rsSql.dropTable(qualified(schema, r.name)));
    }
  }

  async load(target: RsTarget | undefined, feed: ChunkFeed): Promise<number> {
    const plan = (this.#plan = await this.#planLoad(target));
    await this.#exec(plan.createStaging);
    this.#created.push(plan.staging);
    this.#files = await this.#ctx.files!.stage(feed, this.#req.loadId, plan.seq, this.#signal);
    this.#signal?.throwIfAborted();
    const columns = [...this.#req.columns.map((c) => c.name), ...(plan.seq ? ['_pigeon_seq'] : [])];
    const files = { manifest: this.#files.manifest, gzip: this.#files.gzip, ...(this.#ctx.config.s3?.region !== undefined ? { region: this.#ctx.config.s3.region } : {}) };
    const statement = rsSql.copy(plan.stagingQ, columns, files, this.#ctx.config.access!);
    // COPY fails on a manifest without files: an empty export loads nothing.
    if (this.#files.files > 0) {
      try {
        await this.#ctx.statements.copy(this.#s, { statement, staging: plan.stagingQ, columns, files });
      } catch (e) {
        throw await this.#copyError(e);
      }
    }
    return Number((await rows<{ n: string }>(this.#s, rsSql.count(plan.stagingQ)))[0]?.n ?? 0);
  }

  /** A failed COPY with what stl_load_errors says about it (the file, its line, the column), when Redshift says. */
  async #copyError(e: unknown): Promise<unknown> {
    if (!isDatabaseError(e)) return e;
    const detail = await rows<{ file: string; line: string; col: string; reason: string }>(this.#s, rsSql.loadErrors).catch(() => []);
    const d = detail[0];
    if (!d) return e;
    return this.#ctx.sessions.error(e, 'BAD_VALUE', {
      table: this.#req.table,
      ...(d.col ? { column: d.col } : {}),
      chunk: d.file,
      chunkLine: Number(d.line),
    });
  }

  async commit(target: RsTarget | undefined, loaded: number): Promise<void> {
    const req = this.#req;
    const ref = this.#ref!;
    const plan = this.#plan!;
    const key = req.key ?? [];
    await this.#exec('BEGIN');
    try {
      if ((await rows(this.#s, rsSql.loadCommitted(ref.schema), [req.loadId, req.table])).length > 0) {
        await this.#exec('ROLLBACK');
        return;
      }
      if (plan.createTarget) await this.#exec(plan.createTarget);
      const drop = new Set(this.#created);
      switch (req.mode) {
        case 'overwrite':
          if (target && plan.kind === 'like') {
            // The swap: the loaded copy takes the table's name; readers see the old rows until the commit.
            const old = workTableName('_pigeon_old_', req.table, req.loadId);
            await this.#exec(rsSql.renameTable(ref.qualified, old));
            await this.#exec(rsSql.renameTable(plan.stagingQ, ref.name));
            await this.#exec(rsSql.dropTable(qualified(ref.schema, old)));
            drop.delete(plan.staging);
          } else {
            if (target) await this.#exec(rsSql.deleteAll(ref.qualified));
            await this.#exec(rsSql.insertSelect(ref.qualified, plan.stagingQ, plan.sources));
          }
          break;
        case 'append':
          if (req.replaceWindow) {
            const w = buildRange(rsDialect, req.replaceWindow);
            await this.#exec(rsSql.deleteWhere(ref.qualified, w.sql), w.params);
          }
          await this.#exec(rsSql.insertSelect(ref.qualified, plan.stagingQ, plan.sources));
          break;
        case 'merge': {
          const last = `${plan.staging}_last`;
          const lastQ = qualified(ref.schema, last);
          await this.#exec(rsSql.lastPerKey(lastQ, plan.stagingQ, plan.sources.map((c) => ({ name: c.name })), key));
          drop.add(last);
          for (const sql of mergeStatements(ref, target, lastQ, plan.sources, key)) await this.#exec(sql);
          break;
        }
      }
      await this.#exec(rsSql.recordLoad(ref.schema), [req.loadId, req.table, String(loaded), new Date().toISOString().replace('T', ' ').replace('Z', '')]);
      for (const t of drop) await this.#exec(rsSql.dropTable(qualified(ref.schema, t)));
      await this.#exec('COMMIT');
      this.#created.length = 0;
    } catch (e) {
      await this.#exec('ROLLBACK').catch(() => {
        this.#s.broken = true;
      });
      throw e;
    }
  }

  async #planLoad(target: RsTarget | undefined): Promise<LoadPlan> {
    const req = this.#req;
    const ref = this.#ref!;
    const seq = req.mode === 'merge';
    const created = target ? undefined : req.columns.map((c) => rsTypeFor(c));
    const sources: ColumnSource[] = req.columns.map((c, i) => {
      const t = target?.columns.find((x) => x.name === c.name);
      const convert = conversion(c.type, t, created?.[i]);
      return convert ? { name: c.name, convert } : { name: c.name };
    });
    const converts = sources.some((c) => c.convert !== undefined);
    const staging = workTableName(STAGING_PREFIX, req.table, req.loadId);
    const stagingQ = qualified(ref.schema, staging);
    const blockers = req.mode === 'overwrite' && target ? ((await rows<{ blockers: string }>(this.#s, swapBlockers, [target.oid]))[0]?.blockers ?? 'unknown').trim() : 'n/a';
    // A swap needs the load to carry every column of the table (LIKE copies them all) and nothing to convert.
    const like = req.mode === 'overwrite' && target !== undefined && blockers === '' && !converts && target.columns.length === req.columns.length;
    const stagingCols: StagingColumn[] = req.columns.map((c, i) => ({
      name: c.name,
      type: sources[i]!.convert ? 'VARCHAR(65535)' : (target?.columns.find((x) => x.name === c.name)?.type ?? created![i]!),
    }));
    return {
      staging,
      stagingQ,
      kind: like ? 'like' : 'typed',
      createStaging: like ? rsSql.createLike(stagingQ, ref.qualified) : rsSql.createStaging(stagingQ, stagingCols, seq),
      seq,
      sources,
      ...(target === undefined ? { createTarget: rsSql.createTable(ref.qualified, req.columns.map((c, i) => ({ name: c.name, type: created![i]! }))) } : {}),
    };
  }

  /** After a failure: the tables this load made go (a crashed load's are dropped by the next load). */
  async dropCreated(s: Session): Promise<void> {
    const schema = this.#ref?.schema;
    if (schema === undefined) return;
    for (const t of this.#created) await s.client.query(rsSql.dropTable(qualified(schema, t))).catch(() => {});
    this.#created.length = 0;
  }

  /** The files pigeon uploaded for this COPY go once the load is over, committed or not. */
  async removeFiles(): Promise<void> {
    if (this.#files) await this.#ctx.files!.remove(this.#files.uploaded).catch(() => {});
  }
}

/**
 * A merge from the last row of each key (`source`): MERGE when every key column of the target is NOT NULL (MERGE
 * matches by equality only); otherwise DELETE … USING + INSERT when the load carries every column of the target,
 * or UPDATE … FROM + INSERT of the missing keys, which keeps the columns the load does not carry.
 */
export function mergeStatements(ref: TargetRef, target: { readonly columns: readonly { readonly name: string; readonly notNull: boolean }[] } | undefined, source: string, sources: readonly ColumnSource[], key: readonly string[]): string[] {
  const notNull = target !== undefined && key.every((k) => target.columns.find((c) => c.name === k)?.notNull === true);
  if (notNull) return [rsSql.merge(ref.qualified, ref.name, source, sources, key)];
  const carriesAll = target === undefined || target.columns.every((c) => sources.some((s) => s.name === c.name));
  if (carriesAll) return [rsSql.deleteUsing(ref.qualified, ref.name, source, key), rsSql.insertSelect(ref.qualified, source, sources)];
  const update = rsSql.updateFrom(ref.qualified, ref.name, source, sources, key);
  return [...(update ? [update] : []), rsSql.insertMissing(ref.qualified, source, sources, key)];
}

/**
 * `schema.table`, or `table` in the connection's schema (else `public`): Redshift's catalog cannot follow the
 * search path the way PostgreSQL's can, so pigeon does not guess.
 */
async function resolveTarget(s: Session, table: string, schema: string | undefined): Promise<TargetRef> {
  const parts = table.split('.');
  if (parts.length > 2 || parts.some((p) => p === '')) {
    throw new PipelineError('IMPORT_FAILED', `table name \`${table}\` must be \`table\` or \`schema.table\``, { table });
  }
  const [inSchema, name] = parts.length === 2 ? [parts[0]!, parts[1]!] : [schema ?? 'public', parts[0]!];
  const found = (await rows<{ oid: string; relkind: string }>(s, findTable, [inSchema, name]))[0];
  if (found && found.relkind !== 'r') throw new PipelineError('IMPORT_FAILED', `\`${table}\` is not a table (pg_class.relkind ${found.relkind})`, { table });
  return { schema: inSchema, name, qualified: qualified(inSchema, name), ...(found ? { oid: found.oid } : {}) };
}

