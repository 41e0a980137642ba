/** memremap_pages, the dev_pagemap registration checks, zone_device_page_init and the device page lifecycle. */
import { describe, expect, it } from 'vitest';
import {
  DevPagemap,
  type DevPagemapOps,
  isDeviceCoherentPage,
  isDevicePrivatePage,
  MEMORY_DEVICE_COHERENT,
  MEMORY_DEVICE_PRIVATE,
  memremapPages,
  memunmapPages,
  zoneDevicePageInit,
} from '../../../src/devmem/memremap.ts';
import {
  MIGRATE_PFN_COMPOUND,
  MIGRATE_PFN_MIGRATE,
  MIGRATE_PFN_SHIFT,
  MIGRATE_PFN_VALID,
  MIGRATE_PFN_WRITE,
  migratePfn,
  migratePfnToPage,
} from '../../../src/devmem/migrate-pfn.ts';
import { PG_allocated, PG_head, PG_locked, PG_zone_device } from '../../../src/mm/page-flags.ts';
import { unlockPage } from '../../../src/mm/page-lock.ts';
import { EINVAL } from '../../../src/sim/errno.ts';
import { UsageError } from '../../../src/sim/errors.ts';
import { newMachine } from './fake-device.ts';

const migrateToRam = async () => 0;

function ops(extra: Partial<DevPagemapOps> = {}): DevPagemapOps {
  return { pageFree: () => {}, migrateToRam, ...extra };
}

describe('memremapPages registration', () => {
  it('refuses an unknown type, a missing owner, missing ops and a bad size with -EINVAL', () => {
    const k = newMachine();
    const frames = k.pm.nrFrames;
    expect(memremapPages(k, new DevPagemap(3, 'o', ops(), 16))).toBe(-EINVAL);
    expect(memremapPages(k, new DevPagemap(MEMORY_DEVICE_PRIVATE, null, ops(), 16))).toBe(-EINVAL);
    expect(memremapPages(k, new DevPagemap(MEMORY_DEVICE_COHERENT, undefined, ops(), 16))).toBe(-EINVAL);
    expect(memremapPages(k, new DevPagemap(MEMORY_DEVICE_PRIVATE, 'o', { migrateToRam }, 16))).toBe(-EINVAL);
    // MEMORY_DEVICE_PRIVATE requires migrate_to_ram; COHERENT does not.
    expect(memremapPages(k, new DevPagemap(MEMORY_DEVICE_PRIVATE, 'o', { pageFree: () => {} }, 16))).toBe(
      -EINVAL,
    );
    expect(memremapPages(k, new DevPagemap(MEMORY_DEVICE_PRIVATE, 'o', ops(), 0))).toBe(-EINVAL);
    expect(memremapPages(k, new DevPagemap(MEMORY_DEVICE_PRIVATE, 'o', ops(), 1.5))).toBe(-EINVAL);
    // Nothing was added.
    expect(k.pm.nrFrames).toBe(frames);
    expect(k.devPagemaps).toHaveLength(0);
    expect(() => memremapPages(k, {} as DevPagemap)).toThrow(UsageError);
  });

  it('places each range above RAM on a 2 MiB boundary, all pages free ZONE_DEVICE pages', () => {
    const k = newMachine();
    const ram = k.pm.ramFrames;
    const a = new DevPagemap(MEMORY_DEVICE_PRIVATE, 'a', ops(), 100);
    const b = new DevPagemap(MEMORY_DEVICE_COHERENT, 'b', { pageFree: () => {} }, 600);
    const fa = memremapPages(k, a);
    const fb = memremapPages(k, b);
    expect(fa).toBe(ram); // 32 MiB of RAM = 8192 frames, already 512-aligned
    expect(a.pfnFirst).toBe(fa);
    // 100 pages occupy one 2 MiB block; the next range starts at the following block.
    expect(fb).toBe(ram + 512);
    expect(k.pm.nrFrames).toBe(ram + 512 + 1024);
    for (const pfn of [fa, fa + 99, fb, fb + 599]) {
      expect(k.pm.flags[pfn]).toBe(PG_zone_device);
      expect(k.pm.refcount[pfn]).toBe(0);
    }
    expect([isDevicePrivatePage(k, fa), isDeviceCoherentPage(k, fa)]).toEqual([true, false]);
    expect([isDevicePrivatePage(k, fb + 599), isDeviceCoherentPage(k, fb + 599)]).toEqual([false, true]);
    // RAM and the hole after a's 100 pages belong to no pagemap.
    expect([isDevicePrivatePage(k, ram - 1), isDeviceCoherentPage(k, ram - 1)]).toEqual([false, false]);
    expect(k.pgmapOf(fa + 100)).toBeNull();
    expect(k.pgmapOf(fb + 600)).toBeNull();
    expect(k.pgmapOf(fa + 5)?.owner).toBe('a');
    expect(k.pgmapOf(fb)?.isPrivate).toBe(false);
  });

  it('installs the long-term-pin migrator only once coherent memory exists', () => {
    const k = newMachine();
    memremapPages(k, new DevPagemap(MEMORY_DEVICE_PRIVATE, 'p', ops(), 8));
    expect(k.coherentMigrator).toBeNull();
    memremapPages(k, new DevPagemap(MEMORY_DEVICE_COHERENT, 'c', { pageFree: () => {} }, 8));
    expect(k.coherentMigrator).toBeTypeOf('function');
  });
});

describe('zoneDevicePageInit and freeing', () => {
  it('hands out a page with refcount 1, locked, holding a pgmap reference', () => {
    const k = newMachine();
    const pgmap = new DevPagemap(MEMORY_DEVICE_PRIVATE, 'o', ops(), 16);
    const first = memremapPages(k, pgmap);
    zoneDevicePageInit(k, pgmap, first + 3);
    expect(k.pm.refcount[first + 3]).toBe(1);
    expect(k.pm.flags[first + 3]).toBe(PG_zone_device | PG_allocated | PG_locked);
    expect(k.pm.order[first + 3]).toBe(0);
    expect(pgmap.refs).toBe(1);
    // A page in use cannot be initialised again.
    expect(() => zoneDevicePageInit(k, pgmap, first + 3)).toThrow(UsageError);
    expect(pgmap.refs).toBe(1);
  });

  it('calls pageFree when the last reference goes, clearing the page and the pgmap reference', () => {
    const k = newMachine();
    const freed: number[] = [];
    const pgmap = new DevPagemap(
      MEMORY_DEVICE_PRIVATE,
      'o',
      ops({ pageFree: (pm, pfn) => freed.push(pm === pgmap ? pfn : -1) }),
      16,
    );
    const first = memremapPages(k, pgmap);
    zoneDevicePageInit(k, pgmap, first);
    unlockPage(k, first);
    k.pm.mapping[first] = 7;
    k.pm.index[first] = 42;
    k.getPage(first);
    k.putPage(first);
    expect(freed).toEqual([]);
    expect(k.pm.refcount[first]).toBe(1);
    k.putPage(first);
    expect(freed).toEqual([first]);
    expect(k.pm.refcount[first]).toBe(0);
    expect(k.pm.flags[first]).toBe(PG_zone_device);
    expect([k.pm.mapping[first], k.pm.index[first]]).toEqual([0, 0]);
    expect(pgmap.refs).toBe(0);
    // Free again: the driver may hand it out anew.
    zoneDevicePageInit(k, pgmap, first);
    expect(pgmap.refs).toBe(1);
  });

  it('initialises a 2 MiB folio (order 9) and frees it through folioFree in one call', () => {
    const k = newMachine();
    const calls: [number, number][] = [];
    const pageFrees: number[] = [];
    const pgmap = new DevPagemap(
      MEMORY_DEVICE_PRIVATE,
      'o',
      ops({
        folioFree: (_pm, head, order) => calls.push([head, order]),
        pageFree: (_pm, pfn) => pageFrees.push(pfn),
      }),
      1024,
    );
    const first = memremapPages(k, pgmap);
    const head = first + 512;
    zoneDevicePageInit(k, pgmap, head, 9);
    expect(k.pm.flags[head]).toBe(PG_zone_device | PG_allocated | PG_head | PG_locked);
    expect(k.pm.flags[head + 511]).toBe(PG_zone_device | PG_allocated);
    expect([k.pm.order[head], k.pm.order[head + 511], k.pm.order[head - 1]]).toEqual([9, 9, 0]);
    expect(k.pm.folioHead(head + 300)).toBe(head);
    expect([k.pm.refcount[head], k.pm.refcount[head + 1]]).toEqual([1, 0]);
    // One pgmap reference per page of the folio (percpu_ref_tryget_many(…, 1 << order)).
    expect(pgmap.refs).toBe(512);
    k.putPage(head + 17); // a reference to any page is a reference to the folio
    expect(calls).toEqual([[head, 9]]);
    expect(pageFrees).toEqual([]);
    expect(k.pm.flags[head]).toBe(PG_zone_device);
    expect(k.pm.flags[head + 511]).toBe(PG_zone_device);
    expect(pgmap.refs).toBe(0);
  });

  it('memunmapPages refuses while pages are in use, then removes the range', () => {
    const k = newMachine();
    const pgmap = new DevPagemap(MEMORY_DEVICE_PRIVATE, 'o', ops(), 16);
    const first = memremapPages(k, pgmap);
    zoneDevicePageInit(k, pgmap, first + 1);
    expect(() => memunmapPages(k, pgmap)).toThrow(/1 device pages are still in use/);
    expect(k.pgmapOf(first)).not.toBeNull();
    k.putPage(first + 1);
    memunmapPages(k, pgmap);
    expect(pgmap.dead).toBe(true);
    expect(k.pgmapOf(first)).toBeNull();
    expect(k.devPagemaps).toHaveLength(0);
  });
});

describe('migrate-pfn words', () => {
  it('keep the pfn above six flag bits with the kernel values', () => {
    expect([
      MIGRATE_PFN_VALID,
      MIGRATE_PFN_MIGRATE,
      MIGRATE_PFN_WRITE,
      MIGRATE_PFN_COMPOUND,
      MIGRATE_PFN_SHIFT,
    ]).toEqual([1, 2, 8, 16, 6]);
    expect(migratePfn(5)).toBe(5 * 64 + 1);
    expect(migratePfnToPage(migratePfn(8192) + MIGRATE_PFN_MIGRATE + MIGRATE_PFN_WRITE)).toBe(8192);
    // Not VALID: no page, whatever else is set (an empty MIGRATE slot).
    expect(migratePfnToPage(MIGRATE_PFN_MIGRATE)).toBe(0);
    expect(migratePfnToPage(8192 * 64 + MIGRATE_PFN_MIGRATE)).toBe(0);
    // Exact beyond 32 bits (the words are doubles, not int32).
    expect(migratePfnToPage(migratePfn(2 ** 40 - 1))).toBe(2 ** 40 - 1);
  });
});
