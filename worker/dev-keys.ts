import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { generateSigningKeyPem } from '../activities/audit-signing.js';
import { dataDir } from './paths.js';

/** Where `npm run dev` keeps its audit signing key pair and its checkpoint directory. */
export const devAuditPaths = (env: NodeJS.ProcessEnv = process.env) => ({
  privateKey: path.join(dataDir(env), 'audit-signing-key.pem'),
  publicKey: path.join(dataDir(env), 'audit-signing-key.pub.pem'),
  checkpoints: path.join(dataDir(env), 'checkpoints'),
});

/**
 * Development convenience: a local Ed25519 key pair, generated on first run, so commitments and checkpoints are
 * signed out of the box and `hv audit verify` can check them. Production sets `HV_AUDIT_SIGNING_KEY(_FILE)` from a
 * secret instead.
 */
export async function ensureDevSigningKey(): Promise<{ privateKey: string; publicKey: string; created: boolean }> {
  const paths = devAuditPaths();
  if (existsSync(paths.privateKey)) return { ...paths, created: false };
  const { privatePem, publicPem } = generateSigningKeyPem();
  await mkdir(path.dirname(paths.privateKey), { recursive: true });
  await writeFile(paths.privateKey, privatePem, { mode: 0o600 });
  await writeFile(paths.publicKey, publicPem);
  return { ...paths, created: true };
}
