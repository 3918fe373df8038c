/**
 * Checks that need more than the JSON schema: names that must refer to something, connector capabilities,
 * dependency cycles. Runs on the pipeline as parsed from YAML with `${ENV}` substituted, before defaults are applied.
 *
 * Every access is guarded: this also runs when the schema found problems, so that one pass reports everything it
 * can. A part with the wrong shape is skipped here (the schema has reported it already).
 */
import { getConnectorKind, connectorKindNames } from '../connectors/registry.js';
import type { ConfigProblem, ConnectorKind } from '../connectors/contract.js';
import { findCycles } from '../dag/cycle.js';
import { PipelineError, type ErrorCode, type ErrorLocation } from '../errors/pipeline-error.js';
import { suggest } from './suggest.js';
import type { ImportMode } from './types.js';

export type PathSegment = string | number;

/**
 * Where the value at `path` (`['nodes', 'orders', 'source', 'table']`) is written in the pipeline file: the value
 * itself, or with `part: 'key'` the key it is written under (what an error about a whole map should point at).
 * Falls back to the nearest ancestor that exists in the file.
 */
export type Locate = (path: readonly PathSegment[], part?: 'key' | 'value') => ErrorLocation;

/** The connector kinds a pipeline may use; the registry unless a test passes its own. */
export interface KindLookup {
  get(type: string): ConnectorKind | undefined;
  names(): readonly string[];
}

export const registryKinds: KindLookup = { get: getConnectorKind, names: connectorKindNames };

type Fields = Readonly<Record<string, unknown>>;

/** How many unknown connection and node names get a "did you mean" hint. */
const MAX_NAME_HINTS = 100;

export interface ValidateOptions {
  /**
   * Whether an earlier stage (the schema, `${ENV}` substitution) has reported a problem at `path` or above it: the
   * kinds' own checks skip such values, so one mistake gives one error.
   */
  readonly reported?: (path: readonly PathSegment[]) => boolean;
}

/**
 * Every semantic problem of `raw` (the parsed file, `${ENV}` substituted), each located with `locate`.
 * Returns an empty list for a pipeline that may be built.
 */
export function validatePipeline(
  raw: unknown,
  locate: Locate,
  kinds: KindLookup = registryKinds,
  options: ValidateOptions = {},
): PipelineError[] {
  const errors: PipelineError[] = [];
  const report = (code: ErrorCode, message: string, where: ErrorLocation, hint?: string): void => {
    errors.push(new PipelineError(code, message, hint === undefined ? where : { ...where, hint }));
  };
  const reported = options.reported ?? (() => false);
  // A "did you mean" compares a name with every name of its kind: bounded, so thousands of misspelt names in a large
  // file cost seconds, not minutes. The first ones get hints; the others are still reported.
  let hints = 0;
  const suggestName = (word: string, candidates: () => readonly string[]): string | undefined =>
    hints++ < MAX_NAME_HINTS ? suggest(word, candidates()) : undefined;
  /** A kind's own check of the map at `base`: each problem an INVALID_CONFIG at its value, unless reported already. */
  const reportProblems = (base: readonly PathSegment[], problems: readonly ConfigProblem[], context: ErrorLocation): void => {
    for (const p of problems) {
      const path = [...base, ...p.path];
      if (reported(path)) continue;
      report('INVALID_CONFIG', p.message, { ...locate(path, p.path.length === 0 ? 'key' : 'value'), ...context });
    }
  };
  const root = asFields(raw);
  if (root === undefined) return errors;
  const connections = asFields(root['connections']) ?? {};
  const nodes = asFields(root['nodes']) ?? {};
  const connectionNames = Object.keys(connections);
  const nodeNames = Object.keys(nodes);

  const kindOf = new Map<string, ConnectorKind>();
  for (const [name, value] of Object.entries(connections)) {
    const type = asFields(value)?.['type'];
    if (typeof type !== 'string') continue;
    const kind = kinds.get(type);
    if (kind !== undefined) {
      kindOf.set(name, kind);
      const problems = kind.checkConnection?.({ ...asFields(value), name, type }) ?? [];
      reportProblems(['connections', name], prefixed(`connection \`${name}\``, problems), { connection: name });
      continue;
    }
    const known = kinds.names();
    const close = suggest(type, known);
    report(
      'INVALID_CONFIG',
      `connection \`${name}\`: unknown type \`${type}\` (known kinds: ${known.join(', ')})`,
      { ...locate(['connections', name, 'type']), connection: name },
      close === undefined ? undefined : `did you mean \`${close}\`?`,
    );
  }

  /** A connection that something names at `path` must exist and be of kind `want`. */
  const checkReference = (name: unknown, want: string, path: readonly PathSegment[], what: string, where: ErrorLocation = {}): void => {
    if (typeof name !== 'string') return;
    if (!Object.hasOwn(connections, name)) {
      const close = suggest(name, connectionNames);
      report('UNKNOWN_CONNECTION', `${what}: connection \`${name}\` is not defined`, { ...locate(path), ...where },
        close !== undefined ? `did you mean \`${close}\`?` : `define an \`${want}\` connection under \`connections:\``);
      return;
    }
    const type = asFields(connections[name])?.['type'];
    if (typeof type === 'string' && type !== want) {
      report('INVALID_CONFIG', `${what}: connection \`${name}\` is a ${type} connection, not ${want}`, { ...locate(path), ...where });
    }
  };
  for (const [name, value] of Object.entries(connections)) {
    const fields = asFields(value);
    const kind = kindOf.get(name);
    if (fields === undefined || kind?.references === undefined) continue;
    for (const ref of kind.references(fields)) {
      const target = ref.path.reduce<unknown>((v, k) => asFields(v)?.[k], fields);
      checkReference(target, ref.kind, ['connections', name, ...ref.path], `connection \`${name}\``, { connection: name });
    }
  }
  const staging = asFields(root['staging']);
  if (staging !== undefined) {
    checkReference(staging['connection'], 's3', ['staging', 'connection'], 'staging');
    if (staging['connection'] !== undefined && staging['url'] === undefined) {
      report('INVALID_CONFIG', 'staging.connection names the S3 connection of an S3 staging: it needs staging.url', locate(['staging', 'connection'], 'key'), 'add `url: s3://bucket/prefix`');
    }
  }
  if (root['executor'] !== undefined && staging?.['url'] === undefined && staging?.['shared'] !== true) {
    const problem = unsharedStaging();
    report(problem.code, problem.message, locate(staging === undefined ? ['executor'] : ['staging'], 'key'), problem.hint);
  }

  /** The kind of the connection a node's source or target names, after reporting a name that is not defined. */
  const endpointKind = (node: string, side: 'source' | 'target', fields: Fields): ConnectorKind | undefined => {
    const connection = fields['connection'];
    if (typeof connection !== 'string') return undefined;
    if (!Object.hasOwn(connections, connection)) {
      const close = suggestName(connection, () => connectionNames);
      report(
        'UNKNOWN_CONNECTION',
        `node \`${node}\`: ${side} connection \`${connection}\` is not defined`,
        { ...locate(['nodes', node, side, 'connection']), node },
        close !== undefined
          ? `did you mean \`${close}\`?`
          : connectionNames.length > 0
            ? `defined connections: ${connectionNames.join(', ')}`
            : 'define it under `connections:`',
      );
      return undefined;
    }
    return kindOf.get(connection);
  };

  for (const [name, value] of Object.entries(nodes)) {
    const node = asFields(value);
    if (node === undefined) continue;
    const at = (path: readonly PathSegment[], part?: 'key' | 'value'): ErrorLocation => ({
      ...locate(['nodes', name, ...path], part),
      node: name,
    });

    const source = asFields(node['source']);
    if (source !== undefined) {
      const kind = endpointKind(name, 'source', source);
      const connection = String(source['connection']);
      if (kind !== undefined && !kind.capabilities.canExport) {
        report('UNSUPPORTED', `node \`${name}\`: connection \`${connection}\` (${kind.kind}) cannot be a source`,
          at(['source', 'connection']));
      }
      // Keys of another kind's sources; a key no kind takes is the schema's UNKNOWN_KEY.
      const foreign = kind === undefined ? [] : Object.keys(source).filter((k) =>
        k !== 'connection' && !kind.sourceKeys.includes(k) && !reported(['nodes', name, 'source', k]));
      if (kind !== undefined) {
        const takes = `a ${kind.kind} source takes ${kind.sourceKeys.map((k) => `\`${k}\``).join(', ')}`;
        for (const key of foreign) {
          const message = `node \`${name}\`: a ${kind.kind} source (connection \`${connection}\`) does not take \`${key}\``;
          report('UNSUPPORTED', message, at(['source', key], 'key'), takes);
        }
        if (source['split'] !== undefined && !foreign.includes('split') && !kind.capabilities.split) {
          report('UNSUPPORTED', `node \`${name}\`: connection \`${connection}\` (${kind.kind}) cannot split an export`,
            at(['source', 'split'], 'key'), 'remove `split`');
        }
        const problems = kind.checkSource?.(source) ?? [];
        reportProblems(['nodes', name, 'source'], prefixed(`node \`${name}\`: source`, problems), { node: name });
      }
      // What to read: one of `table` and `query` (SQL kinds) or of `table`, `prefix` and `pattern` (object kinds).
      // A key of another kind (`index` on a table source) is the user naming what to read in the wrong words: that one
      // report (with the keys this kind takes) is enough.
      // A kind that names its own required keys (a search kind's `index`) reads what those say; its `query` is a filter.
      const reads = kind?.requiredSourceKeys !== undefined ? []
        : WHAT_TO_READ.filter((k) => (kind === undefined ? k === 'table' || k === 'query' : kind.sourceKeys.includes(k)));
      const given = reads.filter((k) => source[k] !== undefined);
      if (given.length > 1) {
        report('SCHEMA', `node \`${name}\`: source sets both \`${given[0]}\` and \`${given[1]}\`; keep one`,
          at(['source', given[1]!], 'key'));
      } else if (reads.length > 0 && given.length === 0 && foreign.length === 0 &&
        !Object.keys(source).some((k) => misspells(k, reads))) {
        // `tabel: orders` is one mistake, reported by the schema as an unknown key with a hint: not a second time here.
        report('SCHEMA', `node \`${name}\`: source needs ${orList(reads)}`, at(['source'], 'key'));
      }
      for (const key of kind?.requiredSourceKeys ?? []) {
        if (source[key] === undefined && foreign.length === 0 && !Object.keys(source).some((k) => misspells(k, [key]))) {
          report('SCHEMA', `node \`${name}\`: a ${kind!.kind} source needs \`${key}\``, at(['source'], 'key'));
        }
      }
    }

    // A window append must replace its interval, or a day run twice would be loaded twice.
    const incremental = asFields(node['incremental']);
    const targetFields = asFields(node['target']);
    if (incremental !== undefined && (incremental['strategy'] ?? 'window') === 'window' && targetFields?.['mode'] === 'append') {
      const kind = typeof targetFields['connection'] === 'string' ? kindOf.get(targetFields['connection']) : undefined;
      if (kind !== undefined && !kind.capabilities.replaceWindow) {
        report('UNSUPPORTED', `node \`${name}\`: a ${kind.kind} target cannot replace an interval's rows, so an append of a \`window\` interval would load a day twice when it is run twice`,
          at(['incremental'], 'key'), 'use `mode: merge` with a `key` (a rerun updates the same documents), or `strategy: watermark`');
      }
    }

    const target = asFields(node['target']);
    if (target !== undefined) {
      const kind = endpointKind(name, 'target', target);
      const connection = String(target['connection']);
      const mode = target['mode'];
      if (kind !== undefined && !kind.capabilities.canImport) {
        report('UNSUPPORTED', `node \`${name}\`: connection \`${connection}\` (${kind.kind}) cannot be a target`,
          at(['target', 'connection']));
      } else if (kind !== undefined && isImportMode(mode) && !kind.capabilities.modes.includes(mode)) {
        report(
          'UNSUPPORTED',
          `node \`${name}\`: connection \`${connection}\` (${kind.kind}) does not support mode \`${mode}\``,
          at(['target', 'mode']),
          `supported modes: ${kind.capabilities.modes.join(', ')}`,
        );
      }
      if (kind !== undefined && target['max_rejects'] !== undefined && !kind.capabilities.rejects) {
        report('UNSUPPORTED', `node \`${name}\`: a ${kind.kind} target loads all rows or none: \`max_rejects\` is for targets that refuse single rows (elasticsearch, opensearch)`,
          at(['target', 'max_rejects'], 'key'), 'remove `max_rejects`');
      }
      const problems = kind?.checkTarget?.(target) ?? [];
      reportProblems(['nodes', name, 'target'], prefixed(`node \`${name}\`: target`, problems), { node: name });
      if (kind !== undefined && target['partition'] !== undefined && !kind.capabilities.partitions) {
        report('UNSUPPORTED', `node \`${name}\`: connection \`${connection}\` (${kind.kind}) keeps no partitions`,
          at(['target', 'partition'], 'key'), 'remove `partition`');
      }
      if (mode === 'merge' && target['key'] === undefined) {
        const message = `node \`${name}\`: target mode merge needs \`key\`, the columns that identify a row`;
        report('MERGE_WITHOUT_KEY', message, at(['target'], 'key'), 'add e.g. `key: [id]` to the target');
      }
    }

    const dependsOn = node['depends_on'];
    if (Array.isArray(dependsOn)) {
      dependsOn.forEach((dep: unknown, i) => {
        if (typeof dep !== 'string' || Object.hasOwn(nodes, dep)) return;
        const close = suggestName(dep, () => nodeNames.filter((n) => n !== name));
        report('UNKNOWN_DEPENDENCY', `node \`${name}\` depends on \`${dep}\`, which is not defined`,
          at(['depends_on', i]), close === undefined ? undefined : `did you mean \`${close}\`?`);
      });
    }
  }

  reportCycles(nodes, locate, errors);
  reportSharedTargets(nodes, locate, errors);
  return errors;
}

/** Reports every cycle (see findCycles), each at the dependency that closes it. */
function reportCycles(nodes: Fields, locate: Locate, errors: PipelineError[]): void {
  const deps = new Map<string, string[]>();
  for (const [name, value] of Object.entries(nodes)) {
    const dependsOn = asFields(value)?.['depends_on'];
    deps.set(name, Array.isArray(dependsOn) ? dependsOn.filter((d): d is string => typeof d === 'string') : []);
  }
  for (const cycle of findCycles(deps)) {
    const [first = '', second = ''] = cycle;
    const rawDeps = asFields(nodes[first])?.['depends_on'];
    const index = Array.isArray(rawDeps) ? rawDeps.indexOf(second) : -1;
    const message = cycle.length === 2
      ? `node \`${first}\` depends on itself`
      : `dependency cycle: ${cycle.join(' → ')}`;
    errors.push(new PipelineError('CYCLE', message, {
      ...locate(index >= 0 ? ['nodes', first, 'depends_on', index] : ['nodes', first, 'depends_on'], 'value'),
      node: first,
    }));
  }
}

/**
 * Two nodes writing one table of one connection would replace or merge each other's rows and race for its staging
 * table: refused, each at its `table`, unless every one of them appends and says `shared: true`.
 */
function reportSharedTargets(nodes: Fields, locate: Locate, errors: PipelineError[]): void {
  const writers = new Map<string, { node: string; mode: unknown; shared: boolean }[]>();
  for (const [node, value] of Object.entries(nodes)) {
    const target = asFields(asFields(value)?.['target']);
    const connection = target?.['connection'];
    const table = target?.['table'];
    if (typeof connection !== 'string' || typeof table !== 'string') continue;
    const key = JSON.stringify([connection, table]);
    const list = writers.get(key) ?? [];
    list.push({ node, mode: target?.['mode'], shared: target?.['shared'] === true });
    writers.set(key, list);
  }
  for (const [key, list] of writers) {
    if (list.length < 2 || list.every((w) => w.mode === 'append' && w.shared)) continue;
    const [connection, table] = JSON.parse(key) as [string, string];
    const appending = list.every((w) => w.mode === 'append');
    for (const w of list) {
      const others = list.filter((o) => o !== w).map((o) => `\`${o.node}\``).join(', ');
      const message = `node \`${w.node}\` writes table \`${table}\` of connection \`${connection}\`, and so does ${others}`;
      errors.push(new PipelineError('DUPLICATE_TARGET', message, {
        ...locate(['nodes', w.node, 'target', 'table']),
        node: w.node,
        hint: appending
          ? 'nodes that append to one table on purpose say so: `shared: true` on each of their targets'
          : 'give each node its own target table (only nodes that all append may share one, with `shared: true`)',
      }));
    }
  }
}

/** `connection \`db\`: the port …`: a kind's problems say what is wrong, validate says where. */
function prefixed(what: string, problems: readonly ConfigProblem[]): ConfigProblem[] {
  return problems.map((p) => ({ ...p, message: `${what}: ${p.message}` }));
}

/** A key that is not one of `keys` but close to one: the schema reports it as unknown, with the right spelling. */
function misspells(key: string, keys: readonly string[]): boolean {
  return !keys.includes(key) && suggest(key, keys) !== undefined;
}

/** An S3 location: `s3://bucket` or `s3://bucket/prefix` (bucket names as S3 allows them). */
export const S3_URL = /^s3:\/\/[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](?:\/.*)?$/;

/** What a source reads: one of these, among those its kind takes (SQL: table or query; objects: table, prefix or pattern). */
const WHAT_TO_READ: readonly string[] = ['table', 'query', 'prefix', 'pattern'];

/** `\`a\``, `\`a\` or \`b\``, `\`a\`, \`b\` or \`c\``. */
function orList(keys: readonly string[]): string {
  const q = keys.map((k) => `\`${k}\``);
  return q.length <= 1 ? (q[0] ?? '') : `${q.slice(0, -1).join(', ')} or ${q[q.length - 1]}`;
}

/** Other values are the schema's to report. */
function isImportMode(value: unknown): value is ImportMode {
  return value === 'append' || value === 'merge' || value === 'overwrite';
}

function asFields(value: unknown): Fields | undefined {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Fields) : undefined;
}

/**
 * A distributed run (`executor`) whose staging is a local directory not said to be shared: each worker would write
 * chunk files and checkpoints where no other can read them. Refused at validation and at `run --executor`.
 */
export function unsharedStaging(): { code: 'STAGING_NOT_SHARED'; message: string; hint: string } {
  return {
    code: 'STAGING_NOT_SHARED',
    message: 'a distributed run (executor) needs a staging every worker sees: the local staging directory is only this machine\'s',
    hint: 'use `staging: { url: s3://bucket/prefix }`, or `staging: { dir: …, shared: true }` when every worker mounts that directory at the same path',
  };
}
