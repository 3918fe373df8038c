import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join, relative, resolve, sep } from 'node:path';
import { PIPELINE_SCHEMA_FILE, schemasDir } from '../../config/schema.js';
import { PipelineError } from '../../errors/pipeline-error.js';
import { EXIT } from '../exit-codes.js';
import type { CommonOptions } from '../context.js';

/** The starter pipeline: a source database, a warehouse, three kinds of node; `$schema` is filled in. */
export function starterPipeline(schemaRef: string): string {
  return `# yaml-language-server: $schema=${schemaRef}
# A starter pipeline: edit the connections and nodes, then
#   pigeon validate pipelines/nightly.yaml     # offline: every problem with file:line:col
#   pigeon check pipelines/nightly.yaml        # connects: credentials, tables, columns, targets
#   pigeon run pipelines/nightly.yaml          # the run; its report is .pigeon/runs/<id>/report.html
version: 1
name: nightly
description: application database → warehouse, every night
connections:
  app: { type: sqlite, path: "\${APP_DB_PATH:-data/app.db}" }
  warehouse:
    type: postgres
    url: "\${WAREHOUSE_URL}"                 # from the environment or .env (see .env.example)
    password: "\${WAREHOUSE_PASSWORD}"
    max_connections: 4
  exports: { type: file, dir: exports }
defaults: { retries: 2, retry_delay: 30s, timeout: 2h }
nodes:
  customers:
    description: the whole table, replaced atomically
    source: { connection: app, table: customers }
    target: { connection: warehouse, table: customers, mode: overwrite }
  orders:
    description: rows changed since the last run, upserted by id
    source: { connection: app, table: orders, split: { column: id, chunks: 4 } }
    incremental: { column: updated_at, strategy: watermark }
    target: { connection: warehouse, table: orders, mode: merge, key: [id] }
  daily_sales:
    depends_on: [orders]
    source:
      connection: warehouse
      query: "select customer_id, sum(total) as total from orders where updated_at >= '{{ data_interval_start }}' and updated_at < '{{ data_interval_end }}' group by customer_id"
    target: { connection: exports, table: "daily_sales_{{ ds_nodash }}", mode: overwrite }
`;
}

export const STARTER_ENV = `# Copy to .env (pigeon reads .env in the directory it runs from; the real environment wins over it).
# Never commit .env: it holds passwords.
APP_DB_PATH=data/app.db
WAREHOUSE_URL=postgres://etl@127.0.0.1:5432/warehouse
WAREHOUSE_PASSWORD=change-me
`;

/** `pigeon init [DIR]`: writes pipelines/nightly.yaml and .env.example; never overwrites a file. */
export async function initCommand(dir: string, common: CommonOptions): Promise<number> {
  const root = resolve(common.cwd, dir);
  const pipelineFile = join(root, 'pipelines', 'nightly.yaml');
  const envFile = join(root, '.env.example');
  for (const f of [pipelineFile, envFile]) {
    if (existsSync(f)) throw new PipelineError('USAGE', `${relative(common.cwd, f) || f} exists: pigeon init never overwrites a file`);
  }
  // The schema as this pigeon ships it, relative to the pipeline (node_modules/pigeon/schemas/… once installed).
  const schema = relative(join(root, 'pipelines'), join(schemasDir(), PIPELINE_SCHEMA_FILE)).split(sep).join('/');
  await mkdir(join(root, 'pipelines'), { recursive: true });
  await writeFile(pipelineFile, starterPipeline(schema), { flag: 'wx' });
  await writeFile(envFile, STARTER_ENV, { flag: 'wx' });
  const shown = (f: string) => relative(common.cwd, f) || f;
  process.stdout.write(`wrote ${shown(pipelineFile)} and ${shown(envFile)}\nnext: cp ${shown(envFile)} ${shown(join(root, '.env'))}, edit both, then \`pigeon validate ${shown(pipelineFile)}\`\n`);
  return EXIT.OK;
}
