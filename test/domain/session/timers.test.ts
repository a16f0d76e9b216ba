import { describe, expect, it } from 'vitest';
import { expireTimers, nextDeadline } from '../../../domain/session/index.js';
import type { SessionData } from '../../../domain/session-types.js';
import { deepFreeze } from '../../helpers/domain.js';
import {
  CREATOR,
  NOW,
  did,
  elevated,
  joined,
  killed,
  kinds,
  locked,
  newSession,
  participant,
  quarantined,
} from '../../helpers/session-data.js';

const [A, B] = [did('a'), did('b')];
const session = () => joined(joined(newSession(), A, 0.9), B, 0.9);
const expire = (data: SessionData, nowMs: number) => expireTimers(deepFreeze(data), nowMs);

describe('expireTimers', () => {
  it('changes nothing before anything is due', () => {
    const data = elevated(session(), {
      agentDid: A,
      targetRing: 1,
      reason: 'fix',
      approvedBy: CREATOR,
      ttlSeconds: 60,
    });
    const out = expire(data, NOW + 59_999);
    expect(out.events).toEqual([]);
    expect(out.data.elevations).toEqual(data.elevations);
  });

  it('expires an elevation at its expiry', () => {
    const data = elevated(session(), {
      agentDid: A,
      targetRing: 1,
      reason: 'fix',
      approvedBy: CREATOR,
      ttlSeconds: 60,
    });
    const out = expire(data, NOW + 60_000);
    expect(out.events).toEqual([
      { kind: 'elevation_expired', agentDid: A, payload: { elevationId: 'elev:id-1', toRing: 1 } },
    ]);
    expect(out.data.elevations).toEqual({});
  });

  it('expires a lock and grants the request queued behind it', () => {
    let data = locked(session(), { agentDid: A, path: '/ttl', intent: 'exclusive', ttlSeconds: 1 });
    data = locked(data, { agentDid: B, path: '/ttl', intent: 'exclusive', ttlSeconds: 30 });
    const out = expire(data, NOW + 1_000);
    expect(out.events).toEqual([
      {
        kind: 'lock_expired',
        agentDid: A,
        payload: { lockId: 'lock:1', path: '/ttl', intent: 'exclusive', status: 'granted', expiresAtMs: NOW + 1_000 },
      },
      {
        kind: 'lock_granted',
        agentDid: B,
        payload: { lockId: 'lock:2', path: '/ttl', intent: 'exclusive', status: 'granted', expiresAtMs: NOW + 31_000 },
      },
    ]);
    expect(Object.keys(out.data.locks.locks)).toEqual(['lock:2']);
  });

  it('releases a quarantine that ran out under the release policy', () => {
    const data = quarantined(session(), A, { durationSeconds: 30 });
    expect(expire(data, NOW + 29_999).events).toEqual([]);
    const out = expire(data, NOW + 30_000);
    expect(out.events).toEqual([
      {
        kind: 'quarantine_released',
        agentDid: A,
        payload: { quarantineId: `q-${A}`, why: 'timeout', onTimeout: 'release' },
      },
    ]);
    expect(out.data.quarantines).toEqual({});
    expect(participant(out.data, A).status).toBe('active');
  });

  it('kills with quarantine_timeout under the kill policy, on behalf of whoever quarantined', () => {
    const holding = locked(session(), { agentDid: A, path: '/held', intent: 'write', ttlSeconds: 3600 });
    const data = quarantined(holding, A, { durationSeconds: 30, onTimeout: 'kill' });
    const out = expire(data, NOW + 30_000);
    const killId = `quarantine-q-${A}`;
    expect(kinds(out.events)).toEqual(['quarantine_released', 'lock_released', 'kill']);
    expect(out.events[0]!.payload).toEqual({ quarantineId: `q-${A}`, why: 'timeout', onTimeout: 'kill' });
    expect(out.events[2]).toEqual({
      kind: 'kill',
      agentDid: A,
      payload: { killId, reason: 'quarantine_timeout', authorizedBy: CREATOR, details: null, substituteDid: null },
    });
    expect(participant(out.data, A)).toMatchObject({
      status: 'killed',
      kill: { killId, reason: 'quarantine_timeout', authorizedBy: CREATOR, atMs: NOW + 30_000 },
    });
    expect(out.data.killIds).toEqual([killId]);
    expect(out.data.quarantines).toEqual({});
  });

  it('only releases the quarantine of an agent that is already dead', () => {
    const data = killed(quarantined(session(), A, { durationSeconds: 30, onTimeout: 'kill' }), A);
    const out = expire(data, NOW + 30_000);
    expect(kinds(out.events)).toEqual(['quarantine_released']);
    expect(participant(out.data, A).kill?.reason).toBe('manual');
  });

  it('handles elevations, then locks, then quarantines in one sweep', () => {
    let data = elevated(session(), { agentDid: B, targetRing: 1, reason: 'fix', approvedBy: CREATOR, ttlSeconds: 5 });
    data = locked(data, { agentDid: B, path: '/x', intent: 'read', ttlSeconds: 5 });
    data = quarantined(data, A, { durationSeconds: 5 });
    expect(kinds(expire(data, NOW + 5_000).events)).toEqual([
      'elevation_expired',
      'lock_expired',
      'quarantine_released',
    ]);
  });
});

describe('nextDeadline', () => {
  it('is the session deadline when nothing else is pending', () => {
    expect(nextDeadline(deepFreeze(session()))).toBe(NOW + 3_600_000);
  });

  it('picks the earliest of elevations, locks and quarantines', () => {
    let data = elevated(session(), { agentDid: A, targetRing: 1, reason: 'fix', approvedBy: CREATOR, ttlSeconds: 300 });
    expect(nextDeadline(data)).toBe(NOW + 300_000);
    data = locked(data, { agentDid: B, path: '/x', intent: 'read', ttlSeconds: 60 });
    expect(nextDeadline(data)).toBe(NOW + 60_000);
    data = quarantined(data, B, { durationSeconds: 30 });
    expect(nextDeadline(deepFreeze(data))).toBe(NOW + 30_000);
  });
});
