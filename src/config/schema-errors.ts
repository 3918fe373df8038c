/**
 * The JSON schema check of a pipeline file, and its errors in a person's words: ajv explains one mistake in several
 * errors, so they are collapsed to the one that helps, and each is located at the key or value it is about.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import type ajvModule from 'ajv/dist/2020.js';
import type { ErrorObject, ValidateFunction } from 'ajv/dist/2020.js';
import { PipelineError } from '../errors/pipeline-error.js';
import { displayPath, type PipelineSource } from './pipeline-source.js';
import { pipelineSchema, type JsonObject } from './schema.js';
import { suggest } from './suggest.js';
import type { PathSegment } from './validate.js';

const require = createRequire(import.meta.url);

/**
 * The validator `npm run build` precompiles (ajv's standalone code, scripts/write-validator.ts) for the registry's
 * kinds, next to this file once built: loading it costs a few milliseconds where loading ajv and compiling the
 * schema cost about 0.15 s at every start.
 */
export const PRECOMPILED_VALIDATOR = 'pipeline-validator.cjs';

/** A precompiled validator, and the hash of the composed schema it was compiled from. */
interface Precompiled extends ValidateFunction {
  readonly schemaHash?: string;
}

/** An ajv for the pipeline schema; `source`: keeps each function's code, for ajv's standalone output. */
export function pipelineAjv(source = false): InstanceType<typeof ajvModule.default> {
  // Loaded here, not at the top: a start with the precompiled validator never loads ajv's compiler.
  const Ajv = (require('ajv/dist/2020.js') as typeof ajvModule).default;
  // verbose: errors carry their schema, for `x-errors` messages and the keys a "did you mean" can offer.
  const ajv = new Ajv({ allErrors: true, verbose: true, strict: false, ...(source ? { code: { source: true } } : {}) });
  ajv.addKeyword({ keyword: 'x-errors', schemaType: 'object' });
  return ajv;
}

/** What a precompiled validator is checked against: the composed schema's SHA-256. */
export function schemaHash(schema: JsonObject): string {
  return createHash('sha256').update(JSON.stringify(schema)).digest('hex');
}

const compiled = new Map<string, ValidateFunction>();

/**
 * The validator of the pipeline schema composed for these connector kinds (see schema.ts): the precompiled one when
 * it was compiled from the same schema (a schema file edited since the build, or a kind a test defines, is compiled
 * here instead), compiled once.
 */
function schemaValidator(kinds: readonly string[]): ValidateFunction {
  const id = kinds.join('\0');
  const cached = compiled.get(id);
  if (cached !== undefined) return cached;
  const schema = pipelineSchema(kinds);
  const validate = precompiled(schemaHash(schema)) ?? pipelineAjv().compile(schema);
  compiled.set(id, validate);
  return validate;
}

function precompiled(hash: string): ValidateFunction | undefined {
  const file = new URL(PRECOMPILED_VALIDATOR, import.meta.url);
  if (!existsSync(file)) return undefined;
  const validate = require(file.pathname) as Precompiled;
  return validate.schemaHash === hash ? validate : undefined;
}

/** A schema error and the path of the value it is about. */
export interface SchemaProblem {
  readonly error: PipelineError;
  readonly path: readonly PathSegment[];
}

/** Every schema problem of `value` (the file as written), for a pipeline whose connections may use `kinds`. */
export function schemaErrors(value: unknown, source: PipelineSource, kinds: readonly string[]): SchemaProblem[] {
  const validate = schemaValidator(kinds);
  if (validate(value)) return [];
  return collapseSchemaErrors(validate.errors ?? []).map((e) => ({
    error: schemaError(e, value, source),
    path: [...pointerToPath(e.instancePath, value), ...unknownKeyOf(e)],
  }));
}

/** The key an unknown-key error is about: its path leads to the map holding it. */
function unknownKeyOf(e: ErrorObject): string[] {
  const key = e.params['additionalProperty'] ?? e.params['unevaluatedProperty'];
  return key === undefined ? [] : [String(key)];
}

/** ajv explains one mistake in several errors; keep the one a person needs. */
function collapseSchemaErrors(all: readonly ErrorObject[]): ErrorObject[] {
  // `if` failing just says the `then` errors exist; `propertyNames` wraps the error on the name itself.
  let errors = all.filter((e) => e.keyword !== 'if' && e.keyword !== 'propertyNames');
  // An unknown connection type is validate's to report: with the kinds it knows, a "did you mean" and its own code.
  errors = errors.filter((e) => e.keyword !== 'enum' || !/^\/connections\/[^/]+\/type$/.test(e.instancePath));
  // For a value matching no alternative, one message about the alternatives, not one per branch.
  const alternatives = errors.filter((e) => e.keyword === 'anyOf' || e.keyword === 'oneOf');
  errors = errors.filter((e) => !alternatives.some((alt) =>
    alt !== e && e.instancePath.startsWith(alt.instancePath) && e.schemaPath.startsWith(`${alt.schemaPath}/`)));
  // `conection: app` is one mistake: the unknown key's hint names `connection`, so "missing `connection`" goes.
  const misspelt = new Set(errors
    .filter((e) => e.keyword === 'additionalProperties' || e.keyword === 'unevaluatedProperties')
    .map((e) => {
      const extra = String(e.params['additionalProperty'] ?? e.params['unevaluatedProperty']);
      return `${e.instancePath}\0${suggest(extra, knownKeys(e)) ?? ''}`;
    }));
  errors = errors.filter((e) =>
    e.keyword !== 'required' || !misspelt.has(`${e.instancePath}\0${String(e.params['missingProperty'])}`));
  const seen = new Set<string>();
  return errors.filter((e) => {
    const id = `${e.instancePath}\0${e.keyword}\0${JSON.stringify(e.params)}\0${e.propertyName ?? ''}`;
    if (seen.has(id)) return false;
    seen.add(id);
    return true;
  });
}

function knownKeys(e: ErrorObject): string[] {
  const properties: unknown = e.parentSchema?.['properties'];
  return typeof properties === 'object' && properties !== null ? Object.keys(properties) : [];
}

function schemaError(e: ErrorObject, root: unknown, source: PipelineSource): PipelineError {
  const path = pointerToPath(e.instancePath, root);
  const where = displayPath(path);
  const data = e.data;
  const custom = customMessage(e);
  const node = path[0] === 'nodes' && path.length >= 2 ? { node: String(path[1]) } : {};
  // An error about a whole map or list points at the key it is written under; about a value, at the value.
  const at = source.locate(path, typeof data === 'object' && data !== null ? 'key' : 'value');
  const schema = (message: string, hint?: string): PipelineError =>
    new PipelineError('SCHEMA', `${where} ${message}`, { ...at, ...node, ...(hint === undefined ? {} : { hint }) });

  switch (e.keyword) {
    case 'additionalProperties':
    case 'unevaluatedProperties': {
      const extra = String(e.params['additionalProperty'] ?? e.params['unevaluatedProperty']);
      const keys = knownKeys(e);
      const close = suggest(extra, keys);
      const type = path[0] === 'connections' && path.length === 2 ? valueAt(root, [...path, 'type']) : undefined;
      const container = typeof type === 'string'
        ? `in a ${type} connection (${where})`
        : path.length === 0 ? 'at the top level' : `in ${where}`;
      const hint = close !== undefined ? `did you mean \`${close}\`?` : keys.length > 0 ? `allowed keys: ${keys.join(', ')}` : undefined;
      return new PipelineError('UNKNOWN_KEY', `unknown key \`${extra}\` ${container}`, {
        ...source.locate([...path, extra], 'key'),
        ...node,
        ...(hint === undefined ? {} : { hint }),
      });
    }
    case 'required':
      return schema(`is missing required key \`${String(e.params['missingProperty'])}\``);
    case 'type':
      return schema(`must be ${expectedType(e.params['type'])}${actual(data)}`);
    case 'enum': {
      // `null` and "null" read the same in YAML: name each once.
      const allowed = [...new Set((e.params['allowedValues'] as unknown[]).map(String))];
      const close = typeof data === 'string' ? suggest(data, allowed) : undefined;
      return schema(`must be one of ${allowed.join(', ')}`, close === undefined ? undefined : `did you mean \`${close}\`?`);
    }
    case 'const':
      return schema(`must be ${JSON.stringify(e.params['allowedValue'])}`);
    case 'pattern':
      if (e.propertyName !== undefined) {
        // A name under `nodes:` or `connections:`: point at the name itself.
        const what = path[0] === 'nodes' ? 'node name' : path[0] === 'connections' ? 'connection name' : `key in ${where}`;
        return new PipelineError('SCHEMA', `${what} \`${e.propertyName}\` ${custom ?? 'is not valid'}`, {
          ...source.locate([...path, e.propertyName], 'key'),
          ...node,
        });
      }
      return schema(custom ?? `must match ${String(e.params['pattern'])}`);
    case 'minimum':
      return schema(`must be at least ${String(e.params['limit'])}`);
    case 'maximum':
      return schema(`must be at most ${String(e.params['limit'])}`);
    case 'minLength':
      return schema('must not be empty');
    case 'minItems':
      return schema(`must list at least ${String(e.params['limit'])}`);
    default:
      return schema(custom ?? e.message ?? 'is not valid');
  }
}

/** The schema's own wording for this keyword (`x-errors: { pattern: "…" }`), if it has one. */
function customMessage(e: ErrorObject): string | undefined {
  const messages: unknown = e.parentSchema?.['x-errors'];
  if (typeof messages !== 'object' || messages === null) return undefined;
  const message: unknown = (messages as Record<string, unknown>)[e.keyword];
  return typeof message === 'string' ? message : undefined;
}

const TYPE_WORDS: Readonly<Record<string, string>> = {
  integer: 'an integer', number: 'a number', string: 'a string', boolean: 'true or false', object: 'a map (key: value)',
  array: 'a list', null: 'empty',
};

function expectedType(type: unknown): string {
  const types = Array.isArray(type) ? type.map(String) : String(type).split(',');
  return types.map((t) => TYPE_WORDS[t] ?? t).join(' or ');
}

function actual(data: unknown): string {
  if (data === null || data === undefined) return ', but it is empty';
  if (Array.isArray(data)) return ', not a list';
  if (typeof data === 'object') return ', not a map';
  if (typeof data === 'string') return `, not the string "${data.length > 40 ? `${data.slice(0, 40)}…` : data}"`;
  return `, not ${String(data)}`;
}

/** A JSON pointer as path segments, with array indexes as numbers (they print as `[i]`). */
function pointerToPath(pointer: string, root: unknown): PathSegment[] {
  if (pointer === '') return [];
  const path: PathSegment[] = [];
  let value = root;
  for (const raw of pointer.slice(1).split('/')) {
    const segment = raw.replaceAll('~1', '/').replaceAll('~0', '~');
    if (Array.isArray(value)) {
      path.push(Number(segment));
      value = value[Number(segment)];
    } else {
      path.push(segment);
      value = typeof value === 'object' && value !== null ? (value as Record<string, unknown>)[segment] : undefined;
    }
  }
  return path;
}

function valueAt(root: unknown, path: readonly PathSegment[]): unknown {
  let value = root;
  for (const segment of path) {
    if (typeof value !== 'object' || value === null) return undefined;
    value = (value as Record<string, unknown>)[String(segment)];
  }
  return value;
}
