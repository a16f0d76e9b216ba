import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  MAX_COMMAND_LIFETIME_MS,
  publicKeyOf,
  rememberNonce,
  signCommand,
  verifyCommand,
  withActor,
  type AuthFailure,
  type NonceBook,
  type OperatorSigner,
} from '../../domain/operator-command.js';
import { indexDirectory, kidOf, mergeDirectories, type CommandTarget } from '../../domain/operators.js';

const seed = () => randomBytes(32).toString('hex');
const signerFor = (did: string, privateKey = seed()): OperatorSigner => ({
  did,
  kid: kidOf(publicKeyOf(privateKey)),
  privateKey,
});
const entry = (s: OperatorSigner, role: 'admin' | 'operator', revokedAtMs: number | null = null) => ({
  did: s.did,
  role,
  keys: [{ kid: s.kid, publicKey: publicKeyOf(s.privateKey), addedAtMs: 0, revokedAtMs }],
});

const admin = signerFor('did:op:admin');
const sessionOp = signerFor('did:op:creator');
const outsider = signerFor('did:op:outsider');
const revoked = signerFor('did:op:creator');
const unknown = signerFor('did:op:admin');
const keys = indexDirectory({
  operators: [entry(admin, 'admin'), entry(sessionOp, 'operator'), entry(outsider, 'operator')],
});
const NOW = 1_800_000_000_000;
const withRevoked = indexDirectory(mergeDirectories({ operators: [entry(revoked, 'operator', NOW + 1_000)] }));
const session: CommandTarget = { kind: 'session', sessionOperators: ['did:op:creator'] };
const WF = 'session:s-1';
const nonce = () => randomBytes(16).toString('base64url');

function reasonOf(fn: () => unknown): AuthFailure | 'accepted' {
  try {
    fn();
    return 'accepted';
  } catch (err) {
    return (err as { details?: [{ reason: AuthFailure }] }).details?.[0]?.reason ?? ('thrown' as AuthFailure);
  }
}

type Forgery =
  | 'valid'
  | 'unsigned'
  | 'wrong_key'
  | 'unknown_key'
  | 'non_operator'
  | 'wrong_workflow'
  | 'expired'
  | 'replayed'
  | 'future'
  | 'too_long'
  | 'tampered';

/** Builds one command of the given kind and verifies it against a fresh nonce book (or a book that saw it). */
function attempt(kind: Forgery, args: Record<string, unknown>, signer: OperatorSigner): AuthFailure | 'accepted' {
  let nonces: NonceBook = {};
  let nowMs = NOW;
  let s = signer;
  let workflowId = WF;
  let iatAt = NOW;
  let lifetimeMs: number | undefined;
  if (kind === 'wrong_key') s = { ...signer, privateKey: seed() };
  if (kind === 'unknown_key') s = unknown;
  if (kind === 'non_operator') s = outsider;
  if (kind === 'wrong_workflow') workflowId = 'session:s-2';
  if (kind === 'future') iatAt = NOW + 120_000;
  if (kind === 'too_long') lifetimeMs = MAX_COMMAND_LIFETIME_MS + 1;
  const auth = signCommand({
    signer: s,
    cmd: 'requestKill',
    workflowId,
    args,
    nowMs: iatAt,
    nonce: nonce(),
    lifetimeMs,
  });
  if (kind === 'expired') nowMs = auth.exp;
  if (kind === 'replayed') nonces = rememberNonce(nonces, { nonce: auth.nonce, exp: auth.exp }, NOW);
  const sent = kind === 'tampered' ? { ...args, reason: 'tampered', auth } : { ...args, auth };
  const raw = kind === 'unsigned' ? args : sent;
  return reasonOf(() =>
    verifyCommand({ cmd: 'requestKill', workflowId: WF, raw, keys, target: session, nowMs, nonces }),
  );
}

const argsArb = fc.record({
  killId: fc.string({ minLength: 1, maxLength: 20 }),
  agentDid: fc.string({ minLength: 1, maxLength: 40 }),
  reason: fc.constantFrom('manual', 'ring_breach'),
  details: fc.option(fc.string({ maxLength: 64 }), { nil: undefined }),
  n: fc.integer(),
});
const strip = (a: Record<string, unknown>) => JSON.parse(JSON.stringify(a)) as Record<string, unknown>;

describe('signed operator commands', () => {
  it('accepts 100 % of valid commands from a session operator or an admin', () => {
    fc.assert(
      fc.property(argsArb, fc.boolean(), (args, byAdmin) => {
        expect(attempt('valid', strip(args), byAdmin ? admin : sessionOp)).toBe('accepted');
      }),
      { seed: 13, numRuns: 300 },
    );
  });

  it('refuses 100 % of forged, misdirected, stale or replayed commands', () => {
    const forgeries = fc.constantFrom<Forgery>(
      'unsigned',
      'wrong_key',
      'unknown_key',
      'non_operator',
      'wrong_workflow',
      'expired',
      'replayed',
      'future',
      'too_long',
      'tampered',
    );
    fc.assert(
      fc.property(argsArb, forgeries, fc.boolean(), (args, kind, byAdmin) => {
        expect(attempt(kind, strip(args), byAdmin ? admin : sessionOp)).not.toBe('accepted');
      }),
      { seed: 13, numRuns: 1_000 },
    );
  });

  it('names the reason of each refusal', () => {
    const args = { killId: 'k', agentDid: 'did:a', reason: 'manual' };
    expect(attempt('unsigned', args, admin)).toBe('unsigned');
    expect(attempt('wrong_key', args, admin)).toBe('bad_signature');
    expect(attempt('unknown_key', args, admin)).toBe('unknown_key');
    expect(attempt('non_operator', args, admin)).toBe('not_an_operator');
    expect(attempt('wrong_workflow', args, admin)).toBe('bad_signature');
    expect(attempt('expired', args, admin)).toBe('expired');
    expect(attempt('replayed', args, admin)).toBe('replayed');
    expect(attempt('future', args, admin)).toBe('not_yet_valid');
    expect(attempt('too_long', args, admin)).toBe('lifetime_too_long');
  });

  it('refuses a revoked key from its revocation on', () => {
    const args = { agentDid: 'did:a' };
    const auth = signCommand({ signer: revoked, cmd: 'x', workflowId: WF, args, nowMs: NOW, nonce: nonce() });
    const check = (nowMs: number) =>
      reasonOf(() =>
        verifyCommand({
          cmd: 'x',
          workflowId: WF,
          raw: { ...args, auth },
          keys: withRevoked,
          target: session,
          nowMs,
          nonces: {},
        }),
      );
    expect(check(NOW)).toBe('accepted');
    expect(check(NOW + 1_000)).toBe('revoked_key');
  });

  it('makes the signer the actor and refuses a command in someone else’s name', () => {
    const signer = { did: 'did:op:admin', kid: admin.kid, role: 'admin' as const, sig: '', nonce: 'n', exp: 1 };
    expect(withActor({ agentDid: 'a' }, 'authorizedBy', signer)).toEqual({
      agentDid: 'a',
      authorizedBy: 'did:op:admin',
    });
    expect(reasonOf(() => withActor({ authorizedBy: 'did:op:creator' }, 'authorizedBy', signer))).toBe(
      'actor_mismatch',
    );
  });

  it('forgets nonces once their command has expired', () => {
    const book = rememberNonce({ old: NOW - 1, live: NOW + 10 }, { nonce: 'new', exp: NOW + 20 }, NOW);
    expect(book).toEqual({ live: NOW + 10, new: NOW + 20 });
  });
});
