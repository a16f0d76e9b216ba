import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { canonicalJson } from '../../domain/audit-chain.js';

/**
 * The definition canonicalJson had before it was made fast, verbatim: the reference its output must equal byte for
 * byte, since every stored hash was computed over it.
 */
function referenceCanonicalJson(value: unknown): string {
  if (value === null) return 'null';
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return JSON.stringify(value);
    case 'number':
      if (!Number.isFinite(value)) throw new TypeError(`canonical JSON cannot encode ${value}`);
      return JSON.stringify(value);
    case 'object': {
      if (Array.isArray(value))
        return `[${Array.from(value, (item) => referenceCanonicalJson(item ?? null)).join(',')}]`;
      const entries = Object.entries(value as Record<string, unknown>)
        .filter(([, v]) => v !== undefined)
        .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
      return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${referenceCanonicalJson(v)}`).join(',')}}`;
    }
    default:
      throw new TypeError(`canonical JSON cannot encode a ${typeof value}`);
  }
}

/** The outcome of encoding: the text, or the error's message. */
function outcome(encode: (v: unknown) => string, value: unknown): { text: string } | { error: string } {
  try {
    return { text: encode(value) };
  } catch (err) {
    return { error: (err as Error).message };
  }
}

const codeUnit = fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c));
const text = fc.string({ unit: fc.oneof(codeUnit, fc.constantFrom('a', 'é', '😀', '\ud800', '"', '\\', '\n')) });
/** Keys that stress ordering: array indices (engines list them first), near-indices, __proto__, unicode, empty. */
const key = fc.oneof(
  text,
  fc.constantFrom(
    '0',
    '1',
    '10',
    '2',
    '01',
    '-1',
    '4294967295',
    '__proto__',
    'constructor',
    'toJSON',
    '',
    'a',
    'B',
    'é',
  ),
  fc.nat().map(String),
);
const number = fc.oneof(
  fc.double(),
  fc.integer(),
  fc.constantFrom(-0, 0, 1e21, 1e-7, -1e21, 5e-324, Number.MAX_VALUE, 2 ** 53, 0.1 + 0.2, NaN, Infinity, -Infinity),
);

/** Own enumerable properties in generated order, `__proto__` included as a real key (as JSON.parse makes it). */
const objectFrom = (pairs: Array<[string, unknown]>, nullPrototype: boolean): Record<string, unknown> => {
  const out = (nullPrototype ? Object.create(null) : {}) as Record<string, unknown>;
  for (const [k, v] of pairs)
    Object.defineProperty(out, k, { value: v, enumerable: true, writable: true, configurable: true });
  return out;
};

const { value } = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.constant(null),
    fc.boolean(),
    number,
    text,
    fc.constant(undefined),
    tie('array'),
    tie('sparse'),
    tie('object'),
  ),
  array: fc.array(tie('value'), { maxLength: 6 }),
  sparse: fc.sparseArray(tie('value'), { maxLength: 6 }),
  object: fc
    .tuple(fc.array(fc.tuple(key, tie('value')), { maxLength: 6 }), fc.boolean())
    .map(([pairs, nullPrototype]) => objectFrom(pairs, nullPrototype)),
}));

describe('canonicalJson', () => {
  it('writes exactly what the reference definition writes, for arbitrary nested values', () => {
    fc.assert(
      fc.property(value, (v) => {
        expect(outcome(canonicalJson, v)).toEqual(outcome(referenceCanonicalJson, v));
      }),
      { numRuns: 5000 },
    );
  });

  it('agrees with the reference on values that are not plain JSON (dates, maps, boxed values, typed arrays…)', () => {
    const anything = fc.anything({
      withBoxedValues: true,
      withDate: true,
      withMap: true,
      withSet: true,
      withNullPrototype: true,
      withObjectString: true,
      withSparseArray: true,
      withTypedArray: true,
      withBigInt: true,
      key,
    });
    fc.assert(
      fc.property(anything, (v) => {
        expect(outcome(canonicalJson, v)).toEqual(outcome(referenceCanonicalJson, v));
      }),
      { numRuns: 3000 },
    );
  });

  it('keeps the cases the format pins down', () => {
    const cases: Array<[unknown, string]> = [
      [{ b: 1, a: [1, undefined, null], c: { z: -0, y: 1e21 } }, '{"a":[1,null,null],"b":1,"c":{"y":1e+21,"z":0}}'],
      [{ 10: 'x', 2: 'y', b: 'z' }, '{"10":"x","2":"y","b":"z"}'],
      [JSON.parse('{"__proto__":1,"a":2}'), '{"__proto__":1,"a":2}'],
      [{ u: undefined }, '{}'],
      [new Date(0), '{}'],
      [[, 1], '[null,1]'], // eslint-disable-line no-sparse-arrays
      [{ s: 'ü\u2028"😀\ud800' }, '{"s":"ü\u2028\\"😀\\ud800"}'],
    ];
    for (const [v, expected] of cases) expect(canonicalJson(v)).toBe(expected);
    expect(() => canonicalJson({ a: NaN })).toThrow('canonical JSON cannot encode NaN');
    expect(() => canonicalJson([() => 1])).toThrow('canonical JSON cannot encode a function');
    expect(() => canonicalJson(undefined)).toThrow(TypeError);
  });

  it('leaves its input untouched', () => {
    const input = { b: { d: 1, c: [3, { f: 1, e: 2 }] }, a: 'x' };
    const copy = structuredClone(input);
    canonicalJson(input);
    expect(input).toEqual(copy);
    expect(Object.keys(input.b.c[1] as object)).toEqual(['f', 'e']);
  });
});
