/**
 * The `hmm` and `hmm2` fixtures of the kernel's HMM self-tests, with their device-private and
 * device-coherent variants: the machine with the test module's four devices, `hmm_open`, and
 * `FIXTURE_SETUP`/`FIXTURE_TEARDOWN`.
 * @module
 */
import type { DmirrorFile } from '../../devices/dmirror/index.ts';
import { Machine } from '../../machine.ts';
import { PAGE_SHIFT, PAGE_SIZE, type Process } from '../../mm/index.ts';
import { expect } from '../expect.ts';
import { ONEMEG } from './buffer.ts';

/** Device number (minor) of the first device-private device. */
export const HMM_PRIVATE_DEVICE_ONE = 0;
/** Device number of the second device-private device. */
export const HMM_PRIVATE_DEVICE_TWO = 1;
/** Device number of the first device-coherent device. */
export const HMM_COHERENCE_DEVICE_ONE = 2;
/** Device number of the second device-coherent device. */
export const HMM_COHERENCE_DEVICE_TWO = 3;

/** `FIXTURE_VARIANT(hmm)`. */
export interface HmmVariant {
  /** The variant's name. */
  readonly name: 'hmm_device_private' | 'hmm_device_coherent';
  /** `variant->device_number`: the device the fixture opens. */
  readonly device_number: number;
}

/** `FIXTURE_VARIANT(hmm2)`. */
export interface Hmm2Variant {
  /** The variant's name. */
  readonly name: 'hmm2_device_private' | 'hmm2_device_coherent';
  /** `variant->device_number0`: the first device. */
  readonly device_number0: number;
  /** `variant->device_number1`: the second device. */
  readonly device_number1: number;
}

/** `FIXTURE_VARIANT_ADD(hmm, …)`. */
export const HMM_VARIANTS: readonly HmmVariant[] = [
  { name: 'hmm_device_private', device_number: HMM_PRIVATE_DEVICE_ONE },
  { name: 'hmm_device_coherent', device_number: HMM_COHERENCE_DEVICE_ONE },
];

/** `FIXTURE_VARIANT_ADD(hmm2, …)`. */
export const HMM2_VARIANTS: readonly Hmm2Variant[] = [
  {
    name: 'hmm2_device_private',
    device_number0: HMM_PRIVATE_DEVICE_ONE,
    device_number1: HMM_PRIVATE_DEVICE_TWO,
  },
  {
    name: 'hmm2_device_coherent',
    device_number0: HMM_COHERENCE_DEVICE_ONE,
    device_number1: HMM_COHERENCE_DEVICE_TWO,
  },
];

/** `hmm_is_coherent_type`. */
export function hmmIsCoherentType(devNum: number): boolean {
  return devNum >= HMM_COHERENCE_DEVICE_ONE;
}

/** What a self-test run is told (see `SelftestCase.run` in `./registry.ts`). */
export interface SelftestRunOptions {
  /**
   * Called with every {@link Machine} the case creates, as soon as it exists (before the test
   * process is created), e.g. to attach a trace.
   */
  onMachine?: (machine: Machine) => void;
}

/**
 * The machine the tests run on, with the module's four devices loaded (minors 0, 1 private; 2, 3
 * coherent) and one huge page reserved (`HUGETLB_SETUP_DEFAULT_PAGES(1)`), THP on madvise.
 * `options.onMachine` sees it before anything runs on it.
 */
export function hmmMachine(options?: SelftestRunOptions): Machine {
  const machine = new Machine({ memory: 256 * ONEMEG, thp: 'madvise', hugetlbPages: 1 });
  machine.addDmirrorDevice();
  machine.addDmirrorDevice();
  machine.addDmirrorDevice({ coherent: true });
  machine.addDmirrorDevice({ coherent: true });
  options?.onMachine?.(machine);
  return machine;
}

/** `hmm_open(unit)`: opens /dev/hmm_dmirror<unit> in `process`. */
export async function hmmOpen(machine: Machine, process: Process, unit: number): Promise<DmirrorFile> {
  const device = machine.dmirrorDevice(unit);
  if (device === undefined) throw new Error(`could not open hmm dmirror driver (/dev/hmm_dmirror${unit})`);
  return device.open(process);
}

/** `FIXTURE(hmm)` plus the machine and the test process. */
export interface HmmSelf {
  /** The machine the test runs on. */
  machine: Machine;
  /** The test program's process. */
  process: Process;
  /** `self->fd`: the open device file. */
  fd: DmirrorFile;
  /** `self->page_size`. */
  page_size: number;
  /** `self->page_shift`. */
  page_shift: number;
}

/** `FIXTURE(hmm2)` plus the machine and the test process. */
export interface Hmm2Self {
  /** The machine the test runs on. */
  machine: Machine;
  /** The test program's process. */
  process: Process;
  /** `self->fd0`: the first device's file. */
  fd0: DmirrorFile;
  /** `self->fd1`: the second device's file. */
  fd1: DmirrorFile;
  /** `self->page_size`. */
  page_size: number;
  /** `self->page_shift`. */
  page_shift: number;
}

/** `FIXTURE_SETUP(hmm)`, on a new machine. */
export async function fixtureSetupHmm(variant: HmmVariant, options?: SelftestRunOptions): Promise<HmmSelf> {
  const machine = hmmMachine(options);
  const process = await machine.createProcess();
  const fd = await hmmOpen(machine, process, variant.device_number);
  expect(fd.fd, 'self->fd').toBeGreaterThanOrEqual(0);
  return { machine, process, fd, page_size: PAGE_SIZE, page_shift: PAGE_SHIFT };
}

/** `FIXTURE_TEARDOWN(hmm)`: close(fd) must succeed. */
export async function fixtureTeardownHmm(self: HmmSelf): Promise<void> {
  await self.fd.close();
  expect(self.fd.isReleased, 'self->fd released').toBe(true);
}

/** `FIXTURE_SETUP(hmm2)`, on a new machine. */
export async function fixtureSetupHmm2(
  variant: Hmm2Variant,
  options?: SelftestRunOptions,
): Promise<Hmm2Self> {
  const machine = hmmMachine(options);
  const process = await machine.createProcess();
  const fd0 = await hmmOpen(machine, process, variant.device_number0);
  expect(fd0.fd, 'self->fd0').toBeGreaterThanOrEqual(0);
  const fd1 = await hmmOpen(machine, process, variant.device_number1);
  expect(fd1.fd, 'self->fd1').toBeGreaterThanOrEqual(0);
  return { machine, process, fd0, fd1, page_size: PAGE_SIZE, page_shift: PAGE_SHIFT };
}

/** `FIXTURE_TEARDOWN(hmm2)`. */
export async function fixtureTeardownHmm2(self: Hmm2Self): Promise<void> {
  await self.fd0.close();
  expect(self.fd0.isReleased, 'self->fd0 released').toBe(true);
  await self.fd1.close();
  expect(self.fd1.isReleased, 'self->fd1 released').toBe(true);
}
