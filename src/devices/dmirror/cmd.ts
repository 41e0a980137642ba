/**
 * `struct hmm_dmirror_cmd` (lib/test_hmm_uapi.h): the argument of every dmirror command, as the
 * driver sees it after copying it in.
 * @module
 */
import type { ContentSnapshot } from '../../mm/content-snapshot.ts';

/** One command's argument and outputs. */
export interface HmmDmirrorCmd {
  /** In: the user virtual address the device accesses (page aligned). */
  addr: number;
  /**
   * The user buffer: the data to write (WRITE, in), or what the command copied out on success
   * (READ data, SNAPSHOT bytes; null until then).
   */
  ptr: Uint8Array | null;
  /** In: the number of pages (FLAGS: the flags value). */
  npages: number;
  /**
   * Out, instead of `ptr`: the contents copied out, kept as a snapshot and turned into bytes when
   * read (MIGRATE_TO_DEV; see content-snapshot.ts). Undefined when `ptr` holds them.
   */
  contents?: ContentSnapshot;
  /** Out: pages copied or processed. */
  cpages: number;
  /** Out: device fault passes. */
  faults: number;
}
