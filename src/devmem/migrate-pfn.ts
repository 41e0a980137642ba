/**
 * Migrate-pfn words (include/linux/migrate.h): a pfn shifted left by MIGRATE_PFN_SHIFT plus flag
 * bits. Words are JavaScript numbers (exact up to 2^53). A bitwise operator on such a number
 * works on its low 32 bits (ToInt32 is exact modulo 2^32 for an integer), which hold the six flag
 * bits, so flags are read with `&` (a floating-point `%` costs about ten times more) and changed
 * by adding or subtracting their value.
 * @module
 */

/** The word carries a pfn. */
export const MIGRATE_PFN_VALID = 1;
/** The slot is (still) migrating. */
export const MIGRATE_PFN_MIGRATE = 2;
/** The source mapping was writable. */
export const MIGRATE_PFN_WRITE = 8;
/** The slot describes a whole PMD-sized folio (or a 2 MiB hole). */
export const MIGRATE_PFN_COMPOUND = 16;
/** Bits below the pfn. */
export const MIGRATE_PFN_SHIFT = 6;
const FLAG_SPAN = 1 << MIGRATE_PFN_SHIFT;

/** `migrate_pfn(pfn)`: a valid word for `pfn`. */
export function migratePfn(pfn: number): number {
  return pfn * FLAG_SPAN + MIGRATE_PFN_VALID;
}

/** `migrate_pfn_to_page`: the pfn of a valid word, or 0. */
export function migratePfnToPage(word: number): number {
  return (word & MIGRATE_PFN_VALID) !== 0 ? Math.floor(word / FLAG_SPAN) : 0;
}

/** True when `word` has every bit of `flag`. */
export function mpfnHas(word: number, flag: number): boolean {
  return (word & flag) === flag;
}

/** `word | flag`. */
export function mpfnSet(word: number, flag: number): number {
  const low = word & (FLAG_SPAN - 1);
  return word - low + (low | flag);
}

/** `word & ~flag`. */
export function mpfnClear(word: number, flag: number): number {
  const low = word & (FLAG_SPAN - 1);
  return word - low + (low & ~flag);
}

/** The flag bits of a word. */
export function mpfnFlags(word: number): number {
  return word & (FLAG_SPAN - 1);
}
