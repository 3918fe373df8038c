import { createHash, randomBytes } from 'node:crypto';
import type { ConnectionConfig } from '../../config/types.js';
import type { ColumnSchema } from '../../csv/types.js';
import { PipelineError } from '../../errors/pipeline-error.js';
import { checkKey, folderOf } from './object-store.js';

/**
 * How an object kind lays a table out in its store (the connection's `layout`):
 * - `file`: one object per table, `<table>.csv` (`.csv.gz` with `compress: gzip`), its schema sidecar
 *   `<table>.schema.json`, and the load journal `.pigeon/<table>.csv.loads.json` beside it. A load writes a complete
 *   new object under a temporary name and moves it into place (a rename, or S3's copy), so a reader of the object
 *   always sees one whole version.
 * - `prefix`: the exchange files under `<table>/`: `<table>/manifest.json` lists the current parts
 *   (`<table>/v-<load>/part-00001.csv[.gz]`, one per exported chunk), the columns and the loads committed. A load
 *   writes its parts under a new version prefix and then replaces the manifest (one atomic PUT): readers that go
 *   through the manifest never see a half-done load. The previous version's parts stay until the next load, for
 *   readers still reading them.
 */
export type ObjectLayout = 'file' | 'prefix';

export interface ObjectSettings {
  /** The connection's name, for messages. */
  readonly name: string;
  readonly layout: ObjectLayout;
  /** How a target writes its data objects. */
  readonly compress: 'none' | 'gzip';
}

/** Reads `layout` and `compress` of an object connection; `layout` defaults per kind. */
export function objectSettings(c: ConnectionConfig, defaultLayout: ObjectLayout): ObjectSettings {
  const bad = (msg: string) => new PipelineError('INVALID_CONFIG', `connection \`${c.name}\`: ${msg}`, { connection: c.name });
  const layout = c['layout'] ?? defaultLayout;
  if (layout !== 'file' && layout !== 'prefix') throw bad('`layout` must be `file` (one object per table) or `prefix` (a manifest and parts under <table>/)');
  const compress = c['compress'] ?? 'none';
  if (compress !== 'none' && compress !== 'gzip') throw bad('`compress` must be `none` or `gzip`');
  return { name: c.name, layout, compress };
}

/** `manifest.json` of a table in the `prefix` layout. */
export interface TableManifest {
  readonly format: 'pigeon-objects/1';
  readonly columns: readonly ColumnSchema[];
  /** Keys relative to the store root, in row order. */
  readonly parts: readonly ManifestPart[];
  readonly rows: number;
  /** The most recent load ids committed into the table (the load journal of this layout). */
  readonly loads: readonly string[];
  readonly committed_at: string;
}

export interface ManifestPart {
  readonly key: string;
  readonly rows: number;
  readonly bytes: number;
  readonly sha256: string;
}

/** Load ids remembered per table: enough for any retry of a recent run. */
export const KEEP_LOADS = 200;

/** The keys of one table in a store. */
export class TableKeys {
  readonly table: string;
  readonly #settings: ObjectSettings;

  constructor(settings: ObjectSettings, table: string) {
    const bad = checkKey(table);
    if (bad !== undefined || table.endsWith('/')) {
      throw new PipelineError('INVALID_CONFIG', `table name \`${table}\` cannot name an object: it ${bad ?? 'ends with /'}`, { connection: settings.name, table });
    }
    this.#settings = settings;
    this.table = table;
  }

  get gzip(): boolean {
    return this.#settings.compress === 'gzip';
  }

  /** `file` layout: the data object a target writes. */
  get data(): string {
    return `${this.table}${this.gzip ? '.csv.gz' : '.csv'}`;
  }

  /** `file` layout: where a source looks for the table, the target's own compression first. */
  get candidates(): readonly string[] {
    return this.gzip ? [`${this.table}.csv.gz`, `${this.table}.csv`] : [`${this.table}.csv`, `${this.table}.csv.gz`];
  }

  get sidecar(): string {
    return `${this.table}.schema.json`;
  }

  /** `file` layout: the journal of the data object `data`. */
  journal(data: string): string {
    return `${folderOf(data)}.pigeon/${data.slice(folderOf(data).length)}.loads.json`;
  }

  /**
   * `file` layout: a temporary name for a new version of the data object, with the writer's pid so that a later
   * load's sweep can tell a killed writer's leftover from a live one's work.
   */
  temp(loadId: string): string {
    return `${this.data}.${shortHash(loadId)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  }

  /** `prefix` layout. */
  get folder(): string {
    return `${this.table}/`;
  }

  get manifest(): string {
    return `${this.table}/manifest.json`;
  }

  /** `prefix` layout: the folder of one load's parts. */
  version(loadId: string, salt: string): string {
    return `${this.table}/v-${shortHash(loadId)}-${salt}/`;
  }

  part(version: string, index: number): string {
    return `${version}part-${String(index).padStart(5, '0')}${this.gzip ? '.csv.gz' : '.csv'}`;
  }
}

export function shortHash(s: string): string {
  return createHash('sha256').update(s).digest('hex').slice(0, 10);
}

/** A stored CSV object is gzip-compressed when its name says so. */
export function isGzipKey(key: string): boolean {
  return key.endsWith('.gz');
}
