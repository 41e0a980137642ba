import { Machine, MAP_ANONYMOUS, MAP_PRIVATE, PROT_READ, PROT_WRITE, PAGE_SIZE, mmapReadLock, mmapReadUnlock,
  DevPagemap, MEMORY_DEVICE_PRIVATE, memremapPages, zoneDevicePageInit, migrateVmaSetup, migrateVmaPages, migrateVmaFinalize,
  MIGRATE_VMA_SELECT_SYSTEM, MIGRATE_VMA_SELECT_DEVICE_PRIVATE, migratePfn, migratePfnToPage } from './src/index.ts';
import { PG_locked } from './src/mm/page-flags.ts';
const m = new Machine({ memory: 64 << 20, scheduler: { stepBudget: 2000 } });
const owner = { name: 'dev' };
const free: number[] = [];
const backing = new Map<number, number>();
let calls = 0;
const pgmap = new DevPagemap(MEMORY_DEVICE_PRIVATE, owner, {
  pageFree(_p, pfn) { const b = backing.get(pfn); if (b) { m.putPage(b); backing.delete(pfn); } free.push(pfn); },
  async migrateToRam(vmf) {
    if (++calls > 3) throw new Error('loop');
    const args = { vma: vmf.vma, start: vmf.address, end: vmf.address + PAGE_SIZE, src: new Float64Array(1), dst: new Float64Array(1), cpages: 0, npages: 0, pgmapOwner: owner, flags: MIGRATE_VMA_SELECT_DEVICE_PRIVATE, faultPage: vmf.page };
    const r = await migrateVmaSetup(args);
    console.log('m2r setup', r, args.cpages, migratePfnToPage(args.src[0]), args.src[0] % 64, 'page', vmf.page, 'ref', m.pm.refcount[vmf.page], 'map', m.pm.mapcount[vmf.page]);
    const dpage = migratePfnToPage(args.src[0]);
    if (dpage && (args.src[0] % 64) & 2) { const p = m.pm.allocPages(0); m.pm.flags[p] |= PG_locked; m.pm.copyPage(p, backing.get(dpage)!); args.dst[0] = migratePfn(p); }
    await migrateVmaPages(args);
    console.log('m2r pages', args.src[0] % 64);
    migrateVmaFinalize(args); return 0;
  },
}, 512);
const first = memremapPages(m, pgmap);
for (let i = 511; i >= 0; i--) free.push(first + i);
const p = await m.createProcess();
const a = await p.mmap(0, 4 * PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
for (let i = 0; i < 3; i++) await p.store32(a + i * PAGE_SIZE, 100 + i);
await mmapReadLock(p.mm);
const vma = p.mm.vmaLookup(a)!;
const args = { vma, start: a, end: a + 4 * PAGE_SIZE, src: new Float64Array(4), dst: new Float64Array(4), cpages: 0, npages: 0, pgmapOwner: owner, flags: MIGRATE_VMA_SELECT_SYSTEM, faultPage: 0 };
await migrateVmaSetup(args);
for (let i = 0; i < args.npages; i++) {
  if (!((args.src[i] % 64) & 2)) continue;
  const d = free.pop()!; zoneDevicePageInit(m, pgmap, d);
  const b = m.pm.allocPages(0); backing.set(d, b);
  const s = migratePfnToPage(args.src[i]); if (s) m.pm.copyPage(b, s);
  args.dst[i] = migratePfn(d);
}
await migrateVmaPages(args);
migrateVmaFinalize(args);
mmapReadUnlock(p.mm);
const { walkToLeaf } = await import('./src/mm/page-table.ts');
const off = walkToLeaf(m.pt, p.mm.pgd, a / PAGE_SIZE);
console.log('pte', m.pt.words[off].toString(16), m.pt.words[off + 1], 'ref', m.pm.refcount[m.pt.words[off+1]], 'flags', m.pm.flags[m.pt.words[off+1]].toString(16));
for (let i = 0; i < 4; i++) console.log('cpu reads', await p.load32(a + i * PAGE_SIZE));
console.log('rss', p.mm.rss, 'free device pages', free.length, 'pgmap refs', pgmap.refs);
await p.exit();
console.log('after exit free device pages', free.length);
