import type http from 'node:http';
import { Client, Connection } from '@temporalio/client';
import type { Context } from '@temporalio/activity';
import {
  DefaultLogger,
  NativeConnection,
  Runtime,
  Worker,
  makeTelemetryFilterString,
  type ActivityInboundCallsInterceptor,
  type ActivityExecuteInput,
  type Next,
  type WorkerOptions,
} from '@temporalio/worker';
import { createActivities } from '../activities/index.js';
import type { StepHandlers } from '../activities/saga-steps.js';
import { createCheckpointSink } from '../store/checkpoint-sink.js';
import { createPool, databaseReachable, type Pool } from '../store/db.js';
import { migrationUrl } from '../store/config.js';
import { runMigrations } from '../store/migrate.js';
import { devAuditPaths } from '../store/paths.js';
import { temporalTarget, type TemporalTarget } from '../client/connection.js';
import type { WorkerEnv } from './config.js';
import { startHttpServer } from './http.js';
import { auditObservers, createMetrics, registerOpenWorkflowGauges, sagaObservers, type Metrics } from './metrics.js';
import { workflowBundleOptions, workflowBundlePath } from './bundle.js';
import { ensureRetentionSchedule } from './retention-schedule.js';
import { loadWorkerKeys } from './key-files.js';
import { currentBuildInfo, deploymentOptions, type BuildInfo } from './build-info.js';
import { workerTracing, type WorkerTracing } from './tracing.js';
import { tracingClientInterceptors } from '../client/tracing.js';

let runtimeInstalled = false;

/**
 * The workflow code: the pre-built bundle (traced or not) when there is one, otherwise bundled at start-up with the
 * options every pre-built bundle uses (the workflow interceptor modules go in `interceptors.workflowModules` then).
 */
function workflowCode(traced: boolean): {
  bundling: Pick<WorkerOptions, 'workflowBundle' | 'workflowsPath' | 'bundlerOptions'>;
  workflowModules: string[];
} {
  const bundlePath = workflowBundlePath(process.env, traced);
  if (bundlePath) return { bundling: { workflowBundle: { codePath: bundlePath } }, workflowModules: [] };
  const { workflowsPath, preloadModules, workflowInterceptorModules } = workflowBundleOptions({ traced });
  return {
    bundling: { workflowsPath, bundlerOptions: { preloadModules } },
    workflowModules: workflowInterceptorModules ?? [],
  };
}

/** One lazily connected client for the activities, traced like any client when tracing is on. */
function lazyClient(target: TemporalTarget): { get: () => Promise<Client>; close: () => Promise<void> } {
  let client: Promise<Client> | undefined;
  return {
    get: () =>
      (client ??= Promise.all([Connection.connect(target.connectionOptions), tracingClientInterceptors()]).then(
        ([c, interceptors]) => new Client({ connection: c, namespace: target.namespace, interceptors }),
      )),
    close: async () => {
      if (client) await (await client).connection.close();
    },
  };
}

/** Installs the process-wide Temporal Runtime once: SDK metrics on a loopback Prometheus exporter, core logs forwarded. */
export function installRuntime(env: Pick<WorkerEnv, 'HV_SDK_METRICS_PORT' | 'HV_LOG_LEVEL'>): void {
  if (runtimeInstalled) return;
  Runtime.install({
    logger: new DefaultLogger(env.HV_LOG_LEVEL),
    // Signals are ours: shutdown must run in order (worker, then the servers `npm run dev` started).
    shutdownSignals: [],
    telemetryOptions: {
      logging: { forward: {}, filter: makeTelemetryFilterString({ core: 'WARN', other: 'ERROR' }) },
      metrics: {
        prometheus: { bindAddress: `127.0.0.1:${env.HV_SDK_METRICS_PORT}` },
        globalTags: { app: 'agent-hypervisor' },
      },
    },
  });
  runtimeInstalled = true;
}

class CountingActivityInterceptor implements ActivityInboundCallsInterceptor {
  constructor(
    private readonly ctx: Context,
    private readonly metrics: Metrics,
  ) {}
  async execute(input: ActivityExecuteInput, next: Next<ActivityInboundCallsInterceptor, 'execute'>): Promise<unknown> {
    const activity = this.ctx.info.activityType;
    try {
      const out = await next(input);
      this.metrics.activityCalls.inc({ activity, outcome: 'ok' });
      return out;
    } catch (err) {
      this.metrics.activityCalls.inc({ activity, outcome: 'error' });
      throw err;
    }
  }
}

/** The activity counter, and with tracing the SDK's span interceptors (outermost) and the workflow span sink. */
function observed(
  metrics: Metrics,
  tracing: WorkerTracing | undefined,
  workflowModules: string[],
): Pick<WorkerOptions, 'interceptors' | 'sinks'> {
  const activity = [
    ...(tracing?.activityInterceptors ?? []),
    (ctx: Context) => ({ inbound: new CountingActivityInterceptor(ctx, metrics) }),
  ];
  return { interceptors: { activity, workflowModules }, ...(tracing ? { sinks: tracing.sinks } : {}) };
}

/** `/metrics` (with the live gauges, counted through the activities' client), `/healthz` (with the build), `/readyz`. */
async function serveHttp(
  env: WorkerEnv,
  parts: { worker: Worker; pool: Pool; metrics: Metrics; temporal: ReturnType<typeof lazyClient>; build: BuildInfo },
): Promise<http.Server> {
  const { worker, pool, metrics, temporal, build } = parts;
  registerOpenWorkflowGauges(
    metrics,
    async (query) => (await (await temporal.get()).workflow.count(query)).count,
    env.TEMPORAL_TASK_QUEUE,
  );
  return startHttpServer({
    host: env.HV_HTTP_HOST,
    port: env.HV_HTTP_PORT,
    registry: metrics.registry,
    sdkMetricsUrl: `http://127.0.0.1:${env.HV_SDK_METRICS_PORT}/metrics`,
    build: { ...build, deploymentName: env.HV_WORKER_DEPLOYMENT_NAME, versioning: env.HV_WORKER_VERSIONING },
    health: {
      live: () => worker.getState() !== 'FAILED',
      ready: async () => worker.getState() === 'RUNNING' && (await databaseReachable(pool)),
    },
  });
}

export interface RunningWorker {
  worker: Worker;
  pool: Pool;
  http: http.Server;
  metrics: Metrics;
  /** The build this worker runs; its build id is the worker's Temporal deployment version. */
  build: BuildInfo;
  /** Resolves when the worker has drained and every resource is closed. */
  done: Promise<void>;
  /** Starts a graceful shutdown (idempotent) and waits for `done`. */
  shutdown(): Promise<void>;
}

/**
 * Builds and starts the hypervisor worker: migrations, Postgres pool, Temporal worker, HTTP server. The returned
 * `shutdown` drains in-flight tasks (activities get `HV_SHUTDOWN_GRACE_SECONDS`) and then closes everything.
 */
export interface StartWorkerOptions {
  /** Saga step handlers by action id (execute and undo), run by this worker. */
  stepHandlers?: StepHandlers;
}

export async function startWorker(
  env: WorkerEnv,
  log: (line: string) => void = console.log,
  options: StartWorkerOptions = {},
): Promise<RunningWorker> {
  // Keys first: a key file others can read stops the start before anything connects or migrates.
  const { signer, internal } = loadWorkerKeys(env, log);
  installRuntime(env);
  if (env.HV_MIGRATE_ON_START) await runMigrations(migrationUrl(env), log);
  const pool = createPool(env.DATABASE_URL);
  const metrics = createMetrics();
  const target = temporalTarget();
  const connection = await NativeConnection.connect(target.connectionOptions);
  const build = currentBuildInfo();
  const tracing = await workerTracing();
  const { bundling, workflowModules } = workflowCode(tracing !== undefined);
  // Activities that talk to workflows (saga steps asking their session for authorization) share one client.
  const temporal = lazyClient(target);
  const worker = await Worker.create({
    connection,
    namespace: target.namespace,
    taskQueue: env.TEMPORAL_TASK_QUEUE,
    ...bundling,
    maxCachedWorkflows: env.HV_MAX_CACHED_WORKFLOWS,
    activities: createActivities({
      pool,
      signer,
      internal,
      checkpointSink: createCheckpointSink(env.HV_CHECKPOINT_SINK ?? devAuditPaths().checkpoints),
      ...auditObservers(metrics),
      ...sagaObservers(metrics),
      temporal: temporal.get,
      stepBaseUrl: env.HV_STEP_BASE_URL ?? null,
      handlers: options.stepHandlers,
      killSwitchConfig: env.HV_KILL_SWITCH,
      operatorBootstrap: env.HV_OPERATOR_BOOTSTRAP_KEY,
      taskQueue: env.TEMPORAL_TASK_QUEUE,
    }),
    ...observed(metrics, tracing, workflowModules),
    workerDeploymentOptions: deploymentOptions(env, build),
    shutdownGraceTime: `${env.HV_SHUTDOWN_GRACE_SECONDS}s`,
    shutdownForceTime: `${env.HV_SHUTDOWN_GRACE_SECONDS + 15}s`,
  });
  const http = await serveHttp(env, { worker, pool, metrics, temporal, build });
  if (env.HV_AUDIT_RETENTION_SCHEDULE)
    await ensureRetentionSchedule({
      connectionOptions: target.connectionOptions,
      namespace: target.namespace,
      taskQueue: env.TEMPORAL_TASK_QUEUE,
      retentionDays: env.HV_AUDIT_RETENTION_DAYS,
      log,
    });
  const done = worker.run().finally(async () => {
    await new Promise<void>((resolve) => http.close(() => resolve()));
    await pool.end();
    await temporal.close();
    await connection.close();
    await tracing?.flush();
  });
  let stopping: Promise<void> | undefined;
  return {
    worker,
    pool,
    http,
    metrics,
    build,
    done,
    shutdown() {
      if (!stopping) {
        if (worker.getState() === 'RUNNING') worker.shutdown();
        stopping = done.catch(() => undefined);
      }
      return stopping;
    },
  };
}
