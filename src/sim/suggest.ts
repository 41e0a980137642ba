/**
 * "Did you mean …?": the closest known word to a mistyped one (CLI options, scenario fields,
 * Machine options). Pure.
 * @module
 */

/** Edit distance (insertions, deletions, substitutions, adjacent transpositions). */
export function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) =>
    Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)),
  );
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1])
        v = Math.min(v, d[i - 2]![j - 2]! + 1);
      d[i]![j] = v;
    }
  }
  return d[a.length]![b.length]!;
}

const normalize = (s: string): string => s.toLowerCase().replace(/[-_\s]/g, '');

/** The known word closest to `word`, if it is close enough to be a plausible typo. */
export function suggest(word: string, known: readonly string[]): string | undefined {
  const n = normalize(word);
  const same = known.find((k) => normalize(k) === n);
  if (same !== undefined) return same;
  const prefixed = known.filter((k) => n.length >= 2 && normalize(k).startsWith(n));
  if (prefixed.length === 1) return prefixed[0];
  let best: string | undefined;
  let bestD = Number.POSITIVE_INFINITY;
  let bestLen = Number.POSITIVE_INFINITY;
  for (const k of known) {
    const dist = editDistance(n, normalize(k));
    // On a tie, the word of the closest length (a transposition beats a dropped letter).
    const len = Math.abs(k.length - word.length);
    if (dist < bestD || (dist === bestD && len < bestLen)) {
      bestD = dist;
      bestLen = len;
      best = k;
    }
  }
  const limit = Math.max(1, Math.floor(Math.max(n.length, 3) / 3));
  return bestD <= limit ? best : undefined;
}
