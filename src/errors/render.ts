/**
 * Printing PipelineErrors for people, compiler style:
 *
 *   pipelines/bad.yaml:12:27: error[UNKNOWN_CONNECTION]: node `orders`: source connection `ap` is not defined
 *      12 |     source: { connection: ap, table: orders }
 *         |                           ^^
 *     hint: did you mean `app`?
 *
 * The source line is read from disk when printing (errors carry positions, not text). Stack traces are never shown.
 */
import { readFileSync } from 'node:fs';
import { PipelineError, type ErrorLocation } from './pipeline-error.js';

export interface RenderOptions {
  /** ANSI colours (default false). */
  readonly color?: boolean;
  /**
   * Masks secrets in everything printed, the quoted source line included; the caret is placed under the masked
   * line. Default: nothing masked.
   */
  readonly redact?: (text: string) => string;
}

const GUTTER_WIDTH = 5;
/** Longest source line quoted: a longer one is shown around the caret, cut with `…`. */
const MAX_QUOTED = 160;
/** Longest message, hint or cause printed. */
const MAX_TEXT = 1000;
/** Errors printed by renderErrors; the count line still says how many there are. */
export const MAX_RENDERED_ERRORS = 50;

export function renderError(err: PipelineError, options: RenderOptions = {}): string {
  const paint = painter(options.color ?? false);
  const redact = options.redact ?? ((t: string) => t);
  // Mask first, then shorten: a cut secret would no longer be recognised.
  const show = (text: string): string => printable(shorten(redact(text), MAX_TEXT));
  const loc = err.location;
  const lines = [`${show(position(loc))}${paint.error(`error[${err.code}]`)}: ${paint.bold(show(err.message))}`];

  const text = loc.file !== undefined && loc.line !== undefined ? sourceLine(loc.file, loc.line) : undefined;
  if (text !== undefined && loc.line !== undefined) {
    const width = Math.max(GUTTER_WIDTH, String(loc.line).length);
    const col = Math.min(Math.max(loc.col ?? 1, 1), text.length + 1);
    const length = Math.max(1, Math.min(loc.length ?? 1, text.length - col + 1));
    // The caret goes under the masked text: what comes before it and what it underlines, each masked alone.
    const masked = redact(text);
    const at = Math.min(redact(text.slice(0, col - 1)).length, masked.length);
    const under = Math.max(1, redact(text.slice(col - 1, col - 1 + length)).length);
    const quoted = around(masked, at, under);
    // Keep tabs in the padding so the carets line up with the text above whatever the tab width.
    const pad = quoted.before.replace(/[^\t]/g, ' ');
    lines.push(`${paint.gutter(`${String(loc.line).padStart(width)} |`)} ${printable(quoted.line)}`);
    lines.push(`${paint.gutter(`${' '.repeat(width)} |`)} ${pad}${paint.error('^'.repeat(quoted.under))}`);
  }
  if (loc.file === undefined) {
    const context = contextOf(loc);
    if (context !== '') lines.push(`  in ${show(context)}`);
  }
  if (err.hint !== undefined) lines.push(`  ${paint.hint('hint')}: ${show(err.hint)}`);
  const cause = causeText(err);
  if (cause !== undefined) lines.push(`  cause: ${show(cause)}`);
  return lines.join('\n');
}

/**
 * Every error, in file order, then a count: the output of a failed `pigeon validate`. At most MAX_RENDERED_ERRORS
 * are printed (the first ones, which later ones often follow from).
 */
export function renderErrors(errs: readonly PipelineError[], options: RenderOptions = {}): string {
  const sorted = [...errs].sort(compareLocations);
  const blocks = sorted.slice(0, MAX_RENDERED_ERRORS).map((e) => renderError(e, options));
  const hidden = sorted.length - MAX_RENDERED_ERRORS;
  if (hidden > 0) blocks.push(`… and ${hidden} more (fix the ones above first)`);
  blocks.push(`${errs.length} problem${errs.length === 1 ? '' : 's'}`);
  return blocks.join('\n\n');
}

/** `line`, or the part of it around [at, at + under) when it is longer than MAX_QUOTED, marked with `…`. */
function around(line: string, at: number, under: number): { line: string; before: string; under: number } {
  if (line.length <= MAX_QUOTED) return { line, before: line.slice(0, at), under };
  const start = Math.max(0, Math.min(at - MAX_QUOTED / 4, line.length - MAX_QUOTED));
  const end = start + MAX_QUOTED;
  const head = start > 0 ? '…' : '';
  const shown = `${head}${line.slice(start, end)}${end < line.length ? '…' : ''}`;
  return { line: shown, before: `${head}${line.slice(start, at)}`, under: Math.max(1, Math.min(under, end - at)) };
}

/** Control characters shown, not obeyed by the terminal (a lone CR would overwrite the line); same length. */
function printable(text: string): string {
  return text.replace(/[\x00-\x08\x0b-\x1f\x7f]/g, (c) => (c === '\r' ? '␍' : '�'));
}

function shorten(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max)}…`;
}

function compareLocations(a: PipelineError, b: PipelineError): number {
  const fa = a.location.file;
  const fb = b.location.file;
  // Errors without a file come after those with one.
  if (fa !== fb) return fa === undefined ? 1 : fb === undefined ? -1 : fa < fb ? -1 : 1;
  return (a.location.line ?? 0) - (b.location.line ?? 0) || (a.location.col ?? 0) - (b.location.col ?? 0);
}

function position(loc: ErrorLocation): string {
  if (loc.file === undefined) return '';
  if (loc.line === undefined) return `${loc.file}: `;
  return `${loc.file}:${loc.line}${loc.col === undefined ? '' : `:${loc.col}`}: `;
}

/** `node orders, table x, column y, chunk chunk-00003.csv line 17` */
function contextOf(loc: ErrorLocation): string {
  const parts: string[] = [];
  if (loc.node !== undefined) parts.push(`node ${loc.node}`);
  if (loc.worker !== undefined) parts.push(`worker ${loc.worker}`);
  if (loc.connection !== undefined) parts.push(`connection ${loc.connection}`);
  if (loc.table !== undefined) parts.push(`table ${loc.table}`);
  if (loc.column !== undefined) parts.push(`column ${loc.column}`);
  const line = loc.chunkLine === undefined ? undefined : `line ${loc.chunkLine}`;
  if (loc.chunk !== undefined) parts.push(line === undefined ? `chunk ${loc.chunk}` : `chunk ${loc.chunk} ${line}`);
  else if (line !== undefined) parts.push(line);
  return parts.join(', ');
}

/** The cause's message when it says something the error's own message does not. */
function causeText(err: PipelineError): string | undefined {
  const cause: unknown = err.cause;
  if (cause === undefined || cause === null) return undefined;
  const message = (cause instanceof Error ? cause.message : describe(cause)).trim();
  if (message === '' || err.message.includes(message)) return undefined;
  const text = cause instanceof PipelineError ? `[${cause.code}] ${message}` : message;
  // Only the first line: drivers sometimes append whole statements or server dumps.
  return text.split('\n')[0];
}

function describe(value: unknown): string {
  if (typeof value !== 'object' || value === null) return String(value);
  try {
    return JSON.stringify(value) ?? '';
  } catch {
    return '';
  }
}

const fileLines = new Map<string, readonly string[] | null>();

function sourceLine(file: string, line: number): string | undefined {
  let lines = fileLines.get(file);
  if (lines === undefined) {
    try {
      lines = readFileSync(file, 'utf8').split(/\r?\n/);
    } catch {
      lines = null;
    }
    fileLines.set(file, lines);
  }
  return lines?.[line - 1];
}

interface Painter {
  error(s: string): string;
  bold(s: string): string;
  gutter(s: string): string;
  hint(s: string): string;
}

function painter(color: boolean): Painter {
  const wrap = (open: string) => (s: string): string => (color ? `\x1b[${open}m${s}\x1b[0m` : s);
  return { error: wrap('1;31'), bold: wrap('1'), gutter: wrap('34'), hint: wrap('36') };
}
