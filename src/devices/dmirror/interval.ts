/**
 * `struct dmirror_interval` (lib/test_hmm.c): an interval notifier that knows the open dmirror file
 * it belongs to, so a callback can find the driver state (the kernel's `container_of`). The main
 * notifier of a file and the temporary notifiers of SNAPSHOT are both of this kind.
 * @module
 */
import { MmuIntervalNotifier } from '../../notifier/interval-notifier.ts';
import { UsageError } from '../../sim/errors.ts';
import type { DmirrorFile } from './file.ts';

/** An interval subscription owned by one open dmirror file. */
export class DmirrorInterval extends MmuIntervalNotifier {
  /** The open file whose mirror this subscription protects. */
  readonly dmirror: DmirrorFile;

  /** An unregistered subscription of `dmirror`. */
  constructor(dmirror: DmirrorFile) {
    super();
    this.dmirror = dmirror;
  }
}

/** `container_of(mni, …)`: the open file a callback's subscription belongs to. */
export function dmirrorOfNotifier(mni: MmuIntervalNotifier): DmirrorFile {
  if (!(mni instanceof DmirrorInterval)) {
    throw new UsageError('dmirror invalidate', 'called for a subscription that is not a DmirrorInterval');
  }
  return mni.dmirror;
}
