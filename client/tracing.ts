import type { WorkflowClientInterceptor } from '@temporalio/client';
import type { Resource } from '@opentelemetry/resources';
import type { SpanProcessor } from '@opentelemetry/sdk-trace-base';

/**
 * Tracing is on when an OTLP endpoint is configured by the standard OpenTelemetry variables
 * (`OTEL_EXPORTER_OTLP_ENDPOINT` or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`), unless `OTEL_TRACES_EXPORTER=none` or
 * `OTEL_SDK_DISABLED=true`. Off, nothing is loaded and no interceptor is installed: no cost at all.
 */
export function tracingEnabled(env: NodeJS.ProcessEnv = process.env): boolean {
  if (env.OTEL_SDK_DISABLED?.trim().toLowerCase() === 'true') return false;
  const exporters = (env.OTEL_TRACES_EXPORTER ?? 'otlp').split(',').map((e) => e.trim().toLowerCase());
  if (!exporters.includes('otlp')) return false;
  return Boolean(env.OTEL_EXPORTER_OTLP_ENDPOINT || env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT);
}

/** The process's tracing: what the worker hands the SDK's workflow span sink, and a flush for shutdown. */
export interface Tracing {
  resource: Resource;
  spanProcessor: SpanProcessor;
  /** Exports every finished span still buffered (call before the process exits). */
  flush(): Promise<void>;
}

let installed: Promise<Tracing> | undefined;

/**
 * Installs the process-wide OpenTelemetry tracer provider once (the first caller's service name wins, overridden by
 * `OTEL_SERVICE_NAME` / `OTEL_RESOURCE_ATTRIBUTES`): W3C trace context, spans batched (`OTEL_BSP_*`) to the OTLP/HTTP
 * endpoint in the protocol `OTEL_EXPORTER_OTLP_(TRACES_)PROTOCOL` names (`http/protobuf`, the default, or
 * `http/json`). Undefined when {@link tracingEnabled} is false. The OpenTelemetry packages are loaded only here.
 */
export function startTracing(
  defaultServiceName: string,
  env: NodeJS.ProcessEnv = process.env,
): Promise<Tracing> | undefined {
  if (!tracingEnabled(env)) return undefined;
  return (installed ??= install(defaultServiceName, env));
}

async function install(defaultServiceName: string, env: NodeJS.ProcessEnv): Promise<Tracing> {
  const protocol = env.OTEL_EXPORTER_OTLP_TRACES_PROTOCOL ?? env.OTEL_EXPORTER_OTLP_PROTOCOL ?? 'http/protobuf';
  if (protocol !== 'http/protobuf' && protocol !== 'http/json')
    throw new Error(`OTEL_EXPORTER_OTLP_PROTOCOL=${protocol} is not supported: use http/protobuf or http/json`);
  const [{ Resource: ResourceClass, envDetectorSync }, { BatchSpanProcessor }, { NodeTracerProvider }, semconv] =
    await Promise.all([
      import('@opentelemetry/resources'),
      import('@opentelemetry/sdk-trace-base'),
      import('@opentelemetry/sdk-trace-node'),
      import('@opentelemetry/semantic-conventions'),
    ]);
  // The exporters read the endpoint, headers, timeout and compression from the same OTEL_* variables themselves.
  const { OTLPTraceExporter } =
    protocol === 'http/json'
      ? await import('@opentelemetry/exporter-trace-otlp-http')
      : await import('@opentelemetry/exporter-trace-otlp-proto');
  const resource = new ResourceClass({ [semconv.ATTR_SERVICE_NAME]: defaultServiceName }).merge(
    envDetectorSync.detect(),
  ) as Resource;
  const spanProcessor = new BatchSpanProcessor(new OTLPTraceExporter());
  const provider = new NodeTracerProvider({ resource, spanProcessors: [spanProcessor] });
  // Global context manager (AsyncLocalStorage) and W3C propagator: the interceptors use the global API.
  provider.register();
  return { resource, spanProcessor, flush: () => provider.forceFlush() };
}

/** Flushes the process's spans when tracing was started; nothing otherwise. */
export async function flushTracing(): Promise<void> {
  if (installed) await (await installed).flush();
}

/**
 * The Temporal client interceptors that start a trace at each client call (start, update, signal, query) and carry
 * its context to the workflow in the call's headers; undefined when tracing is off.
 */
export async function tracingClientInterceptors(
  env: NodeJS.ProcessEnv = process.env,
): Promise<{ workflow: WorkflowClientInterceptor[] } | undefined> {
  const tracing = startTracing('agent-hypervisor-client', env);
  if (!tracing) return undefined;
  await tracing;
  const { OpenTelemetryWorkflowClientInterceptor } =
    await import('@temporalio/interceptors-opentelemetry/lib/client/index.js');
  return { workflow: [new OpenTelemetryWorkflowClientInterceptor()] };
}
