/**
 * dmirror device memory and the commands that use it (src/devices/dmirror: chunk.ts,
 * devmem-alloc.ts, devmem-fault.ts, folio-split.ts, evict.ts, migrate-to-device.ts,
 * migrate-to-system.ts, exclusive.ts): chunks and free lists, backing pages, the pagemap
 * callbacks, MIGRATE_TO_DEV / MIGRATE_TO_SYS / EXCLUSIVE / RELEASE and eviction on close, with
 * the kernel driver's results.
 */
import { describe, expect, it } from 'vitest';
import { DEVMEM_CHUNK_PAGES } from '../../../src/devices/dmirror/chunk.ts';
import { DMIRROR_ALLOC_NS, DMIRROR_COPY_PAGE_NS } from '../../../src/devices/dmirror/cost.ts';
import { DPT_XA_TAG_ATOMIC, DPT_XA_TAG_READ, DPT_XA_TAG_WRITE } from '../../../src/devices/dmirror/pt.ts';
import {
  EINVAL,
  ENOENT,
  ENOMEM,
  EOPNOTSUPP,
  EPERM,
  HMM_DMIRROR_FLAG_FAIL_ALLOC,
  HMM_DMIRROR_PROT_DEV_COHERENT_LOCAL,
  HMM_DMIRROR_PROT_DEV_PRIVATE_LOCAL,
  HMM_DMIRROR_PROT_PMD,
  HMM_DMIRROR_PROT_WRITE,
  MADV_HUGEPAGE,
  MAP_ANONYMOUS,
  MAP_PRIVATE,
  MAP_SHARED,
  Machine,
  MEMORY_DEVICE_COHERENT,
  MEMORY_DEVICE_PRIVATE,
  PAGE_SIZE,
  PMD_SIZE,
  PROT_NONE,
  PROT_READ,
  PROT_WRITE,
  type Process,
} from '../../../src/index.ts';
import { findEntry } from '../../../src/mm/page-table.ts';
import { PTE_KIND_MASK, PTE_LEAF, PTE_PRESENT } from '../../../src/mm/pte.ts';

const RW = PROT_READ | PROT_WRITE;
const ANON = MAP_PRIVATE | MAP_ANONYMOUS;

async function setup(coherent = false) {
  const machine = new Machine({ memory: 64 * 1024 * 1024, hugetlbPages: 0 });
  const device = machine.addDmirrorDevice({ coherent });
  const process = await machine.createProcess();
  const file = await device.open(process);
  return { machine, device, process, file };
}

/** Maps `n` pages (2 MiB aligned, MADV_HUGEPAGE when `thp`) filled with byte (page index + 1). */
async function mapFilled(process: Process, n: number, thp = false): Promise<number> {
  const raw = await process.mmap(0, n * PAGE_SIZE + PMD_SIZE, RW, ANON, -1, 0);
  const addr = Math.ceil(raw / PMD_SIZE) * PMD_SIZE;
  if (thp) expect(await process.madvise(addr, n * PAGE_SIZE, MADV_HUGEPAGE)).toBe(0);
  const data = new Uint8Array(n * PAGE_SIZE);
  for (let i = 0; i < n; i++) data.fill(i + 1, i * PAGE_SIZE, (i + 1) * PAGE_SIZE);
  await process.write(addr, data);
  return addr;
}

/** The [kind, leaf, pfn] of `addr`'s mapping (PMD leaf or PTE). */
function entryOf(process: Process, addr: number): { kind: number; leaf: boolean; pfn: number } {
  const k = process.kernel;
  const vpn = addr / PAGE_SIZE;
  let off = findEntry(k.pt, process.mm.pgd, vpn, 2);
  if ((k.pt.words[off]! & PTE_LEAF) === 0) off = findEntry(k.pt, process.mm.pgd, vpn, 1);
  const lo = k.pt.words[off]!;
  return { kind: lo & PTE_KIND_MASK, leaf: (lo & PTE_LEAF) !== 0, pfn: k.pt.words[off + 1]! };
}

describe('device memory (dmirror_allocate_chunk, free lists)', () => {
  it('a device starts with one 256 MiB chunk of single pages, handed out last pfn first', async () => {
    const { machine, device, process, file } = await setup();
    expect(device.devmemChunks).toHaveLength(1);
    const chunk = device.devmemChunks[0]!;
    expect([chunk.type, chunk.nrPages, chunk.owner]).toEqual([
      MEMORY_DEVICE_PRIVATE,
      DEVMEM_CHUNK_PAGES,
      device,
    ]);
    expect(device.freeFolios).toBe(0);
    expect(device.freePages).toBe(chunk.pfnFirst + DEVMEM_CHUNK_PAGES - 1);
    const addr = await mapFilled(process, 2);
    expect((await file.migrateToDev(addr, 2)).ret).toBe(0);
    const last = chunk.pfnFirst + DEVMEM_CHUNK_PAGES - 1;
    expect([entryOf(process, addr).pfn, entryOf(process, addr + PAGE_SIZE).pfn]).toEqual([last, last - 1]);
    expect([device.calloc, device.cfree]).toEqual([2, 0]);
    expect(chunk.refs).toBe(2);
    // Each device page keeps its data in a backing system page.
    const backing = machine.pm.private[last]!;
    expect(backing).toBeLessThan(machine.pm.ramFrames);
    expect(machine.pm.readableBytes(backing)[0]).toBe(1);
    await process.munmap(addr, 2 * PAGE_SIZE);
    expect([device.calloc, device.cfree, chunk.refs]).toEqual([2, 2, 0]);
    expect(machine.pm.refcount[backing]).toBe(0);
  });

  it('a THP moves as one device folio from a new chunk of folios; the device maps it writable', async () => {
    const { device, process, file } = await setup();
    const addr = await mapFilled(process, 512, true);
    const r = await file.migrateToDev(addr, 512);
    expect([r.ret, r.cpages]).toEqual([0, 512]);
    expect(device.devmemChunks).toHaveLength(2);
    const e = entryOf(process, addr);
    expect(e.leaf).toBe(true);
    expect(device.devmemChunks[1]!.contains(e.pfn)).toBe(true);
    expect([device.calloc, device.devmemChunks[1]!.refs]).toEqual([512, 512]);
    expect(new Set([...file.pt.values()].map((v) => v % 4))).toEqual(new Set([DPT_XA_TAG_WRITE]));
    const s = await file.snapshot(addr, 1);
    expect(s.prot[0]).toBe(
      HMM_DMIRROR_PROT_DEV_PRIVATE_LOCAL | HMM_DMIRROR_PROT_WRITE | HMM_DMIRROR_PROT_PMD,
    );
    // The folio goes back to the folio list.
    await process.munmap(addr, PMD_SIZE);
    expect(device.freeFolios).toBe(e.pfn);
    expect(device.cfree).toBe(512);
  });

  it('a coherent device maps a second chunk for a folio request (hmmsim gives it room): a THP moves whole', async () => {
    const { device, process, file } = await setup(true);
    expect(device.devmemChunks[0]!.type).toBe(MEMORY_DEVICE_COHERENT);
    const addr = await mapFilled(process, 512, true);
    expect((await file.migrateToDev(addr, 512)).ret).toBe(0);
    expect(device.devmemChunks).toHaveLength(2);
    expect(device.devmemChunks[1]!.type).toBe(MEMORY_DEVICE_COHERENT);
    expect(entryOf(process, addr).leaf).toBe(true);
    const s = await file.snapshot(addr, 2);
    const pmd = HMM_DMIRROR_PROT_DEV_COHERENT_LOCAL | HMM_DMIRROR_PROT_WRITE | HMM_DMIRROR_PROT_PMD;
    expect([...s.prot]).toEqual([pmd, pmd]);
    // Coherent pages hold their own data, and the mirror points at them.
    const pfn = entryOf(process, addr).pfn + 5;
    expect(file.pt.get(addr / PAGE_SIZE + 5)! >> 2).toBe(pfn);
    expect(process.kernel.pm.readableBytes(pfn)[0]).toBe(6);
  });

  it('room for the chunk reserved at boot (deviceMemory) changes no pfn and no event', async () => {
    const run = async (deviceMemory: number) => {
      const machine = new Machine({ memory: 64 * 1024 * 1024, hugetlbPages: 0, deviceMemory });
      const events: string[] = [];
      machine.bus.subscribe((e) => {
        const f = e as unknown as Record<string, unknown>;
        events.push(
          Object.keys(f)
            .map((k) => `${k}=${typeof f[k] === 'object' ? '' : String(f[k])}`)
            .join(' '),
        );
      });
      const device = machine.addDmirrorDevice();
      const process = await machine.createProcess();
      const file = await device.open(process);
      const addr = await mapFilled(process, 600, true);
      expect((await file.migrateToDev(addr, 600)).ret).toBe(0);
      const pfns = [0, 1, 599].map((i) => entryOf(process, addr + i * PAGE_SIZE).pfn);
      return {
        events,
        pfns,
        chunks: device.devmemChunks.map((c) => c.pfnFirst),
        frames: machine.pm.nrFrames,
      };
    };
    const plain = await run(0);
    expect(plain.chunks).toHaveLength(2);
    expect(plain.events.length).toBeGreaterThan(100);
    expect(await run(256 * 1024 * 1024)).toEqual(plain);
    expect(await run(512 * 1024 * 1024)).toEqual(plain);
    expect(() => new Machine({ deviceMemory: -1 })).toThrow(/deviceMemory/);
    expect(() => new Machine({ deviceMemory: 2 ** 40 })).toThrow(/deviceMemory.*256 GiB/);
  });

  it('charges copies and allocations to the virtual clock', async () => {
    const { machine, process, file } = await setup();
    const addr = await mapFilled(process, 3);
    const t0 = machine.sched.clock.now;
    expect((await file.migrateToDev(addr, 3)).ret).toBe(0);
    expect(machine.sched.clock.now - t0).toBe(3 * (DMIRROR_COPY_PAGE_NS + DMIRROR_ALLOC_NS));
  });
});

describe('MIGRATE_TO_DEV', () => {
  it('-EINVAL at a hole or an unreadable VMA, earlier batches staying migrated; nothing read back', async () => {
    const { process, file } = await setup();
    const addr = await mapFilled(process, 600);
    expect(await process.mprotect(addr + 520 * PAGE_SIZE, 80 * PAGE_SIZE, PROT_NONE)).toBe(0);
    const r = await file.migrateToDev(addr, 600);
    expect(r).toEqual({ ret: -EINVAL, cpages: 0, faults: 0, data: new Uint8Array(0) });
    // Batches: [0, 512) and [512, 520) (clipped to the VMA) moved; 520 is unreadable.
    expect(entryOf(process, addr).kind).not.toBe(PTE_PRESENT);
    expect(entryOf(process, addr + 519 * PAGE_SIZE).kind).not.toBe(PTE_PRESENT);
    expect(entryOf(process, addr + 520 * PAGE_SIZE).kind).toBe(PTE_PRESENT);
    expect(file.pt.size).toBe(520);
  });

  it('FAIL_ALLOC leaves a single page behind once: -ENOENT, then the next call moves it', async () => {
    const { process, file } = await setup();
    const addr = await mapFilled(process, 2);
    expect((await file.setFlags(HMM_DMIRROR_FLAG_FAIL_ALLOC)).ret).toBe(0);
    expect((await file.migrateToDev(addr, 2)).ret).toBe(-ENOENT);
    expect(file.flags).toBe(0);
    expect(entryOf(process, addr).kind).toBe(PTE_PRESENT);
    const r = await file.migrateToDev(addr, 2);
    expect([r.ret, r.cpages, r.data[0], r.data[PAGE_SIZE]]).toEqual([0, 2, 1, 2]);
  });

  it('shared memory is not selected: -ENOENT; an empty anonymous range is zero-filled, read-only in the mirror', async () => {
    const { process, file } = await setup();
    const shared = await process.mmap(0, 2 * PAGE_SIZE, RW, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    expect((await file.migrateToDev(shared, 2)).ret).toBe(-ENOENT);
    const empty = await process.mmap(0, 2 * PAGE_SIZE, RW, ANON, -1, 0);
    const r = await file.migrateToDev(empty, 2);
    expect([r.ret, r.cpages, r.data.every((b) => b === 0)]).toEqual([0, 2, true]);
    // No source page, so no MIGRATE_PFN_WRITE: the newest driver maps it read-only.
    expect(file.pt.get(empty / PAGE_SIZE)! % 4).toBe(DPT_XA_TAG_READ);
  });
});

describe('migrate_to_ram and MIGRATE_TO_SYS', () => {
  it('a CPU fault brings one page back and erases the entries of the file that migrated it', async () => {
    const { machine, device, process, file } = await setup();
    const other = await device.open(process);
    const addr = await mapFilled(process, 4);
    expect((await file.migrateToDev(addr, 4)).ret).toBe(0);
    expect(file.pt.size).toBe(4);
    expect(await process.load32(addr + 2 * PAGE_SIZE)).toBe(0x03030303);
    expect(entryOf(process, addr + 2 * PAGE_SIZE).kind).toBe(PTE_PRESENT);
    expect(entryOf(process, addr + 3 * PAGE_SIZE).kind).not.toBe(PTE_PRESENT);
    expect([...file.pt.keys()].map((v) => v - addr / PAGE_SIZE)).toEqual([0, 1, 3]);
    expect(other.pt.size).toBe(0);
    expect(machine.pm.freeFrames).toBeGreaterThan(0);
  });

  it('a PMD-mapped device folio faults back whole; cpages of MIGRATE_TO_SYS counts a folio once', async () => {
    const { process, file } = await setup();
    const addr = await mapFilled(process, 1024, true);
    expect((await file.migrateToDev(addr, 1024)).ret).toBe(0);
    expect(await process.load32(addr + 100 * PAGE_SIZE)).toBe(0x65656565);
    const e = entryOf(process, addr);
    expect([e.kind, e.leaf]).toEqual([PTE_PRESENT, true]);
    const r = await file.migrateToSys(addr, 1024);
    expect([r.ret, r.cpages]).toEqual([0, 1]);
    expect(entryOf(process, addr + PMD_SIZE).leaf).toBe(true);
    expect(await process.load32(addr + 700 * PAGE_SIZE)).toBe(((701 % 256) * 0x01010101) >>> 0);
  });

  it('FAIL_ALLOC on a single device page: -ENOMEM, the page stays on the device', async () => {
    const { process, file } = await setup();
    const addr = await mapFilled(process, 1);
    expect((await file.migrateToDev(addr, 1)).ret).toBe(0);
    expect((await file.setFlags(HMM_DMIRROR_FLAG_FAIL_ALLOC)).ret).toBe(0);
    expect((await file.migrateToSys(addr, 1)).ret).toBe(-ENOMEM);
    expect(entryOf(process, addr).kind).not.toBe(PTE_PRESENT);
    expect(await file.migrateToSys(addr, 1)).toEqual({ ret: 0, cpages: 1, faults: 0 });
  });

  it('a partly unmapped device THP is split with its backing folio', async () => {
    const { machine, device, process, file } = await setup();
    const addr = await mapFilled(process, 512, true);
    expect((await file.migrateToDev(addr, 512)).ret).toBe(0);
    const head = entryOf(process, addr).pfn;
    expect(await process.munmap(addr + 256 * PAGE_SIZE, 256 * PAGE_SIZE)).toBe(0);
    const pm = machine.pm;
    // The unmapped half went back to the device's single-page list.
    expect(device.cfree).toBe(256);
    expect(pm.order[head]).toBe(0);
    const rpage = pm.private[head + 10]!;
    expect([pm.order[rpage], pm.refcount[rpage], pm.readableBytes(rpage)[0]]).toEqual([0, 1, 11]);
    expect(await process.load32(addr + 10 * PAGE_SIZE)).toBe(0x0b0b0b0b);
  });
});

describe('EXCLUSIVE', () => {
  it('maps pages ATOMIC until the CPU touches them; not for shared memory', async () => {
    const { process, file } = await setup();
    const addr = await mapFilled(process, 3);
    const r = await file.exclusive(addr, 3);
    expect([r.ret, r.cpages, r.data[PAGE_SIZE]]).toEqual([0, 3, 2]);
    expect([...file.pt.values()].map((v) => v % 4)).toEqual([
      DPT_XA_TAG_ATOMIC,
      DPT_XA_TAG_ATOMIC,
      DPT_XA_TAG_ATOMIC,
    ]);
    expect((await file.checkExclusive(addr, 3)).ret).toBe(-EPERM);
    await process.store32(addr, 7);
    // The revocation's invalidation erases its page and, by the inclusive bound, the next one.
    expect((await file.checkExclusive(addr, 2)).ret).toBe(0);
    expect((await file.checkExclusive(addr + 2 * PAGE_SIZE, 1)).ret).toBe(-EPERM);
    const shared = await process.mmap(0, PAGE_SIZE, RW, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    expect((await file.exclusive(shared, 1)).ret).toBe(-EOPNOTSUPP);
  });
});

describe('RELEASE and close', () => {
  it('RELEASE evicts every page of the device, for every process, and new chunks come on demand', async () => {
    const { device, process, file } = await setup();
    const addr = await mapFilled(process, 4);
    expect((await file.migrateToDev(addr, 4)).ret).toBe(0);
    const child = await process.fork();
    const chunk = device.devmemChunks[0]!;
    expect(await file.release()).toEqual({ ret: 0, cpages: 0, faults: 0 });
    expect(device.devmemChunks).toHaveLength(0);
    expect([chunk.dead, chunk.refs, device.freePages, device.freeFolios]).toEqual([true, 0, 0, 0]);
    for (const p of [process, child]) expect(entryOf(p, addr + PAGE_SIZE).kind).toBe(PTE_PRESENT);
    expect(await child.load32(addr + 3 * PAGE_SIZE)).toBe(0x04040404);
    expect((await file.migrateToDev(addr, 4)).ret).toBe(0);
    expect(device.devmemChunks).toHaveLength(1);
    expect(device.devmemChunks[0]).not.toBe(chunk);
  });

  it('closing any file of the device evicts the pages another file migrated', async () => {
    const { device, process, file } = await setup();
    const other = await device.open(process);
    const addr = await mapFilled(process, 3);
    expect((await file.migrateToDev(addr, 3)).ret).toBe(0);
    await other.close();
    expect(entryOf(process, addr).kind).toBe(PTE_PRESENT);
    expect(device.devmemChunks).toHaveLength(1);
    expect(device.devmemChunks[0]!.refs).toBe(0);
    expect(await process.load32(addr + 2 * PAGE_SIZE)).toBe(0x03030303);
  });
});
