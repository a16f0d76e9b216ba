import {
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  hash,
  sign,
  verify,
  type KeyObject,
} from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { SignatureStatus } from '../domain/audit-verify.js';
import { readPrivateKeyFile, type KeyFilePolicy } from './key-file.js';

/*
 * The node:crypto half of the audit trail. The workflow hashes with a pure-JS SHA-256 (the sandbox has no node:crypto)
 * and never sees a key; the activities that persist and sign, and the CLI that verifies, use these instead.
 */

/**
 * node:crypto's SHA-256: the same digest as the workflow's pure-JS one, for the node-side re-checks. The one-shot
 * `hash` (Node ≥ 20.12) skips the Hash object and costs about a third of `createHash().update().digest()` on a link.
 */
export const nativeSha256Hex = (text: string): string => hash('sha256', text, 'hex');

/** Signs commitments and checkpoints (Ed25519). The private key never enters a workflow: only activities hold it. */
export interface AuditSigner {
  keyId: string;
  sign(bytes: string): string;
}

/** Short fingerprint of a public key: the first 16 bytes of SHA-256 over its SPKI encoding, in hex. */
function keyIdOf(publicKey: KeyObject): string {
  return createHash('sha256')
    .update(publicKey.export({ type: 'spki', format: 'der' }))
    .digest('hex')
    .slice(0, 32);
}

/** A signer from an Ed25519 private key in PEM; any other key type is refused. */
export function signerFromPem(privatePem: string): AuditSigner {
  const privateKey = createPrivateKey(privatePem);
  if (privateKey.asymmetricKeyType !== 'ed25519')
    throw new Error(`the audit signing key must be Ed25519, not ${privateKey.asymmetricKeyType ?? 'unknown'}`);
  const keyId = keyIdOf(createPublicKey(privateKey));
  return { keyId, sign: (bytes) => sign(null, Buffer.from(bytes, 'utf8'), privateKey).toString('base64') };
}

/**
 * The signer configured by `HV_AUDIT_SIGNING_KEY` (PEM text) or `HV_AUDIT_SIGNING_KEY_FILE`, or null for none. A key
 * file that group or others can access is refused (`InsecureKeyFileError`) unless the policy allows it.
 */
export function loadSigner(
  env: { HV_AUDIT_SIGNING_KEY?: string; HV_AUDIT_SIGNING_KEY_FILE?: string },
  policy: KeyFilePolicy,
): AuditSigner | null {
  if (env.HV_AUDIT_SIGNING_KEY) return signerFromPem(env.HV_AUDIT_SIGNING_KEY);
  if (env.HV_AUDIT_SIGNING_KEY_FILE)
    return signerFromPem(readPrivateKeyFile('HV_AUDIT_SIGNING_KEY_FILE', env.HV_AUDIT_SIGNING_KEY_FILE, policy));
  return null;
}

/** A fresh Ed25519 key pair as PEM text (PKCS#8 private, SPKI public). */
export function generateSigningKeyPem(): { privatePem: string; publicPem: string } {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return {
    privatePem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    publicPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
  };
}

/** Public keys a verifier trusts, by key id. A private key PEM is accepted too (its public half is used). */
export class TrustedKeys {
  private readonly keys = new Map<string, KeyObject>();

  /** The trust set of these PEM keys; a key that is not Ed25519 is refused. */
  static fromPems(pems: readonly string[]): TrustedKeys {
    const trusted = new TrustedKeys();
    for (const pem of pems) {
      const key = pem.includes('PRIVATE KEY') ? createPublicKey(createPrivateKey(pem)) : createPublicKey(pem);
      if (key.asymmetricKeyType !== 'ed25519') throw new Error('trusted audit keys must be Ed25519 public keys');
      trusted.keys.set(keyIdOf(key), key);
    }
    return trusted;
  }

  /** How many keys are trusted. */
  get size(): number {
    return this.keys.size;
  }

  /**
   * `unsigned` when there is no signature, `unchecked` when it names a key we do not hold (it cannot be judged),
   * otherwise whether it verifies over `bytes`.
   */
  check(keyId: string | null, signature: string | null, bytes: string): SignatureStatus {
    if (!signature || !keyId) return 'unsigned';
    const key = this.keys.get(keyId);
    if (!key) return this.keys.size > 0 ? 'invalid' : 'unchecked';
    try {
      return verify(null, Buffer.from(bytes, 'utf8'), key, Buffer.from(signature, 'base64')) ? 'valid' : 'invalid';
    } catch {
      return 'invalid';
    }
  }
}

/** Reads PEM files (public or private Ed25519 keys) into a trust set. */
export async function loadTrustedKeys(files: readonly string[]): Promise<TrustedKeys> {
  return TrustedKeys.fromPems(await Promise.all(files.map((file) => readFile(file, 'utf8'))));
}
