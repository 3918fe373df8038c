/**
 * Positions: the pipeline text and its YAML document, turning paths (`['nodes', 'orders', 'target']`) and offsets
 * into file:line:col with a length for the caret. Every lookup is logarithmic or constant in the size of the file,
 * so that thousands of errors in a large file cost no more than reading it.
 */
import { isAlias, isMap, isScalar, isSeq, type Document, type Pair, type Scalar, type YAMLMap } from 'yaml';
import type { ErrorLocation } from '../errors/pipeline-error.js';
import type { Locate, PathSegment } from './validate.js';

/** The pipeline file's text, with its lines indexed once (a line ends at `\n`, as the renderer splits them). */
export class PipelineText {
  readonly file: string;
  readonly text: string;
  /** Offsets where each line starts. */
  readonly #lineStarts: number[] = [0];

  constructor(file: string, text: string) {
    this.file = file;
    this.text = text;
    for (let i = text.indexOf('\n'); i >= 0; i = text.indexOf('\n', i + 1)) this.#lineStarts.push(i + 1);
  }

  /** The 1-based line and column of an offset. */
  linePos(offset: number): { line: number; col: number } {
    let low = 0;
    let high = this.#lineStarts.length - 1;
    while (low < high) {
      const mid = (low + high + 1) >> 1;
      if (this.#lineStarts[mid]! <= offset) low = mid;
      else high = mid - 1;
    }
    return { line: low + 1, col: offset - this.#lineStarts[low]! + 1 };
  }

  /** The span [start, end) as a location; the length stops at the end of the line (carets are one line). */
  span(start: number, end: number): ErrorLocation {
    const { line, col } = this.linePos(start);
    let lineEnd = line < this.#lineStarts.length ? this.#lineStarts[line]! - 1 : this.text.length;
    if (this.text[lineEnd - 1] === '\r') lineEnd--;
    return { file: this.file, line, col, length: Math.max(1, Math.min(end, lineEnd) - start) };
  }
}

/** The pipeline text and its YAML document: turns paths and offsets into file:line:col. */
export class PipelineSource extends PipelineText {
  readonly doc: Document;
  /** Each map's pairs by key name, the last of duplicates (as toJS keeps it), built on first use. */
  readonly #keys = new WeakMap<YAMLMap, Map<string, Pair>>();

  constructor(file: string, text: string, doc: Document) {
    super(file, text);
    this.doc = doc;
  }

  readonly locate: Locate = (path, part = 'value') => {
    const found = this.#findNode(path);
    const value = found.value?.range;
    const key = found.key?.range;
    const valueUsable = value != null && value[1] > value[0];
    // A missing child is best shown at its parent's key: "here is where `target` should have had `mode`".
    const useKey = key != null && (part === 'key' || !found.complete || !valueUsable);
    if (useKey) return this.span(key[0], key[1]);
    // A block map or list starts with its first entry: underlining that whole line would point at the entry.
    if (value != null) return this.span(value[0], isMap(found.value) || isSeq(found.value) ? value[0] + 1 : value[1]);
    return { file: this.file, line: 1, col: 1, length: 1 };
  };

  /**
   * The location of `expected`, found at `index` of the scalar's value, in the file. Escapes and line folding make
   * value and source differ, but `${VAR}` and `{{ name }}` are written the same in both: the n-th occurrence in
   * the value is the n-th in the source. Falls back to the scalar's start.
   */
  locateInScalar(scalar: Scalar, index: number, expected: string): ErrorLocation {
    const [start, end] = scalar.range ?? [0, 0];
    const value = String(scalar.value);
    let nth = 0;
    for (let i = value.indexOf(expected); i >= 0 && i < index; i = value.indexOf(expected, i + expected.length)) nth++;
    const written = this.text.slice(start, end);
    let at = written.indexOf(expected);
    for (let k = 0; k < nth && at >= 0; k++) at = written.indexOf(expected, at + expected.length);
    return at >= 0 ? this.span(start + at, start + at + expected.length) : this.span(start, end);
  }

  /**
   * The YAML node at `path`, and the key it is written under. With `complete: false` the path leaves the document
   * part-way (a missing key, or a key brought in by `<<: *anchor`) and the deepest node found is returned.
   */
  #findNode(path: readonly PathSegment[]): { value?: NodeWithRange; key?: NodeWithRange; complete: boolean } {
    let value: unknown = this.doc.contents;
    let key: unknown;
    for (const segment of path) {
      if (isAlias(value)) value = value.resolve(this.doc);
      if (isMap(value)) {
        const pair = this.#pairs(value).get(String(segment));
        if (pair === undefined) return { ...withRange(value, key), complete: false };
        key = pair.key;
        value = pair.value;
      } else if (isSeq(value) && value.items[Number(segment)] !== undefined) {
        key = undefined;
        value = value.items[Number(segment)];
      } else {
        return { ...withRange(value, key), complete: false };
      }
    }
    return { ...withRange(value, key), complete: true };
  }

  #pairs(map: YAMLMap): Map<string, Pair> {
    let pairs = this.#keys.get(map);
    if (pairs === undefined) {
      pairs = new Map();
      for (const pair of map.items) if (isScalar(pair.key)) pairs.set(String(pair.key.value), pair);
      this.#keys.set(map, pairs);
    }
    return pairs;
  }
}

export function keyName(key: unknown): string {
  return isScalar(key) ? String(key.value) : String(key);
}

interface NodeWithRange {
  readonly range?: readonly [number, number, number] | null;
}

function withRange(value: unknown, key: unknown): { value?: NodeWithRange; key?: NodeWithRange } {
  const ranged = (n: unknown): NodeWithRange | undefined =>
    typeof n === 'object' && n !== null && 'range' in n ? (n as NodeWithRange) : undefined;
  const v = ranged(value);
  const k = ranged(key);
  return { ...(v === undefined ? {} : { value: v }), ...(k === undefined ? {} : { key: k }) };
}

/** `nodes.orders.tags[1]`, the way a person would point into the YAML. */
export function displayPath(path: readonly PathSegment[]): string {
  if (path.length === 0) return 'the pipeline';
  return path.reduce<string>((out, seg) => {
    if (typeof seg === 'number') return `${out}[${seg}]`;
    return out === '' ? seg : `${out}.${seg}`;
  }, '');
}
