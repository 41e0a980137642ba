/** Reading JSON input files: values as JSON.parse gives them, positions, and syntax errors. */
import { describe, expect, it } from 'vitest';
import { ScenarioError } from '../../../src/cli/json-file/issues.ts';
import { parseJsonFile } from '../../../src/cli/json-file/parse.ts';
import { keyAt, nodeAt } from '../../../src/cli/json-file/schema.ts';

const syntax = (text: string): string => {
  try {
    parseJsonFile(text, 'f.json');
  } catch (e) {
    expect(e).toBeInstanceOf(ScenarioError);
    return (e as Error).message;
  }
  throw new Error('parsed');
};

describe('parseJsonFile', () => {
  it('gives the values JSON.parse gives', () => {
    for (const text of [
      '{"a": [1, -2.5e3, true, false, null], "b": {"c": "x\\n\\u00e9\\"y"}}',
      '[]',
      '{}',
      '"s"',
      '0',
      '\ufeff[1]',
    ]) {
      expect(parseJsonFile(text, 'f.json').value).toEqual(JSON.parse(text.replace(/^\ufeff/, '')));
    }
  });

  it('records the line and column of values and property names', () => {
    const { doc } = parseJsonFile('{\n  "steps": [\n    { "op": "read" }\n  ]\n}', 'f.json');
    expect(doc.body.loc.start).toEqual({ line: 1, column: 1, offset: 0 });
    expect(keyAt(doc, [], 'steps').loc.start).toMatchObject({ line: 2, column: 3 });
    expect(nodeAt(doc, ['steps']).loc.start).toMatchObject({ line: 2, column: 12 });
    expect(keyAt(doc, ['steps', 0], 'op').loc.start).toMatchObject({ line: 3, column: 7 });
    expect(nodeAt(doc, ['steps', 0, 'op']).loc.start).toMatchObject({ line: 3, column: 13 });
  });

  it('reports syntax errors with line and column', () => {
    const e = (at: string, detail: string): string => `f.json:${at}: JSON syntax error: ${detail}`;
    expect(syntax('{\n  "a": 1\n  "b": 2\n}')).toBe(
      e('3:3', "expected ',' or '}' after a property value, got '\"'"),
    );
    expect(syntax('[1, 2,]')).toBe(e('1:7', 'trailing comma before ]'));
    expect(syntax('{"a": 1,}')).toBe(e('1:9', 'trailing comma before }'));
    expect(syntax("{'a': 1}")).toBe(e('1:2', 'expected a property name in double quotes, got "\'"'));
    expect(syntax('{"a" 1}')).toBe(e('1:6', "expected ':' after the property name \"a\", got '1'"));
    expect(syntax('{"a": tru}')).toBe(e('1:7', "expected a value, got 'tru'"));
    expect(syntax('{"a": "x')).toBe(e('1:9', 'unterminated string'));
    expect(syntax('{"a": 01}')).toBe(e('1:7', 'bad number 01'));
    expect(syntax('{"a": 1, "a": 2}')).toBe(e('1:10', 'duplicate property "a"'));
    expect(syntax('[1] x')).toBe(e('1:5', "unexpected 'x' after the JSON value"));
    expect(syntax('// c\n[]')).toBe(e('1:1', 'comments are not allowed in JSON'));
    expect(syntax('')).toBe(e('1:1', 'expected a value, got the end of the file'));
    expect(syntax('[1,\n')).toBe(e('2:1', 'expected a value, got the end of the file'));
    expect(syntax('"\\u12"')).toBe(e('1:5', 'bad \\u escape (four hex digits expected)'));
  });

  it('bounds the nesting instead of overflowing the stack', () => {
    expect(syntax(`${'['.repeat(100_000)}${']'.repeat(100_000)}`)).toBe(
      e('1:129', 'objects and arrays nested more than 128 levels deep'),
    );
    function e(at: string, detail: string): string {
      return `f.json:${at}: JSON syntax error: ${detail}`;
    }
  });
});
