/**
 * Array buffers of finished machines, kept for the next machines. The race explorer builds a
 * machine per schedule; allocating its typed arrays (frame metadata, allocator, page tables,
 * content chunks) costs several µs each plus the garbage collections they bring. A machine gives
 * its buffers back only through `Kernel.dispose`, when no simulated code can touch them any
 * more, so a buffer is never shared by two live machines; a buffer handed out again is zeroed
 * unless the taker says it does not read bytes it has not written.
 *
 * No size is kept beyond {@link POOL_MAX_PER_SIZE} buffers, no buffer above
 * {@link POOL_MAX_BUFFER_BYTES}, and no more than {@link POOL_MAX_BYTES} in all.
 * @module
 */

/** Buffers kept per byte length. */
export const POOL_MAX_PER_SIZE = 8;
/** Largest buffer kept, bytes. */
export const POOL_MAX_BUFFER_BYTES = 4 * 1024 * 1024;
/** Bytes kept in all. */
export const POOL_MAX_BYTES = 32 * 1024 * 1024;

/** Byte length → buffers of that length. */
const pool = new Map<number, ArrayBuffer[]>();
let pooledBytes = 0;

/**
 * An array buffer of `bytes` bytes: a pooled one when there is one, else a new one. Zero-filled
 * unless `zeroed` is false (the caller then never reads a byte before writing it).
 */
export function takeBuffer(bytes: number, zeroed = true): ArrayBuffer {
  const list = pool.get(bytes);
  if (list !== undefined && list.length > 0) {
    const buf = list.pop()!;
    pooledBytes -= bytes;
    if (zeroed) new Uint8Array(buf).fill(0);
    return buf;
  }
  return new ArrayBuffer(bytes);
}

/** Gives `buf` back for later machines; its owner must never use it again. */
export function giveBuffer(buf: ArrayBuffer): void {
  const bytes = buf.byteLength;
  if (bytes === 0 || bytes > POOL_MAX_BUFFER_BYTES || pooledBytes + bytes > POOL_MAX_BYTES) return;
  let list = pool.get(bytes);
  if (list === undefined) {
    list = [];
    pool.set(bytes, list);
  }
  // Given twice, a buffer would go to two machines: keep one copy.
  if (list.length >= POOL_MAX_PER_SIZE || list.includes(buf)) return;
  list.push(buf);
  pooledBytes += bytes;
}

/** Bytes held by the pool (a statistic, for tests). */
export function pooledBufferBytes(): number {
  return pooledBytes;
}

/** Drops every pooled buffer. */
export function clearBufferPool(): void {
  pool.clear();
  pooledBytes = 0;
}
