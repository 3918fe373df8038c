import { maskSecrets } from '../../errors/mask.js';
import { isTransient } from '../../errors/transient.js';
import { ObjectStoreError } from '../objects/object-store.js';

/** S3 error codes where the same request may succeed a little later (besides any 5xx answer and network failures). */
const TRANSIENT_CODES: ReadonlySet<string> = new Set([
  'SlowDown',
  'Throttling',
  'ThrottlingException',
  'ThrottledException',
  'RequestThrottled',
  'RequestThrottledException',
  'TooManyRequestsException',
  'RequestLimitExceeded',
  'BandwidthLimitExceeded',
  'RequestTimeout',
  'RequestTimeoutException',
  'InternalError',
  'ServiceUnavailable',
  'TimeoutError',
  'RequestTimeTooSkewed',
  'IDPCommunicationError',
  'EC2ThrottledException',
]);

const NOT_FOUND: ReadonlySet<string> = new Set(['NoSuchKey', 'NotFound', 'NoSuchUpload']);

interface SdkErrorLike {
  name?: string;
  Code?: string;
  code?: string;
  message?: string;
  $retryable?: unknown;
  $metadata?: { httpStatusCode?: number };
}

/** The HTTP status of an SDK error, when the server answered. */
export function httpStatus(e: unknown): number | undefined {
  return (e as SdkErrorLike | undefined)?.$metadata?.httpStatusCode;
}

/** Whether an SDK error says the object (or upload) is not there. */
export function isNotFound(e: unknown): boolean {
  const err = (e ?? {}) as SdkErrorLike;
  if (err.name === 'NoSuchBucket' || err.Code === 'NoSuchBucket') return false;
  return NOT_FOUND.has(err.name ?? '') || NOT_FOUND.has(err.Code ?? '') || httpStatus(e) === 404;
}

/**
 * An S3 failure as an ObjectStoreError: `what` and the object, the service's code and HTTP status, the message with
 * the connection's secrets masked; transient for throttling, timeouts, 5xx answers and network failures (after the
 * SDK's own retries).
 */
export function s3Error(e: unknown, what: string, location: string, secrets: readonly string[]): ObjectStoreError {
  if (e instanceof ObjectStoreError) return e;
  const err = (typeof e === 'object' && e !== null ? e : {}) as SdkErrorLike;
  const code = err.Code ?? err.name ?? err.code ?? '';
  const status = httpStatus(e);
  const raw = e instanceof Error ? e.message : String(e);
  if (e instanceof Error) e.message = maskSecrets(e.message, secrets);
  // The SDK says "UnknownError" for an answer without a body (a HEAD): the status says more.
  const detail = maskSecrets(raw && raw !== 'UnknownError' ? raw : code || 'no detail', secrets);
  const tags = [code && code !== detail ? code : '', status !== undefined ? `HTTP ${status}` : ''].filter(Boolean).join(', ');
  const transient =
    TRANSIENT_CODES.has(code) || (status !== undefined && (status >= 500 || status === 429)) || err.$retryable !== undefined || isTransient(e);
  return new ObjectStoreError(`cannot ${what} ${location}: ${detail}${tags ? ` (${tags})` : ''}`, {
    location,
    notFound: isNotFound(e),
    transient,
    cause: e,
  });
}
