import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testKeyring } from '../helpers/operators.js';
import { HypervisorClient } from '../../client/hypervisor-client.js';
import { ErrorType } from '../../domain/errors.js';
import type { KillSwitchView } from '../../domain/kill-switch.js';
import {
  AGENT_WORKFLOW_TYPE,
  agentWorkflowId,
  registerSessionSignal,
  reportDecisionsSignal,
} from '../../workflows/messages.js';
import { testInternalSigner } from '../helpers/audit.js';
import { did, eventually, expectHvError } from '../helpers/session.js';
import { connectTestTemporal, uniqueTaskQueue, withWorker, type TemporalTestContext } from '../helpers/temporal.js';

/**
 * The reference kill switch's evaluator cases (cMCP's tests, docs/DESIGN.md §R9) and its untested edges, run
 * against the real agentWorkflow on the real server: decisions arrive as the sessions' audit flushes send them (signed
 * `reportDecisions` signals from a registered session; the test holds the workers' internal key).
 */
let ctx: TemporalTestContext;
const taskQueue = uniqueTaskQueue('ks-cases');
let stop: () => void;
let running: Promise<void>;
beforeAll(async () => {
  ctx = await connectTestTemporal();
  let release!: () => void;
  const done = new Promise<void>((resolve) => (release = resolve));
  stop = release;
  running = withWorker(ctx, { taskQueue }, () => done);
});
afterAll(async () => {
  stop();
  await running;
  await ctx.close();
});

const on = (config: Record<string, unknown> = {}) => ({
  enabled: true,
  window_seconds: 300,
  deny_rate_threshold: 0.9,
  min_calls: 10,
  ...config,
});

async function identity(config: Record<string, unknown>, agentDid = did('ks')) {
  const hv = HypervisorClient.fromClient(ctx.client, taskQueue, { operator: testKeyring });
  const workflowId = agentWorkflowId(agentDid);
  const handle = await ctx.client.workflow.start(AGENT_WORKFLOW_TYPE, {
    taskQueue,
    workflowId,
    args: [{ agentDid, config }],
  });
  const registration = { sessionId: 'cases' };
  await handle.signal(registerSessionSignal, {
    ...registration,
    auth: testInternalSigner.sign(registerSessionSignal.name, workflowId, registration),
  });
  let sent = 0;
  let signals = 1;
  return {
    agentDid,
    agent: hv.agent(agentDid),
    /** Reports decisions in order (one flush), waits until the workflow has processed them, and returns its view. */
    async decide(...kinds: string[]): Promise<KillSwitchView> {
      const decisions = kinds.map((kind) => ({ n: ++sent, kind, atMs: Date.now(), decisionId: `d${sent}` }));
      const report = { sessionId: 'cases', decisions };
      await handle.signal(reportDecisionsSignal, {
        ...report,
        auth: testInternalSigner.sign(reportDecisionsSignal.name, workflowId, report),
      });
      const target = ++signals;
      await eventually(
        () => handle.fetchHistory(),
        (history) =>
          (history.events ?? []).filter((e) => e.workflowExecutionSignaledEventAttributes).length >= target &&
          // Every task done: the last workflow-task event is a completion (markers and commands may follow it).
          (history.events ?? [])
            .filter(
              (e) =>
                e.workflowTaskScheduledEventAttributes ||
                e.workflowTaskStartedEventAttributes ||
                e.workflowTaskCompletedEventAttributes,
            )
            .at(-1)?.workflowTaskCompletedEventAttributes != null,
      );
      return hv.agent(agentDid).status();
    },
  };
}

const repeat = (kind: string, n: number) => Array.from({ length: n }, () => kind);

describe('kill-switch evaluator cases on the real agentWorkflow', () => {
  it('disabled: 100 denies never trip', async () => {
    const a = await identity({ ...on(), enabled: false });
    expect((await a.decide(...repeat('deny', 100))).blocked).toBeNull();
  });

  it('below min_calls: 5 denies do not trip', async () => {
    expect((await (await identity(on())).decide(...repeat('deny', 5))).blocked).toBeNull();
  });

  it('below threshold: 4 of 9 (with 10 calls) do not trip', async () => {
    const a = await identity(on());
    expect((await a.decide(...repeat('allow', 6), ...repeat('deny', 4))).blocked).toBeNull();
  });

  it('at threshold: 1 allow + 9 denies = 0.9 trips (>=), and the identity is blocked', async () => {
    const a = await identity(on());
    const before = await a.decide('allow', ...repeat('deny', 8));
    expect(before.blocked).toBeNull();
    const after = await a.decide('deny');
    expect(after.blocked).toMatchObject({ trigger: 'deny_rate', reason: 'kill_switch_triggered', decisionId: 'd10' });
  });

  it('above threshold trips; separate identities are independent', async () => {
    const [a, b] = [await identity(on()), await identity(on())];
    expect((await a.decide(...repeat('deny', 10))).blocked).not.toBeNull();
    expect((await b.decide(...repeat('allow', 10))).blocked).toBeNull();
  });

  it('unblock clears the flag and the events: the identity starts below min_calls', async () => {
    const a = await identity(on());
    await a.decide(...repeat('deny', 10));
    const lifted = await a.agent.unblock({ reason: 'reviewed', authorizedBy: 'did:mesh:sre' });
    expect(lifted).toMatchObject({ blocked: null, windowCalls: 0 });
    expect((await a.decide('deny')).blocked).toBeNull();
  });

  it('allowed and denied accumulate: 5 allow then 20 deny = 0.8 trips at threshold 0.8', async () => {
    const a = await identity(on({ deny_rate_threshold: 0.8 }));
    await a.decide(...repeat('allow', 5), ...repeat('deny', 19));
    expect((await a.agent.status()).blocked).toBeNull();
    expect((await a.decide('deny')).blocked).not.toBeNull();
  });

  it('advisory_deny counts as a denial: 1 allow + 4 deny + 5 advisory_deny trips', async () => {
    const a = await identity(on());
    expect((await a.decide('allow', ...repeat('deny', 4), ...repeat('advisory_deny', 5))).blocked).not.toBeNull();
  });

  it('fault, redact, step_up and defer count on neither side', async () => {
    const a = await identity(on({ min_calls: 2, deny_rate_threshold: 0.5 }));
    const view = await a.decide('fault', 'redact', 'step_up', 'defer', 'allow');
    expect(view).toMatchObject({ windowCalls: 1, blocked: null });
    expect((await a.decide('deny')).blocked).not.toBeNull();
  });

  it('threshold 1.0 trips only at 100 % denials', async () => {
    const a = await identity(on({ deny_rate_threshold: 1 }));
    expect((await a.decide('allow', ...repeat('deny', 9))).blocked).toBeNull();
    const b = await identity(on({ deny_rate_threshold: 1 }));
    expect((await b.decide(...repeat('deny', 10))).blocked).not.toBeNull();
  });

  it('a repeated trip is idempotent: the first block is kept and trips once', async () => {
    const a = await identity(on());
    const first = (await a.decide(...repeat('deny', 10))).blocked;
    const later = await a.decide(...repeat('deny', 5));
    expect(later.blocked).toEqual(first);
    expect(await a.agent.trip({ reason: 'again', authorizedBy: 'did:mesh:sre' })).toMatchObject({ blocked: first });
  });

  it('events older than the window are ignored', async () => {
    const a = await identity(on({ window_seconds: 1, min_calls: 3, deny_rate_threshold: 0.5 }));
    await a.decide('deny', 'deny');
    // Until the workflow's own clock has moved past the window: each excluded decision is a new workflow task.
    await eventually(
      () => a.decide('fault'),
      (s) => s.windowCalls === 0,
      10_000,
    );
    expect((await a.decide('deny')).blocked).toBeNull();
  });

  it('anonymous identities are never evaluated, even with a tiny threshold and min_calls 1', async () => {
    const a = await identity(on({ deny_rate_threshold: 0.0001, min_calls: 1 }), 'anonymous');
    expect((await a.decide('deny', 'deny')).blocked).toBeNull();
    await ctx.client.workflow.getHandle(agentWorkflowId('anonymous')).terminate('test done');
  });

  it('validates its configuration strictly', async () => {
    const a = await identity(on());
    for (const bad of [
      { window_seconds: true },
      { deny_rate_threshold: 0 },
      { deny_rate_threshold: 1.5 },
      { min_calls: 0 },
      { enabled: 'yes' },
      { windows: 5 },
    ])
      await expectHvError(a.agent.configure({ ...on(), ...bad }), ErrorType.InvalidInput);
    expect(await a.agent.configure({})).toMatchObject({ enabled: false });
  });
});
