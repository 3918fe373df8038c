/**
 * `${ENV}` substitution in the YAML document, and the checks that need the value as written: `{{ templates }}`
 * where they are rendered (or not), durations that came from the environment.
 */
import { isMap, isScalar, isSeq, type Scalar } from 'yaml';
import { PipelineError, type ErrorLocation } from '../errors/pipeline-error.js';
import { parseDuration } from './duration.js';
import { interpolateEnv, type Env } from './interpolate.js';
import { displayPath, keyName, type PipelineSource } from './pipeline-source.js';
import { suggest } from './suggest.js';
import { findTemplates, TEMPLATE_FIELDS, TEMPLATE_NAMES, VAR_TEMPLATE } from './templates.js';
import { S3_URL, type PathSegment } from './validate.js';


/**
 * Substitutes `${ENV}` in every string value (keys are names, never substituted) and checks `{{ templates }}`
 * as written. Reports into `errors`; returns what was substituted for which variable, and the paths of the values
 * with a problem.
 */
export function substituteScalars(
  source: PipelineSource,
  env: Env,
  errors: PipelineError[],
  /** `--var` values: a `{{ var.NAME }}` without one is an error. Undefined: not checked (any name may come). */
  vars?: Readonly<Record<string, string>>,
): { substitutions: { variable: string; text: string }[]; problemPaths: PathSegment[][] } {
  const substitutions: { variable: string; text: string }[] = [];
  const problemPaths: PathSegment[][] = [];
  // An alias is neither map, list nor scalar: it is skipped, and its anchor is substituted once, where written.
  const visit = (node: unknown, path: PathSegment[]): void => {
    if (isMap(node)) {
      for (const pair of node.items) visit(pair.value, [...path, keyName(pair.key)]);
    } else if (isSeq(node)) {
      node.items.forEach((item, i) => visit(item, [...path, i]));
    } else if (isScalar(node) && typeof node.value === 'string') {
      const scalar = node as Scalar<string>;
      errors.push(...templateErrors(source, scalar, path, vars));
      const result = interpolateEnv(scalar.value, env);
      if (result.problems.length > 0) problemPaths.push(path);
      for (const p of result.problems) {
        const where = source.locateInScalar(scalar, p.offset, scalar.value.slice(p.offset, p.offset + p.length));
        const inField = ` (in ${displayPath(path)})`;
        if (p.reason === 'malformed') {
          errors.push(new PipelineError('INVALID_CONFIG', p.message + inField, {
            ...where, hint: 'write $${ for a literal ${',
          }));
        } else {
          errors.push(new PipelineError('ENV_UNSET', p.message + inField, {
            ...where,
            ...(p.reason === 'required' ? {} : { hint: `set ${p.variable} or write \${${p.variable}:-default}` }),
          }));
        }
      }
      substitutions.push(...result.substitutions);
      if (result.value !== scalar.value && result.problems.length === 0 && isDurationField(path)) {
        // The schema let `${…}` through where a duration belongs: check what it became.
        const problems = durationErrors(result.value, path, source.locate(path));
        if (problems.length > 0) problemPaths.push(path);
        errors.push(...problems);
      }
      if (result.value !== scalar.value && result.problems.length === 0 && isS3UrlField(path) && !S3_URL.test(result.value)) {
        // Likewise for an S3 location.
        problemPaths.push(path);
        errors.push(new PipelineError('SCHEMA', `${displayPath(path)} must be s3://bucket/prefix; it is "${result.value}" after substituting environment variables`, source.locate(path)));
      }
      if (result.value !== scalar.value) scalar.value = result.value;
    }
  };
  visit(source.doc.contents, []);
  return { substitutions, problemPaths };
}

function templateErrors(source: PipelineSource, scalar: Scalar<string>, path: readonly PathSegment[], vars: Readonly<Record<string, string>> | undefined): PipelineError[] {
  const uses = findTemplates(scalar.value);
  if (uses.length === 0 || path[0] !== 'nodes' || path.length < 4) return [];
  const field = `${String(path[2])}.${String(path[3])}`;
  // A search query is a map: its strings are rendered too.
  // A partition's values (`target.partition.dt`) are rendered too.
  const rendered =
    ((path.length === 4 || field === 'source.query') && (TEMPLATE_FIELDS as readonly string[]).includes(field)) ||
    (path.length === 5 && (field === 'target.partition' || field === 'source.partition'));
  // Outside a node's source/target/incremental (descriptions, say) braces are just text.
  if (!rendered && !['source', 'target', 'incremental'].includes(String(path[2]))) return [];
  return uses.flatMap((use) => {
    const where = source.locateInScalar(scalar, use.offset, scalar.value.slice(use.offset, use.offset + use.length));
    const node = String(path[1]);
    if (!rendered) {
      return [new PipelineError('TEMPLATE', `templates are not rendered in ${displayPath(path)}`, {
        ...where, node, hint: `they are rendered in ${TEMPLATE_FIELDS.join(', ')}`,
      })];
    }
    if ((TEMPLATE_NAMES as readonly string[]).includes(use.name)) return [];
    const v = VAR_TEMPLATE.exec(use.name);
    if (v) {
      if (vars === undefined || Object.hasOwn(vars, v[1]!)) return [];
      const close = suggest(v[1]!, Object.keys(vars));
      return [new PipelineError('TEMPLATE', `\`{{ ${use.name} }}\` in ${displayPath(path)} has no value`, {
        ...where,
        node,
        hint: close === undefined ? `give it with \`--var ${v[1]}=VALUE\`` : `did you mean \`var.${close}\`?`,
      })];
    }
    const close = suggest(use.name, TEMPLATE_NAMES);
    return [new PipelineError('TEMPLATE', `unknown template \`{{ ${use.name} }}\` in ${displayPath(path)}`, {
      ...where,
      node,
      hint: close === undefined ? `known templates: ${TEMPLATE_NAMES.join(', ')}, var.NAME (from --var NAME=VALUE)` : `did you mean \`${close}\`?`,
    })];
  });
}

/** `staging.url` and a connection's `s3.url` (Redshift): S3 locations the schema checks only as written. */
function isS3UrlField(path: readonly PathSegment[]): boolean {
  return path.join('.') === 'staging.url' || (path.length === 4 && path[0] === 'connections' && path[2] === 's3' && path[3] === 'url');
}

function isDurationField(path: readonly PathSegment[]): boolean {
  const field = path[path.length - 1];
  const owner = path.length === 2 ? path[0] === 'defaults' : path.length === 3 && path[0] === 'nodes';
  return owner && (field === 'retry_delay' || field === 'timeout');
}

function durationErrors(value: string, path: readonly PathSegment[], where: ErrorLocation): PipelineError[] {
  try {
    parseDuration(value);
    return [];
  } catch {
    return [new PipelineError('SCHEMA', `${displayPath(path)} must be a duration like 30s, 5m or 2h, or a number of ` +
      `seconds; it is "${value}" after substituting environment variables`, where)];
  }
}
