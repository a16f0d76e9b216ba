import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GovernanceCounter as C } from '../../domain/metrics.js';
import {
  parseMetrics,
  runScenario,
  startObservedWorker,
  total,
  type ObservedWorker,
  type Sample,
  type ScenarioFacts,
} from '../helpers/observed-scenario.js';
import { eventually } from '../helpers/session.js';

let w: ObservedWorker;
let facts: ScenarioFacts;
let samples: Sample[];

beforeAll(async () => {
  // No workflow cache: every workflow task replays the run's whole history before it does anything new.
  w = await startObservedWorker({ HV_MAX_CACHED_WORKFLOWS: '0' });
  facts = await runScenario(w);
  samples = await eventually(
    async () => parseMetrics(await (await fetch(w.metricsUrl)).text()),
    (s) => total(s, C.sessionsClosed) >= 1 && total(s, C.sagasEnded) >= 1 && total(s, C.quarantines) >= 1,
  );
}, 180_000);
afterAll(async () => {
  await w?.close();
});

describe('governance metrics when every workflow task replays (no cache)', () => {
  it('really replayed: the SDK evicted after every task, replayed often, and never hit its cache', () => {
    expect(total(samples, 'temporal_workflow_task_replay_latency_count')).toBeGreaterThan(10);
    expect(total(samples, 'temporal_sticky_cache_total_forced_eviction')).toBeGreaterThan(10);
    expect(total(samples, 'temporal_sticky_cache_hit')).toBe(0);
  });

  it('counts each event once, never again on replay', () => {
    // Decisions are counted by the workflow code that makes them, outside replay. With no cache this worker's workflow
    // tasks sometimes time out (WorkflowTaskTimedOut, START_TO_CLOSE, seen in the identity and session histories of this
    // scenario; none with the default cache): the server discards the timed-out task's completion and the next attempt
    // runs its new events again, not as replay, so a decision made in such a task is counted twice. That is the
    // at-least-once nature of workflow-code metrics (docs/DESIGN.md §11), not a replay count; replay adds nothing.
    for (const [outcome, made] of [
      ['allow', facts.allowed],
      ['deny', facts.denied],
    ] as const) {
      const counted = total(samples, C.decisions, { outcome });
      expect(counted, outcome).toBeGreaterThanOrEqual(made);
      expect(counted, outcome).toBeLessThanOrEqual(made + 1);
    }
    // Audit entries are counted as the session records them, so a workflow task that is retried after failing (a
    // continue-as-new racing a new update; new execution, not replay) or an entry recorded after `facts` was read can
    // add one. Replay itself must add nothing: dozens of replays here, at most two extra counts.
    const recorded = total(samples, C.auditRecorded);
    expect(recorded).toBeGreaterThanOrEqual(facts.auditEntries);
    expect(recorded).toBeLessThanOrEqual(facts.auditEntries + 2);
    expect(total(samples, C.ringTransitions, { transition: 'join' })).toBe(5);
    expect(total(samples, C.sessionsStarted)).toBe(2);
    expect(total(samples, C.killSwitch, { event: 'tripped' })).toBe(1);
    expect(total(samples, C.sagasStarted)).toBe(1);
    expect(total(samples, C.sagasEnded, { status: 'compensated' })).toBe(1);
    expect(total(samples, C.compensations, { outcome: 'compensated' })).toBe(1);
    expect(total(samples, C.breaches)).toBe(facts.breaches);
  });
});
