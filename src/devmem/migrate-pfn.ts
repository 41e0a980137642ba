/**
 * Migrate-pfn words (include/linux/migrate.h): a pfn shifted left by MIGRATE_PFN_SHIFT plus flag
 * bits. Words are JavaScript numbers (exact up to 2^53), so flags are read and changed with
 * arithmetic on the low six bits rather than 32-bit bitwise operators.
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
  return word % 2 === 1 ? Math.floor(word / FLAG_SPAN) : 0;
}

/** True when `word` has every bit of `flag`. */
export function mpfnHas(word: number, flag: number): boolean {
  return ((word % FLAG_SPAN) & flag) === flag;
}

/** `word | flag`. */
export function mpfnSet(word: number, flag: number): number {
  const low = word % FLAG_SPAN;
  return word - low + (low | flag);
}

/** `word & ~flag`. */
export function mpfnClear(word: number, flag: number): number {
  const low = word % FLAG_SPAN;
  return word - low + (low & ~flag);
}

/** The flag bits of a word. */
export function mpfnFlags(word: number): number {
  return word % FLAG_SPAN;
}
