/** The README's first command (`npm start` → examples/demo.ts) runs and tells the story it promises. */
import { describe, expect, it } from 'vitest';
import { runDemo } from '../../examples/demo.ts';

describe('examples/demo.ts', () => {
  it('mirrors, invalidates, migrates, faults back and forks, leaving every frame free', async () => {
    const lines: string[] = [];
    const machine = await runDemo((l) => lines.push(l));
    const out = lines.join('\n');
    expect(out).toContain(
      'READ 8 pages: ret 0, cpages 8, faults 1; data 1000 1001 1002 1003 1004 1005 1006 1007',
    );
    expect(out).toMatch(/notifier {2}UNMAP \[0x[0-9a-f]+, 0x[0-9a-f]+\)/);
    expect(out).toContain('READ 8 pages across the hole: ret -EFAULT');
    // exit_mmap's range ends at the kernel's ULONG_MAX, not at 2^64 printed in hex.
    expect(out).toContain('notifier  UNMAP [0x0, ULONG_MAX)');
    expect(out).not.toContain('0x10000000000000000');
    expect(out).toContain('MIGRATE_TO_DEV 4 pages: ret 0, cpages 4');
    expect(out).toContain('SNAPSHOT: RAM RAM ERR ERR DEV DEV DEV DEV');
    expect(out).toContain('cpu       read 1005 at page 5');
    expect(out).toContain('SNAPSHOT: RAM RAM ERR ERR DEV RAM DEV DEV');
    expect(out).toContain('wrote 42 to page 6; parent still reads 1006');
    // Only the reserved zero-page blocks and the hugetlb pool remain in use.
    expect(machine.pm.ramFrames - machine.pm.freeFrames).toBe(2048);
  });
});
