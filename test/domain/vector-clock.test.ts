import { describe, expect, it } from 'vitest';
import {
  compareClocks,
  componentOf,
  dominates,
  happensBefore,
  isConcurrent,
  merge,
  tick,
  type VectorClock,
} from '../../domain/vector-clock.js';

const A = 'did:mesh:alice';
const B = 'did:mesh:bob';
const C = 'did:mesh:carol';

describe('tick', () => {
  it('advances only the given agent, starting missing components at 0', () => {
    expect(tick({}, A)).toEqual({ [A]: 1 });
    expect(tick({ [A]: 2, [B]: 5 }, A)).toEqual({ [A]: 3, [B]: 5 });
  });

  it('returns a new clock and leaves its input unchanged', () => {
    const clock = Object.freeze({ [A]: 1 });
    const next = tick(clock, B);
    expect(next).not.toBe(clock);
    expect(clock).toEqual({ [A]: 1 });
  });

  it('ignores Object.prototype members for DIDs such as constructor', () => {
    expect(componentOf({}, 'constructor')).toBe(0);
    expect(tick({}, 'constructor')).toEqual({ constructor: 1 });
    expect(tick({}, 'toString')).toEqual({ toString: 1 });
  });
});

describe('merge', () => {
  it('takes the component-wise maximum', () => {
    expect(merge({ [A]: 3, [B]: 1 }, { [B]: 4, [C]: 2 })).toEqual({ [A]: 3, [B]: 4, [C]: 2 });
  });

  it('is commutative and idempotent, and dominates both inputs', () => {
    const a: VectorClock = { [A]: 2, [B]: 0 };
    const b: VectorClock = { [B]: 1, [C]: 7 };
    expect(compareClocks(merge(a, b), merge(b, a))).toBe('equal');
    expect(merge(a, a)).toEqual(a);
    expect(dominates(merge(a, b), a)).toBe(true);
    expect(dominates(merge(a, b), b)).toBe(true);
  });

  it('leaves its inputs unchanged', () => {
    const a = Object.freeze({ [A]: 1 });
    const b = Object.freeze({ [B]: 2 });
    merge(a, b);
    expect(a).toEqual({ [A]: 1 });
    expect(b).toEqual({ [B]: 2 });
  });

  it('keeps a __proto__ key as data instead of replacing the prototype', () => {
    const b = JSON.parse('{"__proto__": 3}') as VectorClock;
    const merged = merge({}, b);
    expect(Object.getPrototypeOf(merged)).toBe(Object.prototype);
    expect(componentOf(merged, '__proto__')).toBe(3);
  });
});

describe('compareClocks', () => {
  it('treats missing components as 0', () => {
    expect(compareClocks({}, { [A]: 0 })).toBe('equal');
    expect(compareClocks({ [A]: 1 }, { [A]: 1, [B]: 0 })).toBe('equal');
  });

  it('orders a clock before one that has seen strictly more', () => {
    expect(compareClocks({ [A]: 1 }, { [A]: 2 })).toBe('before');
    expect(compareClocks({ [A]: 1 }, { [A]: 1, [B]: 1 })).toBe('before');
    expect(compareClocks({}, { [A]: 1 })).toBe('before');
  });

  it('orders a clock after one it has seen everything of', () => {
    expect(compareClocks({ [A]: 2, [B]: 1 }, { [A]: 1 })).toBe('after');
  });

  it('finds concurrency when each side has an event the other has not', () => {
    expect(compareClocks({ [A]: 1 }, { [B]: 1 })).toBe('concurrent');
    expect(compareClocks({ [A]: 2, [B]: 1 }, { [A]: 1, [B]: 2 })).toBe('concurrent');
  });
});

describe('happensBefore, isConcurrent, dominates', () => {
  const base = tick({}, A);
  const fromA = tick(base, A);
  const fromB = tick(base, B);

  it('happensBefore is true only for a strict causal predecessor', () => {
    expect(happensBefore(base, fromA)).toBe(true);
    expect(happensBefore(fromA, base)).toBe(false);
    expect(happensBefore(base, base)).toBe(false);
    expect(happensBefore(fromA, fromB)).toBe(false);
  });

  it('isConcurrent is true only for causally unrelated clocks', () => {
    expect(isConcurrent(fromA, fromB)).toBe(true);
    expect(isConcurrent(fromB, fromA)).toBe(true);
    expect(isConcurrent(base, fromA)).toBe(false);
    expect(isConcurrent(base, base)).toBe(false);
  });

  it('dominates is component-wise ≥, so equal clocks dominate each other', () => {
    expect(dominates(fromA, base)).toBe(true);
    expect(dominates(base, base)).toBe(true);
    expect(dominates(base, fromA)).toBe(false);
    expect(dominates(fromA, fromB)).toBe(false);
    expect(dominates(merge(fromA, fromB), fromB)).toBe(true);
  });

  it('a merge followed by a tick happens after both merged clocks', () => {
    const resolved = tick(merge(fromA, fromB), C);
    expect(happensBefore(fromA, resolved)).toBe(true);
    expect(happensBefore(fromB, resolved)).toBe(true);
  });
});
