/**
 * Reads a JSON input file with momoa, which keeps where every value and property name starts.
 * Before momoa builds its tree, one loop over momoa's tokens checks the grammar: it bounds the
 * nesting (momoa's parser recurses, so 100,000 `[` would overflow its stack), rejects duplicate
 * property names and control characters in strings (momoa accepts both, `JSON.parse` keeps the
 * last duplicate silently), and says what was expected where ("expected ',' or ']' after an array
 * element, got '{'") instead of momoa's "Unexpected token LBrace". Node-free: it reads a string.
 * @module
 */
import { type DocumentNode, evaluate, parse, type Token, tokenize } from '@humanwhocodes/momoa';
import { ScenarioError } from './issues.ts';

/**
 * Deepest nesting of objects and arrays accepted. A scenario nests about eight levels (threads,
 * their steps, an expectation, its data); the limit turns a pathological file into a syntax error
 * at the offending bracket.
 */
export const MAX_JSON_DEPTH = 128;

/** A parsed JSON file: momoa's tree (with positions) and the value it stands for. */
export interface JsonFile {
  readonly doc: DocumentNode;
  readonly value: unknown;
}

/** A place in the text (1-based line and column, 0-based offset). */
interface Place {
  readonly line: number;
  readonly column: number;
  readonly offset: number;
}

/** A syntax error found by {@link checkGrammar}. */
class SyntaxProblem {
  constructor(
    readonly at: Place,
    readonly detail: string,
  ) {}
}

/**
 * Parses `text` as one JSON document. Throws a {@link ScenarioError} with one issue,
 * `<label>: …` (`JSON syntax error: …` unless told), at the line and column of the first syntax
 * error.
 */
export function parseJsonFile(text: string, file: string, label = 'JSON syntax error'): JsonFile {
  // A byte-order mark is allowed; a space keeps the columns where an editor shows them.
  const body = text.charCodeAt(0) === 0xfeff ? ` ${text.slice(1)}` : text;
  const problem = syntaxProblem(body);
  if (problem !== undefined) {
    throw new ScenarioError([
      {
        file,
        line: problem.at.line,
        column: problem.at.column,
        path: '',
        message: `${label}: ${problem.detail}`,
      },
    ]);
  }
  const doc = parse(body, { mode: 'json' });
  return { doc, value: evaluate(doc.body) };
}

/** The first syntax error of `text`, or undefined when it is one JSON value. */
function syntaxProblem(text: string): SyntaxProblem | undefined {
  let tokens: Token[];
  try {
    tokens = tokenize(text, { mode: 'json' });
  } catch (e) {
    // The lexer stopped at `offset`: read what comes before it, then say what was expected there.
    const at = e as Error & { offset?: number; line?: number; column?: number };
    const offset = at.offset ?? 0;
    const place = { line: at.line ?? 1, column: at.column ?? 1, offset };
    if (offset >= text.length) return new SyntaxProblem(place, 'unterminated string');
    let before: SyntaxProblem | Expecting;
    try {
      before = checkGrammar(text, tokenize(text.slice(0, offset), { mode: 'json' }), false);
    } catch {
      // The lexer stopped inside a token: a string with a bad escape, or a malformed number.
      const line = text.slice(text.lastIndexOf('\n', offset - 1) + 1, offset);
      if (/^(?:[^"]|"(?:[^"\\]|\\.)*")*"(?:[^"\\]|\\.)*\\?$/.test(line)) {
        const next = text[offset + 1];
        return new SyntaxProblem(
          place,
          text[offset] === '\\' && next !== 'u'
            ? `bad escape \\${next ?? ''} in a string`
            : 'bad \\u escape (four hex digits expected)',
        );
      }
      before = 'value';
    }
    if (before instanceof SyntaxProblem) return before;
    return new SyntaxProblem(place, lexProblem(text, offset, before));
  }
  const r = checkGrammar(text, tokens, true);
  return r instanceof SyntaxProblem ? r : undefined;
}

/** What the grammar expects next. */
type Expecting =
  | 'value'
  | 'key' // a property name or `}` (just after `{`)
  | 'key-after-comma'
  | 'colon'
  | 'comma-or-brace'
  | 'comma-or-bracket'
  | 'element' // a value or `]` (just after `[`)
  | 'element-after-comma'
  | 'end';

/** One open object or array: the property names seen so far (objects only). */
interface Frame {
  readonly keys: Set<string> | undefined;
}

/** How a character is shown in a message. */
function describeChar(ch: string | undefined): string {
  if (ch === undefined) return 'the end of the file';
  if (ch === '\n') return 'a line break';
  if (ch === '\t') return 'a tab';
  if (ch === "'") return `"'"`;
  return `'${ch}'`;
}

const tokenChar: Partial<Record<Token['type'], string>> = {
  LBrace: '{',
  RBrace: '}',
  LBracket: '[',
  RBracket: ']',
  Colon: ':',
  Comma: ',',
};

/** How a token is shown in a message. */
function describeToken(text: string, t: Token): string {
  const c = tokenChar[t.type];
  if (c !== undefined) return `'${c}'`;
  if (t.type === 'String') return `'"'`;
  return `'${text.slice(t.loc.start.offset, t.loc.end.offset)}'`;
}

/** What is wrong when `got` comes while the grammar expects `e`. */
function unexpected(e: Expecting, got: string): string {
  switch (e) {
    case 'key':
    case 'key-after-comma':
      return `expected a property name in double quotes, got ${got}`;
    case 'colon':
      return `expected ':' after the property name, got ${got}`;
    case 'comma-or-brace':
      return `expected ',' or '}' after a property value, got ${got}`;
    case 'comma-or-bracket':
      return `expected ',' or ']' after an array element, got ${got}`;
    case 'end':
      return `unexpected ${got} after the JSON value`;
    default:
      return `expected a value, got ${got}`;
  }
}

/**
 * Walks the tokens with an explicit stack (no recursion, so no depth makes it overflow). With
 * `complete`, the tokens are the whole text and running out of them is an error; without, it
 * returns what is expected after the last token.
 */
function checkGrammar(text: string, tokens: readonly Token[], complete: boolean): SyntaxProblem | Expecting {
  const stack: Frame[] = [];
  let e: Expecting = 'value';
  let lastKey = '';
  const afterValue = (): Expecting => {
    const top = stack[stack.length - 1];
    return top === undefined ? 'end' : top.keys ? 'comma-or-brace' : 'comma-or-bracket';
  };
  for (const t of tokens) {
    const at = t.loc.start;
    const isValueStart =
      t.type !== 'RBrace' && t.type !== 'RBracket' && t.type !== 'Colon' && t.type !== 'Comma';
    if (e === 'value' || e === 'element' || e === 'element-after-comma') {
      if (t.type === 'RBracket' && e !== 'value') {
        if (e === 'element-after-comma') return new SyntaxProblem(at, 'trailing comma before ]');
        stack.pop();
        e = afterValue();
        continue;
      }
      if (!isValueStart) return new SyntaxProblem(at, unexpected('value', describeToken(text, t)));
      if (t.type === 'LBrace' || t.type === 'LBracket') {
        if (stack.length >= MAX_JSON_DEPTH) {
          return new SyntaxProblem(at, `objects and arrays nested more than ${MAX_JSON_DEPTH} levels deep`);
        }
        stack.push({ keys: t.type === 'LBrace' ? new Set() : undefined });
        e = t.type === 'LBrace' ? 'key' : 'element';
        continue;
      }
      if (t.type === 'String') {
        const problem = stringProblem(text, t);
        if (problem !== undefined) return problem;
      }
      e = afterValue();
      continue;
    }
    if (e === 'key' || e === 'key-after-comma') {
      if (t.type === 'RBrace') {
        if (e === 'key-after-comma') return new SyntaxProblem(at, 'trailing comma before }');
        stack.pop();
        e = afterValue();
        continue;
      }
      if (t.type !== 'String') return new SyntaxProblem(at, unexpected(e, describeToken(text, t)));
      const problem = stringProblem(text, t);
      if (problem !== undefined) return problem;
      lastKey = JSON.parse(text.slice(at.offset, t.loc.end.offset)) as string;
      const keys = stack[stack.length - 1]!.keys!;
      if (keys.has(lastKey)) return new SyntaxProblem(at, `duplicate property "${lastKey}"`);
      keys.add(lastKey);
      e = 'colon';
      continue;
    }
    if (e === 'colon') {
      if (t.type !== 'Colon') {
        return new SyntaxProblem(
          at,
          `expected ':' after the property name "${lastKey}", got ${describeToken(text, t)}`,
        );
      }
      e = 'value';
      continue;
    }
    if (e === 'comma-or-brace' || e === 'comma-or-bracket') {
      const close = e === 'comma-or-brace' ? 'RBrace' : 'RBracket';
      if (t.type === 'Comma') e = e === 'comma-or-brace' ? 'key-after-comma' : 'element-after-comma';
      else if (t.type === close) {
        stack.pop();
        e = afterValue();
      } else return new SyntaxProblem(at, unexpected(e, describeToken(text, t)));
      continue;
    }
    return new SyntaxProblem(at, unexpected('end', describeToken(text, t)));
  }
  if (!complete || e === 'end') return e;
  return new SyntaxProblem(endPlace(text), unexpected(e, describeChar(undefined)));
}

/** A control character inside a string token (JSON wants them escaped; momoa lets them through). */
function stringProblem(text: string, t: Token): SyntaxProblem | undefined {
  for (let i = t.loc.start.offset + 1; i < t.loc.end.offset - 1; i++) {
    if (text.charCodeAt(i) < 0x20) {
      const c = t.loc.start.column + (i - t.loc.start.offset);
      return new SyntaxProblem(
        { line: t.loc.start.line, column: c, offset: i },
        text[i] === '\n'
          ? 'unterminated string (a line break inside a string)'
          : 'control character in a string (escape it)',
      );
    }
  }
  return undefined;
}

/** Where the text ends. */
function endPlace(text: string): Place {
  const lineStart = text.lastIndexOf('\n') + 1;
  let line = 1;
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) === 10) line++;
  return { line, column: text.length - lineStart + 1, offset: text.length };
}

/** What is wrong where the lexer stopped: at `offset`, with `e` expected there. */
function lexProblem(text: string, offset: number, e: Expecting): string {
  const c = text[offset];
  if (c === "'" && e !== 'key' && e !== 'key-after-comma') return 'strings must use double quotes (")';
  if (c === '/') return 'comments are not allowed in JSON';
  const word = /^[-\w.+]+/.exec(text.slice(offset))?.[0];
  if (word !== undefined && /^-?\d/.test(word)) return `bad number ${word}`;
  // A misspelt literal (`tru`, `nul`) is shown whole; any other character alone.
  if (word !== undefined && /^[tfn]/.test(word)) return unexpected(e, `'${/^[\w$]+/.exec(word)![0]}'`);
  return unexpected(e, describeChar(c));
}
