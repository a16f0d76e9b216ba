import { z } from 'zod';

const postgresUrl = (name: string) => z.string().regex(/^postgres(ql)?:\/\//, `${name} must be a postgres:// URL`);

/** The database settings every node-side process shares; the worker extends them. */
export const DatabaseEnv = z.object({
  DATABASE_URL: postgresUrl('DATABASE_URL'),
  /**
   * The role that owns the schema and applies migrations (`hypervisor_owner`, deploy/sql/roles.sql), when the role of
   * `DATABASE_URL` is the restricted runtime role, which may not. Unset: migrations run over `DATABASE_URL`.
   */
  DATABASE_MIGRATION_URL: postgresUrl('DATABASE_MIGRATION_URL').optional(),
});
export type DatabaseEnv = z.infer<typeof DatabaseEnv>;

/** Where migrations are applied: `DATABASE_MIGRATION_URL`, else `DATABASE_URL`. */
export const migrationUrl = (env: DatabaseEnv): string => env.DATABASE_MIGRATION_URL ?? env.DATABASE_URL;

/** A configuration the process cannot start with; its message lists every problem, one per line. */
export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** Parses the environment with `schema`, or throws a {@link ConfigError} naming each bad variable. */
export function parseEnv<T extends z.ZodType>(schema: T, env: NodeJS.ProcessEnv): z.output<T> {
  const result = schema.safeParse(env);
  if (result.success) return result.data;
  const problems = result.error.issues.map((issue) => `  ${issue.path.join('.')}: ${issue.message}`).join('\n');
  throw new ConfigError(`invalid worker configuration:\n${problems}`);
}

/**
 * The URL `hv db migrate` applies migrations over: `DATABASE_MIGRATION_URL`, else `DATABASE_URL` (a migration job
 * needs only the owner's URL); a `ConfigError` when neither is a postgres:// URL.
 */
export function loadMigrationUrl(env: NodeJS.ProcessEnv = process.env): string {
  const parsed = parseEnv(DatabaseEnv.partial(), env);
  const url = parsed.DATABASE_MIGRATION_URL ?? parsed.DATABASE_URL;
  if (!url) throw new ConfigError('set DATABASE_MIGRATION_URL (the owner role) or DATABASE_URL to a postgres:// URL');
  return url;
}

/** The port of the PostgreSQL `npm run dev` embeds (`HV_PG_PORT` moves it). */
export const devPostgresPort = (env: NodeJS.ProcessEnv = process.env): number => Number(env.HV_PG_PORT ?? 55432);

/** The database `npm run dev` embeds: what the CLI reaches when `DATABASE_URL` is not set. */
export const devDatabaseUrl = (env: NodeJS.ProcessEnv = process.env): string =>
  `postgres://hypervisor:hypervisor@127.0.0.1:${devPostgresPort(env)}/hypervisor`;
