import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { DefaultLogger, bundleWorkflowCode } from '@temporalio/worker';
import type { TestProject } from 'vitest/node';
import { generateInternalKey } from '../../store/internal-crypto.js';
import { runMigrations } from '../../store/migrate.js';
import { workflowBundleOptions } from '../../worker/bundle.js';
import { startEmbeddedPostgres } from '../../worker/postgres.js';
import { freePort } from '../../worker/processes.js';
import { resolveTemporalCli } from '../../worker/temporal-cli.js';
import { startTemporalDevServer } from '../../worker/temporal-dev-server.js';

declare module 'vitest' {
  export interface ProvidedContext {
    temporalAddress: string;
    databaseUrl: string;
    workflowBundlePath: string;
  }
}

/**
 * One real Temporal dev server, one throwaway PostgreSQL and one workflow bundle for the whole run. Each test then
 * uses its own task queue and ids, so files can run in parallel against the shared servers.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const root = await mkdtemp(path.join(tmpdir(), 'hv-test-'));
  // PostgreSQL runs as the `postgres` user when we are root; it must be able to reach its data directory.
  await chmod(root, 0o755);
  const log = (line: string) => console.log(`[test-setup] ${line}`);
  // One internal key for the run: test workers (in-process and spawned, which inherit the environment) all hold it.
  process.env.HV_INTERNAL_SIGNING_KEY ??= generateInternalKey().privatePem;

  const [server, postgres, bundle] = await Promise.all([
    (async () =>
      startTemporalDevServer({
        cli: await resolveTemporalCli({ log }),
        port: await freePort(),
        stateDir: path.join(root, 'temporal'),
        // Sessions must survive continue-as-new; a low threshold makes the real server suggest it in tests.
        dynamicConfig: { 'limit.historyCount.suggestContinueAsNew': 400 },
        log,
      }))(),
    (async () =>
      startEmbeddedPostgres({
        dataDir: path.join(root, 'pg', 'data'),
        port: await freePort(),
        persistent: false,
        log,
      }))(),
    bundleWorkflowCode({ ...workflowBundleOptions(), logger: new DefaultLogger('WARN') }),
  ]);
  await runMigrations(postgres.url);
  const workflowBundlePath = path.join(root, 'workflow-bundle.js');
  await writeFile(workflowBundlePath, bundle.code);

  project.provide('temporalAddress', server.address);
  project.provide('databaseUrl', postgres.url);
  project.provide('workflowBundlePath', workflowBundlePath);

  return async () => {
    await Promise.allSettled([server.stop(), postgres.stop()]);
    await rm(root, { recursive: true, force: true });
  };
}
