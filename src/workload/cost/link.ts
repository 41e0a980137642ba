/**
 * Copy time by transfer size on a CPU–GPU link. Two models:
 *
 * - **affine** (default): `t(s) = t0 + s / B` per transfer and per copy engine. H2D and D2H are
 *   separate engines and run concurrently (full duplex).
 * - **atan** (UVMSmart-compatible): GPGPU-Sim UVM Smart's curve fit, `gmmu_t::calculate_transfer_time`
 *   in `src/gpgpu-sim/gpu-sim.cc`: speed `2a/π · atan(b · KiB)` GiB/s, halved for transfers of
 *   2 MiB or more, time truncated to whole core cycles (`unsigned long long` of cycles at the core
 *   clock), so that its published simulated durations are reproduced exactly.
 * @module
 */

/** The affine model: fixed cost per transfer plus bytes over bandwidth. */
export interface AffineLink {
  readonly kind: 'affine';
  /** Fixed cost of one transfer, ns. */
  readonly t0Ns: number;
  /** Bandwidth in bytes per ns (= GB/s, decimal). */
  readonly bytesPerNs: number;
}

/** UVMSmart's arctangent curve. */
export interface AtanLink {
  readonly kind: 'atan';
  /** `curve_a`, GiB/s (12 for its 16 GB/s setting). */
  readonly curveA: number;
  /** `curve_b`, per KiB (0.07292). */
  readonly curveB: number;
  /** Core clock in MHz: durations are truncated to whole cycles (1481 on the GTX 1080 Ti config). */
  readonly coreClockMhz: number;
  /** Transfers of at least this many bytes get half the speed (2 MiB in UVMSmart). */
  readonly halveAtBytes: number;
}

/** A link model. */
export type LinkModel = AffineLink | AtanLink;

const GIB = 1024 ** 3;

/** Duration in ns of one transfer of `bytes` on `link`. */
export function transferNs(link: LinkModel, bytes: number): number {
  if (bytes <= 0) return 0;
  if (link.kind === 'affine') return link.t0Ns + bytes / link.bytesPerNs;
  let speed = ((2 * link.curveA) / Math.PI) * Math.atan(link.curveB * (bytes / 1024));
  if (bytes >= link.halveAtBytes) speed /= 2;
  // UVMSmart computes cycles = bytes * core_freq / speed / 2^30 and truncates to an integer.
  const cycles = Math.floor((bytes * link.coreClockMhz * 1e6) / speed / GIB);
  return (cycles / link.coreClockMhz) * 1000;
}

/** A measured (bytes, ns) point for fitting. */
export interface LinkPoint {
  readonly bytes: number;
  readonly ns: number;
}

/**
 * Least-squares fit of the affine model on relative error (minimises Σ((t0 + s/B)/t − 1)²), so
 * small transfers weigh as much as large ones. This is how the presets' affine links are fitted.
 */
export function fitAffineLink(points: readonly LinkPoint[]): AffineLink {
  let a11 = 0;
  let a12 = 0;
  let a22 = 0;
  let b1 = 0;
  let b2 = 0;
  for (const { bytes, ns } of points) {
    const x1 = 1 / ns;
    const x2 = bytes / ns;
    a11 += x1 * x1;
    a12 += x1 * x2;
    a22 += x2 * x2;
    b1 += x1;
    b2 += x2;
  }
  const det = a11 * a22 - a12 * a12;
  const t0Ns = (b1 * a22 - b2 * a12) / det;
  const perByte = (a11 * b2 - a12 * b1) / det;
  return { kind: 'affine', t0Ns, bytesPerNs: 1 / perByte };
}
