#!/usr/bin/env node
// `hmmsim` from the TypeScript sources (development and tests; needs no build): loads tsx, then
// src/cli/main.ts. Users run bin/hmmsim.mjs, which runs the built JavaScript.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../src/cli/main.ts');
process.exitCode = await main(process.argv.slice(2));
