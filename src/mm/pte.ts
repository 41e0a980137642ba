/**
 * Page-table entry encoding. An entry is two 32-bit words (8 bytes, like the hardware): `lo`
 * holds the kind and the bits, `hi` the payload (pfn, swap slot or lower table). The kinds cover
 * every state a kernel page-table entry can be in: none, table pointer, present (possibly a
 * PMD/PUD leaf), and the non-present "swap-like" entries.
 * @module
 */

/** Mask of the kind field in `lo`. */
export const PTE_KIND_MASK = 0xf;
/** Empty entry. */
export const PTE_NONE = 0;
/** Pointer to a lower-level table (hi = table index). */
export const PTE_TABLE = 1;
/** Present mapping (hi = pfn). */
export const PTE_PRESENT = 2;
/** Swapped-out page (hi = swap slot). */
export const PTE_SWAP = 3;
/** Migration entry, readable (hi = pfn). */
export const PTE_MIGRATION_READ = 4;
/** Migration entry, readable and anon-exclusive. */
export const PTE_MIGRATION_READ_EXCLUSIVE = 5;
/** Migration entry, writable. */
export const PTE_MIGRATION_WRITE = 6;
/** Device-private page, read-only (hi = device pfn). */
export const PTE_DEVICE_PRIVATE_READ = 7;
/** Device-private page, writable. */
export const PTE_DEVICE_PRIVATE_WRITE = 8;
/** Device-exclusive entry (hi = pfn of the anonymous page a device holds exclusively). */
export const PTE_DEVICE_EXCLUSIVE = 9;
/** Hardware-poisoned page. */
export const PTE_HWPOISON = 10;
/** PTE marker (uffd-wp, guard, poison): treated as none by HMM. */
export const PTE_MARKER = 11;

/** Writable (present entries). */
export const PTE_WRITE = 1 << 4;
/** Dirty (present entries and migration entries). */
export const PTE_DIRTY = 1 << 5;
/** Accessed. */
export const PTE_YOUNG = 1 << 6;
/** Special: maps a pfn without a normal struct page (vm_normal_page() is NULL). */
export const PTE_SPECIAL = 1 << 7;
/** NUMA-hinting protnone: present but access-disabled. */
export const PTE_PROTNONE = 1 << 8;
/** Huge leaf (PSE) at PMD or PUD level, present or not. */
export const PTE_LEAF = 1 << 9;
/** Soft-dirty. */
export const PTE_SOFT_DIRTY = 1 << 10;

/** Names of the kinds, for traces and messages. */
export const PTE_KIND_NAMES: readonly string[] = [
  'none',
  'table',
  'present',
  'swap',
  'migration-read',
  'migration-read-exclusive',
  'migration-write',
  'device-private-read',
  'device-private-write',
  'device-exclusive',
  'hwpoison',
  'marker',
];

/** True for kinds that carry a pfn of a page that is part of the mapping (for rss and rmap). */
export function kindHasPage(kind: number): boolean {
  return kind === PTE_PRESENT || (kind >= PTE_MIGRATION_READ && kind <= PTE_DEVICE_EXCLUSIVE);
}

/** True for the migration kinds. */
export function isMigrationKind(kind: number): boolean {
  return kind >= PTE_MIGRATION_READ && kind <= PTE_MIGRATION_WRITE;
}

/** True for the device-private kinds. */
export function isDevicePrivateKind(kind: number): boolean {
  return kind === PTE_DEVICE_PRIVATE_READ || kind === PTE_DEVICE_PRIVATE_WRITE;
}
