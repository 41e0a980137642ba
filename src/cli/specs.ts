/**
 * The commands of `hmmsim`, their options and help texts. Node-free.
 * @module
 */
import type { CommandSpec, OptionSpec } from './args.ts';

const HELP: OptionSpec = { name: 'help', alias: 'h', kind: 'flag', description: 'show this help and exit' };
const JSON_OPT: OptionSpec = {
  name: 'json',
  kind: 'flag',
  description: 'print one machine-readable JSON document on stdout instead of text',
};
const TRACE: OptionSpec = {
  name: 'trace',
  kind: 'string',
  placeholder: 'FILE',
  description:
    'write a Chrome trace (open it in https://ui.perfetto.dev) of every machine the command creates',
};
const TRACE_SPACING: OptionSpec = {
  name: 'trace-spacing',
  kind: 'number',
  min: 0,
  placeholder: 'NS',
  description:
    'display time added per traced event, in ns (default 10: CPU-side work, which costs no virtual time yet, gets a visible width; 0: timestamps are the virtual clock exactly)',
};
const COMMON = [HELP, JSON_OPT, TRACE, TRACE_SPACING];
const KERNEL_OPT: OptionSpec = {
  name: 'kernel',
  kind: 'flag',
  description:
    'also run it on the real Linux 6.12 kernel in QEMU (built and cached by kernel/build.sh) and compare (docs/kernel-oracle.md)',
};

export const DEMO: CommandSpec = {
  name: 'demo',
  summary: 'a narrated run of HMM: a process and a device sharing memory',
  usage: ['demo [--trace FILE | --no-trace] [--json]'],
  positionals: { min: 0, max: 0, name: '' },
  details: [
    'A process writes 8 pages; the device (dmirror, the kernel HMM test driver) mirrors them with hmm_range_fault; the CPU unmaps two of them and the device is told (UNMAP) and gets -EFAULT for the hole; four pages migrate to device-private memory; a CPU read faults one back; a fork with pages on the device. Each line shows the virtual time, who acted and what happened; the counters follow.',
    'The run is traced to hmmsim-demo.trace.json in the current directory unless --trace FILE or --no-trace is given.',
  ],
  options: [...COMMON, { name: 'no-trace', kind: 'flag', description: 'do not write a trace file' }],
  examples: [
    ['demo', 'the narrated run; writes hmmsim-demo.trace.json'],
    ['demo --no-trace --json', 'the timeline and counters as JSON'],
  ],
};

export const RUN: CommandSpec = {
  name: 'run',
  summary: 'run a scenario file and check its expectations',
  usage: ['run <scenario.json | -> [--json] [--trace FILE]', 'run <scenario.json> --kernel [--json]'],
  positionals: { min: 1, max: 1, name: '<scenario.json>' },
  details: [
    'Builds the machine the scenario describes, runs its steps (CPU accesses, system calls, dmirror commands, concurrent threads) and checks every expectation. Stops at the first failed expectation, naming the step. The format is described in docs/scenario-format.md.',
    "With --kernel the scenario also runs on the real kernel (a C runner in a QEMU guest) and every step is compared: return values, cpages, faults, data, snapshot bytes, values and signals. A divergence prints both answers with the step's file:line; exit 1. Steps the runner cannot express (threads, setFlags, swap) are refused (exit 3).",
  ],
  options: [...COMMON, KERNEL_OPT],
  examples: [
    ['run examples/scenarios/anon_read.json', 'the kernel self-test anon_read as a scenario'],
    ['run my.json --trace my.trace.json', 'run and trace'],
    ['run - < my.json', 'read the scenario from standard input'],
    ['run examples/scenarios/migrate.json --kernel', 'the same steps on Linux 6.12, compared'],
  ],
};

export const SELFTEST: CommandSpec = {
  name: 'selftest',
  summary: "run the kernel's HMM self-tests (hmm-tests.c) and print TAP",
  usage: [
    'selftest [--suite hmm|cow|all] [--filter PATTERN] [--json] [--trace FILE]',
    'selftest --kernel [--suite hmm|cow|all] [--filter PATTERN] [--json]',
  ],
  positionals: { min: 0, max: 0, name: '' },
  details: [
    'Runs the port of tools/testing/selftests/mm/hmm-tests.c (every test, device-private and device-coherent variants) and prints the kselftest TAP output. PATTERN selects tests by name (hmm.hmm_device_private.anon_read): a substring, or a glob with * and ?.',
    "With --kernel, the real kernel's own hmm-tests (Linux 6.12, in QEMU) run too and both outcomes are printed test by test; hmmsim's tests of later kernels are marked as having no 6.12 counterpart. Exit 1 on any disagreement.",
    "--suite cow runs the port of tools/testing/selftests/mm/cow.c instead (670 cases named by its [RUN] lines: COW after fork, vmsplice, R/O GUP pins, THP collapse, on base pages, THPs of every size, swap, hugetlb, the zero pages, memfds), printed as cow.c prints TAP (ok, not ok, # SKIP, # XFAIL); with --kernel the guest runs 6.12's cow with swap and huge pages and both outcomes are compared case by case. --suite all runs both suites.",
  ],
  options: [
    ...COMMON,
    KERNEL_OPT,
    {
      name: 'filter',
      kind: 'string',
      placeholder: 'PATTERN',
      description: 'run only the tests whose name contains PATTERN (or matches it, with * and ?)',
    },
    {
      name: 'suite',
      kind: 'choice',
      choices: ['hmm', 'cow', 'all'],
      description: 'which port: hmm-tests.c (hmm, the default), cow.c (cow) or both (all)',
    },
  ],
  examples: [
    ['selftest', 'all 78 test instances'],
    ['selftest --suite cow --filter "single PTE"', "cow.c's cases on a single PTE of a THP"],
    ['selftest --filter anon_read', 'anon_read, anon_read_prot, anon_read_multiple in both variants'],
    ['selftest --filter "hmm.hmm_device_coherent.*" --json', 'the coherent variant, as JSON'],
  ],
};

export const EXPLORE: CommandSpec = {
  name: 'explore',
  summary: 'explore thread interleavings of a scenario for violations',
  usage: [
    'explore <scenario.json> [--strategy random|pct|exhaustive] [--schedules N] [--seconds S] [--seed N]',
    '        [--depth D] [--bound N] [--workers N] [--json] [--trace FILE]',
    'explore --mutant ID [options]',
    'explore <scenario.json | --mutant ID> --replay TOKEN',
    'explore <scenario.ts> [options]   (a module exporting a Scenario: default or `scenario`)',
    'explore ... --shard I/N --json > shard-I.json;  explore merge shard-*.json',
  ],
  positionals: { min: 0, max: 1000, name: '<scenario.json|scenario.ts>' },
  details: [
    'A scenario file with one "threads" step becomes an explorer scenario: the steps before it are the set-up, its threads race, and the steps after it are the check. --mutant ID explores the registered scenario of a deliberate mistake with its budget. On a violation the report gives the account of the interleaving, a replay token and the shrunk token; --replay TOKEN re-runs one schedule and prints its account.',
    '--workers N shares a random or pct budget among N worker threads with seeds seed, seed+1, …',
    '--shard I/N runs shard I of N: with W workers it explores seeds seed+I+k·N (k < W), each with its share of the budget, so N shards explore what --workers N would; merge their --json reports with `hmmsim explore merge` (first failure by seed, totals, coverage).',
  ],
  options: [
    ...COMMON,
    {
      name: 'mutant',
      kind: 'string',
      placeholder: 'ID',
      description: "explore a mutant's registered scenario",
    },
    {
      name: 'strategy',
      kind: 'choice',
      choices: ['random', 'pct', 'exhaustive', 'portfolio'],
      description: 'how schedules are chosen (default random, or the scenario/mutant default)',
    },
    {
      name: 'schedules',
      kind: 'integer',
      min: 1,
      placeholder: 'N',
      description:
        "budget in schedules (default: the scenario's or mutant's own budget, else 1000; none with --seconds alone)",
    },
    {
      name: 'seconds',
      kind: 'number',
      min: 0,
      exclusiveMin: true,
      placeholder: 'S',
      description:
        'budget in wall-clock seconds (alone: a time budget only; with --schedules: whichever ends first)',
    },
    {
      name: 'seed',
      kind: 'integer',
      min: 0,
      placeholder: 'N',
      description: 'seed of the choices and machines (default 1)',
    },
    {
      name: 'bound',
      kind: 'integer',
      min: 0,
      placeholder: 'N',
      description: 'exhaustive: preemption bound (default 2)',
    },
    { name: 'depth', kind: 'integer', min: 1, placeholder: 'D', description: 'pct: bug depth (default 2)' },
    {
      name: 'workers',
      kind: 'integer',
      min: 1,
      placeholder: 'N',
      description: 'worker threads for random/pct (default 1; at most the cores and the schedules)',
    },
    {
      name: 'shard',
      kind: 'string',
      placeholder: 'I/N',
      description: 'run shard I (0-based) of N of the seed space and budget',
    },
    {
      name: 'replay',
      kind: 'string',
      placeholder: 'TOKEN',
      description: 're-run the schedule a replay token names',
    },
    { name: 'list-mutants', kind: 'flag', description: 'list the registered mutants and exit' },
  ],
  examples: [
    [
      'explore examples/scenarios/device-read-vs-munmap.json',
      'a device read racing an munmap, 1000 random schedules',
    ],
    ['explore --list-mutants', 'the mutants and what they break'],
    ['explore --mutant <ID> --workers 2', 'find the race a mutant introduces, on two workers'],
    ['explore --mutant <ID> --replay <TOKEN>', 're-run the failing schedule and print its account'],
  ],
};

export const TRACE_CMD: CommandSpec = {
  name: 'trace',
  summary: 'run a scenario (or the demo) with tracing and write a Chrome trace',
  usage: ['trace <scenario.json | demo> -o FILE [--json]'],
  positionals: { min: 1, max: 1, name: '<scenario.json | demo>' },
  details: [
    'Writes a Chrome Trace Event JSON file: one track per simulated thread and device, slices for faults, hmm_range_fault, invalidations and device commands, counters of resident and device pages. Open it in https://ui.perfetto.dev (or chrome://tracing).',
  ],
  options: [
    HELP,
    JSON_OPT,
    {
      name: 'output',
      alias: 'o',
      kind: 'string',
      placeholder: 'FILE',
      description: 'the trace file to write (required)',
    },
    { ...TRACE, description: 'the same as --output' },
    TRACE_SPACING,
  ],
  examples: [
    ['trace demo -o demo.trace.json', 'trace the demo'],
    ['trace examples/scenarios/migrate.json -o migrate.trace.json', 'trace a scenario'],
  ],
};

export const WORKLOAD: CommandSpec = {
  name: 'workload',
  summary: 'simulate a GPU unified-memory workload: fault batches, prefetching, eviction, link',
  usage: [
    'workload <FILE.json | faults.csv> [--policy NAME] [--platform NAME] [--oversub RATIO] [--set K=V …] [--json]',
    'workload --gen NAME --footprint SIZE [--arg K=V …] [options]',
    '         [--sweep KEY=v1,v2 …] [--shard I/N] [--batches FILE.csv] [--faults FILE.csv] [--trace FILE] [--plot FILE.svg]',
    'workload merge <shard.json …> [--json] [--plot FILE.svg]',
    'workload validate [ID …] [--json]',
    'workload --list [--json]',
  ],
  positionals: { min: 0, max: 64, name: '<FILE.json | faults.csv | validate | merge>' },
  details: [
    "Runs a workload on a model of a GPU's replayable far faults and its driver: the fault buffer and batches, the prefetcher, eviction, the copy engines and a cost model calibrated on published micro-benchmarks (docs/workload.md). The workload is a JSON file, a uvm-eval fault CSV to replay, or a generator (--gen) over a footprint. Time is virtual.",
    '--sweep KEY=v1,v2 (repeatable) runs the cartesian product; KEY is policy, platform, oversub, seed or any parameter. --shard I/N runs the runs whose index ≡ I (mod N), 0 ≤ I < N; `workload merge` joins the shards. --json prints one object per run (an array for sweeps and shards).',
    '`workload validate` runs the validation targets (V1 prefetch trace, V2 link curve, V3 batch anatomy, V6 THP migration) from validation/*.json, or only those named (`workload validate V1 V6`), and exits 1 on a miss.',
  ],
  options: [
    HELP,
    JSON_OPT,
    {
      name: 'trace',
      kind: 'string',
      placeholder: 'FILE',
      description: 'write a Chrome trace of the run(s): SM, fault-handler, copy-engine and CPU tracks',
    },
    {
      name: 'gen',
      kind: 'string',
      placeholder: 'NAME',
      description:
        'generate the workload: stream, block-stream, random-page, stencil2d, gemm-tiles, graph-frontier, wavefront',
    },
    {
      name: 'footprint',
      kind: 'string',
      placeholder: 'SIZE',
      description: "the generator's footprint: bytes or 4KiB, 12MiB, 4GiB",
    },
    {
      name: 'arg',
      kind: 'string',
      repeatable: true,
      placeholder: 'K=V',
      description: 'a generator argument (repeatable; see --list)',
    },
    {
      name: 'policy',
      kind: 'string',
      placeholder: 'NAME',
      description: 'driver policy (default nvidia-uvm; see --list)',
    },
    {
      name: 'platform',
      kind: 'string',
      placeholder: 'NAME',
      description: 'platform preset (default pascal-pcie3; see --list)',
    },
    {
      name: 'oversub',
      kind: 'number',
      min: 0,
      placeholder: 'RATIO',
      description: 'footprint ÷ device memory (1 = fits; 1.5 = 50 % too big)',
    },
    {
      name: 'oversub-mode',
      kind: 'choice',
      choices: ['shrink', 'reserve'],
      description: 'oversubscribe by shrinking device memory (default) or reserving part of it',
    },
    {
      name: 'set',
      kind: 'string',
      repeatable: true,
      placeholder: 'K=V',
      description:
        'set a policy or platform parameter (repeatable), e.g. --set eviction=lru-4k --set batchSize=512',
    },
    {
      name: 'functional',
      kind: 'flag',
      description: 'run the functional tier (real hmm_range_fault / migrate_vma / notifiers)',
    },
    {
      name: 'seed',
      kind: 'integer',
      min: 0,
      placeholder: 'N',
      description: 'seed of the generators and random policies (default 1)',
    },
    {
      name: 'batches',
      kind: 'string',
      placeholder: 'FILE.csv',
      description: "write uvm-eval's per-batch CSV",
    },
    {
      name: 'faults',
      kind: 'string',
      placeholder: 'FILE.csv',
      description: "write uvm-eval's per-fault CSV",
    },
    {
      name: 'plot',
      kind: 'string',
      placeholder: 'FILE.svg',
      description: 'write an SVG plot: batch time vs bytes (one run), slowdown vs oversubscription (sweeps)',
    },
    {
      name: 'sweep',
      kind: 'string',
      repeatable: true,
      placeholder: 'K=v1,v2',
      description: 'sweep a key over values (repeatable, cartesian)',
    },
    {
      name: 'shard',
      kind: 'string',
      placeholder: 'I/N',
      description: 'run only share I of N of the sweep (0-based)',
    },
    {
      name: 'list',
      kind: 'flag',
      description: 'list generators, policies, platforms and every parameter with its default and source',
    },
  ],
  examples: [
    [
      'workload --gen stream --footprint 1GiB --platform titanv-pcie3',
      'BabelStream triad over 1 GiB on a Titan V model',
    ],
    [
      'workload examples/workloads/stream.json --sweep oversub=1,1.25,1.5,2 --sweep policy=nvidia-uvm,uvmsmart-tbn --plot slowdown.svg',
      'slowdown vs oversubscription for two policies',
    ],
    [
      'workload --gen random-page --footprint 256MiB --batches b.csv --faults f.csv',
      "uvm-eval's CSVs of a run",
    ],
    ['workload validate', 'check the model against the published measurements'],
  ],
};

export const WEB: CommandSpec = {
  name: 'web',
  summary: 'serve the visual explorer (page tables, device mirror, notifiers, races) in a browser',
  usage: ['web [--port N] [--open] [--dev]'],
  endsOnSignal: true,
  positionals: { min: 0, max: 0, name: '' },
  details: [
    'Serves the static page built by "npm run build:web" (dist/web) on 127.0.0.1 only and prints its URL on the first line of standard output. The simulator runs in the page, in a Web Worker. Open /?scenario=NAME&step=N for example NAME after its first N steps (step=end for all); the element #state holds a JSON summary of the page state.',
  ],
  options: [
    HELP,
    {
      name: 'port',
      kind: 'integer',
      min: 0,
      placeholder: 'N',
      description: 'port to listen on (default 5178; 0 = any free port)',
    },
    { name: 'open', kind: 'flag', description: "open the page in the desktop's browser" },
    {
      name: 'dev',
      kind: 'flag',
      description: 'serve the sources through the Vite dev server with live reload',
    },
  ],
  examples: [
    ['web', 'serve on http://127.0.0.1:5178/'],
    ['web --port 0 --open', 'any free port, and open it'],
  ],
};

export const KERNEL_CMD: CommandSpec = {
  name: 'kernel',
  summary: 'the real kernel as an oracle: build it, fuzz hmmsim against it',
  usage: ['kernel build [--json]', 'kernel fuzz [--count N] [--seed S] [--batch B] [--out FILE] [--json]'],
  positionals: { min: 1, max: 1, name: '<build | fuzz>' },
  details: [
    "build: installs the Debian packages it needs (as root), builds Linux 6.12 from linux-source-6.12 with kernel/config.fragment and an initramfs with the kernel's hmm-tests and hmmsim's scenario runner, cached in ~/.cache/hmmsim/kernel (HMMSIM_KERNEL_CACHE).",
    'fuzz: generates N random sequential scenarios (fast-check, seed S), runs each batch of B in one guest boot, compares every step with hmmsim, and shrinks the first divergence to a scenario file (default hmmsim-fuzz-divergence.json). Exit 1 on any divergence.',
  ],
  options: [
    HELP,
    JSON_OPT,
    {
      name: 'count',
      kind: 'integer',
      min: 1,
      placeholder: 'N',
      description: 'fuzz: scenarios to generate (default 200)',
    },
    {
      name: 'seed',
      kind: 'integer',
      min: 0,
      placeholder: 'S',
      description: 'fuzz: seed of the generator (default 1)',
    },
    {
      name: 'batch',
      kind: 'integer',
      min: 1,
      placeholder: 'B',
      description: 'fuzz: scenarios per guest boot (default 50)',
    },
    {
      name: 'out',
      kind: 'string',
      placeholder: 'FILE',
      description: 'fuzz: where the shrunk divergence is written',
    },
  ],
  examples: [
    ['kernel build', 'build (or find) the kernel and initramfs'],
    ['kernel fuzz --count 200 --seed 7', '200 random scenarios against the real kernel'],
  ],
};

export const HELP_CMD: CommandSpec = {
  name: 'help',
  summary: 'show the commands, or the help of one command',
  usage: ['help [command]'],
  positionals: { min: 0, max: 1, name: '[command]' },
  options: [HELP, JSON_OPT, TRACE, TRACE_SPACING],
  examples: [['help explore', 'the options of explore']],
};

/** Every command, in the order `hmmsim help` lists them. */
export const COMMANDS: readonly CommandSpec[] = [
  DEMO,
  RUN,
  SELFTEST,
  EXPLORE,
  TRACE_CMD,
  WORKLOAD,
  WEB,
  KERNEL_CMD,
  HELP_CMD,
];

/** The overview printed by `hmmsim help` and `hmmsim` alone. */
export function overview(): string {
  const w = Math.max(...COMMANDS.map((c) => c.name.length)) + 2;
  return [
    "hmmsim — Linux's Heterogeneous Memory Management (HMM), executable",
    '',
    'Usage: hmmsim <command> [options]',
    '',
    'Commands:',
    ...COMMANDS.map((c) => `  ${c.name.padEnd(w)}${c.summary}`),
    '',
    'Every command takes --help (or -h); all but web take --json (one JSON document on stdout) and --trace FILE (a Chrome trace).',
    "Run 'hmmsim --version' for the version.",
    "Run 'hmmsim <command> --help' for its options and examples.",
    '',
    'Exit codes: 0 success; 1 a check, test or expectation failed or a violation was found;',
    '            2 usage error; 3 invalid scenario file; 4 internal error.',
    '',
  ].join('\n');
}
