import { createPrivateKey, createPublicKey, generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import {
  internalKeyId,
  internalMessageText,
  trustAnchorsOf,
  type InternalAuth,
  type TrustAnchor,
} from '../domain/internal-signature.js';
import { ConfigError } from './config.js';
import { readPrivateKeyFile, type KeyFilePolicy } from './key-file.js';

/*
 * The node:crypto half of internal-message signing (domain/internal-signature.ts is the workflow half). Only activities
 * hold the private key; workflows get the public keys through the `internalTrustAnchors` local activity.
 */

/** The raw 32-byte public key of an Ed25519 key, hex (the JWK `x`). */
function rawPublicKeyHex(key: KeyObject): string {
  const x = key.export({ format: 'jwk' }).x;
  if (!x) throw new ConfigError('the internal key has no Ed25519 public part');
  return Buffer.from(x, 'base64url').toString('hex');
}

/** Signs internal messages for the workflows that receive them; knows which public keys those workflows accept. */
export interface InternalSigner {
  kid: string;
  /** The raw public key, hex. */
  publicKey: string;
  /** The keys a workflow accepts: this one first, then the previous ones still accepted during a rotation. */
  anchors: TrustAnchor[];
  /** The `auth` of a `name` message for the workflow `target`, signed now. */
  sign(name: string, target: string, body: unknown, nowMs?: number): InternalAuth;
}

/**
 * A signer from an Ed25519 private key (PKCS#8 PEM) and the previous public keys still accepted (hex, raw 32 bytes).
 * Any other key type is refused.
 */
export function internalSignerFromPem(privatePem: string, previousPublicKeys: readonly string[] = []): InternalSigner {
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey(privatePem);
  } catch (err) {
    throw new ConfigError(`the internal signing key cannot be read: ${(err as Error).message}`);
  }
  if (privateKey.asymmetricKeyType !== 'ed25519')
    throw new ConfigError(`the internal signing key must be Ed25519, not ${privateKey.asymmetricKeyType ?? 'unknown'}`);
  const publicKey = rawPublicKeyHex(createPublicKey(privateKey));
  const kid = internalKeyId(publicKey);
  return {
    kid,
    publicKey,
    anchors: trustAnchorsOf([publicKey, ...previousPublicKeys]),
    sign(name, target, body, nowMs = Date.now()) {
      // The receiver sees the body after a JSON round trip (undefined members gone): sign exactly that.
      const plain: unknown = JSON.parse(JSON.stringify(body ?? null));
      const text = internalMessageText(name, target, plain, nowMs);
      return { kid, iat: nowMs, sig: sign(null, Buffer.from(text, 'utf8'), privateKey).toString('hex') };
    },
  };
}

/** The previous public keys of `HV_INTERNAL_ACCEPTED_KEYS`: comma- or space-separated hex. */
export function parseAcceptedKeys(text: string | undefined): string[] {
  const keys = (text ?? '').split(/[\s,]+/).filter((k) => k.length > 0);
  for (const key of keys)
    if (!/^[0-9a-f]{64}$/i.test(key))
      throw new ConfigError(`HV_INTERNAL_ACCEPTED_KEYS: ${key} is not a raw Ed25519 public key (64 hex digits)`);
  return keys.map((k) => k.toLowerCase());
}

/**
 * The internal signer configured by `HV_INTERNAL_SIGNING_KEY` (PEM text) or `HV_INTERNAL_SIGNING_KEY_FILE`, with the
 * previous keys of `HV_INTERNAL_ACCEPTED_KEYS`. The worker cannot run without one: every workflow it runs refuses
 * unsigned internal messages, so a `ConfigError` says how to get a key. A key file that group or others can access is
 * refused (`InsecureKeyFileError`) unless the policy allows it.
 */
export function loadInternalSigner(
  env: { HV_INTERNAL_SIGNING_KEY?: string; HV_INTERNAL_SIGNING_KEY_FILE?: string; HV_INTERNAL_ACCEPTED_KEYS?: string },
  policy: KeyFilePolicy,
): InternalSigner {
  const previous = parseAcceptedKeys(env.HV_INTERNAL_ACCEPTED_KEYS);
  if (env.HV_INTERNAL_SIGNING_KEY) return internalSignerFromPem(env.HV_INTERNAL_SIGNING_KEY, previous);
  if (env.HV_INTERNAL_SIGNING_KEY_FILE)
    return internalSignerFromPem(
      readPrivateKeyFile('HV_INTERNAL_SIGNING_KEY_FILE', env.HV_INTERNAL_SIGNING_KEY_FILE, policy),
      previous,
    );
  throw new ConfigError(
    'HV_INTERNAL_SIGNING_KEY or HV_INTERNAL_SIGNING_KEY_FILE is required: the Ed25519 key (PKCS#8 PEM) every worker ' +
      'signs internal messages with (generate one with `openssl genpkey -algorithm ed25519`; `npm run dev` makes one ' +
      'in .data/)',
  );
}

/** A fresh internal key pair: the private key as PKCS#8 PEM, the public key raw (hex). */
export function generateInternalKey(): { privatePem: string; publicKey: string } {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return {
    privatePem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    publicKey: rawPublicKeyHex(publicKey),
  };
}

/** The signer an activity was given; an activity that sends internal messages cannot do without one. */
export function internalSigner(deps: { internal?: InternalSigner | undefined }): InternalSigner {
  if (!deps.internal) throw new Error('this worker has no internal signing key (HV_INTERNAL_SIGNING_KEY)');
  return deps.internal;
}
