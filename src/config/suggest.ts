/**
 * "Did you mean …?" for misspelt keys, connection names, node names and template names.
 *
 * A candidate qualifies when its edit distance to `word` (case-insensitive, a swap of two neighbouring letters
 * counting as one edit) is at most 2 and smaller than the word itself, or when one is a prefix of the other and the
 * shorter has at least 3 letters. The closest candidate wins; ties go to the earlier candidate. Returns undefined
 * when nothing qualifies, or when `word` is itself a candidate (nothing to correct).
 */
export function suggest(word: string, candidates: readonly string[]): string | undefined {
  if (candidates.includes(word)) return undefined;
  const w = word.toLowerCase();
  let best: { candidate: string; score: number } | undefined;
  for (const candidate of candidates) {
    const c = candidate.toLowerCase();
    // Lengths further apart than 2 are further apart than 2 edits: only a prefix can qualify.
    const distance = Math.abs(w.length - c.length) > 2 ? 3 : editDistance(w, c);
    let score: number | undefined;
    if (distance <= 2 && distance < Math.max(w.length, 2)) score = distance;
    // A prefix ("conn" for "connection") ranks after every near-miss spelling.
    else if (Math.min(w.length, c.length) >= 3 && (c.startsWith(w) || w.startsWith(c))) score = 3;
    if (score !== undefined && (best === undefined || score < best.score)) best = { candidate, score };
  }
  return best?.candidate;
}

/** Optimal string alignment distance: insertions, deletions, substitutions and adjacent transpositions. */
export function editDistance(a: string, b: string): number {
  if (a === b) return 0;
  if (a.length === 0) return b.length;
  if (b.length === 0) return a.length;
  // Three rolling rows: the transposition rule looks two rows back.
  let before = new Array<number>(b.length + 1).fill(0);
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  let current = new Array<number>(b.length + 1).fill(0);
  for (let i = 1; i <= a.length; i++) {
    current[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let d = Math.min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d = Math.min(d, before[j - 2] + 1);
      current[j] = d;
    }
    [before, previous, current] = [previous, current, before];
  }
  return previous[b.length];
}
