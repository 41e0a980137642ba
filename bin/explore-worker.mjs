// A worker thread of `hmmsim explore --workers N`: loads tsx, then the TypeScript worker.
import { register } from 'tsx/esm/api';

register();
await import('../src/cli/explore-worker.ts');
