/** The explorer's account lines name what the kernel names: notifier events, flags, errnos. */
import { describe, expect, it } from 'vitest';
import { describeEvent } from '../../../src/explore/describe-event.ts';
import {
  MADV_DONTNEED,
  MAP_ANONYMOUS,
  MAP_PRIVATE,
  PROT_READ,
  PROT_WRITE,
} from '../../../src/mm/constants.ts';
import type { MmEvent } from '../../../src/mm/events.ts';
import { MMU_NOTIFY_MIGRATE, MMU_NOTIFY_UNMAP } from '../../../src/mm/mmu-notifier.ts';

const ev = (e: Record<string, unknown>): MmEvent => ({ time: 0, ...e }) as unknown as MmEvent;
const range = (event: number) => ({
  mm: { id: 1 },
  start: 0x7f0000000000,
  end: 0x7f0000008000,
  event,
  blockable: true,
});

describe('describeEvent', () => {
  it('names the notifier event', () => {
    expect(describeEvent(ev({ type: 'invalidate_start', range: range(MMU_NOTIFY_MIGRATE) }))).toBe(
      'invalidate_start mm 1 [0x7f0000000000, 0x7f0000008000) MIGRATE',
    );
    expect(describeEvent(ev({ type: 'invalidate_end', range: range(MMU_NOTIFY_UNMAP) }))).toBe(
      'invalidate_end mm 1 [0x7f0000000000, 0x7f0000008000) UNMAP',
    );
  });

  it('names system-call flags, advice and errnos', () => {
    const sys = (name: string, args: number[], result: number) =>
      describeEvent(ev({ type: 'syscall', thread: 't', mm: 1, name, args, result }));
    expect(sys('madvise', [0x7f0000000000, 8192, MADV_DONTNEED], 0)).toBe(
      'madvise(0x7f0000000000, 8192, MADV_DONTNEED) mm 1 → 0',
    );
    expect(
      sys('mmap', [0, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0], 0x7f0000000000),
    ).toBe('mmap(0, 8192, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0) mm 1 → 0x7f0000000000');
    expect(sys('mprotect', [0x7f0000000000, 4096, 0], -22)).toBe(
      'mprotect(0x7f0000000000, 4096, PROT_NONE) mm 1 → -EINVAL',
    );
    expect(sys('munmap', [0x7f0000000000, 4096], -2)).toBe('munmap(0x7f0000000000, 4096) mm 1 → -ENOENT');
  });

  it('shows a negative ret of a span by its errno name', () => {
    expect(describeEvent(ev({ type: 'span', phase: 'E', name: 'READ', args: { ret: -2, cpages: 0 } }))).toBe(
      'end READ ret=-ENOENT cpages=0',
    );
    expect(
      describeEvent(ev({ type: 'span', phase: 'E', name: 'hmm_range_fault', args: { result: -16 } })),
    ).toBe('end hmm_range_fault result=-EBUSY');
  });
});
