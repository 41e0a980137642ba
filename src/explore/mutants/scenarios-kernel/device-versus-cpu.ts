/**
 * Kernel scenarios of dmirror against the CPU: a device READ or SNAPSHOT racing munmap, mprotect
 * or a mixed-map insertion.
 * @module
 */
import {
  HMM_DMIRROR_PROT_ERROR,
  HMM_DMIRROR_PROT_NONE,
  HMM_DMIRROR_PROT_WRITE,
} from '../../../devices/dmirror/uapi.ts';
import {
  MAP_FIXED,
  MAP_SHARED,
  PAGE_SIZE,
  PROT_NONE,
  PROT_READ,
  PROT_WRITE,
  VM_MIXEDMAP,
} from '../../../mm/constants.ts';
import { ensureEntry } from '../../../mm/page-table.ts';
import { PTE_PRESENT, PTE_SPECIAL, PTE_YOUNG } from '../../../mm/pte.ts';
import type { Vma } from '../../../mm/vma.ts';
import { EFAULT, ENOMEM } from '../../../sim/errno.ts';
import type { Scenario } from '../../types.ts';
import { hex } from '../scenario-kit.ts';
import { checkWords, type DeviceState, deviceRead, deviceSetup, KERNEL_SCENARIO_MACHINE } from './kit.ts';

/**
 * The device READs a buffer while the CPU makes it inaccessible (mprotect PROT_NONE). A correct
 * kernel gives the device the data written or -EFAULT (the pages are requested and the VMA is not
 * readable). Kills H3: HMM_PFN_ERROR words come back with success and the driver maps them.
 */
export const deviceReadVersusMprotectNone: Scenario<DeviceState> = {
  name: 'kernel: device READ vs mprotect(PROT_NONE)',
  description: 'dmirror READ of 4 pages while the CPU mprotects them PROT_NONE',
  machine: KERNEL_SCENARIO_MACHINE,
  setup: (machine) => deviceSetup(machine, 4),
  threads: {
    device: (s) => deviceRead(s),
    cpu: async (s) => {
      const r = await s.process.mprotect(s.addr, s.npages * PAGE_SIZE, PROT_NONE);
      if (r !== 0) throw new Error(`mprotect returned ${r}`);
    },
  },
  check(s) {
    if (s.ret === -EFAULT) return;
    if (s.ret !== 0) throw new Error(`device READ returned ${s.ret}, expected 0 or -EFAULT`);
    checkWords(s);
  },
  stepBudget: 20_000,
};

/**
 * The device takes a SNAPSHOT of a buffer while the CPU unmaps it. Each page must read as mapped
 * (WRITE, before the munmap) or as an error (no VMA, after it). Kills H8: an address without
 * a VMA reads as HMM_DMIRROR_PROT_NONE, an empty but valid page.
 */
export const snapshotVersusMunmap: Scenario<DeviceState> = {
  name: 'kernel: device SNAPSHOT vs munmap',
  description: 'dmirror SNAPSHOT of 4 pages while the CPU munmaps them',
  machine: KERNEL_SCENARIO_MACHINE,
  setup: (machine) => deviceSetup(machine, 4),
  threads: {
    device: async (s) => {
      const r = await s.file.snapshot(s.addr, s.npages);
      s.ret = r.ret;
      if (r.ret === 0) s.got = [...r.prot];
    },
    cpu: async (s) => {
      const r = await s.process.munmap(s.addr, s.npages * PAGE_SIZE);
      if (r !== 0) throw new Error(`munmap returned ${r}`);
    },
  },
  check(s) {
    if (s.ret !== 0) throw new Error(`SNAPSHOT returned ${s.ret}, expected 0`);
    const mapped = HMM_DMIRROR_PROT_WRITE; // a present writable page
    for (let i = 0; i < s.npages; i++) {
      const m = s.got[i]!;
      if (m !== mapped && m !== HMM_DMIRROR_PROT_ERROR)
        throw new Error(
          `SNAPSHOT says page ${i} is ${hex(m)}: neither mapped (${hex(mapped)}) nor an error (no VMA)`,
        );
    }
  },
  stepBudget: 20_000,
};

/** The bytes of a SNAPSHOT, once returned with 0. */
async function deviceSnapshot(s: DeviceState): Promise<void> {
  const r = await s.file.snapshot(s.addr, s.npages);
  s.ret = r.ret;
  if (r.ret === 0) s.got = [...r.prot];
}

/**
 * The device SNAPSHOTs a buffer while the CPU makes it inaccessible (mprotect PROT_NONE). A
 * snapshot requests nothing, so an unreadable VMA reads as errors, never as a failure: each page
 * is mapped (WRITE) or an error. Kills H5: once the mprotect has landed, the walk returns -EFAULT
 * for the unreadable VMA without asking whether any page needed a fault.
 */
export const snapshotVersusMprotectNone: Scenario<DeviceState> = {
  name: 'kernel: device SNAPSHOT vs mprotect(PROT_NONE)',
  description: 'dmirror SNAPSHOT of 4 pages while the CPU mprotects them PROT_NONE',
  machine: KERNEL_SCENARIO_MACHINE,
  setup: (machine) => deviceSetup(machine, 4),
  threads: {
    device: (s) => deviceSnapshot(s),
    cpu: async (s) => {
      const r = await s.process.mprotect(s.addr, s.npages * PAGE_SIZE, PROT_NONE);
      if (r !== 0) throw new Error(`mprotect returned ${r}`);
    },
  },
  check(s) {
    if (s.ret !== 0) throw new Error(`SNAPSHOT returned ${s.ret}, expected 0 (a snapshot requests no page)`);
    for (let i = 0; i < s.npages; i++) {
      const m = s.got[i]!;
      if (m !== HMM_DMIRROR_PROT_WRITE && m !== HMM_DMIRROR_PROT_ERROR)
        throw new Error(`SNAPSHOT says page ${i} is ${hex(m)}: neither mapped nor an error`);
    }
  },
  stepBudget: 20_000,
};

/** A frame number with no struct page behind it (far above the scenario machine's RAM): a device BAR. */
const BAR_PFN = 0x10_0000;

/**
 * `vmf_insert_mixed` of a frame without a struct page on an architecture with pte_special: the
 * PTE is a special one (present, no reference, no mapcount; vm_normal_page() is NULL), and the
 * VMA becomes VM_MIXEDMAP. The caller holds the mmap lock for writing (the driver's mmap).
 */
function vmfInsertMixedRaw(vma: Vma, addr: number, pfn: number): number {
  const k = vma.mm.kernel;
  vma.flags |= VM_MIXEDMAP;
  const off = ensureEntry(k.pt, vma.mm.pgd, addr / PAGE_SIZE, 1);
  if (off < 0) return -ENOMEM;
  k.pt.words[off] = PTE_PRESENT | PTE_SPECIAL | PTE_YOUNG;
  k.pt.words[off + 1] = pfn;
  return 0;
}

/**
 * The device SNAPSHOTs a buffer while the program maps a device's doorbell page over its first
 * page (mmap MAP_FIXED of a driver file whose mmap inserts the BAR frame with vmf_insert_mixed:
 * a VM_MIXEDMAP VMA with a special PTE). A snapshot requests nothing: the doorbell page reads as
 * an error (no struct page), the rest as mapped. Kills H4: the special PTE fails the whole walk
 * with -EFAULT although no fault was requested.
 */
export const snapshotVersusMixedMap: Scenario<DeviceState> = {
  name: 'kernel: device SNAPSHOT vs mmap of a VM_MIXEDMAP doorbell page',
  description: 'dmirror SNAPSHOT of 2 pages while the CPU maps a raw device frame over page 0',
  machine: KERNEL_SCENARIO_MACHINE,
  setup: (machine) => deviceSetup(machine, 2),
  threads: {
    device: (s) => deviceSnapshot(s),
    cpu: async (s) => {
      const fd = s.process.openDevice({
        name: 'doorbell',
        mmap: (vma) => vmfInsertMixedRaw(vma, vma.start, BAR_PFN),
      });
      const a = await s.process.mmap(
        s.addr,
        PAGE_SIZE,
        PROT_READ | PROT_WRITE,
        MAP_SHARED | MAP_FIXED,
        fd,
        0,
      );
      if (a !== s.addr) throw new Error(`mmap of the doorbell returned ${a}`);
    },
  },
  check(s) {
    if (s.ret !== 0) throw new Error(`SNAPSHOT returned ${s.ret}, expected 0 (a snapshot requests no page)`);
    const p0 = s.got[0]!;
    if (p0 !== HMM_DMIRROR_PROT_WRITE && p0 !== HMM_DMIRROR_PROT_ERROR && p0 !== HMM_DMIRROR_PROT_NONE)
      throw new Error(`SNAPSHOT says page 0 is ${hex(p0)}: neither mapped, nor an error, nor empty`);
    if (s.got[1] !== HMM_DMIRROR_PROT_WRITE)
      throw new Error(`SNAPSHOT says page 1 is ${hex(s.got[1] ?? 0)}, expected mapped writable`);
  },
  stepBudget: 20_000,
};
