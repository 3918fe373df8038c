import { Writable } from 'node:stream';
import winston from 'winston';
import { makeRedactor, redactDeep } from './redact.js';

export type LogFormat = 'text' | 'json';

/**
 * A log entry with this key set to true goes to the run's log file only: the terminal already showed the same thing
 * in its own form (a rendered error with its caret, the summary table).
 */
export const CONSOLE_SILENT = Symbol('console-silent');

export interface LoggerOptions {
  readonly format: LogFormat;
  readonly level?: string;
  /** JSON-lines file of the run (`.pigeon/runs/<id>/log.jsonl`). */
  readonly file?: string;
  readonly secrets: readonly string[];
  /** Where text lines go instead of stderr (the live progress prints them above its block). */
  readonly write?: (line: string) => void;
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
  const audible = winston.format((info) => ((info as Record<symbol, unknown>)[CONSOLE_SILENT] === true ? false : info))();
  const consoleFormat = winston.format.combine(
    audible,
    options.format === 'json' ? winston.format.combine(winston.format.timestamp(), winston.format.json()) : text,
  );
  const transports: winston.transport[] = [
    options.write
      ? new winston.transports.Stream({ stream: lineStream(options.write), level: options.level ?? 'info', format: consoleFormat })
      : new winston.transports.Console({
          level: options.level ?? 'info',
          stderrLevels: ['error', 'warn', 'info', 'debug', 'verbose', 'silly'],
          format: consoleFormat,
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
    levels: winston.config.npm.levels,
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

/** A stream that hands each line written to it to `write`, without its line feed. */
function lineStream(write: (line: string) => void): Writable {
  return new Writable({
    write(chunk: Buffer | string, _encoding, done) {
      for (const line of String(chunk).split('\n')) if (line !== '') write(line);
      done();
    },
  });
}
