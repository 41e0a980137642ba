/**
 * The scenario format (docs/scenario-format.md) as one valibot schema, written in the words of
 * `../json-file/schema.ts`: it both checks a file (with the messages users see) and gives the
 * TypeScript types of `types.ts`, so the format is described once.
 * @module
 */
import * as v from 'valibot';
import {
  arr,
  bool,
  type ExactlyOne,
  int,
  map,
  type ObjectOutput,
  obj,
  oneOf,
  oneOfStrings,
  type Schema,
  str,
  tagged,
} from '../json-file/schema.ts';

/** Names of the errno values a `ret` may name. */
export const ERRNO_NAMES = [
  'EPERM',
  'ENOENT',
  'EINTR',
  'EBADF',
  'EAGAIN',
  'ENOMEM',
  'EACCES',
  'EFAULT',
  'EBUSY',
  'ENODEV',
  'EINVAL',
  'EOVERFLOW',
  'EOPNOTSUPP',
] as const;

/** Names of the dmirror snapshot bits (HMM_DMIRROR_PROT_*), joinable with `|`. */
export const PROT_BYTE_NAMES: Readonly<Record<string, number>> = {
  ERROR: 0xff,
  NONE: 0x00,
  READ: 0x01,
  WRITE: 0x02,
  PMD: 0x04,
  PUD: 0x08,
  ZERO: 0x10,
  DEV_PRIVATE_LOCAL: 0x20,
  DEV_PRIVATE_REMOTE: 0x30,
  DEV_COHERENT_LOCAL: 0x40,
  DEV_COHERENT_REMOTE: 0x50,
};

const SIZE_RE = /^(\d+)\s*(B|KiB|MiB|GiB|pages?)?$/;
const UNIT: Record<string, number> = {
  B: 1,
  KiB: 1024,
  MiB: 1024 ** 2,
  GiB: 1024 ** 3,
  page: 4096,
  pages: 4096,
};

/** Bytes of a size written as a number of bytes or a string like `"4MiB"`, `"1024 pages"`. */
export function parseSize(v: number | string): number {
  if (typeof v === 'number') return v;
  const m = SIZE_RE.exec(v.trim())!;
  return Number(m[1]) * UNIT[m[2] ?? 'B']!;
}

const name = (description: string): Schema<string> =>
  str(description, (s) =>
    /^[A-Za-z_][\w.-]*$/.test(s) ? undefined : `"${s}" is not a valid name (letters, digits, _ . -)`,
  );
const opt = v.optional;

const size = oneOf('a size: bytes, or a string such as "4MiB" or "1024 pages"', [
  int('bytes', 0),
  str('a size such as "4MiB"', (s) =>
    SIZE_RE.test(s.trim())
      ? undefined
      : `"${s}" is not a size (write e.g. 4096, "64KiB", "4MiB", "16 pages")`,
  ),
]);

const byte = int('a byte', 0, 255);

const PATTERN_KEYS = ['fill', 'int32', 'pageInt32', 'bytes'] as const;
const PATTERN_ENTRIES = {
  fill: opt(int('every byte', 0, 255)),
  int32: opt(int('32-bit word k holds int32 + k × step', -(2 ** 31), 2 ** 32 - 1)),
  pageInt32: opt(
    int(
      'the first 32-bit word of page k holds pageInt32 + k × step, the rest is zero',
      -(2 ** 31),
      2 ** 32 - 1,
    ),
  ),
  bytes: opt(arr('bytes repeated over the range', byte, 1)),
  step: opt(int('increment per word or page (default 1)', -(2 ** 31), 2 ** 31 - 1)),
  pages: opt(int('pages this segment covers (in a list of segments; default: the rest)', 1)),
};

/**
 * Bytes to write or expect: exactly one of `fill`, `int32`, `pageInt32`, `bytes`. The rule lets
 * only such objects through, so the output type says which one is there.
 */
export const PATTERN = obj('a data pattern', PATTERN_ENTRIES, { exactlyOne: PATTERN_KEYS }) as Schema<
  ExactlyOne<ObjectOutput<typeof PATTERN_ENTRIES>, (typeof PATTERN_KEYS)[number]>
>;

/** A pattern, or a list of segments each covering `pages` pages. */
export const PATTERN_SPEC = oneOf(
  'a data pattern ({"int32": 0}, {"fill": 0}, …) or a list of them with "pages"',
  [PATTERN, arr('pattern segments', PATTERN, 1)],
);

const snapshotBits = str('snapshot bit names joined with |', (s) => {
  for (const part of s.split('|').map((p) => p.trim())) {
    if (!(part in PROT_BYTE_NAMES)) {
      return `unknown snapshot bit "${part}" (expected ${Object.keys(PROT_BYTE_NAMES).join(', ')}, joined with |)`;
    }
  }
  return undefined;
});
const protValue = oneOf('a snapshot byte', [byte, snapshotBits]);

const retInt = int('0 or a negative errno', -4095, 2 ** 53 - 1);
const retName = str('an errno name such as "-EFAULT"', (s) =>
  /^-E[A-Z]+$/.test(s) && (ERRNO_NAMES as readonly string[]).includes(s.slice(1))
    ? undefined
    : `"${s}" is not an errno (expected 0 or one of ${ERRNO_NAMES.map((n) => `"-${n}"`).join(', ')})`,
);

/**
 * A VMA as a `vmas` step reports it: its first page relative to the range's first page, its
 * size in pages, and its permissions as /proc/pid/maps prints them (`"-2+8 rw-p"`).
 */
export const VMA_TEXT_RE = /^-?\d+\+\d+ [r-][w-][x-][ps]$/;
const vmaText = (s: string): string | undefined =>
  VMA_TEXT_RE.test(s) ? undefined : `"${s}" is not a VMA (write FIRST+PAGES PERMS, e.g. "0+4 rw-p")`;

/** Expectations of a step; every field given is checked. */
export const EXPECT = obj('expectations', {
  ret: opt(
    oneOf('the expected return value, or a list of acceptable ones', [
      retInt,
      retName,
      arr('acceptable return values', oneOf('a return value', [retInt, retName]), 1),
    ]),
  ),
  cpages: opt(int('pages the command processed', 0)),
  faults: opt(int('faults the command took', 0)),
  data: opt(PATTERN_SPEC),
  prot: opt(
    arr(
      'snapshot bytes page by page',
      oneOf('a snapshot byte, or {"prot": …, "pages": n}', [
        byte,
        snapshotBits,
        obj('a run of pages with the same snapshot byte', { prot: protValue, pages: int('pages', 1) }),
      ]),
      1,
    ),
  ),
  value: opt(int('the 32-bit value', 0, 2 ** 32 - 1)),
  signal: opt(oneOfStrings('signal', ['SIGSEGV', 'SIGBUS'])),
  vmas: opt(arr('VMAs as /proc/pid/maps shows them', str('a VMA such as "0+4 rw-p"', vmaText))),
});

const processName = name('a process name');
const process = opt(processName);
const range = {
  mapping: name('a mapping name'),
  page: opt(int('first page of the range', 0)),
  pages: opt(int('pages in the range', 1)),
};
const common = { note: opt(str('a comment')), expect: opt(EXPECT) };
const PROT_LIST = arr('protections', oneOfStrings('protection', ['read', 'write', 'exec', 'none']));

/** An mmap's fields (a step, or an entry of the top-level `mappings`). */
const MMAP_PROPERTIES = {
  name: name('the mapping name'),
  process,
  pages: opt(int('pages', 1)),
  size: opt(size),
  prot: PROT_LIST,
  flags: arr(
    'mmap flags',
    oneOfStrings('mmap flag', [
      'private',
      'shared',
      'anonymous',
      'populate',
      'hugetlb',
      'huge2MB',
      'huge1GB',
    ]),
    1,
  ),
  align: opt(oneOfStrings('alignment', ['page', 'pmd'])),
  thp: opt(oneOfStrings('THP hint', ['hugepage', 'nohugepage'])),
};

/** An entry of the top-level `mappings`. */
export const MAPPING = obj('a mapping', MMAP_PROPERTIES, { exactlyOne: ['pages', 'size'] });

/** A step variant: an object whose tag `op` is `op`. */
const step = <E extends v.ObjectEntries>(op: string, entries: E) =>
  obj(op, { op: v.literal(op), ...entries }, { what: `${op} step`, tag: 'op' });
const deviceRange = <const O extends string>(op: O) =>
  step(op, { op: v.literal(op), file: name('an open device file'), ...range, ...common });
const offset = opt(int('byte offset in the page', 0, 4092));

/** The steps a `threads` step runs, by thread name (steps nest, so this type is written out). */
export interface ThreadsFields {
  readonly op: 'threads';
  readonly schedule?: 'run-to-block' | 'round-robin' | 'random' | undefined;
  readonly seed?: number | undefined;
  readonly threads: Readonly<Record<string, readonly FileStep[]>>;
  readonly note?: string | undefined;
  /** A threads step expects nothing itself (its threads' steps do). */
  readonly expect?: undefined;
}

const THREADS: Schema<ThreadsFields> = step('threads', {
  op: v.literal('threads'),
  schedule: opt(oneOfStrings('schedule', ['run-to-block', 'round-robin', 'random'])),
  seed: opt(int('seed of the random schedule', 0)),
  threads: map(
    'threads by name',
    arr(
      'the steps of a thread',
      v.lazy(() => STEP),
    ),
  ),
  note: common.note,
});

/** Every step operation and its fields. */
export const STEP = tagged('a step', 'op', 'operation', {
  mmap: obj(
    'mmap',
    { op: v.literal('mmap'), ...MMAP_PROPERTIES, ...common },
    { what: 'mmap step', tag: 'op', exactlyOne: ['pages', 'size'] },
  ),
  munmap: step('munmap', { op: v.literal('munmap'), process, ...range, ...common }),
  mremap: step('mremap', {
    op: v.literal('mremap'),
    process,
    ...range,
    name: name('the name of the remapped range'),
    newPages: int('the new size in pages', 1),
    flags: opt(arr('mremap flags', oneOfStrings('mremap flag', ['maymove', 'fixed', 'dontunmap']))),
    to: opt(
      obj('the new address (MREMAP_FIXED)', {
        mapping: name('a mapping name'),
        page: opt(int('pages from the mapping start', -(2 ** 20), 2 ** 20)),
      }),
    ),
    ...common,
  }),
  vmas: step('vmas', { op: v.literal('vmas'), process, ...range, ...common }),
  fallocate: step('fallocate', {
    op: v.literal('fallocate'),
    process,
    ...range,
    mode: arr(
      'fallocate modes',
      oneOfStrings('fallocate mode', [
        'keepSize',
        'punchHole',
        'noHideStale',
        'collapseRange',
        'zeroRange',
        'insertRange',
        'unshareRange',
      ]),
    ),
    offset: opt(int('bytes past the start of the range', 0, 4095)),
    length: opt(int('bytes', 1)),
    ...common,
  }),
  mprotect: step('mprotect', { op: v.literal('mprotect'), process, ...range, prot: PROT_LIST, ...common }),
  madvise: step('madvise', {
    op: v.literal('madvise'),
    process,
    ...range,
    advice: oneOfStrings('advice', ['dontneed', 'free', 'hugepage', 'nohugepage', 'pageout', 'collapse']),
    ...common,
  }),
  write: step('write', { op: v.literal('write'), process, ...range, pattern: PATTERN_SPEC, ...common }),
  read: step('read', { op: v.literal('read'), process, ...range, ...common }),
  store32: step('store32', {
    op: v.literal('store32'),
    process,
    mapping: range.mapping,
    page: range.page,
    offset,
    value: int('the value', 0, 2 ** 32 - 1),
    ...common,
  }),
  load32: step('load32', {
    op: v.literal('load32'),
    process,
    mapping: range.mapping,
    page: range.page,
    offset,
    ...common,
  }),
  fork: step('fork', { op: v.literal('fork'), process, child: name('the child process name'), ...common }),
  exit: step('exit', { op: v.literal('exit'), process: processName, ...common }),
  sleep: step('sleep', { op: v.literal('sleep'), ns: int('nanoseconds', 0), ...common }),
  open: step('open', {
    op: v.literal('open'),
    device: name('a device name'),
    process,
    file: name('the name of the open file'),
    ...common,
  }),
  close: step('close', { op: v.literal('close'), file: name('an open device file'), ...common }),
  deviceRead: deviceRange('deviceRead'),
  deviceWrite: step('deviceWrite', {
    op: v.literal('deviceWrite'),
    file: name('an open device file'),
    ...range,
    ...common,
    pattern: PATTERN_SPEC,
  }),
  migrateToDev: deviceRange('migrateToDev'),
  migrateToSys: deviceRange('migrateToSys'),
  snapshot: deviceRange('snapshot'),
  exclusive: deviceRange('exclusive'),
  checkExclusive: deviceRange('checkExclusive'),
  release: step('release', { op: v.literal('release'), file: name('an open device file'), ...common }),
  setFlags: step('setFlags', {
    op: v.literal('setFlags'),
    file: name('an open device file'),
    flags: oneOf('fault-injection flags', [
      int('a flag word', 0),
      arr('flag names', oneOfStrings('flag', ['failAlloc'])),
    ]),
    ...common,
  }),
  threads: THREADS,
});

/** A step as written in the file (the loader adds where it was written). */
export type FileStep = v.InferOutput<typeof STEP>;

/** The whole scenario file. */
export const SCENARIO = obj('a scenario', {
  $schema: opt(str('a schema reference (ignored)')),
  name: opt(name('the scenario name')),
  description: opt(str('what the scenario shows')),
  machine: opt(
    obj('machine options', {
      memory: opt(size),
      swap: opt(size),
      hugetlbPages: opt(int('2 MiB huge pages reserved', 0)),
      giganticPages: opt(int('1 GiB huge pages reserved at boot', 0)),
      thp: opt(oneOfStrings('THP policy', ['always', 'madvise', 'never'])),
      seed: opt(int('the machine seed', 0)),
      kernelVersion: opt(oneOfStrings('kernel version', ['mainline', '6.12'])),
      tmpfs: opt(bool()),
    }),
  ),
  devices: opt(
    arr(
      'dmirror devices',
      obj('a device', {
        name: name('the device name'),
        type: opt(oneOfStrings('device type', ['private', 'coherent'])),
      }),
    ),
  ),
  processes: opt(arr('process names', processName, 1)),
  mappings: opt(arr('mappings made before the steps', MAPPING)),
  steps: arr('the steps', STEP),
  explore: opt(
    obj('defaults of hmmsim explore', {
      strategy: opt(oneOfStrings('strategy', ['random', 'pct', 'exhaustive'])),
      schedules: opt(int('schedules', 1)),
      seed: opt(int('seed', 0)),
      depth: opt(int('PCT depth', 1)),
      bound: opt(int('preemption bound', 0)),
    }),
  ),
});

/** A scenario file as written. */
export type ScenarioFile = v.InferOutput<typeof SCENARIO>;
