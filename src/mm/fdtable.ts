/**
 * Open files of a process (`struct file` and the fd table, reduced): regular files with a page
 * cache, or device files whose driver implements `mmap` and `release`.
 * @module
 */
import type { SimFile } from './file.ts';
import type { Vma } from './vma.ts';

/** A driver's file operations (`struct file_operations`, the subset modelled). */
export interface FileOperations {
  /** Name of the device, for messages. */
  readonly name: string;
  /**
   * `mmap`: the VMA is created; the driver sets its flags (VM_MIXEDMAP, VM_IO …) and `vmOps`,
   * and may insert pages. Returns 0 or -errno (the mapping is then undone).
   */
  mmap?(vma: Vma): Promise<number> | number;
  /** `release`: the last reference to the open file went away. */
  release?(): Promise<void> | void;
}

/** An open file description, shared by duplicated descriptors (fork). */
export interface OpenFile {
  /** A regular file with a page cache, or null for a device file. */
  readonly file: SimFile | null;
  /** Driver operations of a device file, or null. */
  readonly fops: FileOperations | null;
  /** Descriptors referring to it. */
  refs: number;
}
