/** ANSI colours for a terminal, or plain text: `paint(false)` returns every function as the identity. */
export interface Paint {
  readonly red: (s: string) => string;
  readonly green: (s: string) => string;
  readonly yellow: (s: string) => string;
  readonly cyan: (s: string) => string;
  readonly dim: (s: string) => string;
  readonly bold: (s: string) => string;
}

export function paint(enabled: boolean): Paint {
  const sgr = (open: number, close: number) => (s: string) => (enabled ? `\x1b[${open}m${s}\x1b[${close}m` : s);
  return { red: sgr(31, 39), green: sgr(32, 39), yellow: sgr(33, 39), cyan: sgr(36, 39), dim: sgr(2, 22), bold: sgr(1, 22) };
}

/** Colours on a terminal unless NO_COLOR is set to anything non-empty (no-color.org). */
export function colorWanted(isTty: boolean, env: Record<string, string | undefined>): boolean {
  return isTty && !(env.NO_COLOR !== undefined && env.NO_COLOR !== '') && env.TERM !== 'dumb';
}

/** The colour of a node state. */
export function stateColor(p: Paint, state: string): (s: string) => string {
  if (state === 'succeeded') return p.green;
  if (state === 'failed' || state === 'interrupted') return p.red;
  if (state === 'skipped' || state === 'retrying') return p.yellow;
  if (state === 'running') return p.cyan;
  return (s) => s;
}
