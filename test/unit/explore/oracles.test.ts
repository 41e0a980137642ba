/**
 * The race explorer's oracles on hand-built machines (no runner): a correct run of each kind
 * reports nothing, and a deliberately broken state is reported with the addresses, pfns and
 * entries that disagree.
 */
import { describe, expect, it, vi } from 'vitest';
import { DPT_XA_TAG_READ, DPT_XA_TAG_WRITE, xaTagPointer } from '../../../src/devices/dmirror/pt.ts';
import type { Oracle, OracleInstance } from '../../../src/explore/oracle.ts';
import { CpuEntry, readCpuEntry } from '../../../src/explore/oracles/cpu-view.ts';
import {
  assertionOracle,
  attachObserver,
  balanceOracle,
  defaultOracles,
  livenessOracle,
  lostDataOracle,
  mirrorOracle,
  ObserverHub,
  useAfterFreeOracle,
} from '../../../src/explore/oracles/index.ts';
import type { HmmRange } from '../../../src/hmm/hmm-range.ts';
import { hmmRangeFault } from '../../../src/hmm/hmm-range-fault.ts';
import { Machine } from '../../../src/machine.ts';
import {
  MADV_DONTNEED,
  MAP_ANONYMOUS,
  MAP_PRIVATE,
  PAGE_SIZE,
  PROT_READ,
  PROT_WRITE,
} from '../../../src/mm/constants.ts';
import type { Process } from '../../../src/mm/process.ts';
import { mmuIntervalSetSeq } from '../../../src/notifier/interval-notifier.ts';
import { listSelftests } from '../../../src/selftest/index.ts';
import { UsageError } from '../../../src/sim/errors.ts';

interface Seen {
  oracle: string;
  message: string;
}

/** A machine watched by `oracles`, with atSwitch wired to the scheduler as the runner does. */
function watched(oracles: readonly Oracle[], coherent = false) {
  const machine = new Machine({ memory: 32 * 1024 * 1024, hugetlbPages: 0 });
  const violations: Seen[] = [];
  const ctx = { machine, violate: (oracle: string, message: string) => violations.push({ oracle, message }) };
  const instances: OracleInstance[] = oracles.map((o) => o(ctx));
  machine.sched.onSwitch = () => {
    for (const i of instances) i.atSwitch?.();
  };
  const device = machine.addDmirrorDevice({ coherent });
  return {
    machine,
    device,
    violations,
    instances,
    atSwitch: () => {
      for (const i of instances) i.atSwitch?.();
    },
    atEnd: () => {
      for (const i of instances) i.atEnd?.();
    },
  };
}

const NPAGES = 4;
const SIZE = NPAGES * PAGE_SIZE;

async function anon(p: Process, size = SIZE): Promise<number> {
  const addr = await p.mmap(0, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  expect(addr).toBeGreaterThan(0);
  return addr;
}

function pattern(n: number, seed: number): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (i * 7 + seed) & 0xff;
  return b;
}

/** The pfn the CPU maps at `addr` of `p`. */
function cpuPage(m: Machine, p: Process, addr: number): number {
  const cpu = new CpuEntry();
  readCpuEntry(m, p.mm, addr / PAGE_SIZE, cpu);
  return cpu.pfn;
}

/**
 * A machine watched by `oracles` whose device mirror keeps an entry over a frame munmap freed,
 * announced by a mirror update and checked at the next switch; how many walks that took.
 */
async function staleOverFreed(oracles: readonly Oracle[]) {
  const w = watched(oracles);
  const p = await w.machine.createProcess();
  const f = await w.device.open(p);
  const a = await anon(p);
  await p.write(a, pattern(SIZE, 1));
  const pfn = cpuPage(w.machine, p, a);
  await p.munmap(a, SIZE);
  f.pt.set(a / PAGE_SIZE, xaTagPointer(pfn, DPT_XA_TAG_READ));
  const walks = vi.spyOn(f, 'forEachTranslation');
  w.machine.observer!.mirrorUpdate!(f);
  w.atSwitch();
  return { violations: w.violations, walks: walks.mock.calls.length, pfn };
}

describe('correct runs report nothing (all default oracles, balance included)', () => {
  for (const coherent of [false, true]) {
    const kind = coherent ? 'device-coherent' : 'device-private';
    it(`device read after CPU write, device write then CPU read, munmap with mirrored pages (${kind})`, async () => {
      const w = watched(defaultOracles(), coherent);
      const p = await w.machine.createProcess();
      const f = await w.device.open(p);
      const a = await anon(p);
      await p.write(a, pattern(SIZE, 1));
      const r = await f.read(a, NPAGES);
      expect(r.ret).toBe(0);
      expect(r.data).toEqual(pattern(SIZE, 1));
      expect((await f.write(a, NPAGES, pattern(SIZE, 2))).ret).toBe(0);
      expect(await p.read(a, SIZE)).toEqual(pattern(SIZE, 2));
      await p.store32(a + 8, 0xdeadbeef);
      expect(await p.load32(a + 8)).toBe(0xdeadbeef);
      expect(f.pt.size).toBe(NPAGES);
      expect(await p.munmap(a, SIZE)).toBe(0);
      expect(f.pt.size).toBe(0);
      w.atSwitch();
      await f.close();
      await p.exit();
      w.atEnd();
      expect(w.violations).toEqual([]);
    });

    it(`migration to the device and back, exclusive access, fork (${kind})`, async () => {
      const w = watched(defaultOracles(), coherent);
      const p = await w.machine.createProcess();
      const f = await w.device.open(p);
      const a = await anon(p);
      await p.write(a, pattern(SIZE, 3));
      const m = await f.migrateToDev(a, NPAGES);
      expect(m.ret).toBe(0);
      expect(m.data).toEqual(pattern(SIZE, 3));
      expect((await f.write(a, 1, pattern(PAGE_SIZE, 4))).ret).toBe(0);
      // The CPU faults the first page back; the device then migrates the rest back.
      expect(await p.read(a, PAGE_SIZE)).toEqual(pattern(PAGE_SIZE, 4));
      expect((await f.migrateToSys(a, NPAGES)).ret).toBe(0);
      expect(await p.read(a + PAGE_SIZE, PAGE_SIZE)).toEqual(
        pattern(SIZE, 3).subarray(PAGE_SIZE, 2 * PAGE_SIZE),
      );
      // Exclusive access, then a CPU write revokes it.
      const e = await f.exclusive(a, NPAGES);
      expect(e.ret).toBe(0);
      await p.store32(a, 42);
      expect(await p.load32(a)).toBe(42);
      // Fork: the child sees the parent's bytes; each side then writes its own copy.
      await f.migrateToDev(a, NPAGES);
      const child = await p.fork();
      expect(await child.load32(a)).toBe(42);
      await child.store32(a, 7);
      expect(await p.load32(a)).toBe(42);
      expect((await f.read(a, NPAGES)).ret).toBe(0);
      await child.exit();
      expect(await p.madvise(a, SIZE, MADV_DONTNEED)).toBe(0);
      expect(await p.load32(a)).toBe(0);
      await f.close();
      await p.exit();
      w.atEnd();
      expect(w.violations).toEqual([]);
    });
  }

  it('mremap moves what the lost-data shadow knows', async () => {
    const w = watched([lostDataOracle]);
    const p = await w.machine.createProcess();
    const a = await anon(p, 2 * SIZE);
    await p.write(a, pattern(SIZE, 5));
    const b = await p.mremap(a, SIZE, SIZE, 3 /* MREMAP_MAYMOVE | MREMAP_FIXED */, a + SIZE);
    expect(b).toBe(a + SIZE);
    expect(await p.read(b, SIZE)).toEqual(pattern(SIZE, 5));
    expect(w.violations).toEqual([]);
    // The shadow moved with the data: corrupting the new place is seen.
    w.machine.pm.writeBytes(cpuPage(w.machine, p, b), 0, new Uint8Array([0xee]), 0, 1);
    await p.read(b, 1);
    expect(w.violations.map((v) => v.oracle)).toEqual(['lost-data']);
  });
});

describe('mirror oracle', () => {
  it('reports a stale entry left after munmap, naming the address, pfn and CPU entry', async () => {
    const w = watched([mirrorOracle]);
    const p = await w.machine.createProcess();
    const f = await w.device.open(p);
    const a = await anon(p);
    await p.write(a, pattern(SIZE, 1));
    expect((await f.read(a, NPAGES)).ret).toBe(0);
    const stale = f.pt.get(a / PAGE_SIZE)!;
    await p.munmap(a, SIZE);
    w.atSwitch();
    expect(w.violations).toEqual([]);
    // The driver "forgot" to erase: the entry is back by hand.
    f.pt.set(a / PAGE_SIZE, stale);
    w.atEnd();
    expect(w.violations).toHaveLength(1);
    const msg = w.violations[0]!.message;
    expect(w.violations[0]!.oracle).toBe('mirror');
    expect(msg).toContain(`maps 0x${a.toString(16)} to pfn ${Math.floor(stale / 4)}`);
    expect(msg).toContain('CPU entry of mm 1 there is none');
    expect(msg).toContain('the CPU maps no page there');
  });

  it('reports a writable entry over a read-only CPU PTE, and a wrong page', async () => {
    const w = watched([mirrorOracle]);
    const p = await w.machine.createProcess();
    const f = await w.device.open(p);
    const a = await anon(p);
    await p.write(a, pattern(SIZE, 1));
    expect((await f.read(a, NPAGES)).ret).toBe(0);
    expect(await p.mprotect(a, SIZE, PROT_READ)).toBe(0);
    const pfn = cpuPage(w.machine, p, a);
    f.pt.set(a / PAGE_SIZE, xaTagPointer(pfn, DPT_XA_TAG_WRITE));
    w.atSwitch();
    expect(w.violations).toHaveLength(1);
    expect(w.violations[0]!.message).toContain('the mirror is writable but the CPU entry is not');
    expect(w.violations[0]!.message).toContain(`present pfn ${pfn} read-only`);

    const w2 = watched([mirrorOracle]);
    const p2 = await w2.machine.createProcess();
    const f2 = await w2.device.open(p2);
    const b = await anon(p2);
    await p2.write(b, pattern(SIZE, 1));
    const other = cpuPage(w2.machine, p2, b + PAGE_SIZE);
    f2.pt.set(b / PAGE_SIZE, xaTagPointer(other, DPT_XA_TAG_READ));
    // Checked on the device access itself.
    await f2.read(b, 1);
    expect(w2.violations[0]!.message).toMatch(
      /^device read: .* the mirror names pfn \d+ but the CPU entry means pfn \d+/,
    );
  });

  it('does not check addresses under an invalidation in progress', async () => {
    const w = watched([mirrorOracle]);
    const p = await w.machine.createProcess();
    const f = await w.device.open(p);
    const a = await anon(p);
    f.pt.set(a / PAGE_SIZE, xaTagPointer(5, DPT_XA_TAG_READ));
    const range = { mm: p.mm, start: a, end: a + SIZE, event: 1, owner: null, blockable: true };
    w.machine.observer!.invalidateStart!(range);
    w.atSwitch();
    expect(w.violations).toEqual([]);
    w.machine.observer!.invalidateEnd!(range);
    w.atSwitch();
    expect(w.violations.map((v) => v.oracle)).toEqual(['mirror']);
  });

  it('skips the walk at a switch when nothing changed since the last check', async () => {
    const w = watched([mirrorOracle]);
    const p = await w.machine.createProcess();
    const f = await w.device.open(p);
    const a = await anon(p);
    w.atSwitch();
    // A change no hook announced is not seen at a switch, only at the end.
    f.pt.set(a / PAGE_SIZE, xaTagPointer(5, DPT_XA_TAG_READ));
    w.atSwitch();
    expect(w.violations).toEqual([]);
    w.atEnd();
    expect(w.violations).toHaveLength(1);
  });
});

describe('use-after-free oracle', () => {
  it('reports a device read through a mirror entry to a freed frame', async () => {
    const w = watched([useAfterFreeOracle]);
    const p = await w.machine.createProcess();
    const f = await w.device.open(p);
    const a = await anon(p);
    await p.write(a, pattern(SIZE, 1));
    expect((await f.read(a, NPAGES)).ret).toBe(0);
    const stale = f.pt.get(a / PAGE_SIZE)!;
    const pfn = Math.floor(stale / 4);
    await p.munmap(a, SIZE);
    f.pt.set(a / PAGE_SIZE, stale);
    // The file is not mapped any more: only the first page has an entry, read without faulting.
    const r = f.read(a, 1);
    await r;
    expect(w.violations[0]!.oracle).toBe('use-after-free');
    expect(w.violations[0]!.message).toBe(
      `device read by hmm_dmirror0 (file 1 of pid 1) at 0x${a.toString(16)} of mm 1 through pfn ${pfn}, but frame ${pfn} is free`,
    );
  });

  it('reports a mirror entry naming a freed frame at the next switch', async () => {
    const w = await staleOverFreed([useAfterFreeOracle]);
    expect(w.violations[0]!.message).toContain(`to pfn ${w.pfn} (READ) but frame ${w.pfn} is free`);
  });
});

describe('mirror and use-after-free share one translation walk', () => {
  it('walks the translations once for both, and each reports what it reports alone, in its turn', async () => {
    const alone = [
      ...(await staleOverFreed([mirrorOracle])).violations,
      ...(await staleOverFreed([useAfterFreeOracle])).violations,
    ];
    expect(alone.map((v) => v.oracle)).toEqual(['mirror', 'use-after-free']);
    const both = await staleOverFreed([mirrorOracle, useAfterFreeOracle]);
    expect(both.walks).toBe(1);
    expect(both.violations).toEqual(alone);
    const reversed = await staleOverFreed([useAfterFreeOracle, mirrorOracle]);
    expect(reversed.walks).toBe(1);
    expect(reversed.violations).toEqual([alone[1], alone[0]]);
  });
});

describe('lost-data oracle', () => {
  it('reports bytes changed behind the CPU, on the CPU read and on the device read', async () => {
    const w = watched([lostDataOracle]);
    const p = await w.machine.createProcess();
    const f = await w.device.open(p);
    const a = await anon(p);
    await p.write(a, pattern(SIZE, 1));
    const pfn = cpuPage(w.machine, p, a + PAGE_SIZE);
    w.machine.pm.writeBytes(pfn, 16, new Uint8Array([0xff]), 0, 1);
    await p.read(a, SIZE);
    expect(w.violations).toHaveLength(1);
    const want = pattern(SIZE, 1)[PAGE_SIZE + 16]!;
    expect(w.violations[0]!.message).toBe(
      `a CPU read of mm 1 at 0x${(a + PAGE_SIZE + 16).toString(16)} returned 0xff but the last value written there was 0x${want.toString(16)} (by the CPU); the CPU entry is present pfn ${pfn} writable`,
    );

    const w2 = watched([lostDataOracle]);
    const p2 = await w2.machine.createProcess();
    const f2 = await w2.device.open(p2);
    const b = await anon(p2);
    await f2.write(b, NPAGES, pattern(SIZE, 9));
    const pfn2 = cpuPage(w2.machine, p2, b);
    w2.machine.pm.clearPage(pfn2);
    await f2.read(b, NPAGES);
    expect(w2.violations[0]!.message).toMatch(
      /^a device read of hmm_dmirror0 \(file 1 of pid 1\) through pfn \d+ of mm 1 at 0x[0-9a-f]+ returned 0x0 but the last value written there was 0x9 \(by a device write of hmm_dmirror0/,
    );
    expect(w2.violations[0]!.message).toContain('maps it to pfn');
    void f;
  });

  it('forgets what munmap, MADV_DONTNEED and a new mapping discard', async () => {
    const w = watched([lostDataOracle]);
    const p = await w.machine.createProcess();
    const a = await anon(p);
    await p.write(a, pattern(SIZE, 1));
    await p.madvise(a, PAGE_SIZE, MADV_DONTNEED);
    expect((await p.read(a, PAGE_SIZE)).every((x) => x === 0)).toBe(true);
    await p.munmap(a, SIZE);
    const b = await p.mmap(a, SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | 0x10, -1, 0);
    expect(b).toBe(a);
    expect((await p.read(a, SIZE)).every((x) => x === 0)).toBe(true);
    expect(w.violations).toEqual([]);
  });
});

describe('balance oracle', () => {
  it('reports a leaked frame reference, naming the frame', async () => {
    const w = watched([balanceOracle]);
    const p = await w.machine.createProcess();
    const a = await anon(p);
    await p.write(a, pattern(SIZE, 1));
    const pfn = cpuPage(w.machine, p, a);
    w.machine.getPage(pfn);
    await p.exit();
    w.atEnd();
    expect(w.violations).toHaveLength(1);
    expect(w.violations[0]!.message).toBe(
      `after teardown: 1 RAM frame(s) not freed (${w.machine.pm.freeFrames} free, ${w.machine.pm.freeFrames + 1} before setup): pfn ${pfn} refcount 1 mapcount 0 flags 0x${w.machine.pm.flags[pfn]!.toString(16)}`,
    );
  });

  it('reports an open file, a live mm and device pages in use', async () => {
    const w = watched([balanceOracle]);
    const p = await w.machine.createProcess();
    const f = await w.device.open(p);
    const a = await anon(p);
    await p.write(a, pattern(SIZE, 1));
    await f.migrateToDev(a, NPAGES);
    w.atEnd();
    const msg = w.violations[0]!.message;
    expect(msg).toContain('mm 1 still alive');
    expect(msg).toContain('hmm_dmirror0: file 1 of pid 1 still open (4 mirror entries)');
    expect(msg).toContain('hmm_dmirror0: 4 device page(s) of chunk');
    expect(msg).toContain('RAM frame(s) not freed');
  });
});

describe('assertion and liveness oracles', () => {
  it('hmm_range_fault without the mmap lock', async () => {
    const w = watched([assertionOracle]);
    const p = await w.machine.createProcess();
    const f = await w.device.open(p);
    const a = await anon(p);
    const range: HmmRange = {
      notifier: f.notifier,
      notifierSeq: 0,
      start: a,
      end: a + PAGE_SIZE,
      hmmPfns: new BigUint64Array(1),
      pfnFlagsMask: 0n,
      defaultFlags: 0n,
      devPrivateOwner: null,
    };
    await expect(hmmRangeFault(range)).rejects.toThrow(UsageError);
    expect(w.violations).toEqual([
      {
        oracle: 'assertion',
        message: 'hmm_range_fault: mmap_assert_locked failed: the mmap lock of mm 1 is not held',
      },
    ]);
  });

  it('mmu_interval_set_seq outside an invalidate callback', async () => {
    const w = watched([assertionOracle]);
    const p = await w.machine.createProcess();
    const f = await w.device.open(p);
    mmuIntervalSetSeq(f.notifier, 3);
    expect(w.violations[0]!.message).toBe(
      'mmu_interval_set_seq(3) outside an invalidate callback: no invalidation epoch is open on mm 1',
    );
  });

  it('a retry loop that gives up at its timeout is fine; one still retrying past it is not', async () => {
    const w = watched([livenessOracle]);
    const o = w.machine.observer!;
    o.retryTimeout?.('dmirror_range_fault [0x1000, 0x2000)');
    o.retryAttempt!('dmirror_range_fault [0x1000, 0x2000)', 0, 1e9);
    w.machine.sched.clock.advanceTo(1e9);
    o.retryAttempt!('dmirror_range_fault [0x1000, 0x2000)', 0, 1e9);
    expect(w.violations).toEqual([]);
    w.machine.sched.clock.advanceTo(1e9 + 1);
    o.retryAttempt!('dmirror_range_fault [0x1000, 0x2000)', 0, 1e9);
    expect(w.violations.map((v) => [v.oracle, v.message])).toEqual([
      [
        'liveness',
        'dmirror_range_fault [0x1000, 0x2000): still retrying 1000.000 ms after its first attempt, past its 1000 ms timeout (an unbounded retry loop)',
      ],
    ]);
  });
});

describe('observer hub', () => {
  it('fans hooks out to every member and leaves the kernel unobserved when the last detaches', () => {
    const m = new Machine({ memory: 16 * 1024 * 1024, hugetlbPages: 0 });
    const seen: string[] = [];
    const d1 = attachObserver(m, { kernelAssert: (w) => seen.push(`1 ${w}`) });
    expect(m.observer).toBeInstanceOf(ObserverHub);
    expect(m.observer!.pageFreed).toBeUndefined();
    const d2 = attachObserver(m, {
      kernelAssert: (w) => seen.push(`2 ${w}`),
      pageFreed: () => seen.push('free'),
    });
    m.observer!.kernelAssert!('x');
    m.observer!.pageFreed!(1);
    expect(seen).toEqual(['1 x', '2 x', 'free']);
    d2();
    expect(m.observer!.pageFreed).toBeUndefined();
    d1();
    expect(m.observer).toBeNull();
  });
});

describe('kernel self-tests under the oracles (no false alarms)', () => {
  const picked = [
    'hmm.hmm_device_private.anon_write_child',
    'hmm.hmm_device_private.exclusive_cow',
    'hmm.hmm_device_private.migrate_partial_unmap_fault',
    'hmm.hmm_device_coherent.anon_teardown',
    'hmm2.hmm2_device_private.double_map',
  ];
  for (const name of picked) {
    it(name, async () => {
      const c = listSelftests().find((t) => t.name === name)!;
      const violations: string[] = [];
      const instances: OracleInstance[] = [];
      await c.run({
        onMachine: (machine) => {
          const ctx = { machine, violate: (o: string, m: string) => violations.push(`${o}: ${m}`) };
          for (const o of [mirrorOracle, useAfterFreeOracle, lostDataOracle, assertionOracle, livenessOracle])
            instances.push(o(ctx));
          machine.sched.onSwitch = () => {
            for (const i of instances) i.atSwitch?.();
          };
        },
      });
      for (const i of instances) i.atEnd?.();
      expect(violations).toEqual([]);
    });
  }
});
