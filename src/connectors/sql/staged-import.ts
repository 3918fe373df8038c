import { PipelineError } from '../../errors/pipeline-error.js';
import type { ChunkFeed, ImportRequest, ImportResult } from '../contract.js';
import { abortable, drainFeed } from '../feed.js';
import { describeHolds, lossyInto, type Holds } from '../lossy.js';
import { describeChanges, hasChanges, schemaChanges, type SchemaChanges } from './schema-changes.js';

/** A column of an existing target table, as the engine's catalog names it. */
export interface TargetColumn {
  readonly name: string;
  /** What the column holds, in portable terms, when the engine can tell: loads that it would round are refused. */
  readonly holds?: Holds;
}

/** An existing target table as an engine describes it; engines extend it with what their load and commit need. */
export interface TargetTable {
  readonly columns: readonly TargetColumn[];
}

/**
 * One import into a SQL engine through a staging table: the steps every engine fills in with its own dialect and
 * sessions. `stagedImport` runs them in order and keeps the rules that are the same everywhere.
 */
export interface StagedLoad<T extends TargetTable> {
  /** Column names compare case-insensitively in this engine (MySQL). */
  readonly caseInsensitiveNames?: boolean;
  /** Whether `req.loadId` has committed into the table already (creating the load records table when missing). */
  committed(): Promise<boolean>;
  /** The target table, or undefined when it does not exist. */
  target(): Promise<T | undefined>;
  /** Drops work tables that crashed loads into the same target left behind. */
  dropLeftovers(): Promise<void>;
  /**
   * `schema_changes: add_columns`: makes the target take the export's new columns (nullable) and widens the narrower
   * ones (now, or inside the commit where the engine's DDL is transactional), and returns the target as the load
   * is to see it. An engine without it refuses such changes.
   */
  evolve?(target: T, changes: SchemaChanges): Promise<T>;
  /**
   * `schema_changes: recreate`: the existing table is to be replaced by one made from the export's schema; the load
   * then runs as if the table did not exist, and the commit replaces it. An engine without it refuses.
   */
  replace?(target: T): Promise<void>;
  /** Creates the staging table and loads every chunk of the feed into it; returns the rows loaded. */
  load(target: T | undefined, feed: ChunkFeed): Promise<number>;
  /**
   * `deletes: detect`: loads the source's key set (ImportRequest.deleteMissing) into a staging table of its own, for
   * the commit to delete the target's rows whose key is not in it; returns the keys loaded. An engine without it
   * refuses such a node.
   */
  loadKeys?(target: T | undefined, keys: ChunkFeed): Promise<number>;
  /** The swap, append or merge together with the load record: happens once or not at all. */
  commit(target: T | undefined, rows: number): Promise<void | { readonly deleted?: number }>;
  /**
   * After a failure: drops what this load created, if it can (the next load drops leftovers anyway). Engines whose
   * session may be gone by then clean up on a fresh one after `stagedImport` returns instead.
   */
  abandon?(): Promise<void>;
}

/**
 * The skeleton of every SQL import: a load that committed in an earlier attempt is not loaded again (its feed is
 * drained); the target must exist unless it may be created, and hold every exported column; a merge needs its key
 * among the exported columns; the staging table must receive exactly the rows the export wrote before the commit.
 */
export async function stagedImport<T extends TargetTable>(
  req: ImportRequest,
  feed: ChunkFeed,
  signal: AbortSignal | undefined,
  load: StagedLoad<T>,
): Promise<ImportResult> {
  if (await load.committed()) {
    // Committed by an earlier attempt that died before recording it: loading again would duplicate rows. Its
    // staging table may still be there (killed between the commit and the drop).
    await load.dropLeftovers();
    return { rows: await drainFeed(feed, signal) };
  }
  const ci = load.caseInsensitiveNames ?? false;
  let target = await load.target();
  let changed: string | undefined;
  if (target) ({ target, changed } = await applySchemaChanges(req, target, load, ci));
  checkTarget(req, target, ci);
  await load.dropLeftovers();
  try {
    const loaded = await load.load(target, feed);
    await expectRows(req, loaded, feed, signal);
    if (req.deleteMissing) {
      if (!load.loadKeys) throw new PipelineError('UNSUPPORTED', `this target cannot detect deleted keys of \`${req.table}\``, { table: req.table });
      await expectRows(req, await load.loadKeys(target, req.deleteMissing), req.deleteMissing, signal);
    }
    signal?.throwIfAborted();
    req.onCommit?.();
    const done = await load.commit(target, loaded);
    return { rows: loaded, ...(changed ? { schemaChanges: changed } : {}), ...(done?.deleted !== undefined ? { deleted: done.deleted } : {}) };
  } catch (e) {
    await load.abandon?.().catch(() => {});
    throw e;
  }
}

/** The staging table must hold exactly the rows the export wrote. */
async function expectRows(req: ImportRequest, loaded: number, feed: ChunkFeed, signal: AbortSignal | undefined): Promise<void> {
  const expected = await abortable(feed.totalRows(), signal);
  if (loaded !== expected) {
    throw new PipelineError('ROW_COUNT_MISMATCH', `loaded ${loaded} rows into staging but the export wrote ${expected}`, { table: req.table });
  }
}

/**
 * `schema_changes` on an existing target: `fail` refuses new columns (a column no longer exported is loaded as NULL,
 * as before); `add_columns` lets the engine add and widen; `recreate` (overwrite) has it replace the table. Returns
 * the target the load is to see (undefined: made anew) and what changed, for the node's record.
 */
async function applySchemaChanges<T extends TargetTable>(
  req: ImportRequest,
  target: T,
  load: StagedLoad<T>,
  ci: boolean,
): Promise<{ target: T | undefined; changed?: string }> {
  const changes = schemaChanges(req.columns, target.columns, ci);
  const policy = req.schemaChanges ?? 'fail';
  if (policy === 'recreate' && req.mode === 'overwrite' && hasChanges(changes)) {
    if (!load.replace) throw new PipelineError('UNSUPPORTED', `this target cannot recreate \`${req.table}\``, { table: req.table });
    await load.replace(target);
    return { target: undefined, changed: `recreated from the export's schema (${describeChanges(changes)})` };
  }
  if (policy === 'add_columns' && (changes.added.length > 0 || changes.widened.length > 0)) {
    if (!load.evolve) throw new PipelineError('UNSUPPORTED', `this target cannot add columns to \`${req.table}\``, { table: req.table });
    const evolved = await load.evolve(target, { ...changes, removed: [], retyped: [] });
    return { target: evolved, changed: describeChanges({ ...changes, removed: [], retyped: [] }) };
  }
  if (changes.added.length > 0) {
    throw new PipelineError('SCHEMA_CHANGED', `the export's columns differ from target table \`${req.table}\`: ${describeChanges(changes)}`, {
      table: req.table,
      column: changes.added[0]!.name,
      hint: `set \`schema_changes: add_columns\` on the node (or in \`defaults\`) to add them${req.mode === 'overwrite' ? ', or `recreate` to rebuild the table from the export' : ''}`,
    });
  }
  return { target };
}

/** The rules on a target every engine shares; throws IMPORT_FAILED naming the table and column. */
export function checkTarget(req: ImportRequest, target: TargetTable | undefined, caseInsensitive: boolean): void {
  const norm = caseInsensitive ? (n: string) => n.toLowerCase() : (n: string) => n;
  if (!target && req.create === 'never') {
    throw new PipelineError('IMPORT_FAILED', `target table \`${req.table}\` does not exist and create is \`never\``, { table: req.table });
  }
  if (target) {
    const have = new Set(target.columns.map((c) => norm(c.name)));
    for (const c of req.columns) {
      if (!have.has(norm(c.name))) {
        throw new PipelineError('IMPORT_FAILED', `column \`${c.name}\` of the export does not exist in target table \`${req.table}\``, {
          table: req.table,
          column: c.name,
        });
      }
    }
  }
  if (target && req.lossy !== 'allow') {
    for (const c of req.columns) {
      const t = targetColumn(target.columns, c.name, caseInsensitive);
      const why = t?.holds && lossyInto(c, t.holds);
      if (why) {
        throw new PipelineError('LOSSY_VALUE', `column \`${c.name}\` of \`${req.table}\` would change values of the export's ${describeHolds(c)}: ${why}`, {
          table: req.table,
          column: c.name,
          hint: 'widen the target column, or set `lossy: allow` on the node\'s target to let the target round them',
        });
      }
    }
  }
  const window = req.replaceWindow;
  if (window && !req.columns.some((c) => norm(c.name) === norm(window.column))) {
    throw new PipelineError('IMPORT_FAILED', `a window append replaces the interval's rows of \`${req.table}\` by \`${window.column}\`, which the export does not carry`, {
      table: req.table,
      column: window.column,
    });
  }
  if (req.mode === 'merge') {
    const key = req.key ?? [];
    if (key.length === 0) throw new PipelineError('IMPORT_FAILED', 'merge needs a key', { table: req.table });
    const exported = new Set(req.columns.map((c) => norm(c.name)));
    const missing = key.find((k) => !exported.has(norm(k)));
    if (missing !== undefined) {
      throw new PipelineError('IMPORT_FAILED', `merge key column \`${missing}\` is not among the exported columns`, { table: req.table, column: missing });
    }
  }
}

/** The column of `target` that an exported column loads into (see StagedLoad.caseInsensitiveNames). */
export function targetColumn<C extends TargetColumn>(columns: readonly C[], name: string, caseInsensitive: boolean): C | undefined {
  return columns.find((c) => c.name === name) ?? (caseInsensitive ? columns.find((c) => c.name.toLowerCase() === name.toLowerCase()) : undefined);
}
