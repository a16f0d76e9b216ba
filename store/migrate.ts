import { runner } from 'node-pg-migrate';
import { migrationsDir } from './paths.js';

/** node-pg-migrate's bookkeeping table. */
export const MIGRATIONS_TABLE = 'hv_migrations';

/**
 * Applies pending migrations from `migrations/` with node-pg-migrate. Its advisory lock makes concurrent starts (N
 * worker replicas) safe: one applies, the others wait and then find nothing to do.
 */
export async function runMigrations(
  databaseUrl: string,
  log: (line: string) => void = () => undefined,
): Promise<string[]> {
  const applied = await runner({
    databaseUrl,
    dir: migrationsDir,
    direction: 'up',
    migrationsTable: MIGRATIONS_TABLE,
    singleTransaction: true,
    advisoryLockMode: 'wait',
    log: () => undefined,
  });
  for (const migration of applied) log(`applied migration ${migration.name}`);
  return applied.map((migration) => migration.name);
}
