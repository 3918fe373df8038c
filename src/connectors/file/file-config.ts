import { resolve } from 'node:path';
import type { ConnectionConfig } from '../../config/types.js';
import { renderTemplate, templateVars } from '../../config/templates.js';
import { PipelineError } from '../../errors/pipeline-error.js';
import type { ConfigProblem } from '../contract.js';
import { objectSettings, type ObjectSettings } from '../objects/object-layout.js';

export interface FileConfig extends ObjectSettings {
  /** Absolute path of the directory holding the tables (`<table>.csv` per table in the default `file` layout). */
  readonly dir: string;
}

export function fileConfig(c: ConnectionConfig, cwd: string): FileConfig {
  if (typeof c.dir !== 'string' || c.dir === '') {
    throw new PipelineError('INVALID_CONFIG', `connection \`${c.name}\`: file needs a \`dir\``, { connection: c.name });
  }
  return { ...objectSettings(c, 'file'), dir: resolve(cwd, c.dir) };
}

/**
 * The longest table name, in UTF-8 bytes, once its templates are rendered: `<table>.csv` and the temporary files
 * beside it (`.<table>.csv.loads.json.<pid>.<random>.tmp`, about 40 bytes more) must fit in a file name (255 bytes).
 */
export const MAX_TABLE_BYTES = 200;

/** Templates rendered at their longest: a run id is a timestamp and a random suffix. */
const LONGEST_VARS = templateVars({ start: new Date(0), end: new Date(0) }, 'x'.repeat(32));

/**
 * A file source's or target's `table` names a file in the connection's directory: no path, and short enough for
 * the file system (ConnectorKind.checkSource and checkTarget).
 */
export function fileTableProblems(endpoint: Readonly<Record<string, unknown>>): readonly ConfigProblem[] {
  const table = endpoint['table'];
  if (typeof table !== 'string') return [];
  if (/[/\\\0]/.test(table)) {
    return [{ path: ['table'], message: 'a file table is a file name in the connection\'s `dir`: it may not contain /, \\ or NUL' }];
  }
  let rendered = table;
  try {
    rendered = renderTemplate(table, LONGEST_VARS);
  } catch {
    // An unknown template: reported by the template check.
  }
  if (Buffer.byteLength(rendered) > MAX_TABLE_BYTES) {
    return [{ path: ['table'], message: `a file table name may be at most ${MAX_TABLE_BYTES} bytes (it names \`<table>.csv\` and its temporary files)` }];
  }
  return [];
}
