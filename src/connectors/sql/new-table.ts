import type { ColumnSchema } from '../../csv/types.js';
import type { ImportRequest } from '../contract.js';

/*
 * What a table pigeon creates carries of its source: NOT NULL where the source column is, the source table's
 * primary key (or the merge key, when no part of it may be NULL), and column comments where the engine has them.
 */

/** The primary key of a table created for this load, or undefined for none. */
export function newTableKey(req: ImportRequest): readonly string[] | undefined {
  const fromSource = req.columns.filter((c) => c.key !== undefined).sort((a, b) => a.key! - b.key!);
  if (fromSource.length > 0 && fromSource.every((c, i) => c.key === i + 1)) return fromSource.map((c) => c.name);
  const key = req.mode === 'merge' ? (req.key ?? []) : [];
  const columns = key.map((k) => req.columns.find((c) => c.name === k));
  return columns.length > 0 && columns.every((c) => c !== undefined && !c.nullable) ? key : undefined;
}

/** Marks the primary key on described columns when every part of it is among them (a key in part is no key). */
export function withSourceKey(columns: readonly ColumnSchema[], key: readonly string[]): ColumnSchema[] {
  if (key.length === 0 || !key.every((k) => columns.some((c) => c.name === k))) return [...columns];
  return columns.map((c) => (key.includes(c.name) ? { ...c, key: key.indexOf(c.name) + 1 } : c));
}

/** Adds comments (by column name) to described columns. */
export function withComments(columns: readonly ColumnSchema[], comments: ReadonlyMap<string, string>): ColumnSchema[] {
  return columns.map((c) => {
    const comment = comments.get(c.name);
    return comment ? { ...c, comment } : c;
  });
}
