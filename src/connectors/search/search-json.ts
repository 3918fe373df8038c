/**
 * A JSON reader that loses nothing: numbers keep their text (a 19-digit long or `-0` survive), objects keep their
 * key order (`JSON.parse` moves integer-like keys first), and every object and array knows its span in the text, so
 * a `_source` or a JSON column can be passed on byte for byte. Search responses are read with it.
 */

/** A number as written. */
export class JsonNumber {
  constructor(readonly text: string) {}
}

/** An object or array, with its span in the text it was read from. */
export class JsonComposite {
  constructor(
    readonly text: string,
    readonly start: number,
    readonly end: number,
    /** Keys and values in order (arrays: `null` keys). */
    readonly entries: readonly (readonly [string | null, JsonValue])[],
  ) {}

  get isArray(): boolean {
    return this.text.charCodeAt(this.start) === 0x5b;
  }

  /** The value's JSON text exactly as written. */
  raw(): string {
    return this.text.slice(this.start, this.end);
  }

  get(key: string): JsonValue | undefined {
    for (const [k, v] of this.entries) if (k === key) return v;
    return undefined;
  }

  items(): JsonValue[] {
    return this.entries.map((e) => e[1]);
  }
}

export type JsonValue = string | boolean | null | JsonNumber | JsonComposite;

/** Parses one JSON text; throws a SyntaxError with the offset on malformed input. */
export function parseLossless(text: string): JsonValue {
  const p = new Parser(text);
  p.ws();
  const v = p.value();
  p.ws();
  if (p.i !== text.length) p.fail('unexpected text after the value');
  return v;
}

const NUMBER = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;

class Parser {
  i = 0;
  constructor(readonly s: string) {}

  fail(what: string): never {
    throw new SyntaxError(`JSON at offset ${this.i}: ${what}`);
  }

  ws(): void {
    const s = this.s;
    for (;;) {
      const c = s.charCodeAt(this.i);
      if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) this.i++;
      else return;
    }
  }

  value(): JsonValue {
    const c = this.s.charCodeAt(this.i);
    if (c === 0x22) return this.string();
    if (c === 0x7b || c === 0x5b) return this.composite(c === 0x5b);
    if (this.s.startsWith('true', this.i)) return (this.i += 4), true;
    if (this.s.startsWith('false', this.i)) return (this.i += 5), false;
    if (this.s.startsWith('null', this.i)) return (this.i += 4), null;
    NUMBER.lastIndex = this.i;
    const m = NUMBER.exec(this.s);
    if (!m || m[0].length === 0) this.fail('expected a value');
    this.i += m[0].length;
    return new JsonNumber(m[0]);
  }

  composite(array: boolean): JsonComposite {
    const start = this.i++;
    const close = array ? 0x5d : 0x7d;
    const entries: [string | null, JsonValue][] = [];
    this.ws();
    if (this.s.charCodeAt(this.i) === close) {
      this.i++;
      return new JsonComposite(this.s, start, this.i, entries);
    }
    for (;;) {
      let key: string | null = null;
      if (!array) {
        if (this.s.charCodeAt(this.i) !== 0x22) this.fail('expected a key');
        key = this.string();
        this.ws();
        if (this.s.charCodeAt(this.i) !== 0x3a) this.fail('expected `:`');
        this.i++;
        this.ws();
      }
      entries.push([key, this.value()]);
      this.ws();
      const c = this.s.charCodeAt(this.i++);
      if (c === close) return new JsonComposite(this.s, start, this.i, entries);
      if (c !== 0x2c) this.fail('expected `,`');
      this.ws();
    }
  }

  string(): string {
    const s = this.s;
    const start = ++this.i;
    // Fast path: no escapes.
    const end = s.indexOf('"', start);
    if (end < 0) this.fail('unterminated string');
    const plain = s.indexOf('\\', start);
    if (plain < 0 || plain > end) {
      this.i = end + 1;
      return s.slice(start, end);
    }
    let out = '';
    let from = start;
    for (;;) {
      const q = s.indexOf('"', this.i);
      const b = s.indexOf('\\', this.i);
      if (q < 0) this.fail('unterminated string');
      if (b < 0 || q < b) {
        out += s.slice(from, q);
        this.i = q + 1;
        return out;
      }
      out += s.slice(from, b);
      const e = s[b + 1];
      this.i = b + 2;
      switch (e) {
        case '"': out += '"'; break;
        case '\\': out += '\\'; break;
        case '/': out += '/'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'u': {
          const hex = s.slice(this.i, this.i + 4);
          if (!/^[0-9a-fA-F]{4}$/.test(hex)) this.fail('bad \\u escape');
          out += String.fromCharCode(parseInt(hex, 16));
          this.i += 4;
          break;
        }
        default:
          this.fail('bad escape');
      }
      from = this.i;
    }
  }
}
