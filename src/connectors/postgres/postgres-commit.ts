import type { ImportRequest } from '../contract.js';
import { buildRange } from '../sql/select-builder.js';
import { duplicateKeyError, orphanError, replacementKey, type Reference } from '../sql/keyed-overwrite.js';
import { OLD_PREFIX, workTableName } from '../sql/work-tables.js';
import { PipelineError } from '../../errors/pipeline-error.js';
import { isDatabaseError } from './postgres-errors.js';
import { rows as rowsOf, type Session } from './postgres-session.js';
import {
  carryIdentity,
  identityColumns,
  identitySequences,
  indexPairs,
  oidOf,
  ownedSequences,
  pgDialect,
  pgSql,
  qualified,
  primaryKeyColumns,
  referencingKeys,
  swapBlockers,
  tableComment,
  type ColumnSource,
  type StagingColumn,
} from './postgres-sql.js';

/** A table as the import sees it: where it is (or would be created), and its oid when it exists. */
export interface TargetRef {
  readonly schema: string;
  readonly name: string;
  /** `"schema"."name"` */
  readonly qualified: string;
  readonly oid?: string;
}

export interface LoadPlan {
  readonly staging: string;
  readonly stagingQ: string;
  /** `like`: a copy of the target (LIKE … INCLUDING ALL) that replaces it; `typed`: export columns + load order. */
  readonly kind: 'like' | 'typed';
  readonly createStaging: string;
  /** Built on the staging table after the load: the target's indexes, when the staging table was made without. */
  readonly buildIndexes: readonly string[];
  readonly copy: string;
  /** Each export column and how its staging value becomes the target's. */
  readonly sources: readonly ColumnSource[];
  /** A table pigeon creates: CREATE TABLE (with NOT NULL and the primary key) and its column comments. */
  readonly createTarget?: readonly string[];
  /** Statements the commit runs first, in its transaction: schema changes of the target (ALTER, or DROP to recreate). */
  readonly before?: readonly string[];
  /** For overwrite of an existing table: what a swap would lose (empty: swap). */
  readonly blockers: string;
  /** Merge through INSERT … ON CONFLICT (the target has a unique index on exactly the key). */
  readonly upsert: boolean;
  /** The staging table's columns (types of the target, or text for values converted on the way in). */
  readonly stagingColumns: readonly StagingColumn[];
  /** deletes: detect: the staging table of the source's key set, whose missing keys the commit deletes. */
  readonly keys?: string;
}

/** Drops tables in one transaction; a table still locked by a dying backend is left for the next load. */
export async function dropQuietly(s: Session, schema: string, names: readonly string[]): Promise<void> {
  try {
    await s.client.query('BEGIN');
    await s.client.query(pgSql.lockTimeout('10s'));
    for (const n of names) await s.client.query(pgSql.dropTable(qualified(schema, n)));
    await s.client.query('COMMIT');
  } catch {
    await s.client.query('ROLLBACK').catch(() => {
      s.broken = true;
    });
  }
}

/** The swap, append or merge, and the load record: one transaction, so it happens once or not at all. */
export async function commitLoad(s: Session, req: ImportRequest, target: TargetRef, plan: LoadPlan, rows: number, created: string[]): Promise<void | { deleted: number }> {
  const exec = (sql: string, values: readonly unknown[] = []) => s.client.query({ text: sql, values: [...values] });
  const swapping = req.mode === 'overwrite' && target.oid !== undefined && plan.blockers === '';
  // The table swapped in, when it is not the staging table itself: a copy of the target filled with converted values.
  let fresh: string | undefined;
  if (swapping && plan.kind === 'typed') {
    fresh = `${plan.staging}_new`;
    const freshQ = qualified(target.schema, fresh);
    await exec(pgSql.createLike(freshQ, target.qualified));
    created.push(fresh);
    await exec(pgSql.insertSelect(freshQ, plan.stagingQ, plan.sources, true));
  }
  if (swapping) await exec(pgSql.analyze(qualified(target.schema, fresh ?? plan.staging)));
  if (req.mode === 'merge' && !plan.upsert) await exec(pgSql.analyze(plan.stagingQ));

  await exec('BEGIN');
  try {
    if ((await rowsOf(s, pgSql.loadCommitted(target.schema), [req.loadId, req.table])).length > 0) {
      await exec('ROLLBACK');
      await dropQuietly(s, target.schema, created);
      return;
    }
    // What is left to drop in this transaction; a table swapped in becomes the target.
    const drop = new Set(created);
    const key = req.key ?? [];
    for (const sql of plan.before ?? []) await exec(sql);
    for (const sql of plan.createTarget ?? []) await exec(sql);
    switch (req.mode) {
      case 'overwrite': {
        if (target.oid === undefined) {
          await exec(pgSql.insertSelect(target.qualified, plan.stagingQ, plan.sources, true));
          break;
        }
        const candidate = fresh ?? (plan.kind === 'like' ? plan.staging : undefined);
        if (candidate !== undefined && (await swap(s, req, target, candidate))) {
          drop.delete(candidate);
          break;
        }
        await replaceRows(s, req, target, plan, candidate);
        break;
      }
      case 'append':
        if (req.replaceWindow) {
          const w = buildRange(pgDialect, req.replaceWindow);
          await exec(pgSql.deleteWhere(target.qualified, w.sql), w.params);
        }
        await exec(pgSql.insertSelect(target.qualified, plan.stagingQ, plan.sources, true));
        break;
      case 'merge':
        if (plan.upsert) {
          await exec(pgSql.upsert(target.qualified, plan.stagingQ, plan.sources, key));
        } else {
          for (const sql of [
            pgSql.mergeUpdate(target.qualified, plan.stagingQ, plan.sources, key),
            pgSql.mergeUpdateNullKeys(target.qualified, plan.stagingQ, plan.sources, key),
            pgSql.mergeInsert(target.qualified, plan.stagingQ, plan.sources, key, false),
            pgSql.mergeInsert(target.qualified, plan.stagingQ, plan.sources, key, true),
          ]) {
            if (sql !== undefined) await exec(sql);
          }
        }
        break;
    }
    let deleted: number | undefined;
    if (plan.keys !== undefined) {
      const keySources = (req.key ?? []).map((k) => plan.sources.find((c) => c.name === k)!);
      deleted = 0;
      for (const nullKeys of [false, true]) deleted += (await exec(pgSql.deleteMissing(target.qualified, plan.keys, keySources, req.key ?? [], nullKeys))).rowCount ?? 0;
    }
    await exec(pgSql.recordLoad(target.schema), [req.loadId, req.table, String(rows)]);
    for (const n of drop) await exec(pgSql.dropTable(qualified(target.schema, n)));
    await exec('COMMIT');
    return deleted === undefined ? undefined : { deleted };
  } catch (e) {
    await exec('ROLLBACK').catch(() => {
      s.broken = true;
    });
    throw e;
  }
}

/**
 * Overwrite in place, inside the commit transaction: used when swapping in a new table would lose something the
 * old one has (privileges, triggers, foreign keys, dependent views … see swapBlockers). Readers wait on
 * TRUNCATE's lock until the commit and then see the new rows, never an empty table. A table that foreign keys
 * reference is replaced by key instead (see keyed-overwrite.ts): deleting its rows would fire their ON DELETE rules.
 */
async function replaceRows(s: Session, req: ImportRequest, target: TargetRef, plan: LoadPlan, copyOfTarget: string | undefined): Promise<void> {
  const references = (await rowsOf<{ name: string; child: string; on_delete: string; columns: string; referenced: string }>(s, referencingKeys, [target.oid])).map(
    (r): Reference => ({
      constraint: r.name,
      table: r.child,
      onDelete: ON_DELETE[r.on_delete] ?? r.on_delete,
      columns: JSON.parse(r.columns) as string[],
      referenced: JSON.parse(r.referenced) as string[],
    }),
  );
  if (references.length > 0) return replaceByKey(s, req, target, plan, references);
  await s.client.query(pgSql.truncate(target.qualified));
  if (copyOfTarget !== undefined) {
    // Already in the target's types; same columns as the export.
    const plain = plan.sources.map((c) => ({ name: c.name }));
    await s.client.query(pgSql.insertSelect(target.qualified, qualified(target.schema, copyOfTarget), plain, false));
  } else {
    await s.client.query(pgSql.insertSelect(target.qualified, plan.stagingQ, plan.sources, true));
  }
}

const ON_DELETE: Readonly<Record<string, string>> = { a: 'NO ACTION', r: 'RESTRICT', c: 'CASCADE', n: 'SET NULL', d: 'SET DEFAULT' };

async function replaceByKey(s: Session, req: ImportRequest, target: TargetRef, plan: LoadPlan, references: readonly Reference[]): Promise<void> {
  // The typed staging table (export columns and load order): a referenced table is never swapped, see swapBlockers.
  if (plan.kind !== 'typed') throw new PipelineError('INTERNAL', `an overwrite of \`${req.table}\` by key needs the typed staging table`);
  const primary = JSON.parse((await rowsOf<{ columns: string }>(s, primaryKeyColumns, [target.oid]))[0]?.columns ?? '[]') as string[];
  const key = replacementKey(req, primary, references);
  const dup = await s.client.query({ text: pgSql.duplicateKey(plan.stagingQ, plan.sources, key), rowMode: 'array' });
  if (dup.rows.length > 0) throw duplicateKeyError(req, key, dup.rows[0] as unknown[]);
  for (const r of references) {
    const orphans = await s.client.query(pgSql.orphanedReference(r.table, target.qualified, plan.stagingQ, plan.sources, r, key));
    if (orphans.rows.length > 0) throw orphanError(req, r);
  }
  await s.client.query(pgSql.replaceDelete(target.qualified, plan.stagingQ, plan.sources, key));
  const update = pgSql.replaceUpdate(target.qualified, plan.stagingQ, plan.sources, key);
  if (update !== undefined) await s.client.query(update);
  await s.client.query(pgSql.replaceInsert(target.qualified, plan.stagingQ, plan.sources, key));
}

/**
 * Replaces the target by `fresh` (made with LIKE target INCLUDING ALL) inside the commit transaction:
 * rename old away, rename new in, drop old. Readers are never shown an empty or half-loaded table: they wait on
 * the rename's lock and then read the new table. What LIKE does not copy keeps the swap from happening (checked
 * again here, under the lock); what it copies under other names is put back:
 * - serial columns: their sequence (shared by the new table's default) is handed to the new table before the
 *   old one is dropped, which would otherwise drop it or fail;
 * - identity columns: the new table's own sequence continues at least where the old one was and takes its name;
 * - indexes (and the constraints they back) and the table comment get their old names and text back.
 * Returns false, with nothing changed, when the swap is not possible; the caller then replaces rows in place.
 */
async function swap(s: Session, req: ImportRequest, target: TargetRef, fresh: string): Promise<boolean> {
  const exec = (sql: string, values: readonly unknown[] = []) => s.client.query({ text: sql, values: [...values] });
  const freshQ = qualified(target.schema, fresh);
  await exec(pgSql.lockExclusive(target.qualified));
  await exec('SAVEPOINT pigeon_swap');
  try {
    const blockers = (await rowsOf<{ blockers: string }>(s, swapBlockers, [target.oid]))[0]?.blockers ?? 'unknown';
    if (blockers !== '') {
      await exec('ROLLBACK TO SAVEPOINT pigeon_swap');
      return false;
    }
    const freshOid = (await rowsOf<{ oid: string }>(s, oidOf, [freshQ]))[0]!.oid;
    for (const r of await rowsOf<{ seq: string; column: string }>(s, ownedSequences, [target.oid])) {
      await exec(pgSql.sequenceOwnedBy(r.seq, freshQ, r.column));
    }
    const identities: { oldName: string; fresh: string }[] = [];
    for (const { column } of await rowsOf<{ column: string }>(s, identityColumns, [target.oid])) {
      await exec(carryIdentity, [target.qualified, freshQ, column]);
      const r = (
        await rowsOf<{ old_name: string; fresh: string }>(
          s,
          identitySequences,
          [target.qualified, freshQ, column],
        )
      )[0];
      if (r?.old_name && r.fresh) identities.push({ oldName: r.old_name, fresh: r.fresh });
    }
    const pairs = await rowsOf<{ old_name: string; new_name: string }>(s, indexPairs, [target.oid, freshOid]);
    const comment = (await rowsOf<{ comment: string | null }>(s, tableComment, [target.oid]))[0]?.comment ?? null;
    const old = workTableName(OLD_PREFIX, req.table, req.loadId);
    await exec(pgSql.renameTable(target.qualified, old));
    await exec(pgSql.renameTable(freshQ, target.name));
    if (comment !== null) await exec(pgSql.commentOn(target.qualified, comment));
    await exec(pgSql.dropOld(qualified(target.schema, old)));
    for (const p of pairs) if (p.old_name !== p.new_name) await exec(pgSql.renameIndex(target.schema, p.new_name, p.old_name));
    for (const i of identities) await exec(pgSql.renameSequence(i.fresh, i.oldName));
    await exec('RELEASE SAVEPOINT pigeon_swap');
    return true;
  } catch (e) {
    // Something the checks did not foresee (a dependency, a permission): fall back to replacing rows in place.
    if (!isDatabaseError(e) || !/^(2B|42|55|0A)/.test(e.code ?? '')) throw e;
    await exec('ROLLBACK TO SAVEPOINT pigeon_swap');
    return false;
  }
}
