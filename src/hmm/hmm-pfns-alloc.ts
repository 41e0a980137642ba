/**
 * `hmm_pfns` arrays that the snapshot walk writes without copying: on a machine whose page
 * tables live in WebAssembly memory (all but small machines), the array is carved from that
 * memory, and the WebAssembly PTE loop writes its words in place. Any `BigUint64Array` still
 * works as `range.hmmPfns`; such an array's words pass through a scratch area instead.
 * @module
 */
import type { Kernel } from '../mm/kernel.ts';
import { UsageError } from '../sim/errors.ts';

/**
 * A zeroed `hmm_pfns` array of `npages` words for {@link hmmRangeFault} on `machine`, in the
 * machine's page-table memory when it has one (else a plain `BigUint64Array`). Give it back with
 * {@link hmmPfnsFree} when done; one never given back only keeps its memory until the tables
 * move (the walk stays correct on it either way).
 */
export function hmmPfnsAlloc(machine: Kernel, npages: number): BigUint64Array {
  if (!Number.isSafeInteger(npages) || npages < 0)
    throw new UsageError('hmmPfnsAlloc(npages)', `must be a non-negative integer, got ${String(npages)}`);
  return machine.pt.allocHmmPfns(npages);
}

/** Gives back an array of {@link hmmPfnsAlloc}; it must not be used afterwards. */
export function hmmPfnsFree(machine: Kernel, hmmPfns: BigUint64Array): void {
  machine.pt.freeHmmPfns(hmmPfns);
}
