/**
 * The pipeline JSON schema, composed from `schemas/pipeline.schema.json` and one schema per connector kind,
 * `schemas/connections/<kind>.schema.json`.
 *
 * Each kind owns the keys of its connections. The composed schema inlines every kind's schema under
 * `$defs/<kind>Connection` and dispatches on `type` (an enum of the kinds) with `if`/`then`, so an editor's YAML
 * language server completes and checks each kind's keys, and ajv reports a typo at its position.
 *
 * `schemas/pipeline.schema.json` is itself the composed schema, committed so that editors can point at it; its
 * generated parts (`$defs/connection` and every `$defs/<kind>Connection`) are rewritten by `npm run schema`, and a
 * test fails when the file is out of date. Validation composes at load from the same files, so it never depends on
 * that step.
 *
 * Adding a kind: write `schemas/connections/<kind>.schema.json` (an object schema with `additionalProperties:
 * false`, its own keys only, no `$ref`; `type` and `max_connections` are added here), add the kind to the registry
 * (src/connectors/registry.ts), then run `npm run schema`.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

type Json = null | boolean | number | string | readonly Json[] | { readonly [key: string]: Json };
export type JsonObject = { readonly [key: string]: Json };

/** `schemas/` of the repository, from dist/src/config/ or src/config/. */
export function schemasDir(): string {
  const candidates = ['../../../schemas', '../../schemas'].map((rel) => fileURLToPath(new URL(rel, import.meta.url)));
  return candidates.find((d) => existsSync(join(d, 'pipeline.schema.json'))) ?? candidates[0] ?? 'schemas';
}

export const PIPELINE_SCHEMA_FILE = 'pipeline.schema.json';

/** Where a kind's connection schema lives, relative to `schemas/`. */
export function kindSchemaFile(kind: string): string {
  return `connections/${kind}.schema.json`;
}

const composed = new Map<string, JsonObject>();

/**
 * The pipeline schema for these kinds, composed from the files under `schemas/` (cached per list of kinds). A kind
 * without a schema file (a kind a test defines) gets a connection schema that takes any key.
 */
export function pipelineSchema(kinds: readonly string[]): JsonObject {
  const id = kinds.join('\0');
  const cached = composed.get(id);
  if (cached !== undefined) return cached;
  const dir = schemasDir();
  const base = readJson(join(dir, PIPELINE_SCHEMA_FILE));
  const schemas = kinds.map((kind) => {
    const file = join(dir, kindSchemaFile(kind));
    return { kind, schema: existsSync(file) ? readJson(file) : { type: 'object' } };
  });
  const schema = composePipelineSchema(base, schemas);
  composed.set(id, schema);
  return schema;
}

function readJson(file: string): JsonObject {
  return JSON.parse(readFileSync(file, 'utf8')) as JsonObject;
}

const GENERATED = /^[A-Za-z0-9_]+Connection$/;

/**
 * `base` with its generated parts replaced: `$defs/connection` (the keys every connection has, from
 * `$defs/connectionCommon`, with `type` an enum of `kinds`, then one `if`/`then` per kind) and one
 * `$defs/<kind>Connection` per kind. Pure; throws on a kind schema that could not stand inlined.
 */
export function composePipelineSchema(base: JsonObject, kinds: readonly { kind: string; schema: JsonObject }[]): JsonObject {
  const defs = asObject(base['$defs'], '$defs');
  const common = asObject(defs['connectionCommon'], '$defs/connectionCommon');
  const commonProperties = asObject(common['properties'], '$defs/connectionCommon/properties');
  const typeSchema = asObject(commonProperties['type'], '$defs/connectionCommon/properties/type');

  const kept = Object.entries(defs).filter(([name]) => name !== 'connection' && !GENERATED.test(name));
  const generated: [string, Json][] = kinds.map(({ kind, schema }) => [`${kind}Connection`, inlineKindSchema(kind, schema, commonProperties)]);
  const connection: JsonObject = {
    type: 'object',
    description: 'Generated from schemas/connections/<kind>.schema.json (npm run schema): the keys allowed besides ' +
      '`type` and `max_connections` depend on `type`.',
    required: ['type'],
    properties: { ...commonProperties, type: { ...typeSchema, enum: kinds.map((k) => k.kind) } },
    allOf: kinds.map(({ kind }) => ({
      if: { required: ['type'], properties: { type: { const: kind } } },
      then: { $ref: `#/$defs/${kind}Connection` },
    })),
  };
  return { ...base, $defs: Object.fromEntries([...kept, ['connection', connection], ...generated]) };
}

function inlineKindSchema(kind: string, schema: JsonObject, common: JsonObject): JsonObject {
  const where = kindSchemaFile(kind);
  if (JSON.stringify(schema).includes('"$ref"')) throw new Error(`${where}: a kind schema must not use $ref (it is inlined)`);
  const { $schema: _schema, $id: _id, properties, ...rest } = schema;
  const own = properties === undefined ? {} : asObject(properties, `${where}: properties`);
  for (const key of Object.keys(common)) {
    if (Object.hasOwn(own, key)) throw new Error(`${where}: \`${key}\` is common to every connection; leave it out`);
  }
  // Checked once by $defs/connection; listed so that `additionalProperties: false` lets them through.
  const commonKeys = Object.fromEntries(Object.keys(common).map((key) => [key, key === 'type' ? { const: kind } : true]));
  return { ...rest, properties: { ...commonKeys, ...own } };
}

function asObject(value: Json | undefined, what: string): JsonObject {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new Error(`${what} must be an object`);
  return value as JsonObject;
}

/**
 * JSON for people: two-space indentation, with any object or list that fits in `width` columns on one line (the way
 * the schema files are written by hand).
 */
export function formatJson(value: unknown, width = 120): string {
  const format = (v: unknown, indent: string): string => {
    const one = spaced(JSON.stringify(v), v);
    if (typeof v !== 'object' || v === null || indent.length + one.length <= width) return one;
    const inner = `${indent}  `;
    const items = Array.isArray(v)
      ? v.map((item) => `${inner}${format(item, inner)}`)
      : Object.entries(v).map(([k, item]) => `${inner}${JSON.stringify(k)}: ${format(item, inner)}`);
    const [open, close] = Array.isArray(v) ? ['[', ']'] : ['{', '}'];
    return items.length === 0 ? `${open}${close}` : `${open}\n${items.join(',\n')}\n${indent}${close}`;
  };
  return `${format(value, '')}\n`;
}

/** `{"a":1,"b":[2]}` as `{ "a": 1, "b": [2] }`: re-stringified piece by piece, so strings are left alone. */
function spaced(flat: string, value: unknown): string {
  if (typeof value !== 'object' || value === null) return flat;
  if (Array.isArray(value)) return `[${value.map((v) => spaced(JSON.stringify(v), v)).join(', ')}]`;
  const entries = Object.entries(value).map(([k, v]) => `${JSON.stringify(k)}: ${spaced(JSON.stringify(v), v)}`);
  return entries.length === 0 ? '{}' : `{ ${entries.join(', ')} }`;
}
