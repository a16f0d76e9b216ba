import { describe, expect, it } from 'vitest';
import {
  GovernanceCounter as C,
  killSwitchMetrics,
  sagaEventMetrics,
  sessionEventMetrics,
} from '../../domain/metrics.js';

describe('governance metrics of events', () => {
  it('labels a decision by outcome, reason and effective ring', () => {
    expect(sessionEventMetrics('decision', { allowed: false, reason: 'rate_limited', effectiveRing: 3 })).toEqual([
      { counter: C.decisions, labels: { outcome: 'deny', reason: 'rate_limited', ring: '3' } },
    ]);
  });

  it('never lets a made-up value into a label', () => {
    const [hit] = sessionEventMetrics('decision', { allowed: true, reason: 'did:mesh:x', effectiveRing: 'did:mesh:x' });
    expect(hit!.labels).toEqual({ outcome: 'allow', reason: 'other', ring: 'none' });
    expect(sessionEventMetrics('kill', { reason: 'because I said so' })[0]!.labels).toEqual({ reason: 'other' });
    expect(killSwitchMetrics('tripped', 'did:mesh:x')[0]!.labels).toEqual({ event: 'tripped', trigger: 'other' });
  });

  it('tells a demotion (towards ring 3) from an elevation', () => {
    expect(sessionEventMetrics('ring_changed', { from: 2, to: 3 })[0]!.labels).toEqual({
      transition: 'demotion',
      ring: '3',
    });
    expect(sessionEventMetrics('ring_changed', { from: 2, to: 1 })[0]!.labels.transition).toBe('elevation');
    expect(sessionEventMetrics('elevation_expired', {})[0]!.labels.transition).toBe('expiry');
  });

  it('counts vouches, slashes and saga events, and nothing for other kinds', () => {
    expect(sessionEventMetrics('vouch', {}).map((h) => h.counter)).toEqual([C.vouches]);
    expect(sessionEventMetrics('slash', {}).map((h) => h.counter)).toEqual([C.slashes]);
    expect(sessionEventMetrics('lock_granted', {})).toEqual([]);
    expect(sagaEventMetrics('saga_escalated')).toEqual([{ counter: C.sagasEnded, labels: { status: 'escalated' } }]);
    expect(sagaEventMetrics('saga_step_compensation_failed')[0]!.labels).toEqual({ outcome: 'failed' });
    expect(sagaEventMetrics('saga_fault_attributed')).toEqual([]);
    expect(killSwitchMetrics('configured', 'operator')).toEqual([]);
  });
});
