import { describe, expect, it } from 'vitest';
import {
  INTERNAL_CLOCK_SKEW_MS,
  INTERNAL_MESSAGE_TTL_MS,
  REJECTED_KEPT,
  noteRejected,
  verifyInternalMessage,
  type RejectedLog,
} from '../../domain/internal-signature.js';
import {
  KNOWN_SAGAS_BYTES,
  MAX_KNOWN_SAGAS,
  allowSagaAgent,
  noticeOrderProblem,
  rememberSaga,
  sagaEventProblem,
} from '../../domain/internal-binding.js';
import { generateInternalKey, internalSignerFromPem } from '../../store/internal-crypto.js';

const signer = internalSignerFromPem(generateInternalKey().privatePem);
const other = internalSignerFromPem(generateInternalKey().privatePem);
const now = 1_800_000_000_000;
const body = { sessionId: 's-1', decisions: [{ n: 1, kind: 'deny', atMs: now, decisionId: 's-1#1' }] };
const signed = (s = signer, target = 'agent:a', at = now, b: object = body) => ({
  ...b,
  auth: s.sign('reportDecisions', target, b, at),
});
const verify = (message: unknown, target = 'agent:a', at = now) =>
  verifyInternalMessage(signer.anchors, 'reportDecisions', target, message, at);

describe('internal message signatures (node signer, workflow verifier)', () => {
  it('accepts a message signed by an accepted key for this target, within its lifetime', () => {
    expect(verify(signed())).toEqual({ ok: true, kid: signer.kid, iat: now });
    expect(verify(signed(), 'agent:a', now + INTERNAL_MESSAGE_TTL_MS).ok).toBe(true);
    expect(verify(signed(), 'agent:a', now - INTERNAL_CLOCK_SKEW_MS).ok).toBe(true);
    // A rotation: the previous key is still accepted.
    const rotated = internalSignerFromPem(generateInternalKey().privatePem, [signer.publicKey]);
    expect(verifyInternalMessage(rotated.anchors, 'reportDecisions', 'agent:a', signed(), now).ok).toBe(true);
  });

  it('refuses unsigned, malformed, unknown-key, tampered, misdirected, renamed, stale and future messages', () => {
    const reasonOf = (m: unknown, target?: string, at?: number) => {
      const v = verify(m, target, at);
      return v.ok ? 'accepted' : v.reason;
    };
    expect(reasonOf(body)).toBe('unsigned internal message');
    expect(reasonOf(null)).toBe('unsigned internal message');
    expect(reasonOf({ ...body, auth: { kid: 'x', iat: now, sig: 'y' } })).toBe('malformed signature');
    expect(reasonOf(signed(other))).toBe(`signed with an unknown key ${other.kid}`);
    expect(reasonOf({ ...signed(), sessionId: 's-2' })).toBe('bad signature');
    expect(reasonOf({ ...signed(), extra: 1 })).toBe('bad signature');
    expect(reasonOf(signed(), 'agent:b')).toBe('bad signature');
    expect(verifyInternalMessage(signer.anchors, 'registerSession', 'agent:a', signed(), now)).toMatchObject({
      ok: false,
      reason: 'bad signature',
    });
    expect(reasonOf(signed(), 'agent:a', now + INTERNAL_MESSAGE_TTL_MS + 1)).toBe('expired signature');
    expect(reasonOf(signed(), 'agent:a', now - INTERNAL_CLOCK_SKEW_MS - 1)).toBe('signed in the future');
  });

  it('signs what the receiver sees after JSON: undefined members are not part of it', () => {
    const withUndefined = { agentDid: 'did:mesh:a', substituteDid: undefined };
    const auth = signer.sign('handOffSteps', 'saga:x', withUndefined, now);
    const received: unknown = JSON.parse(JSON.stringify({ ...withUndefined, auth }));
    expect(verifyInternalMessage(signer.anchors, 'handOffSteps', 'saga:x', received, now).ok).toBe(true);
  });

  it('keeps a bounded log of refusals with a running count', () => {
    const log: RejectedLog = { count: 0, latest: [] };
    for (let i = 0; i < REJECTED_KEPT + 5; i++) noteRejected(log, { name: 'x', reason: `r${i}`, atMs: i });
    expect(log.count).toBe(REJECTED_KEPT + 5);
    expect(log.latest).toHaveLength(REJECTED_KEPT);
    expect(log.latest[0]!.reason).toBe('r5');
  });
});

describe('binding internal messages to the session’s own state', () => {
  it('accepts saga events only from a known saga, for its own steps and agents', () => {
    const known = {};
    rememberSaga(known, 'g1', [
      { stepId: 'a', agentDid: 'did:mesh:w' },
      { stepId: 'b', agentDid: 'did:mesh:w' },
    ]);
    expect(
      sagaEventProblem(known, { sagaId: 'g1', kind: 'saga_step_started', stepId: 'a', agentDid: 'did:mesh:w' }),
    ).toBeNull();
    expect(
      sagaEventProblem(known, { sagaId: 'g1', kind: 'saga_escalated', details: { rootCause: 'did:mesh:w' } }),
    ).toBeNull();
    expect(sagaEventProblem(known, { sagaId: 'nope', kind: 'saga_started' })).toContain('neither launched');
    expect(sagaEventProblem(known, { sagaId: 'toString', kind: 'saga_started' })).toContain('neither launched');
    expect(sagaEventProblem(known, { sagaId: 'g1', kind: 'saga_step_failed', stepId: 'z' })).toContain('not a step');
    expect(
      sagaEventProblem(known, { sagaId: 'g1', kind: 'saga_escalated', details: { rootCause: 'did:mesh:v' } }),
    ).toContain('did:mesh:v is not an agent');
    expect(
      sagaEventProblem(known, {
        sagaId: 'g1',
        kind: 'saga_fault_attributed',
        details: { shares: { 'did:mesh:v': 1 } },
      }),
    ).toContain('did:mesh:v is not an agent');
    allowSagaAgent(known, 'g1', 'did:mesh:v');
    expect(
      sagaEventProblem(known, { sagaId: 'g1', kind: 'saga_step_reassigned', stepId: 'b', agentDid: 'did:mesh:v' }),
    ).toBeNull();
  });

  it('remembers a bounded number of sagas, within a byte budget, forgetting the oldest', () => {
    const known: Record<string, { steps: string[]; agents: string[] }> = {};
    for (let i = 0; i < MAX_KNOWN_SAGAS + 50; i++)
      rememberSaga(known, `g${i}`, [{ stepId: 'a', agentDid: 'did:mesh:w' }]);
    expect(Object.keys(known)).toHaveLength(MAX_KNOWN_SAGAS);
    expect(known[`g${MAX_KNOWN_SAGAS + 49}`]).toBeDefined();
    const big = Array.from({ length: 100 }, (_, i) => ({
      stepId: `step-${i}-${'x'.repeat(100)}`,
      agentDid: `did:mesh:${i}`,
    }));
    for (let i = 0; i < 20; i++) rememberSaga(known, `big${i}`, big);
    expect(JSON.stringify(known).length).toBeLessThanOrEqual(KNOWN_SAGAS_BYTES);
    expect(known.big19).toBeDefined();
  });

  it('accepts an identity’s notices in increasing order only', () => {
    expect(noticeOrderProblem({}, { agentDid: 'did:mesh:a', seq: 1 })).toBeNull();
    expect(noticeOrderProblem({ 'did:mesh:a': 3 }, { agentDid: 'did:mesh:a', seq: 3 })).toContain('not newer than 3');
    expect(noticeOrderProblem({}, { agentDid: 'did:mesh:a' })).toBe('the notice has no number');
    expect(noticeOrderProblem({}, { agentDid: 'did:mesh:a', seq: 1.5 })).toBe('the notice has no number');
  });
});
