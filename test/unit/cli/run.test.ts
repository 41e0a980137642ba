/** The scenario interpreter: steps, expectations and their failures, threads, patterns. */
import { describe, expect, it } from 'vitest';
import {
  describePattern,
  firstMismatch,
  patternBytes,
  patternInto,
} from '../../../src/cli/scenario/patterns.ts';
import { protName, runScenario, summarizeProt } from '../../../src/cli/scenario/run.ts';
import type { PatternSpec } from '../../../src/cli/scenario/types.ts';
import { loadScenario } from '../../../src/cli/scenario/validate.ts';

const scenario = (steps: unknown[], extra: Record<string, unknown> = {}) =>
  loadScenario(
    JSON.stringify({
      name: 't',
      devices: [{ name: 'dev' }],
      processes: ['parent'],
      mappings: [{ name: 'buf', pages: 4, prot: ['read', 'write'], flags: ['private', 'anonymous'] }],
      steps,
      ...extra,
    }),
    't.json',
  );
const OPEN = { op: 'open', device: 'dev', file: 'm' };

describe('runScenario', () => {
  it('runs CPU and device steps and checks their expectations', async () => {
    const r = await runScenario(
      scenario([
        { op: 'write', mapping: 'buf', pattern: { int32: 0 } },
        OPEN,
        {
          op: 'deviceRead',
          file: 'm',
          mapping: 'buf',
          expect: { ret: 0, cpages: 4, faults: 1, data: { int32: 0 } },
        },
        { op: 'migrateToDev', file: 'm', mapping: 'buf', page: 2, expect: { ret: 0, cpages: 2 } },
        {
          op: 'snapshot',
          file: 'm',
          mapping: 'buf',
          expect: {
            prot: [
              { prot: 'WRITE', pages: 2 },
              { prot: 'DEV_PRIVATE_LOCAL|WRITE', pages: 2 },
            ],
          },
        },
        { op: 'load32', mapping: 'buf', page: 3, expect: { value: 3072 } },
        { op: 'munmap', mapping: 'buf', page: 1, pages: 1 },
        { op: 'read', mapping: 'buf', page: 1, pages: 1, expect: { signal: 'SIGSEGV' } },
        { op: 'deviceRead', file: 'm', mapping: 'buf', expect: { ret: '-EFAULT' } },
      ]),
    );
    expect(r.failure).toBeNull();
    expect(r.ok).toBe(true);
    expect(r.steps.map((s) => s.checked.join(','))).toEqual([
      '',
      '',
      '',
      'ret,cpages,faults,data',
      'ret,cpages',
      'prot',
      'value',
      '',
      'signal',
      'ret',
    ]);
    expect(r.steps[3]!.text).toBe('READ buf[0..4): ret 0, cpages 4, faults 1');
    expect(r.steps[5]!.text).toBe(
      'SNAPSHOT buf[0..4): ret 0, cpages 4, faults 0; WRITE×2, DEV_PRIVATE_LOCAL|WRITE×2',
    );
    expect(r.steps[8]!.text).toMatch(/^CPU read buf\[1\.\.2\): SIGSEGV/);
    expect(r.counters).toMatchObject({ migratedToDevice: 2, migratedFromDevice: 1, deviceCommands: 4 });
    expect(r.counters.invalidations).toMatchObject({ UNMAP: 1 });
  });

  it('stops at the first failed expectation and names the step', async () => {
    const r = await runScenario(
      scenario([
        OPEN,
        { op: 'deviceWrite', file: 'm', mapping: 'buf', pattern: { fill: 7 }, expect: { cpages: 3 } },
        { op: 'exit', process: 'parent' },
      ]),
    );
    expect(r.ok).toBe(false);
    expect(r.failure).toEqual({
      path: 'steps[1]',
      line: 1,
      op: 'deviceWrite',
      message: 'expected cpages 3, got 4',
    });
    expect(r.steps).toHaveLength(2);
  });

  it('reports wrong data by word, and a failing system call', async () => {
    let r = await runScenario(
      scenario([
        { op: 'write', mapping: 'buf', pattern: { int32: 0 } },
        { op: 'read', mapping: 'buf', expect: { data: [{ pages: 1, int32: 0 }, { int32: 1025 }] } },
      ]),
    );
    expect(r.failure?.message).toBe(
      'data differs from int32 from 0 ×1 pages + int32 from 1025: word 1024 (page 1, byte 0) is 1024, expected 1025',
    );
    r = await runScenario(
      scenario([{ op: 'mprotect', mapping: 'buf', prot: ['read'], expect: { ret: '-EINVAL' } }]),
    );
    expect(r.failure?.message).toBe('expected ret -EINVAL, got 0');
    r = await runScenario(
      scenario([
        { op: 'munmap', mapping: 'buf' },
        { op: 'write', mapping: 'buf', pattern: { fill: 1 } },
      ]),
    );
    expect(r.failure?.message).toMatch(/^SIGSEGV at 0x[0-9a-f]+ on write/);
  });

  it('runs threads under the schedule asked for, accepting any listed outcome', async () => {
    const doc = scenario(
      [
        { op: 'write', mapping: 'buf', pattern: { int32: 0 } },
        OPEN,
        {
          op: 'threads',
          schedule: 'random',
          seed: 5,
          threads: {
            device: [
              { op: 'deviceRead', file: 'm', mapping: 'buf', expect: { ret: [0, '-EFAULT'], cpages: 4 } },
            ],
            cpu: [{ op: 'munmap', mapping: 'buf', page: 2 }],
          },
        },
        { op: 'deviceRead', file: 'm', mapping: 'buf', pages: 2, expect: { ret: 0, data: { int32: 0 } } },
      ],
      { machine: { memory: '64MiB', seed: 3 } },
    );
    const r = await runScenario(doc);
    expect(r.failure).toBeNull();
    expect(r.steps.map((s) => s.actor)).toEqual(
      expect.arrayContaining(['device/m', 'cpu/parent', 'main', 'm']),
    );
  });

  it('counts every page a migration moved back from the device, whoever caused it', async () => {
    const r = await runScenario(
      scenario(
        [
          { op: 'write', mapping: 'buf', pattern: { int32: 0 } },
          { op: 'open', device: 'd0', file: 'm0' },
          { op: 'open', device: 'd1', file: 'm1' },
          { op: 'migrateToDev', file: 'm0', mapping: 'buf', expect: { ret: 0, cpages: 4 } },
          // Another device's hmm_range_fault faults d0's pages: migrate_to_ram, one page each.
          { op: 'deviceWrite', file: 'm1', mapping: 'buf', pages: 1, pattern: { fill: 1 } },
          { op: 'fork', process: 'parent', child: 'kid' },
          // A CPU fault in the child: the page leaves the device for both processes at once.
          { op: 'load32', process: 'kid', mapping: 'buf', page: 1, expect: { value: 1024 } },
          { op: 'load32', mapping: 'buf', page: 1, expect: { value: 1024 } },
          // MIGRATE_TO_SYS brings what is left; pages already in RAM are not counted again.
          { op: 'migrateToSys', file: 'm0', mapping: 'buf', expect: { ret: 0, cpages: 2 } },
          { op: 'migrateToSys', file: 'm0', mapping: 'buf', expect: { ret: 0, cpages: 0 } },
        ],
        { devices: [{ name: 'd0' }, { name: 'd1' }] },
      ),
    );
    expect(r.failure).toBeNull();
    expect(r.counters).toMatchObject({ migratedToDevice: 4, migratedFromDevice: 4, devicePages: 0 });
  });

  it('maps a 1 GiB hugetlb page from the giganticPages pool', async () => {
    const G = ['private', 'anonymous', 'hugetlb', 'huge1GB'];
    const last = 262143;
    const r = await runScenario(
      scenario(
        [
          { op: 'store32', mapping: 'g', page: 0, value: 7 },
          { op: 'store32', mapping: 'g', page: last, value: 9 },
          { op: 'load32', mapping: 'g', page: last, expect: { value: 9 } },
          OPEN,
          // One PUD leaf: hmm_range_fault reports the 1 GiB order, the driver PUD.
          {
            op: 'snapshot',
            file: 'm',
            mapping: 'g',
            page: last - 1,
            pages: 2,
            expect: { prot: [{ prot: 'PUD|WRITE', pages: 2 }] },
          },
          { op: 'deviceRead', file: 'm', mapping: 'g', pages: 1, expect: { ret: 0, cpages: 1, faults: 1 } },
          // A split inside a hugetlb page is refused (hugetlb_vm_op_split).
          { op: 'munmap', mapping: 'g', page: 1, pages: 1, expect: { ret: '-EINVAL' } },
          // The pool's one page is taken: the reservation at mmap fails.
          { op: 'mmap', name: 'g2', size: '1GiB', prot: ['read'], flags: G, expect: { ret: '-ENOMEM' } },
        ],
        {
          machine: { memory: '2GiB', giganticPages: 1, hugetlbPages: 0 },
          mappings: [{ name: 'g', size: '1GiB', prot: ['read', 'write'], flags: G }],
        },
      ),
    );
    expect(r.failure).toBeNull();
    expect(r.counters.cpuFaults).toBe(1);
    // hugetlb pages are not in rss.
    expect(r.counters.residentPages).toBe(0);
  });

  it('mremaps under a new name and lists the VMAs over a range', async () => {
    const r = await runScenario(
      scenario(
        [
          { op: 'write', mapping: 'buf', pattern: { int32: 0 } },
          { op: 'munmap', mapping: 'x' },
          {
            op: 'mremap',
            mapping: 'buf',
            page: 1,
            pages: 2,
            name: 'mid',
            newPages: 2,
            flags: ['maymove', 'fixed'],
            to: { mapping: 'x', page: 1 },
          },
          { op: 'vmas', mapping: 'buf', expect: { vmas: ['0+1 rw-p', '3+1 rw-p'] } },
          { op: 'read', mapping: 'mid', expect: { data: { int32: 1024 } } },
          // Back where it came from: one VMA again (copy_vma merges with both sides).
          {
            op: 'mremap',
            mapping: 'mid',
            name: 'back',
            newPages: 2,
            flags: ['maymove', 'fixed'],
            to: { mapping: 'buf', page: 1 },
          },
          { op: 'vmas', mapping: 'buf', page: 1, pages: 1, expect: { vmas: ['-1+4 rw-p'] } },
          { op: 'vmas', mapping: 'g', expect: { vmas: ['0+1 r--p'] } },
          { op: 'mremap', mapping: 'buf', name: 'big', newPages: 8, expect: { ret: '-ENOMEM' } },
          { op: 'vmas', mapping: 'big', expect: { vmas: [] } },
        ],
        {
          mappings: [
            { name: 'x', pages: 4, prot: ['read', 'write'], flags: ['private', 'anonymous'] },
            { name: 'g', pages: 1, prot: ['read'], flags: ['private', 'anonymous'] },
            { name: 'buf', pages: 4, prot: ['read', 'write'], flags: ['private', 'anonymous'] },
          ],
        },
      ),
    );
    expect(r.failure).toEqual(
      expect.objectContaining({ path: 'steps[9]', message: 'mapping "big" does not exist (yet)' }),
    );
    expect(r.steps.map((s) => s.checked.join(','))).toEqual([
      ...['', '', '', '', '', ''],
      ...['vmas', 'data', '', 'vmas', 'vmas', 'ret'],
    ]);
    expect(r.steps[5]!.text).toMatch(/^mremap buf\[1\.\.3\) \(maymove\|fixed\) → mid: 2 pages at 0x/);
    expect(r.steps[6]!.text).toBe('VMAs over buf[0..4): 0+1 rw-p, 3+1 rw-p');
  });

  it('fallocates on the file of a file mapping; an anonymous mapping has none', async () => {
    const r = await runScenario(
      scenario(
        [
          { op: 'write', mapping: 'file', pattern: { int32: 1 } },
          { op: 'fallocate', mapping: 'file', page: 1, pages: 2, mode: ['punchHole', 'keepSize'] },
          {
            op: 'read',
            mapping: 'file',
            expect: { data: [{ pages: 1, int32: 1 }, { pages: 2, fill: 0 }, { int32: 3073 }] },
          },
          { op: 'fallocate', mapping: 'file', mode: ['punchHole'], expect: { ret: '-EOPNOTSUPP' } },
          { op: 'fallocate', mapping: 'file', offset: 4, length: 4, mode: ['punchHole', 'keepSize'] },
          { op: 'load32', mapping: 'file', offset: 4, expect: { value: 0 } },
          { op: 'load32', mapping: 'file', offset: 8, expect: { value: 3 } },
          { op: 'fallocate', mapping: 'buf', mode: [] },
        ],
        {
          machine: { tmpfs: true },
          mappings: [
            { name: 'buf', pages: 4, prot: ['read', 'write'], flags: ['private', 'anonymous'] },
            { name: 'file', pages: 4, prot: ['read', 'write'], flags: ['shared'] },
          ],
        },
      ),
    );
    expect(r.failure?.message).toBe(
      'mapping "buf" has no file (fallocate needs a file mapping made by mmap)',
    );
    expect(r.failure?.path).toBe('steps[7]');
    expect(r.steps[3]!.text).toBe(
      'fallocate punchHole|keepSize file[1..3) (bytes 4096+8192): 0 [notifier: CLEAR]',
    );
  });

  it('gives a forked child the mappings by name', async () => {
    const r = await runScenario(
      scenario([
        { op: 'store32', mapping: 'buf', page: 1, value: 9 },
        { op: 'fork', process: 'parent', child: 'kid' },
        { op: 'load32', process: 'kid', mapping: 'buf', page: 1, expect: { value: 9 } },
        { op: 'store32', process: 'kid', mapping: 'buf', page: 1, value: 10 },
        { op: 'load32', mapping: 'buf', page: 1, expect: { value: 9 } },
        { op: 'exit', process: 'kid' },
      ]),
    );
    expect(r.failure).toBeNull();
  });
});

describe('patterns', () => {
  it('builds int32, page int32, fill, bytes and segments', () => {
    const v = new DataView(patternBytes({ int32: 5, step: -1 }, 12).buffer);
    expect([v.getInt32(0, true), v.getInt32(4, true), v.getInt32(8, true)]).toEqual([5, 4, 3]);
    const p = patternBytes({ pageInt32: 1000 }, 2 * 4096);
    expect(new DataView(p.buffer).getUint32(4096, true)).toBe(1001);
    expect(p[4]).toBe(0);
    expect(Array.from(patternBytes({ bytes: [1, 2, 3] }, 5))).toEqual([1, 2, 3, 1, 2]);
    const seg = patternBytes([{ pages: 1, fill: 0 }, { fill: 9 }], 2 * 4096);
    expect([seg[4095], seg[4096]]).toEqual([0, 9]);
    expect(describePattern([{ pages: 1, fill: 0 }, { int32: 3 }])).toBe('fill 0x00 ×1 pages + int32 from 3');
    expect(firstMismatch(patternBytes({ fill: 1 }, 8), { fill: 1 })).toBeUndefined();
    expect(firstMismatch(new Uint8Array(8), { fill: 1 })).toBe(
      'byte 0 (page 0, byte 0) is 0x0, expected 0x1',
    );
    // A fill is read word by word, then the bytes after the last whole word.
    for (const at of [5, 8]) {
      const d = patternBytes({ fill: 0xa5 }, 9);
      d[at] = 0;
      expect(firstMismatch(d, { fill: 0xa5 })).toBe(`byte ${at} (page 0, byte ${at}) is 0x0, expected 0xa5`);
    }
  });

  it('agrees with a byte-at-a-time reference at every length, step and mismatch position', () => {
    const ref = (spec: { int32: number; step: number } | { bytes: number[] }, n: number) => {
      const out = new Uint8Array(n);
      if ('bytes' in spec) for (let i = 0; i < n; i++) out[i] = spec.bytes[i % spec.bytes.length]!;
      else
        for (let k = 0; k * 4 + 4 <= n; k++) {
          const v = (spec.int32 + k * spec.step) >>> 0;
          for (let b = 0; b < 4; b++) out[k * 4 + b] = (v >>> (8 * b)) & 0xff;
        }
      return out;
    };
    for (const n of [0, 1, 3, 4, 5, 7, 8, 13, 4096, 4099]) {
      for (const spec of [
        { int32: 7, step: 1 },
        { int32: -3, step: -5 },
        { int32: 2 ** 31 - 2, step: 3 },
        { bytes: [1] },
        { bytes: [9, 8, 7] },
        { bytes: [1, 2, 3, 4, 5, 6, 7] },
      ]) {
        expect(Array.from(patternBytes(spec, n))).toEqual(Array.from(ref(spec, n)));
        expect(firstMismatch(ref(spec, n), spec)).toBeUndefined();
        // A changed byte at every position, in an aligned and in an unaligned copy.
        for (let at = 0; at < Math.min(n, 9); at++) {
          for (const shift of [0, 1]) {
            const buf = new Uint8Array(n + shift);
            buf.set(ref(spec, n), shift);
            const data = buf.subarray(shift);
            data[at] = data[at]! ^ 0x40;
            expect(firstMismatch(data, spec)).toMatch(new RegExp(`(byte|word) ${'int32' in spec ? '' : at}`));
            if (!('int32' in spec)) expect(firstMismatch(data, spec)).toContain(`byte ${at} (`);
            else if (at + 4 - (at % 4) <= n) expect(firstMismatch(data, spec)).toContain(`word ${at >> 2} (`);
          }
        }
      }
    }
  });

  it('makes any span of a pattern chunk by chunk as patternBytes makes the whole', () => {
    const specs = [
      { fill: 0x5a },
      { int32: 7, step: 1 },
      { int32: -3, step: -5 },
      { int32: 2 ** 31 - 2, step: 3 },
      { pageInt32: 1000 },
      { pageInt32: -1, step: 7 },
      { bytes: [9, 8, 7] },
      { bytes: [1, 2, 3, 4, 5, 6, 7] },
      [{ pages: 1, fill: 0 }, { fill: 9 }],
      [
        { pages: 1, bytes: [1, 2, 3] },
        { pages: 1, int32: 5 },
        { pageInt32: 3, step: 2 },
      ],
      [{ pages: 1, int32: 1 }],
    ] satisfies PatternSpec[];
    for (const length of [4096, 3 * 4096, 4 * 4096 + 6]) {
      for (const spec of specs) {
        const whole = patternBytes(spec, length);
        // Page-sized chunks from an aligned start (as a page-aligned write) and from odd starts
        // (as a write that begins inside a page), into a dirty reused buffer.
        for (const first of [4096, 1, 4093, 7]) {
          const got = new Uint8Array(length);
          const dst = new Uint8Array(4096).fill(0xee);
          for (let done = 0; done < length; ) {
            const n = Math.min(done === 0 ? first : 4096, length - done);
            patternInto(spec, length, done, dst, n);
            got.set(dst.subarray(0, n), done);
            done += n;
          }
          // The first differing byte (-1: none), not a deep equality of kilobytes (slow).
          expect(got.findIndex((b, i) => b !== whole[i])).toBe(-1);
        }
      }
    }
  });

  it('names snapshot bytes', () => {
    expect(protName(0x22)).toBe('DEV_PRIVATE_LOCAL|WRITE');
    expect(protName(0x11)).toBe('ZERO|READ');
    expect(protName(0xff)).toBe('ERROR');
    expect(protName(0)).toBe('NONE');
    expect(summarizeProt(new Uint8Array([0xff, 0xff, 0x02]))).toBe('ERROR×2, WRITE');
  });
});
