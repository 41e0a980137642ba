/**
 * Linux errno values (x86-64). Kernel-level functions return them negated, as the kernel does.
 * @module
 */

/** Operation not permitted. */
export const EPERM = 1;
/** No such file or directory (dmirror: a page has no mirror entry). */
export const ENOENT = 2;
/** Interrupted system call. */
export const EINTR = 4;
/** Bad file descriptor. */
export const EBADF = 9;
/** Try again (a non-blockable invalidation could not proceed). */
export const EAGAIN = 11;
/** Out of memory. */
export const ENOMEM = 12;
/** Permission denied. */
export const EACCES = 13;
/** Bad address. */
export const EFAULT = 14;
/** Device or resource busy (`hmm_range_fault` collision). */
export const EBUSY = 16;
/** Invalid argument. */
export const EINVAL = 22;
/** No such device. */
export const ENODEV = 19;
/** No space left on device (a hugetlbfs file finds no free huge page). */
export const ENOSPC = 28;
/** No such process (the address space has gone). */
export const ESRCH = 3;
/** File exists (UFFDIO_COPY onto a populated page). */
export const EEXIST = 17;
/** Too many links: inside GUP, "this page must be unshared first" (follow_page_pte). */
export const EMLINK = 31;
/** Value too large for defined data type (interval notifier range overflow). */
export const EOVERFLOW = 75;
/** Operation not supported. */
export const EOPNOTSUPP = 95;

const NAMES: Record<number, string> = {
  [EPERM]: 'EPERM',
  [ENOENT]: 'ENOENT',
  [EINTR]: 'EINTR',
  [EBADF]: 'EBADF',
  [EAGAIN]: 'EAGAIN',
  [ENOMEM]: 'ENOMEM',
  [EACCES]: 'EACCES',
  [EFAULT]: 'EFAULT',
  [EBUSY]: 'EBUSY',
  [ENODEV]: 'ENODEV',
  [EINVAL]: 'EINVAL',
  [EMLINK]: 'EMLINK',
  [ESRCH]: 'ESRCH',
  [EEXIST]: 'EEXIST',
  [EOVERFLOW]: 'EOVERFLOW',
  [ENOSPC]: 'ENOSPC',
  [EOPNOTSUPP]: 'EOPNOTSUPP',
};

/** Symbolic name of an errno value, positive or negated (`-16` → `'-EBUSY'`), for messages and traces. */
export function errnoName(value: number): string {
  if (value === 0) return '0';
  const name = NAMES[Math.abs(value)];
  if (name === undefined) return String(value);
  return value < 0 ? `-${name}` : name;
}
