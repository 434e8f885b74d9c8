/**
 * The typed error model. Every expected failure is a WksError carrying the
 * process exit code and a hint that tells the operator what to do next. The
 * single top-level handler in cli.ts prints `Error: <message>` and
 * `Try: <hint>`; stacks are shown only with -v. Exit codes are a stable
 * contract, documented in docs/exit-codes.md.
 */

export const ExitCode = {
  OK: 0,
  FAILED: 1,
  USAGE: 2,
  VERIFY_FAILED: 3,
  CONFLICT: 4,
  NOT_FOUND: 5,
  CONFIG: 78,
} as const;
export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode];

export interface WksErrorOptions {
  hint?: string;
  cause?: unknown;
  /** Structured detail included in the --json error document. */
  details?: Record<string, unknown>;
}

export class WksError extends Error {
  readonly exitCode: number;
  readonly hint?: string;
  readonly details?: Record<string, unknown>;
  /** Short machine-readable kind used in --json output. */
  readonly code: string = 'failed';

  constructor(message: string, exitCode: number = ExitCode.FAILED, opts: WksErrorOptions = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = new.target.name;
    this.exitCode = exitCode;
    this.hint = opts.hint;
    this.details = opts.details;
  }
}

// The subclasses below are deliberate twins, one per exit code: the type is what callers and tests match on.

/** Generic operation failure (exit 1). */
export class OperationError extends WksError {
  override readonly code = 'failed';
  constructor(message: string, opts: WksErrorOptions = {}) {
    super(message, ExitCode.FAILED, opts);
  }
}

/** Bad command-line usage, or a destructive command without --yes off a TTY (exit 2). */
export class UsageError extends WksError {
  override readonly code = 'usage';
  constructor(message: string, opts: WksErrorOptions = {}) {
    super(message, ExitCode.USAGE, opts);
  }
}

/** A checksum, integrity or row-count check failed (exit 3). */
export class VerificationError extends WksError {
  override readonly code = 'verification_failed';
  constructor(message: string, opts: WksErrorOptions = {}) {
    super(message, ExitCode.VERIFY_FAILED, opts);
  }
}

/** Someone else holds a lock, or another run is in progress (exit 4). */
export class ConflictError extends WksError {
  override readonly code = 'conflict';
  constructor(message: string, opts: WksErrorOptions = {}) {
    super(message, ExitCode.CONFLICT, opts);
  }
}

/** No such backup, execution, migration... (exit 5). */
export class NotFoundError extends WksError {
  override readonly code = 'not_found';
  constructor(message: string, opts: WksErrorOptions = {}) {
    super(message, ExitCode.NOT_FOUND, opts);
  }
}

/** One problem found while loading configuration. */
export interface ConfigIssue {
  /** Key path (`phase4.redis.connection.port`) or variable name (`REDIS_PORT`). */
  key: string;
  message: string;
  /** Where the value came from: `env REDIS_PORT`, `phase4-config.yml:12`, `default`, `flag --x`. */
  source: string;
  /** The offending value, already redacted when secret. */
  value?: string;
}

/** Configuration is invalid (exit 78, EX_CONFIG). Carries every problem found, not just the first. */
export class ConfigError extends WksError {
  override readonly code = 'config_invalid';
  readonly issues: ConfigIssue[];
  constructor(message: string, issues: ConfigIssue[] = [], opts: WksErrorOptions = {}) {
    super(message, ExitCode.CONFIG, {
      hint: opts.hint ?? 'fix the listed keys, then run `wks config validate`',
      ...opts,
      details: { ...(opts.details ?? {}), issues },
    });
    this.issues = issues;
  }
}

/** A dependency (database, Redis, external tool) is unreachable or missing (exit 1). */
export class DependencyError extends WksError {
  override readonly code = 'dependency_unavailable';
  constructor(message: string, opts: WksErrorOptions = {}) {
    super(message, ExitCode.FAILED, opts);
  }
}

/** True for errors whose message is meant for the operator (no stack needed). */
export function isWksError(err: unknown): err is WksError {
  return err instanceof WksError;
}
