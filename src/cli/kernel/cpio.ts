/**
 * A writer of cpio archives in the "newc" format, the one the kernel unpacks into its initramfs.
 * The kernel oracle appends a small archive with the job of one boot (the scenario programs and
 * the script that runs them) to the cached initramfs: the kernel unpacks concatenated archives
 * one after the other.
 * @module
 */

/** A regular file to put in the archive. */
export interface CpioFile {
  /** Path inside the guest, without a leading `/` (its directory must exist in the base image). */
  readonly path: string;
  readonly data: Uint8Array | string;
  /** Permission bits (default 0o644). */
  readonly mode?: number;
}

const hex8 = (n: number): string => n.toString(16).padStart(8, '0');
const pad4 = (n: number): number => (4 - (n % 4)) % 4;

/** The archive holding `files`, ended by the TRAILER!!! entry. */
export function cpioArchive(files: readonly CpioFile[]): Uint8Array {
  const enc = new TextEncoder();
  const parts: Uint8Array[] = [];
  let size = 0;
  const push = (b: Uint8Array): void => {
    parts.push(b);
    size += b.length;
  };
  const entry = (name: string, mode: number, data: Uint8Array, ino: number): void => {
    const nameBytes = enc.encode(`${name}\0`);
    const fields = [ino, mode, 0, 0, 1, 0, data.length, 0, 0, 0, 0, nameBytes.length, 0];
    const header = enc.encode(`070701${fields.map(hex8).join('')}`);
    push(header);
    push(nameBytes);
    push(new Uint8Array(pad4(header.length + nameBytes.length)));
    push(data);
    push(new Uint8Array(pad4(data.length)));
  };
  files.forEach((f, i) => {
    const data = typeof f.data === 'string' ? enc.encode(f.data) : f.data;
    entry(f.path, 0o100000 | (f.mode ?? 0o644), data, 0x4000 + i);
  });
  entry('TRAILER!!!', 0, new Uint8Array(0), 0);
  const out = new Uint8Array(size);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
