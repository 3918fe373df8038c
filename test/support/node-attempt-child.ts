/**
 * Runs one attempt of one node in this process's working directory, as a worker on another machine would: the same
 * runNodeAttempt an in-process `pigeon run` calls, with the lineage of a run that started somewhere else, and
 * nothing local of that run (no state directory, no staging directory). Prints the attempt's result as JSON on the
 * last line of stdout.
 * argv: pipeline file, lineage (the first run's id), node
 */
import { join } from 'node:path';
import { stagingStore } from '../../src/cli/context.js';
import { loadPipelineOrThrow } from '../../src/config/load.js';
import { templateVars } from '../../src/config/templates.js';
import { ConnectionManager } from '../../src/connectors/runtime.js';
import { runNodeAttempt } from '../../src/nodes/run-node.js';
import { FileWatermarkStore } from '../../src/state/watermarks.js';

const [file, lineage, name] = process.argv.slice(2) as [string, string, string];
const cwd = process.cwd();
const env = process.env as Record<string, string | undefined>;
const pipeline = loadPipelineOrThrow(file, { env });
const connections = new ConnectionManager(pipeline.connections, { cwd, tmpDir: join(cwd, '.pigeon', 'tmp') });
const day = { start: new Date('2026-01-01T00:00:00Z'), end: new Date('2026-01-02T00:00:00Z') };
try {
  const result = await runNodeAttempt(
    pipeline.nodes[name]!,
    {
      pipeline,
      lineage,
      vars: templateVars(day, lineage),
      interval: { start: '2026-01-01 00:00:00', end: '2026-01-02 00:00:00' },
      connections,
      staging: stagingStore(pipeline, { stateDir: '.pigeon', logFormat: 'json', env, cwd }),
      watermarks: new FileWatermarkStore(join(cwd, '.pigeon')),
      log: (level, message) => process.stderr.write(`${level}: ${message}\n`),
    },
    { rowsExported: 0, rowsImported: 0, bytes: 0 },
    new AbortController().signal,
  );
  process.stdout.write(`${JSON.stringify(result)}\n`);
} finally {
  await connections.closeAll();
}
