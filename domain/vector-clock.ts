/**
 * Vector clocks (docs/DESIGN.md §R2), as plain JSON records so they can ride in workflow state, query results and audit
 * entries. Every function returns a new clock and leaves its arguments untouched.
 *
 * Unlike the reference, whose `happens_before` and `is_concurrent` always return `false`, the ordering here is real:
 * `a` happened before `b` when every component of `a` is ≤ the same component of `b` and at least one is strictly
 * smaller; two clocks are concurrent when neither happened before the other and they are not equal.
 */

/**
 * Agent DID → number of events that agent contributed. A missing component counts as 0, so `{}` and `{ a: 0 }` are
 * equal clocks. Components are read as own properties only: a DID such as `constructor` is a valid identifier and must
 * not pick up `Object.prototype` members.
 */
export type VectorClock = Record<string, number>;

/** How clock `a` relates to clock `b`. */
export type ClockOrder = 'equal' | 'before' | 'after' | 'concurrent';

/** The component of `agentDid` in `clock` (0 when absent). */
export const componentOf = (clock: VectorClock, agentDid: string): number =>
  Object.hasOwn(clock, agentDid) ? (clock[agentDid] ?? 0) : 0;

/** A copy of `clock` with `agentDid`'s component advanced by one: the agent recorded one more event. */
export const tick = (clock: VectorClock, agentDid: string): VectorClock => ({
  ...clock,
  [agentDid]: componentOf(clock, agentDid) + 1,
});

/** The component-wise maximum of `a` and `b`: the smallest clock that has seen everything either has seen. */
export const merge = (a: VectorClock, b: VectorClock): VectorClock =>
  // fromEntries defines own properties, so even a `__proto__` key stays data rather than replacing the prototype.
  Object.fromEntries(
    [...new Set([...Object.keys(a), ...Object.keys(b)])].map((agentDid) => [
      agentDid,
      Math.max(componentOf(a, agentDid), componentOf(b, agentDid)),
    ]),
  );

/**
 * Compares two clocks component by component (missing components are 0): `before` means `a` happened before `b`,
 * `after` means `b` happened before `a`, `concurrent` means each has seen an event the other has not.
 */
export function compareClocks(a: VectorClock, b: VectorClock): ClockOrder {
  let aBehind = false;
  let bBehind = false;
  for (const agentDid of new Set([...Object.keys(a), ...Object.keys(b)])) {
    const left = componentOf(a, agentDid);
    const right = componentOf(b, agentDid);
    if (left < right) aBehind = true;
    else if (left > right) bBehind = true;
  }
  if (aBehind && bBehind) return 'concurrent';
  if (aBehind) return 'before';
  if (bBehind) return 'after';
  return 'equal';
}

/** True when `a` happened before `b`: all components ≤ and at least one <. */
export const happensBefore = (a: VectorClock, b: VectorClock): boolean => compareClocks(a, b) === 'before';

/** True when neither clock happened before the other and they differ: the events raced. */
export const isConcurrent = (a: VectorClock, b: VectorClock): boolean => compareClocks(a, b) === 'concurrent';

/** True when `a` ≥ `b` component-wise, i.e. `a` has seen every event `b` has (equal clocks dominate each other). */
export const dominates = (a: VectorClock, b: VectorClock): boolean => {
  const order = compareClocks(a, b);
  return order === 'equal' || order === 'after';
};
