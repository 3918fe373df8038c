import { startAttemptWorker } from '../../distributed/attempt-worker.js';
import { closeLogger, createLogger } from '../../log/logger.js';
import { EXIT } from '../exit-codes.js';
import type { CommonOptions } from '../context.js';

export interface WorkerRequest {
  readonly url: string;
  readonly queue: string;
  readonly concurrency: number;
  readonly name?: string;
  /** Test hooks (environment): a short job lock, and a durable step at which the worker kills itself. */
  readonly lockMs?: number;
  readonly crashAt?: string;
}

/**
 * `pigeon worker`: runs node attempts from the queue until SIGTERM or SIGINT. The first signal stops taking new
 * attempts and lets the running ones finish; a second one cancels them and hands them back to the queue, where
 * another worker takes them. Resolves with the exit code once the worker has stopped.
 */
export async function workerCommand(req: WorkerRequest, common: CommonOptions): Promise<number> {
  const logger = createLogger({ format: common.logFormat, secrets: [], ...(common.quiet ? { level: 'warn' } : {}) });
  const log = (level: 'info' | 'warn' | 'debug' | 'error', message: string, fields: Record<string, unknown> = {}) => logger.log(level, message, fields);
  try {
    const worker = await startAttemptWorker({
      url: req.url,
      queue: req.queue,
      concurrency: req.concurrency,
      ...(req.name !== undefined ? { name: req.name } : {}),
      common,
      ...(req.lockMs !== undefined ? { lockMs: req.lockMs } : {}),
      ...(req.crashAt !== undefined ? { crashAt: req.crashAt } : {}),
      log,
    });
    let signals = 0;
    const stopped = new Promise<void>((resolve, reject) => {
      const onSignal = (sig: NodeJS.Signals) => {
        signals++;
        if (signals === 1) {
          log('warn', `${sig}: taking no more attempts; the running ones finish (${sig} again hands them back to the queue)`, { event: 'worker_stopping' });
          worker.close(false).then(resolve, reject);
        } else if (signals === 2) {
          log('warn', `${sig} again: cancelling the running attempts and handing them back to the queue`, { event: 'worker_stopping' });
          worker.close(true).then(resolve, reject);
        }
      };
      process.on('SIGINT', onSignal);
      process.on('SIGTERM', onSignal);
    });
    await stopped;
    log('info', `worker ${worker.id} stopped`, { event: 'worker_stop' });
    return EXIT.OK;
  } finally {
    await closeLogger(logger);
  }
}
