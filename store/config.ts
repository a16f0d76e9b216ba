import { z } from 'zod';

/** The database settings every node-side process shares: the worker extends them, `hv db migrate` needs only these. */
export const DatabaseEnv = z.object({
  DATABASE_URL: z.string().regex(/^postgres(ql)?:\/\//, 'DATABASE_URL must be a postgres:// URL'),
});
export type DatabaseEnv = z.infer<typeof DatabaseEnv>;

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

/** The database settings from the environment (`DATABASE_URL`). */
export const loadDatabaseEnv = (env: NodeJS.ProcessEnv = process.env): DatabaseEnv => parseEnv(DatabaseEnv, env);

/** The port of the PostgreSQL `npm run dev` embeds (`HV_PG_PORT` moves it). */
export const devPostgresPort = (env: NodeJS.ProcessEnv = process.env): number => Number(env.HV_PG_PORT ?? 55432);

/** The database `npm run dev` embeds: what the CLI reaches when `DATABASE_URL` is not set. */
export const devDatabaseUrl = (env: NodeJS.ProcessEnv = process.env): string =>
  `postgres://hypervisor:hypervisor@127.0.0.1:${devPostgresPort(env)}/hypervisor`;
