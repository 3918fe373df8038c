/**
 * The pipeline schema is composed from one schema file per connector kind: the committed
 * schemas/pipeline.schema.json (what editors point at) is that composition, self-contained, and only the kinds that
 * exist are accepted.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import ajvModule from 'ajv/dist/2020.js';
import { parse } from 'yaml';
import { composePipelineSchema, formatJson, pipelineSchema, type JsonObject } from '../../src/config/schema.js';
import { PRECOMPILED_VALIDATOR, pipelineAjv, schemaHash } from '../../src/config/schema-errors.js';
import { connectorKindNames, getConnectorKind } from '../../src/connectors/registry.js';
import { fixturesDir, repoRoot } from '../support/paths.js';

const schemasDir = join(repoRoot, 'schemas');
const committed = JSON.parse(readFileSync(join(schemasDir, 'pipeline.schema.json'), 'utf8')) as JsonObject;

function refsOf(value: unknown): string[] {
  if (typeof value !== 'object' || value === null) return [];
  return Object.entries(value).flatMap(([k, v]) => (k === '$ref' && typeof v === 'string' ? [v] : refsOf(v)));
}

describe('the pipeline schema is composed from one schema per connector kind', () => {
  it('schemas/pipeline.schema.json is up to date with schemas/connections/ (else run `npm run schema`)', () => {
    assert.deepEqual(committed, pipelineSchema(connectorKindNames()));
    assert.equal(readFileSync(join(schemasDir, 'pipeline.schema.json'), 'utf8'), formatJson(committed));
  });

  it('every kind of the registry has a schema file, and every schema file a kind', () => {
    const files = readdirSync(join(schemasDir, 'connections')).map((f) => f.replace(/\.schema\.json$/, '')).sort();
    assert.deepEqual(files, [...connectorKindNames()].sort());
  });

  it('a connection type is one of the kinds that exist, and no placeholder kind is left', () => {
    const defs = committed['$defs'] as Record<string, JsonObject>;
    const type = (defs['connection']!['properties'] as Record<string, JsonObject>)['type']!;
    assert.deepEqual(type['enum'], connectorKindNames());
    const kindDefs = Object.keys(defs).filter((d) => d.endsWith('Connection')).sort();
    assert.deepEqual(kindDefs, connectorKindNames().map((k) => `${k}Connection`).sort());
  });

  it('a source lists the union of the source keys of every kind', () => {
    const source = (committed['$defs'] as Record<string, JsonObject>)['source']!;
    const keys = new Set(connectorKindNames().flatMap((k) => getConnectorKind(k)!.sourceKeys));
    assert.deepEqual(Object.keys(source['properties'] as object).sort(), ['connection', ...keys].sort());
  });

  it('is self-contained: every $ref points inside the file', () => {
    const refs = refsOf(committed);
    assert.ok(refs.length > 0);
    for (const ref of refs) assert.match(ref, /^#\//);
  });

  it('validates the example pipelines with a plain JSON schema validator, as an editor would', () => {
    const ajv = new ajvModule.default({ allErrors: true, strict: false });
    const validate = ajv.compile(committed);
    for (const file of [join(repoRoot, 'pipelines', 'demo.yaml'), join(fixturesDir, 'pipelines', 'good-full.yaml')]) {
      assert.ok(validate(parse(readFileSync(file, 'utf8'))), `${file}: ${JSON.stringify(validate.errors)}`);
    }
    const typo = { version: 1, name: 'x', connections: { db: { type: 'mysql', url: 'mysql://h/d', options: { tinyint: 'boolean' } } }, nodes: {} };
    assert.equal(validate(typo), false);
  });

  it('adding a kind is one schema file: its keys, `type` and `max_connections` are composed in', () => {
    const base = committed;
    const toy: JsonObject = {
      $id: 'toy', type: 'object', additionalProperties: false, required: ['endpoint'], properties: { endpoint: { type: 'string' } },
    };
    const schema = composePipelineSchema(base, [{ kind: 'toy', schema: toy }]);
    const validate = new ajvModule.default({ strict: false }).compile(schema);
    const pipeline = (connection: object): object => ({ version: 1, name: 'x', connections: { t: connection }, nodes: { a: {
      source: { connection: 't', table: 'a' }, target: { connection: 't', table: 'b', mode: 'append' } } } });
    assert.equal(validate(pipeline({ type: 'toy', endpoint: 'e', max_connections: 2 })), true, JSON.stringify(validate.errors));
    assert.equal(validate(pipeline({ type: 'toy', endpoint: 'e', extra: 1 })), false);
    assert.equal(validate(pipeline({ type: 'mysql', url: 'mysql://h/d' })), false, 'only the kinds given exist');
    assert.throws(() => composePipelineSchema(base, [{ kind: 'bad', schema: { properties: { a: { $ref: '#/x' } } } }]), /\$ref/);
  });
});

describe('the pipeline schema documents itself for editors', () => {
  /** Every property schema of the composed file, with its path. */
  const properties = (s: unknown, path: string, out: [string, Record<string, unknown>][] = []): [string, Record<string, unknown>][] => {
    if (Array.isArray(s)) s.forEach((x, i) => properties(x, `${path}/${i}`, out));
    else if (s && typeof s === 'object') {
      for (const [k, v] of Object.entries(s as Record<string, unknown>)) {
        if (k === 'properties' && v && typeof v === 'object') {
          for (const [name, p] of Object.entries(v as Record<string, unknown>)) if (p && typeof p === 'object' && !('const' in p && Object.keys(p).length === 1)) out.push([`${path}/${name}`, p as Record<string, unknown>]);
        }
        properties(v, `${path}/${k}`, out);
      }
    }
    return out;
  };

  it('every property has a title and a description', () => {
    const found = properties(committed, '');
    assert.ok(found.length > 80, `${found.length} properties`);
    const missing = found.filter(([, p]) => typeof p.title !== 'string' || typeof p.description !== 'string').map(([path]) => path);
    assert.deepEqual(missing, []);
  });

  it('connection `type` is an enum of the registry\'s kinds, and the main keys carry examples', () => {
    const connection = (committed.$defs as Record<string, { properties: { type: { enum: string[] } } }>).connection!;
    assert.deepEqual([...connection.properties.type.enum].sort(), [...connectorKindNames()].sort());
    const withExamples = properties(committed, '').filter(([, p]) => Array.isArray(p.examples)).map(([path]) => path);
    for (const key of ['/name', '/$defs/source/table', '/$defs/target/table', '/$defs/mysqlConnection/url', '/$defs/postgresConnection/url']) {
      assert.ok(withExamples.includes(key), `${key} has examples`);
    }
  });
});

describe('the precompiled pipeline validator (written by npm run build)', () => {
  const file = join(repoRoot, 'dist', 'src', 'config', PRECOMPILED_VALIDATOR);
  const load = () => createRequire(import.meta.url)(file) as ((v: unknown) => boolean) & { errors?: unknown[]; schemaHash?: string };

  it('is built from the schema files as they are now, so validation uses it rather than compiling the schema', () => {
    assert.ok(existsSync(file), `${file} is missing: run npm run build`);
    assert.equal(load().schemaHash, schemaHash(pipelineSchema(connectorKindNames())));
  });

  it('reports exactly what the schema compiled at run time reports, for every bad pipeline fixture and the examples', () => {
    const precompiled = load();
    const compiled = pipelineAjv().compile(pipelineSchema(connectorKindNames()));
    const dirs = [join(fixturesDir, 'bad-pipelines'), join(repoRoot, 'pipelines')];
    const files = dirs.flatMap((d) => readdirSync(d).filter((f) => f.endsWith('.yaml')).map((f) => join(d, f)));
    assert.ok(files.length > 10);
    const shape = (errors: unknown) =>
      ((errors ?? []) as { instancePath: string; schemaPath: string; keyword: string; params: unknown; parentSchema?: unknown }[]).map((e) => ({
        at: e.instancePath,
        schema: e.schemaPath,
        keyword: e.keyword,
        params: e.params,
        parent: e.parentSchema,
      }));
    for (const f of files) {
      let value: unknown;
      try {
        value = parse(readFileSync(f, 'utf8'));
      } catch {
        continue; // a fixture that is not YAML at all
      }
      assert.equal(precompiled(value), compiled(value), f);
      assert.deepEqual(shape(precompiled.errors), shape(compiled.errors), f);
    }
  });
});
