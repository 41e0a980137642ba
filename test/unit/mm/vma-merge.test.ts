/**
 * Where mmap places anonymous memory and which VMAs it merges (mm/mmap.c `__get_unmapped_area`,
 * mm/vma.c `vma_merge_new_range`), as Linux 6.12 and mainline do: the kernel oracle's fuzz found
 * both (fuzz-1-167).
 */
import { describe, expect, it } from 'vitest';
import {
  MAP_ANONYMOUS,
  MAP_FIXED,
  MAP_HUGETLB,
  MAP_POPULATE,
  MAP_PRIVATE,
  MAP_SHARED,
  MMAP_BASE,
  PAGE_SIZE,
  PMD_SIZE,
  PROT_EXEC,
  PROT_READ,
  PROT_WRITE,
} from '../../../src/index.ts';
import { leafAt, smallMachine } from './helpers.ts';

const RW = PROT_READ | PROT_WRITE;
const ANON = MAP_PRIVATE | MAP_ANONYMOUS;
const P = PAGE_SIZE;

async function boot() {
  const m = smallMachine({ memory: 64 * 1024 * 1024 });
  const p = await m.createProcess();
  return { m, p };
}

const layout = (p: { mm: { vmas: { start: number; end: number }[] } }) =>
  p.mm.vmas.map((v) => [v.start, v.end]);

describe('anonymous mmap merges with adjacent VMAs (vma_merge_new_range)', () => {
  it('a new mapping right below a faulted one joins it and its anon_vma, so fork copies its zero page', async () => {
    // The fuzz-1-167 scenario: a populated 15-page mapping, a 1-page mapping placed right below
    // it and read (the zero page), a fork: in Linux the child's snapshot sees ZERO|READ there.
    const { m, p } = await boot();
    const a = await p.mmap(0, 15 * P, RW, ANON | MAP_POPULATE, -1, 0);
    expect(a).toBe(MMAP_BASE - 15 * P);
    const b = await p.mmap(0, P, RW, ANON, -1, 0);
    expect(b).toBe(a - P);
    expect(layout(p)).toEqual([[b, a + 15 * P]]);
    await p.load32(b);
    const child = await p.fork();
    const leaf = leafAt(m, child.mm, b);
    expect([leaf.level, leaf.special, m.pm.isZeroPfn(leaf.pfn)]).toEqual([1, true, true]);
  });

  it('a mapping filling the gap between two joins both into one VMA', async () => {
    const { p } = await boot();
    const base = 0x4000_0000;
    expect(await p.mmap(base, 4 * P, RW, ANON | MAP_FIXED, -1, 0)).toBe(base);
    expect(await p.mmap(base + 8 * P, 4 * P, RW, ANON | MAP_FIXED, -1, 0)).toBe(base + 8 * P);
    await p.store32(base + 9 * P, 1); // only the upper one has an anon_vma
    expect(layout(p)).toEqual([
      [base, base + 4 * P],
      [base + 8 * P, base + 12 * P],
    ]);
    expect(await p.mmap(base + 4 * P, 4 * P, RW, ANON | MAP_FIXED, -1, 0)).toBe(base + 4 * P);
    expect(layout(p)).toEqual([[base, base + 12 * P]]);
    const vma = p.mm.vmas[0]!;
    expect(vma.anonVma).not.toBeNull(); // dup_anon_vma: the lower VMA took the upper one's
    expect(vma.anonVma!.vmas.has(vma)).toBe(true);
    expect(vma.anonVma!.vmas.size).toBe(1);
    expect(await p.load32(base + 9 * P)).toBe(1);
  });

  it('does not merge across different protections, shared memory, or the charge an mprotect left', async () => {
    const { p } = await boot();
    const base = 0x4000_0000;
    expect(await p.mmap(base, 2 * P, RW, ANON | MAP_FIXED, -1, 0)).toBe(base);
    expect(await p.mmap(base + 2 * P, 2 * P, PROT_READ, ANON | MAP_FIXED, -1, 0)).toBe(base + 2 * P);
    expect(await p.mmap(base + 4 * P, 2 * P, RW, MAP_SHARED | MAP_ANONYMOUS | MAP_FIXED, -1, 0)).toBe(
      base + 4 * P,
    );
    expect(p.mm.vmas.length).toBe(3);
    // RW then read-only keeps VM_ACCOUNT (mprotect_fixup), so a new read-only mapping (never
    // charged) next to it differs in its flags and stays apart.
    const c = 0x5000_0000;
    expect(await p.mmap(c, 2 * P, RW, ANON | MAP_FIXED, -1, 0)).toBe(c);
    expect(await p.mprotect(c, 2 * P, PROT_READ)).toBe(0);
    expect(await p.mmap(c + 2 * P, 2 * P, PROT_READ, ANON | MAP_FIXED, -1, 0)).toBe(c + 2 * P);
    expect(layout(p).filter(([s]) => s! >= c)).toEqual([
      [c, c + 2 * P],
      [c + 2 * P, c + 4 * P],
    ]);
  });

  it("does not join a fork child's VMA that has an anon_vma (its chain holds the parent's)", async () => {
    const { p } = await boot();
    const base = 0x4000_0000;
    expect(await p.mmap(base, 2 * P, RW, ANON | MAP_FIXED, -1, 0)).toBe(base);
    expect(await p.mmap(base + 8 * P, 2 * P, RW, ANON | MAP_FIXED, -1, 0)).toBe(base + 8 * P);
    await p.store32(base, 1);
    const child = await p.fork();
    // Below the faulted, inherited VMA: no merge. Below the untouched one: merge.
    expect(await child.mmap(base + 2 * P, 2 * P, RW, ANON | MAP_FIXED, -1, 0)).toBe(base + 2 * P);
    expect(await child.mmap(base + 6 * P, 2 * P, RW, ANON | MAP_FIXED, -1, 0)).toBe(base + 6 * P);
    expect(layout(child)).toEqual([
      [base, base + 2 * P],
      [base + 2 * P, base + 4 * P],
      [base + 6 * P, base + 10 * P],
    ]);
  });
});

describe('anonymous mappings of whole 2 MiB blocks are 2 MiB aligned (thp_get_unmapped_area)', () => {
  it('a 2 MiB or 4 MiB mapping without a hint starts on a 2 MiB boundary; other lengths do not move', async () => {
    const { p } = await boot();
    const small = await p.mmap(0, P, RW, ANON, -1, 0);
    expect(small).toBe(MMAP_BASE - P);
    // The padded search finds [MMAP_BASE - P - 4 MiB, MMAP_BASE - P); its start rounds up.
    const two = await p.mmap(0, PMD_SIZE, RW, ANON, -1, 0);
    expect(two).toBe(MMAP_BASE - 2 * PMD_SIZE);
    // The padded area [two - 6 MiB, two) is aligned already: the mapping takes its top.
    const four = await p.mmap(0, 2 * PMD_SIZE, RW, ANON, -1, 0);
    expect(four).toBe(two - 2 * PMD_SIZE);
    const odd = await p.mmap(0, PMD_SIZE + P, RW, ANON, -1, 0);
    expect(odd).toBe(four - PMD_SIZE - P);
    const hinted = await p.mmap(0x3000_1000, PMD_SIZE, RW, ANON, -1, 0);
    expect(hinted).toBe(0x3000_1000);
    const shared = await p.mmap(0, PMD_SIZE, RW, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    expect(shared).toBe(odd - PMD_SIZE);
    expect(shared % PMD_SIZE).not.toBe(0);
  });

  it('a 2 MiB hugetlb mapping does not take a gap of exactly 2 MiB (the search adds the alignment)', async () => {
    // The kernel oracle's fuzz-3-93: unmapped_area_topdown looks for len + align_mask bytes.
    const m = smallMachine({ memory: 64 * 1024 * 1024, hugetlbPages: 1 });
    const p = await m.createProcess();
    const a = await p.mmap(0, 3 * PMD_SIZE, RW, ANON, -1, 0);
    expect(a).toBe(MMAP_BASE - 3 * PMD_SIZE);
    expect(await p.munmap(a + 2 * PMD_SIZE, PMD_SIZE)).toBe(0);
    const h = await p.mmap(0, PMD_SIZE, RW, ANON | MAP_HUGETLB, -1, 0);
    expect(h).toBe(a - PMD_SIZE);
  });
});

describe('mprotect merges with the neighbours (vma_merge_existing_range) as each kernel version does', () => {
  const RWX = RW | PROT_EXEC;
  /** A 6-page mapping whose pages `faulted` are written; `mid` (2..3) is RWX, then RW again. */
  async function split(kernelVersion: '6.12' | 'mainline', faulted: number[], child = false) {
    const m = smallMachine({ memory: 64 * 1024 * 1024, kernelVersion });
    let p = await m.createProcess();
    const a = await p.mmap(0, 6 * P, RW, ANON, -1, 0);
    expect(await p.mprotect(a + 2 * P, 2 * P, RWX)).toBe(0);
    for (const i of faulted) await p.store32(a + i * P, 1);
    if (child) p = await p.fork();
    expect(await p.mprotect(a + 2 * P, 2 * P, RW)).toBe(0);
    return { p, a };
  }

  it('a faulted VMA merges into unfaulted neighbours in mainline only (879bca0a2c4f)', async () => {
    for (const version of ['6.12', 'mainline'] as const) {
      const { p, a } = await split(version, [2]);
      expect([version, layout(p)]).toEqual([
        version,
        version === '6.12'
          ? [
              [a, a + 2 * P],
              [a + 2 * P, a + 4 * P],
              [a + 4 * P, a + 6 * P],
            ]
          : [[a, a + 6 * P]],
      ]);
    }
  });

  it('an unfaulted VMA merges with faulted neighbours in both (their chains are singular)', async () => {
    for (const version of ['6.12', 'mainline'] as const) {
      const { p, a } = await split(version, [0]);
      expect([version, layout(p)]).toEqual([version, [[a, a + 6 * P]]]);
    }
  });

  it("neither merges a fork child's faulted VMA with an unfaulted one (anon_vmas cloned from the parent)", async () => {
    for (const version of ['6.12', 'mainline'] as const) {
      const { p, a } = await split(version, [2], true);
      expect([version, layout(p).length]).toEqual([version, 3]);
      expect(layout(p)[0]).toEqual([a, a + 2 * P]);
    }
  });

  it('both neighbours faulted with different anon_vmas: only the previous one merges', async () => {
    for (const version of ['6.12', 'mainline'] as const) {
      const { p, a } = await split(version, [0, 5]);
      expect([version, layout(p)]).toEqual([
        version,
        [
          [a, a + 4 * P],
          [a + 4 * P, a + 6 * P],
        ],
      ]);
    }
  });
});
