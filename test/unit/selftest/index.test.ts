import { describe, expect, it } from 'vitest';
import type { Machine } from '../../../src/machine.ts';
import { MAP_ANONYMOUS, MAP_PRIVATE, PROT_READ } from '../../../src/mm/index.ts';
import { SegmentationFault } from '../../../src/mm/signals.ts';
import { expect as selftestExpect } from '../../../src/selftest/expect.ts';
import { SelftestFile } from '../../../src/selftest/harness.ts';
import {
  describeSelftestFailure,
  HMM_TESTS_ORDER,
  listSelftests,
  runSelftest,
  SELFTEST_FILES,
  type SelftestCase,
} from '../../../src/selftest/index.ts';

function find(name: string): SelftestCase {
  const c = listSelftests().find((x) => x.name === name);
  if (c === undefined) throw new Error(`no ${name}`);
  return c;
}

describe('listSelftests', () => {
  it('lists the 39 tests × 2 variants = 78 cases, each name once, named fixture.variant.test', () => {
    const cases = listSelftests();
    expect(cases.length).toBe(78);
    expect(new Set(cases.map((c) => c.name)).size).toBe(78);
    for (const c of cases) expect(c.name).toBe(`${c.fixture}.${c.variant}.${c.test}`);
    expect(new Set(cases.map((c) => c.test)).size).toBe(39);
    expect(HMM_TESTS_ORDER.length).toBe(39);
  });

  it('orders them as the kselftest harness runs hmm-tests.c: fixture, then variant, then declaration', () => {
    const names = listSelftests().map((c) => c.name);
    expect(names.slice(0, 3)).toEqual([
      'hmm.hmm_device_private.open_close',
      'hmm.hmm_device_private.anon_read',
      'hmm.hmm_device_private.anon_read_prot',
    ]);
    expect(names[5]).toBe('hmm.hmm_device_private.anon_write_child');
    expect(names[6]).toBe('hmm.hmm_device_private.anon_write_child_shared');
    expect(names[34]).toBe('hmm.hmm_device_private.benchmark_thp_migration');
    expect(names[35]).toBe('hmm.hmm_device_private.userfaultfd_read');
    expect(names[36]).toBe('hmm.hmm_device_coherent.open_close');
    expect(names[70]).toBe('hmm.hmm_device_coherent.benchmark_thp_migration');
    expect(names[71]).toBe('hmm.hmm_device_coherent.userfaultfd_read');
    expect(names.slice(72)).toEqual([
      'hmm2.hmm2_device_private.migrate_mixed',
      'hmm2.hmm2_device_private.snapshot',
      'hmm2.hmm2_device_private.double_map',
      'hmm2.hmm2_device_coherent.migrate_mixed',
      'hmm2.hmm2_device_coherent.snapshot',
      'hmm2.hmm2_device_coherent.double_map',
    ]);
    const tests = listSelftests()
      .filter((c) => c.variant === 'hmm_device_private')
      .map((c) => c.test);
    expect(tests).toEqual(
      HMM_TESTS_ORDER.filter((t) => !['migrate_mixed', 'snapshot', 'double_map'].includes(t)),
    );
  });

  it('is the union of the files’ cases, the same objects the vitest wrappers run', () => {
    const fromFiles = SELFTEST_FILES.flatMap((f) => f.cases());
    expect(fromFiles.length).toBe(78);
    expect(new Set(fromFiles)).toEqual(new Set(listSelftests()));
    expect(SELFTEST_FILES.map((f) => f.id)).toEqual([
      'anon',
      'child',
      'huge',
      'file',
      'migrate',
      'exclusive',
      'thp-migrate',
      'benchmark',
      'userfaultfd',
    ]);
  });

  it('carries the kernel’s TEST_F_TIMEOUT of the benchmark, and no timeout elsewhere', () => {
    const timed = listSelftests().filter((c) => c.timeout !== undefined);
    expect(timed.map((c) => [c.test, c.timeout])).toEqual([
      ['benchmark_thp_migration', 120_000],
      ['benchmark_thp_migration', 120_000],
    ]);
  });
});

describe('runSelftest', () => {
  it('reports a passing case with its virtual time, the same on every run', async () => {
    const machines: Machine[] = [];
    const c = find('hmm.hmm_device_private.anon_read');
    const first = await runSelftest(c, { onMachine: (m) => machines.push(m) });
    expect(first.ok).toBe(true);
    expect(first.error).toBeUndefined();
    expect(first.name).toBe('hmm.hmm_device_private.anon_read');
    expect(machines.length).toBe(1);
    expect(first.virtualNs).toBe(machines[0]!.sched.clock.now);
    expect(first.virtualNs).toBeGreaterThan(0);
    const second = await runSelftest(c);
    expect(second).toEqual(first);
  });

  it('hands the machine to onMachine before the test process exists', async () => {
    let processes = -1;
    const result = await runSelftest(find('hmm2.hmm2_device_coherent.migrate_mixed'), {
      onMachine: (m) => {
        processes = m.processes.length;
      },
    });
    expect(result.ok).toBe(true);
    expect(processes).toBe(0);
  });

  it('reports a failed assertion of a real case as kselftest does, and does not throw', async () => {
    const file = new SelftestFile('fake', 'fake');
    file.TEST_F_hmm('wrong_prot', async (self) => {
      const ptr = await self.process.mmap(0, self.page_size, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
      selftestExpect(ptr, 'buffer->ptr').toBe(0);
    });
    const [c] = file.cases();
    expect(c!.name).toBe('hmm.hmm_device_private.wrong_prot');
    const result = await runSelftest(c!);
    expect(result.ok).toBe(false);
    const lines = result.error!.split('\n');
    expect(lines[0]).toMatch(/^index\.test\.ts:\d+:wrong_prot:Expected buffer->ptr \(\d+\) == 0$/);
    expect(lines[1]).toBe('wrong_prot: Test terminated by assertion');
    await expect(c!.run()).rejects.toThrow(/Expected buffer->ptr/);
  });

  it('reports a deliberately failing fake case and other errors', async () => {
    const fake: SelftestCase = {
      name: 'hmm.hmm_device_private.fake',
      fixture: 'hmm',
      variant: 'hmm_device_private',
      test: 'fake',
      run: async () => selftestExpect(5, 'buffer->cpages').toBe(4),
    };
    const result = await runSelftest(fake);
    expect(result).toEqual({
      name: 'hmm.hmm_device_private.fake',
      ok: false,
      error: expect.stringMatching(/^index\.test\.ts:\d+:fake:Expected buffer->cpages \(5\) == 4\n/),
      virtualNs: 0,
    });
    expect(describeSelftestFailure('t', new SegmentationFault(0x1000, true, 'no vma'))).toBe(
      't: SegmentationFault: SIGSEGV at 0x1000 on write: no vma\nt: Test terminated unexpectedly by signal 11',
    );
    expect(describeSelftestFailure('t', new TypeError('boom'))).toBe('t: TypeError: boom\nt: Test failed');
    expect(describeSelftestFailure('t', 'thrown')).toBe('t: thrown\nt: Test failed');
  });

  it('refuses to register a test twice', () => {
    const file = new SelftestFile('fake', 'fake');
    file.TEST_F_hmm2('twice', async () => {});
    expect(() => file.TEST_F_hmm2('twice', async () => {})).toThrow(/registered twice/);
    expect(file.cases().map((c) => c.name)).toEqual([
      'hmm2.hmm2_device_private.twice',
      'hmm2.hmm2_device_coherent.twice',
    ]);
  });
});
