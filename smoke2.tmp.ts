import { Machine, MAP_ANONYMOUS, MAP_PRIVATE, PROT_READ, PROT_WRITE, PAGE_SIZE, mmapReadLock, mmapReadUnlock,
  DevPagemap, MEMORY_DEVICE_PRIVATE, memremapPages, zoneDevicePageInit, migrateVmaSetup, migrateVmaPages, migrateVmaFinalize,
  MIGRATE_VMA_SELECT_SYSTEM, MIGRATE_VMA_SELECT_DEVICE_PRIVATE, migratePfn, migratePfnToPage, MIGRATE_PFN_MIGRATE, MIGRATE_PFN_VALID } from './src/index.ts';
import { unlockPage } from './src/mm/page-lock.ts';
import { PG_locked } from './src/mm/page-flags.ts';
const m = new Machine({ memory: 64 << 20 });
const owner = { name: 'dev' };
const free: number[] = [];
const backing = new Map<number, number>();
const pgmap = new DevPagemap(MEMORY_DEVICE_PRIVATE, owner, {
  pageFree(_p, pfn) { const b = backing.get(pfn); if (b) { m.putPage(b); backing.delete(pfn); } free.push(pfn); },
  async migrateToRam(vmf) {
    const args = { vma: vmf.vma, start: vmf.address, end: vmf.address + PAGE_SIZE, src: new Float64Array(1), dst: new Float64Array(1), cpages: 0, npages: 0, pgmapOwner: owner, flags: MIGRATE_VMA_SELECT_DEVICE_PRIVATE, faultPage: vmf.page };
    console.log('setup', await migrateVmaSetup(args), args.cpages, args.src[0] % 64);
    const dpage = migratePfnToPage(args.src[0]);
    if (dpage && (args.src[0] % 64) & 2) { const p = m.pm.allocPages(0); m.pm.flags[p] |= PG_locked; m.pm.copyPage(p, backing.get(dpage)!); args.dst[0] = migratePfn(p); }
    await migrateVmaPages(args); migrateVmaFinalize(args); return 0;
  },
}, 512);
const first = memremapPages(m, pgmap);
for (let i = 511; i >= 0; i--) free.push(first + i);
const p = await m.createProcess();
const a = await p.mmap(0, 4 * PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
for (let i = 0; i < 3; i++) await p.store32(a + i * PAGE_SIZE, 100 + i);
const freeBefore = m.pm.freeFrames;
await mmapReadLock(p.mm);
const vma = p.mm.vmaLookup(a)!;
const args = { vma, start: a, end: a + 4 * PAGE_SIZE, src: new Float64Array(4), dst: new Float64Array(4), cpages: 0, npages: 0, pgmapOwner: owner, flags: MIGRATE_VMA_SELECT_SYSTEM, faultPage: 0 };
console.log('setup', await migrateVmaSetup(args), 'cpages', args.cpages, 'npages', args.npages, [...args.src].map(w => `${migratePfnToPage(w)}|${w % 64}`));
for (let i = 0; i < args.npages; i++) {
  if (!((args.src[i] % 64) & 2)) continue;
  const d = free.pop()!; zoneDevicePageInit(m, pgmap, d);
  const b = m.pm.allocPages(0); backing.set(d, b);
  const s = migratePfnToPage(args.src[i]); if (s) m.pm.copyPage(b, s);
  args.dst[i] = migratePfn(d);
}
await migrateVmaPages(args);
console.log('after pages', [...args.src].map(w => `${migratePfnToPage(w)}|${w % 64}`));
migrateVmaFinalize(args);
mmapReadUnlock(p.mm);
console.log('rss', p.mm.rss, 'frames delta', m.pm.freeFrames - freeBefore);
for (let i = 0; i < 4; i++) console.log('cpu reads', await p.load32(a + i * PAGE_SIZE));
console.log('rss', p.mm.rss, 'free device pages', free.length, 'pgmap refs', pgmap.refs);
await p.exit();
console.log('after exit free device pages', free.length, 'frames', m.pm.freeFrames - freeBefore);
