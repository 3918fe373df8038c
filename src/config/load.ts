/**
 * Loading a pipeline file: read → parse YAML (keeping positions) → JSON schema → `${ENV}` and `{{ template }}`
 * checks → semantic checks → the resolved Pipeline. Every problem becomes a PipelineError located at
 * file:line:col, and all of them are collected in one pass rather than stopping at the first.
 */
import { PipelineError, PipelineErrors } from '../errors/pipeline-error.js';
import { buildPipeline, type RawPipeline } from './build.js';
import type { Env } from './interpolate.js';
import { parsePipelineYaml, readPipelineText } from './parse-yaml.js';
import { schemaErrors } from './schema-errors.js';
import { collectSecrets, connectionsOf, secretsInText } from './secrets.js';
import { substituteScalars } from './substitute.js';
import type { Pipeline } from './types.js';
import { registryKinds, validatePipeline, type KindLookup, type PathSegment } from './validate.js';

export interface LoadOptions {
  /** Environment for `${VAR}` substitution; default `process.env`. */
  readonly env?: Env;
  /** The connector kinds connections may use; default the registry's. For tests and tools embedding pigeon. */
  readonly kinds?: KindLookup;
  /** Values of `{{ var.NAME }}` (`--var`): a template naming another is an error. Default: not checked. */
  readonly vars?: Readonly<Record<string, string>>;
}

export interface LoadResult {
  /** Set only when `errors` is empty. */
  readonly pipeline?: Pipeline;
  /** Every problem found, in file order. */
  readonly errors: PipelineError[];
  /**
   * Values never to print (see Pipeline.secrets), found as well as the file allows even when it has errors: a
   * rendered error quotes the line it is on, and that line may hold a password.
   */
  readonly secrets: readonly string[];
}

/**
 * Loads and validates a pipeline file. Never throws for a problem in the file (or a missing file): each one is a
 * PipelineError in `errors`, with `file` set to `file` as given.
 */
export function loadPipeline(file: string, options: LoadOptions = {}): LoadResult {
  let errors: PipelineError[];
  let pipeline: Pipeline | undefined;
  let secrets: readonly string[] = [];
  try {
    ({ errors, pipeline, secrets } = load(file, options.env ?? process.env, options.kinds, options.vars));
  } catch (e) {
    // A bug of ours, not a problem in the file: still reported, not thrown, as the contract promises.
    const message = e instanceof Error ? e.message : String(e);
    errors = [new PipelineError('INTERNAL', `internal error while loading the pipeline: ${message}`, { file, cause: e })];
  }
  errors.sort(byPosition);
  return errors.length === 0 && pipeline !== undefined ? { pipeline, errors, secrets } : { errors, secrets };
}

function byPosition(a: PipelineError, b: PipelineError): number {
  return (a.location.line ?? 0) - (b.location.line ?? 0) || (a.location.col ?? 0) - (b.location.col ?? 0);
}

/** Like loadPipeline, but throws PipelineErrors with every problem. */
export function loadPipelineOrThrow(file: string, options: LoadOptions = {}): Pipeline {
  const { pipeline, errors, secrets } = loadPipeline(file, options);
  if (pipeline === undefined) throw new PipelineErrors(errors, secrets);
  return pipeline;
}

interface Loaded {
  readonly errors: PipelineError[];
  readonly pipeline?: Pipeline;
  readonly secrets: readonly string[];
}

function load(file: string, env: Env, kinds: KindLookup | undefined, vars: Readonly<Record<string, string>> | undefined): Loaded {
  const read = readPipelineText(file);
  if ('error' in read) return { errors: [read.error], secrets: [] };
  const { text } = read;
  const parsed = parsePipelineYaml(file, text);
  const errors = [...parsed.errors];
  if (!parsed.usable || parsed.source === undefined) return { errors, secrets: secretsInText(text) };
  const { source } = parsed;
  const { doc } = source;

  let written: unknown;
  try {
    written = doc.toJS();
  } catch (e) {
    // e.g. too many aliases (a "billion laughs" document)
    const message = e instanceof Error ? e.message : String(e);
    const error = new PipelineError('YAML_SYNTAX', message, { file, line: 1, col: 1, cause: e });
    return { errors: [...errors, error], secrets: secretsInText(text) };
  }
  const schemaProblems = schemaErrors(written, source, (kinds ?? registryKinds).names());
  errors.push(...schemaProblems.map((p) => p.error));

  const { substitutions, problemPaths } = substituteScalars(source, env, errors, vars);
  const resolved: unknown = doc.toJS();
  const reported = reportedPaths([...schemaProblems.map((p) => p.path), ...problemPaths]);
  errors.push(...validatePipeline(resolved, source.locate, kinds, { reported }));
  // The secrets as substituted and as written (a literal password on the line of an error). What is written with
  // `${…}` is a reference, not a value: its value is among the substituted ones.
  const literal = collectSecrets(connectionsOf(written), []).filter((s) => !s.includes('${'));
  const secrets = [...new Set([...collectSecrets(connectionsOf(resolved), substitutions), ...literal])];
  // An invalid file may hold a password of the wrong type (a number has lost its written form: a 17-digit one
  // reads back rounded), so its text is searched too.
  if (errors.length > 0) return { errors, secrets: [...new Set([...secrets, ...secretsInText(text)])] };

  // The schema and the checks above passed, so the document has the shape RawPipeline describes.
  const raw = resolved as RawPipeline;
  return { errors, pipeline: buildPipeline(raw, file, secrets), secrets };
}

/** Whether a problem was reported at a path or at one of its ancestors. */
function reportedPaths(paths: readonly (readonly PathSegment[])[]): (path: readonly PathSegment[]) => boolean {
  const reported = new Set(paths.map((p) => p.map(String).join('\0')));
  return (path) => path.some((_, i) => reported.has(path.slice(0, i + 1).map(String).join('\0')));
}
