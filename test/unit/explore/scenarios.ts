/**
 * Small scenarios for the explorer's own tests: a counter incremented by racing threads (with a
 * lost update when the increment is not atomic), and a device READ racing an munmap.
 */
import type { DmirrorFile } from '../../../src/devices/dmirror/file.ts';
import type { Scenario } from '../../../src/explore/types.ts';
import type { Machine } from '../../../src/machine.ts';
import { MAP_ANONYMOUS, MAP_PRIVATE, PROT_READ, PROT_WRITE } from '../../../src/mm/constants.ts';
import type { Process } from '../../../src/mm/process.ts';
import { EFAULT } from '../../../src/sim/errno.ts';

/** Shared state of the counter scenarios. */
export interface Counter {
  n: number;
}

/** A small machine: the counter scenarios touch no memory. */
export const SMALL_MACHINE = { memory: 8 * 1024 * 1024, hugetlbPages: 0 } as const;

/**
 * `threads` threads each add 1 to a shared counter `rounds` times. Non-atomic: load, a
 * preemption point, store (a lost update when another thread stores in between). Atomic: a
 * preemption point, then the increment. `check` wants `threads · rounds`.
 */
export function counterScenario(options: {
  atomic: boolean;
  threads?: number;
  rounds?: number;
}): Scenario<Counter> {
  const nThreads = options.threads ?? 2;
  const rounds = options.rounds ?? 1;
  const threads: Record<string, (s: Counter, m: Machine) => Promise<void>> = {};
  for (let t = 0; t < nThreads; t++) {
    threads[`inc${t}`] = async (s, m) => {
      for (let r = 0; r < rounds; r++) {
        if (options.atomic) {
          await m.sched.yield('before the increment');
          s.n++;
        } else {
          const v = s.n;
          await m.sched.yield('between load and store');
          s.n = v + 1;
        }
      }
    };
  }
  return {
    name: options.atomic ? 'atomic-counter' : 'lost-update',
    machine: SMALL_MACHINE,
    setup: () => ({ n: 0 }),
    threads,
    check(s) {
      if (s.n !== nThreads * rounds) throw new Error(`counter is ${s.n}, expected ${nThreads * rounds}`);
    },
  };
}

/** State of {@link readVersusMunmap}. */
export interface ReadMunmapState {
  readonly process: Process;
  readonly file: DmirrorFile;
  readonly addr: number;
}

/** Pages of {@link readVersusMunmap}. */
export const READ_PAGES = 4;

/** A device READ of four written pages racing an munmap of them (the benchmark's scenario). */
export const readVersusMunmap: Scenario<ReadMunmapState> = {
  name: 'read-vs-munmap',
  machine: SMALL_MACHINE,
  async setup(machine) {
    const process = await machine.createProcess();
    const len = READ_PAGES * 4096;
    const addr = await process.mmap(0, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    for (let i = 0; i < READ_PAGES; i++) await process.store32(addr + i * 4096, i + 1);
    const file = await machine.addDmirrorDevice({ chunkSize: 2 * 1024 * 1024 }).open(process);
    return { process, file, addr };
  },
  threads: {
    async 'device-read'(s) {
      const r = await s.file.read(s.addr, READ_PAGES);
      if (r.ret !== 0 && r.ret !== -EFAULT) throw new Error(`READ returned ${r.ret}`);
    },
    async munmap(s) {
      const r = await s.process.munmap(s.addr, READ_PAGES * 4096);
      if (r !== 0) throw new Error(`munmap returned ${r}`);
    },
  },
};
