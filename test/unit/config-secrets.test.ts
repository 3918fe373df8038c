/**
 * A pipeline with errors still knows its secrets, so printing its errors (which quote the offending line) masks
 * them; the caret stays under the offending text of the masked line.
 */
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadPipeline } from '../../src/config/load.js';
import { renderErrors } from '../../src/errors/render.js';
import { makeRedactor } from '../../src/log/redact.js';

const tmp = mkdtempSync(join(tmpdir(), 'pigeon-config-secrets-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

function write(name: string, text: string): string {
  const file = join(tmp, name);
  writeFileSync(file, text);
  return file;
}

function rendered(file: string, env: Record<string, string> = {}): { text: string; secrets: readonly string[] } {
  const { errors, secrets } = loadPipeline(file, { env });
  assert.ok(errors.length > 0, 'the file has errors');
  return { text: renderErrors(errors, { redact: makeRedactor(secrets) }), secrets };
}

const NODES = `nodes:
  a:
    source: { connection: db, table: a }
    target: { connection: db, table: b, mode: append }
`;

describe('secrets of a pipeline with errors are masked in the rendered errors', () => {
  it('a URL password on the line of an unknown key, with the caret still under the key', () => {
    const file = write('url.yaml', `version: 1\nname: s\nconnections:\n  db: { type: mysql, url: "mysql://u:Hunter2-p%40ss@h/x", tpyo: 1 }\n${NODES}`);
    const { text, secrets } = rendered(file);
    assert.ok(secrets.includes('Hunter2-p%40ss') && secrets.includes('Hunter2-p@ss'));
    assert.ok(!text.includes('Hunter2'), text);
    const lines = text.split('\n');
    const source = lines.findIndex((l) => l.includes('tpyo: 1'));
    assert.ok(source > 0, text);
    const caret = lines[source + 1]!;
    const quoted = lines[source]!;
    assert.equal(quoted.slice(caret.indexOf('^'), caret.lastIndexOf('^') + 1), 'tpyo');
  });

  it('a numeric password the schema rejects (above 2^53, so read back rounded) is not printed', () => {
    const file = write('number.yaml', `version: 1\nname: s\nconnections:\n  db:\n    type: postgres\n    host: h\n    password: 91827364554637281\n${NODES}`);
    const { text } = rendered(file);
    assert.match(text, /error\[SCHEMA\]/);
    assert.ok(!text.includes('91827364554637281'), text);
  });

  it('a value from a secret-named environment variable that breaks a duration is not printed', () => {
    const file = write('env.yaml', `version: 1\nname: s\nconnections:\n  db: { type: sqlite, path: x.db }\ndefaults: { timeout: "\${DB_SECRET_TIMEOUT}" }\n${NODES}`);
    const { text } = rendered(file, { DB_SECRET_TIMEOUT: 'not-a-duration-s3cr3t' });
    assert.match(text, /error\[SCHEMA\]/);
    assert.ok(!text.includes('not-a-duration-s3cr3t'), text);
  });

  for (const [what, line] of [
    ['a block password', '    password: Blk-s3cr3t-pw'],
    ['a quoted flow password', '    { type: postgres, host: h, password: "Blk-s3cr3t-pw" }'],
    ['a URL password', '    url: mysql://u:Blk-s3cr3t-pw@h/x'],
  ] as const) {
    it(`${what} on a line of a file that does not parse`, () => {
      const body = line.startsWith('    {') ? `  db:\n${line} ]` : `  db:\n    type: postgres\n${line} ]`;
      const file = write('syntax.yaml', `version: 1\nname: s\nconnections:\n${body}\n  : :\n${NODES}`);
      const { text, secrets } = rendered(file);
      assert.match(text, /error\[YAML_SYNTAX\]/);
      assert.ok(secrets.some((s) => s.includes('Blk-s3cr3t-pw')), JSON.stringify(secrets));
      assert.ok(!text.includes('Blk-s3cr3t-pw'), text);
    });
  }

  it('S3 keys and a session token on the line of an error are not printed', () => {
    const file = write('s3.yaml', `version: 1\nname: s\nconnections:\n  db: { type: s3, bucket: b, access_key_id: AKIA-s3cr3t-id, secret_access_key: s3cr3t/key+1, session_token: s3ss-t0k3n-s3cr3t, tpyo: 1 }\n${NODES}`);
    const { text, secrets } = rendered(file);
    for (const s of ['AKIA-s3cr3t-id', 's3cr3t/key+1', 's3ss-t0k3n-s3cr3t']) {
      assert.ok(secrets.includes(s), s);
      assert.ok(!text.includes(s), text);
    }
  });

  it('S3 keys and a session token of a valid file are secrets too', () => {
    const file = write('s3-ok.yaml', `version: 1\nname: s\nconnections:\n  db: { type: s3, bucket: my-bucket, access_key_id: AKIA-s3cr3t-id, secret_access_key: s3cr3t/key+1, session_token: s3ss-t0k3n-s3cr3t }\n${NODES}`);
    const { errors, secrets } = loadPipeline(file, { env: {} });
    assert.deepEqual(errors, []);
    for (const s of ['AKIA-s3cr3t-id', 's3cr3t/key+1', 's3ss-t0k3n-s3cr3t']) assert.ok(secrets.includes(s), s);
  });

  it('an `${ENV}` reference is not a secret to mask', () => {
    const file = write('ref.yaml', `version: 1\nname: s\nconnections:\n  db: { type: postgres, host: h, password: "\${PG_PASSWORD}" ]\n${NODES}`);
    const { secrets } = rendered(file);
    assert.deepEqual(secrets.filter((s) => s.includes('PG_PASSWORD')), []);
  });

  for (const [what, line] of [
    ['a ${VAR:-default} password', '    password: "${PG_PASSWORD:-Dflt-s3cret-pw}"'],
    ['a ${VAR:-default} under a secret-named key whatever the variable', '    password: "${DBPW:-Dflt-s3cret-pw}"'],
    ['a default of a secret-named variable inside a URL', '    url: "postgres://u:${DB_PASSWORD:-Dflt-s3cret-pw}@h/x"'],
    ['a URL password given as a query parameter', '    url: "postgres://u@h/x?password=Dflt-s3cret-pw"'],
  ] as const) {
    it(`${what}, on the line of a YAML syntax error`, () => {
      const file = write('default.yaml', `version: 1\nname: s\nconnections:\n  db:\n    type: postgres\n${line} ]\n  : :\n${NODES}`);
      const { text } = rendered(file);
      assert.match(text, /error\[YAML_SYNTAX\]/);
      assert.ok(!text.includes('Dflt-s3cret-pw'), text);
    });
  }

  it('a ${VAR:-default} password inside a complex key, quoted by its unknown-key error', () => {
    const file = write('complex.yaml', [
      'version: 1', 'name: s', 'connections:', '  db:', '    type: postgres', '    host: h',
      '    ? { password: "${PG_PASSWORD:-Dflt-s3cret-pw}" }', '    : x', NODES,
    ].join('\n'));
    const { text } = rendered(file);
    assert.match(text, /error\[UNKNOWN_KEY\]/);
    assert.ok(!text.includes('Dflt-s3cret-pw'), text);
  });

  it('a password refused in a URL parameter is masked where the error quotes its line', () => {
    const file = write('param.yaml', `version: 1\nname: s\nconnections:\n  db: { type: mysql, url: "mysql://u@h/x?password=Prm-s3cret-pw" }\n${NODES}`);
    const { text } = rendered(file);
    assert.match(text, /error\[INVALID_CONFIG\]/);
    assert.ok(!text.includes('Prm-s3cret-pw'), text);
  });
});
