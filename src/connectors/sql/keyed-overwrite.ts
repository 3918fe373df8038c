import { PipelineError } from '../../errors/pipeline-error.js';
import type { ImportRequest } from '../contract.js';

/*
 * An overwrite of a table that other tables' foreign keys reference cannot delete and reinsert its rows (ON DELETE
 * CASCADE would empty the referencing tables, SET NULL would cut their links, RESTRICT would fail although nothing
 * dangles): every engine replaces its rows by primary key instead, inside the commit, in three statements (delete
 * the keys not loaded, update the others, insert the new), so no referential action fires on a key that stays.
 * Keys that the referencing tables use must all stay with the same referenced values: pigeon never modifies a
 * table it was not asked to write, so a load that would remove one is refused, naming the table.
 */

/** A foreign key of another table that references the target, as every engine's catalog describes it. */
export interface Reference {
  readonly constraint: string;
  /** The referencing table, for messages (and the engine's own statements). */
  readonly table: string;
  /** The ON DELETE rule, as the engine names it. */
  readonly onDelete: string;
  /** Columns of the referencing table, and the target columns they reference, pairwise. */
  readonly columns: readonly string[];
  readonly referenced: readonly string[];
}

/**
 * The key the rows of a referenced target are replaced by (its primary key), after checking that the load carries
 * it and every referenced column; throws IMPORT_FAILED naming the referencing table otherwise.
 */
export function replacementKey(req: ImportRequest, primaryKey: readonly string[], references: readonly Reference[], caseInsensitive = false): readonly string[] {
  const norm = (n: string) => (caseInsensitive ? n.toLowerCase() : n);
  const first = references[0]!;
  if (primaryKey.length === 0) {
    throw new PipelineError('IMPORT_FAILED', `\`${req.table}\` is referenced by a foreign key of \`${first.table}\` and has no primary key to replace its rows by`, {
      table: req.table,
      hint: 'give the table a primary key, or overwrite the referencing tables first',
    });
  }
  const carried = new Set(req.columns.map((c) => norm(c.name)));
  for (const c of [...primaryKey, ...references.flatMap((r) => r.referenced)]) {
    if (!carried.has(norm(c))) {
      throw new PipelineError('IMPORT_FAILED', `\`${req.table}\` is referenced by a foreign key of \`${first.table}\`: an overwrite must carry its column \`${c}\``, {
        table: req.table,
        column: c,
      });
    }
  }
  return primaryKey;
}

export function duplicateKeyError(req: ImportRequest, key: readonly string[], values: readonly unknown[]): PipelineError {
  return new PipelineError('BAD_VALUE', `the export holds the key (${key.join(', ')}) = (${values.join(', ')}) twice; \`${req.table}\` is replaced by its primary key`, {
    table: req.table,
  });
}

export function orphanError(req: ImportRequest, r: Reference): PipelineError {
  return new PipelineError(
    'IMPORT_FAILED',
    `the overwrite would remove or change rows of \`${req.table}\` that \`${r.table}\` references (foreign key \`${r.constraint}\`, ON DELETE ${r.onDelete}); pigeon does not modify \`${r.table}\``,
    { table: req.table, hint: `load \`${r.table}\` first, or keep the referenced keys in the export` },
  );
}
