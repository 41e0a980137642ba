/**
 * Kernel scenarios of fork with device-private and device-exclusive pages.
 * @module
 */
import type { Machine } from '../../../machine.ts';
import type { Process } from '../../../mm/process.ts';
import { defaultTeardown } from '../../runner.ts';
import type { Scenario } from '../../types.ts';
import { hex } from '../scenario-kit.ts';
import { devicePageSetup } from './device-private.ts';
import {
  type DeviceState,
  deviceRead,
  deviceSetup,
  KERNEL_SCENARIO_MACHINE,
  kernelPageValue,
  NEW_VALUE,
} from './kit.ts';

/** A parent whose page 0 is on the device or device-exclusive, and what its child read. */
export interface ForkState extends DeviceState {
  /** The child's value of page 0 after the parent wrote it. */
  childValue: number | null;
  /** The child, once forked (the teardown exits it before the parent). */
  child: Process | null;
}

/** fork, the parent writes page 0, the child reads it: copy-on-write keeps the child's copy. */
async function forkThenParentWrites(s: ForkState): Promise<void> {
  const child = await s.process.fork();
  s.child = child;
  await child.load32(s.addr);
  await s.process.store32(s.addr, NEW_VALUE);
  s.childValue = await child.load32(s.addr);
}

async function forkTeardown(s: ForkState, machine: Machine): Promise<void> {
  if (s.child !== null && !s.child.exited) await s.child.exit();
  await defaultTeardown(machine);
}

/** The child must still see the value written before the fork. */
function checkChild(s: ForkState): void {
  if (s.childValue !== kernelPageValue(0)) {
    throw new Error(
      `the child reads ${hex(s.childValue ?? 0)} after the parent wrote ${hex(NEW_VALUE)}; it forked with ${hex(kernelPageValue(0))}`,
    );
  }
}

/**
 * A page migrated to device memory (mapped writable), the process forks and the parent writes
 * the page; meanwhile the device reads it. After fork both entries are read-only, so the parent's
 * write copies the page and the child keeps the old data. Kills F1: the parent's entry stays
 * writable, its write lands in the page it shares with the child (lost data for the child).
 */
export const forkWithDevicePrivatePage: Scenario<ForkState> = {
  name: 'kernel: fork with a writable device-private page',
  description: 'the parent forks and writes a page that lives in device memory; the device reads it',
  machine: KERNEL_SCENARIO_MACHINE,
  async setup(machine) {
    const s = await devicePageSetup(machine, 1);
    return { ...s, childValue: null, child: null };
  },
  threads: {
    parent: (s) => forkThenParentWrites(s),
    device: (s) => deviceRead(s),
  },
  check: checkChild,
  teardown: forkTeardown,
  stepBudget: 20_000,
};

/**
 * A page made device-exclusive (dmirror EXCLUSIVE), the process forks, the child reads the page
 * and the parent writes it. Fork restores the parent's entry and copies it as a present,
 * copy-on-write page. Kills F2: the exclusive entry is copied as it is; each side restores its
 * own entry writable on first access, and the parent's write shows in the child.
 */
export const forkWithExclusivePage: Scenario<ForkState> = {
  name: 'kernel: fork with a device-exclusive page',
  description: 'the parent forks with a device-exclusive page, the child reads it, the parent writes it',
  machine: KERNEL_SCENARIO_MACHINE,
  async setup(machine) {
    const s = await deviceSetup(machine, 1);
    const r = await s.file.exclusive(s.addr, 1);
    if (r.ret !== 0) throw new Error(`setup: EXCLUSIVE returned ${r.ret}`);
    return { ...s, childValue: null, child: null };
  },
  threads: {
    parent: (s) => forkThenParentWrites(s),
    device: async (s) => {
      s.ret = (await s.file.checkExclusive(s.addr, 1)).ret;
    },
  },
  check: checkChild,
  teardown: forkTeardown,
  stepBudget: 20_000,
};
