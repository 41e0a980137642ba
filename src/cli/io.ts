/**
 * Where the CLI's output goes, and the progress line of long runs (on stderr, only when stderr
 * is a terminal, rewritten in place with `\r`).
 * @module
 */

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
}

/** The process's own stdout, stderr and directory. */
export function nodeIo(): CliIo {
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
