/**
 * The scenario format as a schema (a small, JSON-Schema-like language interpreted by
 * `validate.ts`): objects with known properties, discriminated steps, strings from a list,
 * bounded integers, and alternatives chosen by the JSON type of the value.
 * @module
 */

/** A schema node. `description` says what the value is (used in messages). */
export type Schema =
  | StringSchema
  | {
      readonly type: 'integer';
      readonly description: string;
      readonly minimum?: number;
      readonly maximum?: number;
    }
  | { readonly type: 'boolean'; readonly description: string }
  | {
      readonly type: 'array';
      readonly description: string;
      readonly items: Schema;
      readonly minItems?: number;
    }
  | ObjectSchema
  | {
      /** Alternatives told apart by the JSON type of the value (at most one per JSON type). */
      readonly type: 'oneOf';
      readonly description: string;
      readonly variants: readonly Schema[];
    }
  | {
      /** Objects discriminated by the string field `tag`. */
      readonly type: 'tagged';
      readonly description: string;
      readonly tag: string;
      /** What a tag value is called in messages ("operation"). */
      readonly noun: string;
      readonly variants: Readonly<Record<string, ObjectSchema>>;
    }
  | { readonly type: 'ref'; readonly name: 'step' };

export interface StringSchema {
  readonly type: 'string';
  readonly description: string;
  readonly enum?: readonly string[];
  /** What an enum value is called in messages ("protection"). */
  readonly noun?: string;
  /** A further check; returns what is wrong or undefined. */
  readonly check?: (value: string) => string | undefined;
  readonly minLength?: number;
}

export interface ObjectSchema {
  readonly type: 'object';
  readonly description: string;
  readonly properties: Readonly<Record<string, Schema>>;
  readonly required?: readonly string[];
  /** When set, any other property name is allowed and validated with this schema (a map). */
  readonly additional?: Schema;
  /** Groups of properties of which at most one may be given. */
  readonly atMostOne?: readonly (readonly string[])[];
  /** Groups of properties of which exactly one must be given. */
  readonly exactlyOne?: readonly (readonly string[])[];
}

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

const str = (description: string, extra: Partial<StringSchema> = {}): StringSchema => ({
  type: 'string',
  description,
  ...extra,
});
const int = (description: string, minimum?: number, maximum?: number): Schema => ({
  type: 'integer',
  description,
  ...(minimum === undefined ? {} : { minimum }),
  ...(maximum === undefined ? {} : { maximum }),
});
const name = (description: string): StringSchema =>
  str(description, {
    check: (v) =>
      /^[A-Za-z_][\w.-]*$/.test(v) ? undefined : `"${v}" is not a valid name (letters, digits, _ . -)`,
  });

const size: Schema = {
  type: 'oneOf',
  description: 'a size: bytes, or a string such as "4MiB" or "1024 pages"',
  variants: [
    int('bytes', 0),
    str('a size such as "4MiB"', {
      check: (v) =>
        SIZE_RE.test(v.trim())
          ? undefined
          : `"${v}" is not a size (write e.g. 4096, "64KiB", "4MiB", "16 pages")`,
    }),
  ],
};

const byte = int('a byte', 0, 255);

/** Bytes to write or expect. */
export const PATTERN: ObjectSchema = {
  type: 'object',
  description: 'a data pattern',
  properties: {
    fill: int('every byte', 0, 255),
    int32: int('32-bit word k holds int32 + k × step', -(2 ** 31), 2 ** 32 - 1),
    pageInt32: int(
      'the first 32-bit word of page k holds pageInt32 + k × step, the rest is zero',
      -(2 ** 31),
      2 ** 32 - 1,
    ),
    bytes: { type: 'array', description: 'bytes repeated over the range', items: byte, minItems: 1 },
    step: int('increment per word or page (default 1)', -(2 ** 31), 2 ** 31 - 1),
    pages: int('pages this segment covers (in a list of segments; default: the rest)', 1),
  },
  exactlyOne: [['fill', 'int32', 'pageInt32', 'bytes']],
};

/** A pattern, or a list of segments each covering `pages` pages. */
export const PATTERN_SPEC: Schema = {
  type: 'oneOf',
  description: 'a data pattern ({"int32": 0}, {"fill": 0}, …) or a list of them with "pages"',
  variants: [PATTERN, { type: 'array', description: 'pattern segments', items: PATTERN, minItems: 1 }],
};

const PROT_VALUE_VARIANTS: readonly Schema[] = [
  byte,
  str('snapshot bit names joined with |', {
    check: (v) => {
      for (const part of v.split('|').map((s) => s.trim())) {
        if (!(part in PROT_BYTE_NAMES)) {
          return `unknown snapshot bit "${part}" (expected ${Object.keys(PROT_BYTE_NAMES).join(', ')}, joined with |)`;
        }
      }
      return undefined;
    },
  }),
];
const protValue: Schema = { type: 'oneOf', description: 'a snapshot byte', variants: PROT_VALUE_VARIANTS };

const RET_VARIANTS: readonly Schema[] = [
  int('0 or a negative errno', -4095, 2 ** 53 - 1),
  str('an errno name such as "-EFAULT"', {
    check: (v) =>
      /^-E[A-Z]+$/.test(v) && (ERRNO_NAMES as readonly string[]).includes(v.slice(1))
        ? undefined
        : `"${v}" is not an errno (expected 0 or one of ${ERRNO_NAMES.map((n) => `"-${n}"`).join(', ')})`,
  }),
];
const retValue: Schema = { type: 'oneOf', description: 'a return value', variants: RET_VARIANTS };

const EXPECT: ObjectSchema = {
  type: 'object',
  description: 'expectations',
  properties: {
    ret: {
      type: 'oneOf',
      description: 'the expected return value, or a list of acceptable ones',
      variants: [
        ...RET_VARIANTS,
        { type: 'array', description: 'acceptable return values', items: retValue, minItems: 1 },
      ],
    },
    cpages: int('pages the command processed', 0),
    faults: int('faults the command took', 0),
    data: PATTERN_SPEC,
    prot: {
      type: 'array',
      description: 'snapshot bytes page by page',
      minItems: 1,
      items: {
        type: 'oneOf',
        description: 'a snapshot byte, or {"prot": …, "pages": n}',
        variants: [
          ...PROT_VALUE_VARIANTS,
          {
            type: 'object',
            description: 'a run of pages with the same snapshot byte',
            properties: { prot: protValue, pages: int('pages', 1) },
            required: ['prot', 'pages'],
          },
        ],
      },
    },
    value: int('the 32-bit value', 0, 2 ** 32 - 1),
    signal: str('the signal', { enum: ['SIGSEGV', 'SIGBUS'], noun: 'signal' }),
  },
};

const processName = name('a process name');
const range = {
  mapping: name('a mapping name'),
  page: int('first page of the range', 0),
  pages: int('pages in the range', 1),
};
const common = { note: str('a comment'), expect: EXPECT };
const PROT_LIST: Schema = {
  type: 'array',
  description: 'protections',
  items: str('a protection', { enum: ['read', 'write', 'exec', 'none'], noun: 'protection' }),
};

/** An mmap's fields (a step, or an entry of the top-level `mappings`). */
const MMAP_PROPERTIES: Record<string, Schema> = {
  name: name('the mapping name'),
  process: processName,
  pages: int('pages', 1),
  size,
  prot: PROT_LIST,
  flags: {
    type: 'array',
    description: 'mmap flags',
    items: str('an mmap flag', {
      enum: ['private', 'shared', 'anonymous', 'populate', 'hugetlb'],
      noun: 'mmap flag',
    }),
    minItems: 1,
  },
  align: str('alignment of the address', { enum: ['page', 'pmd'], noun: 'alignment' }),
  thp: str('madvise hint', { enum: ['hugepage', 'nohugepage'], noun: 'THP hint' }),
};

export const MAPPING: ObjectSchema = {
  type: 'object',
  description: 'a mapping',
  properties: MMAP_PROPERTIES,
  required: ['name', 'prot', 'flags'],
  exactlyOne: [['pages', 'size']],
};

const deviceRange = (description: string): ObjectSchema => ({
  type: 'object',
  description,
  properties: { file: name('an open device file'), ...range, ...common },
  required: ['file', 'mapping'],
});

/** Every step operation and its fields. */
export const STEP: Schema = {
  type: 'tagged',
  description: 'a step',
  tag: 'op',
  noun: 'operation',
  variants: {
    mmap: { ...MAPPING, description: 'mmap', properties: { ...MMAP_PROPERTIES, ...common } },
    munmap: {
      type: 'object',
      description: 'munmap',
      properties: { process: processName, ...range, ...common },
      required: ['mapping'],
    },
    mprotect: {
      type: 'object',
      description: 'mprotect',
      properties: { process: processName, ...range, prot: PROT_LIST, ...common },
      required: ['mapping', 'prot'],
    },
    madvise: {
      type: 'object',
      description: 'madvise',
      properties: {
        process: processName,
        ...range,
        advice: str('advice', {
          enum: ['dontneed', 'free', 'hugepage', 'nohugepage', 'pageout', 'collapse'],
          noun: 'advice',
        }),
        ...common,
      },
      required: ['mapping', 'advice'],
    },
    write: {
      type: 'object',
      description: 'a CPU write',
      properties: { process: processName, ...range, pattern: PATTERN_SPEC, ...common },
      required: ['mapping', 'pattern'],
    },
    read: {
      type: 'object',
      description: 'a CPU read',
      properties: { process: processName, ...range, ...common },
      required: ['mapping'],
    },
    store32: {
      type: 'object',
      description: 'a CPU 32-bit store',
      properties: {
        process: processName,
        mapping: range.mapping,
        page: range.page,
        offset: int('byte offset in the page', 0, 4092),
        value: int('the value', 0, 2 ** 32 - 1),
        ...common,
      },
      required: ['mapping', 'value'],
    },
    load32: {
      type: 'object',
      description: 'a CPU 32-bit load',
      properties: {
        process: processName,
        mapping: range.mapping,
        page: range.page,
        offset: int('byte offset in the page', 0, 4092),
        ...common,
      },
      required: ['mapping'],
    },
    fork: {
      type: 'object',
      description: 'fork',
      properties: { process: processName, child: name('the child process name'), ...common },
      required: ['child'],
    },
    exit: {
      type: 'object',
      description: 'exit',
      properties: { process: processName, ...common },
      required: ['process'],
    },
    sleep: {
      type: 'object',
      description: 'sleep in virtual time',
      properties: { ns: int('nanoseconds', 0), ...common },
      required: ['ns'],
    },
    open: {
      type: 'object',
      description: 'open a device',
      properties: {
        device: name('a device name'),
        process: processName,
        file: name('the name of the open file'),
        ...common,
      },
      required: ['device', 'file'],
    },
    close: {
      type: 'object',
      description: 'close a device file',
      properties: { file: name('an open device file'), ...common },
      required: ['file'],
    },
    deviceRead: deviceRange('HMM_DMIRROR_READ'),
    deviceWrite: {
      ...deviceRange('HMM_DMIRROR_WRITE'),
      properties: { ...deviceRange('').properties, pattern: PATTERN_SPEC },
      required: ['file', 'mapping', 'pattern'],
    },
    migrateToDev: deviceRange('HMM_DMIRROR_MIGRATE_TO_DEV'),
    migrateToSys: deviceRange('HMM_DMIRROR_MIGRATE_TO_SYS'),
    snapshot: deviceRange('HMM_DMIRROR_SNAPSHOT'),
    exclusive: deviceRange('HMM_DMIRROR_EXCLUSIVE'),
    checkExclusive: deviceRange('HMM_DMIRROR_CHECK_EXCLUSIVE'),
    release: {
      type: 'object',
      description: 'HMM_DMIRROR_RELEASE',
      properties: { file: name('an open device file'), ...common },
      required: ['file'],
    },
    setFlags: {
      type: 'object',
      description: 'HMM_DMIRROR_FLAGS',
      properties: {
        file: name('an open device file'),
        flags: {
          type: 'oneOf',
          description: 'fault-injection flags',
          variants: [
            int('a flag word', 0),
            {
              type: 'array',
              description: 'flag names',
              items: str('a flag', { enum: ['failAlloc'], noun: 'flag' }),
            },
          ],
        },
        ...common,
      },
      required: ['file', 'flags'],
    },
    threads: {
      type: 'object',
      description: 'concurrent threads',
      properties: {
        schedule: str('the schedule', { enum: ['run-to-block', 'round-robin', 'random'], noun: 'schedule' }),
        seed: int('seed of the random schedule', 0),
        threads: {
          type: 'object',
          description: 'threads by name',
          properties: {},
          additional: {
            type: 'array',
            description: 'the steps of a thread',
            items: { type: 'ref', name: 'step' },
          },
        },
        note: common.note,
      },
      required: ['threads'],
    },
  },
};

/** The whole scenario file. */
export const SCENARIO: ObjectSchema = {
  type: 'object',
  description: 'a scenario',
  properties: {
    $schema: str('a schema reference (ignored)'),
    name: name('the scenario name'),
    description: str('what the scenario shows'),
    machine: {
      type: 'object',
      description: 'machine options',
      properties: {
        memory: size,
        swap: size,
        hugetlbPages: int('2 MiB huge pages reserved', 0),
        thp: str('THP policy', { enum: ['always', 'madvise', 'never'], noun: 'THP policy' }),
        seed: int('the machine seed', 0),
        kernelVersion: str('kernel version', { enum: ['mainline', '6.12'], noun: 'kernel version' }),
        tmpfs: { type: 'boolean', description: 'file mappings are backed by tmpfs (shmem) files' },
      },
    },
    devices: {
      type: 'array',
      description: 'dmirror devices',
      items: {
        type: 'object',
        description: 'a device',
        properties: {
          name: name('the device name'),
          type: str('device memory type', { enum: ['private', 'coherent'], noun: 'device type' }),
        },
        required: ['name'],
      },
    },
    processes: { type: 'array', description: 'process names', items: name('a process name'), minItems: 1 },
    mappings: { type: 'array', description: 'mappings made before the steps', items: MAPPING },
    steps: { type: 'array', description: 'the steps', items: STEP },
    explore: {
      type: 'object',
      description: 'defaults of hmmsim explore',
      properties: {
        strategy: str('strategy', { enum: ['random', 'pct', 'exhaustive'], noun: 'strategy' }),
        schedules: int('schedules', 1),
        seed: int('seed', 0),
        depth: int('PCT depth', 1),
        bound: int('preemption bound', 0),
      },
    },
  },
  required: ['steps'],
};
