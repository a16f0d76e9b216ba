import { describe, expect, it } from 'vitest';
import { ErrorType, hvErrorDetails } from '../../../domain/errors.js';
import { CARRY_BUDGET, jsonBytes } from '../../../domain/limits.js';
import { joinSession, sessionStateBytes, trimWindows } from '../../../domain/session/index.js';
import { JoinSessionInput, type SessionData } from '../../../domain/session-types.js';
import { failureOf } from '../../helpers/domain.js';
import { ctx, newSession, parse } from '../../helpers/session-data.js';

/** A DID of the maximum identifier length, numbered. */
const longDid = (i: number): string => {
  const head = `did:mesh:${i}-`;
  return head + 'x'.repeat(256 - head.length);
};

describe('the state budget of a join', () => {
  it('admits joins while the state stays within its budget and refuses the one that would pass it', () => {
    let data: SessionData = newSession({ maxParticipants: 1000 });
    let joins = 0;
    for (;;) {
      const input = parse(JoinSessionInput, { agentDid: longDid(joins), sigmaRaw: 0.8 });
      let next: SessionData | undefined;
      try {
        next = joinSession(data, input, ctx()).data;
      } catch {
        const err = failureOf(() => joinSession(data, input, ctx()));
        expect(err.type).toBe(ErrorType.LimitExceeded);
        const details = hvErrorDetails(err) as { bytes: number; limit: number };
        expect(details.limit).toBe(CARRY_BUDGET.stateBytes);
        expect(details.bytes).toBeGreaterThan(CARRY_BUDGET.stateBytes);
        break;
      }
      data = next;
      joins++;
      expect(joins).toBeLessThan(1000);
    }
    // At the limit: the last admitted join left the state within the budget, and one more passes it.
    expect(sessionStateBytes(data)).toBeLessThanOrEqual(CARRY_BUDGET.stateBytes);
    expect(joins).toBeGreaterThan(300);
  });
});

describe('windows carried through continue-as-new', () => {
  const withWindows = (agents: number, events: number): SessionData => {
    const data = newSession();
    const breachWindows = Object.fromEntries(
      Array.from({ length: agents }, (_, a) => [
        `did:mesh:w${a}`,
        { events: Array.from({ length: events }, (_, i): [number, number] => [1_000 + i, 1]) },
      ]),
    );
    return { ...data, breachWindows };
  };

  it('are left as they are within the budget', () => {
    const data = withWindows(3, 100);
    const out = trimWindows(data);
    expect(out.data).toBe(data);
    expect(out.events).toEqual([]);
  });

  it('lose their oldest events, largest first, until they fit, and the loss is recorded', () => {
    const data = withWindows(4, 2_000);
    const budget = 40_000;
    expect(jsonBytes(data.breachWindows)).toBeGreaterThan(budget);
    const out = trimWindows(data, budget);
    const windows = Object.values(out.data.breachWindows);
    const kept = windows.reduce((n, w) => n + w.events.length, 0);
    expect(windows.reduce((n, w) => n + jsonBytes(w.events), 0)).toBeLessThanOrEqual(budget);
    // The newest event of every window survives.
    for (const w of windows) expect(w.events.at(-1)).toEqual([1_000 + 1_999, 1]);
    expect(out.events).toHaveLength(1);
    expect(out.events[0]).toMatchObject({
      kind: 'windows_trimmed',
      payload: { breachEventsDropped: 8_000 - kept, killSwitchEventsDropped: 0, budget },
    });
  });
});
