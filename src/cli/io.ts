/**
 * Where the CLI's output goes, and the progress line of long runs (on stderr, only when stderr
 * is a terminal, rewritten in place with `\r`).
 * @module
 */
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';

/** The CLI's outside world; tests pass their own. */
export interface CliIo {
  /** Writes to stdout (the text carries its newlines). */
  readonly out: (text: string) => void;
  /** Writes to stderr. */
  readonly err: (text: string) => void;
  /** True when stderr is a terminal: progress lines are shown. */
  readonly errIsTTY: boolean;
  /** Directory relative paths are resolved from. */
  readonly cwd: string;
  /** Milliseconds, monotonic. */
  readonly now: () => number;
  /** All of standard input, as text (`hmmsim run -`); absent where there is none. */
  readonly readStdin?: () => string;
  /** Cores available to worker threads (`os.availableParallelism`); 1 when unknown. */
  readonly cores?: number;
  /**
   * Calls `handler` on SIGINT or SIGTERM (instead of dying at once) until the returned function
   * is called; a second signal ends the process at once.
   */
  readonly onInterrupt?: (handler: (signal: 'SIGINT' | 'SIGTERM') => void) => () => void;
  /** Print the stack trace of an internal error (`HMMSIM_DEBUG=1`). */
  readonly debug?: boolean;
}

/**
 * The process's own stdout, stderr and directory. A closed stdout or stderr (`hmmsim selftest
 * | head -1`) ends the process quietly with exit code 0: the reader has what it wanted, and
 * nothing can be said to anyone any more.
 */
export function nodeIo(): CliIo {
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code === 'EPIPE') process.exit(0);
      try {
        process.stderr.write(`hmmsim: cannot write output: ${e.message}\n`);
      } finally {
        process.exit(4);
      }
    });
  }
  return {
    out: (t) => {
      process.stdout.write(t);
    },
    err: (t) => {
      process.stderr.write(t);
    },
    errIsTTY: process.stderr.isTTY === true,
    cwd: process.cwd(),
    now: () => performance.now(),
    readStdin: () => readFileSync(0, 'utf8'),
    cores: availableParallelism(),
    onInterrupt: (handler) => {
      let seen = false;
      const on = (signal: 'SIGINT' | 'SIGTERM') => (): void => {
        if (seen) process.exit(signal === 'SIGINT' ? 130 : 143);
        seen = true;
        handler(signal);
      };
      const int = on('SIGINT');
      const term = on('SIGTERM');
      process.on('SIGINT', int);
      process.on('SIGTERM', term);
      return () => {
        process.off('SIGINT', int);
        process.off('SIGTERM', term);
      };
    },
    debug: process.env.HMMSIM_DEBUG === '1',
  };
}

/** A progress line on stderr, at most ten updates a second, erased by {@link Progress.done}. */
export class Progress {
  private last = Number.NEGATIVE_INFINITY;
  private shown = false;
  constructor(private readonly io: CliIo) {}

  /** Shows `text` (when stderr is a terminal). */
  update(text: string, force = false): void {
    if (!this.io.errIsTTY) return;
    const t = this.io.now();
    if (!force && t - this.last < 100) return;
    this.last = t;
    this.shown = true;
    this.io.err(`\r${text}\x1b[K`);
  }

  /** Erases the line. */
  done(): void {
    if (this.shown) this.io.err('\r\x1b[K');
    this.shown = false;
  }
}
