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
const COMMON = [HELP, JSON_OPT, TRACE];

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
  usage: ['run <scenario.json> [--json] [--trace FILE]'],
  positionals: { min: 1, max: 1, name: '<scenario.json>' },
  details: [
    'Builds the machine the scenario describes, runs its steps (CPU accesses, system calls, dmirror commands, concurrent threads) and checks every expectation. Stops at the first failed expectation, naming the step. The format is described in docs/scenario-format.md.',
  ],
  options: COMMON,
  examples: [
    ['run examples/scenarios/anon_read.json', 'the kernel self-test anon_read as a scenario'],
    ['run my.json --trace my.trace.json', 'run and trace'],
  ],
};

export const SELFTEST: CommandSpec = {
  name: 'selftest',
  summary: "run the kernel's HMM self-tests (hmm-tests.c) and print TAP",
  usage: ['selftest [--filter PATTERN] [--json] [--trace FILE]'],
  positionals: { min: 0, max: 0, name: '' },
  details: [
    'Runs the port of tools/testing/selftests/mm/hmm-tests.c (every test, device-private and device-coherent variants) and prints the kselftest TAP output. PATTERN selects tests by name (hmm.hmm_device_private.anon_read): a substring, or a glob with * and ?.',
  ],
  options: [
    ...COMMON,
    {
      name: 'filter',
      kind: 'string',
      placeholder: 'PATTERN',
      description: 'run only the tests whose name contains PATTERN (or matches it, with * and ?)',
    },
  ],
  examples: [
    ['selftest', 'all 78 test instances'],
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
  ],
  positionals: { min: 0, max: 1, name: '<scenario.json>' },
  details: [
    'A scenario file with one "threads" step becomes an explorer scenario: the steps before it are the set-up, its threads race, and the steps after it are the check. --mutant ID explores the registered scenario of a deliberate mistake with its budget. On a violation the report gives the account of the interleaving, a replay token and the shrunk token; --replay TOKEN re-runs one schedule and prints its account.',
    '--workers N shares a random or pct budget among N worker threads with seeds seed, seed+1, …',
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
      choices: ['random', 'pct', 'exhaustive'],
      description: 'how schedules are chosen (default random, or the scenario/mutant default)',
    },
    {
      name: 'schedules',
      kind: 'integer',
      min: 1,
      placeholder: 'N',
      description: 'budget in schedules (default 1000)',
    },
    {
      name: 'seconds',
      kind: 'number',
      min: 0,
      placeholder: 'S',
      description: 'budget in wall-clock seconds',
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
      description: 'worker threads for random/pct (default 1)',
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
  ],
  examples: [
    ['trace demo -o demo.trace.json', 'trace the demo'],
    ['trace examples/scenarios/migrate.json -o migrate.trace.json', 'trace a scenario'],
  ],
};

export const HELP_CMD: CommandSpec = {
  name: 'help',
  summary: 'show the commands, or the help of one command',
  usage: ['help [command]'],
  positionals: { min: 0, max: 1, name: '[command]' },
  options: [HELP, JSON_OPT, TRACE],
  examples: [['help explore', 'the options of explore']],
};

/** Every command, in the order `hmmsim help` lists them. */
export const COMMANDS: readonly CommandSpec[] = [DEMO, RUN, SELFTEST, EXPLORE, TRACE_CMD, HELP_CMD];

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
    'Every command takes --help, --json (one JSON document on stdout) and --trace FILE (a Chrome trace).',
    "Run 'hmmsim <command> --help' for its options and examples.",
    '',
    'Exit codes: 0 success; 1 a check, test or expectation failed or a violation was found;',
    '            2 usage error; 3 invalid scenario file; 4 internal error.',
    '',
  ].join('\n');
}
