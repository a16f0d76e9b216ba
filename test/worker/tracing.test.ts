import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { tracingEnabled } from '../../client/tracing.js';
import type { SagaDefinitionInput } from '../../domain/saga-dsl.js';
import type { SagaView } from '../../domain/saga-types.js';
import { stableTasksPath, tracingInterceptorsPath, workflowBundleOptions } from '../../worker/bundle.js';
import { SpanAttr } from '../../workflows/span-attributes.js';
import { startObservedWorker, type ObservedWorker } from '../helpers/observed-scenario.js';
import { OtlpReceiver, type ReceivedSpan } from '../helpers/otlp-receiver.js';
import { did, eventually } from '../helpers/session.js';

const root = path.resolve(import.meta.dirname, '../..');
const readmeSaga = parseYaml(
  readFileSync(path.join(root, 'examples/saga-deploy.yaml'), 'utf8'),
) as SagaDefinitionInput & {
  steps: Array<{ agent: string }>;
};
const manifest = JSON.parse(readFileSync(path.join(root, 'examples/saga-manifest.json'), 'utf8')) as never[];

let receiver: OtlpReceiver;
let w: ObservedWorker;
let sagaView: SagaView;
let sagaId: string;
let sessionId: string;
const OK = 1;
const ERROR = 2;

beforeAll(async () => {
  receiver = await OtlpReceiver.start();
  Object.assign(process.env, {
    OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
    OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
    OTEL_SERVICE_NAME: 'hv-tracing-test',
    OTEL_BSP_SCHEDULE_DELAY: '100',
  });
  w = await startObservedWorker();

  // The README's saga: `provision` and `deploy` fan out under all_must_succeed; with `FAIL=/app/deploy` the deploy
  // fails twice (retries: 1) and the provisioned VM is deprovisioned. Fresh ids: a session id is a chain forever.
  const [agent1, agent2] = [did('agent-1'), did('agent-2')];
  const session = await w.hv.createSession({ creatorDid: did('operator') });
  sessionId = session.sessionId;
  for (const agentDid of [agent1, agent2]) await session.join({ agentDid, sigmaRaw: 0.9, actions: manifest });
  await session.activate();
  w.service.on('/app/deploy', () => ({ status: 500 }));
  const definition = {
    ...readmeSaga,
    session_id: session.sessionId,
    steps: readmeSaga.steps.map((s, i) => ({ ...s, agent: i === 0 ? agent1 : agent2 })),
  };
  sagaId = `deploy-${randomUUID().slice(0, 8)}`;
  const saga = await w.hv.startSaga(definition, { sagaId, options: { retryInitialIntervalMs: 50 } });
  sagaView = await saga.result();
}, 300_000);

afterAll(async () => {
  await w?.close();
  await receiver?.close();
});

const byName = (spans: ReceivedSpan[], name: string) => spans.filter((s) => s.name === name);
const childrenOf = (spans: ReceivedSpan[], parent: ReceivedSpan) =>
  spans.filter((s) => s.parentSpanId === parent.spanId);

/** The saga's spans once the receiver holds the whole tree: the run, its three step spans and their four attempts. */
async function sagaTrace(): Promise<ReceivedSpan[]> {
  const run = await eventually(
    async () =>
      receiver.spans.find((s) => s.name === 'RunWorkflow:sagaWorkflow' && s.attributes[SpanAttr.sagaId] === sagaId),
    (s) => s !== undefined,
    30_000,
  );
  return eventually(
    async () => receiver.spans.filter((s) => s.traceId === run!.traceId),
    (spans) =>
      byName(spans, 'RunActivity:runSagaStep').length >= 4 && byName(spans, 'StartActivity:runSagaStep').length >= 3,
    30_000,
  );
}

describe('OpenTelemetry tracing, exported over OTLP/HTTP to a real receiver', () => {
  it('is off without an OTLP endpoint, or with OTEL_TRACES_EXPORTER=none; the untraced bundle has no tracing interceptor', () => {
    expect(tracingEnabled({})).toBe(false);
    expect(tracingEnabled({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318', OTEL_TRACES_EXPORTER: 'none' })).toBe(
      false,
    );
    expect(tracingEnabled({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318', OTEL_SDK_DISABLED: 'true' })).toBe(
      false,
    );
    expect(tracingEnabled({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://collector:4318/v1/traces' })).toBe(true);
    // Every bundle has the replay-stable task interceptors (docs/DESIGN.md §11.1); only a traced one has more.
    expect(workflowBundleOptions().workflowInterceptorModules).toEqual([stableTasksPath]);
    expect(workflowBundleOptions({ traced: true }).workflowInterceptorModules).toEqual([
      stableTasksPath,
      tracingInterceptorsPath,
    ]);
  });

  it("the README's compensated saga is one trace: client start → saga run → a span per step and compensation → a span per attempt", async () => {
    expect(sagaView.status).toBe('compensated');
    const spans = await sagaTrace();
    expect(new Set(spans.map((s) => s.service))).toEqual(new Set(['hv-tracing-test']));

    const [start] = byName(spans, 'StartWorkflow:sagaWorkflow');
    expect(start, 'the client call starts the trace').toBeDefined();
    expect(start!.parentSpanId).toBeUndefined();
    const [run] = byName(spans, 'RunWorkflow:sagaWorkflow');
    expect(run!.parentSpanId).toBe(start!.spanId);
    expect(run!.attributes[SpanAttr.sagaStatus]).toBe('compensated');

    const steps = childrenOf(spans, run!).filter((s) => s.name === 'StartActivity:runSagaStep');
    const summary = steps
      .map((s) => ({
        step: s.attributes[SpanAttr.stepId],
        compensation: s.attributes[SpanAttr.compensation],
        outcome: s.attributes[SpanAttr.stepOutcome],
        status: s.statusCode,
        attempts: childrenOf(spans, s)
          .filter((a) => a.name === 'RunActivity:runSagaStep')
          .map((a) => ({ attempt: a.attributes[SpanAttr.attempt], outcome: a.attributes[SpanAttr.stepOutcome] }))
          .sort((a, b) => Number(a.attempt) - Number(b.attempt)),
      }))
      .sort((a, b) => `${a.step}${a.compensation}`.localeCompare(`${b.step}${b.compensation}`));
    expect(summary).toEqual([
      {
        step: 'deploy',
        compensation: false,
        outcome: 'failed',
        status: ERROR,
        attempts: [
          { attempt: 1, outcome: 'error' },
          { attempt: 2, outcome: 'error' },
        ],
      },
      {
        step: 'provision',
        compensation: false,
        outcome: 'committed',
        status: OK,
        attempts: [{ attempt: 1, outcome: 'ok' }],
      },
      {
        step: 'provision',
        compensation: true,
        outcome: 'compensated',
        status: OK,
        attempts: [{ attempt: 1, outcome: 'ok' }],
      },
    ]);
  });

  it("a step's authorization reaches its session in the same trace, and the decision is on the session's update span", async () => {
    const spans = await sagaTrace();
    const authorizations = childrenOf(spans, byName(spans, 'RunWorkflow:sagaWorkflow')[0]!).filter(
      (s) => s.name === 'StartActivity:authorizeSagaStep',
    );
    expect(authorizations).toHaveLength(2);
    for (const scheduled of authorizations) {
      const [attempt] = childrenOf(spans, scheduled);
      expect(attempt!.name).toBe('RunActivity:authorizeSagaStep');
      const [update] = childrenOf(spans, attempt!);
      expect(update!.name).toBe('StartWorkflowUpdate:authorizeAction');
      const handled = childrenOf(spans, update!).find((s) => s.name === 'HandleUpdate:authorizeAction');
      expect(handled?.attributes).toMatchObject({
        [SpanAttr.decisionAllowed]: true,
        [SpanAttr.decisionReason]: 'allowed',
      });
    }
  });

  it("a client's authorize is one update span with the decision as attributes, no span of its own per decision", async () => {
    const session = w.hv.session(sessionId);
    const decision = await session.authorize({ agentDid: sagaView.steps[0]!.agentDid, actionId: 'unknown-action' });
    expect(decision.allowed).toBe(false);
    const handled = await eventually(
      async () =>
        receiver.spans.find(
          (s) =>
            s.name === 'HandleUpdate:authorizeAction' && s.attributes[SpanAttr.decisionReason] === 'unknown_action',
        ),
      (s) => s !== undefined,
      30_000,
    );
    const trace = receiver.spans.filter((s) => s.traceId === handled!.traceId);
    const [update] = byName(trace, 'StartWorkflowUpdate:authorizeAction');
    expect(update!.parentSpanId).toBeUndefined();
    expect(handled!.parentSpanId).toBe(update!.spanId);
    expect(handled!.attributes[SpanAttr.decisionAllowed]).toBe(false);
  });
});
