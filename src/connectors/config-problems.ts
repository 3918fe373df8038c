import type { ConnectionConfig } from '../config/types.js';
import { PipelineError } from '../errors/pipeline-error.js';
import type { ConfigProblem } from './contract.js';

/**
 * A kind's offline connection check (ConnectorKind.checkConnection) from the function that reads its settings:
 * what `read` refuses with INVALID_CONFIG (`connection \`x\`: \`key\` must …`), at the first key its message
 * names, so validate reports it at that key's file:line:col.
 */
export function configProblems(read: (c: ConnectionConfig) => unknown): (c: ConnectionConfig) => readonly ConfigProblem[] {
  return (c) => {
    try {
      read(c);
      return [];
    } catch (e) {
      if (!(e instanceof PipelineError)) throw e;
      const message = e.message.replace(/^connection `[^`]*`: /, '');
      const key = /`([a-z_]+)`/.exec(message)?.[1];
      return [{ path: key !== undefined && key in c ? [key] : [], message }];
    }
  };
}

/** INVALID_CONFIG about connection `c`: `connection \`name\`: <msg>` (the form configProblems places at a key). */
export function invalidConnection(c: ConnectionConfig): (msg: string) => PipelineError {
  return (msg) => new PipelineError('INVALID_CONFIG', `connection \`${c.name}\`: ${msg}`, { connection: c.name });
}

/** A string key of connection `c`: undefined when absent, null or empty; INVALID_CONFIG naming it when not a string. */
export function stringKey(c: ConnectionConfig, key: string): string | undefined {
  const v = c[key];
  if (v === undefined || v === null || v === '') return undefined;
  if (typeof v !== 'string') throw invalidConnection(c)(`\`${key}\` must be a string`);
  return v;
}
