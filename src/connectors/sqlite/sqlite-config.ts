import { resolve } from 'node:path';
import type { ConnectionConfig } from '../../config/types.js';
import { PipelineError } from '../../errors/pipeline-error.js';

export interface SqliteConfig {
  readonly name: string;
  /** Absolute path of the database file. */
  readonly path: string;
}

export function sqliteConfig(c: ConnectionConfig, cwd: string): SqliteConfig {
  if (typeof c.path !== 'string' || c.path === '') {
    throw new PipelineError('INVALID_CONFIG', `connection \`${c.name}\`: sqlite needs a \`path\``, { connection: c.name });
  }
  return { name: c.name, path: resolve(cwd, c.path) };
}
