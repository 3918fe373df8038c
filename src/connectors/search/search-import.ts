import { createHash } from 'node:crypto';
import { openCsv } from '../../csv/reader.js';
import type { Cell, ColumnSchema } from '../../csv/types.js';
import { PipelineError, toPipelineError } from '../../errors/pipeline-error.js';
import type { ChunkFeed, ImportRequest, ImportResult } from '../contract.js';
import { drainFeed } from '../feed.js';
import { describeHolds, lossyInto } from '../lossy.js';
import { describeChanges } from '../sql/schema-changes.js';
import { BulkWriter, describeRejection, type Rejection } from './search-bulk.js';
import { getMappings, leafFields, type IndexMapping, type PigeonMeta } from './search-export.js';
import { JsonComposite } from './search-json.js';
import { scan, type SearchContext } from './search-scan.js';
import { fieldFor, holdsOfField, integerFieldLoses, jsonWriter } from './search-types.js';

/** The index of load records: one document per committed load (`table`, `load_id`, `rows`, `committed_at`). */
export const LOADS_INDEX = 'pigeon_loads';

/** Fields Elasticsearch keeps for itself: a column of one of these names cannot be a document field. */
const METADATA_FIELDS = new Set(['_id', '_index', '_source', '_routing', '_type', '_version', '_seq_no', '_primary_term', '_field_names', '_ignored', '_size', '_doc_count', '_tier', '_data_stream_timestamp', '_nested_path', '_feature', '_timestamp', '_meta']);

interface TargetState {
  /** Concrete indices behind the name (the index itself, or the alias's). */
  readonly indices: readonly string[];
  /** Whether the name is an alias (else an index, or nothing). */
  readonly alias: boolean;
  /** The mapping and settings to copy into a new index: the write index's, or the only one's. */
  readonly mapping?: IndexMapping['mappings'];
  readonly settings?: Record<string, unknown>;
  /** Other aliases of those indices, moved along when an overwrite swaps. */
  readonly otherAliases: readonly { readonly index: string; readonly alias: string; readonly body: Record<string, unknown> }[];
}

/**
 * Loads into Elasticsearch/OpenSearch through a work index `<table>_<run id>` that only this load writes:
 * - every mode first indexes all chunks into the work index (ids from `key`, or from the load and the row: a repeated
 *   request changes nothing), so rejected documents, a failed export or an abort leave the target untouched;
 * - `overwrite`, and any mode whose target does not exist yet, then commit by one atomic alias action: the name
 *   moves to the work index (which records the load id in its `_meta`), the old indices are deleted after;
 * - `append` and `merge` into an existing target copy the work index into it (`index`, or `update` with
 *   `doc_as_upsert`), record the load in `pigeon_loads`, and delete the work index. That copy is not atomic to
 *   searches; a failure in it is completed by the retry (the same ids, the same result).
 */
export class SearchImport {
  readonly #ctx: SearchContext;

  constructor(ctx: SearchContext) {
    this.#ctx = ctx;
  }

  #fail(message: string, table: string, extra: Record<string, unknown> = {}): PipelineError {
    return new PipelineError('IMPORT_FAILED', message, { connection: this.#ctx.connection, table, ...extra });
  }

  async #json<T>(method: string, path: string, body: unknown, table: string, signal?: AbortSignal, accept?: number[]): Promise<T & { status: number }> {
    return this.#ctx.http.json<T>(method, path, body, { code: 'IMPORT_FAILED', signal, context: { table }, ...(accept ? { accept } : {}) });
  }

  async isCommitted(table: string, loadId: string, signal?: AbortSignal): Promise<boolean> {
    const record = await this.#json<{ found?: boolean }>('GET', `/${LOADS_INDEX}/_doc/${recordId(table, loadId)}`, undefined, table, signal, [404]);
    if (record.found === true) return true;
    // An overwrite commits by the alias swap, before its record is written: the index behind the name says.
    const mappings = await getMappings(this.#ctx, table, signal).catch(() => undefined);
    return Object.values(mappings ?? {}).some((m) => m.mappings?._meta?.pigeon?.load === loadId);
  }

  async import(req: ImportRequest, feed: ChunkFeed, signal?: AbortSignal): Promise<ImportResult> {
    const table = req.table;
    checkIndexName(table, this.#ctx.connection);
    checkColumns(req, this.#ctx.connection);
    if (await this.isCommitted(table, req.loadId, signal)) {
      if (req.deleteMissing) await drainFeed(req.deleteMissing, signal);
      return { rows: await drainFeed(feed, signal) };
    }
    const target = await this.#target(table, signal);
    if (target.indices.length === 0 && req.create === 'never') {
      throw this.#fail(`index \`${table}\` does not exist and create is \`never\``, table);
    }
    const changed = this.#schemaChanges(req, target);
    if (!changed?.recreate) this.#checkLossy(req, target);
    const work = workIndexName(table, req.loadId);
    await this.#dropLeftovers(table, target, signal);
    let committed = false;
    try {
      await this.#createWork(work, req, changed?.recreate ? { ...target, mapping: undefined, settings: undefined } : target, signal);
      const load = await this.#load(work, req, feed, signal);
      const commitBySwap = req.mode === 'overwrite' || target.indices.length === 0;
      await this.#ready(work, target, commitBySwap, signal);
      let deleted: number | undefined;
      if (commitBySwap) {
        // A new index holds only this load's documents: no key of it can be missing from the source.
        if (req.deleteMissing) await drainFeed(req.deleteMissing, signal);
        if (req.deleteMissing) deleted = 0;
        await this.#swap(table, work, target, signal);
        committed = true;
        await this.#record(table, req, load.rows, signal);
        // An index of the table's own name went in the swap (remove_index); the alias's old indices go now.
        for (const old of target.alias ? target.indices : []) await this.#deleteIndex(old, signal);
      } else {
        await this.#copy(work, table, req, signal);
        if (req.deleteMissing) deleted = await this.#deleteMissing(work, table, req, req.deleteMissing, signal);
        await this.#ctx.http.call('POST', `/${encodeURIComponent(table)}/_refresh`, undefined, { code: 'IMPORT_FAILED', signal, context: { table } });
        await this.#record(table, req, load.rows, signal);
        committed = true;
        await this.#deleteIndex(work, signal);
      }
      return { ...load, ...(changed ? { schemaChanges: changed.text } : {}), ...(deleted !== undefined ? { deleted } : {}) };
    } catch (e) {
      if (!committed) await this.#deleteIndex(work).catch(() => {});
      await this.#deleteIndex(`${work}-keys`).catch(() => {});
      if (signal?.aborted) throw signal.reason;
      throw toPipelineError(e, 'IMPORT_FAILED', { connection: this.#ctx.connection, table });
    }
  }

  /** What the name is now: nothing, an index, or an alias over indices (with their mapping and settings). */
  async #target(table: string, signal?: AbortSignal): Promise<TargetState> {
    const reply = await this.#json<Record<string, { aliases?: Record<string, Record<string, unknown>>; mappings?: IndexMapping['mappings']; settings?: { index?: Record<string, unknown> } }>>(
      'GET',
      `/${encodeURIComponent(table)}`,
      undefined,
      table,
      signal,
      [404],
    );
    if (reply.status === 404) return { indices: [], alias: false, otherAliases: [] };
    const { status: _status, ...byIndex } = reply;
    const indices = Object.keys(byIndex);
    const alias = !indices.includes(table);
    const write = indices.find((i) => byIndex[i]?.aliases?.[table]?.['is_write_index'] === true) ?? indices[0]!;
    const otherAliases = indices.flatMap((index) =>
      Object.entries(byIndex[index]?.aliases ?? {})
        .filter(([a]) => a !== table)
        .map(([a, body]) => ({ index, alias: a, body })),
    );
    return { indices, alias, mapping: byIndex[write]?.mappings, settings: byIndex[write]?.settings?.index ?? {}, otherAliases };
  }

  /** Values an existing field would narrow where it is indexed (`_source` keeps them) fail unless `lossy: allow`. */
  #checkLossy(req: ImportRequest, target: TargetState): void {
    if (req.lossy === 'allow' || !target.mapping) return;
    const fields = new Map(leafFields(target.mapping.properties));
    for (const c of req.columns) {
      const field = fields.get(c.name);
      if (!field) continue;
      const holds = holdsOfField(field);
      const why = integerFieldLoses(c, field) ?? (holds ? lossyInto(c, holds) : undefined);
      if (why) {
        throw new PipelineError('LOSSY_VALUE', `column \`${c.name}\` (${describeHolds(c)}) into field \`${c.name}\` of \`${req.table}\` (${String(field['type'])}) would change values: ${why}`, {
          connection: this.#ctx.connection,
          table: req.table,
          column: c.name,
          hint: 'change the field, or set `lossy: allow` on the target',
        });
      }
    }
  }

  /**
   * `schema_changes` against an existing index: columns the target has no field for fail the load (`fail`, the
   * default), become fields (`add_columns`), or an overwrite builds the new index from the export alone (`recreate`).
   */
  #schemaChanges(req: ImportRequest, target: TargetState): { text: string; recreate: boolean } | undefined {
    if (!target.mapping) return undefined;
    const fields = leafFields(target.mapping.properties).map(([name]) => name);
    const added = req.columns.filter((c) => !fields.some((f) => f === c.name || f.startsWith(`${c.name}.`)));
    if (added.length === 0) return undefined;
    const text = describeChanges({ added, removed: [], widened: [], retyped: [] });
    const policy = req.schemaChanges ?? 'fail';
    if (policy === 'recreate' && req.mode === 'overwrite') return { text: `recreated from the export's schema (${text})`, recreate: true };
    if (policy === 'add_columns') return { text, recreate: false };
    throw new PipelineError('SCHEMA_CHANGED', `the export's columns differ from index \`${req.table}\`: ${text}`, {
      connection: this.#ctx.connection,
      table: req.table,
      column: added[0]!.name,
      hint: `set \`schema_changes: add_columns\` on the node (or in \`defaults\`) to add them as fields${req.mode === 'overwrite' ? ', or `recreate` to build the index from the export' : ''}`,
    });
  }

  /** Whether the name exists and holds a document. */
  async probe(table: string, signal?: AbortSignal): Promise<'missing' | 'empty' | 'filled'> {
    const r = await this.#json<{ count?: number }>('GET', `/${encodeURIComponent(table)}/_count`, undefined, table, signal, [404]);
    return r.status === 404 ? 'missing' : (r.count ?? 0) > 0 ? 'filled' : 'empty';
  }

  /** Work indices of earlier loads into this name that crashed before their commit. */
  async #dropLeftovers(table: string, target: TargetState, signal?: AbortSignal): Promise<void> {
    const mappings = await getMappings(this.#ctx, `${table}_*`, signal).catch(() => undefined);
    for (const [index, m] of Object.entries(mappings ?? {})) {
      if (m.mappings?._meta?.pigeon?.alias === table && !target.indices.includes(index)) await this.#deleteIndex(index, signal);
    }
  }

  async #createWork(work: string, req: ImportRequest, target: TargetState, signal?: AbortSignal): Promise<void> {
    const meta: PigeonMeta = { columns: req.columns, load: req.loadId, alias: req.table };
    const inherited = target.mapping ?? {};
    const create = (unsignedLong: boolean) => {
      const properties: Record<string, unknown> = { ...(inherited.properties ?? {}) };
      const existing = new Set(leafFields(inherited.properties).map(([name]) => name));
      // A field the target has (a leaf, or an object of them) keeps its mapping: the work index must refuse what the
      // target would.
      const has = (name: string) => existing.has(name) || [...existing].some((f) => f.startsWith(`${name}.`));
      for (const c of req.columns) if (!has(c.name)) properties[c.name] = fieldFor(c, unsignedLong);
      return {
        settings: { index: { ...copiedSettings(target.settings), number_of_replicas: 0, refresh_interval: '-1' } },
        mappings: { ...inherited, _meta: { ...(inherited._meta ?? {}), pigeon: meta }, properties },
      };
    };
    const path = `/${encodeURIComponent(work)}`;
    const first = await this.#ctx.http.call('PUT', path, JSON.stringify(create(this.#ctx.server.unsignedLong)), { code: 'IMPORT_FAILED', signal, context: { table: req.table }, accept: [400] });
    if (first.status === 400) {
      // A distribution without unsigned_long (Elasticsearch without x-pack): uint64 columns become keyword fields.
      if (!/unsigned_long/.test(first.text)) throw this.#ctx.http.replyError('PUT', path, first, 'IMPORT_FAILED', { table: req.table });
      await this.#ctx.http.call('PUT', path, JSON.stringify(create(false)), { code: 'IMPORT_FAILED', signal, context: { table: req.table } });
    }
  }

  /** Every chunk into the work index; the rows it holds must be the rows exported, less the rejects allowed. */
  async #load(work: string, req: ImportRequest, feed: ChunkFeed, signal?: AbortSignal): Promise<ImportResult> {
    const names = req.columns.map((c) => c.name);
    const toDoc = documentWriter(req.columns, req.lossy === 'allow');
    const keyed = req.key && req.key.length > 0;
    const idOf = keyed ? keyIdOf(req.key!, names) : undefined;
    const loadTag = createHash('sha256').update(req.loadId).digest('base64url').slice(0, 12);
    const bulk = new BulkWriter(this.#ctx, { index: work, conflictsSupersede: Boolean(keyed), ...(signal ? { signal } : {}) });
    let rows = 0;
    for await (const chunk of feed) {
      const csv = await openCsv(await chunk.open(), { name: chunk.name, expectColumns: names });
      let n = 0;
      for await (const row of csv.rows) {
        n++;
        let lines: string;
        let id: string;
        try {
          if (idOf) {
            id = idOf(row.cells);
            // The version orders a load's rows: when a key comes twice, the later row wins whatever arrives first.
            lines = `{"index":{"_id":${JSON.stringify(id)},"version":${chunk.index * 2 ** 32 + n},"version_type":"external"}}\n${toDoc(row.cells)}\n`;
          } else {
            id = `${loadTag}.${chunk.index}.${n}`;
            lines = `{"index":{"_id":"${id}"}}\n${toDoc(row.cells)}\n`;
          }
        } catch (e) {
          throw toPipelineError(e, 'BAD_VALUE', { chunk: chunk.name, chunkLine: row.line, table: req.table });
        }
        rows++;
        const wait = bulk.add({ id, chunk: chunk.name, line: row.line }, lines);
        if (wait) await wait;
      }
      signal?.throwIfAborted();
    }
    await bulk.finish();
    const expected = await feed.totalRows();
    if (rows !== expected) throw new PipelineError('ROW_COUNT_MISMATCH', `read ${rows} rows from the chunks but the export wrote ${expected}`, { table: req.table });
    const allowed = req.maxRejects ?? 0;
    if (bulk.rejectedCount > allowed) throw rejected(req, bulk.rejectedCount, bulk.rejections, allowed, this.#ctx.connection);
    const applied = rows - bulk.rejectedCount;
    return {
      rows: applied,
      ...(bulk.rejectedCount > 0 ? { rejected: bulk.rejectedCount, note: rejectionNote(bulk.rejectedCount, bulk.rejections) } : {}),
    };
  }

  /** Settings back as they should be, then visible to searches. */
  async #ready(work: string, target: TargetState, final: boolean, signal?: AbortSignal): Promise<void> {
    if (final) {
      const s = target.settings ?? {};
      const body = { index: { number_of_replicas: s['number_of_replicas'] ?? null, refresh_interval: s['refresh_interval'] ?? null } };
      await this.#ctx.http.call('PUT', `/${encodeURIComponent(work)}/_settings`, JSON.stringify(body), { code: 'IMPORT_FAILED', signal, context: { table: work } });
    }
    await this.#ctx.http.call('POST', `/${encodeURIComponent(work)}/_refresh`, undefined, { code: 'IMPORT_FAILED', signal, context: { table: work } });
  }

  /** One atomic alias action: the name now means the work index (an index of that name is removed in it). */
  async #swap(table: string, work: string, target: TargetState, signal?: AbortSignal): Promise<void> {
    const actions: unknown[] = [];
    if (target.indices.length > 0 && !target.alias) actions.push({ remove_index: { index: table } });
    for (const index of target.alias ? target.indices : []) actions.push({ remove: { index, alias: table } });
    actions.push({ add: { index: work, alias: table } });
    for (const a of target.otherAliases) actions.push({ add: { ...a.body, index: work, alias: a.alias } });
    await this.#json('POST', '/_aliases', { actions }, table, signal);
  }

  /** append and merge into an existing target: every document of the work index, with its id. */
  async #copy(work: string, table: string, req: ImportRequest, signal?: AbortSignal): Promise<void> {
    const bulk = new BulkWriter(this.#ctx, { index: table, ...(signal ? { signal } : {}) });
    // A partial update merges objects into the stored ones: JSON columns are set to null first, so they are replaced.
    const jsonColumns = req.columns.filter((c) => c.type === 'json').map((c) => `${JSON.stringify(c.name)}:null`);
    const reset = jsonColumns.length > 0 ? `{"doc":{${jsonColumns.join(',')}},"doc_as_upsert":true}\n` : '';
    await scan(this.#ctx, { index: work, query: { match_all: {} }, source: true, code: 'IMPORT_FAILED' }, async (hits: readonly JsonComposite[]) => {
      for (const hit of hits) {
        const id = hit.get('_id') as string;
        const source = (hit.get('_source') as JsonComposite).raw();
        const action = `{"${req.mode === 'merge' ? 'update' : 'index'}":{"_id":${JSON.stringify(id)}}}\n`;
        const lines = req.mode === 'merge' ? `${reset ? action + reset : ''}${action}{"doc":${source},"doc_as_upsert":true}\n` : `${action}${source}\n`;
        const wait = bulk.add({ id }, lines, req.mode === 'merge' && reset ? 2 : 1);
        if (wait) await wait;
      }
    }, signal);
    await bulk.finish();
    if (bulk.rejectedCount > 0) {
      throw new PipelineError('IMPORT_FAILED', `the commit into \`${table}\` stopped part-way: ${rejectionNote(bulk.rejectedCount, bulk.rejections)}; a retry completes it`, {
        connection: this.#ctx.connection,
        table,
        transient: false,
      });
    }
  }

  /**
   * `deletes: detect`: the source's keys go into an index of their own (`<work index>-keys`, ids only); then every
   * document of the target whose id is not among them is deleted. Like the copy, repeatable, not atomic to searches.
   */
  async #deleteMissing(work: string, table: string, req: ImportRequest, keys: ChunkFeed, signal?: AbortSignal): Promise<number> {
    const keysIndex = `${work}-keys`;
    const mappings = { dynamic: false, _meta: { pigeon: { alias: table } }, properties: {} };
    await this.#json('PUT', `/${encodeURIComponent(keysIndex)}`, { settings: { index: { number_of_replicas: 0, refresh_interval: '-1' } }, mappings }, table, signal);
    try {
      const bulk = new BulkWriter(this.#ctx, { index: keysIndex, ...(signal ? { signal } : {}) });
      let rows = 0;
      for await (const chunk of keys) {
        const csv = await openCsv(await chunk.open(), { name: chunk.name });
        const idOf = keyIdOf(req.key ?? [], csv.header);
        for await (const row of csv.rows) {
          rows++;
          // A NULL key is never a document id: such source rows keep no document.
          if (row.cells.some((c) => c === null)) continue;
          const id = idOf(row.cells);
          const wait = bulk.add({ id, chunk: chunk.name, line: row.line }, `{"index":{"_id":${JSON.stringify(id)}}}\n{}\n`);
          if (wait) await wait;
        }
      }
      await bulk.finish();
      const expected = await keys.totalRows();
      if (rows !== expected) throw new PipelineError('ROW_COUNT_MISMATCH', `read ${rows} keys from the key chunks but the export wrote ${expected}`, { table });
      await this.#ctx.http.call('POST', `/${encodeURIComponent(keysIndex)}/_refresh`, undefined, { code: 'IMPORT_FAILED', signal, context: { table } });
      const deletes = new BulkWriter(this.#ctx, { index: table, missingIsDone: true, ...(signal ? { signal } : {}) });
      await scan(this.#ctx, { index: table, query: { match_all: {} }, source: false, code: 'IMPORT_FAILED' }, async (hits) => {
        const ids = hits.map((h) => h.get('_id') as string);
        const body = { size: ids.length, query: { ids: { values: ids } }, _source: false, track_total_hits: false };
        const found = await this.#json<{ hits: { hits: { _id: string }[] } }>('POST', `/${encodeURIComponent(keysIndex)}/_search`, body, table, signal);
        const known = new Set(found.hits.hits.map((h) => h._id));
        for (const id of ids) {
          if (known.has(id)) continue;
          const wait = deletes.add({ id }, `{"delete":{"_id":${JSON.stringify(id)}}}\n`);
          if (wait) await wait;
        }
      }, signal);
      await deletes.finish();
      return deletes.applied;
    } finally {
      await this.#deleteIndex(keysIndex).catch(() => {});
    }
  }

  async #record(table: string, req: ImportRequest, rows: number, signal?: AbortSignal): Promise<void> {
    const doc = { table, load_id: req.loadId, mode: req.mode, rows, committed_at: new Date().toISOString() };
    await this.#ctx.http.call('PUT', `/${LOADS_INDEX}/_doc/${recordId(table, req.loadId)}`, JSON.stringify(doc), { code: 'IMPORT_FAILED', signal, context: { table } });
  }

  async #deleteIndex(index: string, signal?: AbortSignal): Promise<void> {
    await this.#ctx.http.call('DELETE', `/${encodeURIComponent(index)}`, undefined, { code: 'IMPORT_FAILED', signal, accept: [404], context: { table: index } });
  }
}

/** The load record's document id. */
function recordId(table: string, loadId: string): string {
  return createHash('sha256').update(`${table}\n${loadId}`).digest('hex').slice(0, 40);
}

/** `<table>_<run id>`: the run id of the load's lineage, as an index name allows (lowercase, no `:`). */
export function workIndexName(table: string, loadId: string): string {
  const lineage = loadId.split('/').at(-2) ?? loadId;
  const run = lineage.toLowerCase().replace(/[^a-z0-9_-]/g, '');
  const node = createHash('sha256').update(loadId).digest('hex').slice(0, 6);
  return `${table}_${run}_${node}`;
}

/** Settings of an existing index a new one takes over (not the ones the server owns). */
function copiedSettings(s: Record<string, unknown> | undefined): Record<string, unknown> {
  if (!s) return {};
  const owned = new Set(['uuid', 'creation_date', 'provided_name', 'version', 'routing', 'resize', 'blocks', 'verified_before_close', 'history', 'replication', 'creation_date_string']);
  return Object.fromEntries(Object.entries(s).filter(([k]) => !owned.has(k)));
}

/** Index names: lowercase, none of `\ / * ? " < > | , # :` or spaces, not starting with `-`, `_` or `+`. */
function checkIndexName(name: string, connection: string): void {
  if (name !== name.toLowerCase() || /[\\/*?"<>|,# :]/.test(name) || /^[-_+]/.test(name) || name === '.' || name === '..' || Buffer.byteLength(name) > 200) {
    throw new PipelineError('INVALID_CONFIG', `\`${name}\` cannot name an index: lowercase, no spaces or \\ / * ? " < > | , # :, not starting with - _ +, at most 200 bytes`, {
      connection,
      table: name,
    });
  }
}

function checkColumns(req: ImportRequest, connection: string): void {
  for (const c of req.columns) {
    if (c.name === '' || METADATA_FIELDS.has(c.name) || c.name.startsWith('.') || c.name.endsWith('.') || c.name.includes('..')) {
      throw new PipelineError('IMPORT_FAILED', `column \`${c.name}\` cannot be a document field (${c.name.startsWith('_') ? 'a metadata field of the server' : 'an empty field name'})`, {
        connection,
        table: req.table,
        column: c.name,
        hint: c.name === '_id' ? 'name the id columns in `key` instead' : 'rename the column in the source',
      });
    }
  }
}

/** A row as a document: every column, NULL as null. */
function documentWriter(columns: readonly ColumnSchema[], lossy: boolean): (cells: readonly Cell[]) => string {
  const keys = columns.map((c, i) => `${i === 0 ? '{' : ','}${JSON.stringify(c.name)}:`);
  const writers = columns.map((c) => jsonWriter(c, lossy));
  return (cells) => {
    let out = '';
    for (let i = 0; i < keys.length; i++) {
      const v = cells[i];
      try {
        out += keys[i]! + (v === null || v === undefined ? 'null' : writers[i]!(v));
      } catch (e) {
        throw toPipelineError(e, 'BAD_VALUE', { column: columns[i]!.name });
      }
    }
    return keys.length === 0 ? '{}' : `${out}}`;
  };
}

/** `_id` from the key columns: the value itself for one column, a JSON list for several. */
function keyIdOf(key: readonly string[], names: readonly string[]): (cells: readonly Cell[]) => string {
  const at = key.map((k) => {
    const i = names.indexOf(k);
    if (i < 0) throw new PipelineError('IMPORT_FAILED', `key column \`${k}\` is not a column of the export`, { column: k });
    return i;
  });
  const check = (cells: readonly Cell[], i: number): string => {
    const v = cells[i];
    if (v === null || v === undefined) throw new PipelineError('BAD_VALUE', `key column \`${names[i]}\` is NULL: a document needs an id`, { column: names[i]! });
    return v;
  };
  if (at.length === 1) {
    const i = at[0]!;
    return (cells) => check(cells, i);
  }
  return (cells) => JSON.stringify(at.map((i) => check(cells, i)));
}

function rejectionNote(count: number, kept: readonly Rejection[]): string {
  const shown = kept.slice(0, 5).map(describeRejection).join('; ');
  return `${count} document${count === 1 ? '' : 's'} rejected: ${shown}${count > 5 ? '; …' : ''}`;
}

function rejected(req: ImportRequest, count: number, kept: readonly Rejection[], allowed: number, connection: string): PipelineError {
  const first = kept[0];
  return new PipelineError('IMPORT_FAILED', `${rejectionNote(count, kept)} (the node allows ${allowed}); the target is unchanged`, {
    connection,
    table: req.table,
    ...(first?.chunk ? { chunk: first.chunk } : {}),
    ...(first?.line ? { chunkLine: first.line } : {}),
    hint: allowed === 0 ? 'fix the values or the mapping, or allow some with `max_rejects` on the target' : 'fix the values or the mapping, or raise `max_rejects`',
  });
}
