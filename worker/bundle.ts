import { existsSync } from 'node:fs';
import path from 'node:path';
import type { BundleOptions } from '@temporalio/worker';
import { distDir, projectRoot } from '../store/paths.js';
import { workflowsPath } from './paths.js';

/** The module that makes `domain/` shared by every workflow of the worker (see its comment). */
export const sharedModulesPath = path.join(projectRoot, 'workflows', 'shared-modules.ts');

/** The interceptors every bundle has: replay-stable workflow tasks (see the module's comment). */
export const stableTasksPath = path.join(projectRoot, 'workflows', 'stable-tasks.ts');

/** The workflow interceptors of a traced worker: the SDK's OpenTelemetry ones and the hypervisor's span attributes. */
export const tracingInterceptorsPath = path.join(projectRoot, 'workflows', 'tracing.ts');

/**
 * How the workflow bundle is built, by the worker at start-up and by every pre-built bundle (tests, bench). Every
 * bundle has the replay-stable task interceptors; a traced one adds the OpenTelemetry workflow interceptors inside
 * them, so tracing off costs nothing.
 */
export function workflowBundleOptions(
  options: { traced?: boolean } = {},
): Pick<BundleOptions, 'workflowsPath' | 'preloadModules' | 'workflowInterceptorModules'> {
  return {
    workflowsPath,
    preloadModules: [sharedModulesPath],
    workflowInterceptorModules: options.traced ? [stableTasksPath, tracingInterceptorsPath] : [stableTasksPath],
  };
}

/** The workflow bundle `npm run build` writes next to the compiled code. */
export const prebuiltBundlePath = path.join(distDir, 'workflow-bundle.js');
/** The same with the tracing interceptors, which the worker loads when tracing is on. */
export const prebuiltTracedBundlePath = path.join(distDir, 'workflow-bundle-traced.js');

/**
 * The pre-built bundle the worker loads instead of bundling at start-up: `HV_WORKFLOW_BUNDLE` when set (built with
 * `workflowBundleOptions({ traced })` to match the worker's tracing), otherwise {@link prebuiltBundlePath} or, traced,
 * {@link prebuiltTracedBundlePath} when this code runs compiled from `dist/` (the sources may not even be there). Run
 * from the TypeScript sources (tsx, the dev loop), the worker bundles the current sources so edits are never stale.
 */
export function workflowBundlePath(env: NodeJS.ProcessEnv = process.env, traced = false): string | undefined {
  if (env.HV_WORKFLOW_BUNDLE) return env.HV_WORKFLOW_BUNDLE;
  const compiled = import.meta.url.endsWith('.js');
  const prebuilt = traced ? prebuiltTracedBundlePath : prebuiltBundlePath;
  return compiled && existsSync(prebuilt) ? prebuilt : undefined;
}
