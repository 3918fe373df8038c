import { renderError, renderErrors } from '../errors/render.js';
import { CONFIG_ERROR_CODES, PipelineError, PipelineErrors } from '../errors/pipeline-error.js';
import { makeRedactor } from '../log/redact.js';
import { EXIT } from './exit-codes.js';

/** Writes a rendered error (or several) to stderr and returns the exit code it means. */
export function reportError(e: unknown, redact: (t: string) => string = (t) => t): number {
  if (e instanceof PipelineErrors) {
    const masked = makeRedactor(e.secrets);
    process.stderr.write(redact(renderErrors(e.errors, { redact: masked })) + '\n');
    // An error at a line of the pipeline file (an UNSUPPORTED capability, say) is a problem of the file too.
    const invalid = e.errors.some((x) => CONFIG_ERROR_CODES.has(x.code) || x.location.line !== undefined);
    return invalid ? EXIT.INVALID_PIPELINE : EXIT.USAGE;
  }
  if (e instanceof PipelineError) {
    process.stderr.write(redact(renderError(e)) + '\n');
    if (CONFIG_ERROR_CODES.has(e.code)) return EXIT.INVALID_PIPELINE;
    if (e.code === 'LOCKED') return EXIT.LOCKED;
    if (e.code === 'USAGE' || e.code === 'SELECTION' || e.code === 'RUN_NOT_FOUND') return EXIT.USAGE;
    return EXIT.NODE_FAILED;
  }
  process.stderr.write(redact(`error: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`) + '\n');
  return EXIT.NODE_FAILED;
}

/** A fixed-width table for terminals. */
export function table(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) => cells.map((c, i) => (c ?? '').padEnd(widths[i]!)).join('  ').trimEnd();
  return [line(headers), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}
