/**
 * The workflow interceptors of a traced worker (docs/DESIGN.md §8), bundled only when tracing is on
 * (`worker/bundle.ts`): the SDK's OpenTelemetry interceptors (a span per workflow run, update, signal, query, child
 * start and scheduled activity, exported through the `exporter` sink) and, inside their spans, the hypervisor's
 * attributes — a saga step or compensation on its `StartActivity:runSagaStep` span, a saga's end state on its
 * `RunWorkflow:sagaWorkflow` span, an authorize decision on its `HandleUpdate:authorizeAction` span. Attributes only:
 * no span, command or workflow task of our own, and sinks are not called during replay, so a replay exports nothing.
 */
import { trace, type Span } from '@opentelemetry/api';
import {
  OpenTelemetryInboundInterceptor,
  OpenTelemetryInternalsInterceptor,
  OpenTelemetryOutboundInterceptor,
} from '@temporalio/interceptors-opentelemetry/lib/workflow/index.js';
import * as wf from '@temporalio/workflow';
import type { StepInvocation, SagaView } from '../domain/saga-types.js';
import type { Decision } from '../domain/session-types.js';
import { authorizeActionUpdate } from './messages.js';
import { SpanAttr, stepAttributes } from './span-attributes.js';

const stepOutcome = (mode: StepInvocation['mode'], err?: unknown): string => {
  if (err === undefined) return mode === 'undo' ? 'compensated' : 'committed';
  if (wf.isCancellation(err)) return 'cancelled';
  return mode === 'undo' ? 'compensation_failed' : 'failed';
};

/**
 * Runs `then` when `promise` settles, and returns `promise` itself: no extra async layer, so a wrapped handler's
 * commands keep the order they have without tracing (an `await` here would move them by a microtask and break the
 * replay of a history recorded untraced). Attached before the SDK's own `await`, it runs before the span ends.
 */
function observe<T>(promise: Promise<T>, then: (out: T | undefined, err?: unknown) => void): Promise<T> {
  promise.then(
    (out) => then(out),
    (err: unknown) => then(undefined, err ?? new Error('rejected')),
  );
  return promise;
}

class HypervisorSpanInbound implements wf.WorkflowInboundCallsInterceptor {
  execute(
    input: wf.WorkflowExecuteInput,
    next: wf.Next<wf.WorkflowInboundCallsInterceptor, 'execute'>,
  ): Promise<unknown> {
    const span = trace.getActiveSpan();
    if (wf.workflowInfo().workflowType !== 'sagaWorkflow' || !span) return next(input);
    return observe(next(input), (out) => {
      const view = out as Partial<SagaView> | undefined;
      if (typeof view?.status === 'string') span.setAttribute(SpanAttr.sagaStatus, view.status);
      if (typeof view?.sagaId === 'string') span.setAttribute(SpanAttr.sagaId, view.sagaId);
    });
  }

  handleUpdate(
    input: wf.UpdateInput,
    next: wf.Next<wf.WorkflowInboundCallsInterceptor, 'handleUpdate'>,
  ): Promise<unknown> {
    const span = trace.getActiveSpan();
    if (input.name !== authorizeActionUpdate.name || !span) return next(input);
    return observe(next(input), (out) => {
      if (out) decisionAttributes(span, out as Decision);
    });
  }
}

function decisionAttributes(span: Span, decision: Decision): void {
  span.setAttributes({
    [SpanAttr.decisionAllowed]: decision.allowed,
    [SpanAttr.decisionReason]: decision.reason,
    [SpanAttr.decisionRing]: decision.effectiveRing,
  });
}

class HypervisorSpanOutbound implements wf.WorkflowOutboundCallsInterceptor {
  scheduleActivity(
    input: wf.ActivityInput,
    next: wf.Next<wf.WorkflowOutboundCallsInterceptor, 'scheduleActivity'>,
  ): Promise<unknown> {
    const span = trace.getActiveSpan();
    if (input.activityType !== 'runSagaStep' || !span) return next(input);
    const invocation = input.args[0] as StepInvocation;
    span.setAttributes(stepAttributes(invocation));
    return observe(next(input), (_out, err) =>
      span.setAttribute(SpanAttr.stepOutcome, stepOutcome(invocation.mode, err)),
    );
  }
}

/** Listed after the SDK's, so ours run inside its spans (the first interceptor is the outermost). */
export const interceptors: wf.WorkflowInterceptorsFactory = () => ({
  inbound: [new OpenTelemetryInboundInterceptor(), new HypervisorSpanInbound()],
  outbound: [new OpenTelemetryOutboundInterceptor(), new HypervisorSpanOutbound()],
  internals: [new OpenTelemetryInternalsInterceptor()],
});
