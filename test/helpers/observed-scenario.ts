import { Client, Connection } from '@temporalio/client';
import { testAdminBootstrap, testKeyring } from './operators.js';
import { inject } from 'vitest';
import { HypervisorClient } from '../../client/hypervisor-client.js';
import { tracingClientInterceptors } from '../../client/tracing.js';
import type { SagaDefinitionInput } from '../../domain/saga-dsl.js';
import { loadWorkerEnv } from '../../worker/config.js';
import { testInternalKeyPem } from './audit.js';
import { freePort } from '../../worker/processes.js';
import { startWorker, type RunningWorker } from '../../worker/worker.js';
import { actions, did, eventually } from './session.js';
import { StepService } from './step-service.js';
import { uniqueTaskQueue } from './temporal.js';

/** A real worker (its own process-wide Temporal runtime, so its counters start at zero) and its `/metrics` address. */
export interface ObservedWorker {
  running: RunningWorker;
  metricsUrl: string;
  hv: HypervisorClient;
  service: StepService;
  close(): Promise<void>;
}

export async function startObservedWorker(extraEnv: Record<string, string> = {}): Promise<ObservedWorker> {
  process.env.TEMPORAL_ADDRESS = inject('temporalAddress');
  const service = await StepService.start();
  const taskQueue = uniqueTaskQueue('observed');
  const httpPort = await freePort();
  const running = await startWorker(
    loadWorkerEnv({
      DATABASE_URL: inject('databaseUrl'),
      TEMPORAL_TASK_QUEUE: taskQueue,
      HV_HTTP_PORT: String(httpPort),
      HV_HTTP_HOST: '127.0.0.1',
      HV_SDK_METRICS_PORT: String(await freePort()),
      HV_SHUTDOWN_GRACE_SECONDS: '1',
      HV_LOG_LEVEL: 'WARN',
      HV_INTERNAL_SIGNING_KEY: testInternalKeyPem,
      HV_AUDIT_RETENTION_SCHEDULE: 'false',
      HV_STEP_BASE_URL: service.url,
      HV_OPERATOR_BOOTSTRAP_KEY: testAdminBootstrap,
      ...extraEnv,
    }),
    () => undefined,
  );
  const connection = await Connection.connect({ address: inject('temporalAddress') });
  // Traced like `HypervisorClient.connect` when the OTel variables turn tracing on; no interceptor otherwise.
  const interceptors = await tracingClientInterceptors();
  // The walk-through's own authorize calls are timed into the worker's registry, as an application would into its own.
  const hv = HypervisorClient.fromClient(new Client({ connection, interceptors }), taskQueue, {
    metrics: running.metrics.registry,
    operator: testKeyring,
  });
  return {
    running,
    metricsUrl: `http://127.0.0.1:${httpPort}/metrics`,
    hv,
    service,
    async close() {
      await running.shutdown();
      await connection.close();
      await service.close();
    },
  };
}

/** What the walk-through did, as the session and the saga report it themselves. */
export interface ScenarioFacts {
  allowed: number;
  denied: number;
  stepAttempts: number;
  auditEntries: number;
  /** Breaches of the strict session, and the kills its breach policy made. */
  breaches: number;
  breachKills: number;
}

/**
 * The README's walk-through and a saga that compensates: a session with three agents (ring 2), an allowed read, a
 * deploy denied by its ring, a manual kill and the killed agent's denied call, an operator kill-switch trip and
 * unblock, and a two-step saga whose second step fails so the first is compensated. Ends the session and waits until
 * every audit entry is stored. Then a second session, left open, with one breach and one quarantine.
 */
export async function runScenario(w: ObservedWorker): Promise<ScenarioFacts> {
  const creatorDid = did('creator');
  const session = await w.hv.createSession({ creatorDid, config: { breachPolicy: { baselineRate: 10_000 } } });
  const [alice, bob, carol] = [did('alice'), did('bob'), did('carol')];
  const manifest = [
    actions.read,
    actions.deploy,
    ...['act-a', 'act-b'].map((actionId) => ({
      actionId,
      name: actionId,
      reversibility: 'full' as const,
      undoApi: '/undo',
    })),
  ];
  for (const agentDid of [alice, bob, carol]) await session.join({ agentDid, sigmaRaw: 0.9, actions: manifest });
  await session.activate();
  await session.authorize({ agentDid: alice, actionId: actions.read.actionId });
  await session.authorize({ agentDid: alice, actionId: actions.deploy.actionId });
  await session.kill({ agentDid: carol, reason: 'manual', authorizedBy: creatorDid });
  await session.authorize({ agentDid: carol, actionId: actions.read.actionId });
  await w.hv.agent(bob).configure({ enabled: true, window_seconds: 300, deny_rate_threshold: 0.9, min_calls: 100 });
  await w.hv.agent(bob).trip({ reason: 'drill', authorizedBy: creatorDid });
  await w.hv.agent(bob).unblock({ reason: 'drill over', authorizedBy: creatorDid });

  w.service.on('/b/do', () => ({ status: 500 }));
  const definition = {
    name: 'observed-saga',
    session_id: session.sessionId,
    steps: [
      { id: 'a', action_id: 'act-a', agent: alice, execute_api: '/a/do', undo_api: '/a/undo' },
      { id: 'b', action_id: 'act-b', agent: alice, execute_api: '/b/do', undo_api: '/b/undo', retries: 1 },
    ],
  } as SagaDefinitionInput;
  const saga = await w.hv.startSaga(definition, { options: { retryInitialIntervalMs: 50, heartbeatTimeoutMs: 2000 } });
  const sagaView = await saga.result();
  if (sagaView.status !== 'compensated') throw new Error(`saga ended ${sagaView.status}, expected compensated`);
  await eventually(
    () => session.auditTail(5),
    (t) => t.some((e) => e.entry.kind === 'saga_compensated'),
  );
  await session.terminate({});
  const view = await eventually(
    () => session.view(),
    (v) => v.audit.pending === 0,
  );
  // A second session, left open, whose strict breach policy turns one out-of-ring call into a breach; and a quarantine.
  const strict = await w.hv.createSession({ creatorDid, config: { breachPolicy: { baselineRate: 0.01 } } });
  const [dave, erin] = [did('dave'), did('erin')];
  for (const agentDid of [dave, erin]) await strict.join({ agentDid, sigmaRaw: 0.9, actions: manifest });
  await strict.activate();
  await strict.authorize({ agentDid: dave, actionId: actions.deploy.actionId });
  await strict.quarantine({ agentDid: erin, reason: 'manual', authorizedBy: creatorDid });
  const strictView = await eventually(
    () => strict.view(),
    (v) => v.audit.pending === 0,
  );
  const strictTail = await strict.auditTail(50);
  return {
    allowed: view.stats.allowed + strictView.stats.allowed,
    denied: view.stats.denied + strictView.stats.denied,
    breaches: strictTail.filter((e) => e.entry.kind === 'breach').length,
    breachKills: strictTail.filter((e) => e.entry.kind === 'kill').length,
    stepAttempts: sagaView.steps.reduce((n, s) => n + s.attempts, 0),
    auditEntries: view.audit.entries + strictView.audit.entries,
  };
}

/** One sample of the text exposition format. */
export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export function parseMetrics(text: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!;
    out.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return out;
}

/** The sum over every series of `name` whose labels include `match`. */
export const total = (samples: Sample[], name: string, match: Record<string, string> = {}): number =>
  samples
    .filter((s) => s.name === name && Object.entries(match).every(([k, v]) => s.labels[k] === v))
    .reduce((n, s) => n + s.value, 0);
