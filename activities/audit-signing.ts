import {
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  sign,
  verify,
  type KeyObject,
} from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { SignatureStatus } from '../domain/audit-verify.js';

/** Signs commitments and checkpoints (Ed25519). The private key never enters a workflow: only activities hold it. */
export interface AuditSigner {
  keyId: string;
  sign(bytes: string): string;
}

/** Short fingerprint of a public key: the first 16 bytes of SHA-256 over its SPKI encoding, in hex. */
export function keyIdOf(publicKey: KeyObject): string {
  return createHash('sha256')
    .update(publicKey.export({ type: 'spki', format: 'der' }))
    .digest('hex')
    .slice(0, 32);
}

export function signerFromPem(privatePem: string): AuditSigner {
  const privateKey = createPrivateKey(privatePem);
  if (privateKey.asymmetricKeyType !== 'ed25519')
    throw new Error(`the audit signing key must be Ed25519, not ${privateKey.asymmetricKeyType ?? 'unknown'}`);
  const keyId = keyIdOf(createPublicKey(privateKey));
  return { keyId, sign: (bytes) => sign(null, Buffer.from(bytes, 'utf8'), privateKey).toString('base64') };
}

/** The signer configured by `HV_AUDIT_SIGNING_KEY` (PEM text) or `HV_AUDIT_SIGNING_KEY_FILE`, or null for none. */
export function loadSigner(
  env: { HV_AUDIT_SIGNING_KEY?: string; HV_AUDIT_SIGNING_KEY_FILE?: string } = process.env,
): AuditSigner | null {
  if (env.HV_AUDIT_SIGNING_KEY) return signerFromPem(env.HV_AUDIT_SIGNING_KEY);
  if (env.HV_AUDIT_SIGNING_KEY_FILE) return signerFromPem(readFileSync(env.HV_AUDIT_SIGNING_KEY_FILE, 'utf8'));
  return null;
}

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

  static fromPems(pems: readonly string[]): TrustedKeys {
    const trusted = new TrustedKeys();
    for (const pem of pems) {
      const key = pem.includes('PRIVATE KEY') ? createPublicKey(createPrivateKey(pem)) : createPublicKey(pem);
      if (key.asymmetricKeyType !== 'ed25519') throw new Error('trusted audit keys must be Ed25519 public keys');
      trusted.keys.set(keyIdOf(key), key);
    }
    return trusted;
  }

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
