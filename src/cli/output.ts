import { renderError, renderErrors } from '../errors/render.js';
import { CONFIG_ERROR_CODES, PipelineError, PipelineErrors } from '../errors/pipeline-error.js';
import { makeRedactor } from '../log/redact.js';
import { EXIT } from './exit-codes.js';

/** An error as the fields of a JSON log event: code, message, hint and where. */
export function errorEvent(e: PipelineError): Record<string, unknown> {
  const location = Object.fromEntries(Object.entries(e.location).filter(([, v]) => v !== undefined));
  return { event: 'error', code: e.code, ...location, ...(e.hint !== undefined ? { hint: e.hint } : {}) };
}

/** One JSON log line on stderr, the way the run's logger writes them. */
export function jsonLine(level: 'error' | 'warn' | 'info', message: string, fields: Record<string, unknown> = {}): void {
  process.stderr.write(JSON.stringify({ level, message, ...fields, timestamp: new Date().toISOString() }) + '\n');
}

/**
 * Writes a rendered error (or several) to stderr and returns the exit code it means. `json`: each error is a JSON
 * line (`--log-format json` keeps stderr pure JSON to the last line).
 */
export function reportError(e: unknown, redact: (t: string) => string = (t) => t, json = false): number {
  if (json) {
    const list = e instanceof PipelineErrors ? e.errors : e instanceof PipelineError ? [e] : [];
    const masked = e instanceof PipelineErrors ? makeRedactor(e.secrets) : (t: string) => t;
    const clean = (t: string) => redact(masked(t));
    if (list.length === 0) jsonLine('error', clean(e instanceof Error ? e.message : String(e)), { event: 'error', code: 'INTERNAL' });
    for (const x of list) jsonLine('error', clean(x.message), JSON.parse(clean(JSON.stringify(errorEvent(x)))) as Record<string, unknown>);
  }
  if (e instanceof PipelineErrors) {
    const masked = makeRedactor(e.secrets);
    if (!json) process.stderr.write(redact(renderErrors(e.errors, { redact: masked })) + '\n');
    // An error at a line of the pipeline file (an UNSUPPORTED capability, say) is a problem of the file too.
    const invalid = e.errors.some((x) => CONFIG_ERROR_CODES.has(x.code) || x.location.line !== undefined);
    return invalid ? EXIT.INVALID_PIPELINE : EXIT.USAGE;
  }
  if (e instanceof PipelineError) {
    if (!json) process.stderr.write(redact(renderError(e)) + '\n');
    if (CONFIG_ERROR_CODES.has(e.code)) return EXIT.INVALID_PIPELINE;
    if (e.code === 'LOCKED') return EXIT.LOCKED;
    if (e.code === 'USAGE' || e.code === 'SELECTION' || e.code === 'RUN_NOT_FOUND') return EXIT.USAGE;
    return EXIT.NODE_FAILED;
  }
  if (!json) process.stderr.write(redact(`error: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`) + '\n');
  return EXIT.NODE_FAILED;
}

/** A fixed-width table for terminals. */
export function table(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) => cells.map((c, i) => (c ?? '').padEnd(widths[i]!)).join('  ').trimEnd();
  return [line(headers), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}
