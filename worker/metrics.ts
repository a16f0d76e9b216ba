import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { authorizeLatencyObserver } from '../client/metrics.js';

/**
 * The hypervisor's own Prometheus registry. Workflows never touch it (replays would double-count; their governance
 * counters go through the SDK's workflow metric meter, see `workflows/metrics.ts`); activities and the process observe
 * through the objects created here. prom-client's default metrics already start with `process_` or `nodejs_`, so the
 * prefix is `hypervisor_` alone (`hypervisor_process_cpu_seconds_total`).
 */
export function createMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'hypervisor_' });
  const activityCalls = new Counter({
    name: 'hypervisor_activity_calls_total',
    help: 'Activities executed by this worker, by name and outcome',
    labelNames: ['activity', 'outcome'] as const,
    registers: [registry],
  });
  const auditEntries = new Counter({
    name: 'hypervisor_audit_entries_total',
    help: 'Audit links handed to the store: inserted, or already present (an idempotent retry)',
    labelNames: ['outcome'] as const,
    registers: [registry],
  });
  const auditPersistLag = new Histogram({
    name: 'hypervisor_audit_persist_lag_seconds',
    help: 'From an audit entry being recorded by its session to the store holding it',
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300],
    registers: [registry],
  });
  const auditFaults = new Counter({
    name: 'hypervisor_audit_faults_total',
    help: 'Audit batches refused because the store holds a different chain (the session freezes its governance)',
    registers: [registry],
  });
  return { registry, activityCalls, auditEntries, auditPersistLag, auditFaults };
}
export type Metrics = ReturnType<typeof createMetrics>;

/** What the saga activities report: each step's authorization round trip with its session. */
export const sagaObservers = (metrics: Metrics) => ({
  onAuthorized: authorizeLatencyObserver(metrics.registry, 'saga_step'),
});

/** What the audit activities report, into the registry. */
export const auditObservers = (metrics: Metrics) => ({
  onEntries: (outcome: 'inserted' | 'duplicate', count: number) => metrics.auditEntries.inc({ outcome }, count),
  onPersisted: (seconds: number) => metrics.auditPersistLag.observe(seconds),
  onFault: () => metrics.auditFaults.inc(),
});

/** The live gauges: name, the workflow type they count, and what they mean. */
const OPEN_WORKFLOWS = [
  [
    'hypervisor_open_sessions',
    'sessionWorkflow',
    'Sessions running on this task queue (Temporal visibility, at scrape)',
  ],
  ['hypervisor_open_sagas', 'sagaWorkflow', 'Sagas running on this task queue (Temporal visibility, at scrape)'],
] as const;

/** A count that takes longer than this leaves the gauge without a value for that scrape. */
const COUNT_TIMEOUT_MS = 3000;

/**
 * Gauges of the sessions and sagas open now, counted in Temporal visibility when Prometheus scrapes (one count query
 * each, nothing on any workflow's path), labelled with the task queue. Every worker of a task queue reports the same
 * count: aggregate with `max by (task_queue)`, then `sum`. When Temporal does not answer, the gauge has no value
 * rather than a stale one.
 */
export function registerOpenWorkflowGauges(
  metrics: Metrics,
  count: (query: string) => Promise<number>,
  taskQueue: string,
): void {
  for (const [name, workflowType, help] of OPEN_WORKFLOWS)
    new Gauge({
      name,
      help,
      labelNames: ['task_queue'] as const,
      registers: [metrics.registry],
      async collect() {
        const query = `WorkflowType = '${workflowType}' AND ExecutionStatus = 'Running' AND TaskQueue = '${taskQueue}'`;
        let timer: NodeJS.Timeout | undefined;
        const timeout = new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error('visibility count timed out')), COUNT_TIMEOUT_MS);
        });
        try {
          this.set({ task_queue: taskQueue }, await Promise.race([count(query), timeout]));
        } catch {
          this.reset();
        } finally {
          clearTimeout(timer);
        }
      },
    });
}
