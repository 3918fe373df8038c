import { createHash } from 'node:crypto';
import type { ChunkSpec, RangePredicate } from '../connectors/contract.js';
import type { ColumnSchema } from '../csv/types.js';

/** One chunk: what the source's kind cut (`range`, `part`), its file, and once exported what the file holds. */
export interface ChunkCheckpoint extends ChunkSpec {
  readonly file: string;
  readonly done: boolean;
  readonly rows?: number;
  /** Size and SHA-256 of the file as stored: a resumed chunk is reused only if its bytes still match. */
  readonly bytes?: number;
  readonly sha256?: string;
  /** What the export counted doing to values (see CsvSink.count), e.g. `zero_dates`. */
  readonly counts?: Readonly<Record<string, number>>;
}

/**
 * `checkpoint.json` in a node's staging area: everything needed to resume the node from durable files alone.
 * The export's bounds (window, watermark range, split boundaries) are frozen here when the node first starts, so a
 * resumed export reads exactly the rows the first attempt would have.
 */
export interface NodeCheckpoint {
  readonly version: 1;
  readonly node: string;
  /** Hash of the node's rendered definition; a checkpoint of another definition is never reused. */
  readonly definition: string;
  readonly load_id: string;
  readonly window?: RangePredicate;
  /** The watermark this load advances to once committed. */
  readonly watermark_to?: string | null;
  readonly columns: readonly ColumnSchema[];
  readonly chunks: readonly ChunkCheckpoint[];
  /**
   * `deletes: detect`: the source's whole key set (the merge key's columns, every row the source selects, no
   * incremental window), exported in chunks of its own beside the data, so the import can delete the target's keys
   * the source no longer has.
   */
  readonly key_columns?: readonly ColumnSchema[];
  readonly key_chunks?: readonly ChunkCheckpoint[];
  readonly imported: boolean;
  /** This load is a full refresh (`--full-refresh`, or a missing target with `on_missing_target: full_refresh`). */
  readonly full_refresh?: boolean;
  readonly rows_imported?: number;
  readonly created_at: string;
}

export function definitionHash(value: unknown): string {
  return createHash('sha256').update(stableStringify(value)).digest('hex').slice(0, 16);
}

function stableStringify(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(stableStringify).join(',')}]`;
  if (v && typeof v === 'object') {
    return `{${Object.keys(v)
      .sort()
      .filter((k) => (v as Record<string, unknown>)[k] !== undefined)
      .map((k) => `${JSON.stringify(k)}:${stableStringify((v as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v);
}
