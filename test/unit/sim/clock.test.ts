import { describe, expect, it } from 'vitest';
import { NSEC_PER_MSEC, VirtualClock } from '../../../src/sim/clock.ts';

describe('VirtualClock', () => {
  it('starts at 0 ns', () => {
    expect(new VirtualClock().now).toBe(0);
  });

  it('advances by a positive amount and ignores zero or negative ones', () => {
    const c = new VirtualClock();
    c.advance(250);
    c.advance(0);
    c.advance(-100);
    c.advance(750);
    expect(c.now).toBe(1000);
  });

  it('advances to a later time and never goes back', () => {
    const c = new VirtualClock();
    c.advanceTo(5000);
    expect(c.now).toBe(5000);
    c.advanceTo(4000);
    expect(c.now).toBe(5000);
    c.advanceTo(5000);
    expect(c.now).toBe(5000);
  });

  it('counts 1 000 000 ns per ms (HMM_RANGE_DEFAULT_TIMEOUT is 1000 ms)', () => {
    expect(NSEC_PER_MSEC).toBe(1_000_000);
    const c = new VirtualClock();
    c.advance(1000 * NSEC_PER_MSEC);
    expect(c.now).toBe(1e9);
  });
});
