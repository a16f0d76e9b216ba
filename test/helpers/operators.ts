import { randomBytes } from 'node:crypto';
import { AgentDid } from '../../domain/identifiers.js';
import { publicKeyOf, type OperatorSigner } from '../../domain/operator-command.js';
import { kidOf, type OperatorEntry, type OperatorRole } from '../../domain/operators.js';
import type { OperatorKeyring } from '../../client/operator-signing.js';
import { writeOperatorDirectory } from '../../store/operators.js';
import { testPool } from './audit.js';

/** A fresh operator key for `did` (not registered anywhere). */
export function newOperatorKey(did: string): OperatorSigner {
  const privateKey = randomBytes(32).toString('hex');
  return { did, kid: kidOf(publicKeyOf(privateKey)), privateKey };
}

/** The directory entry of a signer's key. */
export const operatorEntry = (signer: OperatorSigner, role: OperatorRole): OperatorEntry => ({
  did: signer.did,
  role,
  keys: [{ kid: signer.kid, publicKey: publicKeyOf(signer.privateKey), addedAtMs: 0, revokedAtMs: null }],
});

/** The bootstrap admin of every test worker in this process (what `HV_OPERATOR_BOOTSTRAP_KEY` gives a real one). */
export const testAdmin = newOperatorKey('did:hv:test-admin');
export const testAdminEntry = operatorEntry(testAdmin, 'admin');
/** `HV_OPERATOR_BOOTSTRAP_KEY` for worker processes spawned by tests. */
export const testAdminBootstrap = `${testAdmin.did}=${publicKeyOf(testAdmin.privateKey)}`;

/** Registers a key in the registry's Postgres mirror (the trusted store workflows load their directory from). */
export async function registerTestOperator(did: string, role: OperatorRole = 'operator'): Promise<OperatorSigner> {
  const signer = newOperatorKey(did);
  await writeOperatorDirectory(testPool(), { operators: [operatorEntry(signer, role)] });
  return signer;
}

const registered = new Map<string, Promise<OperatorSigner>>();

/**
 * The keyring of test clients: the test admin for commands that name nobody, and for a command in another DID's name
 * (tests authorize as `did:mesh:sre`, approve as the creator) a key registered for that DID as an admin on first use,
 * so tests of other behaviour go through the same signing path as real operators. Operator authority itself is
 * tested with real roles in test/workflows/operator-authority.test.ts.
 */
export const testKeyring: OperatorKeyring = {
  signerFor(did) {
    if (did === undefined || did === testAdmin.did) return testAdmin;
    if (!AgentDid.safeParse(did).success) return undefined;
    let signer = registered.get(did);
    if (!signer) {
      signer = registerTestOperator(did, 'admin');
      registered.set(did, signer);
    }
    return signer;
  },
};
