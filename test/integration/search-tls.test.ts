// services: opensearch
/**
 * HTTPS with a private CA, basic auth and API keys, the way clusters are often reached: through a TLS-terminating
 * reverse proxy that checks credentials (the test servers run without the security plugin). The proxy is a real
 * HTTPS server with a certificate signed by a CA made here, forwarding to the real OpenSearch.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { pigeon, tempDir } from '../support/cli.js';
import { createDb, type EngineDb } from '../support/engines.js';
import { SearchAdmin, searchEndpoint } from '../support/search.js';

const PASSWORD = 'pr0xy-s3cret-pw';
const API_KEY = Buffer.from('key-id:key-s3cret-value').toString('base64');

describe('opensearch over https with a private CA and credentials', () => {
  let t: ReturnType<typeof tempDir>;
  let pg: EngineDb;
  let admin: SearchAdmin;
  let proxy: https.Server;
  let url: string;

  before(async () => {
    t = tempDir('pigeon-search-tls-');
    const f = (n: string) => join(t.dir, n);
    const ssl = (...args: string[]) => execFileSync('openssl', args, { cwd: t.dir, stdio: 'ignore' });
    ssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=pigeon test CA');
    ssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=127.0.0.1');
    writeFileSync(f('san.ext'), 'subjectAltName=IP:127.0.0.1\n');
    ssl('x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'server.pem', '-days', '2', '-extfile', 'san.ext');
    admin = new SearchAdmin(searchEndpoint('opensearch'));
    await admin.wipe();
    const upstream = new URL(admin.url);
    const allowed = new Set([`Basic ${Buffer.from(`etl:${PASSWORD}`).toString('base64')}`, `ApiKey ${API_KEY}`]);
    proxy = https.createServer({ key: readFileSync(f('server.key')), cert: readFileSync(f('server.pem')) }, (req, res) => {
      if (!allowed.has(req.headers.authorization ?? '')) {
        res.writeHead(401, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: { type: 'security_exception', reason: 'missing or wrong credentials' }, status: 401 }));
        return;
      }
      const { authorization: _auth, host: _host, ...headers } = req.headers;
      const forward = http.request({ host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers }, (up) => {
        res.writeHead(up.statusCode ?? 502, up.headers);
        up.pipe(res);
      });
      forward.on('error', () => res.destroy());
      req.pipe(forward);
    });
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
    url = `https://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
    pg = await createDb('postgres', t.dir);
    await pg.exec(`CREATE TABLE src AS SELECT g AS id, 'row ' || g AS v FROM generate_series(1, 500) g`);
  });
  after(async () => {
    proxy.close();
    await admin.wipe();
    await pg.drop();
    t.cleanup();
  });

  const run = (connection: string, table: string) => {
    writeFileSync(join(t.dir, 'p.yaml'), [
      'version: 1',
      'name: tls',
      'connections:',
      `  pg: ${pg.yaml}`,
      `  es: { type: opensearch, url: "${url}", ${connection} }`,
      'staging: { dir: staging }',
      'nodes:',
      '  load:',
      '    source: { connection: pg, table: src }',
      `    target: { connection: es, table: ${table}, mode: overwrite, key: [id] }`,
      '  back:',
      '    depends_on: [load]',
      `    source: { connection: es, index: ${table} }`,
      `    target: { connection: pg, table: ${table}_back, mode: overwrite }`,
      '',
    ].join('\n'));
    return pigeon(['run', 'p.yaml', '--progress', '0'], { cwd: t.dir });
  };

  test('basic auth over https trusting the connection’s CA: loads and reads back', async () => {
    const r = await run(`user: etl, password: "${PASSWORD}", ca: ca.pem`, 'basic');
    assert.equal(r.code, 0, r.stderr);
    assert.equal(await admin.count('basic'), 500);
    assert.deepEqual((await pg.rows('SELECT count(*), sum(id) FROM basic_back'))[0]!.map(String), ['500', '125250']);
  });

  test('an API key works the same', async () => {
    const r = await run(`api_key: "${API_KEY}", ca: ca.pem`, 'keyed');
    assert.equal(r.code, 0, r.stderr);
    assert.equal(await admin.count('keyed'), 500);
  });

  test('without the CA the certificate is refused; a wrong password is refused; neither message shows a secret', async () => {
    const untrusted = await run(`user: etl, password: "${PASSWORD}"`, 'untrusted');
    assert.equal(untrusted.code, 1);
    assert.match(untrusted.stderr, /CONNECT_FAILED.*(self[- ]signed|certificate)/i);
    const wrong = await run(`user: etl, password: "not-${PASSWORD}", ca: ca.pem`, 'wrong');
    assert.equal(wrong.code, 1);
    assert.match(wrong.stderr, /CONNECT_FAILED.*HTTP 401/);
    for (const out of [untrusted.stdout, untrusted.stderr, wrong.stdout, wrong.stderr]) assert.ok(!out.includes(PASSWORD), 'no password in the output');
  });
});
