import { existsSync } from 'node:fs';
import path from 'node:path';
import type { BundleOptions } from '@temporalio/worker';
import { distDir, projectRoot } from '../store/paths.js';
import { workflowsPath } from './paths.js';

/** The module that makes `domain/` shared by every workflow of the worker (see its comment). */
export const sharedModulesPath = path.join(projectRoot, 'workflows', 'shared-modules.ts');

/** How the workflow bundle is built, by the worker at start-up and by every pre-built bundle (tests, bench). */
export function workflowBundleOptions(): Pick<BundleOptions, 'workflowsPath' | 'preloadModules'> {
  return { workflowsPath, preloadModules: [sharedModulesPath] };
}

/** The workflow bundle `npm run build` writes next to the compiled code. */
export const prebuiltBundlePath = path.join(distDir, 'workflow-bundle.js');

/**
 * The pre-built bundle the worker loads instead of bundling at start-up: `HV_WORKFLOW_BUNDLE` when set, otherwise
 * {@link prebuiltBundlePath} when this code runs compiled from `dist/` (the sources may not even be there). Run from
 * the TypeScript sources (tsx, the dev loop), the worker bundles the current sources so edits are never stale.
 */
export function workflowBundlePath(env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (env.HV_WORKFLOW_BUNDLE) return env.HV_WORKFLOW_BUNDLE;
  const compiled = import.meta.url.endsWith('.js');
  return compiled && existsSync(prebuiltBundlePath) ? prebuiltBundlePath : undefined;
}
