/** The YAML parser's errors as PipelineErrors: one per mistake, each at its key or token. */
import { isMap, isScalar, isSeq } from 'yaml';
import { PipelineError } from '../errors/pipeline-error.js';
import { displayPath, keyName, type PipelineSource } from './pipeline-source.js';
import type { PathSegment } from './validate.js';

export function yamlErrors(source: PipelineSource): PipelineError[] {
  const { doc } = source;
  // After one unexpected token the parser reports every later token as unexpected too: keep the first.
  const firstUnexpected = doc.errors.find((e) => e.code === 'UNEXPECTED_TOKEN');
  const errors = doc.errors.filter((e) => e.code !== 'UNEXPECTED_TOKEN' || e === firstUnexpected);
  return errors.map((e) => {
    const duplicate = e.code === 'DUPLICATE_KEY' ? findKeyAt(doc.contents, e.pos[0], []) : undefined;
    if (duplicate === undefined) {
      return new PipelineError('YAML_SYNTAX', e.message, { ...source.span(e.pos[0], e.pos[1]), cause: e });
    }
    // The parser marks only the key's first character: use the whole key.
    const where = source.span(duplicate.range[0], duplicate.range[1]);
    if (duplicate.path.length !== 1 || duplicate.path[0] !== 'nodes') {
      const message = `duplicate key \`${duplicate.name}\` in ${displayPath(duplicate.path)}`;
      return new PipelineError('YAML_SYNTAX', message, where);
    }
    return new PipelineError('DUPLICATE_NODE', `node \`${duplicate.name}\` is defined more than once`, {
      ...where,
      node: duplicate.name,
      hint: `first defined on line ${source.linePos(duplicate.firstOffset).line}`,
    });
  });
}

interface KeyFound {
  readonly name: string;
  /** The map holding the key. */
  readonly path: readonly PathSegment[];
  readonly range: readonly [number, number, number];
  /** Where the first key of the same name in that map is written. */
  readonly firstOffset: number;
}

/** The map key written at `offset`. */
function findKeyAt(node: unknown, offset: number, path: readonly PathSegment[]): KeyFound | undefined {
  if (isMap(node)) {
    for (const pair of node.items) {
      const range = isScalar(pair.key) ? pair.key.range : undefined;
      if (range != null && range[0] === offset) {
        const name = keyName(pair.key);
        const first = node.items.find((p) => keyName(p.key) === name);
        const firstRange = isScalar(first?.key) ? first.key.range : undefined;
        return { name, path, range, firstOffset: firstRange?.[0] ?? offset };
      }
      const found = findKeyAt(pair.value, offset, [...path, keyName(pair.key)]);
      if (found !== undefined) return found;
    }
  } else if (isSeq(node)) {
    for (const [i, item] of node.items.entries()) {
      const found = findKeyAt(item, offset, [...path, i]);
      if (found !== undefined) return found;
    }
  }
  return undefined;
}
