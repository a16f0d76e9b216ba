import { temporalTarget } from '../client/connection.js';
import { ConfigError } from '../store/config.js';
import { loadWorkerEnv } from './config.js';
import { localHttpUrl } from './http.js';
import { onShutdownSignal } from './signals.js';
import { startWorker } from './worker.js';

/** Production entry point: Temporal and Postgres are external (`TEMPORAL_*`, `DATABASE_URL`). */
async function main(): Promise<void> {
  const env = loadWorkerEnv();
  const target = temporalTarget();
  const running = await startWorker(env);
  console.log(
    `hypervisor worker polling ${env.TEMPORAL_TASK_QUEUE} on ${target.address} (namespace ${target.namespace}); ` +
      `metrics and health on ${localHttpUrl(env.HV_HTTP_HOST, env.HV_HTTP_PORT)} (bound to ${env.HV_HTTP_HOST}, ` +
      'unauthenticated); ' +
      `build ${running.build.buildId}, deployment ${env.HV_WORKER_DEPLOYMENT_NAME} ` +
      `(worker versioning ${env.HV_WORKER_VERSIONING ? 'on' : 'off'})`,
  );
  onShutdownSignal(async (signal) => {
    console.log(`${signal} received: draining the worker`);
    await running.shutdown();
  });
  await running.done;
}

main().catch((err: unknown) => {
  console.error(err instanceof ConfigError ? err.message : err);
  process.exit(1);
});
