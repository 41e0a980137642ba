/**
 * hmmsim's demonstration (`npm start`, `hmmsim demo`): a process and a device sharing an address
 * space through HMM, narrated on the virtual clock. The narration lives in src/cli/demo.ts; this
 * file keeps the example runnable on its own (`npx tsx examples/demo.ts`).
 *
 *   1. a process maps 8 pages and writes them;
 *   2. the device mirrors them (READ: hmm_range_fault faults nothing, the pages are there);
 *   3. the CPU unmaps two pages: UNMAP reaches the device's notifier, which drops its entries;
 *      the device reads again and gets -EFAULT for the hole, then mirrors the rest;
 *   4. the remaining pages migrate to device-private memory (MIGRATE_TO_DEV);
 *   5. the CPU reads one of them: a device-private fault migrates it back (migrate_to_ram);
 *   6. fork with pages on the device: the child writes, its page comes back to RAM and is copied.
 *
 * Run: npm start
 * @module
 */
export { type DemoEntry, type DemoResult, runDemo, runDemoDetailed } from '../src/cli/demo.ts';

import { runDemo } from '../src/cli/demo.ts';

if (import.meta.url === `file://${process.argv[1]}`) {
  runDemo((line) => console.log(line)).catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
}
