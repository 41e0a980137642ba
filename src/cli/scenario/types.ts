/**
 * The scenario document (docs/scenario-format.md) as TypeScript types: what the validator
 * returns and the interpreter runs. Every step carries `source`, where it was written.
 * @module
 */

/** Where a step or a value was written: its field path and position in the file. */
export interface SourceRef {
  /** Field path, e.g. `steps[3]` or `steps[5].threads.reader[0]`. */
  readonly path: string;
  readonly line: number;
  readonly column: number;
}

/** Bytes to write or to expect over a range of pages. */
export type Pattern = (
  | { readonly fill: number }
  | { readonly int32: number; readonly step?: number }
  | { readonly pageInt32: number; readonly step?: number }
  | { readonly bytes: readonly number[] }
) & {
  /** In a list of segments: the pages this one covers (default: the rest of the range). */
  readonly pages?: number;
};

/** One pattern over the whole range, or segments one after the other. */
export type PatternSpec = Pattern | readonly Pattern[];

/** A dmirror snapshot byte: a number, or names joined by `|` (`"ZERO|READ"`). */
export type ProtValue = number | string;
/** One or more pages of expected snapshot bytes. */
export type ProtSpec = ProtValue | { readonly prot: ProtValue; readonly pages: number };
/** An expected return value: 0, a negative number, or an errno name (`"-EFAULT"`). */
export type RetValue = number | string;

/** Expectations of a step; every field given is checked. */
export interface Expect {
  /** The return value (or any of a list of them). */
  readonly ret?: RetValue | readonly RetValue[];
  /** Device commands: pages the command processed. */
  readonly cpages?: number;
  /** Device commands: hmm_range_fault calls that faulted. */
  readonly faults?: number;
  /** Bytes the CPU read or the device read/migrated/took exclusively. */
  readonly data?: PatternSpec;
  /** SNAPSHOT bytes, page by page. */
  readonly prot?: readonly ProtSpec[];
  /** load32: the value read. */
  readonly value?: number;
  /** CPU access: the signal it must raise. */
  readonly signal?: 'SIGSEGV' | 'SIGBUS';
}

/** Options of the simulated machine. */
export interface MachineSpec {
  readonly memory?: number | string;
  readonly swap?: number | string;
  readonly hugetlbPages?: number;
  readonly thp?: 'always' | 'madvise' | 'never';
  readonly seed?: number;
  readonly kernelVersion?: 'mainline' | '6.12';
  /** The backing files of file mappings are on tmpfs (shmem), not a disk file system. */
  readonly tmpfs?: boolean;
}

/** A dmirror device. */
export interface DeviceSpec {
  readonly name: string;
  /** `private` (device-private memory, the default) or `coherent`. */
  readonly type?: 'private' | 'coherent';
}

interface StepBase {
  /** Filled in by the loader. */
  readonly source: SourceRef;
  /** A comment shown in the run's output. */
  readonly note?: string;
  readonly expect?: Expect;
}

/** A range of pages of a named mapping. */
export interface RangeFields {
  readonly mapping: string;
  /** First page, from the start of the mapping (default 0). */
  readonly page?: number;
  /** Number of pages (default: to the end of the mapping). */
  readonly pages?: number;
}

export type MmapProt = 'read' | 'write' | 'exec' | 'none';
export type MmapFlag = 'private' | 'shared' | 'anonymous' | 'populate' | 'hugetlb';
export type MadviseAdvice = 'dontneed' | 'free' | 'hugepage' | 'nohugepage' | 'pageout' | 'collapse';

/** An mmap, as a step or in the top-level `mappings`. */
export interface MmapFields {
  readonly name: string;
  readonly process?: string;
  readonly pages?: number;
  readonly size?: number | string;
  readonly prot: readonly MmapProt[];
  readonly flags: readonly MmapFlag[];
  /** Place the mapping at a 2 MiB-aligned address (maps more and trims, like the THP tests). */
  readonly align?: 'page' | 'pmd';
  /** `madvise` hint applied right after the mmap. */
  readonly thp?: 'hugepage' | 'nohugepage';
}

export type Step =
  | (StepBase & { readonly op: 'mmap' } & MmapFields)
  | (StepBase & { readonly op: 'munmap'; readonly process?: string } & RangeFields)
  | (StepBase & {
      readonly op: 'mprotect';
      readonly process?: string;
      readonly prot: readonly MmapProt[];
    } & RangeFields)
  | (StepBase & {
      readonly op: 'madvise';
      readonly process?: string;
      readonly advice: MadviseAdvice;
    } & RangeFields)
  | (StepBase & {
      readonly op: 'write';
      readonly process?: string;
      readonly pattern: PatternSpec;
    } & RangeFields)
  | (StepBase & { readonly op: 'read'; readonly process?: string } & RangeFields)
  | (StepBase & {
      readonly op: 'store32';
      readonly process?: string;
      readonly mapping: string;
      readonly page?: number;
      readonly offset?: number;
      readonly value: number;
    })
  | (StepBase & {
      readonly op: 'load32';
      readonly process?: string;
      readonly mapping: string;
      readonly page?: number;
      readonly offset?: number;
    })
  | (StepBase & { readonly op: 'fork'; readonly process?: string; readonly child: string })
  | (StepBase & { readonly op: 'exit'; readonly process: string })
  | (StepBase & { readonly op: 'sleep'; readonly ns: number })
  | (StepBase & {
      readonly op: 'open';
      readonly device: string;
      readonly process?: string;
      readonly file: string;
    })
  | (StepBase & { readonly op: 'close'; readonly file: string })
  | (StepBase & { readonly op: DeviceRangeOp; readonly file: string } & RangeFields)
  | (StepBase & {
      readonly op: 'deviceWrite';
      readonly file: string;
      readonly pattern: PatternSpec;
    } & RangeFields)
  | (StepBase & { readonly op: 'release'; readonly file: string })
  | (StepBase & {
      readonly op: 'setFlags';
      readonly file: string;
      readonly flags: readonly 'failAlloc'[] | number;
    })
  | (StepBase & {
      readonly op: 'threads';
      readonly schedule?: 'run-to-block' | 'round-robin' | 'random';
      readonly seed?: number;
      readonly threads: Readonly<Record<string, readonly Step[]>>;
    });

/** Device commands over a range that take no data in. */
export type DeviceRangeOp =
  | 'deviceRead'
  | 'migrateToDev'
  | 'migrateToSys'
  | 'snapshot'
  | 'exclusive'
  | 'checkExclusive';

/** Defaults of `hmmsim explore` for this scenario (command-line options win). */
export interface ExploreSpec {
  readonly strategy?: 'random' | 'pct' | 'exhaustive' | 'portfolio';
  readonly schedules?: number;
  readonly seed?: number;
  readonly depth?: number;
  readonly bound?: number;
}

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
