import { spawnSync } from 'node:child_process';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { DefaultLogger, bundleWorkflowCode } from '@temporalio/worker';
import { distDir, projectRoot } from '../store/paths.js';
import { buildInfoPath, computeBuildInfo } from './build-info.js';
import { prebuiltBundlePath, prebuiltTracedBundlePath, workflowBundleOptions } from './bundle.js';

/**
 * `npm run build`: compiles the sources to `dist/` with tsc (`tsconfig.build.json`, with declarations for library
 * use) and writes the pre-built workflow bundle to `dist/workflow-bundle.js`, which the worker run from `dist/` loads
 * instead of bundling at start-up.
 */
async function main(): Promise<void> {
  const started = Date.now();
  await rm(distDir, { recursive: true, force: true });
  const tsc = spawnSync(
    process.execPath,
    [path.join(projectRoot, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json'],
    {
      cwd: projectRoot,
      stdio: 'inherit',
    },
  );
  if (tsc.status !== 0) throw new Error(`tsc exited with code ${tsc.status ?? tsc.signal}`);
  await mkdir(path.dirname(prebuiltBundlePath), { recursive: true });
  // Two bundles: the worker loads the traced one only when tracing is on, so tracing off has no interceptor at all.
  for (const [traced, file] of [
    [false, prebuiltBundlePath],
    [true, prebuiltTracedBundlePath],
  ] as const) {
    const { code } = await bundleWorkflowCode({
      ...workflowBundleOptions({ traced }),
      logger: new DefaultLogger('WARN'),
    });
    await writeFile(file, code);
  }
  const build = computeBuildInfo();
  await writeFile(buildInfoPath, `${JSON.stringify(build, null, 2)}\n`);
  const rel = (file: string) => path.relative(projectRoot, file);
  console.log(
    `built ${build.buildId}: ${rel(distDir)}/, ${rel(prebuiltBundlePath)} and ${rel(prebuiltTracedBundlePath)} ` +
      `in ${((Date.now() - started) / 1000).toFixed(1)}s`,
  );
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
