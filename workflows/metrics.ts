import { metricMeter } from '@temporalio/workflow';
import type { CounterHit } from '../domain/metrics.js';

/**
 * Adds the governance counters of `hits` through the SDK's workflow metric meter. It goes out by a sink the SDK does
 * not call during replay, so a replayed or re-cached run never counts twice, and it costs no command, no history
 * event and no workflow task: the worker's Temporal runtime exports it next to the SDK's own metrics on `/metrics`.
 */
export function countHits(hits: readonly CounterHit[]): void {
  for (const { counter, labels } of hits) metricMeter.createCounter(counter).add(1, labels);
}

/** Entries waiting in a session's audit outbox, observed each time the session records. */
export function observeOutboxDepth(pending: number): void {
  metricMeter
    .createHistogram('hypervisor_audit_outbox_depth', 'int', '', 'Entries recorded but not yet persisted, per record')
    .record(pending);
}
