/** The scenario validator: every error names the file, line, column and field path, exactly. */
import { describe, expect, it } from 'vitest';
import { formatIssue, loadScenario, ScenarioError } from '../../../src/cli/scenario/validate.ts';

/** A scenario with the given steps (one per line, from line 8). */
const doc = (...steps: string[]): string =>
  [
    '{',
    '  "name": "t",',
    '  "devices": [{ "name": "dev" }],',
    '  "processes": ["parent"],',
    '  "mappings": [',
    '    { "name": "buf", "pages": 16, "prot": ["read", "write"], "flags": ["private", "anonymous"] }',
    '  ],',
    '  "steps": [',
    steps.map((s) => `    ${s}`).join(',\n'),
    '  ]',
    '}',
  ].join('\n');
const OPEN = '{ "op": "open", "device": "dev", "file": "m" }';

const issues = (text: string): string[] => {
  try {
    loadScenario(text, 'x.json');
  } catch (e) {
    expect(e).toBeInstanceOf(ScenarioError);
    return (e as ScenarioError).issues.map(formatIssue);
  }
  throw new Error('valid');
};

describe('loadScenario', () => {
  it('accepts a valid scenario and fills in the defaults', () => {
    const s = loadScenario(
      doc(OPEN, '{ "op": "deviceRead", "file": "m", "mapping": "buf", "page": 2 }'),
      'dir/t.json',
    );
    expect(s.name).toBe('t');
    expect(s.devices).toEqual([{ name: 'dev' }]);
    expect(s.mappings[0]).toMatchObject({ name: 'buf', pages: 16, source: { path: 'mappings[0]', line: 6 } });
    expect(s.steps[1]).toMatchObject({ op: 'deviceRead', source: { path: 'steps[1]', line: 10, column: 5 } });
    expect(loadScenario('{"steps": []}', 'a/b/plain.json')).toMatchObject({
      name: 'plain',
      processes: ['process'],
    });
  });

  it('reports JSON syntax errors with line and column', () => {
    expect(issues('{\n  "steps": [\n    {"op": "read"}\n    {"op": "write"}\n  ]\n}')).toEqual([
      "x.json:4:5: JSON syntax error: expected ',' or ']' after an array element, got '{'",
    ]);
  });

  it('names an unknown operation, with a suggestion', () => {
    expect(issues(doc(OPEN, '{ "op": "migrate_to_dev", "file": "m", "mapping": "buf" }'))).toEqual([
      'x.json:10:13: steps[1].op: unknown operation "migrate_to_dev" (did you mean "migrateToDev"? expected one of mmap, munmap, mremap, vmas, fallocate, mprotect, madvise, write, read, store32, load32, fork, exit, sleep, open, close, deviceRead, deviceWrite, migrateToDev, migrateToSys, snapshot, exclusive, checkExclusive, release, setFlags, threads)',
    ]);
    expect(issues(doc('{ "mapping": "buf" }'))[0]).toBe(
      'x.json:9:5: steps[0]: missing "op" (the operation: one of mmap, munmap, mremap, vmas, fallocate, mprotect, madvise, write, read, store32, load32, fork, exit, sleep, open, close, deviceRead, deviceWrite, migrateToDev, migrateToSys, snapshot, exclusive, checkExclusive, release, setFlags, threads)',
    );
  });

  it('names unknown and missing properties and bad values', () => {
    expect(issues(doc('{ "op": "munmap", "mapping": "buf", "pagse": 2 }'))).toEqual([
      'x.json:9:41: steps[0].pagse: unknown property in munmap step (did you mean "pages"?)',
    ]);
    expect(issues(doc('{ "op": "mprotect", "mapping": "buf" }'))).toEqual([
      'x.json:9:5: steps[0]: missing required property "prot" in mprotect step',
    ]);
    expect(issues(doc('{ "op": "mprotect", "mapping": "buf", "prot": ["read", "rw"] }'))).toEqual([
      'x.json:9:60: steps[0].prot[1]: unknown protection "rw" (expected one of read, write, exec, none)',
    ]);
    expect(issues(doc('{ "op": "munmap", "mapping": "buf", "pages": "2" }'))).toEqual([
      'x.json:9:50: steps[0].pages: expected an integer ≥ 1 (pages in the range), got "2"',
    ]);
    expect(issues(doc('{ "op": "write", "mapping": "buf", "pattern": { "int32": 0, "fill": 1 } }'))).toEqual([
      'x.json:9:51: steps[0].pattern: give only one of "fill", "int32"',
    ]);
    expect(
      issues(
        doc(OPEN, '{ "op": "deviceRead", "file": "m", "mapping": "buf", "expect": { "ret": "-EFAUL" } }'),
      ),
    ).toEqual([
      'x.json:10:77: steps[1].expect.ret: "-EFAUL" is not an errno (expected 0 or one of "-EPERM", "-ENOENT", "-EINTR", "-EBADF", "-EAGAIN", "-ENOMEM", "-EACCES", "-EFAULT", "-EBUSY", "-ENODEV", "-EINVAL", "-EOVERFLOW", "-EOPNOTSUPP")',
    ]);
    expect(
      issues(
        doc(OPEN, '{ "op": "snapshot", "file": "m", "mapping": "buf", "expect": { "prot": ["ZERO|REED"] } }'),
      ),
    ).toEqual([
      'x.json:10:77: steps[1].expect.prot[0]: unknown snapshot bit "REED" (expected ERROR, NONE, READ, WRITE, PMD, PUD, ZERO, DEV_PRIVATE_LOCAL, DEV_PRIVATE_REMOTE, DEV_COHERENT_LOCAL, DEV_COHERENT_REMOTE, joined with |)',
    ]);
    expect(issues('{"machine": {"memory": "lots"}, "steps": []}')).toEqual([
      'x.json:1:24: machine.memory: "lots" is not a size (write e.g. 4096, "64KiB", "4MiB", "16 pages")',
    ]);
  });

  it('checks the hugetlb pools against the memory, gigantic pages first', () => {
    expect(issues('{"machine": {"memory": "2GiB", "giganticPages": 2}, "steps": []}')).toEqual([
      'x.json:1:49: machine.giganticPages: 2 huge pages of 1 GiB do not fit in 2147483648 bytes of memory (at most 1: each takes a 1 GiB-aligned GiB, and the first holds the zero pages)',
    ]);
    expect(issues('{"machine": {"giganticPages": -1}, "steps": []}')).toEqual([
      'x.json:1:31: machine.giganticPages: expected an integer ≥ 0 (1 GiB huge pages reserved at boot), got -1',
    ]);
    expect(
      issues('{"machine": {"memory": "3GiB", "giganticPages": 2, "hugetlbPages": 511}, "steps": []}'),
    ).toEqual([
      'x.json:1:68: machine.hugetlbPages: 511 huge pages of 2 MiB do not fit in 3221225472 bytes of memory (at most 510: two 2 MiB blocks hold the zero pages, and 2 pages of 1 GiB take 2 GiB)',
    ]);
    expect(() =>
      loadScenario(
        '{"machine": {"memory": "3GiB", "giganticPages": 2, "hugetlbPages": 510}, "steps": []}',
        'x.json',
      ),
    ).not.toThrow();
    expect(
      issues(
        doc(
          '{ "op": "mmap", "name": "g", "pages": 1, "prot": ["read"], "flags": ["anonymous", "hugetlb", "huge1G"] }',
        ),
      ),
    ).toEqual([
      'x.json:9:98: steps[0].flags[2]: unknown mmap flag "huge1G" (did you mean "huge1GB"? expected one of private, shared, anonymous, populate, hugetlb, huge2MB, huge1GB)',
    ]);
  });

  it('checks mremap: its flags, its target and its new name', () => {
    expect(
      issues(
        doc(
          '{ "op": "mremap", "mapping": "buf", "name": "a", "newPages": 2, "flags": ["fixed"] }',
          '{ "op": "mremap", "mapping": "buf", "name": "buf", "newPages": 2, "to": { "mapping": "bfu" } }',
        ),
      ),
    ).toEqual([
      'x.json:9:78: steps[0].flags: "fixed" and "dontunmap" need "maymove" (mremap returns -EINVAL)',
      'x.json:9:5: steps[0]: "fixed" needs "to": the new address',
      'x.json:10:77: steps[1].to: "to" is the new address of "fixed" only',
      'x.json:10:90: steps[1].to.mapping: unknown mapping "bfu" (did you mean "buf"?)',
      'x.json:10:49: steps[1].name: a mapping "buf" already exists',
    ]);
    expect(issues(doc('{ "op": "vmas", "mapping": "buf", "expect": { "vmas": ["0+2 rw"] } }'))).toEqual([
      'x.json:9:60: steps[0].expect.vmas[0]: "0+2 rw" is not a VMA (write FIRST+PAGES PERMS, e.g. "0+4 rw-p")',
    ]);
  });

  it('names an unknown fallocate mode', () => {
    expect(issues(doc('{ "op": "fallocate", "mapping": "buf", "mode": ["punchhole"] }'))).toEqual([
      'x.json:9:53: steps[0].mode[0]: unknown fallocate mode "punchhole" (did you mean "punchHole"? expected one of keepSize, punchHole, noHideStale, collapseRange, zeroRange, insertRange, unshareRange)',
    ]);
  });

  it('lists every unknown property, each at its name', () => {
    expect(issues(doc('{ "op": "munmap", "mapping": "buf", "pagse": 2, "paeg": 1 }'))).toEqual([
      'x.json:9:41: steps[0].pagse: unknown property in munmap step (did you mean "pages"?)',
      'x.json:9:53: steps[0].paeg: unknown property in munmap step (did you mean "page"?)',
    ]);
  });

  it('checks names and ranges in step order', () => {
    expect(
      issues(
        doc(
          '{ "op": "deviceRead", "file": "m", "mapping": "buf" }',
          '{ "op": "open", "device": "dev1", "file": "m" }',
          '{ "op": "munmap", "mapping": "bufer" }',
          '{ "op": "snapshot", "file": "m", "mapping": "buf", "page": 8, "pages": 16 }',
          '{ "op": "snapshot", "file": "m", "mapping": "buf", "pages": 2, "expect": { "prot": ["ZERO|READ"] } }',
          '{ "op": "read", "mapping": "buf", "process": "child" }',
          '{ "op": "deviceRead", "file": "m", "mapping": "buf", "expect": { "value": 3 } }',
        ),
      ),
    ).toEqual([
      'x.json:9:35: steps[0].file: unknown file "m" (no file is defined before this step)',
      'x.json:10:31: steps[1].device: unknown device "dev1" (did you mean "dev"?)',
      'x.json:11:34: steps[2].mapping: unknown mapping "bufer" (defined so far: buf)',
      'x.json:12:76: steps[3].pages: pages 8..23 run past the end of mapping "buf" (16 pages)',
      'x.json:13:88: steps[4].expect.prot: lists 1 pages, the range has 2',
      'x.json:14:50: steps[5].process: unknown process "child" (defined so far: parent)',
      'x.json:15:79: steps[6].expect.value: this step cannot expect "value" (it can expect ret, cpages, faults, data)',
    ]);
  });

  it('checks threads: names, nesting, and what they define', () => {
    expect(
      issues(
        doc(
          OPEN,
          '{ "op": "threads", "seed": 3, "threads": { "a": [{ "op": "threads", "threads": {} }], "main": [] } }',
        ),
      ),
    ).toEqual([
      'x.json:10:99: steps[1].threads.main: "main" is the host thread; pick another name',
      'x.json:10:54: steps[1].threads.a[0]: threads cannot be nested',
      'x.json:10:84: steps[1].threads.a[0].threads: give at least one thread',
      'x.json:10:32: steps[1].seed: a seed needs "schedule": "random"',
    ]);
  });
});
