/** The YAML parser's errors as PipelineErrors, one per mistake, each at its token; and duplicate keys. */
import { isMap, isPair, isScalar, isSeq, type Node, type Pair } from 'yaml';
import { PipelineError } from '../errors/pipeline-error.js';
import { displayPath, keyName, type PipelineSource } from './pipeline-source.js';
import type { PathSegment } from './validate.js';

/**
 * Syntax errors kept of one file: after the first few, a broken file (a megabyte of `[`) mostly repeats itself, and
 * the later ones often follow from the first.
 */
export const MAX_SYNTAX_ERRORS = 20;

export function yamlErrors(source: PipelineSource): PipelineError[] {
  const { doc } = source;
  // After one unexpected token the parser reports every later token as unexpected too: keep the first.
  const firstUnexpected = doc.errors.find((e) => e.code === 'UNEXPECTED_TOKEN');
  const errors = doc.errors.filter((e) => e.code !== 'UNEXPECTED_TOKEN' || e === firstUnexpected);
  return errors.slice(0, MAX_SYNTAX_ERRORS).map((e) => {
    // The composer catches the stack overflow of a document nested too deeply for it.
    const message = e.code === 'RESOURCE_EXHAUSTION' ? 'the document is nested too deeply to read' : e.message;
    return new PipelineError('YAML_SYNTAX', message, { ...source.span(e.pos[0], e.pos[1]), cause: e });
  });
}

/**
 * Keys written twice in one map (YAML keeps the last): a node defined twice is DUPLICATE_NODE, any other key a
 * syntax error, each at the second key with the first one's line. Keys are compared as the YAML parser does (the
 * same scalar value); a walk with one lookup per key, where the parser's own check compares every pair of keys.
 */
export function duplicateKeyErrors(source: PipelineSource): PipelineError[] {
  const errors: PipelineError[] = [];
  const stack: { node: unknown; path: PathSegment[] }[] = [{ node: source.doc.contents, path: [] }];
  while (stack.length > 0) {
    const { node, path } = stack.pop()!;
    if (isMap(node)) {
      const first = new Map<unknown, Pair>();
      for (const pair of node.items) {
        if (isScalar(pair.key)) {
          const earlier = first.get(pair.key.value);
          if (earlier === undefined) first.set(pair.key.value, pair);
          else errors.push(duplicateKey(source, path, pair.key, earlier.key as Node));
        }
        stack.push({ node: pair.value, path: [...path, keyName(pair.key)] });
      }
    } else if (isSeq(node)) {
      node.items.forEach((item, i) => stack.push({ node: isPair(item) ? item.value : item, path: [...path, i] }));
    }
  }
  return errors;
}

function duplicateKey(source: PipelineSource, path: readonly PathSegment[], key: Node, first: Node): PipelineError {
  const name = keyName(key);
  const [start = 0, end = start + 1] = key.range ?? [];
  const where = source.span(start, end);
  if (path.length !== 1 || path[0] !== 'nodes') {
    return new PipelineError('YAML_SYNTAX', `duplicate key \`${name}\` in ${displayPath(path)}`, where);
  }
  return new PipelineError('DUPLICATE_NODE', `node \`${name}\` is defined more than once`, {
    ...where,
    node: name,
    hint: `first defined on line ${source.linePos(first.range?.[0] ?? start).line}`,
  });
}
