/**
 * The CLI's error discipline, shared by every command: a handler reports a failure a user can
 * cause by throwing a {@link CliError} with the exit code it deserves; `main` prints its message
 * as one line (`hmmsim: …`) and exits with that code. Anything else that escapes a handler is a
 * bug in hmmsim: exit 4, one line, and the stack trace only under `HMMSIM_DEBUG=1`.
 *
 * Exit codes: 0 success; 1 a check, test or expectation failed, or a violation was found;
 * 2 usage error; 3 invalid input file (a scenario); 4 internal error.
 * Node-free.
 * @module
 */

/** Exit code: success. */
export const EXIT_OK = 0;
/** Exit code: a check, test or expectation failed, or a violation was found. */
export const EXIT_FAILED = 1;
/** Exit code: usage error. */
export const EXIT_USAGE = 2;
/** Exit code: invalid scenario (or other input) file. */
export const EXIT_SCENARIO = 3;
/** Exit code: internal error. */
export const EXIT_INTERNAL = 4;
/** Exit code: interrupted by SIGINT (128 + 2, as shells report it), after a partial report. */
export const EXIT_SIGINT = 130;
/** Exit code: interrupted by SIGTERM (128 + 15), after a partial report. */
export const EXIT_SIGTERM = 143;

/** A failure the user caused, with its exit code; its message is printed as one line. */
export class CliError extends Error {
  override readonly name: string = 'CliError';
  /** The process's exit code. */
  readonly exitCode: number;
  /** The command whose `--help` to point at (usage errors), when known. */
  readonly command: string | undefined;
  constructor(message: string, exitCode: number, command?: string) {
    super(message);
    this.exitCode = exitCode;
    this.command = command;
  }
}

/** A usage mistake (exit code 2): unknown command or option, bad value, missing argument. */
export class CliUsageError extends CliError {
  override readonly name = 'CliUsageError';
  constructor(message: string, command?: string) {
    super(message, EXIT_USAGE, command);
  }
}

/** An input file that cannot be used (exit code 3), the message naming file:line:column. */
export class CliInputError extends CliError {
  override readonly name = 'CliInputError';
  constructor(message: string) {
    super(message, EXIT_SCENARIO);
  }
}

/** A check that failed (exit code 1), e.g. a scenario's set-up step missing its expectation. */
export class CliCheckFailed extends CliError {
  override readonly name = 'CliCheckFailed';
  constructor(message: string) {
    super(message, EXIT_FAILED);
  }
}
