/**
 * A swap device (mm/swapfile.c): slots with a reference count (`swap_map`: one per swap PTE) and
 * their contents, stored only for slots that hold non-zero data. Slot 0 is never used, so a
 * payload of 0 never names a slot. No swap cache: each swap-in reads a private copy, and the slot
 * is freed with its last reference (see docs/semantics.md).
 * @module
 */

import { kernelBug } from '../sim/errors.ts';
import { PAGE_SIZE } from './constants.ts';

const CHUNK_SLOTS = 512;

/** The machine's swap space. */
export class SwapDevice {
  /** Number of slots (0 = no swap). */
  readonly nrSlots: number;
  /** References to each slot. */
  readonly swapMap: Uint16Array;
  /** 1 when the slot holds stored data. */
  private readonly hasData: Uint8Array;
  private readonly chunks: (Uint8Array | undefined)[] = [];
  private readonly freeSlots: number[] = [];
  /** Slots in use. */
  inUse = 0;
  /** Pages written to swap since boot. */
  swapOuts = 0;
  /** Pages read back since boot. */
  swapIns = 0;

  /** @param bytes swap size in bytes (0 = none) */
  constructor(bytes: number) {
    this.nrSlots = Math.floor(Math.max(0, bytes) / PAGE_SIZE);
    this.swapMap = new Uint16Array(this.nrSlots + 1);
    this.hasData = new Uint8Array(this.nrSlots + 1);
    for (let s = this.nrSlots; s >= 1; s--) this.freeSlots.push(s);
  }

  /** Allocates a slot holding `data` (or zeros when null) with one reference; 0 when swap is full. */
  allocSlot(data: Uint8Array | null): number {
    const s = this.freeSlots.pop();
    if (s === undefined) return 0;
    this.swapMap[s] = 1;
    this.inUse++;
    this.swapOuts++;
    if (data === null) this.hasData[s] = 0;
    else {
      const c = Math.floor(s / CHUNK_SLOTS);
      let chunk = this.chunks[c];
      if (chunk === undefined) {
        chunk = new Uint8Array(CHUNK_SLOTS * PAGE_SIZE);
        this.chunks[c] = chunk;
      }
      chunk.set(data, (s % CHUNK_SLOTS) * PAGE_SIZE);
      this.hasData[s] = 1;
    }
    return s;
  }

  /** The slot's contents, or null when it reads as zeros. */
  read(slot: number): Uint8Array | null {
    if (this.hasData[slot] === 0) return null;
    const off = (slot % CHUNK_SLOTS) * PAGE_SIZE;
    return this.chunks[Math.floor(slot / CHUNK_SLOTS)]!.subarray(off, off + PAGE_SIZE);
  }

  /** `swap_duplicate`: one more swap PTE refers to the slot. */
  dup(slot: number): void {
    this.swapMap[slot]!++;
  }

  /** `swap_free`: drops one reference; the slot is freed at zero. */
  free(slot: number): void {
    if (this.swapMap[slot] === 0) kernelBug(`swap slot ${slot} freed twice`);
    if (--this.swapMap[slot]! === 0) {
      this.hasData[slot] = 0;
      this.freeSlots.push(slot);
      this.inUse--;
    }
  }
}
