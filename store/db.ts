/**
 * `store/` is the node-side persistence layer: every SQL reader and writer (one file per topic), the migration runner,
 * the checkpoint sink, and the audit key material and paths that the worker's activities and the `hv` CLI both need.
 * It imports only `domain/` (plus pg, node-pg-migrate and Node built-ins), so activities stay thin Temporal-facing
 * wrappers and the CLI reads the database without reaching into `activities/` or `worker/`. Readers return facts;
 * decisions about them (standing verdicts, slash cascades) are `domain/` functions. The direction is enforced by the
 * `no-restricted-imports` blocks in eslint.config.js.
 */
import pg from 'pg';

/** The process's connection pool. */
export type Pool = pg.Pool;
/** One checked-out connection, e.g. inside {@link withTransaction}. */
export type PoolClient = pg.PoolClient;
/** What a reader needs: a pool or a client already in a transaction. */
export type Queryable = Pick<pg.Pool, 'query'>;

/** The process's one pool: every activity shares it, so `max` bounds the connections a worker holds. */
export function createPool(databaseUrl: string, max = 10): pg.Pool {
  const pool = new pg.Pool({ connectionString: databaseUrl, max });
  // An idle client losing its connection must not crash the process; the next query reconnects.
  pool.on('error', () => undefined);
  return pool;
}

/** Runs `fn` in one transaction: COMMIT when it resolves, ROLLBACK when it throws. */
export async function withTransaction<T>(pool: pg.Pool, fn: (tx: pg.PoolClient) => Promise<T>): Promise<T> {
  const tx = await pool.connect();
  let ok = false;
  try {
    await tx.query('BEGIN');
    const out = await fn(tx);
    ok = true;
    return out;
  } finally {
    try {
      await tx.query(ok ? 'COMMIT' : 'ROLLBACK');
    } finally {
      tx.release();
    }
  }
}

/** True when the database answers a trivial query; used by `/readyz`. */
export async function databaseReachable(pool: pg.Pool): Promise<boolean> {
  try {
    await pool.query('SELECT 1');
    return true;
  } catch {
    return false;
  }
}
