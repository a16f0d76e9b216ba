import pg from 'pg';

export type Pool = pg.Pool;
export type PoolClient = pg.PoolClient;

/** One pool per process (C12). */
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
