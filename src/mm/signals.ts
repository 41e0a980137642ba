/**
 * Signals a simulated CPU access can raise: the kernel would kill the thread; hmmsim throws.
 * @module
 */
import { SimulationError } from '../sim/errors.ts';

/** Base of the access errors; `addr` is the faulting address. */
export class AccessSignal extends SimulationError {
  /** Faulting address. */
  readonly addr: number;
  /** Whether the access was a write. */
  readonly write: boolean;
  /** @internal */
  constructor(kind: string, addr: number, write: boolean, why: string) {
    super(`${kind} at 0x${addr.toString(16)} on ${write ? 'write' : 'read'}: ${why}`);
    this.addr = addr;
    this.write = write;
  }
}

/** SIGSEGV: no VMA at the address, or the VMA forbids the access. */
export class SegmentationFault extends AccessSignal {
  /** `'SegmentationFault'`, for messages and `instanceof`-free checks. */
  override name = 'SegmentationFault';
  /** @internal */
  constructor(addr: number, write: boolean, why: string) {
    super('SIGSEGV', addr, write, why);
  }
}

/** SIGBUS: the fault handler could not provide the page (e.g. beyond the end of a file, hwpoison). */
export class BusError extends AccessSignal {
  /** `'BusError'`, for messages and `instanceof`-free checks. */
  override name = 'BusError';
  /** @internal */
  constructor(addr: number, write: boolean, why: string) {
    super('SIGBUS', addr, write, why);
  }
}

/** The fault needed memory and none was left: the kernel's OOM killer would end the process. */
export class OutOfMemoryKill extends AccessSignal {
  /** `'OutOfMemoryKill'`, for messages and `instanceof`-free checks. */
  override name = 'OutOfMemoryKill';
  /** @internal */
  constructor(addr: number, write: boolean) {
    super('OOM kill', addr, write, 'no free page for the fault');
  }
}

/** A fatal signal (SIGKILL) was pending while the access waited in a killable fault: the task dies. */
export class FatalSignalKill extends AccessSignal {
  /** `'FatalSignalKill'`, for messages and `instanceof`-free checks. */
  override name = 'FatalSignalKill';
  /** @internal */
  constructor(addr: number, write: boolean) {
    super('SIGKILL', addr, write, 'a fatal signal ended the fault');
  }
}
