/**
 * A split's plan is announced chunk by chunk: each chunk's key range is final as soon as its upper boundary is
 * found, so its export starts while later boundaries are still being looked for, and the chunks still cover the key
 * range exactly once. A plan that fails midway leaves nothing to resume; a crash after some chunks were exported
 * resumes from the checkpoint.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { writeFileSync } from 'node:fs';
import Database from 'better-sqlite3';
import fc from 'fast-check';
import type { ChunkSpec, Connector, ConnectorKind, ExportRequest } from '../../src/connectors/contract.js';
import { planSplitChunks, type Ranked } from '../../src/connectors/sql/split.js';
import { sqliteKind } from '../../src/connectors/sqlite/sqlite-kind.js';
import { getConnectorKind, connectorKindNames } from '../../src/connectors/registry.js';
import { loadPipelineOrThrow } from '../../src/config/load.js';
import { ConnectionManager } from '../../src/connectors/runtime.js';
import { LocalStagingStore } from '../../src/staging/local-staging.js';
import { FileWatermarkStore } from '../../src/state/watermarks.js';
import { readCheckpoint, runNodeAttempt, type NodeEnv } from '../../src/nodes/run-node.js';
import { PipelineError } from '../../src/errors/pipeline-error.js';
import { tempDir } from '../support/cli.js';

function request(chunks: number): ExportRequest {
  return { node: 'n', source: { connection: 'src', table: 't', split: { column: 'id', chunks } } } as ExportRequest;
}

/**
 * A sorted column of `values` (duplicates and all) as a quantile source, with the table statistics' `estimate` of
 * its rows when given (any number: statistics may be far off); records the order of calls.
 */
function sortedSource(values: readonly number[], calls: string[], estimate?: number) {
  const sorted = [...values].sort((a, b) => a - b);
  return () => ({
    count: async () => {
      calls.push('count');
      return sorted.length;
    },
    nth: async (rank: number, _after: Ranked | undefined) => {
      calls.push(`nth ${rank}`);
      return rank < sorted.length ? String(sorted[rank]) : null;
    },
    ...(estimate === undefined ? {} : { estimate: async () => estimate }),
  });
}

function inRange(v: number, c: ChunkSpec): boolean {
  const r = c.range;
  if (!r) return true;
  if (r.lower && v < Number(r.lower.value)) return false;
  if (r.upper && v >= Number(r.upper.value)) return false;
  return true;
}

test('each chunk is announced once its range is final, before the next boundary is asked for, and the chunks cover every value once', async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.array(fc.integer({ min: -50, max: 50 }), { maxLength: 200 }),
      fc.integer({ min: 1, max: 12 }),
      fc.option(fc.integer({ min: 0, max: 400 }), { nil: undefined }),
      async (values, chunks, estimate) => {
        const calls: string[] = [];
        const announced: ChunkSpec[] = [];
        const result = await planSplitChunks(request(chunks), sortedSource(values, calls, estimate), (c) => {
          calls.push(`chunk ${c.index}`);
          announced.push(c);
        });
        assert.deepEqual(announced, result, 'the announced chunks are the result');
        assert.deepEqual(result.map((c) => c.index), result.map((_, i) => i + 1));
        // A chunk is announced right after the boundary that closes it (the last one when the walk ends), before any
        // later boundary is asked for.
        assert.equal(calls[calls.length - 1], `chunk ${result.length}`);
        calls.forEach((call, i) => {
          if (call.startsWith('chunk') && call !== `chunk ${result.length}`) assert.match(calls[i - 1] ?? '', /^nth/, calls.join(', '));
        });
        for (const v of values) assert.equal(result.filter((c) => inRange(v, c)).length, 1, `value ${v} is in exactly one chunk`);
        const estimates = result.reduce((n, c) => n + (c.estimate ?? 0), 0);
        if (chunks > 1) assert.equal(estimates, values.length, 'the estimates add up to the count');
      },
    ),
    { numRuns: 300 },
  );
});

test('a boundary found is announced before the next quantile query is sent', async () => {
  const calls: string[] = [];
  await planSplitChunks(request(4), sortedSource(Array.from({ length: 100 }, (_, i) => i), calls), (c) => calls.push(`chunk ${c.index}`));
  assert.deepEqual(calls, ['count', 'nth 25', 'chunk 1', 'nth 50', 'chunk 2', 'nth 75', 'chunk 3', 'chunk 4']);
});

test('with the table statistics, the first chunk is announced before the exact count, and the rest is cut evenly', async () => {
  const calls: string[] = [];
  const chunks = await planSplitChunks(request(4), sortedSource(Array.from({ length: 100 }, (_, i) => i), calls, 80), (c) => calls.push(`chunk ${c.index}`));
  // 80 / 4 = 20 for the first boundary; then ranks 20 + 80 / 3 and 20 + 2 * 80 / 3 cut the 80 rows after it.
  assert.deepEqual(calls, ['nth 20', 'chunk 1', 'count', 'nth 46', 'chunk 2', 'nth 73', 'chunk 3', 'chunk 4']);
  assert.deepEqual(chunks.map((c) => c.estimate), [20, 26, 27, 27]);
});

// ---- through runNodeAttempt ----------------------------------------------------------------------------------------

interface Gate {
  /** The plan fails, after announcing its first chunk and seeing it start to export. */
  failMidPlan: boolean;
  /** Set when the plan saw chunk 1's export start before it went on. */
  overlapped: boolean;
}

/**
 * SQLite as a source whose plan is announced slowly: the first chunk, then a wait until that chunk's export has
 * started (the runner must start it while the plan is not complete), then (or instead, a failure) the rest.
 */
function gatedKind(gate: Gate): ConnectorKind {
  return {
    ...sqliteKind,
    kind: 'gated',
    load: async () => {
      const create = await sqliteKind.load();
      return (config, options) => {
        const inner = create(config, options);
        let exportStarted: () => void = () => {};
        const started = new Promise<void>((resolve) => (exportStarted = resolve));
        const planChunks: Connector['planChunks'] = async (req, signal, announce) => {
          const all = await inner.planChunks(req, signal);
          assert.ok(all.length >= 3, 'the test needs a few chunks');
          announce?.(all[0]!);
          let timer: NodeJS.Timeout | undefined;
          await Promise.race([
            started,
            new Promise((_, reject) => {
              timer = setTimeout(() => reject(new Error("chunk 1's export did not start while the plan was still being made")), 20_000);
            }),
          ]).finally(() => clearTimeout(timer));
          gate.overlapped = true;
          if (gate.failMidPlan) throw new PipelineError('EXPORT_FAILED', 'the plan fails midway on purpose', { transient: true });
          return all;
        };
        return new Proxy(inner, {
          get(target, p) {
            if (p === 'planChunks') return planChunks;
            if (p === 'exportChunk') {
              return (req: ExportRequest, chunk: ChunkSpec, ...rest: [never, AbortSignal?]) => {
                if (chunk.index === 1) exportStarted();
                return target.exportChunk(req, chunk, ...rest);
              };
            }
            const v: unknown = Reflect.get(target, p);
            return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
          },
        });
      };
    },
  };
}

test('chunks export while the plan is made; a plan failing midway leaves nothing to resume, and a crash after some chunks resumes from the checkpoint', async () => {
  const tmp = tempDir('pigeon-split-plan-');
  try {
    const src = join(tmp.dir, 'src.db');
    const dst = join(tmp.dir, 'dst.db');
    const db = new Database(src);
    db.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)');
    const insert = db.prepare('INSERT INTO t VALUES (?, ?)');
    db.transaction(() => {
      for (let i = 1; i <= 5000; i++) insert.run(i * 3, `row ${i}`);
    })();
    db.close();
    const file = join(tmp.dir, 'p.yaml');
    writeFileSync(
      file,
      [
        'version: 1',
        'name: planned',
        'connections:',
        `  src: { type: gated, path: ${JSON.stringify(src)}, max_connections: 2 }`,
        `  dst: { type: sqlite, path: ${JSON.stringify(dst)} }`,
        `staging: { dir: ${JSON.stringify(join(tmp.dir, 'staging'))} }`,
        'nodes:',
        '  n:',
        '    source: { connection: src, table: t, split: { column: id, chunks: 5 } }',
        '    target: { connection: dst, table: t, mode: overwrite }',
        '',
      ].join('\n'),
    );
    const gate: Gate = { failMidPlan: true, overlapped: false };
    const gated = gatedKind(gate);
    const lookup = (type: string) => (type === 'gated' ? gated : getConnectorKind(type));
    const kinds = { get: lookup, names: () => [...connectorKindNames(), 'gated'] };
    const pipeline = loadPipelineOrThrow(file, { env: {}, kinds });
    const staging = new LocalStagingStore(join(tmp.dir, 'staging'), { gzip: false });
    let crashAt: string | undefined;
    const attempt = async () => {
      const connections = new ConnectionManager(pipeline.connections, { cwd: tmp.dir, tmpDir: join(tmp.dir, 'tmp') }, lookup);
      const env: NodeEnv = {
        pipeline,
        lineage: 'L1',
        vars: {},
        interval: { start: '2026-01-01 00:00:00', end: '2026-01-02 00:00:00' },
        connections,
        staging,
        watermarks: new FileWatermarkStore(join(tmp.dir, 'state')),
        log: () => {},
        fault: (point) => {
          if (point === crashAt) throw new PipelineError('INTERNAL', `crash at ${point}`);
        },
      };
      try {
        return await runNodeAttempt(pipeline.nodes['n']!, env, { rowsExported: 0, rowsImported: 0, bytes: 0 }, new AbortController().signal);
      } finally {
        await connections.closeAll();
      }
    };
    const area = staging.area('planned', 'L1', 'n');
    const targetIds = () => {
      const d = new Database(dst);
      try {
        return (d.prepare("SELECT count(*) AS n FROM sqlite_master WHERE name = 't'").get() as { n: number }).n === 0
          ? []
          : (d.prepare('SELECT id FROM t ORDER BY id').pluck().all() as number[]);
      } finally {
        d.close();
      }
    };

    // 1: the plan fails after its first chunk started exporting: the attempt fails with the plan's error, the
    // target is untouched, no checkpoint is left to resume from.
    await assert.rejects(attempt(), (e: unknown) => e instanceof PipelineError && e.code === 'EXPORT_FAILED' && /midway/.test(e.message));
    assert.ok(gate.overlapped, 'chunk 1 started exporting before the plan was complete');
    assert.deepEqual(targetIds(), []);
    assert.equal(await readCheckpoint(area), undefined, 'no checkpoint: a retry plans again');

    // 2: the plan completes; the process "crashes" once chunk 2 is durable.
    gate.failMidPlan = false;
    gate.overlapped = false;
    crashAt = 'n:chunk:2';
    await assert.rejects(attempt(), /crash at n:chunk:2/);
    assert.ok(gate.overlapped);
    const cp = await readCheckpoint(area);
    assert.ok(cp, 'the complete plan is recorded');
    assert.equal(cp.chunks.length, 5);
    assert.ok(cp.chunks.some((c) => c.index === 2 && c.done), 'chunk 2 is recorded as done');
    assert.deepEqual(targetIds(), []);

    // 3: the retry resumes from the checkpoint: the chunks done are not exported again, every row lands once.
    crashAt = undefined;
    const result = await attempt();
    assert.ok(result.chunksResumed >= 1, `resumed ${result.chunksResumed} chunks`);
    assert.equal(result.chunks, 5);
    assert.equal(result.rowsImported, 5000);
    assert.deepEqual(targetIds(), Array.from({ length: 5000 }, (_, i) => (i + 1) * 3));
  } finally {
    tmp.cleanup();
  }
});
