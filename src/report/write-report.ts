import { join } from 'node:path';
import { redactDeep } from '../log/redact.js';
import { PipelineError } from '../errors/pipeline-error.js';
import { writeFileAtomic } from '../state/atomic-file.js';
import type { RunStore } from '../state/run-store.js';
import { readReportData } from './report-data.js';
import { renderReport } from './render-report.js';

export const REPORT_FILE = 'report.html';

/**
 * Writes the report of a run (default `<run dir>/report.html`, atomically) and returns its path. Every text the
 * records hold passes `redact` before it is rendered (masked before escaping, which would hide a secret's `&` from
 * a later search), and the page once more after.
 */
export async function writeRunReport(store: RunStore, runId: string, opts: { redact?: (t: string) => string; out?: string } = {}): Promise<string> {
  const data = await readReportData(store, runId);
  if (!data) throw new PipelineError('RUN_NOT_FOUND', `run ${runId} has no readable run.json`);
  const redact = opts.redact ?? ((t: string) => t);
  const clean = { ...data, run: redactDeep(data.run, redact), nodes: new Map([...data.nodes].map(([k, v]) => [k, redactDeep(v, redact)])), history: redactDeep(data.history, redact) };
  const file = opts.out ?? join(store.runDir(runId), REPORT_FILE);
  await writeFileAtomic(file, redact(renderReport(clean)));
  return file;
}
