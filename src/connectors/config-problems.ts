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
