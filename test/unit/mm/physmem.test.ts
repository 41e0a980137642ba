import { describe, expect, it } from 'vitest';
import { HPAGE_PMD_NR, HPAGE_PMD_ORDER, PAGE_SIZE } from '../../../src/mm/constants.ts';
import { PG_allocated, PG_anon, PG_hasdata, PG_head, PG_reserved } from '../../../src/mm/page-flags.ts';
import {
  FRAME_METADATA_BYTES,
  HUGE_ZERO_PFN,
  indexDelta,
  PhysMem,
  ZERO_PFN,
} from '../../../src/mm/physmem.ts';
import { UsageError } from '../../../src/sim/errors.ts';
import { MiB, pattern } from './helpers.ts';

/** 16 MiB: 8 blocks of 2 MiB, two of them reserved (zero page, huge zero folio). */
function mem(): PhysMem {
  return new PhysMem(16 * MiB);
}

describe('PhysMem layout', () => {
  it('rounds RAM down to 2 MiB blocks and reserves the zero page and the huge zero folio', () => {
    const pm = new PhysMem(16 * MiB + 3 * PAGE_SIZE);
    expect(pm.ramFrames).toBe(8 * HPAGE_PMD_NR);
    expect(pm.nrFrames).toBe(8 * HPAGE_PMD_NR);
    expect(pm.freeFrames).toBe(6 * HPAGE_PMD_NR);
    expect(pm.flags[ZERO_PFN]! & PG_reserved).toBe(PG_reserved);
    expect(pm.isZeroPfn(ZERO_PFN)).toBe(true);
    expect(pm.isZeroPfn(HUGE_ZERO_PFN + 511)).toBe(true);
    expect(pm.isZeroPfn(HUGE_ZERO_PFN + 512)).toBe(false);
    expect(pm.order[HUGE_ZERO_PFN + 7]).toBe(HPAGE_PMD_ORDER);
    expect(pm.folioHead(HUGE_ZERO_PFN + 7)).toBe(HUGE_ZERO_PFN);
    expect(pm.folioNrPages(HUGE_ZERO_PFN + 7)).toBe(HPAGE_PMD_NR);
    expect(pm.flags[HUGE_ZERO_PFN]! & PG_head).toBe(PG_head);
    expect(pm.readableBytes(ZERO_PFN)).toEqual(new Uint8Array(PAGE_SIZE));
  });

  it('refuses less than four 2 MiB blocks with a UsageError naming the option', () => {
    expect(() => new PhysMem(8 * MiB - 1)).toThrow(UsageError);
    expect(() => new PhysMem(Number.NaN)).toThrow(/memory/);
    expect(new PhysMem(8 * MiB).freeFrames).toBe(2 * HPAGE_PMD_NR);
  });

  it('keeps at most 32 bytes of metadata per frame, measured from the typed arrays themselves', () => {
    expect(FRAME_METADATA_BYTES).toBeLessThanOrEqual(32);
    const pm = new PhysMem(8 * MiB);
    const arrays = [
      pm.refcount,
      pm.mapcount,
      pm.entireMapcount,
      pm.flags,
      pm.mapping,
      pm.index,
      pm.private,
      pm.order,
    ];
    const bytes = arrays.reduce((sum, a) => sum + a.byteLength, 0) / pm.nrFrames;
    expect(bytes).toBe(29);
  });

  it('stores page indices modulo 2^32 and recovers distances from a VMA pgoff exactly', () => {
    const pm = new PhysMem(8 * MiB);
    const vpn = 0x7f00_0000_0000 / 4096 + 5; // above 2^32
    pm.index[3] = vpn;
    expect(indexDelta(pm.index[3]!, vpn - 5)).toBe(5);
    expect(indexDelta(pm.index[3]!, vpn + 7)).toBe(-7);
  });
});

describe('page allocator', () => {
  it('order 0: one reference, PG_allocated, distinct frames, counted', () => {
    const pm = mem();
    const free = pm.freeFrames;
    const a = pm.allocPages(0);
    const b = pm.allocPages(0);
    expect(a).not.toBe(b);
    for (const p of [a, b]) {
      expect(p).toBeGreaterThanOrEqual(2 * HPAGE_PMD_NR);
      expect(p).toBeLessThan(pm.ramFrames);
      expect(pm.refcount[p]).toBe(1);
      expect(pm.flags[p]).toBe(PG_allocated);
      expect(pm.order[p]).toBe(0);
      expect(pm.mapcount[p]).toBe(0);
    }
    expect(pm.freeFrames).toBe(free - 2);
    expect(pm.allocations).toBe(2);
  });

  it('order 9: an aligned block, order stored on every page, PG_head and the reference on the head', () => {
    const pm = mem();
    const free = pm.freeFrames;
    const head = pm.allocPages(HPAGE_PMD_ORDER);
    expect(head % HPAGE_PMD_NR).toBe(0);
    expect(pm.refcount[head]).toBe(1);
    expect(pm.refcount[head + 1]).toBe(0);
    expect(pm.flags[head]).toBe(PG_allocated | PG_head);
    expect(pm.flags[head + 511]).toBe(PG_allocated);
    expect(pm.order[head + 511]).toBe(HPAGE_PMD_ORDER);
    expect(pm.folioHead(head + 300)).toBe(head);
    expect(pm.freeFrames).toBe(free - HPAGE_PMD_NR);
  });

  it('rejects orders above 9 and non-integer orders', () => {
    expect(() => mem().allocPages(10)).toThrow(UsageError);
    expect(() => mem().allocPages(1.5)).toThrow(UsageError);
  });

  it('allocates naturally aligned multi-size folios (orders 1-8) inside partly used blocks first', () => {
    const pm = mem();
    const free = pm.freeFrames;
    const small = pm.allocPages(0);
    const a = pm.allocPages(4);
    expect(a % 16).toBe(0);
    // Same 2 MiB block as the small page: a partly used block is split before a free one.
    expect(Math.floor(a / HPAGE_PMD_NR)).toBe(Math.floor(small / HPAGE_PMD_NR));
    expect(pm.order[a + 15]).toBe(4);
    expect(pm.folioHead(a + 9)).toBe(a);
    expect(pm.flags[a]).toBe(PG_allocated | PG_head);
    expect(pm.refcount[a]).toBe(1);
    const b = pm.allocPages(8);
    expect(b % 256).toBe(0);
    expect(pm.freeFrames).toBe(free - 1 - 16 - 256);
    // Every frame of one folio differs from every other allocation.
    expect(b + 255 < a || b > a + 15).toBe(true);
    pm.freePages(a);
    pm.freePages(b);
    pm.freePages(small);
    expect(pm.freeFrames).toBe(free);
    expect(pm.order[a + 15]).toBe(0);
    // Every free frame is in a whole 2 MiB block again.
    const heads: number[] = [];
    for (let h = pm.allocPages(HPAGE_PMD_ORDER); h !== 0; h = pm.allocPages(HPAGE_PMD_ORDER)) heads.push(h);
    expect(heads.length * HPAGE_PMD_NR).toBe(free);
  });

  it('returns 0 cleanly when memory is exhausted, and freeing restores every count', () => {
    const pm = mem();
    const total = pm.freeFrames;
    const got: number[] = [];
    for (let p = pm.allocPages(0); p !== 0; p = pm.allocPages(0)) got.push(p);
    expect(got.length).toBe(total);
    expect(new Set(got).size).toBe(total);
    expect(pm.freeFrames).toBe(0);
    expect(pm.allocPages(0)).toBe(0);
    expect(pm.allocPages(HPAGE_PMD_ORDER)).toBe(0);
    for (const p of got) pm.freePages(p);
    expect(pm.freeFrames).toBe(total);
    // Whole blocks came back: every one can be allocated as a THP again.
    const heads: number[] = [];
    for (let h = pm.allocPages(HPAGE_PMD_ORDER); h !== 0; h = pm.allocPages(HPAGE_PMD_ORDER)) heads.push(h);
    expect(heads.length).toBe(total / HPAGE_PMD_NR);
    for (const h of heads) pm.freePages(h);
    expect(pm.freeFrames).toBe(total);
  });

  it('one used page in a block keeps that block from order-9 allocations, not from order-0 ones', () => {
    const pm = mem();
    const small = pm.allocPages(0);
    const heads: number[] = [];
    for (let h = pm.allocPages(HPAGE_PMD_ORDER); h !== 0; h = pm.allocPages(HPAGE_PMD_ORDER)) heads.push(h);
    expect(heads.length).toBe(5);
    expect(heads.every((h) => Math.floor(h / HPAGE_PMD_NR) !== Math.floor(small / HPAGE_PMD_NR))).toBe(true);
    expect(pm.freeFrames).toBe(HPAGE_PMD_NR - 1);
    const next = pm.allocPages(0);
    expect(Math.floor(next / HPAGE_PMD_NR)).toBe(Math.floor(small / HPAGE_PMD_NR));
    pm.freePages(small);
    pm.freePages(next);
    expect(pm.allocPages(HPAGE_PMD_ORDER)).not.toBe(0);
  });

  it('order-0 allocations fill a partly used block before breaking a free one', () => {
    const pm = mem();
    const first = pm.allocPages(0);
    const block = Math.floor(first / HPAGE_PMD_NR);
    for (let i = 1; i < HPAGE_PMD_NR; i++) expect(Math.floor(pm.allocPages(0) / HPAGE_PMD_NR)).toBe(block);
    expect(Math.floor(pm.allocPages(0) / HPAGE_PMD_NR)).not.toBe(block);
  });

  it('freeing clears the metadata; a double free, a reserved frame and a device frame throw', () => {
    const pm = mem();
    const p = pm.allocPages(0);
    pm.flags[p]! |= PG_anon;
    pm.mapping[p] = 5;
    pm.index[p] = 9;
    pm.freePages(p);
    expect([pm.refcount[p], pm.flags[p], pm.mapping[p], pm.index[p]]).toEqual([0, 0, 0, 0]);
    expect(() => pm.freePages(p)).toThrow(/double free/);
    expect(() => pm.freePages(ZERO_PFN)).toThrow(/reserved/);
    const dev = pm.addFrames(4);
    pm.flags[dev] = PG_allocated;
    expect(() => pm.freePages(dev)).toThrow(/device memory/);
    const h = pm.allocPages(HPAGE_PMD_ORDER);
    pm.freePages(h);
    expect(() => pm.freePages(h)).toThrow(UsageError);
  });

  it('splitFolioMetadata makes every page of a large folio an order-0 page with its own data bit', () => {
    const pm = mem();
    const h = pm.allocPages(HPAGE_PMD_ORDER);
    for (let i = 0; i < HPAGE_PMD_NR; i++) pm.flags[h + i]! |= PG_anon;
    pm.writeBytes(h + 3, 0, pattern(4), 0, 4);
    pm.splitFolioMetadata(h);
    expect(pm.order[h]).toBe(0);
    expect(pm.order[h + 511]).toBe(0);
    expect(pm.flags[h]! & PG_head).toBe(0);
    expect(pm.flags[h + 3]! & (PG_anon | PG_hasdata)).toBe(PG_anon | PG_hasdata);
    expect(pm.flags[h + 4]! & PG_hasdata).toBe(0);
    expect(pm.folioHead(h + 3)).toBe(h + 3);
    // Freed page by page, the block becomes whole again.
    const free = pm.freeFrames;
    for (let i = 0; i < HPAGE_PMD_NR; i++) pm.freePages(h + i);
    expect(pm.freeFrames).toBe(free + HPAGE_PMD_NR);
    const heads: number[] = [];
    for (let x = pm.allocPages(HPAGE_PMD_ORDER); x !== 0; x = pm.allocPages(HPAGE_PMD_ORDER)) heads.push(x);
    expect(heads).toContain(h);
    expect(heads.length).toBe(6);
  });
});

describe('page contents', () => {
  it('an untouched frame reads as zeros and stores nothing', () => {
    const pm = mem();
    const p = pm.allocPages(0);
    expect(pm.hasData(p)).toBe(false);
    expect(pm.readableBytes(p)).toEqual(new Uint8Array(PAGE_SIZE));
    const dst = new Uint8Array(16).fill(0xff);
    pm.readBytes(p, 100, dst, 4, 8);
    expect(Array.from(dst)).toEqual([255, 255, 255, 255, 0, 0, 0, 0, 0, 0, 0, 0, 255, 255, 255, 255]);
  });

  it('writeBytes / readBytes at offsets; the rest of the page reads as zeros', () => {
    const pm = mem();
    const p = pm.allocPages(0);
    pm.writeBytes(p, 4000, pattern(200), 100, 96);
    expect(pm.hasData(p)).toBe(true);
    const out = new Uint8Array(96);
    pm.readBytes(p, 4000, out, 0, 96);
    expect(out).toEqual(pattern(200).subarray(100, 196));
    expect(pm.readableBytes(p).subarray(0, 4000)).toEqual(new Uint8Array(4000));
  });

  it('a frame reused after free or clearPage reads as zeros, even where it was partly rewritten', () => {
    const pm = mem();
    const p = pm.allocPages(0);
    pm.writeBytes(p, 0, pattern(PAGE_SIZE, 3), 0, PAGE_SIZE);
    pm.clearPage(p);
    expect(pm.readableBytes(p)).toEqual(new Uint8Array(PAGE_SIZE));
    pm.writeBytes(p, 10, new Uint8Array([1]), 0, 1);
    const want = new Uint8Array(PAGE_SIZE);
    want[10] = 1;
    expect(pm.readableBytes(p)).toEqual(want);
    pm.writeBytes(p, 0, pattern(PAGE_SIZE, 3), 0, PAGE_SIZE);
    pm.freePages(p);
    const q = pm.allocPages(0);
    expect(q).toBe(p);
    expect(pm.readableBytes(q)).toEqual(new Uint8Array(PAGE_SIZE));
    expect(pm.writableBytes(q)).toEqual(new Uint8Array(PAGE_SIZE));
  });

  it('copyPage copies contents, and copying a page without data clears the destination', () => {
    const pm = mem();
    const a = pm.allocPages(0);
    const b = pm.allocPages(0);
    const c = pm.allocPages(0);
    pm.writeBytes(a, 0, pattern(PAGE_SIZE, 8), 0, PAGE_SIZE);
    pm.copyPage(b, a);
    expect(pm.readableBytes(b)).toEqual(pattern(PAGE_SIZE, 8));
    pm.writeBytes(a, 0, new Uint8Array([0]), 0, 1);
    expect(pm.readableBytes(b)[0]).toBe(8); // a copy, not a view
    pm.copyPage(b, c);
    expect(pm.hasData(b)).toBe(false);
    expect(pm.readableBytes(b)).toEqual(new Uint8Array(PAGE_SIZE));
  });
});

describe('addFrames (ZONE_DEVICE ranges)', () => {
  it('adds frames above RAM on a 2 MiB boundary, keeping existing metadata and the free count', () => {
    const pm = mem();
    const p = pm.allocPages(0);
    pm.mapcount[p] = 3;
    const free = pm.freeFrames;
    const first = pm.addFrames(10);
    expect(first).toBe(pm.ramFrames);
    expect(pm.nrFrames).toBe(pm.ramFrames + HPAGE_PMD_NR);
    expect(pm.ramFrames).toBe(8 * HPAGE_PMD_NR);
    expect(pm.freeFrames).toBe(free);
    expect(pm.refcount[p]).toBe(1);
    expect(pm.mapcount[p]).toBe(3);
    expect([pm.refcount[first + 9], pm.flags[first + 9], pm.order[first + 9]]).toEqual([0, 0, 0]);
    const second = pm.addFrames(HPAGE_PMD_NR + 1);
    expect(second).toBe(first + HPAGE_PMD_NR);
    expect(pm.nrFrames).toBe(second + 2 * HPAGE_PMD_NR);
    // Device frames hold contents too (device memory the simulation reads and writes).
    pm.writeBytes(second + 1, 0, pattern(8), 0, 8);
    expect(pm.readableBytes(second + 1).subarray(0, 8)).toEqual(pattern(8));
  });

  it('room reserved at boot for device frames: the same pfns and metadata, the arrays not copied', () => {
    const plain = mem();
    const sized = new PhysMem(16 * MiB, null, 3 * HPAGE_PMD_NR + 1);
    for (const pm of [plain, sized]) pm.mapcount[pm.allocPages(0)] = 3;
    const flags = sized.flags;
    const firsts = [plain, sized].map((pm) => [pm.addFrames(10), pm.addFrames(2 * HPAGE_PMD_NR + 1)]);
    expect(firsts[1]).toEqual(firsts[0]);
    expect(sized.nrFrames).toBe(plain.nrFrames);
    expect(sized.flags.buffer).toBe(flags.buffer);
    expect(plain.flags.buffer).not.toBe(flags.buffer);
    for (const k of ['refcount', 'mapcount', 'flags', 'order'] as const) expect(sized[k]).toEqual(plain[k]);
    // More than was reserved still works (the arrays are copied then).
    expect(sized.addFrames(2 * HPAGE_PMD_NR)).toBe(plain.addFrames(2 * HPAGE_PMD_NR));
    expect(sized.flags.buffer).not.toBe(flags.buffer);
    expect(sized.mapcount).toEqual(plain.mapcount);
  });

  it('the allocator never hands out device frames', () => {
    const pm = mem();
    pm.addFrames(HPAGE_PMD_NR);
    let max = 0;
    for (let p = pm.allocPages(0); p !== 0; p = pm.allocPages(0)) max = Math.max(max, p);
    expect(max).toBeLessThan(pm.ramFrames);
  });
});
