import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { WorkerDeploymentOptions } from '@temporalio/worker';
import { distDir, projectRoot } from '../store/paths.js';

/**
 * What build a worker runs: the package version and the git commit, joined into the build id that the worker gives
 * Temporal (its deployment version), reports on `/healthz`, in `hypervisor_build_info` and in its start log.
 * `npm run build` bakes it into `dist/build-info.json`; `HV_BUILD_ID` overrides it at run time.
 */
export interface BuildInfo {
  version: string;
  gitSha: string;
  buildId: string;
}

export const buildInfoPath = path.join(distDir, 'build-info.json');

/**
 * The build id of this checkout: `<version>+<sha>` (semver build metadata). The sha is `HV_GIT_SHA` (a Docker build
 * has no .git: pass `--build-arg GIT_SHA=$(git rev-parse --short=12 HEAD)`) or `git rev-parse`, else `unknown`.
 */
export function computeBuildInfo(env: NodeJS.ProcessEnv = process.env): BuildInfo {
  const pkg = JSON.parse(readFileSync(path.join(projectRoot, 'package.json'), 'utf8')) as { version: string };
  const git = spawnSync('git', ['rev-parse', '--short=12', 'HEAD'], { cwd: projectRoot, encoding: 'utf8' });
  const gitSha = env.HV_GIT_SHA || (git.status === 0 ? git.stdout.trim() : '') || 'unknown';
  return { version: pkg.version, gitSha, buildId: `${pkg.version}+${gitSha}` };
}

/**
 * The running build: `HV_BUILD_ID` when set; the baked `dist/build-info.json` when this code runs compiled; from the
 * TypeScript sources (dev loop, tests), the checkout's own, marked `-src` since uncommitted edits may be in it.
 */
export function currentBuildInfo(env: NodeJS.ProcessEnv = process.env): BuildInfo {
  const compiled = import.meta.url.endsWith('.js');
  const info: BuildInfo =
    compiled && existsSync(buildInfoPath)
      ? (JSON.parse(readFileSync(buildInfoPath, 'utf8')) as BuildInfo)
      : ((b) => ({ ...b, buildId: `${b.buildId}-src` }))(computeBuildInfo(env));
  return env.HV_BUILD_ID ? { ...info, buildId: env.HV_BUILD_ID } : info;
}

/**
 * The worker's Temporal deployment options: always its version (deployment name + build id, which the server records
 * on every task it completes); versioning itself only with `HV_WORKER_VERSIONING`. Workflows then default to
 * AUTO_UPGRADE: a session lives for hours and moves to the promoted version at its next task, so workflow code still
 * changes only behind `patched()` and the replay test guards it; what versioning adds is that a new build takes no
 * task before it is promoted, and a rollback is re-promoting the previous build id.
 */
export function deploymentOptions(
  env: { HV_WORKER_DEPLOYMENT_NAME: string; HV_WORKER_VERSIONING: boolean },
  build: BuildInfo,
): WorkerDeploymentOptions {
  const version = { deploymentName: env.HV_WORKER_DEPLOYMENT_NAME, buildId: build.buildId };
  return env.HV_WORKER_VERSIONING
    ? { version, useWorkerVersioning: true, defaultVersioningBehavior: 'AUTO_UPGRADE' }
    : { version, useWorkerVersioning: false };
}
