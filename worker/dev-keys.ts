import { existsSync } from 'node:fs';
import { chmod, mkdir, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { generateSigningKeyPem } from '../store/audit-crypto.js';
import { generateInternalKey } from '../store/internal-crypto.js';
import { devAuditPaths } from '../store/paths.js';

/** The dev key pair's files; `tightenedFrom` is the mode an existing private key had before it was made owner-only. */
export interface DevSigningKey {
  privateKey: string;
  publicKey: string;
  created: boolean;
  tightenedFrom?: number;
}

/**
 * Development convenience: a local Ed25519 key pair, generated on first run, so commitments and checkpoints are
 * signed out of the box and `hv audit verify` can check them. Production sets `HV_AUDIT_SIGNING_KEY(_FILE)` from a
 * secret instead. The private key is written owner-only (0600), as the worker requires of every key file.
 */
export async function ensureDevSigningKey(env: NodeJS.ProcessEnv = process.env): Promise<DevSigningKey> {
  const paths = devAuditPaths(env);
  if (existsSync(paths.privateKey)) {
    // The dev key is this project's own file: one that group or others can read (copied, unpacked from an archive)
    // is made owner-only rather than refused, so `npm run dev` keeps working.
    const mode = (await stat(paths.privateKey)).mode & 0o777;
    if ((mode & 0o077) === 0) return { ...paths, created: false };
    await chmod(paths.privateKey, 0o600);
    return { ...paths, created: false, tightenedFrom: mode };
  }
  const { privatePem, publicPem } = generateSigningKeyPem();
  await mkdir(path.dirname(paths.privateKey), { recursive: true });
  // `wx`: never overwrite a key another process created meanwhile; the mode only applies to a file being created.
  await writeFile(paths.privateKey, privatePem, { mode: 0o600, flag: 'wx' });
  await writeFile(paths.publicKey, publicPem);
  return { ...paths, created: true };
}

/**
 * Development convenience: the internal key every workflow's messages are signed with (docs/DESIGN.md §3.5), generated
 * on first run, owner-only. Production sets `HV_INTERNAL_SIGNING_KEY(_FILE)` from a secret shared by its workers.
 */
export async function ensureDevInternalKey(
  env: NodeJS.ProcessEnv = process.env,
): Promise<{ file: string; created: boolean; tightenedFrom?: number }> {
  const file = devAuditPaths(env).internalKey;
  if (existsSync(file)) {
    const mode = (await stat(file)).mode & 0o777;
    if ((mode & 0o077) === 0) return { file, created: false };
    await chmod(file, 0o600);
    return { file, created: false, tightenedFrom: mode };
  }
  await mkdir(path.dirname(file), { recursive: true });
  await writeFile(file, generateInternalKey().privatePem, { mode: 0o600, flag: 'wx' });
  return { file, created: true };
}
