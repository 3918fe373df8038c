/**
 * Reading a pipeline file into a YAML document, with bounded work whatever the file holds: a size limit, a nesting
 * limit checked before anything recurses, at most MAX_SYNTAX_ERRORS syntax errors, and duplicate keys found in
 * linear time.
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { parseDocument } from 'yaml';
import { PipelineError } from '../errors/pipeline-error.js';
import { documentTooDeep, MAX_NESTING, textTooDeep } from './nesting.js';
import { PipelineSource, PipelineText } from './pipeline-source.js';
import { duplicateKeyErrors, yamlErrors } from './yaml-errors.js';

/** The largest pipeline file pigeon reads: thousands of nodes fit, and any file is refused or read in seconds. */
export const MAX_PIPELINE_BYTES = 2 * 1024 * 1024;

/** The file's text, or the error saying why there is none. Never reads more than MAX_PIPELINE_BYTES + 1 bytes. */
export function readPipelineText(file: string): { text: string } | { error: PipelineError } {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch (e) {
    const missing = (e as NodeJS.ErrnoException).code === 'ENOENT';
    // ENOENT says nothing more than "does not exist"; other causes (EACCES) are worth printing.
    const message = `pipeline file ${file} ${missing ? 'does not exist' : 'cannot be read'}`;
    return { error: new PipelineError('FILE_NOT_FOUND', message, missing ? { file } : { file, cause: e }) };
  }
  try {
    const tooLarge = (): { error: PipelineError } => ({
      error: new PipelineError('INVALID_CONFIG', `pipeline file ${file} is larger than ${MAX_PIPELINE_BYTES / 1024 / 1024} MiB`, {
        file,
        hint: 'split it into several pipelines',
      }),
    });
    if (fstatSync(fd).size > MAX_PIPELINE_BYTES) return tooLarge();
    // The size of a pipe or a device says nothing: read up to one byte past the limit.
    const buffer = Buffer.alloc(MAX_PIPELINE_BYTES + 1);
    let length = 0;
    while (length < buffer.length) {
      const n = readSync(fd, buffer, length, buffer.length - length, null);
      if (n === 0) break;
      length += n;
    }
    if (length > MAX_PIPELINE_BYTES) return tooLarge();
    return { text: buffer.toString('utf8', 0, length) };
  } catch (e) {
    return { error: new PipelineError('FILE_NOT_FOUND', `pipeline file ${file} cannot be read`, { file, cause: e }) };
  } finally {
    closeSync(fd);
  }
}

export interface ParsedYaml {
  /** Absent when the text could not be parsed at all. */
  readonly source?: PipelineSource;
  readonly errors: PipelineError[];
  /** The document may be converted and checked further: its only problems, if any, are duplicate keys. */
  readonly usable: boolean;
}

export function parsePipelineYaml(file: string, text: string): ParsedYaml {
  const cr = loneCarriageReturn(text);
  if (cr !== undefined) {
    // The YAML parser would read the whole file as one line, a long list of errors that all say "line 1".
    const message = 'a line ends with a lone carriage return (CR): write LF or CRLF line endings';
    return { errors: [new PipelineError('YAML_SYNTAX', message, new PipelineText(file, text).span(cr, cr + 1))], usable: false };
  }
  const deepAt = textTooDeep(text);
  if (deepAt !== undefined) {
    const where = new PipelineText(file, text).span(deepAt, deepAt + 1);
    return { errors: [tooDeep(where)], usable: false };
  }
  // Duplicate keys are found by duplicateKeyErrors: the parser's own check compares every pair of keys of a map.
  // `merge: true` lets people share settings with `<<: *anchor`.
  const doc = parseDocument(text, { prettyErrors: false, merge: true, uniqueKeys: false });
  const source = new PipelineSource(file, text, doc);
  const errors = [...yamlErrors(source), ...duplicateKeyErrors(source)];
  if (doc.errors.length > 0) return { source, errors, usable: false };
  const deep = documentTooDeep(doc);
  if (deep !== undefined) {
    const [start = 0, end = start + 1] = deep.range ?? [];
    return { source, errors: [...errors, tooDeep(source.span(start, end))], usable: false };
  }
  return { source, errors, usable: true };
}

function loneCarriageReturn(text: string): number | undefined {
  for (let i = text.indexOf('\r'); i >= 0; i = text.indexOf('\r', i + 1)) if (text[i + 1] !== '\n') return i;
  return undefined;
}

function tooDeep(where: ReturnType<PipelineText['span']>): PipelineError {
  return new PipelineError('YAML_SYNTAX', `the document nests more than ${MAX_NESTING} levels of maps and lists`, where);
}
