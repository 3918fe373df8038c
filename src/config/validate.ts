/**
 * Checks that need more than the JSON schema: names that must refer to something, connector capabilities,
 * dependency cycles. Runs on the pipeline as parsed from YAML with `${ENV}` substituted, before defaults are applied.
 *
 * Every access is guarded: this also runs when the schema found problems, so that one pass reports everything it
 * can. A part with the wrong shape is skipped here (the schema has reported it already).
 */
import { getConnectorKind, connectorKindNames } from '../connectors/registry.js';
import type { ConnectorKind } from '../connectors/contract.js';
import { findCycle } from '../dag/cycle.js';
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

/**
 * Every semantic problem of `raw` (the parsed file, `${ENV}` substituted), each located with `locate`.
 * Returns an empty list for a pipeline that may be built.
 */
export function validatePipeline(raw: unknown, locate: Locate, kinds: KindLookup = registryKinds): PipelineError[] {
  const errors: PipelineError[] = [];
  const report = (code: ErrorCode, message: string, where: ErrorLocation, hint?: string): void => {
    errors.push(new PipelineError(code, message, hint === undefined ? where : { ...where, hint }));
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

  /** The kind of the connection a node's source or target names, after reporting a name that is not defined. */
  const endpointKind = (node: string, side: 'source' | 'target', fields: Fields): ConnectorKind | undefined => {
    const connection = fields['connection'];
    if (typeof connection !== 'string') return undefined;
    if (!Object.hasOwn(connections, connection)) {
      const close = suggest(connection, connectionNames);
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
      if (kind !== undefined && source['split'] !== undefined && !kind.capabilities.split) {
        report('UNSUPPORTED', `node \`${name}\`: connection \`${connection}\` (${kind.kind}) cannot split an export`,
          at(['source', 'split'], 'key'), 'remove `split`');
      }
      const hasTable = source['table'] !== undefined;
      const hasQuery = source['query'] !== undefined;
      if (hasTable && hasQuery) {
        report('SCHEMA', `node \`${name}\`: source sets both \`table\` and \`query\`; keep one`,
          at(['source', 'query'], 'key'));
      } else if (!hasTable && !hasQuery && !Object.keys(source).some((k) => misspells(k, ['table', 'query']))) {
        // `tabel: orders` is one mistake, reported by the schema as an unknown key with a hint: not a second time here.
        report('SCHEMA', `node \`${name}\`: source needs \`table\` or \`query\``, at(['source'], 'key'));
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
      if (mode === 'merge' && target['key'] === undefined) {
        const message = `node \`${name}\`: target mode merge needs \`key\`, the columns that identify a row`;
        report('MERGE_WITHOUT_KEY', message, at(['target'], 'key'), 'add e.g. `key: [id]` to the target');
      }
    }

    const dependsOn = node['depends_on'];
    if (Array.isArray(dependsOn)) {
      dependsOn.forEach((dep: unknown, i) => {
        if (typeof dep !== 'string' || Object.hasOwn(nodes, dep)) return;
        const close = suggest(dep, nodeNames.filter((n) => n !== name));
        report('UNKNOWN_DEPENDENCY', `node \`${name}\` depends on \`${dep}\`, which is not defined`,
          at(['depends_on', i]), close === undefined ? undefined : `did you mean \`${close}\`?`);
      });
    }
  }

  reportCycles(nodes, locate, errors);
  return errors;
}

/**
 * Reports every cycle: after one is found, its closing edge is set aside and the search repeats, so two separate
 * cycles give two errors and one cycle gives one.
 */
function reportCycles(nodes: Fields, locate: Locate, errors: PipelineError[]): void {
  const deps = new Map<string, string[]>();
  for (const [name, value] of Object.entries(nodes)) {
    const dependsOn = asFields(value)?.['depends_on'];
    deps.set(name, Array.isArray(dependsOn) ? dependsOn.filter((d): d is string => typeof d === 'string') : []);
  }
  for (let found = 0; found < deps.size; found++) {
    const cycle = findCycle(deps);
    if (cycle === null) return;
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
    deps.set(first, (deps.get(first) ?? []).filter((d) => d !== second));
  }
}

/** A key that is not one of `keys` but close to one: the schema reports it as unknown, with the right spelling. */
function misspells(key: string, keys: readonly string[]): boolean {
  return !keys.includes(key) && suggest(key, keys) !== undefined;
}

/** Other values are the schema's to report. */
function isImportMode(value: unknown): value is ImportMode {
  return value === 'append' || value === 'merge' || value === 'overwrite';
}

function asFields(value: unknown): Fields | undefined {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Fields) : undefined;
}
