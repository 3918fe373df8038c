/**
 * Loading a pipeline file: read → parse YAML (keeping positions) → JSON schema → `${ENV}` and `{{ template }}`
 * checks → semantic checks → the resolved Pipeline. Every problem becomes a PipelineError located at
 * file:line:col, and all of them are collected in one pass rather than stopping at the first.
 */
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import ajvModule, { type ErrorObject, type ValidateFunction } from 'ajv/dist/2020.js';
import { isAlias, isMap, isScalar, isSeq, LineCounter, parseDocument, type Document, type Scalar } from 'yaml';
import { PipelineError, PipelineErrors, type ErrorLocation } from '../errors/pipeline-error.js';
import { parseDuration } from './duration.js';
import { interpolateEnv, type Env } from './interpolate.js';
import { suggest } from './suggest.js';
import { findTemplates, TEMPLATE_FIELDS, TEMPLATE_NAMES } from './templates.js';
import { DEFAULTS } from './types.js';
import type {
  ConnectionConfig, CreatePolicy, ImportMode, IncrementalStrategy, NodeConfig, Pipeline, SourceConfig, StagingConfig,
} from './types.js';
import { validatePipeline, type KindLookup, type Locate, type PathSegment } from './validate.js';

export interface LoadOptions {
  /** Environment for `${VAR}` substitution; default `process.env`. */
  readonly env?: Env;
  /** The connector kinds connections may use; default the registry's. For tests and tools embedding pigeon. */
  readonly kinds?: KindLookup;
}

export interface LoadResult {
  /** Set only when `errors` is empty. */
  readonly pipeline?: Pipeline;
  /** Every problem found, in file order. */
  readonly errors: PipelineError[];
  /**
   * Values never to print (see Pipeline.secrets), found as well as the file allows even when it has errors: a
   * rendered error quotes the line it is on, and that line may hold a password.
   */
  readonly secrets: readonly string[];
}

/**
 * Loads and validates a pipeline file. Never throws for a problem in the file (or a missing file): each one is a
 * PipelineError in `errors`, with `file` set to `file` as given.
 */
export function loadPipeline(file: string, options: LoadOptions = {}): LoadResult {
  let errors: PipelineError[];
  let pipeline: Pipeline | undefined;
  let secrets: readonly string[] = [];
  try {
    ({ errors, pipeline, secrets } = load(file, options.env ?? process.env, options.kinds));
  } catch (e) {
    // A bug of ours, not a problem in the file: still reported, not thrown, as the contract promises.
    const message = e instanceof Error ? e.message : String(e);
    errors = [new PipelineError('INTERNAL', `internal error while loading the pipeline: ${message}`, { file, cause: e })];
  }
  errors.sort(byPosition);
  return errors.length === 0 && pipeline !== undefined ? { pipeline, errors, secrets } : { errors, secrets };
}

function byPosition(a: PipelineError, b: PipelineError): number {
  return (a.location.line ?? 0) - (b.location.line ?? 0) || (a.location.col ?? 0) - (b.location.col ?? 0);
}

/** Like loadPipeline, but throws PipelineErrors with every problem. */
export function loadPipelineOrThrow(file: string, options: LoadOptions = {}): Pipeline {
  const { pipeline, errors, secrets } = loadPipeline(file, options);
  if (pipeline === undefined) throw new PipelineErrors(errors, secrets);
  return pipeline;
}

interface Loaded {
  readonly errors: PipelineError[];
  readonly pipeline?: Pipeline;
  readonly secrets: readonly string[];
}

function load(file: string, env: Env, kinds: KindLookup | undefined): Loaded {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    const missing = (e as NodeJS.ErrnoException).code === 'ENOENT';
    // ENOENT says nothing more than "does not exist"; other causes (EACCES, EISDIR) are worth printing.
    const message = `pipeline file ${file} ${missing ? 'does not exist' : 'cannot be read'}`;
    return { errors: [new PipelineError('FILE_NOT_FOUND', message, missing ? { file } : { file, cause: e })], secrets: [] };
  }

  const lineCounter = new LineCounter();
  // `merge: true` lets people share settings with `<<: *anchor`.
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, merge: true, uniqueKeys: true });
  const source = new PipelineSource(file, text, doc, lineCounter);
  const errors = source.yamlErrors();
  // Duplicate keys leave a usable document (the last one wins); any other syntax error does not.
  if (doc.errors.some((e) => e.code !== 'DUPLICATE_KEY')) return { errors, secrets: secretsInText(text) };

  let written: unknown;
  try {
    written = doc.toJS();
  } catch (e) {
    // e.g. too many aliases (a "billion laughs" document)
    const message = e instanceof Error ? e.message : String(e);
    const error = new PipelineError('YAML_SYNTAX', message, { file, line: 1, col: 1, cause: e });
    return { errors: [...errors, error], secrets: secretsInText(text) };
  }
  errors.push(...schemaErrors(written, source));

  const substitutions = source.substituteScalars(env, errors);
  const resolved: unknown = doc.toJS();
  errors.push(...validatePipeline(resolved, source.locate, kinds));
  // The secrets as substituted and as written (a literal password on the line of an error). What is written with
  // `${…}` is a reference, not a value: its value is among the substituted ones.
  const literal = collectSecrets(connectionsOf(written), []).filter((s) => !s.includes('${'));
  const secrets = [...new Set([...collectSecrets(connectionsOf(resolved), substitutions), ...literal])];
  // An invalid file may hold a password of the wrong type (a number has lost its written form: a 17-digit one
  // reads back rounded), so its text is searched too.
  if (errors.length > 0) return { errors, secrets: [...new Set([...secrets, ...secretsInText(text)])] };

  // The schema and the checks above passed, so the document has the shape RawPipeline describes.
  const raw = resolved as RawPipeline;
  return { errors, pipeline: buildPipeline(raw, file, secrets), secrets };
}

/** `connections:` of a parsed file whatever its shape; nothing when it is not a map. */
function connectionsOf(doc: unknown): Readonly<Record<string, unknown>> {
  const connections = typeof doc === 'object' && doc !== null ? (doc as Record<string, unknown>)['connections'] : undefined;
  return typeof connections === 'object' && connections !== null ? (connections as Record<string, unknown>) : {};
}

/** `password: x`, `"token": 'x'`, `{ …, secret: x }`: a secret-named key and its value, quoted or plain. */
const SECRET_ENTRY =
  /(?:^|[{,\s])["']?(?:password|secret|token|api_key|secret_access_key|access_key_id)["']?[ \t]*:[ \t]*(?:"([^"]*)"|'([^']*)'|([^\s,}#]+))/gim;
const URL_PASSWORD_ANYWHERE = /[a-z][a-z0-9+.-]*:\/\/[^:/?#@\s"']*:([^/?#\s"'@]*)@/gi;

/**
 * Secret-looking values in the text of an invalid file (one that may not even parse): a best effort, so that the
 * lines an error quotes do not print a password written next to the mistake.
 */
function secretsInText(text: string): string[] {
  const found = new Set<string>();
  for (const m of text.matchAll(SECRET_ENTRY)) found.add(m[1] ?? m[2] ?? m[3] ?? '');
  for (const m of text.matchAll(URL_PASSWORD_ANYWHERE)) {
    const password = m[1] ?? '';
    found.add(password);
    try {
      found.add(decodeURIComponent(password));
    } catch {
      // Not valid percent-encoding: the raw form is all there is.
    }
  }
  // `${VAR}` is a reference, not a value.
  return [...found].filter((s) => s.length > 0 && !s.includes('${'));
}

// ---------------------------------------------------------------------------------------------------------------
// Positions

/** The pipeline text and its YAML document: turns paths and offsets into file:line:col. */
class PipelineSource {
  readonly #file: string;
  readonly #text: string;
  readonly #doc: Document;
  readonly #lines: LineCounter;

  constructor(file: string, text: string, doc: Document, lines: LineCounter) {
    this.#file = file;
    this.#text = text;
    this.#doc = doc;
    this.#lines = lines;
  }

  /** The span [start, end) as a location; the length stops at the end of the line (carets are one line). */
  span(start: number, end: number): ErrorLocation {
    const { line, col } = this.#lines.linePos(start);
    let lineEnd = this.#text.indexOf('\n', start);
    if (lineEnd < 0) lineEnd = this.#text.length;
    if (this.#text[lineEnd - 1] === '\r') lineEnd--;
    return { file: this.#file, line, col, length: Math.max(1, Math.min(end, lineEnd) - start) };
  }

  readonly locate: Locate = (path, part = 'value') => {
    const found = findNode(this.#doc, path);
    const value = found.value?.range;
    const key = found.key?.range;
    const valueUsable = value != null && value[1] > value[0];
    // A missing child is best shown at its parent's key: "here is where `target` should have had `mode`".
    const useKey = key != null && (part === 'key' || !found.complete || !valueUsable);
    if (useKey) return this.span(key[0], key[1]);
    // A block map or list starts with its first entry: underlining that whole line would point at the entry.
    if (value != null) return this.span(value[0], isMap(found.value) || isSeq(found.value) ? value[0] + 1 : value[1]);
    return { file: this.#file, line: 1, col: 1, length: 1 };
  };

  /**
   * The location of `expected`, found at `index` of the scalar's value, in the file. Escapes and line folding make
   * value and source differ, but `${VAR}` and `{{ name }}` are written the same in both: the n-th occurrence in
   * the value is the n-th in the source. Falls back to the scalar's start.
   */
  locateInScalar(scalar: Scalar, index: number, expected: string): ErrorLocation {
    const [start, end] = scalar.range ?? [0, 0];
    const value = String(scalar.value);
    let nth = 0;
    for (let i = value.indexOf(expected); i >= 0 && i < index; i = value.indexOf(expected, i + expected.length)) nth++;
    const written = this.#text.slice(start, end);
    let at = written.indexOf(expected);
    for (let k = 0; k < nth && at >= 0; k++) at = written.indexOf(expected, at + expected.length);
    return at >= 0 ? this.span(start + at, start + at + expected.length) : this.span(start, end);
  }

  yamlErrors(): PipelineError[] {
    // After one unexpected token the parser reports every later token as unexpected too: keep the first.
    const firstUnexpected = this.#doc.errors.find((e) => e.code === 'UNEXPECTED_TOKEN');
    const errors = this.#doc.errors.filter((e) => e.code !== 'UNEXPECTED_TOKEN' || e === firstUnexpected);
    return errors.map((e) => {
      const duplicate = e.code === 'DUPLICATE_KEY' ? findKeyAt(this.#doc.contents, e.pos[0], []) : undefined;
      if (duplicate === undefined) {
        return new PipelineError('YAML_SYNTAX', e.message, { ...this.span(e.pos[0], e.pos[1]), cause: e });
      }
      // The parser marks only the key's first character: use the whole key.
      const where = this.span(duplicate.range[0], duplicate.range[1]);
      if (duplicate.path.length !== 1 || duplicate.path[0] !== 'nodes') {
        const message = `duplicate key \`${duplicate.name}\` in ${displayPath(duplicate.path)}`;
        return new PipelineError('YAML_SYNTAX', message, where);
      }
      return new PipelineError('DUPLICATE_NODE', `node \`${duplicate.name}\` is defined more than once`, {
        ...where,
        node: duplicate.name,
        hint: `first defined on line ${this.#lines.linePos(duplicate.firstOffset).line}`,
      });
    });
  }

  /**
   * Substitutes `${ENV}` in every string value (keys are names, never substituted) and checks `{{ templates }}`
   * as written. Reports into `errors`; returns what was substituted for which variable.
   */
  substituteScalars(env: Env, errors: PipelineError[]): { variable: string; text: string }[] {
    const substitutions: { variable: string; text: string }[] = [];
    // An alias is neither map, list nor scalar: it is skipped, and its anchor is substituted once, where written.
    const visit = (node: unknown, path: PathSegment[]): void => {
      if (isMap(node)) {
        for (const pair of node.items) visit(pair.value, [...path, keyName(pair.key)]);
      } else if (isSeq(node)) {
        node.items.forEach((item, i) => visit(item, [...path, i]));
      } else if (isScalar(node) && typeof node.value === 'string') {
        const scalar = node as Scalar<string>;
        errors.push(...this.#templateErrors(scalar, path));
        const result = interpolateEnv(scalar.value, env);
        for (const p of result.problems) {
          const where = this.locateInScalar(scalar, p.offset, scalar.value.slice(p.offset, p.offset + p.length));
          const inField = ` (in ${displayPath(path)})`;
          if (p.reason === 'malformed') {
            errors.push(new PipelineError('INVALID_CONFIG', p.message + inField, {
              ...where, hint: 'write $${ for a literal ${',
            }));
          } else {
            errors.push(new PipelineError('ENV_UNSET', p.message + inField, {
              ...where,
              ...(p.reason === 'required' ? {} : { hint: `set ${p.variable} or write \${${p.variable}:-default}` }),
            }));
          }
        }
        substitutions.push(...result.substitutions);
        if (result.value !== scalar.value && result.problems.length === 0 && isDurationField(path)) {
          // The schema let `${…}` through where a duration belongs: check what it became.
          errors.push(...durationErrors(result.value, path, this.locate(path)));
        }
        if (result.value !== scalar.value) scalar.value = result.value;
      }
    };
    visit(this.#doc.contents, []);
    return substitutions;
  }

  #templateErrors(scalar: Scalar<string>, path: readonly PathSegment[]): PipelineError[] {
    const uses = findTemplates(scalar.value);
    if (uses.length === 0 || path[0] !== 'nodes' || path.length < 4) return [];
    const field = `${String(path[2])}.${String(path[3])}`;
    // A search query is a map: its strings are rendered too.
    const rendered = (path.length === 4 || field === 'source.query') && (TEMPLATE_FIELDS as readonly string[]).includes(field);
    // Outside a node's source/target/incremental (descriptions, say) braces are just text.
    if (!rendered && !['source', 'target', 'incremental'].includes(String(path[2]))) return [];
    return uses.flatMap((use) => {
      const where = this.locateInScalar(scalar, use.offset, scalar.value.slice(use.offset, use.offset + use.length));
      const node = String(path[1]);
      if (!rendered) {
        return [new PipelineError('TEMPLATE', `templates are not rendered in ${displayPath(path)}`, {
          ...where, node, hint: `they are rendered in ${TEMPLATE_FIELDS.join(', ')}`,
        })];
      }
      if ((TEMPLATE_NAMES as readonly string[]).includes(use.name)) return [];
      const close = suggest(use.name, TEMPLATE_NAMES);
      return [new PipelineError('TEMPLATE', `unknown template \`{{ ${use.name} }}\` in ${displayPath(path)}`, {
        ...where,
        node,
        hint: close === undefined ? `known templates: ${TEMPLATE_NAMES.join(', ')}` : `did you mean \`${close}\`?`,
      })];
    });
  }
}

function isDurationField(path: readonly PathSegment[]): boolean {
  const field = path[path.length - 1];
  const owner = path.length === 2 ? path[0] === 'defaults' : path.length === 3 && path[0] === 'nodes';
  return owner && (field === 'retry_delay' || field === 'timeout');
}

function durationErrors(value: string, path: readonly PathSegment[], where: ErrorLocation): PipelineError[] {
  try {
    parseDuration(value);
    return [];
  } catch {
    return [new PipelineError('SCHEMA', `${displayPath(path)} must be a duration like 30s, 5m or 2h, or a number of ` +
      `seconds; it is "${value}" after substituting environment variables`, where)];
  }
}

interface KeyFound {
  readonly name: string;
  /** The map holding the key. */
  readonly path: readonly PathSegment[];
  readonly range: readonly [number, number, number];
  /** Where the first key of the same name in that map is written. */
  readonly firstOffset: number;
}

/** The map key written at `offset`. */
function findKeyAt(node: unknown, offset: number, path: readonly PathSegment[]): KeyFound | undefined {
  if (isMap(node)) {
    for (const pair of node.items) {
      const range = isScalar(pair.key) ? pair.key.range : undefined;
      if (range != null && range[0] === offset) {
        const name = keyName(pair.key);
        const first = node.items.find((p) => keyName(p.key) === name);
        const firstRange = isScalar(first?.key) ? first.key.range : undefined;
        return { name, path, range, firstOffset: firstRange?.[0] ?? offset };
      }
      const found = findKeyAt(pair.value, offset, [...path, keyName(pair.key)]);
      if (found !== undefined) return found;
    }
  } else if (isSeq(node)) {
    for (const [i, item] of node.items.entries()) {
      const found = findKeyAt(item, offset, [...path, i]);
      if (found !== undefined) return found;
    }
  }
  return undefined;
}

function keyName(key: unknown): string {
  return isScalar(key) ? String(key.value) : String(key);
}

/**
 * The YAML node at `path`, and the key it is written under. With `complete: false` the path leaves the document
 * part-way (a missing key, or a key brought in by `<<: *anchor`) and the deepest node found is returned.
 */
function findNode(
  doc: Document,
  path: readonly PathSegment[],
): { value?: NodeWithRange; key?: NodeWithRange; complete: boolean } {
  let value: unknown = doc.contents;
  let key: unknown;
  for (const segment of path) {
    if (isAlias(value)) value = value.resolve(doc);
    if (isMap(value)) {
      // The last of duplicate keys, as it is the one toJS keeps.
      const pair = [...value.items].reverse().find((p) => isScalar(p.key) && String(p.key.value) === String(segment));
      if (pair === undefined) return { ...withRange(value, key), complete: false };
      key = pair.key;
      value = pair.value;
    } else if (isSeq(value) && value.items[Number(segment)] !== undefined) {
      key = undefined;
      value = value.items[Number(segment)];
    } else {
      return { ...withRange(value, key), complete: false };
    }
  }
  return { ...withRange(value, key), complete: true };
}

interface NodeWithRange {
  readonly range?: readonly [number, number, number] | null;
}

function withRange(value: unknown, key: unknown): { value?: NodeWithRange; key?: NodeWithRange } {
  const ranged = (n: unknown): NodeWithRange | undefined =>
    typeof n === 'object' && n !== null && 'range' in n ? (n as NodeWithRange) : undefined;
  const v = ranged(value);
  const k = ranged(key);
  return { ...(v === undefined ? {} : { value: v }), ...(k === undefined ? {} : { key: k }) };
}

/** `nodes.orders.tags[1]`, the way a person would point into the YAML. */
function displayPath(path: readonly PathSegment[]): string {
  if (path.length === 0) return 'the pipeline';
  return path.reduce<string>((out, seg) => {
    if (typeof seg === 'number') return `${out}[${seg}]`;
    return out === '' ? seg : `${out}.${seg}`;
  }, '');
}

// ---------------------------------------------------------------------------------------------------------------
// JSON schema

let compiledSchema: ValidateFunction | undefined;

function schemaValidator(): ValidateFunction {
  if (compiledSchema !== undefined) return compiledSchema;
  // dist/src/config/load.js and src/config/load.ts sit at different depths below the repository root.
  const candidates = ['../../../schemas/pipeline.schema.json', '../../schemas/pipeline.schema.json']
    .map((rel) => fileURLToPath(new URL(rel, import.meta.url)));
  const schemaFile = candidates.find((f) => existsSync(f)) ?? candidates[0] ?? '';
  const Ajv2020 = ajvModule.default;
  // verbose: errors carry their schema, for `x-errors` messages and the keys a "did you mean" can offer.
  const ajv = new Ajv2020({ allErrors: true, verbose: true, strict: false });
  ajv.addKeyword({ keyword: 'x-errors', schemaType: 'object' });
  compiledSchema = ajv.compile(JSON.parse(readFileSync(schemaFile, 'utf8')) as object);
  return compiledSchema;
}

function schemaErrors(value: unknown, source: PipelineSource): PipelineError[] {
  const validate = schemaValidator();
  if (validate(value)) return [];
  return collapseSchemaErrors(validate.errors ?? []).map((e) => schemaError(e, value, source));
}

/** ajv explains one mistake in several errors; keep the one a person needs. */
function collapseSchemaErrors(all: readonly ErrorObject[]): ErrorObject[] {
  // `if` failing just says the `then` errors exist; `propertyNames` wraps the error on the name itself.
  let errors = all.filter((e) => e.keyword !== 'if' && e.keyword !== 'propertyNames');
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
      const allowed = (e.params['allowedValues'] as unknown[]).map(String);
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

// ---------------------------------------------------------------------------------------------------------------
// The resolved pipeline

type Duration = string | number;

interface RawTiming {
  readonly retries?: number;
  readonly retry_delay?: Duration;
  readonly timeout?: Duration;
}

interface RawNode extends RawTiming {
  readonly description?: string;
  readonly tags?: string[];
  readonly depends_on?: string[];
  readonly source: SourceConfig;
  readonly incremental?: {
    readonly column: string;
    readonly strategy?: IncrementalStrategy;
    readonly initial?: string | number;
  };
  readonly target: {
    readonly connection: string;
    readonly table: string;
    readonly mode: ImportMode;
    readonly key?: string[];
    readonly create?: CreatePolicy;
  };
}

/** The file as the schema allows it, after `${ENV}` substitution. */
interface RawPipeline {
  readonly version: 1;
  readonly name: string;
  readonly description?: string;
  readonly connections: Readonly<Record<string, Readonly<Record<string, unknown>> & { readonly type: string }>>;
  readonly staging?: Partial<StagingConfig>;
  readonly defaults?: RawTiming;
  readonly concurrency?: number;
  readonly nodes: Readonly<Record<string, RawNode>>;
}

function buildPipeline(raw: RawPipeline, file: string, secrets: readonly string[]): Pipeline {
  const defaults = raw.defaults ?? {};
  const duration = (value: Duration | undefined, fallback: Duration | undefined, builtIn: number): number => {
    const chosen = value ?? fallback;
    return chosen === undefined ? builtIn : parseDuration(chosen);
  };

  const connections: Record<string, ConnectionConfig> = {};
  for (const [name, connection] of Object.entries(raw.connections)) connections[name] = { ...connection, name };

  const nodes: Record<string, NodeConfig> = {};
  for (const [name, n] of Object.entries(raw.nodes)) {
    const { incremental } = n;
    nodes[name] = {
      name,
      ...(n.description === undefined ? {} : { description: n.description }),
      tags: n.tags ?? [],
      depends_on: n.depends_on ?? [],
      source: { ...n.source },
      ...(incremental === undefined ? {} : {
        incremental: {
          column: incremental.column,
          strategy: incremental.strategy ?? DEFAULTS.strategy,
          ...(incremental.initial === undefined ? {} : { initial: String(incremental.initial) }),
        },
      }),
      target: { ...n.target, create: n.target.create ?? DEFAULTS.create },
      retries: n.retries ?? defaults.retries ?? DEFAULTS.retries,
      retry_delay: duration(n.retry_delay, defaults.retry_delay, DEFAULTS.retry_delay),
      timeout: duration(n.timeout, defaults.timeout, DEFAULTS.timeout),
    };
  }

  return {
    file: resolve(file),
    version: 1,
    name: raw.name,
    ...(raw.description === undefined ? {} : { description: raw.description }),
    connections,
    staging: { ...DEFAULTS.staging, ...raw.staging },
    concurrency: raw.concurrency ?? DEFAULTS.concurrency,
    nodes,
    secrets,
  };
}

const SECRET_KEYS = new Set(['password', 'secret', 'token', 'api_key', 'secret_access_key', 'access_key_id']);
const SECRET_ENV_NAME = /PASS|SECRET|TOKEN|KEY|CREDENTIAL/i;
const URL_PASSWORD = /^[a-z][a-z0-9+.-]*:\/\/[^:/?#@\s]*:([^/?#\s]*)@/i;

/**
 * Values never to print: secret-named keys anywhere in a connection, the password in a connection URL, and what was
 * substituted for a secret-looking environment variable anywhere in the file.
 */
function collectSecrets(
  connections: Readonly<Record<string, unknown>>,
  substitutions: readonly { variable: string; text: string }[],
): string[] {
  const secrets = new Set<string>();
  const visit = (value: unknown, key: string | undefined): void => {
    if (Array.isArray(value)) {
      for (const item of value) visit(item, key);
    } else if (typeof value === 'object' && value !== null) {
      for (const [k, v] of Object.entries(value)) visit(v, k);
    } else if (typeof value === 'string' || typeof value === 'number') {
      const text = String(value);
      if (key !== undefined && SECRET_KEYS.has(key.toLowerCase())) secrets.add(text);
      const password = typeof value === 'string' ? URL_PASSWORD.exec(value)?.[1] : undefined;
      if (password !== undefined) {
        secrets.add(password);
        // Drivers decode `%40` and may print the decoded form.
        try {
          secrets.add(decodeURIComponent(password));
        } catch {
          // Not valid percent-encoding: the raw form is all there is.
        }
      }
    }
  };
  for (const connection of Object.values(connections)) visit(connection, undefined);
  for (const { variable, text } of substitutions) if (SECRET_ENV_NAME.test(variable)) secrets.add(text);
  secrets.delete('');
  return [...secrets];
}
