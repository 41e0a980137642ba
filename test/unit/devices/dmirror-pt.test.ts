/**
 * The dmirror device page table (`DmirrorPt`) against a `Map`, the structure it replaced: the
 * same entries, sizes and iteration order (insertion order) after random sets, deletes, range
 * erasures and clears over page numbers far above 2^31, read by page number and by leaf key and
 * index.
 */
import { describe, expect, it } from 'vitest';
import { DmirrorPt, DPT_LEAF_ENTRIES } from '../../../src/devices/dmirror/pt.ts';
import { Prng } from '../../../src/sim/prng.ts';

describe('DmirrorPt', () => {
  it('matches a Map over 50,000 random sets, deletes, range erasures and clears', () => {
    const r = new Prng(3);
    const pt = new DmirrorPt();
    const map = new Map<number, number>();
    const base = 0x7f0000000; // page numbers of user addresses near the top of the address space
    const vpn = (): number => base + (r.nextInt(4) === 0 ? r.nextInt(1 << 20) : r.nextInt(3000));
    for (let op = 0; op < 50_000; op++) {
      const k = r.nextInt(100);
      if (k < 55) {
        const v = vpn();
        const e = r.nextInt(2 ** 30) * 4 + r.nextInt(4);
        pt.set(v, e);
        map.set(v, e);
      } else if (k < 85) {
        const v = vpn();
        expect(pt.delete(v)).toBe(map.delete(v));
      } else if (k < 97) {
        const first = vpn();
        const last = first + r.nextInt(r.nextInt(2) === 0 ? 8 : 2000);
        pt.eraseRange(first, last);
        for (const key of [...map.keys()]) if (key >= first && key <= last) map.delete(key);
      } else if (k < 98) {
        pt.clear();
        map.clear();
      } else {
        const got: [number, number][] = [];
        pt.forEach((e, v) => {
          got.push([v, e]);
        });
        expect(got, `op ${op}: forEach`).toEqual([...map]);
        expect([...pt], `op ${op}: iteration`).toEqual([...map]);
        expect([...pt.keys()]).toEqual([...map.keys()]);
        expect([...pt.values()]).toEqual([...map.values()]);
      }
      expect(pt.size).toBe(map.size);
      const v = vpn();
      expect(pt.get(v)).toBe(map.get(v));
      expect(pt.has(v)).toBe(map.has(v));
      const key = Math.floor(v / DPT_LEAF_ENTRIES);
      expect(pt.getAt(key, v - key * DPT_LEAF_ENTRIES)).toBe(map.get(v));
    }
  });
});
