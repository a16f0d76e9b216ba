import { describe, expect, it } from 'vitest';
import { appendEntry } from '../../../domain/audit-chain.js';
import { newKillSwitch, parseKillSwitchConfig, type KillSwitchNotice } from '../../../domain/kill-switch.js';
import {
  adoptKillSwitchCopy,
  applyKillSwitchNotice,
  authorizeAction,
  followUpsOf,
  killSwitchNoticeChange,
} from '../../../domain/session/index.js';
import { AuthorizeInput, type SessionData } from '../../../domain/session-types.js';
import { deepFreeze } from '../../helpers/domain.js';
import {
  NOW,
  SESSION_ID,
  actions,
  active,
  allActions,
  ctx,
  did,
  joined,
  newSession,
  left,
  participant,
  parse,
} from '../../helpers/session-data.js';

const [A, B] = [did('a'), did('b')];
const calm = { breachPolicy: { baselineRate: 10_000 } };
const session = (): SessionData => joined(joined(newSession(calm), A, 0.8, allActions), B, 0.8, allActions);
const armed = (agentDid: string) =>
  newKillSwitch(
    agentDid,
    parseKillSwitchConfig({ enabled: true, window_seconds: 300, deny_rate_threshold: 0.9, min_calls: 10 }),
  );
const authorize = (data: SessionData, actionId: string, nowMs = NOW) =>
  authorizeAction(data, parse(AuthorizeInput, { agentDid: A, actionId }), ctx(nowMs));

describe("the session's copy of the kill switch", () => {
  it('keeps a copy only of an armed switch', () => {
    const data = deepFreeze(active(session()));
    expect(adoptKillSwitchCopy(data, A, newKillSwitch(A, parseKillSwitchConfig({}))).killSwitches).toBeUndefined();
    expect(adoptKillSwitchCopy(data, A, null)).toBe(data);
    const copied = adoptKillSwitchCopy(data, A, armed(A));
    expect(Object.keys(copied.killSwitches!)).toEqual([A]);
    expect(adoptKillSwitchCopy(copied, A, null).killSwitches).toEqual({});
  });

  it('trips at the crossing decision: the next call of the agent is refused here', () => {
    let data = adoptKillSwitchCopy(active(session()), A, armed(A));
    data = authorize(data, actions.edit.actionId).data;
    for (let i = 0; i < 8; i++) {
      const out = authorize(deepFreeze(data), actions.deploy.actionId, NOW + i);
      expect(out.events.map((e) => e.kind)).toEqual(['decision']);
      data = out.data;
    }
    const crossing = authorize(deepFreeze(data), actions.deploy.actionId, NOW + 10);
    expect(crossing.result).toMatchObject({ allowed: false, reason: 'ring_violation' });
    expect(crossing.events.map((e) => e.kind)).toEqual(['decision', 'break_glass_used', 'kill']);
    const decisionId = `${SESSION_ID}#${data.chain.seq + 1}`;
    expect(crossing.events[1]!.payload).toMatchObject({
      reason: 'kill_switch_triggered',
      tripping_decision: decisionId,
      detected_by: 'session',
    });
    expect(crossing.events[2]!.payload).toMatchObject({ reason: 'behavioral_drift' });
    expect(crossing.data.killSwitchTriggered).toBe(true);
    expect(crossing.data.killSwitches![A]!.blocked).toMatchObject({ sessionId: SESSION_ID, decisionId });
    // The identity hears of it through a follow-up of the entry.
    expect(followUpsOf(crossing.data, crossing.events[1]!, false, NOW + 10)).toEqual([
      { kind: 'trip', agentDid: A, decisionId, atMs: NOW + 10 },
    ]);
    expect(authorize(crossing.data, actions.edit.actionId, NOW + 11).result).toMatchObject({
      allowed: false,
      reason: 'agent_killed',
    });
  });

  it('counts the identity window it was given: earlier allows elsewhere keep it below the threshold', () => {
    let copy = armed(A);
    copy = { ...copy, events: Array.from({ length: 5 }, (_, i) => ({ atMs: NOW - 1000 + i, denied: false })) };
    let data = adoptKillSwitchCopy(active(session()), A, copy);
    for (let i = 0; i < 20; i++) data = authorize(data, actions.deploy.actionId, NOW + i).data;
    // 20 denies of 25 = 0.8 < 0.9.
    expect(participant(data, A).status).toBe('active');
    expect(data.killSwitches![A]!.events).toHaveLength(25);
  });

  it('ignores the echo of its own trip, and applies a trip detected elsewhere', () => {
    let data = adoptKillSwitchCopy(active(session()), A, armed(A));
    data = authorize(data, actions.edit.actionId).data;
    for (let i = 0; i < 9; i++) data = authorize(data, actions.deploy.actionId, NOW + i).data;
    const decisionId = data.killSwitches![A]!.blocked!.decisionId;
    const echo = notice({ trippingSessionId: SESSION_ID, decisionId });
    expect(applyKillSwitchNotice(deepFreeze(data), echo, ctx())).toEqual({ data, events: [] });

    const fresh = deepFreeze(adoptKillSwitchCopy(active(session()), A, armed(A)));
    const remote = applyKillSwitchNotice(fresh, notice(), ctx());
    expect(remote.events.map((e) => e.kind)).toEqual(['break_glass_used', 'kill']);
    expect(remote.events[0]!.payload).toMatchObject({ detected_by: 'identity' });
    expect(remote.data.killSwitches![A]!.blocked).toMatchObject({ sessionId: 'ss-other' });
    expect(remote.data.killSwitchTriggered).toBeUndefined();
  });

  it('refreshes the copy on a new configuration and clears it on an unblock', () => {
    const data = deepFreeze(adoptKillSwitchCopy(active(session()), A, armed(A)));
    const off = newKillSwitch(A, parseKillSwitchConfig({}));
    expect(applyKillSwitchNotice(data, notice({ event: 'configured', copy: off }), ctx()).data.killSwitches).toEqual(
      {},
    );
    const blocked = applyKillSwitchNotice(data, notice(), ctx()).data;
    const lifted = applyKillSwitchNotice(blocked, notice({ event: 'unblocked', reason: 'ok' }), ctx());
    expect(lifted.data.killSwitches![A]).toMatchObject({ blocked: null, events: [] });
    expect(lifted.events.map((e) => e.kind)).toEqual(['break_glass_used']);
  });
});

const notice = (extra: Partial<KillSwitchNotice> = {}): KillSwitchNotice => ({
  agentDid: A,
  event: 'tripped',
  trigger: 'deny_rate',
  reason: 'kill_switch_triggered',
  authorizedBy: null,
  trippingSessionId: 'ss-other',
  decisionId: 'ss-other#4',
  windowSeconds: 300,
  ...extra,
});

describe('kill-switch notices', () => {
  const operatorTrip = notice({
    trigger: 'operator',
    reason: 'incident 42',
    authorizedBy: did('sre'),
    trippingSessionId: null,
    decisionId: null,
  });

  it('records an unblock without flagging the session', () => {
    const data = deepFreeze(session());
    const out = killSwitchNoticeChange(
      data,
      notice({ event: 'unblocked', reason: 'reviewed', authorizedBy: did('sre') }),
      'identity',
    );
    expect(out.data).toBe(data);
    expect(out.events).toEqual([
      {
        kind: 'break_glass_used',
        agentDid: A,
        payload: {
          reason: 'kill_switch_unblocked',
          agent_id: A,
          authorized_by: did('sre'),
          operator_reason: 'reviewed',
        },
      },
    ]);
  });

  it('flags the tripping session on a deny-rate trip, and only that one', () => {
    const out = killSwitchNoticeChange(deepFreeze(session()), notice({ trippingSessionId: SESSION_ID }), 'identity');
    expect(out.data.killSwitchTriggered).toBe(true);
    expect(out.events).toEqual([
      {
        kind: 'break_glass_used',
        agentDid: A,
        payload: {
          reason: 'kill_switch_triggered',
          agent_id: A,
          deny_rate_window_seconds: 300,
          tripping_decision: 'ss-other#4',
          authorized_by: null,
          detected_by: 'identity',
        },
      },
    ]);
    const elsewhere = killSwitchNoticeChange(deepFreeze(session()), notice(), 'identity');
    expect(elsewhere.data.killSwitchTriggered).toBeUndefined();
  });

  it('always flags the session on an operator trip', () => {
    const out = killSwitchNoticeChange(deepFreeze(session()), operatorTrip, 'identity');
    expect(out.data.killSwitchTriggered).toBe(true);
    expect(out.events[0]!.payload).toEqual({
      reason: 'kill_switch_operator_trip',
      agent_id: A,
      deny_rate_window_seconds: 300,
      tripping_decision: null,
      authorized_by: did('sre'),
      operator_reason: 'incident 42',
    });
  });

  it('kills the agent here with the chain position after its entry as kill id', () => {
    const recorded = {
      sessionId: SESSION_ID,
      kind: 'x',
      agentDid: null,
      payload: {},
      recordedAtMs: NOW,
      workflowId: 'wf',
      runId: 'r',
    };
    let data = session();
    for (let i = 0; i < 2; i++) data = { ...data, chain: appendEntry(data.chain, recorded).head };
    const denyRate = applyKillSwitchNotice(deepFreeze(data), notice(), ctx());
    expect(denyRate.events[1]).toEqual({
      kind: 'kill',
      agentDid: A,
      payload: {
        killId: 'kill-switch-3',
        reason: 'behavioral_drift',
        authorizedBy: 'did:hypervisor:kill-switch',
        details: 'deny-rate kill switch tripped',
        substituteDid: null,
      },
    });
    expect(participant(denyRate.data, A).kill).toMatchObject({ killId: 'kill-switch-3', reason: 'behavioral_drift' });
    expect(applyKillSwitchNotice(deepFreeze(data), operatorTrip, ctx()).events[1]!.payload).toMatchObject({
      reason: 'manual',
      authorizedBy: did('sre'),
      details: 'kill switch tripped by operator: incident 42',
    });
  });

  it('kills nobody on an unblock, or when the agent is not active here', () => {
    const data = deepFreeze(session());
    expect(applyKillSwitchNotice(data, notice({ event: 'unblocked' }), ctx()).events.map((e) => e.kind)).toEqual([
      'break_glass_used',
    ]);
    expect(applyKillSwitchNotice(data, notice({ agentDid: did('stranger') }), ctx()).events.map((e) => e.kind)).toEqual(
      ['break_glass_used'],
    );
    const gone = deepFreeze(left(data, A));
    expect(applyKillSwitchNotice(gone, notice(), ctx()).events.map((e) => e.kind)).toEqual(['break_glass_used']);
  });
});
