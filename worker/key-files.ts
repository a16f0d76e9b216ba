import { temporalClientKeyFile } from '../client/connection.js';
import { loadSigner, type AuditSigner } from '../store/audit-crypto.js';
import { loadInternalSigner, type InternalSigner } from '../store/internal-crypto.js';
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
 * The worker's private keys, before anything connects: loads the audit signer and the internal signer (required) and checks the mode of every other
 * private key file a library will read (the Temporal mTLS client key, the Postgres `sslkey`). A file that group or
 * others can access stops the start-up with an `InsecureKeyFileError` naming it, unless `HV_ALLOW_INSECURE_KEY_FILE`
 * is set, in which case each one is only warned about.
 */
export function loadWorkerKeys(
  env: WorkerEnv,
  warn: (line: string) => void,
  processEnv: NodeJS.ProcessEnv = process.env,
): { signer: AuditSigner | null; internal: InternalSigner } {
  const policy: KeyFilePolicy = { allowInsecure: env.HV_ALLOW_INSECURE_KEY_FILE, warn };
  const signer = loadSigner(env, policy);
  const internal = loadInternalSigner(env, policy);
  const temporalKey = temporalClientKeyFile(processEnv);
  if (temporalKey) checkPrivateKeyFile(temporalKey.source, temporalKey.file, policy);
  for (const variable of ['DATABASE_URL', 'DATABASE_MIGRATION_URL'] as const) {
    const url = env[variable];
    const databaseKey = url ? postgresKeyFile(url) : null;
    if (databaseKey) checkPrivateKeyFile(`${variable} sslkey`, databaseKey, policy);
  }
  return { signer, internal };
}
