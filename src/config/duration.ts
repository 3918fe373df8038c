/**
 * Durations as written in a pipeline: `500ms`, `30s`, `5m`, `2h`, `1d`, combinations such as `1h30m` (spaces
 * between parts allowed), or a plain number of seconds.
 */

const UNIT_MS: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

// `ms` must come before `m` and `s` in the alternation, or "500ms" would read as 500 minutes and a stray "s".
const PART = /(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)/y;
const SECONDS = /^\s*\d+(?:\.\d+)?\s*$/;

/** A duration in milliseconds (rounded to whole ms). Throws a plain Error on anything else. */
export function parseDuration(value: string | number): number {
  if (typeof value === 'number') {
    if (!Number.isFinite(value) || value < 0) throw new Error(`invalid duration ${value}: expected seconds >= 0`);
    return Math.round(value * 1000);
  }
  // A bare number in a string is seconds too: it is what `${TIMEOUT}` gives when TIMEOUT=90.
  if (SECONDS.test(value)) return Math.round(Number(value) * 1000);
  const text = value.trim();
  let total = 0;
  let pos = 0;
  while (pos < text.length) {
    PART.lastIndex = pos;
    const m = PART.exec(text);
    if (m === null) break;
    total += Number(m[1]) * (UNIT_MS[m[2] ?? ''] ?? 0);
    pos = PART.lastIndex;
    while (text[pos] === ' ') pos++;
  }
  if (text.length === 0 || pos !== text.length) {
    throw new Error(`invalid duration "${value}": expected e.g. 500ms, 30s, 5m, 2h, 1d, 1h30m or a number of seconds`);
  }
  return Math.round(total);
}

/** For people: "120ms", "3.4s", "2m 5s", "1h 2m", "3d 4h". The two largest units, smaller parts dropped. */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms)) return String(ms);
  if (ms < 0) return `-${formatDuration(-ms)}`;
  if (ms < 1000) return `${Math.round(ms)}ms`;
  const tenths = Math.round(ms / 100);
  if (tenths < 600) return `${tenths % 10 === 0 ? tenths / 10 : (tenths / 10).toFixed(1)}s`;
  const seconds = Math.round(ms / 1000);
  const pair = (big: number, bigUnit: string, small: number, smallUnit: string): string =>
    small === 0 ? `${big}${bigUnit}` : `${big}${bigUnit} ${small}${smallUnit}`;
  if (seconds < 3600) return pair(Math.floor(seconds / 60), 'm', seconds % 60, 's');
  const minutes = Math.round(ms / 60_000);
  if (minutes < 24 * 60) return pair(Math.floor(minutes / 60), 'h', minutes % 60, 'm');
  const hours = Math.round(ms / 3_600_000);
  return pair(Math.floor(hours / 24), 'd', hours % 24, 'h');
}
