import { testAdminBootstrap } from './operators.js';
import { spawn, type ChildProcess } from 'node:child_process';
import { inject } from 'vitest';
import { projectRoot } from '../../store/paths.js';
import { freePort } from '../../worker/processes.js';
import { testCheckpointDir, testInternalKeyPem, testPrivateKeyPem } from './audit.js';
import { eventually } from './session.js';

/** The production worker entry point as its own process, in its own process group so it can be killed outright. */
export async function spawnWorker(taskQueue: string, env: Record<string, string> = {}): Promise<ChildProcess> {
  const httpPort = await freePort();
  const child = spawn(process.execPath, ['--import', 'tsx', 'worker/main.ts'], {
    cwd: projectRoot,
    detached: true,
    stdio: ['ignore', 'ignore', 'inherit'],
    env: {
      ...process.env,
      TEMPORAL_ADDRESS: inject('temporalAddress'),
      DATABASE_URL: inject('databaseUrl'),
      TEMPORAL_TASK_QUEUE: taskQueue,
      HV_WORKFLOW_BUNDLE: inject('workflowBundlePath'),
      HV_HTTP_HOST: '127.0.0.1',
      HV_HTTP_PORT: String(httpPort),
      HV_SDK_METRICS_PORT: String(await freePort()),
      HV_MIGRATE_ON_START: 'false',
      HV_AUDIT_RETENTION_SCHEDULE: 'false',
      HV_AUDIT_SIGNING_KEY: testPrivateKeyPem,
      HV_INTERNAL_SIGNING_KEY: testInternalKeyPem,
      HV_CHECKPOINT_SINK: testCheckpointDir,
      HV_LOG_LEVEL: 'ERROR',
      HV_OPERATOR_BOOTSTRAP_KEY: testAdminBootstrap,
      ...env,
    },
  });
  await eventually(
    () =>
      fetch(`http://127.0.0.1:${httpPort}/readyz`).then(
        (res) => res.status,
        () => 0,
      ),
    (status) => status === 200,
    60_000,
  );
  return child;
}

/** Kills a worker started by {@link spawnWorker} outright (SIGKILL to its process group) and waits for it to exit. */
export async function killWorker(child: ChildProcess): Promise<void> {
  const exited = new Promise((resolve) => child.once('exit', resolve));
  process.kill(-child.pid!, 'SIGKILL');
  await exited;
}
