import path from 'node:path';
import type { BundleOptions } from '@temporalio/worker';
import { projectRoot } from '../store/paths.js';
import { workflowsPath } from './paths.js';

/** The module that makes `domain/` shared by every workflow of the worker (see its comment). */
export const sharedModulesPath = path.join(projectRoot, 'workflows', 'shared-modules.ts');

/** How the workflow bundle is built, by the worker at start-up and by every pre-built bundle (tests, bench). */
export function workflowBundleOptions(): Pick<BundleOptions, 'workflowsPath' | 'preloadModules'> {
  return { workflowsPath, preloadModules: [sharedModulesPath] };
}
