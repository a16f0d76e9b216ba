import { ErrorType } from '../../domain/errors.js';
import type { Pool } from '../../store/db.js';
import { HypervisorError } from '../errors.js';
import type { HypervisorClient, SessionHandle } from '../hypervisor-client.js';

/** Exit code for a decision that was evaluated and denied (the command worked; the answer is no). */
export const EXIT_DENIED = 4;
/** Exit code when `hv audit verify` finds the chain does not verify. */
export const EXIT_AUDIT_FAILED = 6;

export const parseJson =
  (what: string) =>
  (text: string): unknown => {
    try {
      return JSON.parse(text);
    } catch {
      throw new HypervisorError(ErrorType.InvalidInput, `${what} is not valid JSON: ${text}`);
    }
  };

export const parseNumber =
  (what: string) =>
  (text: string): number => {
    const value = Number(text);
    if (text.trim() === '' || !Number.isFinite(value))
      throw new HypervisorError(ErrorType.InvalidInput, `${what} must be a number, got "${text}"`);
    return value;
  };

/** Postgres for the store-backed commands: DATABASE_URL, or the database `npm run dev` starts. */
export async function withPool<T>(fn: (pool: Pool) => Promise<T>): Promise<T> {
  // Loaded on use, like the Temporal client below: pg is not needed for `hv --help` or the Temporal commands.
  const [{ devDatabaseUrl }, { createPool }] = await Promise.all([
    import('../../store/config.js'),
    import('../../store/db.js'),
  ]);
  const pool = createPool(process.env.DATABASE_URL ?? devDatabaseUrl(), 2);
  try {
    return await fn(pool);
  } finally {
    await pool.end();
  }
}

/** One connection per command, closed whatever happens. */
export async function withClient<T>(fn: (hv: HypervisorClient) => Promise<T>): Promise<T> {
  // Loaded on use: the Temporal client (gRPC, protobufs) would otherwise slow every start, `hv --help` included.
  const { HypervisorClient } = await import('../hypervisor-client.js');
  // Control commands are signed with the operator key file (HV_OPERATOR_KEY, or the dev key of `npm run dev`).
  // Loaded with the command: the key file's reader pulls in zod and the Ed25519 code, which `hv --help` never needs.
  const { operatorKeyPath, readOperatorKeyFile, signerOf } = await import('../../store/operator-key.js');
  const keyPath = operatorKeyPath();
  const operator = keyPath ? signerOf(await readOperatorKeyFile(keyPath)) : undefined;
  // A person is waiting: an unreachable server fails after 3 s, not the SDK's 10 (HV_TEMPORAL_CONNECT_TIMEOUT_MS).
  const hv = await HypervisorClient.connect({
    operator,
    connectTimeoutMs: process.env.HV_TEMPORAL_CONNECT_TIMEOUT_MS ? undefined : 3_000,
  });
  try {
    return await fn(hv);
  } finally {
    await hv.close();
  }
}

export const withSession = <T>(sessionId: string, fn: (session: SessionHandle, hv: HypervisorClient) => Promise<T>) =>
  withClient((hv) => fn(hv.session(sessionId), hv));
