import { MADV_HUGEPAGE, MAP_ANONYMOUS, MAP_PRIVATE, PROT_READ, PROT_WRITE, faultStats, hmmStats } from '../src/index.ts';
import { hmmMachine, hmmOpen } from '../test/kernel/harness.ts';
const machine = hmmMachine();
const p = await machine.createProcess();
const fd = await hmmOpen(machine, p, 0);
const H = 2 << 20;
const ptr = await p.mmap(0, 2 * H, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
const map = Math.ceil(ptr / H) * H;
console.log(await p.madvise(map, H, MADV_HUGEPAGE));
const f0 = { ...faultStats };
const w = await fd.write(map, 512, new Uint8Array(H).fill(7));
console.log(w, faultStats, f0, hmmStats);
const s = await fd.snapshot(map, 512);
console.log(s.ret, s.prot[0].toString(16), s.prot[511].toString(16));
// mixedmap in a shared mapping
const m = await p.mmap(0, 4096, PROT_READ | PROT_WRITE, 0x01, fd.fd, 0);
console.log((await fd.snapshot(m, 1)).prot);
await p.store32(m, 5);
console.log((await fd.snapshot(m, 1)).prot, await p.load32(m));
const m2 = await p.mmap(0, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd.fd, 0);
await p.store32(m2, 5);
console.log('private after cow', (await fd.snapshot(m2, 1)).prot, await p.load32(m2));
console.log(await p.madvise(m2, 4096, 4), (await fd.snapshot(m2, 1)).prot);
try { await p.load32(m2); } catch (e) { console.log('after DONTNEED:', (e as Error).constructor.name); }
console.log('setFlags(0)', await fd.setFlags(0), 'unaligned', await fd.read(1, 1), 'zero', await fd.read(4096, 0), 'wrap', await fd.read(2**64 - 4096, 2));
console.log('hole read', await fd.read(4096, 1));
await fd.close();
console.log('after close', await fd.read(map, 1));
