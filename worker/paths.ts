import { homedir } from 'node:os';
import path from 'node:path';
import { projectRoot } from '../store/paths.js';

/**
 * Cache shared by every checkout and every run on this machine (dev, tests, CI): built tools live here, never in the
 * repository. `HV_CACHE_DIR` overrides it; otherwise the XDG cache directory is used.
 */
export function cacheDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.HV_CACHE_DIR) return path.resolve(env.HV_CACHE_DIR);
  const xdg = env.XDG_CACHE_HOME ? path.resolve(env.XDG_CACHE_HOME) : path.join(homedir(), '.cache');
  return path.join(xdg, 'agent-hypervisor');
}

/** The workflow entry point the worker bundles. */
export const workflowsPath = path.join(projectRoot, 'workflows', 'index.ts');
