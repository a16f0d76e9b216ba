import { temporalClientKeyFile } from '../client/connection.js';
import { loadSigner, type AuditSigner } from '../store/audit-crypto.js';
import { checkPrivateKeyFile, type KeyFilePolicy } from '../store/key-file.js';
import type { WorkerEnv } from './config.js';

/** The `sslkey` file that node-postgres reads for a connection string, if it names one. */
function postgresKeyFile(url: string): string | null {
  try {
    return new URL(url).searchParams.get('sslkey');
  } catch {
    return null;
  }
}

/**
 * The worker's private keys, before anything connects: loads the audit signer and checks the mode of every other
 * private key file a library will read (the Temporal mTLS client key, the Postgres `sslkey`). A file that group or
 * others can access stops the start-up with an `InsecureKeyFileError` naming it, unless `HV_ALLOW_INSECURE_KEY_FILE`
 * is set, in which case each one is only warned about.
 */
export function loadWorkerKeys(
  env: WorkerEnv,
  warn: (line: string) => void,
  processEnv: NodeJS.ProcessEnv = process.env,
): { signer: AuditSigner | null } {
  const policy: KeyFilePolicy = { allowInsecure: env.HV_ALLOW_INSECURE_KEY_FILE, warn };
  const signer = loadSigner(env, policy);
  const temporalKey = temporalClientKeyFile(processEnv);
  if (temporalKey) checkPrivateKeyFile(temporalKey.source, temporalKey.file, policy);
  const databaseKey = postgresKeyFile(env.DATABASE_URL);
  if (databaseKey) checkPrivateKeyFile('DATABASE_URL sslkey', databaseKey, policy);
  return { signer };
}
