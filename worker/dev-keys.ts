import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { generateSigningKeyPem } from '../store/audit-crypto.js';
import { devAuditPaths } from '../store/paths.js';

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
