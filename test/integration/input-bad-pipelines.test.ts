/**
 * Bad pipelines: every file of a corpus of broken pipelines (test/fixtures/bad-pipelines/) makes every command that
 * reads a pipeline exit 3 with each problem at its file:line:col, and opens no connection. The corpus's connections
 * point at a TCP server of the test that counts the connections it accepts (a mysql and a postgres URL), and at a
 * sqlite database and a CSV directory that must never be created.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, readdirSync, writeFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import type { ErrorCode } from '../../src/errors/pipeline-error.js';
import { pigeon, tempDir } from '../support/cli.js';
import { fixturesDir } from '../support/paths.js';

const corpus = join(fixturesDir, 'bad-pipelines');

/** Each broken file and every problem it must report, as `CODE line:col`, in file order. */
const EXPECTED: Readonly<Record<string, readonly `${ErrorCode} ${number}:${number}`[]>> = {
  'syntax-unclosed-flow-map.yaml': ['YAML_SYNTAX 11:5'],
  'syntax-bad-indentation.yaml': ['YAML_SYNTAX 11:1'],
  'syntax-tab-indentation.yaml': ['YAML_SYNTAX 10:1', 'YAML_SYNTAX 11:1'],
  'syntax-unterminated-quote.yaml': ['YAML_SYNTAX 12:1', 'YAML_SYNTAX 12:1'],
  'syntax-alias-bomb.yaml': ['YAML_SYNTAX 1:1'],
  'empty.yaml': ['SCHEMA 1:1'],
  'not-a-map.yaml': ['SCHEMA 1:1'],
  'types-wrong.yaml': ['SCHEMA 8:14', 'SCHEMA 11:14', 'SCHEMA 12:77', 'SCHEMA 13:52'],
  'types-version.yaml': ['SCHEMA 1:10', 'SCHEMA 4:60'],
  'bad-duration.yaml': ['SCHEMA 8:22', 'SCHEMA 8:46'],
  'bad-node-name.yaml': ['SCHEMA 9:3'],
  'missing-target.yaml': ['SCHEMA 9:3'],
  'sql-connection-incomplete.yaml': ['SCHEMA 8:3'],
  'table-and-query.yaml': ['SCHEMA 10:48', 'SCHEMA 13:5'],
  // `tabel` is one mistake: no second error saying the source lacks `table`.
  'unknown-keys.yaml': ['UNKNOWN_KEY 8:1', 'UNKNOWN_KEY 11:33', 'UNKNOWN_KEY 12:63'],
  'unknown-type.yaml': ['INVALID_CONFIG 4:17'],
  'connection-typo.yaml': ['UNKNOWN_CONNECTION 10:27', 'UNKNOWN_CONNECTION 11:27'],
  'crlf-line-endings.yaml': ['UNKNOWN_CONNECTION 9:27'],
  'unknown-dependency.yaml': ['UNKNOWN_DEPENDENCY 10:18'],
  'cycle.yaml': ['CYCLE 10:18'],
  'self-dependency.yaml': ['CYCLE 10:18'],
  'duplicate-nodes.yaml': ['DUPLICATE_NODE 12:3'],
  'duplicate-connection.yaml': ['YAML_SYNTAX 8:3'],
  'merge-without-key.yaml': ['MERGE_WITHOUT_KEY 11:5'],
  'env-missing.yaml': ['ENV_UNSET 5:85', 'ENV_UNSET 6:31', 'ENV_UNSET 9:61'],
  'env-malformed.yaml': ['INVALID_CONFIG 10:61'],
  'template-typo.yaml': ['TEMPLATE 10:75'],
  'unsupported-split.yaml': ['UNSUPPORTED 10:47'],
  // Each kind's own keys, engine options included, come from its schema (schemas/connections/<kind>.schema.json).
  // Checked offline by each kind (ConnectorKind.checkConnection/checkSource/checkTarget), never quoting a password.
  'connection-urls.yaml': [
    'INVALID_CONFIG 4:26', 'INVALID_CONFIG 5:29', 'INVALID_CONFIG 6:26', 'INVALID_CONFIG 7:52', 'INVALID_CONFIG 8:44',
    'INVALID_CONFIG 9:53', 'SCHEMA 10:75',
  ],
  'file-tables.yaml': ['INVALID_CONFIG 9:39', 'INVALID_CONFIG 12:39', 'INVALID_CONFIG 14:39', 'UNSUPPORTED 14:46'],
  // Two nodes writing one table: refused unless all append with `shared: true` (c and d).
  'shared-target.yaml': ['DUPLICATE_TARGET 9:38', 'DUPLICATE_TARGET 12:38', 'DUPLICATE_TARGET 21:38', 'DUPLICATE_TARGET 24:38'],
  'option-typos.yaml': ['UNKNOWN_KEY 4:43', 'UNKNOWN_KEY 5:61', 'UNKNOWN_KEY 6:70', 'UNKNOWN_KEY 7:37', 'SCHEMA 8:73', 'SCHEMA 8:92'],
};

/** Every command that reads a pipeline file. */
const COMMANDS: readonly (readonly string[])[] = [
  ['validate'],
  ['run', '--progress', '0'],
  ['plan'],
  ['ls'],
  ['graph', '--format', 'json'],
];

/** Accepts TCP connections, counts them and hangs up at once. */
class ConnectionTrap {
  accepted = 0;
  readonly #server: Server;
  readonly #sockets = new Set<Socket>();

  constructor() {
    this.#server = createServer((socket) => {
      this.accepted++;
      this.#sockets.add(socket);
      socket.on('error', () => {});
      socket.destroy();
    });
  }

  async listen(): Promise<number> {
    await new Promise<void>((resolve) => this.#server.listen(0, '127.0.0.1', resolve));
    const address = this.#server.address();
    if (address === null || typeof address === 'string') throw new Error('no port');
    return address.port;
  }

  async close(): Promise<void> {
    for (const s of this.#sockets) s.destroy();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}

describe('a broken pipeline exits 3 with every problem at file:line:col and opens no connection', () => {
  const trap = new ConnectionTrap();
  const t = tempDir('pigeon-bad-pipelines-');
  let env: Record<string, string> = {};

  before(async () => {
    const port = await trap.listen();
    env = {
      TRAP_MYSQL_URL: `mysql://etl:trap-password@127.0.0.1:${port}/shop`,
      TRAP_PG_URL: `postgres://etl:trap-password@127.0.0.1:${port}/bi`,
      TRAP_PORT: String(port),
      TRAP_EMPTY_URL: '',
      TRAP_DELAY: 'soon',
    };
  });
  after(async () => {
    await trap.close();
    t.cleanup();
  });

  test('the corpus and the expectations list the same files', () => {
    assert.deepEqual(readdirSync(corpus).filter((f) => f.endsWith('.yaml')).sort(), Object.keys(EXPECTED).sort());
  });

  for (const [file, expected] of Object.entries(EXPECTED)) {
    test(file, async () => {
      copyFileSync(join(corpus, file), join(t.dir, file));
      for (const command of COMMANDS) {
        const r = await pigeon([command[0]!, file, ...command.slice(1)], { cwd: t.dir, env });
        const what = `pigeon ${command.join(' ')} ${file}\n${r.stderr}`;
        assert.equal(r.code, 3, what);
        const reported = [...r.stderr.matchAll(/^(.+?):(\d+):(\d+): error\[([A-Z_]+)\]/gm)].map((m) => {
          assert.equal(m[1], file, what);
          return `${m[4]} ${m[2]}:${m[3]}`;
        });
        assert.deepEqual(reported, expected, what);
        assert.doesNotMatch(r.stderr, /\n\s+at .+:\d+:\d+\)?\n/, `no stack trace: ${what}`);
        assert.doesNotMatch(r.stderr, /trap-password/, `no password: ${what}`);
      }
      assert.equal(trap.accepted, 0, 'no connection was opened');
      assert.equal(existsSync(join(t.dir, 'trap')), false, 'no sqlite database or CSV directory was created');
      assert.equal(existsSync(join(t.dir, '.pigeon', 'runs')), false, 'no run was recorded');
    });
  }

  test('a pipeline file that does not exist exits 3', async () => {
    for (const command of COMMANDS) {
      const r = await pigeon([command[0]!, 'missing.yaml', ...command.slice(1)], { cwd: t.dir, env });
      assert.equal(r.code, 3, r.stderr);
      assert.match(r.stderr, /error\[FILE_NOT_FOUND\]/);
    }
  });

  test('the trap works: validate and plan of a good pipeline open nothing, run connects', async () => {
    const good = `version: 1
name: good
connections:
  app: { type: sqlite, path: trap/app.db }
  shop: { type: mysql, url: "\${TRAP_MYSQL_URL}" }
  bi: { type: postgres, url: "\${TRAP_PG_URL}" }
defaults: { retries: 0 }
nodes:
  orders:
    source: { connection: shop, table: orders }
    target: { connection: bi, table: orders, mode: overwrite }
  local:
    source: { connection: app, table: orders }
    target: { connection: app, table: orders_copy, mode: overwrite }
`;
    const dir = tempDir('pigeon-trap-');
    try {
      writeFileSync(join(dir.dir, 'good.yaml'), good);
      for (const command of [['validate'], ['plan'], ['ls'], ['graph']]) {
        const r = await pigeon([command[0]!, 'good.yaml'], { cwd: dir.dir, env });
        assert.equal(r.code, 0, r.stderr);
      }
      assert.equal(trap.accepted, 0, 'validate and plan connect to nothing');
      assert.equal(existsSync(join(dir.dir, 'trap')), false, 'plan creates no database');
      const run = await pigeon(['run', 'good.yaml', '--progress', '0'], { cwd: dir.dir, env });
      assert.equal(run.code, 1, run.stderr);
      assert.ok(trap.accepted > 0, 'run connected to the trap');
    } finally {
      trap.accepted = 0;
      dir.cleanup();
    }
  });
});

/** A pipeline whose 3000 nodes depend on each other in one cycle, with `extra` top-level lines before `nodes:`. */
function cycleOf3000(extra: string): string {
  let text = `version: 1\nname: deep\nconnections:\n  app: { type: sqlite, path: trap/app.db }\n${extra}nodes:\n`;
  for (let k = 0; k < 3000; k++) {
    text += `  n${k}:\n    depends_on: [n${(k + 1) % 3000}]\n    source: { connection: app, table: t }\n` +
      `    target: { connection: app, table: u${k}, mode: append }\n`;
  }
  return text;
}

/** Pipeline files built to exhaust time, memory or the stack, each written by the test (the largest is 50 MB). */
const HOSTILE: readonly { name: string; what: string; text: () => string; positioned: boolean }[] = [
  { name: 'brackets.yaml', what: '1 MB of `[`', text: () => '['.repeat(1_000_000), positioned: true },
  {
    name: 'cr-only.yaml',
    what: '270 KB of nodes with CR-only line endings',
    text: () => {
      let text = 'version: 1\rname: cr\rconnections:\r  app: { type: sqlite, path: trap/app.db }\rnodes:\r';
      for (let i = 0; text.length < 270_000; i++) {
        text += `  n${i}:\r    source: { connection: app, table: t${i} }\r    target: { connection: app, table: u${i}, mode: append }\r`;
      }
      return text;
    },
    positioned: true,
  },
  {
    name: 'long-line.yaml',
    what: 'a 1.5 MB line with a syntax error',
    text: () => `version: 1\nname: x\nconnections: { a: { type: sqlite, path: "${'x'.repeat(1_500_000)} ] : }\n`,
    positioned: true,
  },
  {
    name: 'huge.yaml',
    what: 'a 50 MB file',
    text: () => {
      const node = (i: number): string =>
        `  n${i}: { source: { connection: app, table: t }, target: { connection: app, table: u${i}, mode: append } }\n`;
      const nodes: string[] = [];
      for (let i = 0, size = 0; size < 50_000_000; i++) size += nodes[nodes.push(node(i)) - 1]!.length;
      return `version: 1\nname: big\nconnections:\n  app: { type: sqlite, path: trap/app.db }\nnodes:\n${nodes.join('')}`;
    },
    positioned: false,
  },
  {
    name: 'deep-cycle.yaml',
    what: 'deep nesting and a 3000-node dependency cycle',
    text: () => {
      return `${cycleOf3000('')}  deep:\n    description: ${'['.repeat(2000)}${']'.repeat(2000)}\n` +
        '    source: { connection: app, table: t }\n    target: { connection: app, table: z, mode: append }\n';
    },
    positioned: true,
  },
  {
    name: 'deep-block.yaml',
    what: 'a map nested 1200 levels deep by indentation, and a 3000-node dependency cycle',
    text: () => {
      let text = cycleOf3000('');
      text += '  deep:\n    source: { connection: app, table: t }\n    target: { connection: app, table: z, mode: append }\n';
      text += '    description:\n';
      for (let i = 0; i < 1200; i++) text += `${' '.repeat(6 + i)}a:\n`;
      return text;
    },
    positioned: true,
  },
  {
    name: 'nested-aliases.yaml',
    what: 'aliases that nest each other past the nesting limit, and a 3000-node dependency cycle',
    text: () => {
      let anchors = 'x0: &a0 [[[[[[[[[[1]]]]]]]]]]\n';
      for (let k = 1; k < 40; k++) anchors += `x${k}: &a${k} [[[[[[[[[[*a${k - 1}]]]]]]]]]]\n`;
      return cycleOf3000(anchors);
    },
    positioned: true,
  },
];

describe('a hostile pipeline file is refused within seconds, in bounded memory, at a position', () => {
  const t = tempDir('pigeon-hostile-');
  after(() => t.cleanup());

  for (const { name, what, text, positioned } of HOSTILE) {
    test(`${what}: every command exits 3`, async () => {
      writeFileSync(join(t.dir, name), text());
      for (const command of COMMANDS) {
        const started = Date.now();
        // A heap of 256 MiB: a command that needs more dies, and the exit code says so.
        const r = await pigeon([command[0]!, name, ...command.slice(1)], {
          cwd: t.dir,
          env: { NODE_OPTIONS: '--max-old-space-size=256' },
          killAfterMs: 60_000,
        });
        const seconds = (Date.now() - started) / 1000;
        const what = `pigeon ${command.join(' ')} ${name} (${seconds} s)\n${r.stderr.slice(0, 2000)}`;
        assert.equal(r.code, 3, what);
        assert.ok(seconds < 15, `within seconds: ${what}`);
        assert.ok(r.stderr.length < 100_000, `bounded output (${r.stderr.length} characters): ${what}`);
        assert.doesNotMatch(r.stderr, /INTERNAL|RangeError|Maximum call stack/, what);
        if (positioned) assert.match(r.stderr, new RegExp(`^${name}:\\d+:\\d+: error\\[`, 'm'), what);
      }
      assert.equal(existsSync(join(t.dir, '.pigeon', 'runs')), false, 'no run was recorded');
    });
  }

  test('--date past 9999-12-30 is a usage error, not a year-10000 interval', async () => {
    const dir = tempDir('pigeon-date-');
    try {
      writeFileSync(join(dir.dir, 'p.yaml'), [
        'version: 1', 'name: p', 'connections:', '  app: { type: sqlite, path: trap/app.db }', 'nodes:',
        '  a:', '    source: { connection: app, table: t }', '    target: { connection: app, table: u, mode: append }', '',
      ].join('\n'));
      for (const command of [['plan'], ['run', '--progress', '0']]) {
        const r = await pigeon([command[0]!, 'p.yaml', ...command.slice(1), '--date', '9999-12-31'], { cwd: dir.dir });
        assert.equal(r.code, 2, r.stderr);
        assert.match(r.stderr, /error\[USAGE\]/);
        assert.doesNotMatch(r.stdout + r.stderr, /\+010000/);
      }
      const ok = await pigeon(['plan', 'p.yaml', '--date', '9999-12-30'], { cwd: dir.dir });
      assert.equal(ok.code, 0, ok.stderr);
    } finally {
      dir.cleanup();
    }
  });
});
