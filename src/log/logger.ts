import winston from 'winston';
import { makeRedactor, redactDeep } from './redact.js';

export type LogFormat = 'text' | 'json';

export interface LoggerOptions {
  readonly format: LogFormat;
  readonly level?: string;
  /** JSON-lines file of the run (`.pigeon/runs/<id>/log.jsonl`). */
  readonly file?: string;
  readonly secrets: readonly string[];
}

/**
 * winston, writing to stderr (stdout is kept for what a command prints as its result) and, for a run, to the run's
 * JSON-lines log. Every line passes through the redactor: a secret never reaches a terminal or a file.
 */
export function createLogger(options: LoggerOptions): winston.Logger {
  const redact = makeRedactor(options.secrets);
  const scrub = winston.format((info) => {
    const clean = redactDeep({ ...info }, redact);
    Object.assign(info, clean);
    return info;
  });
  const text = winston.format.printf((info) => {
    const time = new Date().toISOString().slice(11, 19);
    const level = info.level === 'info' ? '' : `${info.level.toUpperCase()} `;
    return `${time} ${level}${String(info.message)}`;
  });
  const transports: winston.transport[] = [
    new winston.transports.Console({
      level: options.level ?? 'info',
      stderrLevels: ['error', 'warn', 'info', 'debug', 'verbose', 'silly'],
      format: options.format === 'json' ? winston.format.combine(winston.format.timestamp(), winston.format.json()) : text,
    }),
  ];
  if (options.file) {
    transports.push(
      new winston.transports.File({
        filename: options.file,
        level: 'debug',
        format: winston.format.combine(winston.format.timestamp(), winston.format.json()),
      }),
    );
  }
  // The run's file gets debug events (per-chunk timings) whatever the terminal shows.
  return winston.createLogger({
    level: options.file ? 'debug' : (options.level ?? 'info'),
    format: scrub(),
    transports,
  });
}

/** Waits until every transport has written what it was given (before the process exits). */
export function closeLogger(logger: winston.Logger): Promise<void> {
  return new Promise((resolve) => {
    let pending = logger.transports.length;
    if (pending === 0) return resolve();
    const done = () => {
      if (--pending === 0) resolve();
    };
    for (const t of logger.transports) t.once('finish', done);
    logger.end();
    setTimeout(resolve, 2000).unref();
  });
}
