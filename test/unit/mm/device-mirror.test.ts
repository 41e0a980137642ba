/**
 * The device-mirror contract's calls (src/mm/device-mirror.ts): registration, the checked device
 * accesses, and what a misuse says.
 */
import { describe, expect, it } from 'vitest';
import {
  DEVICE_ACCESS_WRITE,
  type DeviceMirror,
  deviceMirrorRegister,
  deviceMirrorUnregister,
  deviceRead,
  deviceWrite,
  MAP_ANONYMOUS,
  MAP_PRIVATE,
  Machine,
  type MmObserver,
  PAGE_SIZE,
  PROT_READ,
  PROT_WRITE,
  UsageError,
} from '../../../src/index.ts';

async function setup() {
  const machine = new Machine({ memory: 16 * 1024 * 1024, hugetlbPages: 0 });
  const p = await machine.createProcess();
  const addr = await p.mmap(0, PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  await p.store32(addr, 0x12345678);
  const table = new Map<number, number>();
  const mirror: DeviceMirror = {
    name: 'test-device',
    mm: p.mm,
    forEachTranslation(visit) {
      for (const [vpn, pfn] of table) visit(vpn, pfn, DEVICE_ACCESS_WRITE);
    },
  };
  return { machine, p, addr, mirror, table };
}

describe('device mirrors', () => {
  it('registers once, unregisters, and refuses a second registration or a malformed mirror', async () => {
    const { machine, mirror } = await setup();
    deviceMirrorRegister(machine, mirror);
    expect(machine.deviceMirrors).toEqual([mirror]);
    expect(() => deviceMirrorRegister(machine, mirror)).toThrow(/already registered/);
    expect(() => deviceMirrorRegister(machine, { name: 'x' } as unknown as DeviceMirror)).toThrow(UsageError);
    const other = new Machine({ memory: 16 * 1024 * 1024, hugetlbPages: 0 });
    expect(() => deviceMirrorRegister(other, mirror)).toThrow(/another machine/);
    deviceMirrorUnregister(machine, mirror);
    deviceMirrorUnregister(machine, mirror);
    expect(machine.deviceMirrors).toEqual([]);
  });

  it('deviceRead and deviceWrite copy within one page and report to the observer', async () => {
    const { machine, p, addr, mirror } = await setup();
    const seen: [number, number, boolean, number[]][] = [];
    const observer: MmObserver = {
      deviceAccess(m, _mm, a, pfn, write, data) {
        expect(m).toBe(mirror);
        seen.push([a, pfn, write, [...data]]);
      },
    };
    machine.observer = observer;
    // The frame behind addr: the one holding the word the CPU stored.
    const frame = findFrame(machine, 0x12345678);
    const out = new Uint8Array(4);
    deviceRead(machine, mirror, addr, frame, out);
    expect(new DataView(out.buffer).getUint32(0, true)).toBe(0x12345678);
    deviceWrite(machine, mirror, addr + 8, frame, new Uint8Array([9, 9]));
    expect(await p.read(addr + 8, 2)).toEqual(new Uint8Array([9, 9]));
    expect(seen).toEqual([
      [addr, frame, false, [0x78, 0x56, 0x34, 0x12]],
      [addr + 8, frame, true, [9, 9]],
    ]);
    expect(() => deviceRead(machine, mirror, addr + PAGE_SIZE - 2, frame, new Uint8Array(4))).toThrow(
      /cross a page boundary/,
    );
    expect(() => deviceWrite(machine, mirror, addr, 0, new Uint8Array(1))).toThrow(/not a frame/);
  });
});

/** The RAM frame whose first word is `word`. */
function findFrame(machine: Machine, word: number): number {
  const b = new Uint8Array(4);
  for (let pfn = 1; pfn < machine.pm.ramFrames; pfn++) {
    if (!machine.pm.hasData(pfn)) continue;
    machine.pm.readBytes(pfn, 0, b, 0, 4);
    if (new DataView(b.buffer).getUint32(0, true) === word) return pfn;
  }
  throw new Error('not found');
}
