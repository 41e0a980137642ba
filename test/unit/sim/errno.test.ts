import { describe, expect, it } from 'vitest';
import {
  EACCES,
  EAGAIN,
  EBADF,
  EBUSY,
  EFAULT,
  EINTR,
  EINVAL,
  ENODEV,
  ENOENT,
  ENOMEM,
  EOPNOTSUPP,
  EOVERFLOW,
  EPERM,
  errnoName,
} from '../../../src/sim/errno.ts';

/** The x86-64 Linux values (include/uapi/asm-generic/errno-base.h, errno.h). */
const LINUX: [string, number, number][] = [
  ['EPERM', EPERM, 1],
  ['ENOENT', ENOENT, 2],
  ['EINTR', EINTR, 4],
  ['EBADF', EBADF, 9],
  ['EAGAIN', EAGAIN, 11],
  ['ENOMEM', ENOMEM, 12],
  ['EACCES', EACCES, 13],
  ['EFAULT', EFAULT, 14],
  ['EBUSY', EBUSY, 16],
  ['ENODEV', ENODEV, 19],
  ['EINVAL', EINVAL, 22],
  ['EOVERFLOW', EOVERFLOW, 75],
  ['EOPNOTSUPP', EOPNOTSUPP, 95],
];

describe('errno', () => {
  it('has the Linux x86-64 values', () => {
    for (const [name, value, linux] of LINUX) expect([name, value]).toEqual([name, linux]);
  });

  it('names a positive errno', () => {
    for (const [name, value] of LINUX) expect(errnoName(value)).toBe(name);
    expect(errnoName(16)).toBe('EBUSY');
  });

  it('names a negated errno with a minus sign, as kernel functions return them', () => {
    for (const [name, value] of LINUX) expect(errnoName(-value)).toBe(`-${name}`);
    expect(errnoName(-16)).toBe('-EBUSY');
    expect(errnoName(-EFAULT)).toBe('-EFAULT');
  });

  it('gives the number itself for an unknown value', () => {
    expect(errnoName(999)).toBe('999');
    expect(errnoName(-999)).toBe('-999');
    expect(errnoName(5)).toBe('5');
    expect(errnoName(-5)).toBe('-5');
  });

  it('gives "0" for success', () => {
    expect(errnoName(0)).toBe('0');
    expect(errnoName(-0)).toBe('0');
  });
});
