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

/** A command's argument as the driver has copied it in: the outputs zeroed, no contents yet. */
export function hmmDmirrorCmd(addr: number, ptr: Uint8Array | null, npages: number): HmmDmirrorCmd {
  // `contents` is there from the start: every argument keeps the hidden class it was made with.
  return { addr, ptr, npages, contents: undefined, cpages: 0, faults: 0 };
}

/**
 * An argument never used, frozen: it keeps that hidden class alive. Every argument dies with its
 * command, and when the last one had died a full collection freed the hidden class with it and
 * V8 threw away the optimized code that had seen it (MIGRATE_TO_DEV's read-back, MIGRATE_TO_SYS's
 * batch loop), to be recompiled at the next command.
 */
const _KEEP_HIDDEN_CLASS = Object.freeze(hmmDmirrorCmd(2 ** 40, null, 0));
