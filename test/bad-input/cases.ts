/**
 * The bad inputs of the bad-input suite: command lines and scenario files a user can get wrong,
 * each with the exit code and the one-line message it must give. Files are written into a
 * temporary directory by name; `stdin` is what `run -` reads.
 */

/** One command-line case. */
export interface CliCase {
  readonly argv: readonly string[];
  /** Exit code expected. */
  readonly code: number;
  /** What stderr must match (the first line). */
  readonly err: RegExp;
  /** Standard input. */
  readonly stdin?: string;
}

/** A small valid scenario: a device reads a written mapping; a race of a read and an munmap. */
export function baseScenario(): Record<string, unknown> {
  return {
    name: 'base',
    machine: { memory: '64MiB' },
    devices: [{ name: 'dmirror0' }],
    processes: ['parent'],
    mappings: [{ name: 'buffer', pages: 16, prot: ['read', 'write'], flags: ['private', 'anonymous'] }],
    steps: [
      { op: 'write', mapping: 'buffer', pattern: { int32: 0 } },
      { op: 'open', device: 'dmirror0', file: 'mirror' },
      {
        op: 'threads',
        threads: {
          device: [{ op: 'deviceRead', file: 'mirror', mapping: 'buffer', expect: { ret: [0, '-EFAULT'] } }],
          unmapper: [{ op: 'munmap', mapping: 'buffer', page: 8, pages: 8 }],
        },
      },
      { op: 'deviceRead', file: 'mirror', mapping: 'buffer', pages: 8, expect: { ret: 0, cpages: 8 } },
    ],
    explore: { schedules: 20 },
  };
}

// biome-ignore lint/suspicious/noExplicitAny: the tests edit scenario documents freely
type Doc = Record<string, any>;
const edit = (f: (d: Doc) => void): string => {
  const d = baseScenario() as Doc;
  f(d);
  return JSON.stringify(d, null, 2);
};
const machine = (m: Doc): string => edit((d) => (d.machine = m));
const step0 = (s: Doc): string => edit((d) => (d.steps[0] = s));

/** Scenario files with what is wrong in each: file name → [text, message expected]. */
export const BAD_FILES: Record<string, readonly [string, RegExp]> = {
  // JSON syntax
  'empty.json': ['', /:1:1: JSON syntax error: expected a value, got the end of the file/],
  'spaces.json': ['   \n  ', /:2:3: JSON syntax error: expected a value/],
  'bom-only.json': ['\ufeff', /JSON syntax error: expected a value/],
  'trailing-comma-object.json': ['{"steps": [],}', /:1:14: JSON syntax error: trailing comma before \}/],
  'trailing-comma-array.json': ['{"steps": [1,]}', /JSON syntax error: trailing comma before \]/],
  'comment-line.json': ['// hi\n{"steps": []}', /:1:1: JSON syntax error: comments are not allowed in JSON/],
  'comment-block.json': ['{"steps": /* x */ []}', /JSON syntax error: comments are not allowed in JSON/],
  'single-quotes.json': ["{'steps': []}", /JSON syntax error: expected a property name in double quotes/],
  'single-quoted-value.json': ['{"name": \'x\', "steps": []}', /strings must use double quotes/],
  'unterminated-string.json': ['{"steps": [], "name": "abc', /:1:27: JSON syntax error: unterminated string/],
  'bad-escape.json': [
    '{"name": "a\\qb", "steps": []}',
    /:1:12: JSON syntax error: bad escape \\q in a string/,
  ],
  'control-char.json': [
    '{"name": "a\tb", "steps": []}',
    /:1:12: JSON syntax error: control character in a string \(escape it\)/,
  ],
  'nan.json': [
    '{"steps": [], "machine": {"seed": NaN}}',
    /:1:35: JSON syntax error: expected a value, got 'N'/,
  ],
  'infinity.json': [
    '{"steps": [], "machine": {"seed": Infinity}}',
    /:1:35: JSON syntax error: expected a value, got 'I'/,
  ],
  'leading-zero.json': ['{"steps": [], "machine": {"seed": 01}}', /JSON syntax error/],
  'plus-number.json': ['{"steps": [], "machine": {"seed": +1}}', /JSON syntax error: expected a value/],
  'hex-number.json': ['{"steps": [], "machine": {"seed": 0x10}}', /JSON syntax error/],
  'two-values.json': ['{"steps": []} {"steps": []}', /unexpected '\{' after the JSON value/],
  'missing-colon.json': ['{"steps" []}', /expected ':' after the property name "steps"/],
  'missing-comma.json': ['{"steps": [] "name": "x"}', /expected ',' or '\}' after a property value/],
  'unclosed-object.json': [
    '{"steps": []',
    /expected ',' or '\}' after a property value, got the end of the file/,
  ],
  'unclosed-array.json': ['{"steps": [', /JSON syntax error/],
  'duplicate-key.json': [
    '{"steps": [], "steps": []}',
    /:1:15: JSON syntax error: duplicate property "steps"/,
  ],
  'bare-word.json': ['hello', /:1:1: JSON syntax error: expected a value, got 'h'/],
  'deep-arrays.json': [
    `${'['.repeat(100_000)}${']'.repeat(100_000)}`,
    /:1:129: JSON syntax error: objects and arrays nested more than 128 levels deep/,
  ],
  'deep-objects.json': [
    `${'{"a":'.repeat(100_000)}1${'}'.repeat(100_000)}`,
    /:1:641: JSON syntax error: objects and arrays nested more than 128 levels deep/,
  ],
  'deep-mixed.json': [
    `{"steps": ${'[{"x":'.repeat(50_000)}1${'}]'.repeat(50_000)}}`,
    /JSON syntax error: objects and arrays nested more than 128 levels deep/,
  ],
  // shape
  'top-array.json': ['[]', /:1:1: expected an object \(a scenario\), got an array/],
  'top-string.json': ['"scenario"', /:1:1: expected an object \(a scenario\), got "scenario"/],
  'top-null.json': ['null', /:1:1: expected an object \(a scenario\), got null/],
  'no-steps.json': ['{}', /missing required property "steps" in a scenario/],
  'steps-object.json': ['{"steps": {}}', /:1:11: steps: expected an array \(the steps\), got an object/],
  'unknown-top.json': [
    edit((d) => (d.stpes = [])),
    /stpes: unknown property in a scenario \(did you mean "steps"\?\)/,
  ],
  'name-number.json': [
    edit((d) => (d.name = 5)),
    /:2:11: name: expected a string \(the scenario name\), got 5/,
  ],
  'name-invalid.json': [edit((d) => (d.name = 'a b')), /name: "a b" is not a valid name/],
  'processes-empty.json': [
    edit((d) => (d.processes = [])),
    /processes: expected at least 1 element\(s\), got none/,
  ],
  'process-dup.json': [edit((d) => (d.processes = ['p', 'p'])), /processes\[1\]: duplicate process "p"/],
  // machine
  'memory-zero.json': [
    machine({ memory: 0 }),
    /machine.memory: 0 bytes is less than the smallest machine, 8 MiB/,
  ],
  'memory-16-pages.json': [
    machine({ memory: '16 pages' }),
    /machine.memory: "16 pages" \(65536 bytes\) is less than the smallest machine, 8 MiB/,
  ],
  'memory-1e15.json': [
    machine({ memory: 1e15 }),
    /machine.memory: 1000000000000000 bytes is more than the largest machine, 256 GiB/,
  ],
  'memory-huge-string.json': [
    machine({ memory: '1024 GiB' }),
    /machine.memory: "1024 GiB" \(1099511627776 bytes\) is more than the largest machine/,
  ],
  'memory-negative.json': [
    machine({ memory: -1 }),
    /machine.memory: expected an integer ≥ 0 \(bytes\), got -1/,
  ],
  'memory-fraction.json': [
    machine({ memory: 1.5 }),
    /machine.memory: expected a size: bytes, or a string such as "4MiB" or "1024 pages", got 1.5/,
  ],
  'memory-unit-typo.json': [machine({ memory: '4 MB' }), /"4 MB" is not a size \(write e.g. 4096, "64KiB"/],
  'memory-bool.json': [machine({ memory: true }), /machine.memory: expected a size: .*, got true/],
  'hugetlb-too-many.json': [
    machine({ memory: '64MiB', hugetlbPages: 100 }),
    /machine.hugetlbPages: 100 huge pages of 2 MiB do not fit in 67108864 bytes of memory \(at most 30/,
  ],
  'hugetlb-negative.json': [
    machine({ hugetlbPages: -1 }),
    /machine.hugetlbPages: expected an integer ≥ 0 \(2 MiB huge pages reserved\), got -1/,
  ],
  'swap-huge.json': [
    machine({ swap: '1024 GiB' }),
    /machine.swap: "1024 GiB" \(1099511627776 bytes\) is more than the largest swap device, 64 GiB/,
  ],
  'thp-typo.json': [
    machine({ thp: 'allways' }),
    /machine.thp: unknown THP policy "allways" \(did you mean "always"\?/,
  ],
  'seed-negative.json': [
    machine({ seed: -3 }),
    /machine.seed: expected an integer ≥ 0 \(the machine seed\), got -3/,
  ],
  'machine-unknown.json': [
    machine({ memroy: '64MiB' }),
    /machine.memroy: unknown property .*did you mean "memory"/,
  ],
  // devices
  'device-type.json': [
    edit((d) => (d.devices = [{ name: 'g', type: 'privat' }])),
    /devices\[0\].type: unknown device type "privat" \(did you mean "private"\?/,
  ],
  'device-three.json': [
    edit((d) => (d.devices = [{ name: 'a' }, { name: 'b' }, { name: 'c' }])),
    /devices\[2\]: at most 2 private devices/,
  ],
  'device-dup.json': [
    edit((d) => (d.devices = [{ name: 'a' }, { name: 'a' }])),
    /devices\[1\].name: duplicate device "a"/,
  ],
  'device-noname.json': [edit((d) => (d.devices = [{}])), /devices\[0\]: missing required property "name"/],
  // mappings
  'mapping-prot.json': [
    edit((d) => (d.mappings[0].prot = ['rw'])),
    /mappings\[0\].prot\[0\]: unknown protection "rw"/,
  ],
  'mapping-flag.json': [
    edit((d) => (d.mappings[0].flags = ['privat', 'anonymous'])),
    /mappings\[0\].flags\[0\]: unknown mmap flag "privat" \(did you mean "private"\?/,
  ],
  'mapping-zero-size.json': [
    edit((d) => {
      delete d.mappings[0].pages;
      d.mappings[0].size = 0;
    }),
    /mappings\[0\].size: a mapping needs at least one byte/,
  ],
  'mapping-pages-and-size.json': [
    edit((d) => (d.mappings[0].size = 4096)),
    /mappings\[0\]: give only one of "pages", "size"/,
  ],
  'mapping-dup.json': [
    edit((d) => d.mappings.push({ ...d.mappings[0] })),
    /mappings\[1\].name: duplicate mapping "buffer"/,
  ],
  'mapping-process.json': [
    edit((d) => (d.mappings[0].process = 'child')),
    /mappings\[0\].process: unknown process "child"/,
  ],
  // steps
  'op-typo.json': [
    step0({ op: 'writ', mapping: 'buffer' }),
    /steps\[0\].op: unknown operation "writ" \(did you mean "write"\?/,
  ],
  'op-missing.json': [
    step0({ mapping: 'buffer' }),
    /steps\[0\]: missing "op" \(the operation: one of mmap, munmap/,
  ],
  'op-number.json': [step0({ op: 3 }), /steps\[0\].op: expected the operation as a string, got 3/],
  'step-string.json': [
    step0('write' as unknown as Doc),
    /steps\[0\]: expected an object \(a step\), got "write"/,
  ],
  'step-unknown-field.json': [
    step0({ op: 'write', mapping: 'buffer', pagse: 2 }),
    /steps\[0\].pagse: unknown property in write step \(did you mean "pages"\?\)/,
  ],
  'step-mapping-unknown.json': [
    step0({ op: 'write', mapping: 'bufer', pattern: { fill: 1 } }),
    /steps\[0\].mapping: unknown mapping "bufer" \(did you mean "buffer"\?\)/,
  ],
  'step-page-outside.json': [
    step0({ op: 'write', mapping: 'buffer', page: 16, pattern: { fill: 1 } }),
    /steps\[0\].page: page 16 is outside mapping "buffer" \(16 pages\)/,
  ],
  'step-pages-past.json': [
    step0({ op: 'write', mapping: 'buffer', page: 10, pages: 10, pattern: { fill: 1 } }),
    /steps\[0\].pages: pages 10..19 run past the end of mapping "buffer" \(16 pages\)/,
  ],
  'step-page-negative.json': [
    step0({ op: 'write', mapping: 'buffer', page: -1, pattern: { fill: 1 } }),
    /steps\[0\].page: expected an integer ≥ 0 \(first page of the range\), got -1/,
  ],
  'step-fill-256.json': [
    step0({ op: 'write', mapping: 'buffer', pattern: { fill: 256 } }),
    /steps\[0\].pattern.fill: expected an integer from 0 to 255 \(every byte\), got 256/,
  ],
  'step-int32-big.json': [
    step0({ op: 'write', mapping: 'buffer', pattern: { int32: 2 ** 32 } }),
    /steps\[0\].pattern.int32: expected an integer from -2147483648 to 4294967295 .*, got 4294967296/,
  ],
  'step-file-unknown.json': [
    edit((d) => (d.steps[3].file = 'mirorr')),
    /steps\[3\].file: unknown file "mirorr" \(did you mean "mirror"\?\)/,
  ],
  'step-device-unknown.json': [
    edit((d) => (d.steps[1].device = 'dmirror1')),
    /steps\[1\].device: unknown device "dmirror1" \(did you mean "dmirror0"\?\)/,
  ],
  'step-ret-unknown-errno.json': [
    edit((d) => (d.steps[3].expect.ret = '-EFOO')),
    /steps\[3\].expect.ret: "-EFOO" is not an errno \(expected 0 or one of "-EPERM"/,
  ],
  'step-expect-unknown.json': [
    edit((d) => (d.steps[3].expect.cpagse = 8)),
    /steps\[3\].expect.cpagse: .*did you mean "cpages"/,
  ],
  'step-madvise-advice.json': [
    step0({ op: 'madvise', mapping: 'buffer', advice: 'DONTNEEDD' }),
    /steps\[0\].advice: unknown advice "DONTNEEDD" \(did you mean "dontneed"\? expected one of dontneed, free/,
  ],
  'step-mprotect-prot.json': [
    step0({ op: 'mprotect', mapping: 'buffer', prot: ['read', 'rw'] }),
    /steps\[0\].prot\[1\]: unknown protection "rw"/,
  ],
  'threads-empty.json': [
    edit((d) => (d.steps[2].threads = {})),
    /steps\[2\].threads: give at least one thread/,
  ],
  'threads-bad-name.json': [
    edit((d) => (d.steps[2].threads = { a: 'x' })),
    /steps\[2\].threads.a: expected an array \(the steps of a thread\), got "x"/,
  ],
  'explore-strategy.json': [
    edit((d) => (d.explore = { strategy: 'pcts' })),
    /explore.strategy: unknown strategy "pcts" \(did you mean "pct"\?/,
  ],
  'explore-schedules-zero.json': [
    edit((d) => (d.explore = { schedules: 0 })),
    /explore.schedules: expected an integer ≥ 1 \(schedules\), got 0/,
  ],
};

/** Files that are valid for `run` but not for `explore` (exit 3 there). */
export const EXPLORE_BAD_FILES: Record<string, readonly [string, RegExp]> = {
  'no-threads.json': [
    edit((d) => d.steps.splice(2, 1)),
    /hmmsim explore needs exactly one "threads" step at the top level of "steps" \(found 0\)/,
  ],
  'two-threads.json': [
    edit((d) => d.steps.push(d.steps[2])),
    /hmmsim explore needs exactly one "threads" step at the top level of "steps" \(found 2\)/,
  ],
};

/** Valid files the suite uses. */
export const GOOD_FILES: Record<string, string> = {
  'good.json': JSON.stringify(baseScenario(), null, 2),
  'setup-fails.json': edit((d) =>
    d.steps.splice(2, 0, { op: 'deviceRead', file: 'mirror', mapping: 'buffer', expect: { cpages: 3 } }),
  ),
  'check-fails.json': edit((d) => (d.steps[3].expect.cpages = 7)),
};

const U = 2; // usage
/** Command lines a user can get wrong (files named here exist in the suite's directory). */
export const BAD_ARGS: readonly CliCase[] = [
  { argv: [], code: U, err: /^hmmsim — Linux's Heterogeneous Memory Management/ },
  { argv: ['demoo'], code: U, err: /^hmmsim: unknown command "demoo" \(did you mean "demo"\?\)$/ },
  { argv: ['slftest'], code: U, err: /^hmmsim: unknown command "slftest" \(did you mean "selftest"\?\)$/ },
  { argv: ['frobnicate'], code: U, err: /^hmmsim: unknown command "frobnicate"$/ },
  { argv: ['--json'], code: U, err: /^hmmsim: expected a command before --json$/ },
  { argv: ['-x'], code: U, err: /^hmmsim: expected a command before -x$/ },
  { argv: ['--verison'], code: U, err: /^hmmsim: expected a command before --verison$/ },
  { argv: ['run'], code: U, err: /^hmmsim: missing <scenario.json>$/ },
  { argv: ['run', 'a.json', 'b.json'], code: U, err: /^hmmsim: unexpected argument "b.json"/ },
  {
    argv: ['run', 'missing.json'],
    code: U,
    err: /^hmmsim: cannot read scenario file missing.json: no such file$/,
  },
  { argv: ['run', '.'], code: U, err: /^hmmsim: cannot read scenario file .: it is a directory$/ },
  {
    argv: ['run', 'good.json', '--jsn'],
    code: U,
    err: /^hmmsim: unknown option --jsn \(did you mean --json\?\)$/,
  },
  { argv: ['run', 'good.json', '--json=yes'], code: U, err: /^hmmsim: option --json takes no value$/ },
  { argv: ['run', 'good.json', '--trace'], code: U, err: /^hmmsim: option --trace needs a value \(FILE\)$/ },
  {
    argv: ['run', 'good.json', '--trace='],
    code: U,
    err: /^hmmsim: option --trace needs a non-empty value$/,
  },
  { argv: ['run', 'good.json', '-q'], code: U, err: /^hmmsim: unknown option -q$/ },
  {
    argv: ['run', 'good.json', '--trace', 'a.json', '--trace', 'b.json'],
    code: U,
    err: /^hmmsim: option --trace given twice$/,
  },
  {
    argv: ['demo', 'extra'],
    code: U,
    err: /^hmmsim: unexpected argument "extra" \(demo takes no arguments\)$/,
  },
  {
    argv: ['demo', '--trace', 'x.json', '--no-trace'],
    code: U,
    err: /^hmmsim: give --trace FILE or --no-trace, not both$/,
  },
  { argv: ['demo', '--no-trace=1'], code: U, err: /^hmmsim: option --no-trace takes no value$/ },
  { argv: ['selftest', '--filter'], code: U, err: /^hmmsim: option --filter needs a value \(PATTERN\)$/ },
  {
    argv: ['selftest', '--filter', 'no-such-test'],
    code: U,
    err: /^hmmsim: no self-test matches --filter no-such-test$/,
  },
  { argv: ['selftest', '--fliter', 'anon'], code: U, err: /did you mean --filter\?/ },
  {
    argv: ['selftest', 'anon_read'],
    code: U,
    err: /unexpected argument "anon_read" \(selftest takes no arguments\)/,
  },
  { argv: ['explore'], code: U, err: /^hmmsim: missing <scenario.json> or --mutant ID$/ },
  {
    argv: ['explore', 'good.json', '--mutant', 'D2'],
    code: U,
    err: /give a scenario file or --mutant ID, not both/,
  },
  { argv: ['explore', '--mutant', 'D99'], code: U, err: /^hmmsim: unknown mutant "D99"/ },
  { argv: ['explore', '--mutant', 'd2'], code: U, err: /unknown mutant "d2" \(did you mean "D2"\?/ },
  { argv: ['explore', '--mutant'], code: U, err: /option --mutant needs a value \(ID\)/ },
  {
    argv: ['explore', 'good.json', '--seconds', '0'],
    code: U,
    err: /^hmmsim: option --seconds must be more than 0, got 0$/,
  },
  {
    argv: ['explore', 'good.json', '--seconds', '-1'],
    code: U,
    err: /--seconds must be more than 0, got -1/,
  },
  {
    argv: ['explore', 'good.json', '--seconds', 'abc'],
    code: U,
    err: /option --seconds expects a number, got "abc"/,
  },
  { argv: ['explore', 'good.json', '--seconds', '1e999'], code: U, err: /option --seconds expects a number/ },
  {
    argv: ['explore', 'good.json', '--schedules', '0'],
    code: U,
    err: /option --schedules must be at least 1, got 0/,
  },
  {
    argv: ['explore', 'good.json', '--schedules', '1.5'],
    code: U,
    err: /--schedules expects an integer, got "1.5"/,
  },
  {
    argv: ['explore', 'good.json', '--schedules', '1e3'],
    code: U,
    err: /--schedules expects an integer, got "1e3"/,
  },
  {
    argv: ['explore', 'good.json', '--schedules', '99999999999999999999'],
    code: U,
    err: /--schedules expects an integer/,
  },
  {
    argv: ['explore', 'good.json', '--schedules', ''],
    code: U,
    err: /--schedules expects an integer, got ""/,
  },
  {
    argv: ['explore', 'good.json', '--seed', '-1'],
    code: U,
    err: /option --seed must be at least 0, got -1/,
  },
  {
    argv: ['explore', 'good.json', '--workers', '0'],
    code: U,
    err: /option --workers must be at least 1, got 0/,
  },
  {
    argv: ['explore', 'good.json', '--strategy', 'pcr'],
    code: U,
    err: /unknown value "pcr" \(did you mean "pct"\?/,
  },
  {
    argv: ['explore', 'good.json', '--strategy', 'bfs'],
    code: U,
    err: /expected one of random, pct, exhaustive/,
  },
  { argv: ['explore', 'good.json', '--depth', '2'], code: U, err: /--depth applies to --strategy pct/ },
  {
    argv: ['explore', 'good.json', '--bound', '2'],
    code: U,
    err: /--bound applies to --strategy exhaustive/,
  },
  {
    argv: ['explore', 'good.json', '--strategy', 'exhaustive', '--workers', '2'],
    code: U,
    err: /--workers shards a random or pct budget/,
  },
  {
    argv: ['explore', 'good.json', '--workers', '2', '--trace', 't.json'],
    code: U,
    err: /--trace needs --workers 1/,
  },
  {
    argv: ['explore', 'good.json', '--replay', 'garbage'],
    code: U,
    err: /^hmmsim: bad --replay token: replay token: expected 5 fields/,
  },
  { argv: ['explore', 'good.json', '--replay', ''], code: U, err: /option --replay needs a non-empty value/ },
  {
    argv: ['explore', 'good.json', '--replay', 'hx9.base.1.none.0'],
    code: U,
    err: /^hmmsim: bad --replay token: /,
  },
  {
    argv: ['explore', 'good.json', '--replay', 'hx1.base.x.none.0'],
    code: U,
    err: /^hmmsim: bad --replay token: /,
  },
  {
    argv: ['explore', 'good.json', '--replay', 'hx1.base.1.D77.0'],
    code: U,
    err: /^hmmsim: bad --replay token: /,
  },
  {
    argv: ['explore', 'good.json', '--replay', 'hx1.base.1.none.0-!'],
    code: U,
    err: /^hmmsim: bad --replay token: /,
  },
  {
    argv: ['explore', 'good.json', '--replay', 'hx1.other.1.none.0'],
    code: U,
    err: /the token is for scenario "other", not "base" \(good.json\)/,
  },
  {
    argv: ['explore', 'good.json', '--replay', 'hx1.base.1.none.9-9-9'],
    code: U,
    err: /^hmmsim: bad --replay token: replay token choices: choice 0 is 9, .*the token does not fit this scenario$/,
  },
  {
    argv: ['explore', '--replay', 'hx1.base.1.none.0'],
    code: U,
    err: /the token is for scenario "base" without a mutant: give its scenario file too/,
  },
  { argv: ['trace', 'demo'], code: U, err: /^hmmsim: missing -o FILE \(where to write the trace\)$/ },
  { argv: ['trace'], code: U, err: /^hmmsim: missing <scenario.json \| demo>$/ },
  { argv: ['trace', 'demo', '-o', 'a.json', '--trace', 'b.json'], code: U, err: /give -o FILE once/ },
  {
    argv: ['trace', 'nope.json', '-o', 'a.json'],
    code: U,
    err: /cannot read scenario file nope.json: no such file/,
  },
  { argv: ['trace', 'demo', '-o'], code: U, err: /option --output needs a value \(FILE\)/ },
  {
    argv: ['help', 'exploer'],
    code: U,
    err: /^hmmsim: unknown command "exploer" \(did you mean "explore"\?\)$/,
  },
  { argv: ['help', 'a', 'b'], code: U, err: /unexpected argument "b"/ },
  { argv: ['help', '--frob'], code: U, err: /unknown option --frob/ },
  // exit 3: files
  { argv: ['run', '-'], stdin: '{', code: 3, err: /^<stdin>:1:2: JSON syntax error/ },
  { argv: ['run', '-'], stdin: '', code: 3, err: /^<stdin>:1:1: JSON syntax error: expected a value/ },
  {
    argv: ['run', '-'],
    stdin: '{"steps": 1}',
    code: 3,
    err: /^<stdin>:1:11: steps: expected an array \(the steps\), got 1$/,
  },
  { argv: ['explore', 'no-threads.json'], code: 3, err: /found 0\)/ },
  { argv: ['explore', 'two-threads.json'], code: 3, err: /found 2\)/ },
  { argv: ['trace', 'memory-zero.json', '-o', 'x.trace.json'], code: 3, err: /machine.memory: 0 bytes/ },
  { argv: ['explore', 'deep-arrays.json'], code: 3, err: /nested more than 128 levels deep/ },
  // exit 1: checks that fail
  { argv: ['run', 'check-fails.json'], code: 1, err: /^$/ },
  {
    argv: ['explore', 'setup-fails.json'],
    code: 1,
    err: /^hmmsim: FAIL setup-fails.json:\d+: steps\[2\] \(deviceRead\): expected cpages 3, got 16 \(in the set-up, before the threads race: no schedule was explored\)$/,
  },
  // exit 0 with a note
  {
    argv: ['explore', 'good.json', '--schedules', '2', '--workers', '3'],
    code: 0,
    err: /^hmmsim: note: --workers 3 capped at \d \((\d cores|2 schedules)\)$/,
  },
];
