import { homedir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root (this file lives in `<root>/worker/`). */
export const projectRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/**
 * Cache shared by every checkout and every run on this machine (dev, tests, CI): built tools live here, never in the
 * repository. `HV_CACHE_DIR` overrides it; otherwise the XDG cache directory is used.
 */
export function cacheDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.HV_CACHE_DIR) return path.resolve(env.HV_CACHE_DIR);
  const xdg = env.XDG_CACHE_HOME ? path.resolve(env.XDG_CACHE_HOME) : path.join(homedir(), '.cache');
  return path.join(xdg, 'agent-hypervisor');
}

/** Persistent state of `npm run dev` (Temporal SQLite file, Postgres data directory, logs). */
export function dataDir(env: NodeJS.ProcessEnv = process.env): string {
  return env.HV_DATA_DIR ? path.resolve(env.HV_DATA_DIR) : path.join(projectRoot, '.data');
}

export const workflowsPath = path.join(projectRoot, 'workflows', 'index.ts');
export const migrationsDir = path.join(projectRoot, 'migrations');
