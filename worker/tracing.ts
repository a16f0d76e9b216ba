import { trace } from '@opentelemetry/api';
import type { Context } from '@temporalio/activity';
import type {
  ActivityExecuteInput,
  ActivityInboundCallsInterceptor,
  ActivityInterceptorsFactory,
  InjectedSinks,
  Next,
} from '@temporalio/worker';
import type { OpenTelemetrySinks } from '@temporalio/interceptors-opentelemetry/lib/workflow/definitions.js';
import type { StepInvocation } from '../domain/saga-types.js';
import { startTracing, type Tracing } from '../client/tracing.js';
import { SpanAttr, stepAttributes } from '../workflows/span-attributes.js';

/** What a traced worker adds to its options: activity interceptors, the workflow span sink, and a flush. */
export interface WorkerTracing {
  /** Outermost first: the SDK's span around each activity attempt, then the hypervisor's attributes inside it. */
  activityInterceptors: ActivityInterceptorsFactory[];
  /** The `exporter` sink the workflow interceptors (`workflows/tracing.ts`) send their finished spans to. */
  sinks: InjectedSinks<OpenTelemetrySinks>;
  flush(): Promise<void>;
}

/**
 * The attempt of a saga step or compensation, on the `RunActivity:runSagaStep` span of that attempt: the step, its
 * mode, whether it is a compensation, the attempt number (a retry is its own span), and how the attempt ended.
 */
class StepAttemptSpanInterceptor implements ActivityInboundCallsInterceptor {
  constructor(private readonly ctx: Context) {}
  async execute(input: ActivityExecuteInput, next: Next<ActivityInboundCallsInterceptor, 'execute'>): Promise<unknown> {
    const span = trace.getActiveSpan();
    if (this.ctx.info.activityType !== 'runSagaStep' || !span) return next(input);
    span.setAttributes({
      ...stepAttributes(input.args[0] as StepInvocation),
      [SpanAttr.attempt]: this.ctx.info.attempt,
    });
    try {
      const out = await next(input);
      span.setAttribute(SpanAttr.stepOutcome, 'ok');
      return out;
    } catch (err) {
      span.setAttribute(SpanAttr.stepOutcome, 'error');
      throw err;
    }
  }
}

/**
 * The worker's tracing when the OTel variables turn it on (`client/tracing.ts`), undefined otherwise: then the worker
 * installs no interceptor, no sink and loads the untraced workflow bundle.
 */
export async function workerTracing(env: NodeJS.ProcessEnv = process.env): Promise<WorkerTracing | undefined> {
  const started = startTracing('agent-hypervisor-worker', env);
  if (!started) return undefined;
  const tracing: Tracing = await started;
  const { OpenTelemetryActivityInboundInterceptor, OpenTelemetryActivityOutboundInterceptor, makeWorkflowExporter } =
    await import('@temporalio/interceptors-opentelemetry/lib/worker/index.js');
  return {
    activityInterceptors: [
      (ctx) => ({
        inbound: new OpenTelemetryActivityInboundInterceptor(ctx),
        outbound: new OpenTelemetryActivityOutboundInterceptor(ctx),
      }),
      (ctx) => ({ inbound: new StepAttemptSpanInterceptor(ctx) }),
    ],
    sinks: { exporter: makeWorkflowExporter(tracing.spanProcessor, tracing.resource) },
    flush: () => tracing.flush(),
  };
}
