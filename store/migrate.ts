import { runner } from 'node-pg-migrate';
import { ConfigError } from './config.js';
import { migrationsDir } from './paths.js';

/** node-pg-migrate's bookkeeping table. */
export const MIGRATIONS_TABLE = 'hv_migrations';

/**
 * Migrations the database refused for want of privilege: the URL's role is a runtime role without DDL rights
 * (`hypervisor_worker`, deploy/sql/roles.sql), which must not migrate. The message says how to migrate instead.
 */
export class MigrationPrivilegeError extends ConfigError {
  override name = 'MigrationPrivilegeError';
}

/** True for PostgreSQL's insufficient_privilege (42501), also when node-pg-migrate re-wraps it as plain text. */
function refusedForPrivilege(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) {
    if ((e as { code?: unknown }).code === '42501' || /permission denied|must be owner/.test(e.message)) return true;
  }
  return false;
}

function roleOf(databaseUrl: string): string {
  try {
    return decodeURIComponent(new URL(databaseUrl).username) || 'the default role';
  } catch {
    return 'the configured role';
  }
}

/**
 * Applies pending migrations from `migrations/` with node-pg-migrate. Its advisory lock makes concurrent starts (N
 * worker replicas) safe: one applies, the others wait and then find nothing to do.
 */
export async function runMigrations(
  databaseUrl: string,
  log: (line: string) => void = () => undefined,
): Promise<string[]> {
  let applied: Awaited<ReturnType<typeof runner>>;
  try {
    applied = await runner({
      databaseUrl,
      dir: migrationsDir,
      direction: 'up',
      migrationsTable: MIGRATIONS_TABLE,
      singleTransaction: true,
      advisoryLockMode: 'wait',
      log: () => undefined,
    });
  } catch (err) {
    if (!refusedForPrivilege(err)) throw err;
    const reason = (err as Error).message.split('\n')[0];
    throw new MigrationPrivilegeError(
      `applying migrations as ${roleOf(databaseUrl)} was refused (${reason}). A runtime role such as ` +
        'hypervisor_worker (deploy/sql/roles.sql) may not migrate: set DATABASE_MIGRATION_URL to the owner role, or ' +
        'set HV_MIGRATE_ON_START=false and run `hv db migrate` as the owner.',
      { cause: err },
    );
  }
  for (const migration of applied) log(`applied migration ${migration.name}`);
  return applied.map((migration) => migration.name);
}
