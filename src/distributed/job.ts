import type { NodeAttemptResult, NodeProgress } from '../nodes/run-node.js';
import { PipelineError, type ErrorCode, type ErrorLocation } from '../errors/pipeline-error.js';
import { isTransient } from '../errors/transient.js';
import type { AttemptSpan } from '../state/run-store.js';

/**
 * One attempt of one node as a BullMQ job: everything a worker on another machine needs to run it with the same
 * runNodeAttempt an in-process run calls. The pipeline travels as the file's text and each worker resolves `${ENV}`
 * from its own environment, so secrets kept in the environment never pass through Redis.
 */
export interface AttemptJob {
  readonly version: 1;
  readonly run_id: string;
  readonly lineage: string;
  readonly node: string;
  readonly attempt: number;
  /** The pipeline file's name (for messages) and text. */
  readonly file: string;
  readonly text: string;
  /** `--var` values, for loading the file (templates naming others are errors). */
  readonly vars: Readonly<Record<string, string>>;
  /** The run's template values (`ds`, `run_id`, `var.*`) and data interval, as the coordinator rendered them. */
  readonly template_vars: Readonly<Record<string, string>>;
  readonly interval: { readonly start: string; readonly end: string };
  readonly full_refresh?: boolean;
  /**
   * The sessions this attempt may hold of each connection it uses, granted by the coordinator so that the
   * connection's `max_connections` holds over every worker together.
   */
  readonly sessions: Readonly<Record<string, number>>;
}

/** A serialised PipelineError: what a run record keeps of it, and enough to rebuild it. */
export interface JobError {
  readonly code: string;
  readonly message: string;
  readonly location?: ErrorLocation;
  readonly transient?: boolean;
  readonly hint?: string;
}

/**
 * How an attempt ended on its worker. A failed attempt is a result, not a failed job: BullMQ's own failures are kept
 * for what went wrong around the attempt (a worker lost, a job that stalled too often).
 */
export type AttemptJobResult =
  | { readonly worker: string; readonly ok: true; readonly result: NodeAttemptResult; readonly spans: readonly AttemptSpan[] }
  | {
      readonly worker: string;
      readonly ok: false;
      readonly error: JobError;
      readonly spans: readonly AttemptSpan[];
      /** The worker was stopped (SIGTERM twice) before the attempt ended: the coordinator queues it again. */
      readonly handed_back?: boolean;
    };

/** What a running attempt reports through BullMQ's job progress. */
export interface AttemptProgress extends Partial<NodeProgress> {
  readonly worker: string;
}

/**
 * The job id of an attempt: the same for the same pipeline, lineage, node and attempt, so a coordinator that
 * replaces a killed one (`pigeon retry` keeps the lineage) finds the jobs that are still running instead of starting
 * them twice. BullMQ refuses `:` in custom ids, and names may hold anything: each part is URI-encoded.
 */
export function attemptJobId(pipeline: string, lineage: string, node: string, attempt: number): string {
  return `${attemptJobPrefix(pipeline, lineage, node)}${attempt}`;
}

export function attemptJobPrefix(pipeline: string, lineage: string, node: string): string {
  const part = (s: string) => encodeURIComponent(s).replaceAll(':', '%3A');
  return `${part(pipeline)}/${part(lineage)}/${part(node)}/`;
}

export function toJobError(e: PipelineError): JobError {
  return {
    code: e.code,
    message: e.cause instanceof Error && e.cause.message !== e.message ? `${e.message} (${e.cause.message})` : e.message,
    ...(Object.keys(e.location).length > 0 ? { location: e.location } : {}),
    ...(isTransient(e) ? { transient: true } : {}),
    ...(e.hint !== undefined ? { hint: e.hint } : {}),
  };
}

export function fromJobError(e: JobError): PipelineError {
  return new PipelineError(e.code as ErrorCode, e.message, {
    ...(e.location ?? {}),
    ...(e.transient ? { transient: true } : {}),
    ...(e.hint !== undefined ? { hint: e.hint } : {}),
  });
}
