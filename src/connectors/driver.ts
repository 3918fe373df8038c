import { PipelineError } from '../errors/pipeline-error.js';

/**
 * Imports a database driver only when a pipeline needs it, and turns a missing package into advice instead of a
 * module-resolution stack trace.
 */
export async function loadDriver<T>(pkg: string, kind: string): Promise<T> {
  try {
    const mod = (await import(pkg)) as { default?: T };
    return (mod.default ?? mod) as T;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') {
      throw new PipelineError('DRIVER_MISSING', `the ${kind} connector needs the \`${pkg}\` package`, {
        hint: `run npm install ${pkg}`,
        cause: e,
      });
    }
    throw e;
  }
}
