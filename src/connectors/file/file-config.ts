import { resolve, sep } from 'node:path';
import type { ConnectionConfig } from '../../config/types.js';
import { PipelineError } from '../../errors/pipeline-error.js';

export interface FileConfig {
  readonly name: string;
  /** Absolute path of the directory holding one `<table>.csv` per table. */
  readonly dir: string;
}

export function fileConfig(c: ConnectionConfig, cwd: string): FileConfig {
  if (typeof c.dir !== 'string' || c.dir === '') {
    throw new PipelineError('INVALID_CONFIG', `connection \`${c.name}\`: file needs a \`dir\``, { connection: c.name });
  }
  return { name: c.name, dir: resolve(cwd, c.dir) };
}

/** `<dir>/<table>.csv`; a table name can never point outside the directory. */
export function tablePath(config: FileConfig, table: string, suffix: string): string {
  const p = resolve(config.dir, `${table}${suffix}`);
  if (!p.startsWith(config.dir + sep)) {
    throw new PipelineError('INVALID_CONFIG', `table name \`${table}\` points outside the directory ${config.dir}`, {
      connection: config.name,
      table,
    });
  }
  return p;
}
