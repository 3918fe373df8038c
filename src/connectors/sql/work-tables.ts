import { createHash } from 'node:crypto';

/** Tables an import works in: the staging table of a load, and the old target of a swap until it is dropped. */
export const STAGING_PREFIX = '_pigeon_stg_';
export const OLD_PREFIX = '_pigeon_old_';
/** The table in the target database where each committed load is recorded, in the commit's own transaction. */
export const LOADS_TABLE = '_pigeon_loads';
/** The staging column that keeps the load order ("the last row of a key in the load wins"). */
export const SEQ_COLUMN = '_pigeon_seq';

function shortHash(s: string): string {
  return createHash('sha256').update(s).digest('hex').slice(0, 10);
}

/** `<prefix><table hash>_`: every work table of one target table starts so, which is how leftovers are found. */
export function workTablePrefix(prefix: string, table: string): string {
  return `${prefix}${shortHash(table)}_`;
}

/**
 * The name of the lock a load holds on a work table while it lives (a named lock, an advisory lock): the work tables
 * of another load into the same table, from another pipeline or directory, are left alone while their lock is held,
 * and dropped as leftovers of a crash only once it is free.
 */
export function workTableLock(name: string): string {
  return `pigeon:${name}`;
}

/** `<prefix><table hash>_<load hash>`: unique per load (and short enough for any engine's identifier limit). */
export function workTableName(prefix: string, table: string, loadId: string): string {
  return `${workTablePrefix(prefix, table)}${shortHash(loadId)}`;
}
