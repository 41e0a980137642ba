/**
 * The scenario document's TypeScript types, inferred from the schema (`schema.ts`), so that the
 * format is described once: what the validator returns and the interpreter runs. Every step
 * carries `source`, where it was written.
 * @module
 */
import type * as v from 'valibot';
import type {
  EXPECT,
  FileStep,
  MAPPING,
  PATTERN,
  PATTERN_SPEC,
  ScenarioFile,
  ThreadsFields,
} from './schema.ts';

/** Where a step or a value was written: its field path and position in the file. */
export interface SourceRef {
  /** Field path, e.g. `steps[3]` or `steps[5].threads.reader[0]`. */
  readonly path: string;
  readonly line: number;
  readonly column: number;
}

/** Bytes to write or to expect over a range of pages (in a list of segments, `pages` each). */
export type Pattern = v.InferOutput<typeof PATTERN>;
/** One pattern over the whole range, or segments one after the other. */
export type PatternSpec = v.InferOutput<typeof PATTERN_SPEC>;
/** Expectations of a step; every field given is checked. */
export type Expect = v.InferOutput<typeof EXPECT>;
/** One or more pages of expected snapshot bytes. */
export type ProtSpec = NonNullable<Expect['prot']>[number];
/** A dmirror snapshot byte: a number, or names joined by `|` (`"ZERO|READ"`). */
export type ProtValue = Exclude<ProtSpec, object>;
/** An expected return value: 0, a negative number, or an errno name (`"-EFAULT"`). */
export type RetValue = number | string;

/** Options of the simulated machine. */
export type MachineSpec = NonNullable<ScenarioFile['machine']>;
/** A dmirror device. */
export type DeviceSpec = NonNullable<ScenarioFile['devices']>[number];
/**
 * Defaults of `hmmsim explore` for a scenario (command-line options win). A built-in mutant's
 * scenario may also default to the `portfolio` strategy, which a file cannot name.
 */
export type ExploreSpec = Omit<NonNullable<ScenarioFile['explore']>, 'strategy'> & {
  readonly strategy?: NonNullable<ScenarioFile['explore']>['strategy'] | 'portfolio';
};

/** An mmap, as a step or in the top-level `mappings`. */
export type MmapFields = v.InferOutput<typeof MAPPING>;
/** A protection name. */
export type MmapProt = MmapFields['prot'][number];
/** An mmap flag name. */
export type MmapFlag = MmapFields['flags'][number];
/** A fallocate mode name. */
export type FallocateMode = Extract<FileStep, { op: 'fallocate' }>['mode'][number];
/** An mremap flag name. */
export type MremapFlag = NonNullable<Extract<FileStep, { op: 'mremap' }>['flags']>[number];
/** A madvise advice name. */
export type MadviseAdvice = Extract<FileStep, { op: 'madvise' }>['advice'];
/** A range of pages of a named mapping. */
export type RangeFields = Pick<Extract<FileStep, { op: 'munmap' }>, 'mapping' | 'page' | 'pages'>;
/** Device commands over a range that take no data in. */
export type DeviceRangeOp = Exclude<
  Extract<FileStep, { file: string; mapping: string }>['op'],
  'deviceWrite' | 'mremap' | 'vmas' | 'fallocate'
>;

/** A `threads` step as the loader returns it: its threads' steps know where they were written too. */
export interface ThreadsStep extends Omit<ThreadsFields, 'threads'> {
  readonly threads: Readonly<Record<string, readonly Step[]>>;
  readonly source: SourceRef;
}
/** A step of a validated scenario: as written, with where. */
export type Step = (Exclude<FileStep, ThreadsFields> & { readonly source: SourceRef }) | ThreadsStep;

/** A validated scenario. */
export interface ScenarioDoc {
  readonly name: string;
  readonly description?: string;
  readonly machine: MachineSpec;
  readonly devices: readonly DeviceSpec[];
  readonly processes: readonly string[];
  readonly mappings: readonly (MmapFields & { readonly source: SourceRef })[];
  readonly steps: readonly Step[];
  readonly explore?: ExploreSpec;
  /** The file it came from (for messages). */
  readonly file: string;
}
