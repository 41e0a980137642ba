/**
 * A race the explorer finds in the kernel's own test driver, unmutated: dmirror's invalidate
 * callback returns early for MMU_NOTIFY_MIGRATE invalidations its own device started, without
 * `mmu_interval_set_seq` (lib/test_hmm.c dmirror_interval_invalidate). When the CPU faults a page
 * back from device memory (`migrate_to_ram` → `migrate_vma_setup` with the device as owner)
 * while the same device's fault path has already walked the device-private entry, the device's
 * `mmu_interval_read_retry` still passes and it commits the device page after the page went
 * back to system memory: the mirror names a device page the CPU no longer maps.
 *
 * Real drivers avoid this by bumping their own sequence (or holding their lock) across
 * migrations they start; the test driver relies on its tests never racing the two paths.
 */
import { describe, expect, it } from 'vitest';
import {
  type DmirrorFile,
  explore,
  MAP_ANONYMOUS,
  MAP_PRIVATE,
  type Machine,
  PAGE_SIZE,
  PROT_READ,
  PROT_WRITE,
  type Process,
  replay,
  type Scenario,
} from '../../src/index.ts';

interface State {
  process: Process;
  file: DmirrorFile;
  addr: number;
}

const NPAGES = 2;

const scenario: Scenario<State> = {
  name: 'dmirror: own migrate_to_ram vs own device READ',
  description: 'the CPU faults back a page of device 0 while device 0 itself reads the buffer',
  machine: { memory: 16 * 1024 * 1024, hugetlbPages: 0 },
  async setup(machine: Machine) {
    const process = await machine.createProcess();
    const addr = await process.mmap(
      0,
      NPAGES * PAGE_SIZE,
      PROT_READ | PROT_WRITE,
      MAP_PRIVATE | MAP_ANONYMOUS,
      -1,
      0,
    );
    for (let i = 0; i < NPAGES; i++) await process.store32(addr + i * PAGE_SIZE, 0x100 + i);
    const file = await machine.addDmirrorDevice({ chunkSize: 2 * 1024 * 1024 }).open(process);
    const r = await file.migrateToDev(addr, NPAGES);
    if (r.ret !== 0 || r.cpages !== NPAGES) throw new Error(`MIGRATE_TO_DEV returned ${r.ret}`);
    // Read-only: the device's translations go, so its READ must walk the CPU page table again.
    if ((await process.mprotect(addr, NPAGES * PAGE_SIZE, PROT_READ)) !== 0) throw new Error('mprotect');
    return { process, file, addr };
  },
  threads: {
    cpu: async (s) => {
      await s.process.load32(s.addr);
    },
    device: async (s) => {
      await s.file.read(s.addr, NPAGES);
    },
  },
};

describe('lib/test_hmm.c: own-device migrate_to_ram racing the device fault path', () => {
  it('the explorer finds the stale mirror entry (random, seed 1, 200 schedules) and the token replays it', async () => {
    const report = await explore({ ...scenario, strategy: 'random', schedules: 200, seed: 1 });
    expect(report.failure, 'no violation found').not.toBeNull();
    const failure = report.failure!;
    expect(failure.violation.oracle).toBe('mirror');
    expect(failure.shrunkLength).toBeLessThanOrEqual(failure.originalLength);

    // The schedule as found replays to the very same violation.
    const original = await replay(scenario, failure.token);
    expect(original.violation).toEqual(failure.violation);
    // The shrunk one still fails the same way, and replays event for event.
    const again = await replay(scenario, failure.shrunkToken);
    expect(again.violation?.oracle).toBe('mirror');
    expect(again.account).toEqual(failure.account);
    const twice = await replay(scenario, failure.shrunkToken);
    expect(twice.account).toEqual(again.account);
    expect(twice.violation).toEqual(again.violation);
  });

  it('without the race (the device reads first, run to block) nothing is reported', async () => {
    const report = await explore({ ...scenario, strategy: 'exhaustive', preemptionBound: 0, schedules: 100 });
    expect(report.exhausted).toBe(true);
    expect(report.failure).toBeNull();
  });
});
