#!/usr/bin/env node
// The `hmmsim` command: runs the built JavaScript in dist/ (`npm run build`; `npm ci` and
// `npm pack` build it). No TypeScript loader at run time.
import { main } from '../dist/cli/main.js';

process.exitCode = await main(process.argv.slice(2));
