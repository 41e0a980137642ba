/**
 * Reverse mapping of anonymous pages (`struct anon_vma`), reduced to one family per original
 * mapping: the VMAs of a process and of its forked children that may map the family's pages.
 * A page records its family id and linear page index; rmap finds it at
 * `vma.start + (index - vma.pgoff) * PAGE_SIZE` in each family VMA.
 * @module
 */
import type { Vma } from './vma.ts';

/** One anonymous reverse-map family. */
export class AnonVma {
  /** Mapping id stored in `PhysMem.mapping` of its pages. */
  readonly id: number;
  /** VMAs that may map its pages. */
  readonly vmas = new Set<Vma>();

  /** @param id the mapping id */
  constructor(id: number) {
    this.id = id;
  }
}

/** `anon_vma_prepare`: gives `vma` a reverse-map family before its first anonymous page. */
export function anonVmaPrepare(vma: import('./vma.ts').Vma): AnonVma {
  if (vma.anonVma === null) {
    vma.anonVma = vma.mm.kernel.newAnonVma();
    vma.anonVma.vmas.add(vma);
  }
  return vma.anonVma;
}
