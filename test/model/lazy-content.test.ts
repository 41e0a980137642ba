/**
 * Lazy page contents (pages without data, pages holding a few words apart, 4 KiB slots shared by
 * reference until one side writes, snapshots pinning slots) are invisible: random operations
 * against a plain byte model, first on `PhysMem` alone, then through processes (writes of every
 * size, reads, copy-on-write after fork, migration to device memory and back, failed migrations,
 * swap-out and swap-in, exit).
 */
import { describe, expect, it } from 'vitest';
import {
  HMM_DMIRROR_FLAG_FAIL_ALLOC,
  HMM_DMIRROR_PROT_DEV_PRIVATE_LOCAL,
  HMM_DMIRROR_PROT_WRITE,
} from '../../src/devices/dmirror/uapi.ts';
import { Machine } from '../../src/machine.ts';
import { BufferPool } from '../../src/mm/buffer-pool.ts';
import {
  MADV_PAGEOUT,
  MAP_ANONYMOUS,
  MAP_PRIVATE,
  MM_SWAPENTS,
  PAGE_SIZE,
  PROT_READ,
  PROT_WRITE,
} from '../../src/mm/constants.ts';
import { ContentSnapshot } from '../../src/mm/content-snapshot.ts';
import { PhysMem } from '../../src/mm/physmem.ts';
import type { Process } from '../../src/mm/process.ts';
import { EFAULT, ENOENT } from '../../src/sim/errno.ts';
import { Prng } from '../../src/sim/prng.ts';

/** A write size: mostly a few bytes (the sparse path), sometimes up to a page or two. */
function writeSize(r: Prng, max: number): number {
  const k = r.nextInt(10);
  if (k < 5) return 1 + r.nextInt(17);
  if (k < 8) return 1 + r.nextInt(256);
  if (k < 9) return PAGE_SIZE;
  return 1 + r.nextInt(max);
}

function randomBytes(r: Prng, n: number): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = r.nextInt(4) === 0 ? 0 : 1 + r.nextInt(255);
  return b;
}

const NOTHING = new Uint8Array(0);

function firstDifference(a: Uint8Array, b: Uint8Array): number {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return i;
  return -1;
}

const KINDS = [
  'device read',
  'device write',
  'device write refused',
  'exit',
  'failed migrate',
  'fork',
  'load32',
  'migrate',
  'migrate back',
  'migrated',
  'read',
  'store32',
  'swap',
  'swapped',
  'write',
];

describe('lazy page contents against a byte model', () => {
  it('PhysMem: 150,000 random writes, reads, copies (shared slots), moves, snapshots, clears and frees', () => {
    const r = new Prng(11);
    const pm = new PhysMem(8 * 2 ** 20);
    const frames: number[] = [];
    const model = new Map<number, Uint8Array>();
    for (let i = 0; i < 40; i++) {
      const p = pm.allocPages(0);
      frames.push(p);
      model.set(p, new Uint8Array(PAGE_SIZE));
    }
    const pick = (): number => frames[r.nextInt(frames.length)]!;
    const dv = (b: Uint8Array, off: number): number =>
      (b[off]! | (b[off + 1]! << 8) | (b[off + 2]! << 16) | (b[off + 3]! << 24)) >>> 0;
    /** Snapshots not read yet, with the bytes they must give. */
    const snapshots: { snap: ContentSnapshot; want: Uint8Array }[] = [];
    let snapshotsRead = 0;
    let moves = 0;
    for (let op = 0; op < 150_000; op++) {
      const p = pick();
      const m = model.get(p)!;
      const k = r.nextInt(110);
      if (k >= 100) {
        if (k < 103) {
          // A snapshot of a few frames (MIGRATE_TO_DEV's read-back), read some operations later.
          const n = 1 + r.nextInt(4);
          const snap = new ContentSnapshot(n);
          const want = new Uint8Array(n * PAGE_SIZE);
          for (let i = 0; i < n; i++) {
            const q = pick();
            snap.save(pm, i, q);
            want.set(model.get(q)!, i * PAGE_SIZE);
          }
          snapshots.push({ snap, want });
        } else if (k < 106) {
          if (snapshots.length > 0) {
            // Read a snapshot (or drop it unread: its pins go when it is collected).
            const { snap, want } = snapshots.splice(r.nextInt(snapshots.length), 1)[0]!;
            if (r.nextInt(4) !== 0) {
              expect(firstDifference(snap.bytes(), want), `op ${op}: snapshot`).toBe(-1);
              expect(snap.bytes()).toBe(snap.bytes());
              snapshotsRead++;
            }
          }
        } else {
          // A migration: copy into a new frame, then free the source (it succeeded: the slot
          // moves) or the destination (it failed: the source is restored).
          const q = pm.allocPages(0);
          pm.copyPage(q, p);
          if (r.nextInt(2) === 0) {
            pm.freePages(p);
            frames[frames.indexOf(p)] = q;
            model.delete(p);
            model.set(q, m);
            moves++;
          } else pm.freePages(q);
        }
        continue;
      }
      if (k < 30) {
        const n = writeSize(r, PAGE_SIZE);
        const off = r.nextInt(PAGE_SIZE - n + 1);
        const src = randomBytes(r, n + 8);
        const srcOff = r.nextInt(9);
        pm.writeBytes(p, off, src, srcOff, n);
        m.set(src.subarray(srcOff, srcOff + n), off);
      } else if (k < 50) {
        const off = r.nextInt(4) === 0 ? r.nextInt(PAGE_SIZE - 3) : 4 * r.nextInt(PAGE_SIZE / 4);
        const v = r.nextU32();
        pm.writeU32(p, off, v);
        m[off] = v;
        m[off + 1] = v >>> 8;
        m[off + 2] = v >>> 16;
        m[off + 3] = v >>> 24;
      } else if (k < 65) {
        const n = 1 + r.nextInt(r.nextInt(2) === 0 ? 32 : PAGE_SIZE);
        const off = r.nextInt(PAGE_SIZE - n + 1);
        const dst = new Uint8Array(n + 4).fill(0xee);
        pm.readBytes(p, off, dst, 2, n);
        const want = new Uint8Array(n + 4).fill(0xee);
        want.set(m.subarray(off, off + n), 2);
        if (firstDifference(dst, want) !== -1) throw new Error(`op ${op}: readBytes(${p}, ${off}, ${n})`);
      } else if (k < 80) {
        const off = r.nextInt(4) === 0 ? r.nextInt(PAGE_SIZE - 3) : 4 * r.nextInt(PAGE_SIZE / 4);
        if (pm.readU32(p, off) !== dv(m, off)) throw new Error(`op ${op}: readU32(${p}, ${off})`);
      } else if (k < 88) {
        const src = pick();
        pm.copyPage(p, src);
        m.set(model.get(src)!);
      } else if (k < 91) {
        pm.clearPage(p);
        m.fill(0);
      } else if (k < 94) {
        pm.freePages(p);
        const q = pm.allocPages(0);
        frames[frames.indexOf(p)] = q;
        model.delete(p);
        model.set(q, new Uint8Array(PAGE_SIZE));
      } else if (k < 97) {
        expect(firstDifference(pm.readableBytes(p), m), `op ${op}: readableBytes(${p})`).toBe(-1);
      } else {
        const w = pm.writableBytes(p);
        expect(firstDifference(w, m), `op ${op}: writableBytes(${p})`).toBe(-1);
        const off = r.nextInt(PAGE_SIZE);
        w[off] = m[off] = r.nextInt(256);
      }
    }
    for (const p of frames) expect(firstDifference(pm.readableBytes(p), model.get(p)!)).toBe(-1);
    for (const { snap, want } of snapshots) expect(firstDifference(snap.bytes(), want)).toBe(-1);
    expect(snapshotsRead).toBeGreaterThan(1000);
    expect(moves).toBeGreaterThan(1000);
  });

  it('a snapshot reads its pages after its memory was disposed and its chunks were reused', () => {
    const pool = new BufferPool();
    const pm = new PhysMem(8 * 2 ** 20, pool);
    const frames = [pm.allocPages(0), pm.allocPages(0), pm.allocPages(0)];
    const want = new Uint8Array(3 * PAGE_SIZE);
    for (let i = 0; i < 3; i++) {
      const page = new Uint8Array(PAGE_SIZE).fill(10 + i);
      pm.writeBytes(frames[i]!, 0, page, 0, PAGE_SIZE);
      want.set(page, i * PAGE_SIZE);
    }
    const snap = new ContentSnapshot(3);
    for (let i = 0; i < 3; i++) snap.save(pm, i, frames[i]!);
    // Unpinned chunks go to the pool; the pinned one stays with the snapshot.
    const other = new PhysMem(8 * 2 ** 20, pool);
    pm.dispose();
    const next = new PhysMem(8 * 2 ** 20, pool);
    for (const m of [other, next])
      for (let i = 0; i < 64; i++)
        m.writeBytes(m.allocPages(0), 0, new Uint8Array(PAGE_SIZE).fill(0xee), 0, PAGE_SIZE);
    expect(firstDifference(snap.bytes(), want)).toBe(-1);
  });

  it('a frame writing a slot shared with another frame and a snapshot gets its own copy', () => {
    const pm = new PhysMem(8 * 2 ** 20);
    const a = pm.allocPages(0);
    const b = pm.allocPages(0);
    pm.writeBytes(a, 0, new Uint8Array(PAGE_SIZE).fill(1), 0, PAGE_SIZE);
    pm.copyPage(b, a);
    const snap = new ContentSnapshot(1);
    snap.save(pm, 0, b);
    pm.writeU32(a, 8, 0x02020202);
    pm.writableBytes(b)[100] = 3;
    const want = new Uint8Array(PAGE_SIZE).fill(1);
    expect(firstDifference(snap.bytes(), want)).toBe(-1);
    expect(pm.readU32(a, 8)).toBe(0x02020202);
    expect(pm.readableBytes(a)[100]).toBe(1);
    expect(pm.readableBytes(b)[100]).toBe(3);
    expect(pm.readU32(b, 8)).toBe(0x01010101);
  });

  it('processes: 100,000 random writes of every size, reads, fork/COW, migration, swap and exit', async () => {
    const NPAGES = 24;
    const LEN = NPAGES * PAGE_SIZE;
    const r = new Prng(7);
    let ops = 0;
    let kinds = new Set<string>();
    while (ops < 100_000) {
      const machine = new Machine({ memory: 16 * 2 ** 20, swap: 4 * 2 ** 20, hugetlbPages: 0 });
      const device = machine.addDmirrorDevice({ chunkSize: 2 * 2 ** 20 });
      const parent = await machine.createProcess();
      const addr = await parent.mmap(0, LEN, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
      const file = await device.open(parent);
      interface Proc {
        p: Process;
        bytes: Uint8Array;
      }
      const procs: Proc[] = [{ p: parent, bytes: new Uint8Array(LEN) }];
      for (let step = 0; step < 2000; step++, ops++) {
        const i = r.nextInt(procs.length);
        const pr = procs[i]!;
        const k = r.nextInt(110);
        const where = `round op ${ops}`;
        if (k >= 100) {
          // A migration that fails for its first page: FAIL_ALLOC makes the next device
          // allocation fail (the page stays), the rest of the range moves. The flag cannot be
          // cleared, so the range is first brought back and faulted in (every page then takes an
          // allocation, and the first one consumes the flag), and only without children (pages
          // shared after fork stay put without one).
          if (procs.length === 1) {
            kinds.add('failed migrate');
            const first = r.nextInt(NPAGES);
            const n = 1 + r.nextInt(NPAGES - first);
            expect((await file.migrateToSys(addr + first * PAGE_SIZE, n)).ret).toBe(0);
            await pr.p.read(addr + first * PAGE_SIZE, n * PAGE_SIZE);
            expect((await file.setFlags(HMM_DMIRROR_FLAG_FAIL_ALLOC)).ret).toBe(0);
            // -ENOENT when the page that did not move has no device entry; 0 when a device READ
            // mapped it earlier: the read-back then goes through that entry.
            const res = await file.migrateToDev(addr + first * PAGE_SIZE, n);
            expect([0, -ENOENT], `${where}: failed migrate`).toContain(res.ret);
            if (res.ret === 0) {
              const want = pr.bytes.subarray(first * PAGE_SIZE, (first + n) * PAGE_SIZE);
              expect(firstDifference(res.data, want), `${where}: MIGRATE_TO_DEV data`).toBe(-1);
            }
          }
        } else if (k < 25) {
          kinds.add('write');
          const n = writeSize(r, 2 * PAGE_SIZE);
          const off = r.nextInt(LEN - n + 1);
          const data = randomBytes(r, n);
          await pr.p.write(addr + off, data);
          pr.bytes.set(data, off);
        } else if (k < 40) {
          kinds.add('store32');
          const off = 4 * r.nextInt(LEN / 4);
          const v = r.nextU32();
          await pr.p.store32(addr + off, v);
          new DataView(pr.bytes.buffer).setUint32(off, v, true);
        } else if (k < 55) {
          kinds.add('read');
          const n = 1 + r.nextInt(r.nextInt(2) === 0 ? 64 : 2 * PAGE_SIZE);
          const off = r.nextInt(LEN - n + 1);
          const got = await pr.p.read(addr + off, n);
          expect(firstDifference(got, pr.bytes.subarray(off, off + n)), `${where}: read ${off}+${n}`).toBe(
            -1,
          );
        } else if (k < 65) {
          kinds.add('load32');
          const off = 4 * r.nextInt(LEN / 4);
          const want = new DataView(pr.bytes.buffer).getUint32(off, true);
          expect(await pr.p.load32(addr + off), `${where}: load32 ${off}`).toBe(want);
        } else if (k < 70) {
          if (procs.length < 3) {
            kinds.add('fork');
            const child = await pr.p.fork();
            procs.push({ p: child, bytes: pr.bytes.slice() });
          }
        } else if (k < 74) {
          if (i !== 0) {
            kinds.add('exit');
            await pr.p.exit();
            procs.splice(i, 1);
          }
        } else if (k < 82) {
          kinds.add('migrate');
          const first = r.nextInt(NPAGES);
          const n = 1 + r.nextInt(NPAGES - first);
          const res = await file.migrateToDev(addr + first * PAGE_SIZE, n);
          // Pages shared with a child after fork stay put (-ENOENT): the data must still read back.
          if (res.ret === 0) {
            kinds.add('migrated');
            const want = procs[0]!.bytes.subarray(first * PAGE_SIZE, (first + n) * PAGE_SIZE);
            expect(firstDifference(res.data, want), `${where}: MIGRATE_TO_DEV data`).toBe(-1);
          }
        } else if (k < 88) {
          kinds.add('migrate back');
          const first = r.nextInt(NPAGES);
          const n = 1 + r.nextInt(NPAGES - first);
          const res = await file.migrateToSys(addr + first * PAGE_SIZE, n);
          expect(res.ret, `${where}: MIGRATE_TO_SYS`).toBe(0);
        } else if (k < 94) {
          kinds.add('swap');
          const first = r.nextInt(NPAGES);
          const n = 1 + r.nextInt(NPAGES - first);
          expect(await pr.p.madvise(addr + first * PAGE_SIZE, n * PAGE_SIZE, MADV_PAGEOUT)).toBe(0);
          if (pr.p.mm.rss[MM_SWAPENTS]! > 0) kinds.add('swapped');
        } else if (k < 97) {
          // A device WRITE through the parent's mirror. hmm_range_fault reports a page the device
          // holds read-only in its private memory (after fork) without faulting it, so
          // dmirror_do_fault refuses the write with -EFAULT, unless the walk met a page needing a
          // fault before it: hmm_vma_fault then faults every page to the end of the range, the
          // device pages included (migrated back). The pages written before the refused one (those
          // the device already maps writable) keep the new data.
          kinds.add('device write');
          const first = r.nextInt(NPAGES);
          const n = 1 + r.nextInt(NPAGES - first);
          const before = (await file.snapshot(addr + first * PAGE_SIZE, n)).prot;
          const readOnlyLocal = (b: number): boolean =>
            (b & 0xf0) === HMM_DMIRROR_PROT_DEV_PRIVATE_LOCAL && (b & HMM_DMIRROR_PROT_WRITE) === 0;
          const refused = before.findIndex(readOnlyLocal);
          const fails =
            refused >= 0 &&
            before.subarray(0, refused).every((b) => (b & HMM_DMIRROR_PROT_WRITE) !== 0 || readOnlyLocal(b));
          const data = randomBytes(r, n * PAGE_SIZE);
          const res = await file.write(addr + first * PAGE_SIZE, n, data);
          const model = procs[0]!.bytes;
          if (!fails) {
            expect(res.ret, `${where}: device WRITE`).toBe(0);
            model.set(data, first * PAGE_SIZE);
          } else {
            expect(res.ret, `${where}: device WRITE`).toBe(-EFAULT);
            kinds.add('device write refused');
            // Every page before the first refused one is mapped writable: a device READ of them
            // faults nothing. Each holds the new data or the old, the new ones first.
            const got = refused === 0 ? NOTHING : (await file.read(addr + first * PAGE_SIZE, refused)).data;
            let written = 0;
            while (
              written < refused &&
              firstDifference(
                got.subarray(written * PAGE_SIZE, (written + 1) * PAGE_SIZE),
                data.subarray(written * PAGE_SIZE, (written + 1) * PAGE_SIZE),
              ) === -1
            )
              written++;
            model.set(data.subarray(0, written * PAGE_SIZE), first * PAGE_SIZE);
            const rest = model.subarray((first + written) * PAGE_SIZE, (first + refused) * PAGE_SIZE);
            expect(firstDifference(got.subarray(written * PAGE_SIZE), rest), `${where}: refused WRITE`).toBe(
              -1,
            );
          }
        } else {
          kinds.add('device read');
          const first = r.nextInt(NPAGES);
          const n = 1 + r.nextInt(NPAGES - first);
          const res = await file.read(addr + first * PAGE_SIZE, n);
          expect(res.ret).toBe(0);
          const want = procs[0]!.bytes.subarray(first * PAGE_SIZE, (first + n) * PAGE_SIZE);
          expect(firstDifference(res.data, want), `${where}: device READ`).toBe(-1);
        }
      }
      for (const pr of procs) {
        const got = await pr.p.read(addr, LEN);
        expect(firstDifference(got, pr.bytes)).toBe(-1);
      }
      await file.close();
      for (const pr of procs) await pr.p.exit();
      // Every kind of operation took place, and migrations and swap-outs really happened.
      expect([...kinds].sort()).toEqual(KINDS);
      kinds = new Set();
    }
  }, 300_000);

  it('MIGRATE_TO_DEV data read after later writes and a migration back still shows the pages as migrated', async () => {
    const machine = new Machine({ memory: 16 * 2 ** 20, hugetlbPages: 0 });
    const p = await machine.createProcess();
    const file = await machine.addDmirrorDevice({ chunkSize: 2 * 2 ** 20 }).open(p);
    const addr = await p.mmap(0, 4 * PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    await p.store32(addr, 0x11223344);
    await p.write(addr + PAGE_SIZE, new Uint8Array(PAGE_SIZE).fill(7));
    const res = await file.migrateToDev(addr, 4);
    expect(res.ret).toBe(0);
    await p.store32(addr, 5);
    await p.write(addr + PAGE_SIZE, new Uint8Array(PAGE_SIZE).fill(9));
    await p.store32(addr + 2 * PAGE_SIZE, 6);
    expect((await file.migrateToSys(addr, 4)).ret).toBe(0);
    const want = new Uint8Array(4 * PAGE_SIZE);
    want.set([0x44, 0x33, 0x22, 0x11], 0);
    want.fill(7, PAGE_SIZE, 2 * PAGE_SIZE);
    expect(firstDifference(res.data, want)).toBe(-1);
    expect(res.data).toBe(res.data);
  });
});
