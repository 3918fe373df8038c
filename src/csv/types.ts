/**
 * The CSV exchange format between an export and an import. A contract, documented in the README:
 * UTF-8, RFC 4180 quoting, a header row, NULL as an unquoted `\N`, the empty string as `""`, a literal `\N` string
 * quoted, binary as base64, decimals as exact text, timestamps as written by the source with no time-zone shift.
 *
 * In memory a cell is `string | null`: connectors turn native values into that text (see csv/values.ts) and back.
 */
export type Cell = string | null;

/** Portable column types of the schema sidecar. Every connector maps its native types to and from these. */
export type PortableType =
  | 'boolean'
  | 'int16'
  | 'int32'
  | 'int64'
  | 'uint64'
  | 'float32'
  | 'float64'
  | 'decimal'
  | 'string'
  | 'text'
  | 'binary'
  | 'date'
  | 'time'
  | 'timestamp'
  | 'timestamptz'
  | 'json'
  | 'uuid';

export interface ColumnSchema {
  readonly name: string;
  readonly type: PortableType;
  readonly nullable: boolean;
  /**
   * decimal precision and scale, string length, when the source knows them; for time, timestamp and timestamptz,
   * `precision` is the number of fractional-second digits.
   */
  readonly precision?: number;
  readonly scale?: number;
  readonly length?: number;
  /** The source's own type name, for people and for same-engine copies. */
  readonly source_type?: string;
  /** 1-based position in the source table's primary key (every part of the key is exported, or none is marked). */
  readonly key?: number;
  /** The source column's comment, where the source has one. */
  readonly comment?: string;
}

/** `schema.json` beside the chunk files. */
export interface SchemaSidecar {
  readonly format: 'pigeon-csv/1';
  readonly columns: readonly ColumnSchema[];
}

export interface ManifestChunk {
  readonly index: number;
  /** File name relative to the node's staging folder. */
  readonly file: string;
  readonly rows: number;
  readonly bytes: number;
  readonly sha256: string;
}

/** `manifest.json`: written once every chunk is exported. */
export interface Manifest {
  readonly format: 'pigeon-csv/1';
  readonly node: string;
  readonly compress: 'none' | 'gzip';
  readonly chunks: readonly ManifestChunk[];
  readonly rows: number;
  readonly bytes: number;
}

export const NULL_TOKEN = '\\N';
