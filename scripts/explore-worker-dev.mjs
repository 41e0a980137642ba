// A worker thread of `hmmsim explore --workers N` when the CLI runs from the TypeScript sources
// (scripts/hmmsim-dev.mjs, tests): loads tsx, then the TypeScript worker. The built CLI starts
// dist/cli/explore-worker.js directly.
import { register } from 'tsx/esm/api';

register();
await import('../src/cli/explore-worker.ts');
