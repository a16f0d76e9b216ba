import { Counter, Registry, collectDefaultMetrics } from 'prom-client';

/**
 * The hypervisor's own Prometheus registry. Workflows never touch it (replays would double-count); activities and the
 * process observe through the objects created here.
 */
export function createMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'hypervisor_process_' });
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
  return { registry, activityCalls, auditEntries };
}
export type Metrics = ReturnType<typeof createMetrics>;
