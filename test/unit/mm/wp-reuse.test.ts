/**
 * Mainline's COW reuse of a PTE-mapped large anonymous folio ("mm: COW reuse support for
 * PTE-mapped THP with CONFIG_MM_ID", v6.15) against 6.12, which copies the page.
 */
import { describe, expect, it } from 'vitest';
import {
  FOLL_GET,
  FOLL_LONGTERM,
  FOLL_PIN,
  getUserPages,
  MAP_ANONYMOUS,
  MAP_FIXED,
  MAP_PRIVATE,
  mmapReadLock,
  mmapReadUnlock,
  PAGE_SIZE,
  PROT_READ,
  PROT_WRITE,
  putUserPage,
  unpinUserPage,
} from '../../../src/index.ts';
import type { KernelVersion } from '../../../src/mm/kernel.ts';
import { PG_anon_exclusive } from '../../../src/mm/page-flags.ts';
import { KiB, pteAt, smallMachine } from './helpers.ts';

const P = PAGE_SIZE;
const A = 0x4000_0000;

/** A 64 kB folio written by the process, COW-shared with a child that has exited again. */
async function previouslyShared(kernelVersion: KernelVersion) {
  const m = smallMachine({ thp: 'never', kernelVersion });
  m.thpSizes.set(64, 'always');
  const p = await m.createProcess();
  await p.mmap(A, 64 * KiB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
  await p.write(A, new Uint8Array(64 * KiB).fill(1));
  const head = pteAt(m, p.mm, A).pfn;
  expect(m.pm.order[head]).toBe(4);
  const child = await p.fork();
  await child.exit();
  for (let i = 0; i < 16; i++) expect(m.pm.flags[head + i]! & PG_anon_exclusive).toBe(0);
  return { m, p, head };
}

describe('COW of a PTE-mapped large folio only this mm maps', () => {
  it('mainline reuses the page in place (that page exclusive, its PTE writable); 6.12 copies it', async () => {
    for (const [kernelVersion, reused] of [
      ['mainline', true],
      ['6.12', false],
    ] as const) {
      const { m, p, head } = await previouslyShared(kernelVersion);
      await p.write(A + 3 * P, Uint8Array.of(9));
      const e = pteAt(m, p.mm, A + 3 * P);
      expect(e.write).toBe(true);
      expect(e.pfn === head + 3).toBe(reused);
      expect(m.pm.flags[e.pfn]! & PG_anon_exclusive).not.toBe(0);
      // Only the written page: its neighbours stay read-only and not exclusive.
      expect(pteAt(m, p.mm, A + 4 * P).write).toBe(false);
      expect(m.pm.flags[head + 4]! & PG_anon_exclusive).toBe(0);
      expect((await p.read(A + 3 * P, 2))[0]).toBe(9);
    }
  });

  it('no reuse while another mm maps the folio', async () => {
    const { m, p, head } = await previouslyShared('mainline');
    const child = await p.fork();
    await p.write(A, Uint8Array.of(2));
    expect(pteAt(m, p.mm, A).pfn).not.toBe(head);
    expect((await child.read(A, 1))[0]).toBe(1);
  });

  it('no reuse with a reference that is not a mapping (a FOLL_GET reference, as vmsplice takes)', async () => {
    const { m, p, head } = await previouslyShared('mainline');
    await mmapReadLock(p.mm);
    const got = await getUserPages(p.mm, A + 5 * P, 1, FOLL_GET);
    mmapReadUnlock(p.mm);
    if (typeof got === 'number') throw new Error(`GUP failed: ${got}`);
    await p.write(A + 6 * P, Uint8Array.of(3));
    expect(pteAt(m, p.mm, A + 6 * P).pfn).not.toBe(head + 6);
    putUserPage(p.mm, got[0]!);
  });

  it('a R/O long-term pin unshares by reuse in mainline: same page, marked exclusive, still read-only', async () => {
    for (const [kernelVersion, reused] of [
      ['mainline', true],
      ['6.12', false],
    ] as const) {
      const { m, p, head } = await previouslyShared(kernelVersion);
      await mmapReadLock(p.mm);
      const pages = await getUserPages(p.mm, A + 2 * P, 1, FOLL_PIN | FOLL_LONGTERM);
      mmapReadUnlock(p.mm);
      if (typeof pages === 'number') throw new Error(`pin failed: ${pages}`);
      const e = pteAt(m, p.mm, A + 2 * P);
      expect(e.write).toBe(false);
      expect(pages[0]).toBe(e.pfn);
      expect(e.pfn === head + 2).toBe(reused);
      expect(m.pm.flags[e.pfn]! & PG_anon_exclusive).not.toBe(0);
      unpinUserPage(p.mm, pages[0]!);
    }
  });
});
