/**
 * Object key patterns: `*` matches within one folder level, `**` across levels (`a/**\/x.csv` also matches `a/x.csv`),
 * `?` one character, `{csv,csv.gz}` alternatives; anything else is literal. A store is listed under the pattern's
 * literal prefix and each key is matched whole.
 */
export interface KeyPattern {
  /** What every matching key starts with: list the store under it. */
  readonly prefix: string;
  matches(key: string): boolean;
}

export function keyPattern(pattern: string): KeyPattern {
  const firstWild = pattern.search(/[*?{]/);
  const literal = firstWild < 0 ? pattern : pattern.slice(0, firstWild);
  const regex = new RegExp(`^${translate(pattern)}$`, 'u');
  return { prefix: literal, matches: (key) => regex.test(key) };
}

function translate(p: string): string {
  let out = '';
  for (let i = 0; i < p.length; i++) {
    const c = p[i]!;
    if (c === '*') {
      if (p[i + 1] === '*') {
        i++;
        // `**/` may match no folder at all.
        if (p[i + 1] === '/') {
          i++;
          out += '(?:.*/)?';
        } else {
          out += '.*';
        }
      } else {
        out += '[^/]*';
      }
    } else if (c === '?') {
      out += '[^/]';
    } else if (c === '{') {
      const end = p.indexOf('}', i);
      if (end < 0) {
        out += '\\{';
        continue;
      }
      out += `(?:${p.slice(i + 1, end).split(',').map(translate).join('|')})`;
      i = end;
    } else {
      out += c.replace(/[.+^$()|[\]\\]/g, '\\$&');
    }
  }
  return out;
}
