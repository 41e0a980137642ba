/** The JSON parser that keeps positions: values as JSON.parse gives them, positions, and syntax errors. */
import { describe, expect, it } from 'vitest';
import {
  type JsonNode,
  JsonSyntaxError,
  parseJsonWithPositions,
  toValue,
} from '../../../src/cli/scenario/json-with-positions.ts';

const syntax = (text: string): string => {
  try {
    parseJsonWithPositions(text);
  } catch (e) {
    expect(e).toBeInstanceOf(JsonSyntaxError);
    return (e as Error).message;
  }
  throw new Error('parsed');
};

describe('parseJsonWithPositions', () => {
  it('gives the values JSON.parse gives', () => {
    for (const text of [
      '{"a": [1, -2.5e3, true, false, null], "b": {"c": "x\\n\\u00e9\\"y"}}',
      '[]',
      '{}',
      '"s"',
      '0',
      '\ufeff[1]',
    ]) {
      expect(toValue(parseJsonWithPositions(text))).toEqual(JSON.parse(text.replace(/^\ufeff/, '')));
    }
  });

  it('records the line and column of values and property names', () => {
    const root = parseJsonWithPositions('{\n  "steps": [\n    { "op": "read" }\n  ]\n}');
    expect(root.pos).toEqual({ line: 1, column: 1, offset: 0 });
    const steps = (root as JsonNode & { kind: 'object' }).properties[0]!;
    expect(steps.keyPos).toMatchObject({ line: 2, column: 3 });
    const arr = steps.value as JsonNode & { kind: 'array' };
    expect(arr.pos).toMatchObject({ line: 2, column: 12 });
    const op = (arr.items[0] as JsonNode & { kind: 'object' }).properties[0]!;
    expect(op.keyPos).toMatchObject({ line: 3, column: 7 });
    expect(op.value.pos).toMatchObject({ line: 3, column: 13 });
  });

  it('reports syntax errors with line and column', () => {
    expect(syntax('{\n  "a": 1\n  "b": 2\n}')).toBe(
      "3:3: expected ',' or '}' after a property value, got '\"'",
    );
    expect(syntax('[1, 2,]')).toBe('1:7: trailing comma before ]');
    expect(syntax('{"a": 1,}')).toBe('1:9: trailing comma before }');
    expect(syntax("{'a': 1}")).toBe('1:2: expected a property name in double quotes, got "\'"');
    expect(syntax('{"a" 1}')).toBe("1:6: expected ':' after the property name \"a\", got '1'");
    expect(syntax('{"a": tru}')).toBe("1:7: expected a value, got 'tru'");
    expect(syntax('{"a": "x')).toBe('1:9: unterminated string');
    expect(syntax('{"a": 01}')).toBe('1:7: bad number 01');
    expect(syntax('{"a": 1, "a": 2}')).toBe('1:10: duplicate property "a"');
    expect(syntax('[1] x')).toBe("1:5: unexpected 'x' after the JSON value");
    expect(syntax('// c\n[]')).toBe('1:1: comments are not allowed in JSON');
    expect(syntax('')).toBe('1:1: expected a value, got the end of the file');
    expect(syntax('[1,\n')).toBe('2:1: expected a value, got the end of the file');
  });
});
