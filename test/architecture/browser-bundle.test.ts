/**
 * The simulation core is browser-ready: src/index.ts bundles for platform=browser without any
 * Node built-in, and the bundle runs a machine in a bare JavaScript context (no process, Buffer,
 * require or timers), as it would in a browser worker.
 */
import vm from 'node:vm';
import { describe, expect, it } from 'vitest';
// @ts-expect-error a plain JavaScript build script without declarations
import { bundleCore } from '../../scripts/bundle-core.mjs';

interface Bundle {
  code: string;
  bytes: number;
  nodeImports: { module: string; importer: string }[];
}

describe('browser bundle of the core', () => {
  it('imports no Node built-in', async () => {
    const r: Bundle = await bundleCore();
    expect(r.nodeImports).toEqual([]);
    expect(r.bytes).toBeGreaterThan(50_000);
  });

  it('the check catches a Node built-in (the CLI imports node:fs)', async () => {
    const r: Bundle = await bundleCore({ entry: 'src/cli/context.ts' });
    expect(r.nodeImports).toContainEqual({ module: 'node:fs', importer: 'src/cli/context.ts' });
  });

  it('runs a machine in a context with only the language built-ins', async () => {
    const r: Bundle = await bundleCore({ format: 'iife', globalName: 'hmmsim', minify: false });
    const context = vm.createContext({});
    vm.runInContext(r.code, context);
    expect(
      vm.runInContext('typeof process + typeof Buffer + typeof require + typeof setTimeout', context),
    ).toBe('undefinedundefinedundefinedundefined');
    const value = await vm.runInContext(
      `(async () => {
        const { Machine, PAGE_SIZE, PROT_READ, PROT_WRITE, MAP_PRIVATE, MAP_ANONYMOUS } = hmmsim;
        const m = new Machine({ memory: 16 << 20 });
        const p = await m.createProcess();
        const a = await p.mmap(0, 4 * PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        await p.store32(a + PAGE_SIZE, 4242);
        return p.load32(a + PAGE_SIZE);
      })()`,
      context,
    );
    expect(value).toBe(4242);
  });
});
