/**
 * hmmsim as a user gets it from the registry: `npm pack` (its prepack builds dist/ from a clean
 * slate), the tarball installed into an empty project from the npm cache where it can
 * (`--prefer-offline`; its few runtime dependencies come from the registry otherwise), then used from plain Node (ESM import and CommonJS require), from a
 * strict `module: nodenext` TypeScript project with default options, and through `npx hmmsim`.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const TMP = mkdtempSync(path.join(tmpdir(), 'hmmsim-pack-'));
const CONSUMER = path.join(TMP, 'consumer');
const NPM = process.platform === 'win32' ? 'npm.cmd' : 'npm';
// Removing the consumer's node_modules takes seconds when the disk is busy.
afterAll(() => rmSync(TMP, { recursive: true, force: true }), 120_000);

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

function sh(cmd: string, args: readonly string[], cwd: string): Promise<Result> {
  return new Promise((resolve) => {
    execFile(
      cmd,
      args,
      { cwd, maxBuffer: 64 * 1024 * 1024, env: { ...process.env, npm_config_update_notifier: 'false' } },
      (err, stdout, stderr) => {
        const code = err === null ? 0 : typeof err.code === 'number' ? err.code : -1;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

/** Runs `cmd`, failing the test with its output when it does not exit 0. */
async function ok(cmd: string, args: readonly string[], cwd = CONSUMER): Promise<string> {
  const r = await sh(cmd, args, cwd);
  expect({ cmd: [cmd, ...args].join(' '), code: r.code, stderr: r.stderr }).toMatchObject({ code: 0 });
  return r.stdout;
}

let files: string[] = [];

beforeAll(async () => {
  const packed = JSON.parse(await ok(NPM, ['pack', '--json', '--pack-destination', TMP], ROOT));
  files = (packed[0].files as { path: string }[]).map((f) => f.path).sort();
  mkdirSync(CONSUMER);
  writeFileSync(
    path.join(CONSUMER, 'package.json'),
    JSON.stringify({ name: 'consumer', private: true, type: 'module' }),
  );
  await ok(NPM, [
    'install',
    '--prefer-offline',
    '--no-audit',
    '--no-fund',
    path.join(TMP, packed[0].filename as string),
  ]);
}, 300_000);

describe.concurrent('the packed package', () => {
  it('ships the built JavaScript, its types, the bin, README and package.json only', () => {
    const top = new Set(files.map((f) => f.split('/')[0]));
    expect([...top].sort()).toEqual(['README.md', 'bin', 'dist', 'package.json']);
    expect(files.filter((f) => f.startsWith('bin/'))).toEqual(['bin/hmmsim.mjs']);
    expect(files).toContain('dist/index.js');
    expect(files).toContain('dist/index.d.ts');
    expect(files).toContain('dist/cli/main.js');
    expect(files).toContain('dist/cli/explore-worker.js');
    expect(files.filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'))).toEqual([]);
    expect(files.filter((f) => f.includes('tsbuildinfo'))).toEqual([]);
  });

  it('has only the runtime dependencies the CLI needs (tsx and esbuild are for development)', async () => {
    const pkg = JSON.parse(
      await ok(process.execPath, ['-p', 'JSON.stringify(require("hmmsim/package.json"))']),
    );
    // Workload files (positions, schema), plots (Vega-Lite to SVG) and kernel fuzz (fast-check).
    expect(Object.keys(pkg.dependencies).sort()).toEqual([
      '@humanwhocodes/momoa',
      'fast-check',
      'valibot',
      'vega',
      'vega-lite',
    ]);
    expect(pkg.exports['.']).toEqual({
      types: './dist/index.d.ts',
      import: './dist/index.js',
      require: './dist/index.js',
      default: './dist/index.js',
    });
  });

  it('plain Node ESM: import runs a machine', async () => {
    writeFileSync(
      path.join(CONSUMER, 'esm.mjs'),
      [
        "import { Machine, MAP_ANONYMOUS, MAP_PRIVATE, PROT_READ, PROT_WRITE, PAGE_SIZE } from 'hmmsim';",
        'const m = new Machine();',
        'const p = await m.createProcess();',
        'const a = await p.mmap(0, 4 * PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);',
        'await p.store32(a, 1234);',
        'console.log(await p.load32(a));',
      ].join('\n'),
    );
    expect(await ok(process.execPath, ['esm.mjs'])).toBe('1234\n');
  });

  it('plain Node CommonJS: require works (require(esm), Node >= 20.19)', async () => {
    writeFileSync(
      path.join(CONSUMER, 'cjs.cjs'),
      [
        "const { Machine, ENOENT, UsageError } = require('hmmsim');",
        "console.log(typeof Machine, ENOENT, typeof UsageError, require.resolve('hmmsim').endsWith('dist/index.js'));",
      ].join('\n'),
    );
    expect(await ok(process.execPath, ['cjs.cjs'])).toBe('function 2 function true\n');
  });

  it('a strict module: nodenext TypeScript project type-checks with default options', async () => {
    writeFileSync(
      path.join(CONSUMER, 'tsconfig.json'),
      JSON.stringify({ compilerOptions: { module: 'nodenext', strict: true, noEmit: true } }),
    );
    writeFileSync(
      path.join(CONSUMER, 'use.ts'),
      [
        "import { Machine, hmmRangeFault, type MachineOptions, PAGE_SIZE } from 'hmmsim';",
        'const options: MachineOptions = {};',
        'const m: Machine = new Machine(options);',
        'const size: number = PAGE_SIZE;',
        'export const used = [m, size, hmmRangeFault] as const;',
      ].join('\n'),
    );
    writeFileSync(
      path.join(CONSUMER, 'use-cjs.cts'),
      ["import hmm = require('hmmsim');", 'export const machine: hmm.Machine = new hmm.Machine();'].join(
        '\n',
      ),
    );
    const tsc = path.join(ROOT, 'node_modules/typescript/bin/tsc');
    const r = await sh(process.execPath, [tsc, '-p', '.'], CONSUMER);
    expect(r.stdout + r.stderr).toBe('');
    expect(r.code).toBe(0);
  });

  it('npx hmmsim --version prints the package version', async () => {
    const version = JSON.parse(
      await ok(process.execPath, ['-p', 'JSON.stringify(require("hmmsim/package.json"))']),
    ).version;
    expect(await ok(NPM, ['exec', '--offline', '--no', '--', 'hmmsim', '--version'])).toBe(
      `hmmsim ${version}\n`,
    );
  });

  it('npx hmmsim demo runs the built CLI', async () => {
    const out = await ok(NPM, ['exec', '--offline', '--no', '--', 'hmmsim', 'demo', '--no-trace']);
    expect(out).toContain('MIGRATE_TO_DEV 4 pages: ret 0, cpages 4');
    expect(out).toContain('  migrated to device    4 pages');
  });
});
