import { describe, expect, it } from 'vitest';
import { parseSagaDefinition, type SagaDefinition } from '../../domain/saga-dsl.js';
import { SagaLedger, fanOutFailureMessage, fanOutVerdict, involvedAgents, newSagaView } from '../../domain/saga-run.js';

const definition: SagaDefinition = parseSagaDefinition({
  name: 'deploy',
  session_id: 'ss-1',
  steps: [
    { id: 'a', action_id: 'do-a', agent: 'did:mesh:agent-2', execute_api: '/a', undo_api: '/a/undo' },
    { id: 'b', action_id: 'do-b', agent: 'did:mesh:agent-1' },
    { id: 'c', action_id: 'do-c', agent: 'did:mesh:agent-2' },
  ],
});
const step = (id: string) => definition.steps.find((s) => s.id === id)!;

describe('newSagaView', () => {
  it('lists every step as pending under its own agent, with the saga running', () => {
    const view = newSagaView('sg-1', definition, 1000);
    expect(view).toMatchObject({ sagaId: 'sg-1', sessionId: 'ss-1', name: 'deploy', status: 'running' });
    expect(view).toMatchObject({ error: null, startedAtMs: 1000, completedAtMs: null });
    const nothingYet = { startedAtMs: null, completedAtMs: null, result: null, error: null, compensationError: null };
    const pending = { state: 'pending', attempts: 0, ...nothingYet };
    expect(view.steps[0]).toEqual({ stepId: 'a', actionId: 'do-a', agentDid: 'did:mesh:agent-2', ...pending });
    expect(view.steps.map((s) => s.stepId)).toEqual(['a', 'b', 'c']);
  });
});

describe('SagaLedger', () => {
  it('records a step through start and commit, in place, so the view handed out stays current', () => {
    const ledger = new SagaLedger('sg-1', definition, 0);
    const view = ledger.view;
    ledger.start('a', 10);
    expect(view.steps[0]).toMatchObject({ state: 'executing', startedAtMs: 10 });
    ledger.commit('a', { id: 7 }, 2, 20);
    expect(view.steps[0]).toMatchObject({ state: 'committed', result: { id: 7 }, completedAtMs: 20, attempts: 2 });
    expect(ledger.committed).toEqual(['a']);
  });

  it('counts a checkpoint skip as committed and a failure as nothing to undo', () => {
    const ledger = new SagaLedger('sg-1', definition, 0);
    ledger.skip('a', 'earlier', 5);
    ledger.fail('b', 'boom', 3, 6);
    expect(ledger.step('a')).toMatchObject({ state: 'skipped', result: 'earlier', completedAtMs: 5 });
    expect(ledger.step('b')).toMatchObject({ state: 'failed', error: 'boom', attempts: 3, completedAtMs: 6 });
    expect(ledger.committed).toEqual(['a']);
  });

  it('undoes committed steps newest first, then the steps cancelled while running', () => {
    const ledger = new SagaLedger('sg-1', definition, 0);
    ledger.commit('a', null, 1, 1);
    ledger.commit('b', null, 1, 2);
    ledger.cancel('c', 3);
    expect(ledger.step('c')).toMatchObject({ state: 'cancelled', error: 'cancelled', completedAtMs: 3 });
    expect(ledger.compensationOrder()).toEqual(['c', 'b', 'a']);
  });

  it('takes the stragglers of one fan-out out of the rollback', () => {
    const ledger = new SagaLedger('sg-1', definition, 0);
    ledger.cancel('a', 1);
    ledger.cancel('b', 2);
    ledger.cancel('c', 3);
    expect(ledger.takeStragglers(['c', 'a'])).toEqual(['a', 'c']);
    expect(ledger.cancelledStarted).toEqual(['b']);
    expect(ledger.takeStragglers(['a'])).toEqual([]);
  });

  it('reports whether an undone step had been cancelled, and how its undo ended', () => {
    const ledger = new SagaLedger('sg-1', definition, 0);
    ledger.cancel('a', 1);
    ledger.commit('b', null, 1, 2);
    expect(ledger.compensating('a')).toBe(true);
    expect(ledger.compensating('b')).toBe(false);
    expect(ledger.step('a').state).toBe('compensating');
    ledger.compensated('a');
    ledger.compensationFailed('b', 'undo refused');
    expect(ledger.step('a').state).toBe('compensated');
    expect(ledger.step('b')).toMatchObject({ state: 'compensation_failed', compensationError: 'undo refused' });
  });

  it('hands a step to a substitute under a new epoch, which its invocation and authorization carry', () => {
    const ledger = new SagaLedger('sg-1', definition, 0);
    expect(ledger.executorOf(step('a'))).toEqual({ agentDid: 'did:mesh:agent-2', epoch: 0 });
    expect(ledger.authorization(step('a'), 'did:mesh:agent-2', 0)).toEqual({
      sessionId: 'ss-1',
      agentDid: 'did:mesh:agent-2',
      actionId: 'do-a',
      updateId: 'sg-1/a/authorize',
    });
    ledger.reassign('a', { agentDid: 'did:mesh:agent-9', epoch: 1 });
    expect(ledger.step('a').agentDid).toBe('did:mesh:agent-9');
    expect(ledger.executorOf(step('a'))).toEqual({ agentDid: 'did:mesh:agent-9', epoch: 1 });
    expect(ledger.authorization(step('a'), 'did:mesh:agent-9', 1).updateId).toBe('sg-1/a/authorize/1');
    expect(ledger.invocation(step('a'), 'execute')).toEqual({
      sagaId: 'sg-1',
      sessionId: 'ss-1',
      stepId: 'a',
      actionId: 'do-a',
      agentDid: 'did:mesh:agent-9',
      mode: 'execute',
      api: '/a',
      idempotencyKey: 'sg-1/a/execute',
      epoch: 1,
      result: null,
    });
  });

  it('gives an undo the execute result, the undo API, and an empty API where the step has none', () => {
    const ledger = new SagaLedger('sg-1', definition, 0);
    ledger.commit('a', { vm: 'x' }, 1, 1);
    expect(ledger.invocation(step('a'), 'undo')).toMatchObject({
      api: '/a/undo',
      idempotencyKey: 'sg-1/a/undo',
      result: { vm: 'x' },
    });
    expect(ledger.invocation(step('b'), 'undo').api).toBe('');
  });

  it('ends completed, escalated for a stranded undo, failed with nothing to undo, else compensating', () => {
    const ledger = new SagaLedger('sg-1', definition, 0);
    expect(ledger.ending()).toBe('completed');
    ledger.view.error = 'step b failed';
    expect(ledger.ending()).toBe('failed');
    ledger.cancel('c', 1);
    expect(ledger.ending()).toBe('compensate');
    ledger.view.error = null;
    ledger.strandedUndoFailures.push({ stepId: 'c', agentDid: 'did:mesh:agent-2', error: 'no' });
    expect(ledger.ending()).toBe('escalate_stranded');
  });
});

describe('fan-out verdicts', () => {
  it('decides as soon as the policy is met or can no longer be met', () => {
    expect(fanOutVerdict('all_must_succeed', 3, 2, 0)).toBe('pending');
    expect(fanOutVerdict('all_must_succeed', 3, 3, 0)).toBe('succeeded');
    expect(fanOutVerdict('all_must_succeed', 3, 0, 1)).toBe('failed');
    expect(fanOutVerdict('majority_must_succeed', 3, 2, 1)).toBe('succeeded');
    expect(fanOutVerdict('majority_must_succeed', 3, 1, 1)).toBe('pending');
    expect(fanOutVerdict('majority_must_succeed', 3, 0, 2)).toBe('failed');
    expect(fanOutVerdict('any_must_succeed', 3, 1, 2)).toBe('succeeded');
    expect(fanOutVerdict('any_must_succeed', 3, 0, 2)).toBe('pending');
    expect(fanOutVerdict('any_must_succeed', 3, 0, 3)).toBe('failed');
  });

  it('says how many branches succeeded against how many were required', () => {
    expect(fanOutFailureMessage('majority_must_succeed', ['a', 'b', 'c'], 1)).toBe(
      'fan-out majority_must_succeed over [a, b, c] failed: 1 of 3 succeeded, 2 required',
    );
  });
});

describe('involvedAgents', () => {
  it('names each agent once, sorted', () => {
    expect(involvedAgents(definition)).toEqual(['did:mesh:agent-1', 'did:mesh:agent-2']);
  });
});
