import { ErrorType } from '../../domain/errors.js';
import { devDatabaseUrl } from '../../store/config.js';
import { createPool, type Pool } from '../../store/db.js';
import { operatorKeyPath, readOperatorKeyFile, signerOf } from '../../store/operator-key.js';
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
  const keyPath = operatorKeyPath();
  const operator = keyPath ? signerOf(await readOperatorKeyFile(keyPath)) : undefined;
  const hv = await HypervisorClient.connect({ operator });
  try {
    return await fn(hv);
  } finally {
    await hv.close();
  }
}

export const withSession = <T>(sessionId: string, fn: (session: SessionHandle, hv: HypervisorClient) => Promise<T>) =>
  withClient((hv) => fn(hv.session(sessionId), hv));
