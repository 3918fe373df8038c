import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadPipeline, type LoadOptions } from '../../src/config/load.js';
import type { KindLookup } from '../../src/config/validate.js';
import { DEFAULT_CAPABILITIES, type Capabilities, type ConnectorKind } from '../../src/connectors/contract.js';
import { PipelineError, type ErrorCode } from '../../src/errors/pipeline-error.js';
import { renderError, renderErrors } from '../../src/errors/render.js';
import { fixturesDir } from '../support/paths.js';

const pipelines = join(fixturesDir, 'pipelines');

/** Fixtures are loaded with an empty environment, so no variable of the machine running the tests leaks in. */
function load(name: string, options: LoadOptions = {}): ReturnType<typeof loadPipeline> {
  return loadPipeline(join(pipelines, name), { env: {}, ...options });
}

type Found = { code: ErrorCode; line: number | undefined; col: number | undefined };

function found(errors: readonly PipelineError[]): Found[] {
  return errors.map((e) => ({ code: e.code, line: e.location.line, col: e.location.col }));
}

function hintAt(errors: readonly PipelineError[], line: number, col: number): string | undefined {
  return errors.find((e) => e.location.line === line && e.location.col === col)?.hint;
}

function testKind(kind: string, capabilities: Partial<Capabilities>): ConnectorKind {
  return {
    kind,
    capabilities: { ...DEFAULT_CAPABILITIES, ...capabilities },
    sourceKeys: ['table', 'query', 'columns', 'where', 'split'],
    renderExport: () => '',
    load: () => Promise.reject(new Error('unit tests never open connections')),
  };
}

function testKinds(...list: ConnectorKind[]): KindLookup {
  const byName = new Map(list.map((k) => [k.kind, k]));
  return { get: (type) => byName.get(type), names: () => [...byName.keys()] };
}

const tmp = mkdtempSync(join(tmpdir(), 'pigeon-config-errors-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

function writePipeline(name: string, text: string): string {
  const file = join(tmp, name);
  writeFileSync(file, text);
  return file;
}

describe('a broken pipeline file reports every problem at once, each at its line and column', () => {
  const cases: { file: string; what: string; expected: Found[] }[] = [
    {
      file: 'bad-yaml-syntax.yaml',
      what: 'YAML syntax errors, all of them',
      expected: [
        { code: 'YAML_SYNTAX', line: 2, col: 7 },
        { code: 'YAML_SYNTAX', line: 8, col: 48 },
      ],
    },
    {
      file: 'bad-types.yaml',
      what: 'values of the wrong type or out of range, one error each',
      expected: [
        { code: 'SCHEMA', line: 5, col: 14 }, // concurrency: 0
        { code: 'SCHEMA', line: 9, col: 58 }, // mode: upsert
        { code: 'SCHEMA', line: 10, col: 14 }, // retries: three
        { code: 'SCHEMA', line: 11, col: 14 }, // timeout: soon
      ],
    },
    {
      file: 'bad-unknown-keys.yaml',
      what: 'misspelt and misplaced keys, at the key',
      expected: [
        { code: 'UNKNOWN_KEY', line: 4, col: 38 }, // dir in a sqlite connection
        { code: 'UNKNOWN_KEY', line: 10, col: 5 }, // depend_on
        { code: 'UNKNOWN_KEY', line: 12, col: 7 }, // conection (no extra "missing connection")
      ],
    },
    {
      file: 'bad-references.yaml',
      what: 'unknown connections and dependencies',
      expected: [
        { code: 'UNKNOWN_CONNECTION', line: 8, col: 27 },
        { code: 'UNKNOWN_DEPENDENCY', line: 11, col: 18 },
        { code: 'UNKNOWN_CONNECTION', line: 13, col: 27 },
      ],
    },
    {
      file: 'bad-cycle.yaml',
      what: 'a cycle of three and a self-dependency, at the first node of each',
      expected: [
        { code: 'CYCLE', line: 7, col: 18 },
        { code: 'CYCLE', line: 20, col: 18 },
      ],
    },
    {
      file: 'bad-merge.yaml',
      what: 'merge without key, at the target',
      expected: [{ code: 'MERGE_WITHOUT_KEY', line: 8, col: 5 }],
    },
    {
      file: 'bad-env.yaml',
      what: 'unset environment variables, at the ${ inside the string',
      expected: [
        { code: 'ENV_UNSET', line: 4, col: 31 },
        { code: 'ENV_UNSET', line: 5, col: 28 },
        { code: 'ENV_UNSET', line: 8, col: 75 },
      ],
    },
    {
      file: 'bad-duplicate-node.yaml',
      what: 'a node defined twice, at the second',
      expected: [{ code: 'DUPLICATE_NODE', line: 9, col: 3 }],
    },
    {
      file: 'bad-template.yaml',
      what: 'unknown templates and templates where they are not rendered',
      expected: [
        { code: 'TEMPLATE', line: 12, col: 22 }, // {{ dss }} in a block scalar
        { code: 'TEMPLATE', line: 15, col: 46 }, // {{ ds }} in source.table
        { code: 'TEMPLATE', line: 15, col: 72 }, // {{dat_interval_start}}
      ],
    },
    {
      file: 'bad-table-and-query.yaml',
      what: 'both and neither of table and query',
      expected: [
        { code: 'SCHEMA', line: 7, col: 47 },
        { code: 'SCHEMA', line: 10, col: 5 },
      ],
    },
    {
      file: 'bad-connections.yaml',
      what: 'unknown connection types and a connection missing its address',
      expected: [
        { code: 'INVALID_CONFIG', line: 4, col: 16 }, // sqlit
        { code: 'SCHEMA', line: 5, col: 3 }, // postgres without url or host
        { code: 'INVALID_CONFIG', line: 6, col: 15 }, // gopher is not a kind
      ],
    },
    {
      file: 'bad-ftp-connections.yaml',
      what: 'ftp and sftp connections: schema errors, a misspelt key, and what the kinds refuse, at their keys',
      expected: [
        { code: 'SCHEMA', line: 4, col: 50 }, // secure: maybe
        { code: 'UNKNOWN_KEY', line: 4, col: 57 }, // pasword
        { code: 'INVALID_CONFIG', line: 5, col: 48 }, // ca without secure
        { code: 'INVALID_CONFIG', line: 6, col: 91 }, // private_key and private_key_file
        { code: 'INVALID_CONFIG', line: 7, col: 3 }, // no password or key
        { code: 'SCHEMA', line: 8, col: 88 }, // host_fingerprint not SHA256:…
        { code: 'SCHEMA', line: 9, col: 3 }, // sftp without user
      ],
    },
    {
      file: 'bad-everything.yaml',
      what: 'problems found by every stage (YAML, schema, env, templates, references), in one pass',
      expected: [
        { code: 'ENV_UNSET', line: 4, col: 31 },
        { code: 'UNKNOWN_KEY', line: 7, col: 15 },
        { code: 'SCHEMA', line: 9, col: 14 },
        { code: 'UNKNOWN_DEPENDENCY', line: 11, col: 18 },
        { code: 'UNKNOWN_CONNECTION', line: 12, col: 27 },
        { code: 'TEMPLATE', line: 12, col: 73 },
        { code: 'MERGE_WITHOUT_KEY', line: 13, col: 5 },
        { code: 'DUPLICATE_NODE', line: 17, col: 3 },
      ],
    },
  ];

  for (const { file, what, expected } of cases) {
    it(`${file}: ${what}`, () => {
      const result = load(file);
      assert.equal(result.pipeline, undefined);
      assert.deepEqual(found(result.errors), expected);
      for (const e of result.errors) {
        assert.equal(e.location.file, join(pipelines, file), 'file is the path as given');
        assert.ok((e.location.length ?? 0) >= 1, `${e.code} at ${e.location.line}:${e.location.col} has a length`);
      }
    });
  }

  it('connector capabilities: no export, no import, unsupported mode, split without split support', () => {
    const kinds = testKinds(
      testKind('lake', { canImport: false }),
      testKind('archive', { canExport: false }),
      testKind('log', { modes: ['append'] }),
      testKind('file', { split: false }),
    );
    const { errors } = load('bad-capabilities.yaml', { kinds });
    assert.deepEqual(found(errors), [
      { code: 'UNSUPPORTED', line: 11, col: 27 }, // archive cannot be a source
      { code: 'UNSUPPORTED', line: 12, col: 27 }, // lake cannot be a target
      { code: 'UNSUPPORTED', line: 15, col: 48 }, // log does not support overwrite
      { code: 'UNSUPPORTED', line: 20, col: 7 }, // file cannot split
    ]);
  });

  it('the real registry rejects split on a file source: not one of the keys a file source takes', () => {
    const { errors } = load('bad-capabilities.yaml');
    assert.deepEqual(found(errors.filter((e) => e.code === 'UNSUPPORTED')), [{ code: 'UNSUPPORTED', line: 20, col: 7 }]);
  });

  it('each mistake gives one error: a wrong type is not also reported by the if/then or anyOf branches', () => {
    const file = writePipeline('one-each.yaml', [
      'version: 1',
      'name: one-each',
      'connections:',
      '  app: { type: sqlite, path: 5 }',
      'defaults: { timeout: true, retries: -1 }',
      'nodes:',
      '  a:',
      '    source: { connection: app, table: a, split: { column: id } }',
      '    target: { connection: app, table: b, mode: append, key: [] }',
      '',
    ].join('\n'));
    assert.deepEqual(found(loadPipeline(file, { env: {} }).errors), [
      { code: 'SCHEMA', line: 4, col: 30 }, // path: 5
      { code: 'SCHEMA', line: 5, col: 22 }, // timeout: true
      { code: 'SCHEMA', line: 5, col: 37 }, // retries: -1
      { code: 'SCHEMA', line: 8, col: 42 }, // split without chunks: at the `split` key
      { code: 'SCHEMA', line: 9, col: 56 }, // key: [], at the key
    ]);
  });
});

describe('positions inside strings', () => {
  it('finds ${VAR} after escapes in a double-quoted string and in a block scalar', () => {
    const file = writePipeline('positions.yaml', [
      'version: 1',
      'name: positions',
      'connections:',
      '  app: { type: sqlite, path: "a\\tb\\u00e9 ${DB_DIR}" }',
      'nodes:',
      '  a:',
      '    source:',
      '      connection: app',
      '      query: |',
      '        select *',
      '          from t where x = \'${MISSING}\' and y = \'{{ nope }}\'',
      '    target: { connection: app, table: b, mode: append }',
      '',
    ].join('\n'));
    assert.deepEqual(found(loadPipeline(file, { env: {} }).errors), [
      { code: 'ENV_UNSET', line: 4, col: 42 },
      { code: 'ENV_UNSET', line: 11, col: 29 },
      { code: 'TEMPLATE', line: 11, col: 50 },
    ]);
  });

  it('reports a malformed ${ and a bad duration coming from the environment', () => {
    const file = writePipeline('env-shapes.yaml', [
      'version: 1',
      'name: env-shapes',
      'connections:',
      '  app: { type: sqlite, path: "${9LIVES}" }',
      'nodes:',
      '  a:',
      '    source: { connection: app, table: a }',
      '    target: { connection: app, table: b, mode: append }',
      '    timeout: ${NODE_TIMEOUT}',
      '',
    ].join('\n'));
    const { errors } = loadPipeline(file, { env: { NODE_TIMEOUT: 'forever' } });
    assert.deepEqual(found(errors), [
      { code: 'INVALID_CONFIG', line: 4, col: 31 },
      { code: 'SCHEMA', line: 9, col: 14 },
    ]);
  });

  it('a missing file is an error, not an exception', () => {
    const file = join(tmp, 'does-not-exist.yaml');
    const { pipeline, errors } = loadPipeline(file, { env: {} });
    assert.equal(pipeline, undefined);
    assert.deepEqual(errors.map((e) => [e.code, e.location.file]), [['FILE_NOT_FOUND', file]]);
  });

  it('an empty file and a file that is a list are schema errors at 1:1', () => {
    for (const text of ['', '- a\n- b\n']) {
      const { errors } = loadPipeline(writePipeline('root.yaml', text), { env: {} });
      assert.deepEqual(found(errors), [{ code: 'SCHEMA', line: 1, col: 1 }]);
    }
  });
});

describe('hints', () => {
  it('suggests the name that was probably meant', () => {
    const references = load('bad-references.yaml').errors;
    assert.equal(hintAt(references, 8, 27), 'did you mean `app`?');
    assert.equal(hintAt(references, 11, 18), 'did you mean `users`?');
    assert.equal(hintAt(references, 13, 27), 'did you mean `out`?');
    const keys = load('bad-unknown-keys.yaml').errors;
    assert.equal(hintAt(keys, 10, 5), 'did you mean `depends_on`?');
    assert.equal(hintAt(keys, 12, 7), 'did you mean `connection`?');
    const templates = load('bad-template.yaml').errors;
    assert.equal(hintAt(templates, 12, 22), 'did you mean `ds`?');
    assert.equal(hintAt(templates, 15, 72), 'did you mean `data_interval_start`?');
    assert.equal(hintAt(load('bad-connections.yaml').errors, 4, 16), 'did you mean `sqlite`?');
  });

  it('tells how to fix an unset variable', () => {
    assert.equal(hintAt(load('bad-env.yaml').errors, 4, 31),
      'set PIGEON_TEST_DB_DIR or write ${PIGEON_TEST_DB_DIR:-default}');
  });
});

describe('renderError', () => {
  const file = join(pipelines, 'bad-references.yaml');

  it('prints file:line:col, the code, the source line with a caret under the span, and the hint', () => {
    const err = new PipelineError('UNKNOWN_CONNECTION', 'msg', { file, line: 8, col: 27, length: 2, hint: 'did you mean `app`?' });
    assert.equal(renderError(err), [
      `${file}:8:27: error[UNKNOWN_CONNECTION]: msg`,
      '    8 |     source: { connection: ap, table: users }',
      '      |                           ^^',
      '  hint: did you mean `app`?',
    ].join('\n'));
  });

  it('prints no source line when the file cannot be read, and context when there is no file', () => {
    assert.equal(renderError(new PipelineError('SCHEMA', 'msg', { file: join(tmp, 'gone.yaml'), line: 3, col: 1 })),
      `${join(tmp, 'gone.yaml')}:3:1: error[SCHEMA]: msg`);
    const err = new PipelineError('BAD_CSV', 'msg', { node: 'orders', table: 'x', column: 'y', chunk: 'chunk-00003.csv', chunkLine: 17 });
    assert.equal(renderError(err), 'error[BAD_CSV]: msg\n  in node orders, table x, column y, chunk chunk-00003.csv line 17');
  });

  it('prints a cause only when it adds something, and never a stack', () => {
    const cause = new Error('connect ECONNREFUSED 127.0.0.1:5432');
    const rendered = renderError(new PipelineError('CONNECT_FAILED', 'cannot connect to `pg`', { cause }));
    assert.equal(rendered, 'error[CONNECT_FAILED]: cannot connect to `pg`\n  cause: connect ECONNREFUSED 127.0.0.1:5432');
    const same = new PipelineError('CONNECT_FAILED', 'connect ECONNREFUSED 127.0.0.1:5432', { cause });
    assert.equal(renderError(same), 'error[CONNECT_FAILED]: connect ECONNREFUSED 127.0.0.1:5432');
    assert.doesNotMatch(rendered, /\n\s+at /);
  });

  it('colours only when asked', () => {
    const err = new PipelineError('SCHEMA', 'msg', { file, line: 8, col: 27, length: 2 });
    assert.doesNotMatch(renderError(err), /\x1b\[/);
    assert.match(renderError(err, { color: true }), /\x1b\[/);
  });

  it('renderErrors sorts by file, line and column and ends with the count', () => {
    const { errors } = load('bad-references.yaml');
    const out = renderErrors([...errors].reverse());
    const headers = out.split('\n').filter((l) => l.includes('error['));
    assert.deepEqual(headers.map((h) => h.split(': error[')[0]), [`${file}:8:27`, `${file}:11:18`, `${file}:13:27`]);
    assert.equal(out.split('\n').at(-1), '3 problems');
    assert.equal(renderErrors([errors[0]!]).split('\n').at(-1), '1 problem');
  });
});

describe('limits on what a pipeline file may be', () => {
  const header = 'version: 1\nname: limits\nconnections:\n  app: { type: sqlite, path: a.db }\nnodes:\n' +
    '  a:\n    source: { connection: app, table: a }\n    target: { connection: app, table: b, mode: append }\n';

  it('maps nested deeper than 64 levels by indentation: one error at the first level past the limit', () => {
    let text = `${header}    description:\n`;
    for (let i = 0; i < 100; i++) text += `${' '.repeat(6 + 2 * i)}k${i}:\n`;
    // The map holding k0 is level 4 (the pipeline, nodes, a, description's value): the one holding k61 is level 65.
    assert.deepEqual(found(loadPipeline(writePipeline('deep-block.yaml', text), { env: {} }).errors), [
      { code: 'YAML_SYNTAX', line: 10 + 61, col: 6 + 2 * 61 + 1 },
    ]);
  });

  it('flow collections nested deeper than 64 levels: one error at a `[` past the limit, before parsing', () => {
    const text = `${header}    description: ${'['.repeat(70)}${']'.repeat(70)}\n`;
    // The text's check counts the line's `:` and its brackets, not the indentation: the 64th `[` is past the limit.
    assert.deepEqual(found(loadPipeline(writePipeline('deep-flow.yaml', text), { env: {} }).errors), [
      { code: 'YAML_SYNTAX', line: 9, col: 18 + 63 },
    ]);
  });

  it('64 levels are fine', () => {
    const text = `${header}    description: ${'['.repeat(60)}${']'.repeat(60)}\n`;
    assert.deepEqual(found(loadPipeline(writePipeline('deep-ok.yaml', text), { env: {} }).errors), [
      { code: 'SCHEMA', line: 9, col: 5 }, // a description is a string
    ]);
  });

  it('a file larger than 2 MiB is refused without a position; a lone CR at its position', () => {
    const big = writePipeline('big.yaml', `${header}${'#'.repeat(2 * 1024 * 1024)}\n`);
    assert.deepEqual(found(loadPipeline(big, { env: {} }).errors), [{ code: 'INVALID_CONFIG', line: undefined, col: undefined }]);
    const cr = writePipeline('cr.yaml', header.replace('name: limits\n', 'name: limits\r'));
    assert.deepEqual(found(loadPipeline(cr, { env: {} }).errors), [{ code: 'YAML_SYNTAX', line: 2, col: 13 }]);
  });
});
