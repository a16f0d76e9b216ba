import { randomBytes } from 'node:crypto';
import { existsSync, statSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { AgentDid } from '../domain/identifiers.js';
import { publicKeyOf, type OperatorSigner } from '../domain/operator-command.js';
import { kidOf } from '../domain/operators.js';
import { parseInput } from '../domain/validation.js';
import { dataDir } from './paths.js';

/**
 * An operator's signing key file (docs/DESIGN.md §13): JSON `{did, kid, publicKey, privateKey}`, the private key a
 * 32-byte Ed25519 seed in hex, written owner-only (0600). `hv` signs control commands with it (`HV_OPERATOR_KEY`).
 */
const OperatorKeyFile = z.strictObject({
  did: AgentDid,
  kid: z.string().min(1),
  publicKey: z.string().length(64),
  privateKey: z.string().length(64),
});
export type OperatorKeyFile = z.infer<typeof OperatorKeyFile>;

/** The key `npm run dev` generates and `hv` uses by default in dev. */
export const devOperatorKeyPath = (env: NodeJS.ProcessEnv = process.env): string =>
  path.join(dataDir(env), 'operator-key.json');

/** The dev operator's DID: the operator of the README walk-through, so its commands are signed in its own name. */
export const DEV_OPERATOR_DID = 'did:mesh:operator';

/** `HV_OPERATOR_KEY`, else the dev key when it exists, else none. */
export function operatorKeyPath(env: NodeJS.ProcessEnv = process.env): string | null {
  if (env.HV_OPERATOR_KEY) return path.resolve(env.HV_OPERATOR_KEY);
  const dev = devOperatorKeyPath(env);
  return existsSync(dev) ? dev : null;
}

/** Writes a new key for `did`; never overwrites a file (`wx`). */
export async function createOperatorKeyFile(file: string, did: string): Promise<OperatorKeyFile> {
  const privateKey = randomBytes(32).toString('hex');
  const publicKey = publicKeyOf(privateKey);
  const key = { did: parseInput(AgentDid, did, 'operator DID'), kid: kidOf(publicKey), publicKey, privateKey };
  await mkdir(path.dirname(file), { recursive: true });
  await writeFile(file, `${JSON.stringify(key, null, 2)}\n`, { mode: 0o600, flag: 'wx' });
  return key;
}

/** Reads a key file; refuses one that group or others can read (a private key is its owner's alone). */
export async function readOperatorKeyFile(file: string): Promise<OperatorKeyFile> {
  const mode = statSync(file).mode & 0o777;
  if ((mode & 0o077) !== 0)
    throw new Error(`operator key ${file} can be read by others (mode ${mode.toString(8)}): chmod 600 it`);
  const key = parseInput(OperatorKeyFile, JSON.parse(await readFile(file, 'utf8')), 'operator key file');
  if (publicKeyOf(key.privateKey) !== key.publicKey || kidOf(key.publicKey) !== key.kid)
    throw new Error(`operator key ${file} is inconsistent (its public key or kid does not match its private key)`);
  return key;
}

/** The signer of a key file. */
export const signerOf = (key: OperatorKeyFile): OperatorSigner => ({
  did: key.did,
  kid: key.kid,
  privateKey: key.privateKey,
});

/** `HV_OPERATOR_BOOTSTRAP_KEY` for a key: `<did>=<public key>`. */
export const bootstrapValue = (key: Pick<OperatorKeyFile, 'did' | 'publicKey'>): string =>
  `${key.did}=${key.publicKey}`;
