import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { PipelineError } from '../errors/pipeline-error.js';

const LINE = /^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*?)\s*$/;

/**
 * A `.env` file's variables: `NAME=value` lines, `export` allowed, `#` comments (after a space in an unquoted value),
 * values in single quotes taken as written, in double quotes with `\n`, `\t`, `\"` and `\\` escapes. Throws a
 * USAGE PipelineError at the line of anything else.
 */
export function parseDotenv(text: string, file: string): Record<string, string> {
  const out: Record<string, string> = {};
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  lines.forEach((raw, i) => {
    if (/^\s*(#.*)?$/.test(raw)) return;
    const m = LINE.exec(raw);
    if (!m) throw new PipelineError('USAGE', `${file}:${i + 1}: expected NAME=value`, { file, line: i + 1, col: 1 });
    const [, name, rest = ''] = m;
    out[name!] = value(rest, file, i + 1);
  });
  return out;
}

function value(rest: string, file: string, line: number): string {
  const q = rest[0];
  if (q === "'" || q === '"') {
    const end = rest.lastIndexOf(q);
    if (end === 0) throw new PipelineError('USAGE', `${file}:${line}: the quote is not closed`, { file, line, col: 1 });
    const inner = rest.slice(1, end);
    if (q === "'") return inner;
    return inner.replace(/\\([nrt"\\])/g, (_, c: string) => ({ n: '\n', r: '\r', t: '\t', '"': '"', '\\': '\\' })[c]!);
  }
  const hash = rest.search(/\s#/);
  return (hash >= 0 ? rest.slice(0, hash) : rest).trim();
}

/**
 * The environment for `${VAR}`: `.env` of the working directory (when there is one), then `--env-file` files over
 * it, and the real environment over both: a file never overrides a variable that is set.
 */
export function environment(cwd: string, envFiles: readonly string[], real: Record<string, string | undefined>): Record<string, string | undefined> {
  const merged: Record<string, string | undefined> = {};
  const dot = resolve(cwd, '.env');
  if (existsSync(dot)) Object.assign(merged, parseDotenv(readFileSync(dot, 'utf8'), '.env'));
  for (const f of envFiles) {
    const path = resolve(cwd, f);
    if (!existsSync(path)) throw new PipelineError('USAGE', `--env-file ${f}: no such file`);
    Object.assign(merged, parseDotenv(readFileSync(path, 'utf8'), f));
  }
  for (const [k, v] of Object.entries(real)) if (v !== undefined) merged[k] = v;
  return merged;
}
