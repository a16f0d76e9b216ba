import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { did, eventually } from '../helpers/session.js';
import { expectProblem, startFileWorker, startTestApi, type TestApi } from '../helpers/api.js';
import { StepService } from '../helpers/step-service.js';
import { connectTestTemporal, uniqueTaskQueue, type TemporalTestContext } from '../helpers/temporal.js';

let ctx: TemporalTestContext;
let api: TestApi;
let worker: { stop(): Promise<void> };
let service: StepService;
let opKey: string;

beforeAll(async () => {
  ctx = await connectTestTemporal();
  const taskQueue = uniqueTaskQueue('api-sagas');
  service = await StepService.start();
  worker = await startFileWorker(ctx, taskQueue, { stepBaseUrl: service.url });
  api = await startTestApi(ctx, taskQueue);
  opKey = await api.key(did('saga-op'), 'operator');
});
afterAll(async () => {
  await api?.close();
  await worker?.stop();
  await service?.close();
  await ctx.close();
});

const fast = { retryInitialIntervalMs: 50, heartbeatTimeoutMs: 2000 };
const step = (id: string, agent: string) => ({
  id,
  action_id: `act-${id}`,
  agent,
  execute_api: `/${id}/do`,
  undo_api: `/${id}/undo`,
});

/** An active session whose two agents declared the steps' actions; each agent with its own key. */
async function sagaSession(stepIds: string[]) {
  const creatorKey = await api.key(did('creator'));
  const id = (
    await api.call('POST', '/sessions', {
      key: creatorKey,
      body: { config: { breachPolicy: { baselineRate: 10_000 } } },
    })
  ).body.sessionId as string;
  const manifest = stepIds.map((s) => ({ actionId: `act-${s}`, name: s, reversibility: 'full', undoApi: '/undo' }));
  const agents = [];
  for (const name of ['one', 'two']) {
    const agentDid = did(name);
    const key = await api.key(agentDid);
    expect(
      (await api.call('POST', `/sessions/${id}/join`, { key, body: { sigmaRaw: 0.9, actions: manifest } })).status,
    ).toBe(200);
    agents.push({ did: agentDid, key });
  }
  await api.call('POST', `/sessions/${id}/activate`, { key: creatorKey, body: {} });
  return { id, agents: agents as [{ did: string; key: string }, { did: string; key: string }] };
}

const progress = (sagaId: string, key: string) => api.call('GET', `/sagas/${sagaId}`, { key });
const finished = (sagaId: string, key: string) =>
  eventually(
    () => progress(sagaId, key),
    (r) => r.status === 200 && !['running', 'compensating'].includes(r.body.status),
  );

describe('sagas over HTTP', () => {
  it('validates a definition, starts a saga of the caller’s own steps, shows it, and resumes it as an operator', async () => {
    const { id, agents } = await sagaSession(['a', 'b']);
    const [one, two] = agents;
    const definition = { name: 'http-saga', session_id: id, steps: [step('a', one.did), step('b', one.did)] };
    expect((await api.call('POST', '/sagas/validate', { key: one.key, body: { definition } })).body).toEqual({
      valid: true,
      issues: [],
    });
    const invalid = await api.call('POST', '/sagas/validate', {
      key: one.key,
      body: { definition: { ...definition, steps: [{ ...step('a', one.did), timeout: 0 }] } },
    });
    expect(invalid.body.valid).toBe(false);
    expect(invalid.body.issues[0]).toMatchObject({ path: 'steps[0].timeout' });
    expectProblem(
      await api.call('POST', '/sagas', { key: one.key, body: { definition: { name: 'x', steps: [] } } }),
      400,
      'SagaDefinitionInvalid',
    );

    // An agent may not start a saga that makes another agent act.
    const mixed = { ...definition, steps: [step('a', one.did), step('b', two.did)] };
    expectProblem(await api.call('POST', '/sagas', { key: one.key, body: { definition: mixed } }), 403, 'Forbidden');

    const started = await api.call('POST', '/sagas', { key: one.key, body: { definition, options: fast } });
    expect(started.status).toBe(201);
    const sagaId = started.body.sagaId as string;
    const done = await finished(sagaId, one.key);
    expect(done.body).toMatchObject({ status: 'completed' });
    expect(done.body.steps.map((s: { state: string }) => s.state)).toEqual(['committed', 'committed']);

    expectProblem(await api.call('POST', `/sagas/${sagaId}/resume`, { key: one.key }), 403, 'Forbidden');
    // The saga's view says completed a moment before its workflow closes (its last reports): resume waits for that.
    const resumed = await eventually(
      () => api.call('POST', `/sagas/${sagaId}/resume`, { key: opKey }),
      (r) => r.status !== 409,
    );
    expect(resumed).toMatchObject({ status: 201, body: { sagaId } });
    expect((await finished(sagaId, opKey)).body.status).toBe('completed');
    expectProblem(await progress('no-such-saga', one.key), 404, 'SessionNotFound');
  });

  it('an operator starts a saga of several agents and cancels it: committed steps are compensated', async () => {
    const { id, agents } = await sagaSession(['c', 'd']);
    const [one, two] = agents;
    service.on('/d/do', () => 'hang');
    const definition = { name: 'cancel-me', session_id: id, steps: [step('c', one.did), step('d', two.did)] };
    const sagaId = (await api.call('POST', '/sagas', { key: opKey, body: { definition, options: fast } })).body
      .sagaId as string;
    await eventually(
      async () => service.callsTo('/d/do'),
      (n) => n === 1,
    );
    expectProblem(await api.call('POST', `/sagas/${sagaId}/cancel`, { key: one.key }), 403, 'Forbidden');
    const cancelled = await api.call('POST', `/sagas/${sagaId}/cancel`, { key: opKey });
    expect(cancelled).toMatchObject({ status: 202, body: { sagaId, cancelRequested: true } });
    expect((await finished(sagaId, opKey)).body).toMatchObject({ status: 'compensated', error: 'saga cancelled' });
    expect(service.paths('undo')).toEqual(['/d/undo', '/c/undo']);
  });
});
