/**
 * The kernel oracle's host side, without a kernel: the scenario-to-runner compiler and what it
 * refuses, the cpio writer, the page hashes, the comparison of runner output with hmmsim's
 * results, the self-test TAP matching, and the fuzz generator's scenarios. (The guest side runs
 * in `npm run test:kernel`.)
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  compareScenario,
  compileBatch,
  encodePages,
  parseRunnerOutput,
  runOnHmmsim,
} from '../../../src/cli/kernel/compare.ts';
import { cpioArchive } from '../../../src/cli/kernel/cpio.ts';
import { generateFuzzScenarios, scenarioText } from '../../../src/cli/kernel/fuzz.ts';
import { compileProgram, ProgramRefusal } from '../../../src/cli/kernel/program.ts';
import { matchSelftests, parseKselftestTap } from '../../../src/cli/kernel/selftest.ts';
import { patternBytes } from '../../../src/cli/scenario/patterns.ts';
import { loadScenario } from '../../../src/cli/scenario/validate.ts';

const example = (name: string) => {
  const file = `examples/scenarios/${name}.json`;
  return loadScenario(readFileSync(file, 'utf8'), file);
};

describe('compileProgram', () => {
  it('turns the snapshot scenario into runner lines with resolved processes, files and minors', () => {
    const p = compileProgram(example('snapshot'));
    expect(p.text.split('\n')).toEqual([
      'scenario snapshot madvise 2',
      'process 0',
      'step 0 mmap 0 0 7 0 34 0 0',
      'step 1 munmap 0 0 1 1',
      'step 2 mprotect 0 0 2 1 1',
      'step 3 load32 0 0 8192',
      'step 4 mprotect 0 0 3 1 3',
      'step 5 store32 0 0 12288 3',
      'step 6 mprotect 0 0 3 1 1',
      'step 7 mprotect 0 0 4 3 3',
      'step 8 store32 0 0 16384 3',
      'step 9 open 0 0 0',
      'step 10 open 0 1 1',
      'step 11 ioctl 0 0 2 0 5 1',
      'step 12 ioctl 0 1 2 0 6 1',
      'step 13 ioctl 0 0 4 0 0 7',
      'end',
      '',
    ]);
    expect(p.steps[13]!.source.path).toBe('steps[12]');
  });

  it('sends a forked child its own slot and a file to the process that opened it', () => {
    const p = compileProgram(example('fork_device_private'));
    expect(p.text).toContain('step 4 fork 0 1\n');
    expect(p.text).toContain('step 6 open 1 1 0\n');
    expect(p.text).toContain('step 7 ioctl 1 1 1 0 0 1024 1 -1 i 0 -1\n');
  });

  it('numbers the steps of a batch consecutively', () => {
    const [a, b] = compileBatch([example('anon_write'), example('migrate')]);
    expect(a!.steps.map((s) => s.id)).toEqual([0, 1, 2, 3]);
    expect(b!.steps[0]!.id).toBe(4);
  });

  it('refuses threads, setFlags and swap, naming the step', () => {
    expect(() => compileProgram(example('device-read-vs-munmap'))).toThrow(
      /device-read-vs-munmap\.json:\d+: steps\[2\]: threads: the kernel runner executes sequential steps only/,
    );
    const flags = loadScenario(
      JSON.stringify({
        devices: [{ name: 'd' }],
        steps: [
          { op: 'open', device: 'd', file: 'f' },
          { op: 'setFlags', file: 'f', flags: ['failAlloc'] },
        ],
      }),
      'flags.json',
    );
    expect(() => compileProgram(flags)).toThrow(ProgramRefusal);
    expect(() => compileProgram(flags)).toThrow(/HMM_DMIRROR_FLAGS does not exist in Linux 6\.12/);
    const swap = loadScenario(JSON.stringify({ machine: { swap: '16MiB' }, steps: [] }), 'swap.json');
    expect(() => compileProgram(swap)).toThrow(/no swap device/);
    const gigantic = loadScenario(
      JSON.stringify({ machine: { memory: '2GiB', giganticPages: 1 }, steps: [] }),
      'gigantic.json',
    );
    expect(() => compileProgram(gigantic)).toThrow(/machine\.giganticPages: .*reserves no 1 GiB pages/);
  });
});

describe('cpioArchive', () => {
  it('writes newc entries, 4-byte aligned, ended by TRAILER!!!', () => {
    const a = cpioArchive([{ path: 'job/run', data: '#!/bin/sh\n', mode: 0o755 }]);
    const text = new TextDecoder().decode(a);
    expect(text.startsWith('070701')).toBe(true);
    expect(text.slice(14, 22)).toBe((0o100755).toString(16).padStart(8, '0'));
    expect(text.slice(54, 62)).toBe('0000000a');
    expect(text).toContain('job/run\0');
    expect(text).toContain('#!/bin/sh\n');
    expect(text).toContain('TRAILER!!!\0');
    expect(a.length % 4).toBe(0);
  });
});

describe('encodePages', () => {
  it('hashes each page with FNV-1a and codes runs of equal pages, as the runner does', () => {
    expect(encodePages(patternBytes({ int32: 0 }, 3 * 4096))).toBe('a711bec5,dc8a04c5,b0a69ec5');
    expect(encodePages(new Uint8Array(3 * 4096))).toBe('76efddc5*3');
  });
});

describe('compareScenario', () => {
  it('agrees with a kernel that answered as hmmsim, and names the step and field that differ', async () => {
    const doc = example('migrate');
    const [program] = compileBatch([doc]);
    const h = await runOnHmmsim(doc);
    const data = encodePages(patternBytes({ int32: 0 }, 1024 * 4096));
    const prot = '22'.repeat(1024);
    const lines = [
      'noise from the kernel',
      '@@R {"id":0,"ret":0}',
      '@@R {"id":1}',
      '@@R {"id":2,"ret":0}',
      `@@R {"id":3,"ret":0,"cpages":1024,"faults":0,"data":"${data}"}`,
      `@@R {"id":4,"ret":0,"cpages":1024,"faults":0,"prot":"${prot}"}`,
    ];
    const same = compareScenario(doc, program!, parseRunnerOutput(lines), h.results, h.failure);
    expect(same.divergences).toEqual([]);
    expect(same.steps).toBe(5);
    lines[5] = `@@R {"id":4,"ret":0,"cpages":1024,"faults":0,"prot":"${'02'.repeat(1024)}"}`;
    lines[4] = `@@R {"id":3,"ret":-14}`;
    const diff = compareScenario(doc, program!, parseRunnerOutput(lines), h.results, h.failure);
    expect(diff.divergences.map((d) => [d.source.path, d.field, d.kernel, d.hmmsim.slice(0, 23)])).toEqual([
      ['steps[2]', 'ret', '-EFAULT', '0'],
      ['steps[3]', 'prot', expect.stringMatching(/^page 0: WRITE /), 'DEV_PRIVATE_LOCAL|WRITE'],
    ]);
    expect(diff.divergences[0]!.source.line).toBeGreaterThan(1);
  });

  it('compiles mremap and vmas steps and compares the VMA layouts', async () => {
    const file = 'kernel/regressions/mremap-merge.json';
    const doc = loadScenario(readFileSync(file, 'utf8'), file);
    const [program] = compileBatch([doc]);
    const lines = program!.text.split('\n');
    // The moved range becomes mapping 7; FIXED names its target as a page of mapping 0 or 2.
    expect(lines).toContain('step 9 mremap 0 2 4 4 7 4 3 0 0');
    expect(lines).toContain('step 12 mremap 0 7 0 4 8 4 3 2 4');
    expect(lines).toContain('step 16 mremap 0 2 0 6 9 8 0 -1 0');
    expect(lines).toContain('step 13 vmas 0 2 0 12');
    const h = await runOnHmmsim(doc);
    const kernel = [...h.results.values()].map((r, id) =>
      r.vmas !== undefined
        ? `@@R {"id":${id},"ret":0,"vmas":${JSON.stringify(r.vmas)}}`
        : `@@R {"id":${id},"ret":0}`,
    );
    expect(
      compareScenario(doc, program!, parseRunnerOutput(kernel), h.results, h.failure).divergences,
    ).toEqual([]);
    kernel[13] = '@@R {"id":13,"ret":0,"vmas":["0+4 rw-p","4+4 rw-p","8+4 rw-p"]}';
    const diff = compareScenario(doc, program!, parseRunnerOutput(kernel), h.results, h.failure);
    expect(diff.divergences.map((d) => [d.source.path, d.field, d.kernel, d.hmmsim])).toEqual([
      ['steps[6]', 'vmas', '0+4 rw-p, 4+4 rw-p, 8+4 rw-p', '0+12 rw-p'],
    ]);
  });

  it('a step on a mapping whose mmap failed on both sides is run by neither, and agrees (fuzz-5-133)', async () => {
    // Two huge pages, three private hugetlb mappings: the third mmap is -ENOMEM (no reservation
    // left), and both the runner and hmmsim leave the later steps on it unrun.
    const doc = loadScenario(
      JSON.stringify({
        name: 'unmapped',
        machine: { hugetlbPages: 2 },
        devices: [{ name: 'd', type: 'private' }],
        processes: ['p'],
        steps: [
          ...['a', 'b', 'c'].map((name) => ({
            op: 'mmap',
            name,
            flags: ['private', 'anonymous', 'hugetlb'],
            pages: 512,
            prot: ['read', 'write'],
          })),
          { op: 'open', device: 'd', process: 'p', file: 'f' },
          { op: 'migrateToDev', file: 'f', mapping: 'c', page: 0, pages: 1 },
          { op: 'write', mapping: 'a', page: 0, pages: 1, pattern: { int32: 1 } },
        ],
      }),
      'unmapped.json',
    );
    const [program] = compileBatch([doc]);
    const h = await runOnHmmsim(doc);
    expect(h.failure).toBeNull();
    expect([h.results.get('steps[2]'), h.results.get('steps[4]')]).toEqual([
      { ret: -12 },
      { unmapped: true },
    ]);
    const lines = [
      '@@R {"id":0,"ret":0}',
      '@@R {"id":1,"ret":0}',
      '@@R {"id":2,"ret":-12}',
      '@@R {"id":3,"ret":3}',
    ];
    // The kernel's answer to step 4 (on the never-mapped mapping), then step 5's.
    const withStep4 = (step4: string) =>
      compareScenario(
        doc,
        program!,
        parseRunnerOutput([...lines, step4, '@@R {"id":5}']),
        h.results,
        h.failure,
      );
    const agree = withStep4('@@R {"id":4,"unmapped":true}');
    expect(agree.divergences).toEqual([]);
    expect(agree.steps).toBe(6);
    const ran = withStep4('@@R {"id":4,"ret":0,"cpages":1,"faults":0}');
    expect(ran.divergences.map((d) => [d.source.path, d.field, d.hmmsim])).toEqual([
      ['steps[4]', 'result', '(not run: its mapping was never mapped)'],
    ]);
  });

  it('reports where the data differ', async () => {
    const doc = example('anon_write');
    const [program] = compileBatch([doc]);
    const h = await runOnHmmsim(doc);
    const out = parseRunnerOutput([
      '@@R {"id":0,"ret":0}',
      '@@R {"id":1,"ret":0}',
      '@@R {"id":2,"ret":0,"cpages":1024,"faults":1}',
      `@@R {"id":3,"data":"${encodePages(new Uint8Array(1024 * 4096))}"}`,
    ]);
    const c = compareScenario(doc, program!, out, h.results, h.failure);
    expect(c.divergences).toHaveLength(1);
    expect(c.divergences[0]!.kernel).toMatch(/^page 0 of 1024: kernel zeros, hmmsim fnv a711bec5/);
  });
});

describe('self-test TAP', () => {
  it("parses kselftest TAP and matches it with hmmsim's results by name", () => {
    const { results, planned } = parseKselftestTap([
      'TAP version 13',
      '1..3',
      '# Starting 3 tests from 2 test cases.',
      '#  RUN           hmm.hmm_device_private.open_close ...',
      '#            OK  hmm.hmm_device_private.open_close',
      'ok 1 hmm.hmm_device_private.open_close',
      '# hmm-tests.c:100:anon_read:Expected 0 (0) == ret (-14)',
      'not ok 2 hmm.hmm_device_private.anon_read',
      'ok 3 hmm.hmm_device_coherent.open_close # SKIP no coherent device',
    ]);
    expect(planned).toBe(3);
    expect(results.map((r) => [r.name, r.outcome])).toEqual([
      ['hmm.hmm_device_private.open_close', 'pass'],
      ['hmm.hmm_device_private.anon_read', 'fail'],
      ['hmm.hmm_device_coherent.open_close', 'skip'],
    ]);
    const rows = matchSelftests(results, [
      { name: 'hmm.hmm_device_private.open_close', ok: true },
      { name: 'hmm.hmm_device_private.anon_read', ok: true },
      { name: 'hmm.hmm_device_coherent.open_close', ok: true },
      { name: 'hmm.hmm_device_private.migrate_anon_huge_zero', ok: true },
    ]);
    expect(rows.map((r) => [r.name.split('.')[2], r.kernel, r.hmmsim, r.agree])).toEqual([
      ['open_close', 'pass', 'pass', true],
      ['anon_read', 'fail', 'pass', false],
      ['open_close', 'skip', 'pass', false],
      ['migrate_anon_huge_zero', null, 'pass', true],
    ]);
  });
});

describe('fuzz generator', () => {
  it('makes scenarios the validator accepts, the runner can express and hmmsim runs', async () => {
    const scenarios = generateFuzzScenarios(60, 5);
    expect(generateFuzzScenarios(60, 5)).toEqual(scenarios);
    const ops = new Set<string>();
    for (const s of scenarios) {
      const doc = loadScenario(scenarioText(s), `${s.name}.json`);
      const p = compileProgram(doc);
      for (const st of p.steps) ops.add(st.op);
    }
    for (const op of ['mmap', 'write', 'read', 'open', 'migrateToDev', 'snapshot', 'fork', 'exit', 'madvise'])
      expect(ops).toContain(op);
    // No device READ/WRITE after a migrateToDev of the same mapping to the same private device
    // (6.12's driver oopses there).
    for (const s of scenarios) {
      const deviceOf = new Map<string, string>();
      const migrated = new Set<string>();
      for (const st of s.steps) {
        if (st.op === 'open') deviceOf.set(st.file as string, st.device as string);
        const dev = deviceOf.get(st.file as string);
        const type = s.devices.find((d) => d.name === dev)?.type;
        const key = `${dev}/${st.mapping}`;
        if (st.op === 'migrateToDev' && type === 'private') migrated.add(key);
        if (st.op === 'deviceRead' || st.op === 'deviceWrite') expect(migrated.has(key)).toBe(false);
      }
    }
    // No EXCLUSIVE on a mapping after a migrateToDev of it to a coherent device (6.12 loses a
    // reference when that device-exclusive entry is zapped, and a later RELEASE never returns).
    let coherentMigrations = 0;
    for (const s of generateFuzzScenarios(200, 10)) {
      const deviceOf = new Map<string, string>();
      const coherent = new Set<string>();
      for (const st of s.steps) {
        if (st.op === 'open') deviceOf.set(st.file as string, st.device as string);
        const type = s.devices.find((d) => d.name === deviceOf.get(st.file as string))?.type;
        if (st.op === 'migrateToDev' && type === 'coherent') {
          coherent.add(st.mapping as string);
          coherentMigrations++;
        }
        if (st.op === 'exclusive') expect(coherent.has(st.mapping as string), s.name).toBe(false);
      }
    }
    expect(coherentMigrations).toBeGreaterThan(10);
    for (const s of scenarios.slice(0, 10)) {
      const h = await runOnHmmsim(loadScenario(scenarioText(s), `${s.name}.json`));
      expect(h.failure).toBeNull();
    }
  });
});
