import { describe, expect, it } from 'vitest';
import { KselftestTap } from '../../../src/selftest/tap.ts';

function tapLines(): { lines: string[]; tap: KselftestTap } {
  const lines: string[] = [];
  return { lines, tap: new KselftestTap((line) => lines.push(line)) };
}

const PASSING = { name: 'hmm.hmm_device_private.open_close', ok: true, virtualNs: 0 };
const FAILING = {
  name: 'hmm2.hmm2_device_coherent.snapshot',
  ok: false,
  error: 'migrate.ts:371:snapshot:Expected 0 == 10\nsnapshot: Test terminated by assertion',
  virtualNs: 2000,
};

describe('KselftestTap', () => {
  it('writes a passing run as the kselftest harness does', () => {
    const { lines, tap } = tapLines();
    tap.plan([
      { fixture: 'hmm', variant: 'hmm_device_private' },
      { fixture: 'hmm', variant: 'hmm_device_coherent' },
    ]);
    tap.result(0, PASSING);
    tap.result(1, { ...PASSING, name: 'hmm.hmm_device_coherent.open_close' });
    expect(tap.finish()).toBe(true);
    expect(lines).toEqual([
      'TAP version 13',
      '1..2',
      '# Starting 2 tests from 2 test cases.',
      '#  RUN           hmm.hmm_device_private.open_close ...',
      '#            OK  hmm.hmm_device_private.open_close',
      'ok 1 hmm.hmm_device_private.open_close',
      '#  RUN           hmm.hmm_device_coherent.open_close ...',
      '#            OK  hmm.hmm_device_coherent.open_close',
      'ok 2 hmm.hmm_device_coherent.open_close',
      '# PASSED: 2 / 2 tests passed.',
      '# Totals: pass:2 fail:0 xfail:0 xpass:0 skip:0 error:0',
    ]);
  });

  it('writes a failure with its report as comments between RUN and FAIL', () => {
    const { lines, tap } = tapLines();
    tap.plan([
      { fixture: 'hmm', variant: 'hmm_device_private' },
      { fixture: 'hmm2', variant: 'hmm2_device_coherent' },
    ]);
    tap.result(0, PASSING);
    tap.result(1, FAILING);
    expect(tap.finish()).toBe(false);
    expect(lines.slice(6)).toEqual([
      '#  RUN           hmm2.hmm2_device_coherent.snapshot ...',
      '# migrate.ts:371:snapshot:Expected 0 == 10',
      '# snapshot: Test terminated by assertion',
      '#          FAIL  hmm2.hmm2_device_coherent.snapshot',
      'not ok 2 hmm2.hmm2_device_coherent.snapshot',
      '# FAILED: 1 / 2 tests passed.',
      '# Totals: pass:1 fail:1 xfail:0 xpass:0 skip:0 error:0',
    ]);
  });

  it('counts test cases as fixture variants, and says when fewer tests ran than planned', () => {
    const { lines, tap } = tapLines();
    tap.plan([
      { fixture: 'hmm', variant: 'hmm_device_private' },
      { fixture: 'hmm', variant: 'hmm_device_private' },
      { fixture: 'hmm', variant: 'hmm_device_coherent' },
    ]);
    expect(lines[2]).toBe('# Starting 3 tests from 2 test cases.');
    tap.result(0, PASSING);
    expect(tap.finish()).toBe(false);
    expect(lines.slice(-3)).toEqual([
      '# PASSED: 1 / 1 tests passed.',
      '# Planned tests != run tests (3 != 1)',
      '# Totals: pass:1 fail:0 xfail:0 xpass:0 skip:0 error:0',
    ]);
  });
});
