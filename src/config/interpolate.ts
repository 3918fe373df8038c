/**
 * `${ENV}` substitution in the string values of a pipeline file:
 * - `${VAR}`: the variable's value; unset or empty is a problem (never an empty string substituted silently);
 * - `${VAR:-default}`: the default when VAR is unset or empty (the default may itself contain `${…}`);
 * - `${VAR:?message}`: a problem with that message when VAR is unset or empty;
 * - `$${` is a literal `${`. A `$` not followed by `{` is kept as is (SQL's `$1` stays untouched).
 */

export type EnvProblemReason = 'unset' | 'empty' | 'required' | 'malformed';

export interface EnvProblem {
  /** Where the `${` expression starts in the text, and its length up to and including `}`. */
  readonly offset: number;
  readonly length: number;
  readonly message: string;
  /** The variable's name ('' when the expression is malformed). */
  readonly variable: string;
  readonly reason: EnvProblemReason;
}

export interface Interpolation {
  /** The text with every expression substituted; an expression with a problem is left as written. */
  readonly value: string;
  readonly problems: readonly EnvProblem[];
  /** Names of the variables whose (non-empty) values were substituted, without repeats, in order of first use. */
  readonly used: readonly string[];
  /** What was substituted for each variable: its value, or the default written in the file when it was unset. */
  readonly substitutions: readonly { readonly variable: string; readonly text: string }[];
}

export type Env = Readonly<Record<string, string | undefined>>;

const NAME = /[A-Za-z_][A-Za-z0-9_]*/y;

export function interpolateEnv(text: string, env: Env): Interpolation {
  const problems: EnvProblem[] = [];
  const used: string[] = [];
  const substitutions: { variable: string; text: string }[] = [];
  const value = interpolateAt(text, 0, env, { problems, used, substitutions });
  return { value, problems, used, substitutions };
}

interface Collector {
  problems: EnvProblem[];
  used: string[];
  substitutions: { variable: string; text: string }[];
}

/** `base` is the offset of `text` in the original string (defaults are interpolated recursively). */
function interpolateAt(text: string, base: number, env: Env, out: Collector): string {
  let result = '';
  let pos = 0;
  while (pos < text.length) {
    const dollar = text.indexOf('$', pos);
    if (dollar < 0) break;
    result += text.slice(pos, dollar);
    if (text.startsWith('$${', dollar)) {
      result += '${';
      pos = dollar + 3;
      continue;
    }
    if (text[dollar + 1] !== '{') {
      result += '$';
      pos = dollar + 1;
      continue;
    }
    const expr = parseExpression(text, dollar);
    if (expr.kind === 'malformed') {
      out.problems.push({
        offset: base + dollar,
        length: expr.end - dollar,
        message: `malformed \`${text.slice(dollar, expr.end)}\`: ` +
          'expected ${NAME}, ${NAME:-default} or ${NAME:?message}',
        variable: '',
        reason: 'malformed',
      });
      result += text.slice(dollar, expr.end);
      pos = expr.end;
      continue;
    }
    const written = text.slice(dollar, expr.end);
    const problem = (reason: EnvProblemReason, message: string): void => {
      out.problems.push({ offset: base + dollar, length: written.length, message, variable: expr.name, reason });
    };
    const current = Object.hasOwn(env, expr.name) ? env[expr.name] : undefined;
    if (current !== undefined && current !== '') {
      result += current;
      if (!out.used.includes(expr.name)) out.used.push(expr.name);
      out.substitutions.push({ variable: expr.name, text: current });
    } else if (expr.kind === 'default') {
      const fallback = interpolateAt(expr.operand, base + expr.operandOffset, env, out);
      result += fallback;
      if (fallback !== '') out.substitutions.push({ variable: expr.name, text: fallback });
    } else if (expr.kind === 'required') {
      const message = expr.operand.trim();
      problem('required', message === '' ? `${expr.name} must be set` : message);
      result += written;
    } else {
      problem(
        current === undefined ? 'unset' : 'empty',
        `environment variable ${expr.name} is ${current === undefined ? 'not set' : 'set but empty'}`,
      );
      result += written;
    }
    pos = expr.end;
  }
  return result + text.slice(pos);
}

type Expression =
  | { kind: 'malformed'; end: number }
  | { kind: 'plain'; name: string; end: number }
  | { kind: 'default' | 'required'; name: string; operand: string; operandOffset: number; end: number };

/** Reads the expression whose `${` is at `start`; `end` is the offset just after it. */
function parseExpression(text: string, start: number): Expression {
  NAME.lastIndex = start + 2;
  const name = NAME.exec(text)?.[0];
  const close = findClose(text, start + 2);
  if (name === undefined) return { kind: 'malformed', end: close ?? text.length };
  const after = start + 2 + name.length;
  if (text[after] === '}') return { kind: 'plain', name, end: after + 1 };
  const op = text.slice(after, after + 2);
  if ((op === ':-' || op === ':?') && close !== undefined) {
    const operandOffset = after + 2;
    return {
      kind: op === ':-' ? 'default' : 'required',
      name,
      operand: text.slice(operandOffset, close - 1),
      operandOffset,
      end: close,
    };
  }
  return { kind: 'malformed', end: close ?? text.length };
}

/** The offset just after the `}` closing an expression whose body starts at `from`, counting nested `${…}`. */
function findClose(text: string, from: number): number | undefined {
  let depth = 0;
  for (let i = from; i < text.length; i++) {
    if (text.startsWith('$${', i)) i += 2;
    else if (text.startsWith('${', i)) {
      depth++;
      i++;
    } else if (text[i] === '}') {
      if (depth === 0) return i + 1;
      depth--;
    }
  }
  return undefined;
}
