/**
 * Kernel scenarios with two devices mirroring one process: one device's walk racing the other's
 * migration.
 * @module
 */
import type { DmirrorFile } from '../../../devices/dmirror/file.ts';
import { HMM_DMIRROR_PROT_DEV_PRIVATE_REMOTE } from '../../../devices/dmirror/uapi.ts';
import type { Machine } from '../../../machine.ts';
import type { Scenario } from '../../types.ts';
import { hex } from '../scenario-kit.ts';
import {
  CHUNK,
  checkWords,
  type DeviceState,
  deviceRead,
  deviceSetup,
  KERNEL_SCENARIO_MACHINE,
  migrateToDevice,
} from './kit.ts';

/** One process mirrored by two device-private dmirror devices (minors 0 and 1). */
export interface TwoDeviceState extends DeviceState {
  /** The file of the second device. */
  readonly other: DmirrorFile;
}

async function twoDeviceSetup(machine: Machine, npages: number): Promise<TwoDeviceState> {
  const s = await deviceSetup(machine, npages);
  const other = await machine.addDmirrorDevice({ chunkSize: CHUNK }).open(s.process);
  return { ...s, other };
}

/**
 * Device 0 migrates a buffer to its memory while device 1 takes a SNAPSHOT. Device 0's private
 * pages are not device 1's: a snapshot (no fault requested) reports them as not present. Kills H9:
 * without the owner check device 1 gets device 0's private pfns as valid pages
 * (HMM_DMIRROR_PROT_DEV_PRIVATE_REMOTE).
 */
export const snapshotVersusOtherDeviceMigration: Scenario<TwoDeviceState> = {
  name: 'kernel: device 1 SNAPSHOT vs device 0 migration',
  description: 'dmirror 0 migrates 2 pages to its memory while dmirror 1 snapshots them',
  machine: KERNEL_SCENARIO_MACHINE,
  setup: (machine) => twoDeviceSetup(machine, 2),
  threads: {
    migrate: (s) => migrateToDevice(s),
    snapshot: async (s) => {
      const r = await s.other.snapshot(s.addr, s.npages);
      s.ret = r.ret;
      if (r.ret === 0) s.got = [...r.prot];
    },
  },
  check(s) {
    if (s.ret !== 0) throw new Error(`SNAPSHOT returned ${s.ret}, expected 0`);
    for (let i = 0; i < s.npages; i++) {
      if ((s.got[i]! & 0xf0) === HMM_DMIRROR_PROT_DEV_PRIVATE_REMOTE)
        throw new Error(
          `device 1 was handed device 0's private page ${i} as a valid page (${hex(s.got[i]!)})`,
        );
    }
  },
  stepBudget: 20_000,
};

/**
 * Device 0 migrates a buffer to its memory while device 1 READs it. Device 1 requests every page:
 * the kernel migrates device 0's pages back to RAM (migrate_to_ram) and the READ returns the
 * data. Kills H10: device 1 gets -EFAULT for a page that is merely on another device.
 */
export const readVersusOtherDeviceMigration: Scenario<TwoDeviceState> = {
  name: 'kernel: device 1 READ vs device 0 migration',
  description: 'dmirror 0 migrates 2 pages to its memory while dmirror 1 reads them',
  machine: KERNEL_SCENARIO_MACHINE,
  setup: (machine) => twoDeviceSetup(machine, 2),
  threads: {
    migrate: (s) => migrateToDevice(s),
    read: (s) => deviceRead(s, s.other),
  },
  check(s) {
    if (s.ret !== 0) throw new Error(`device 1 READ returned ${s.ret}, expected 0`);
    checkWords(s);
  },
  stepBudget: 20_000,
};
