// services: s3, ftp, sftp
/**
 * Secrets: passwords and tokens written in a connection `url`, in `password:` keys and in `${ENV}` values never
 * appear in what pigeon prints or writes: stdout and stderr of every command (validate, plan, check, run in text and
 * JSON logs with their error and run_finished events, status in text and JSON, runs, retry, report), and every file
 * under the working directory's `.pigeon/` (run records, logs, every run's report.html, state, watermarks, locks, and
 * the staging directory, kept with `staging.keep`). Pipelines that
 * succeed, that fail to connect (a wrong password against MariaDB, a role that may not log in on PostgreSQL, whose
 * test server trusts local connections so a wrong password would be accepted), that fail mid-node with the server
 * echoing the token back, and that are invalid with a password on the line of the error. Each secret is looked for
 * as written, URL-encoded and JSON-escaped. S3 access keys, secret keys and session tokens, as connection keys and as
 * `${ENV}` values, are looked for in the same places and in every object S3 staging and an S3 target wrote; FTP and SFTP
 * passwords (refused ones, as written and from `${ENV}`), an SFTP private key given inline and its passphrase, in the
 * same places and in every file pigeon put on the SFTP server.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import mysql from 'mysql2/promise';
import pg from 'pg';
import { pigeon, tempDir, type CliResult } from '../support/cli.js';
import { createDb } from '../support/engines.js';
import { testServer } from '../support/remote-server.js';
import { testBucket } from '../support/s3.js';

const tag = randomBytes(4).toString('hex');
const MYSQL_URL_USER = `psec_url_${tag}`;
const MYSQL_ENV_USER = `psec_env_${tag}`;
const PG_ROLE = `psec_role_${tag}`;
const PG_NOLOGIN = `psec_nologin_${tag}`;

/** Every secret of the test; long and distinct, with the characters URLs, YAML, JSON and SQL treat specially. */
const SECRETS = {
  urlPassword: `Url-p@ss:w/rd%3F&s3cr3t-${tag}`,
  envPassword: `Env-pa55"s3cr3t\\${tag}`,
  keyPassword: `Key-pa55 'quoted' s3cr3t-${tag}`,
  pgUrlPassword: `PgUrl-s3cr3t&x=1#${tag}`,
  token: `tok-9f8e7d6c5b4a-s3cr3t-${tag}`,
  wrongUrlPassword: `Wrong-url-p@ss-s3cr3t-${tag}`,
  wrongKeyPassword: `Wrong-key-pa55-s3cr3t-${tag}`,
  noLoginPassword: `NoLogin-pa55-s3cr3t-${tag}`,
  errorLinePassword: `Cfg-pa55-on-the-error-line-${tag}`,
  // Above 2^53: YAML reads it back rounded, so only the text of the file has it as written.
  numericPassword: '91827364554637281',
} as const;

/** The forms a secret could leak in: as is, URL-encoded (both ways) and escaped inside JSON. */
function forms(secret: string): string[] {
  return [...new Set([secret, encodeURIComponent(secret), encodeURI(secret), JSON.stringify(secret).slice(1, -1)])];
}

function filesUnder(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...filesUnder(p));
    else out.push(p);
  }
  return out;
}

/** Every place a secret was found, as `where: secret name`. */
function leaks(where: string, text: string, secrets: Readonly<Record<string, string>> = SECRETS): string[] {
  const found: string[] = [];
  for (const [name, secret] of Object.entries(secrets)) {
    for (const form of forms(secret)) if (text.includes(form)) found.push(`${where}: ${name} (${JSON.stringify(form)})`);
  }
  return found;
}

/** Runs pigeon in `cwd` with `env`, asserting its exit code, and keeps what it printed in `outputs` for the scan. */
function recorder(cwd: string, env: Record<string, string>, outputs: { what: string; r: CliResult }[]) {
  return async (args: string[], expectCode: number): Promise<CliResult> => {
    const r = await pigeon(args, { cwd, env });
    outputs.push({ what: `pigeon ${args.join(' ')}`, r });
    assert.equal(r.code, expectCode, `pigeon ${args.join(' ')}\n${r.stdout}\n${r.stderr}`);
    return r;
  };
}

/**
 * Where `secrets` appear in what the commands printed and in every file under `<dir>/.pigeon` (also returned), each
 * file read as UTF-8 and as bytes (latin1).
 */
function scan(outputs: readonly { what: string; r: CliResult }[], dir: string, secrets: Readonly<Record<string, string>>): { found: string[]; written: string[] } {
  const found: string[] = [];
  for (const { what, r } of outputs) found.push(...leaks(`${what} stdout`, r.stdout, secrets), ...leaks(`${what} stderr`, r.stderr, secrets));
  const written = filesUnder(join(dir, '.pigeon'));
  for (const file of written) found.push(...leaks(file.slice(dir.length + 1), readFileSync(file, 'latin1') + readFileSync(file, 'utf8'), secrets));
  return { found, written };
}

const MYSQL_ADMIN = { host: '127.0.0.1', port: 3306, user: 'root' };
const PG_ADMIN = { host: '127.0.0.1', port: 5432, user: 'postgres', database: 'postgres' };

test('no secret appears in any output or any file pigeon writes, whether a run succeeds or fails', async () => {
  const t = tempDir('pigeon-secrets-');
  const src = await createDb('mysql', t.dir);
  const dst = await createDb('postgres', t.dir);
  const mysqlDb = /\/([^/"]+)"/.exec(src.yaml)![1]!;
  const pgDb = /\/([^/"]+)"/.exec(dst.yaml)![1]!;
  const admin = await mysql.createConnection(MYSQL_ADMIN);
  const pgAdmin = new pg.Client(PG_ADMIN);
  await pgAdmin.connect();
  const outputs: { what: string; r: CliResult }[] = [];
  try {
    await admin.query(`CREATE USER ?@'%' IDENTIFIED BY ?`, [MYSQL_URL_USER, SECRETS.urlPassword]);
    await admin.query(`CREATE USER ?@'%' IDENTIFIED BY ?`, [MYSQL_ENV_USER, SECRETS.envPassword]);
    for (const user of [MYSQL_URL_USER, MYSQL_ENV_USER]) await admin.query(`GRANT ALL ON \`${mysqlDb}\`.* TO ?@'%'`, [user]);
    const literal = (s: string) => `'${s.replaceAll("'", "''")}'`;
    await pgAdmin.query(`CREATE ROLE ${PG_ROLE} LOGIN SUPERUSER PASSWORD ${literal(SECRETS.keyPassword)}`);
    await pgAdmin.query(`CREATE ROLE ${PG_NOLOGIN} NOLOGIN PASSWORD ${literal(SECRETS.noLoginPassword)}`);

    await src.exec(`CREATE TABLE people (id INT PRIMARY KEY, name VARCHAR(50))`);
    await src.exec(`INSERT INTO people VALUES (1, 'ann'), (2, 'bob'), (3, 'cy')`);
    await dst.exec(`CREATE TABLE scores (id INT, points INT)`);
    await dst.exec(`INSERT INTO scores VALUES (1, 10), (2, 20)`);

    const y = JSON.stringify;
    const env = {
      PIGEON_SEC_DB_PASSWORD: SECRETS.envPassword,
      PIGEON_SEC_PG_URL: `postgres://${PG_ROLE}:${encodeURIComponent(SECRETS.pgUrlPassword)}@127.0.0.1:5432/${pgDb}`,
      PIGEON_SEC_API_TOKEN: SECRETS.token,
    };
    const mysqlUrl = (user: string, password: string) => `mysql://${user}:${encodeURIComponent(password)}@127.0.0.1:3306/${mysqlDb}`;
    const header = (name: string) => `version: 1\nname: ${name}\ndefaults: { retries: 0 }\nstaging: { keep: true }\n`;

    const good = `${header('sec_ok')}connections:
  shop_url: { type: mysql, url: ${y(mysqlUrl(MYSQL_URL_USER, SECRETS.urlPassword))} }
  shop_env: { type: mysql, host: 127.0.0.1, port: 3306, user: ${MYSQL_ENV_USER}, password: "\${PIGEON_SEC_DB_PASSWORD}", database: ${mysqlDb} }
  bi_key: { type: postgres, host: 127.0.0.1, port: 5432, user: ${PG_ROLE}, password: ${y(SECRETS.keyPassword)}, database: ${pgDb} }
  bi_url: { type: postgres, url: "\${PIGEON_SEC_PG_URL}" }
  local: { type: sqlite, path: local.db }
nodes:
  people:
    source: { connection: shop_url, table: people }
    target: { connection: bi_key, table: people, mode: merge, key: [id] }
  filtered:
    source: { connection: shop_env, table: people, where: "name <> '\${PIGEON_SEC_API_TOKEN}'" }
    target: { connection: bi_url, table: filtered, mode: overwrite }
  scores:
    source: { connection: bi_url, query: "select id, points, '\${PIGEON_SEC_API_TOKEN}' <> '' as flagged from scores" }
    target: { connection: local, table: scores, mode: append }
`;
    const badConnections = `${header('sec_conn')}connections:
  shop_wrong_url: { type: mysql, url: ${y(mysqlUrl(MYSQL_URL_USER, SECRETS.wrongUrlPassword))} }
  shop_wrong_key: { type: mysql, host: 127.0.0.1, port: 3306, user: ${MYSQL_ENV_USER}, password: ${y(SECRETS.wrongKeyPassword)}, database: ${mysqlDb} }
  bi_nologin: { type: postgres, host: 127.0.0.1, port: 5432, user: ${PG_NOLOGIN}, password: ${y(SECRETS.noLoginPassword)}, database: ${pgDb} }
  local: { type: sqlite, path: local.db }
nodes:
  wrong_url: { source: { connection: shop_wrong_url, table: people }, target: { connection: local, table: a, mode: overwrite } }
  wrong_key: { source: { connection: shop_wrong_key, table: people }, target: { connection: local, table: b, mode: overwrite } }
  nologin: { source: { connection: bi_nologin, table: scores }, target: { connection: local, table: c, mode: overwrite } }
  after_wrong_url:
    depends_on: [wrong_url]
    source: { connection: local, table: a }
    target: { connection: local, table: d, mode: overwrite }
`;
    const midNode = `${header('sec_mid')}connections:
  shop_url: { type: mysql, url: ${y(mysqlUrl(MYSQL_URL_USER, SECRETS.urlPassword))} }
  bi_key: { type: postgres, host: 127.0.0.1, port: 5432, user: ${PG_ROLE}, password: ${y(SECRETS.keyPassword)}, database: ${pgDb} }
  local: { type: sqlite, path: local.db }
nodes:
  mysql_echo:
    source: { connection: shop_url, table: people, where: "id = = '\${PIGEON_SEC_API_TOKEN}'" }
    target: { connection: local, table: e, mode: overwrite }
  pg_echo:
    source: { connection: bi_key, query: "select id, '\${PIGEON_SEC_API_TOKEN}'::int as n from scores" }
    target: { connection: local, table: f, mode: overwrite }
  pg_import:
    source: { connection: shop_url, query: "select id, name as points from people" }
    target: { connection: bi_key, table: scores, mode: append }
`;
    const invalid = `${header('sec_cfg')}connections:
  shop: { type: mysql, url: ${y(mysqlUrl(MYSQL_URL_USER, SECRETS.errorLinePassword))}, typo_here: 1 }
  bi: { type: postgres, host: 127.0.0.1, port: 5432, user: ${PG_ROLE}, password: ${SECRETS.numericPassword}, database: ${pgDb} }
nodes:
  people:
    source: { connection: shop, table: people }
    target: { connection: bi, table: people, mode: merge }
`;
    writeFileSync(join(t.dir, 'good.yaml'), good);
    writeFileSync(join(t.dir, 'bad-connections.yaml'), badConnections);
    writeFileSync(join(t.dir, 'mid-node.yaml'), midNode);
    writeFileSync(join(t.dir, 'invalid.yaml'), invalid);

    const cli = recorder(t.dir, env, outputs);
    await cli(['validate', 'good.yaml'], 0);
    await cli(['plan', 'good.yaml'], 0);
    await cli(['run', 'good.yaml', '--progress', '0', '--log-format', 'json'], 0);
    await cli(['run', 'good.yaml', '--progress', '0'], 0);
    await cli(['status'], 0);
    await cli(['status', '--format', 'json'], 0);

    const conn = await cli(['run', 'bad-connections.yaml', '--progress', '0'], 1);
    assert.match(conn.stderr, /error\[CONNECT_FAILED\]/);
    await cli(['status'], 0);
    await cli(['status', '--format', 'json'], 0);
    await cli(['retry', '--progress', '0', '--log-format', 'json'], 1);

    const mid = await cli(['run', 'mid-node.yaml', '--progress', '0', '--log-format', 'json'], 1);
    assert.doesNotMatch(mid.stdout, /succeeded.*\n.*succeeded.*\n.*succeeded/, 'every node of mid-node.yaml fails');
    await cli(['status'], 0);
    await cli(['status', '--format', 'json'], 0);
    await cli(['retry', '--progress', '0'], 1);
    await cli(['plan', 'mid-node.yaml'], 0);
    await cli(['runs'], 0);
    await cli(['runs', '--format', 'json'], 0);
    await cli(['report', '-o', '.pigeon/again.html'], 0);
    await cli(['check', 'good.yaml', '--format', 'json'], 0);
    await cli(['check', 'bad-connections.yaml'], 1);
    const jsonRun = await cli(['run', 'bad-connections.yaml', '--log-format', 'json'], 1);
    const events = jsonRun.stderr.trim().split('\n').map((l) => JSON.parse(l) as { event?: string });
    assert.ok(events.some((e) => e.event === 'error') && events.some((e) => e.event === 'run_finished'), 'the errors and the summary are JSON events too');

    for (const command of ['validate', 'run', 'plan']) {
      const r = await cli([command, 'invalid.yaml'], 3);
      assert.match(r.stderr, /invalid\.yaml:\d+:\d+: error\[UNKNOWN_KEY\]/);
      assert.match(r.stderr, /invalid\.yaml:\d+:\d+: error\[SCHEMA\]/, 'the numeric password is reported as not a string');
    }

    const { found, written } = scan(outputs, t.dir, SECRETS);
    if (process.env.PIGEON_SHOW_OUTPUTS) for (const { what, r } of outputs) console.log(`--- ${what}\n${r.stdout}\n${r.stderr}`);
    assert.deepEqual(found, []);

    // The scan looked where secrets could have gone: chunk files, run records and logs exist, and masking happened.
    assert.ok(written.some((f) => /chunk-\d+\.csv$/.test(f)), 'staging chunk files were kept and scanned');
    assert.ok(written.some((f) => f.endsWith('log.jsonl')) && written.some((f) => f.endsWith('run.json')));
    assert.ok(written.filter((f) => f.endsWith('report.html')).length >= 4 && written.some((f) => f.endsWith('again.html')), 'every run\'s report was scanned');
    assert.ok(outputs.some(({ r }) => r.stdout.includes('***') || r.stderr.includes('***')), 'some output was masked');
    assert.notDeepEqual(leaks('good.yaml', good), [], 'the scan finds a secret where one is');
  } finally {
    for (const user of [MYSQL_URL_USER, MYSQL_ENV_USER]) await admin.query(`DROP USER IF EXISTS ?@'%'`, [user]).catch(() => {});
    await admin.end();
    await src.drop().catch(() => {});
    await dst.drop().catch(() => {});
    for (const role of [PG_ROLE, PG_NOLOGIN]) await pgAdmin.query(`DROP ROLE IF EXISTS ${role}`).catch(() => {});
    await pgAdmin.end();
    t.cleanup();
  }
});

const S3_SECRETS = {
  accessKey: `AKIAS3CR3T${tag.toUpperCase()}KEY`,
  secretKey: `wJalrXUtnFEMI/K7MDENG+s3cr3t/${tag}`,
  sessionToken: `FwoGZXIvYXdzEJr-s3ss10n-t0ken-${tag}`,
  envAccessKey: `AKIAENVS3CR3T${tag.toUpperCase()}`,
  envSecretKey: `env+s3cr3t/key=${tag}`,
  envSessionToken: `env-s3ss10n-t0ken-${tag}`,
} as const;

test('S3 keys and session tokens never appear in any output, any file pigeon writes, or any object it puts in S3', async () => {
  const t = tempDir('pigeon-secrets-s3-');
  const s3 = testBucket();
  const prefix = s3.prefix();
  const outputs: { what: string; r: CliResult }[] = [];
  try {
    const y = JSON.stringify;
    const base = `endpoint: ${y(s3.endpoint)}, region: us-east-1, force_path_style: true`;
    const yaml = `version: 1
name: sec_s3
defaults: { retries: 0 }
connections:
  lake: { type: s3, bucket: ${s3.bucket}, ${base}, prefix: ${y(`${prefix}lake/`)}, access_key_id: ${y(S3_SECRETS.accessKey)}, secret_access_key: ${y(S3_SECRETS.secretKey)}, session_token: ${y(S3_SECRETS.sessionToken)} }
  lake_env: { type: s3, bucket: ${s3.bucket}, ${base}, prefix: ${y(`${prefix}env/`)}, access_key_id: "\${PIGEON_SEC_S3_KEY}", secret_access_key: "\${PIGEON_SEC_S3_SECRET}", session_token: "\${PIGEON_SEC_S3_TOKEN}" }
  nowhere: { type: s3, ${base}, bucket: no-such-secret-bucket, access_key_id: ${y(S3_SECRETS.accessKey)}, secret_access_key: ${y(S3_SECRETS.secretKey)} }
  local: { type: sqlite, path: local.db }
staging: { url: ${y(`s3://${s3.bucket}/${prefix}staging`)}, connection: lake_env, keep: true, compress: none }
nodes:
  out: { source: { connection: local, table: people }, target: { connection: lake, table: people, mode: overwrite } }
  back: { depends_on: [out], source: { connection: lake, table: people }, target: { connection: lake_env, table: people, mode: append } }
  broken: { source: { connection: nowhere, prefix: x/ }, target: { connection: local, table: b, mode: overwrite } }
`;
    // compress: none: the staged chunks are scanned as text (S3 staging's default, gzip, would hide anything).
    writeFileSync(join(t.dir, 's3.yaml'), yaml);
    const db = await createDb('sqlite', t.dir);
    await db.exec(`CREATE TABLE people (id INTEGER PRIMARY KEY, name TEXT)`);
    await db.exec(`INSERT INTO people VALUES (1, 'ann'), (2, 'bob')`);
    await db.drop();
    writeFileSync(join(t.dir, 's3.yaml'), yaml.replace('path: local.db', `path: ${y(/"([^"]+)"/.exec(db.yaml)![1]!)}`));
    const env = { PIGEON_SEC_S3_KEY: S3_SECRETS.envAccessKey, PIGEON_SEC_S3_SECRET: S3_SECRETS.envSecretKey, PIGEON_SEC_S3_TOKEN: S3_SECRETS.envSessionToken };
    const cli = recorder(t.dir, env, outputs);
    await cli(['validate', 's3.yaml'], 0);
    await cli(['plan', 's3.yaml'], 0);
    const run = await cli(['run', 's3.yaml', '--progress', '0', '--log-format', 'json'], 1);
    assert.match(run.stderr, /no-such-secret-bucket/, 'the broken node failed on its bucket');
    await cli(['status', '--format', 'json'], 0);
    await cli(['retry', '--progress', '0'], 1);
    await cli(['plan', 's3.yaml'], 0);

    const { found } = scan(outputs, t.dir, S3_SECRETS);
    const objects = await s3.keys(prefix);
    for (const key of objects) found.push(...leaks(`s3://${s3.bucket}/${prefix}${key}`, (await s3.bytes(prefix + key)).toString('latin1'), S3_SECRETS));
    assert.deepEqual(found, []);
    assert.ok(objects.some((k) => /^staging\/.*chunk-\d+\.csv$/.test(k)), `staging chunk files were kept and scanned: ${objects.join(', ')}`);
    assert.ok(objects.some((k) => k.startsWith('lake/people/')) && objects.some((k) => k.startsWith('env/people/')));
    assert.notDeepEqual(leaks('s3.yaml', yaml, S3_SECRETS), [], 'the scan finds a secret where one is');
  } finally {
    await s3.clear(prefix).catch(() => {});
    t.cleanup();
  }
});

test('FTP and SFTP passwords, private keys and passphrases never appear in any output, any file pigeon writes, or any file it uploads', async () => {
  const t = tempDir('pigeon-secrets-remote-');
  const ftp = testServer('ftp');
  const sftp = testServer('sftp');
  const root = sftp.root();
  const keyFile = process.env['PIGEON_TEST_SFTP_KEY'];
  assert.ok(keyFile, 'the sftp test server names a client key in PIGEON_TEST_SFTP_KEY');
  const secrets = {
    ftpWrong: `Ftp-wr0ng-s3cr3t-${tag}`,
    ftpEnvWrong: `Ftp-env-wr0ng-s3cr3t-${tag}`,
    sftpWrong: `Sftp-wr0ng-s3cr3t-${tag}`,
    passphrase: `Key pass phrase s3cr3t ${tag}`,
    privateKey: readFileSync(keyFile, 'utf8').trim(),
  };
  const outputs: { what: string; r: CliResult }[] = [];
  try {
    const db = await createDb('sqlite', t.dir);
    await db.exec(`CREATE TABLE people (id INTEGER PRIMARY KEY, name TEXT)`);
    await db.exec(`INSERT INTO people VALUES (1, 'ann'), (2, 'bob')`);
    await db.drop();
    const y = JSON.stringify;
    const at = (s: typeof ftp) => `host: ${s.host}, port: ${s.port}, user: ${s.user}`;
    const yaml = `version: 1
name: sec_remote
defaults: { retries: 0 }
connections:
  local: ${db.yaml}
  partner: { type: sftp, ${at(sftp)}, private_key: "\${PIGEON_SEC_SFTP_KEY}", passphrase: ${y(secrets.passphrase)}, root: ${y(root)}, compress: gzip }
  ftp_wrong: { type: ftp, ${at(ftp)}, password: ${y(secrets.ftpWrong)} }
  ftp_env: { type: ftp, ${at(ftp)}, password: "\${PIGEON_SEC_FTP_PASSWORD}" }
  sftp_wrong: { type: sftp, ${at(sftp)}, password: ${y(secrets.sftpWrong)} }
nodes:
  out: { source: { connection: local, table: people }, target: { connection: partner, table: people, mode: overwrite } }
  back: { depends_on: [out], source: { connection: partner, table: people }, target: { connection: local, table: people_back, mode: overwrite } }
  ftp_in: { source: { connection: ftp_wrong, prefix: in/ }, target: { connection: local, table: a, mode: overwrite } }
  ftp_env_in: { source: { connection: ftp_env, table: b }, target: { connection: local, table: b, mode: overwrite } }
  sftp_out: { source: { connection: local, table: people }, target: { connection: sftp_wrong, table: people, mode: append } }
`;
    writeFileSync(join(t.dir, 'remote.yaml'), yaml);
    const env = { PIGEON_SEC_SFTP_KEY: secrets.privateKey, PIGEON_SEC_FTP_PASSWORD: secrets.ftpEnvWrong };
    const cli = recorder(t.dir, env, outputs);
    await cli(['validate', 'remote.yaml'], 0);
    await cli(['plan', 'remote.yaml'], 0);
    const run = await cli(['run', 'remote.yaml', '--progress', '0', '--log-format', 'json'], 1);
    assert.equal((run.stderr.match(/CONNECT_FAILED/g) ?? []).length >= 3, true, `the three refused logins fail to connect:\n${run.stderr}`);
    await cli(['status', '--format', 'json'], 0);
    await cli(['retry', '--progress', '0'], 1);
    await cli(['check', 'remote.yaml'], 1);

    const { found } = scan(outputs, t.dir, secrets);
    const uploaded = await sftp.files(root);
    for (const f of uploaded) found.push(...leaks(`${root}/${f}`, (await sftp.bytes(`${root}/${f}`)).toString('latin1'), secrets));
    assert.deepEqual(found, []);
    assert.ok(uploaded.includes('people.csv.gz') && uploaded.includes('people.schema.json'), `the key login worked: ${uploaded.join(', ')}`);
    assert.notDeepEqual(leaks('remote.yaml', yaml, secrets), [], 'the scan finds a secret where one is');
  } finally {
    await sftp.clear(root).catch(() => {});
    t.cleanup();
  }
});
