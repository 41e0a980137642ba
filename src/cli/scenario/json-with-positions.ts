/**
 * A JSON parser (RFC 8259) that keeps where every value, and every property name, starts in the
 * text, so that an error about a scenario can name the line and column of the faulty field.
 * Node-free: it parses a string.
 * @module
 */

/** A place in the text: 1-based line and column (in UTF-16 code units), 0-based offset. */
export interface Position {
  readonly line: number;
  readonly column: number;
  readonly offset: number;
}

/** One property of an object, with where its name starts. */
export interface JsonProperty {
  readonly key: string;
  readonly keyPos: Position;
  readonly value: JsonNode;
}

/** A parsed JSON value with its position. */
export type JsonNode =
  | { readonly kind: 'object'; readonly pos: Position; readonly properties: readonly JsonProperty[] }
  | { readonly kind: 'array'; readonly pos: Position; readonly items: readonly JsonNode[] }
  | { readonly kind: 'string'; readonly pos: Position; readonly value: string }
  | { readonly kind: 'number'; readonly pos: Position; readonly value: number }
  | { readonly kind: 'boolean'; readonly pos: Position; readonly value: boolean }
  | { readonly kind: 'null'; readonly pos: Position };

/** A JSON syntax error at a position. `message` is `line:column: detail`. */
export class JsonSyntaxError extends Error {
  override readonly name = 'JsonSyntaxError';
  /** Where the error is. */
  readonly pos: Position;
  /** What is wrong, without the position. */
  readonly detail: string;
  constructor(pos: Position, detail: string) {
    super(`${pos.line}:${pos.column}: ${detail}`);
    this.pos = pos;
    this.detail = detail;
  }
}

/** The value a node stands for, as `JSON.parse` would return it. */
export function toValue(node: JsonNode): unknown {
  switch (node.kind) {
    case 'object': {
      const o: Record<string, unknown> = {};
      for (const p of node.properties) o[p.key] = toValue(p.value);
      return o;
    }
    case 'array':
      return node.items.map(toValue);
    case 'null':
      return null;
    default:
      return node.value;
  }
}

/** The property `key` of an object node, or undefined. */
export function getProperty(node: JsonNode, key: string): JsonProperty | undefined {
  if (node.kind !== 'object') return undefined;
  return node.properties.find((p) => p.key === key);
}

/** Parses `text` as one JSON document; throws {@link JsonSyntaxError} with the line and column. */
export function parseJsonWithPositions(text: string): JsonNode {
  return new Parser(text).document();
}

/** How a character is shown in an error message. */
function describeChar(ch: string | undefined): string {
  if (ch === undefined) return 'the end of the file';
  if (ch === '\n') return 'a line break';
  if (ch === '\t') return 'a tab';
  if (ch === "'") return `"'"`;
  return `'${ch}'`;
}

/**
 * Deepest nesting of objects and arrays accepted. A scenario nests about eight levels (threads,
 * their steps, an expectation, its data); the limit turns a pathological file (100,000 `[`) into a
 * syntax error at the offending bracket instead of a stack overflow of this recursive parser.
 */
export const MAX_JSON_DEPTH = 128;

class Parser {
  private i = 0;
  private depth = 0;
  private line = 1;
  private lineStart = 0;
  constructor(private readonly text: string) {}

  document(): JsonNode {
    if (this.text.charCodeAt(0) === 0xfeff) this.i = 1; // a byte-order mark
    this.skipWhitespace();
    const v = this.value();
    this.skipWhitespace();
    if (this.i < this.text.length) {
      throw this.error(`unexpected ${describeChar(this.text[this.i])} after the JSON value`);
    }
    return v;
  }

  private pos(): Position {
    return { line: this.line, column: this.i - this.lineStart + 1, offset: this.i };
  }

  private error(detail: string, pos: Position = this.pos()): JsonSyntaxError {
    return new JsonSyntaxError(pos, detail);
  }

  private skipWhitespace(): void {
    const t = this.text;
    for (;;) {
      const c = t[this.i];
      if (c === ' ' || c === '\t' || c === '\r') this.i++;
      else if (c === '\n') {
        this.i++;
        this.line++;
        this.lineStart = this.i;
      } else if (c === '/' && (t[this.i + 1] === '/' || t[this.i + 1] === '*')) {
        throw this.error('comments are not allowed in JSON');
      } else return;
    }
  }

  private value(): JsonNode {
    const pos = this.pos();
    const c = this.text[this.i];
    switch (c) {
      case '{':
      case '[': {
        if (++this.depth > MAX_JSON_DEPTH) {
          throw this.error(`objects and arrays nested more than ${MAX_JSON_DEPTH} levels deep`);
        }
        const node = c === '{' ? this.object(pos) : this.array(pos);
        this.depth--;
        return node;
      }
      case '"':
        return { kind: 'string', pos, value: this.string() };
      case 't':
        return this.literal('true', { kind: 'boolean', pos, value: true });
      case 'f':
        return this.literal('false', { kind: 'boolean', pos, value: false });
      case 'n':
        return this.literal('null', { kind: 'null', pos });
      default:
        if (c === '-' || (c !== undefined && c >= '0' && c <= '9')) return this.number(pos);
        if (c === "'") throw this.error('strings must use double quotes (")');
        throw this.error(`expected a value, got ${describeChar(c)}`);
    }
  }

  private literal(word: string, node: JsonNode): JsonNode {
    if (this.text.startsWith(word, this.i)) {
      this.i += word.length;
      return node;
    }
    const m = /^[A-Za-z_$][\w$]*/.exec(this.text.slice(this.i));
    throw this.error(`expected a value, got ${m ? `'${m[0]}'` : describeChar(this.text[this.i])}`);
  }

  private object(pos: Position): JsonNode {
    this.i++; // {
    const properties: JsonProperty[] = [];
    const seen = new Set<string>();
    this.skipWhitespace();
    if (this.text[this.i] === '}') {
      this.i++;
      return { kind: 'object', pos, properties };
    }
    for (;;) {
      this.skipWhitespace();
      const keyPos = this.pos();
      const c = this.text[this.i];
      if (c !== '"') {
        if (c === '}') throw this.error('trailing comma before }');
        throw this.error(`expected a property name in double quotes, got ${describeChar(c)}`);
      }
      const key = this.string();
      if (seen.has(key)) throw this.error(`duplicate property "${key}"`, keyPos);
      seen.add(key);
      this.skipWhitespace();
      if (this.text[this.i] !== ':') {
        throw this.error(
          `expected ':' after the property name "${key}", got ${describeChar(this.text[this.i])}`,
        );
      }
      this.i++;
      this.skipWhitespace();
      properties.push({ key, keyPos, value: this.value() });
      this.skipWhitespace();
      const d = this.text[this.i];
      if (d === ',') {
        this.i++;
        continue;
      }
      if (d === '}') {
        this.i++;
        return { kind: 'object', pos, properties };
      }
      throw this.error(`expected ',' or '}' after a property value, got ${describeChar(d)}`);
    }
  }

  private array(pos: Position): JsonNode {
    this.i++; // [
    const items: JsonNode[] = [];
    this.skipWhitespace();
    if (this.text[this.i] === ']') {
      this.i++;
      return { kind: 'array', pos, items };
    }
    for (;;) {
      this.skipWhitespace();
      if (this.text[this.i] === ']') throw this.error('trailing comma before ]');
      items.push(this.value());
      this.skipWhitespace();
      const d = this.text[this.i];
      if (d === ',') {
        this.i++;
        continue;
      }
      if (d === ']') {
        this.i++;
        return { kind: 'array', pos, items };
      }
      throw this.error(`expected ',' or ']' after an array element, got ${describeChar(d)}`);
    }
  }

  private string(): string {
    const t = this.text;
    this.i++; // "
    let out = '';
    for (;;) {
      const c = t[this.i];
      if (c === undefined) throw this.error('unterminated string');
      if (c === '"') {
        this.i++;
        return out;
      }
      if (c === '\n') throw this.error('unterminated string (a line break inside a string)');
      if (c < ' ') throw this.error('control character in a string (escape it)');
      if (c === '\\') {
        const e = t[this.i + 1];
        const map: Record<string, string> = {
          '"': '"',
          '\\': '\\',
          '/': '/',
          b: '\b',
          f: '\f',
          n: '\n',
          r: '\r',
          t: '\t',
        };
        if (e !== undefined && e in map) {
          out += map[e];
          this.i += 2;
        } else if (e === 'u') {
          const hex = t.slice(this.i + 2, this.i + 6);
          if (!/^[0-9a-fA-F]{4}$/.test(hex)) throw this.error('bad \\u escape (four hex digits expected)');
          out += String.fromCharCode(Number.parseInt(hex, 16));
          this.i += 6;
        } else {
          throw this.error(`bad escape \\${e ?? ''} in a string`);
        }
        continue;
      }
      out += c;
      this.i++;
    }
  }

  private number(pos: Position): JsonNode {
    const m = /^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/.exec(this.text.slice(this.i));
    if (!m) throw this.error('bad number');
    const after = this.text[this.i + m[0].length];
    if (after !== undefined && /[\w.]/.test(after)) {
      throw this.error(`bad number ${this.text.slice(this.i).match(/^[-\w.+]+/)![0]}`);
    }
    this.i += m[0].length;
    return { kind: 'number', pos, value: Number(m[0]) };
  }
}
