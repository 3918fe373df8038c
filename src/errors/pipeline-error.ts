/**
 * Every error pigeon raises on purpose is a PipelineError: a stable `code` for tests and scripts, a message for
 * people, and where known the place it concerns (file:line:col of the pipeline, a node, a table, a column, a CSV
 * file and line). Rendering (with the offending line and a caret) happens only when printing: see render.ts.
 */
export type ErrorCode =
  // configuration (exit 3)
  | 'YAML_SYNTAX'
  | 'SCHEMA'
  | 'UNKNOWN_KEY'
  | 'UNKNOWN_CONNECTION'
  | 'UNKNOWN_DEPENDENCY'
  | 'DUPLICATE_NODE'
  | 'CYCLE'
  | 'DUPLICATE_TARGET'
  | 'MERGE_WITHOUT_KEY'
  | 'ENV_UNSET'
  | 'TEMPLATE'
  | 'INVALID_CONFIG'
  | 'FILE_NOT_FOUND'
  | 'STAGING_NOT_SHARED'
  // usage (exit 2)
  | 'USAGE'
  | 'SELECTION'
  | 'RUN_NOT_FOUND'
  // run-time
  | 'LOCKED'
  | 'CONNECT_FAILED'
  | 'DRIVER_MISSING'
  | 'UNSUPPORTED'
  | 'SOURCE_NOT_FOUND'
  | 'EXPORT_FAILED'
  | 'IMPORT_FAILED'
  | 'BAD_VALUE'
  | 'LOSSY_VALUE'
  | 'SCHEMA_CHANGED'
  | 'TARGET_MISSING'
  | 'BAD_CSV'
  | 'ROW_COUNT_MISMATCH'
  | 'CHECKSUM_MISMATCH'
  | 'STAGING_FAILED'
  | 'TIMEOUT'
  | 'EXECUTOR_FAILED'
  | 'WORKER_LOST'
  | 'ABORTED'
  | 'INTERNAL';

/** Where a problem is. Every field is optional; render.ts prints whatever is known. */
export interface ErrorLocation {
  readonly file?: string;
  /** 1-based line and column in `file`. */
  readonly line?: number;
  readonly col?: number;
  /** Length of the offending span, for the caret underline. */
  readonly length?: number;
  readonly node?: string;
  readonly connection?: string;
  readonly table?: string;
  readonly column?: string;
  /** A staging chunk file and the 1-based line in it. */
  readonly chunk?: string;
  readonly chunkLine?: number;
  /** The `pigeon worker` (its id, hostname:pid or --name) an attempt ran on, in a distributed run. */
  readonly worker?: string;
}

export interface PipelineErrorOptions extends ErrorLocation {
  readonly cause?: unknown;
  /** True when retrying the same work may succeed (lost connection, lock timeout, busy database). */
  readonly transient?: boolean;
  /** A hint printed under the message ("did you mean …", "run npm install pg"). */
  readonly hint?: string;
}

export class PipelineError extends Error {
  readonly code: ErrorCode;
  readonly location: ErrorLocation;
  readonly transient: boolean;
  readonly hint: string | undefined;

  constructor(code: ErrorCode, message: string, options: PipelineErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'PipelineError';
    this.code = code;
    const { cause: _cause, transient, hint, ...location } = options;
    this.location = location;
    this.transient = transient ?? false;
    this.hint = hint;
  }

  /** A copy with more context; the original fields win over the added ones. */
  withContext(extra: ErrorLocation): PipelineError {
    const copy = new PipelineError(this.code, this.message, {
      ...extra,
      ...this.location,
      cause: this.cause,
      transient: this.transient,
      ...(this.hint === undefined ? {} : { hint: this.hint }),
    });
    copy.stack = this.stack;
    return copy;
  }
}

/** Errors of these codes mean the pipeline file is wrong: `pigeon` exits 3. */
export const CONFIG_ERROR_CODES: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  'YAML_SYNTAX', 'SCHEMA', 'UNKNOWN_KEY', 'UNKNOWN_CONNECTION', 'UNKNOWN_DEPENDENCY', 'DUPLICATE_NODE', 'CYCLE',
  'DUPLICATE_TARGET', 'MERGE_WITHOUT_KEY', 'ENV_UNSET', 'TEMPLATE', 'INVALID_CONFIG', 'FILE_NOT_FOUND',
  'STAGING_NOT_SHARED',
]);

/** Several problems found at once (validation reports all of them, not the first). */
export class PipelineErrors extends Error {
  readonly errors: readonly PipelineError[];
  /** Values to mask when printing these errors (passwords of the pipeline they are about). */
  readonly secrets: readonly string[];
  constructor(errors: readonly PipelineError[], secrets: readonly string[] = []) {
    super(`${errors.length} problem${errors.length === 1 ? '' : 's'} found`);
    this.name = 'PipelineErrors';
    this.errors = errors;
    this.secrets = secrets;
  }
}

/** Turns anything thrown into a PipelineError without losing the original (kept as `cause`). */
export function toPipelineError(e: unknown, code: ErrorCode, context: PipelineErrorOptions = {}): PipelineError {
  if (e instanceof PipelineError) return e.withContext(context);
  const message = e instanceof Error ? e.message : String(e);
  return new PipelineError(code, message, { ...context, cause: e });
}
