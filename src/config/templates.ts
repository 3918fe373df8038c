/**
 * `{{ name }}` templates in `source.query`, `source.where` and `target.table`. They stay unrendered in the loaded
 * Pipeline and are rendered per run, from the run's data interval: see `dataInterval` and `templateVars`.
 */
import { PipelineError } from '../errors/pipeline-error.js';
import { suggest } from './suggest.js';

/** Every name a template may use. */
export const TEMPLATE_NAMES = ['ds', 'ds_nodash', 'data_interval_start', 'data_interval_end', 'run_id'] as const;
export type TemplateName = (typeof TEMPLATE_NAMES)[number];

/** The fields of a node where templates are rendered (paths below `nodes.<name>`). */
export const TEMPLATE_FIELDS = ['source.query', 'source.where', 'target.table'] as const;

export interface TemplateUse {
  /** The text between the braces, trimmed. */
  readonly name: string;
  /** Where `{{` starts in the text. */
  readonly offset: number;
  /** Up to and including `}}`. */
  readonly length: number;
}

const TEMPLATE = /\{\{\s*([^{}]*?)\s*\}\}/g;

export function findTemplates(text: string): TemplateUse[] {
  return [...text.matchAll(TEMPLATE)].map((m) => ({ name: m[1] ?? '', offset: m.index, length: m[0].length }));
}

/** Replaces every template by its value. Throws a TEMPLATE PipelineError for a name not in `vars`. */
export function renderTemplate(text: string, vars: Readonly<Record<string, string>>): string {
  return text.replace(TEMPLATE, (whole, name: string) => {
    const value = Object.hasOwn(vars, name) ? vars[name] : undefined;
    if (value === undefined) {
      const hint = suggest(name, Object.keys(vars));
      throw new PipelineError('TEMPLATE', `unknown template \`${whole}\``, {
        hint: hint === undefined ? `known templates: ${Object.keys(vars).join(', ')}` : `did you mean \`${hint}\`?`,
      });
    }
    return value;
  });
}

/** The interval of data a run covers: [start, end). */
export interface DataInterval {
  readonly start: Date;
  readonly end: Date;
}

const DAY_MS = 86_400_000;
/** The latest end of a data interval that still reads as `YYYY-MM-DD HH:MM:SS`. */
const LAST_END = Date.UTC(9999, 11, 31, 23, 59, 59);
const DATE = /^(\d{4})-(\d{2})-(\d{2})$/;
const DATE_TIME = /^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2}))?Z?)?$/;

/**
 * The run's data interval, all in UTC:
 * - `date: 'YYYY-MM-DD'`: that day, [00:00, next day 00:00);
 * - `interval: 'START/END'`, each `YYYY-MM-DD` or `YYYY-MM-DDTHH:MM[:SS]` (a trailing `Z` allowed);
 * - neither: yesterday relative to `now` (default: the current time).
 * Throws a USAGE PipelineError on malformed input, on both options at once, or when start is not before end.
 */
export function dataInterval(opts: { date?: string; interval?: string; now?: Date }): DataInterval {
  if (opts.date !== undefined && opts.interval !== undefined) {
    throw new PipelineError('USAGE', 'use either --date or --interval, not both');
  }
  if (opts.date !== undefined) {
    const start = DATE.test(opts.date) ? parseUtc(opts.date) : undefined;
    if (start === undefined) throw new PipelineError('USAGE', `--date must be a day as YYYY-MM-DD, got "${opts.date}"`);
    const end = new Date(start.getTime() + DAY_MS);
    if (end.getTime() > LAST_END) {
      // Its end, 10000-01-01, has no YYYY-MM-DD form: templates and timestamps would read `+010000-01-01`.
      throw new PipelineError('USAGE', `--date ${opts.date} is past the last day a data interval can cover, 9999-12-30`);
    }
    return { start, end };
  }
  if (opts.interval !== undefined) {
    const parts = opts.interval.split('/');
    const start = parts.length === 2 ? parseUtc(parts[0] ?? '') : undefined;
    const end = parts.length === 2 ? parseUtc(parts[1] ?? '') : undefined;
    if (start === undefined || end === undefined) {
      throw new PipelineError(
        'USAGE',
        `--interval must be START/END, each YYYY-MM-DD or YYYY-MM-DDTHH:MM[:SS] in UTC, got "${opts.interval}"`,
      );
    }
    if (start.getTime() >= end.getTime()) {
      throw new PipelineError('USAGE', `--interval start must be before its end, got "${opts.interval}"`);
    }
    return { start, end };
  }
  const now = opts.now ?? new Date();
  const today = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate());
  return { start: new Date(today - DAY_MS), end: new Date(today) };
}

/** A strict UTC reading of `YYYY-MM-DD[THH:MM[:SS]][Z]`; undefined for malformed or impossible dates (Feb 30). */
function parseUtc(text: string): Date | undefined {
  const m = DATE_TIME.exec(text);
  if (m === null) return undefined;
  const [y = 0, mo = 0, d = 0, h = 0, mi = 0, s = 0] = m.slice(1).map((part) => Number(part ?? 0));
  const date = new Date(Date.UTC(y, mo - 1, d, h, mi, s));
  // Date.UTC rolls Feb 30 over to March 2: a round trip catches it.
  const valid =
    date.getUTCFullYear() === y && date.getUTCMonth() === mo - 1 && date.getUTCDate() === d &&
    date.getUTCHours() === h && date.getUTCMinutes() === mi && date.getUTCSeconds() === s;
  return valid ? date : undefined;
}

/** `{{ var.NAME }}`: a value given on the command line with `--var NAME=VALUE`. */
export const VAR_TEMPLATE = /^var\.([A-Za-z_][A-Za-z0-9_]*)$/;

/** The values of every template name for one run; `vars` (from `--var`) as `var.NAME`. */
export function templateVars(interval: DataInterval, runId: string, vars: Readonly<Record<string, string>> = {}): Record<string, string> {
  const ds = formatTimestamp(interval.start).slice(0, 10);
  const values: Record<TemplateName, string> = {
    ds,
    ds_nodash: ds.replaceAll('-', ''),
    data_interval_start: formatTimestamp(interval.start),
    data_interval_end: formatTimestamp(interval.end),
    run_id: runId,
  };
  return { ...values, ...Object.fromEntries(Object.entries(vars).map(([k, v]) => [`var.${k}`, v])) };
}

/** 'YYYY-MM-DD HH:MM:SS' in UTC, without fractional seconds. */
export function formatTimestamp(d: Date): string {
  return d.toISOString().slice(0, 19).replace('T', ' ');
}
