/**
 * The hypervisor's OpenTelemetry span attributes (docs/DESIGN.md §8), set inside the SDK's spans by the workflow
 * interceptors (`workflows/tracing.ts`) and the worker's activity interceptor (`worker/tracing.ts`). No OpenTelemetry
 * import here: the worker reads these names without loading the tracing packages when tracing is off.
 */
import type { StepInvocation } from '../domain/saga-types.js';

/** Attribute keys, shared with the activity side (`worker/tracing.ts`) and the tests. */
export const SpanAttr = {
  sagaId: 'hv.saga.id',
  sagaStatus: 'hv.saga.status',
  stepId: 'hv.saga.step_id',
  stepMode: 'hv.saga.step_mode',
  compensation: 'hv.saga.compensation',
  stepOutcome: 'hv.saga.step_outcome',
  attempt: 'hv.saga.attempt',
  decisionAllowed: 'hv.decision.allowed',
  decisionReason: 'hv.decision.reason',
  decisionRing: 'hv.decision.ring',
} as const;

/** The step attributes of a `runSagaStep` invocation, for the workflow's and the activity's span alike. */
export function stepAttributes(invocation: StepInvocation): Record<string, string | boolean> {
  return {
    [SpanAttr.sagaId]: invocation.sagaId,
    [SpanAttr.stepId]: invocation.stepId,
    [SpanAttr.stepMode]: invocation.mode,
    [SpanAttr.compensation]: invocation.mode === 'undo',
  };
}
