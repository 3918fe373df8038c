import { resolve } from 'node:path';
import { RunStore } from '../../state/run-store.js';
import { writeRunReport } from '../../report/write-report.js';
import { EXIT } from '../exit-codes.js';
import { stateDirs, type CommonOptions } from '../context.js';
import { findRun } from './runs.js';

/** `pigeon report [RUN] [-o FILE]`: writes a run's HTML report again (default: the run's own report.html). */
export async function reportCommand(id: string | undefined, out: string | undefined, common: CommonOptions): Promise<number> {
  const store = new RunStore(stateDirs(common).root);
  const run = await findRun(store, id);
  const file = await writeRunReport(store, run.id, out !== undefined ? { out: resolve(common.cwd, out) } : {});
  process.stdout.write(`${file}\n`);
  return EXIT.OK;
}
