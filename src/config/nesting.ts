/**
 * How deep a pipeline file may nest. A pipeline needs about six levels (`nodes.orders.source.split.column`); the
 * YAML composer and every walk over the document recurse per level, so a file nested thousands deep (`[[[[…`, or an
 * anchor whose aliases nest each other) could exhaust the stack or take minutes. Both checks here are iterative and
 * linear, and run before anything recurses: the text before it is parsed, the document (aliases expanded) before it
 * is converted or walked.
 */
import { isAlias, isMap, isPair, isScalar, isSeq, Lexer, type Document, type Node } from 'yaml';

/** Levels of maps and lists, counting from the top-level map as 1. */
export const MAX_NESTING = 64;

/**
 * The offset where the text nests deeper than MAX_NESTING, found by the YAML lexer: flow collections (`[`, `{`)
 * open at once, plus block indicators (`- `, `? `, `: `) on one line (`- - - x`). Block nesting by indentation costs
 * the square of its depth in characters, so the size limit bounds it; the document check finds the rest.
 */
export function textTooDeep(text: string): number | undefined {
  let offset = 0;
  let flow = 0;
  let onLine = 0;
  let scalarNext = false;
  for (const token of new Lexer().lex(text)) {
    const start = offset;
    // Control tokens of the lexer are not in the source; a plain scalar's text follows its marker.
    if (token === '\x02' || token === '\x18') continue;
    if (token === '\x1f') {
      scalarNext = true;
      continue;
    }
    offset += token.length;
    if (scalarNext) {
      scalarNext = false;
      continue;
    }
    switch (token) {
      case '[':
      case '{':
        flow++;
        break;
      case ']':
      case '}':
        flow = Math.max(0, flow - 1);
        break;
      case '-':
      case '?':
      case ':':
        if (flow === 0) onLine++;
        break;
      case '\n':
      case '\r\n':
        onLine = 0;
        break;
    }
    if (flow + onLine > MAX_NESTING) return start;
  }
  return undefined;
}

/**
 * The node at which the document nests deeper than MAX_NESTING, counting an alias as the node it stands for (an
 * alias at the position of the node it expands to), or undefined.
 */
export function documentTooDeep(doc: Document): Node | undefined {
  const root = doc.contents;
  if (root === null || !isNodeLike(root)) return undefined;
  const height = heights(root);
  if ((height.of.get(root) ?? 0) <= MAX_NESTING) return undefined;
  // Follow the deepest branch down to the first level past the limit; through an alias, show the alias.
  let node: Node = root;
  let alias: Node | undefined;
  for (let depth = 1; depth <= MAX_NESTING; depth++) {
    let next: Child | undefined;
    for (const child of children(node, height.anchors)) {
      if ((height.of.get(child.target) ?? 0) > (next === undefined ? 0 : (height.of.get(next.target) ?? 0))) next = child;
    }
    if (next === undefined) return undefined;
    alias ??= next.via;
    node = next.target;
  }
  return alias ?? node;
}

interface Child {
  readonly target: Node;
  /** The alias the child was reached through. */
  readonly via?: Node;
}

/** The height of every collection reachable from `root` (a scalar is 0, a map of scalars 1), aliases expanded. */
function heights(root: Node): { of: Map<Node, number>; anchors: Map<Node, Node> } {
  const of = new Map<Node, number>();
  /** Each alias node and the anchored node it refers to, resolved in document order. */
  const anchors = new Map<Node, Node>();
  const byName = new Map<string, Node>();
  const stack: { node: Node; expanded: boolean }[] = [{ node: root, expanded: false }];
  while (stack.length > 0) {
    const top = stack[stack.length - 1]!;
    if (!top.expanded) {
      top.expanded = true;
      const anchor = (top.node as { anchor?: string }).anchor;
      if (anchor) byName.set(anchor, top.node);
      for (const child of directChildren(top.node).reverse()) {
        if (isAlias(child)) {
          const target = byName.get(child.source);
          if (target !== undefined) anchors.set(child, target);
        } else if (!of.has(child)) {
          stack.push({ node: child, expanded: false });
        }
      }
      continue;
    }
    stack.pop();
    let h = isMap(top.node) || isSeq(top.node) ? 1 : 0;
    for (const { target } of children(top.node, anchors)) {
      // A node not measured yet is one that contains the alias to it: the YAML composer reports that itself.
      h = Math.max(h, 1 + (of.get(target) ?? 0));
    }
    of.set(top.node, h);
  }
  return { of, anchors };
}

/** The values and keys of a map or list, aliases as they are. */
function directChildren(node: Node): Node[] {
  if (!isMap(node) && !isSeq(node)) return [];
  const out: Node[] = [];
  for (const item of node.items as unknown[]) {
    if (isPair(item)) {
      if (isNodeLike(item.key) && !isScalar(item.key)) out.push(item.key);
      if (isNodeLike(item.value)) out.push(item.value);
    } else if (isNodeLike(item)) {
      out.push(item);
    }
  }
  return out;
}

function children(node: Node, anchors: ReadonlyMap<Node, Node>): Child[] {
  return directChildren(node).flatMap((child): Child[] => {
    if (!isAlias(child)) return [{ target: child }];
    const target = anchors.get(child);
    return target === undefined ? [] : [{ target, via: child }];
  });
}

function isNodeLike(value: unknown): value is Node {
  return isMap(value) || isSeq(value) || isScalar(value) || isAlias(value);
}
