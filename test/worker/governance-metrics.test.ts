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
const scrape = async () => parseMetrics(await (await fetch(w.metricsUrl)).text());

beforeAll(async () => {
  w = await startObservedWorker();
  facts = await runScenario(w);
  // The SDK exports workflow metrics as their tasks complete: wait until the last events of the run are counted.
  samples = await eventually(
    scrape,
    (s) => total(s, C.sessionsClosed) >= 1 && total(s, C.sagasEnded) >= 1 && total(s, C.quarantines) >= 1,
  );
}, 120_000);
afterAll(async () => {
  await w?.close();
});

describe('governance metrics on /metrics after the walk-through and a compensated saga', () => {
  it('counts decisions by outcome, reason and ring, matching the session’s own tally', () => {
    expect(total(samples, C.decisions, { outcome: 'allow' })).toBe(facts.allowed);
    expect(total(samples, C.decisions, { outcome: 'deny' })).toBe(facts.denied);
    const outOfRing = ['ring_violation', 'ring_breach'].map((reason) => total(samples, C.decisions, { reason }));
    expect(outOfRing[0]! + outOfRing[1]!).toBe(2);
    expect(total(samples, C.decisions, { outcome: 'deny', reason: 'agent_killed' })).toBe(1);
    // The read, plus the authorization of each of the saga's two steps (once per step, not per attempt).
    expect(total(samples, C.decisions, { outcome: 'allow', reason: 'allowed', ring: '2' })).toBe(1 + 2);
  });

  it('counts joins, kills, kill-switch trips and unblocks, and the session’s life', () => {
    expect(total(samples, C.ringTransitions, { transition: 'join', ring: '2' })).toBe(5);
    // Carol by the operator, and Bob by his identity's operator trip, which kills him in every session he is in.
    expect(total(samples, C.kills, { reason: 'manual' })).toBe(2);
    expect(total(samples, C.kills)).toBe(2 + facts.breachKills);
    expect(total(samples, C.kills, { reason: 'ring_breach' })).toBe(facts.breachKills);
    expect(total(samples, C.killSwitch, { event: 'tripped', trigger: 'operator' })).toBe(1);
    expect(total(samples, C.killSwitch, { event: 'unblocked', trigger: 'operator' })).toBe(1);
    expect(total(samples, C.sessionsStarted)).toBe(2);
    expect(total(samples, C.sessionsClosed)).toBe(1);
    expect(facts.breaches).toBeGreaterThan(0);
    expect(total(samples, C.breaches)).toBe(facts.breaches);
    expect(total(samples, C.quarantines, { reason: 'manual' })).toBe(1);
  });

  it('counts the saga, its step attempts and outcomes, and its compensation', () => {
    expect(facts.stepAttempts).toBe(3); // a once, b twice (retries: 1)
    expect(total(samples, C.sagasStarted)).toBe(1);
    expect(total(samples, C.sagasEnded, { status: 'compensated' })).toBe(1);
    expect(total(samples, C.sagasEnded)).toBe(1);
    expect(total(samples, C.stepsStarted)).toBe(2);
    // Each attempt is one activity execution: a once, b twice, and the undo of a.
    const runs = { activity: 'runSagaStep' };
    expect(total(samples, 'hypervisor_activity_calls_total', runs)).toBe(facts.stepAttempts + 1);
    expect(total(samples, 'hypervisor_activity_calls_total', { ...runs, outcome: 'error' })).toBe(2);
    expect(total(samples, C.stepOutcomes, { outcome: 'committed' })).toBe(1);
    expect(total(samples, C.stepOutcomes, { outcome: 'failed' })).toBe(1);
    expect(total(samples, C.compensations, { outcome: 'compensated' })).toBe(1);
    expect(total(samples, C.compensations, { outcome: 'failed' })).toBe(0);
  });

  it('counts every audit entry once when recorded and once when stored, with its lag', () => {
    expect(total(samples, C.auditRecorded)).toBe(facts.auditEntries);
    expect(total(samples, 'hypervisor_audit_entries_total', { outcome: 'inserted' })).toBe(facts.auditEntries);
    expect(total(samples, 'hypervisor_audit_persist_lag_seconds_count')).toBe(facts.auditEntries);
    expect(total(samples, 'hypervisor_audit_outbox_depth_count')).toBeGreaterThan(0);
    expect(total(samples, 'hypervisor_audit_faults_total')).toBe(0);
  });

  it('times every authorize round trip, by caller and outcome: the clients’ calls and the saga steps’', () => {
    const latency = 'hypervisor_authorize_latency_seconds_count';
    // Alice's read, her denied deploy, killed Carol's call, Dave's breach; the saga's two step authorizations.
    expect(total(samples, latency, { caller: 'client', outcome: 'allow' })).toBe(facts.allowed - 2);
    expect(total(samples, latency, { caller: 'client', outcome: 'deny' })).toBe(facts.denied);
    expect(total(samples, latency, { caller: 'saga_step', outcome: 'allow' })).toBe(2);
    expect(total(samples, latency, { outcome: 'error' })).toBe(0);
    const sum = total(samples, 'hypervisor_authorize_latency_seconds_sum');
    expect(sum).toBeGreaterThan(0);
    expect(sum / total(samples, latency)).toBeLessThan(10);
  });

  it('gauges the sessions and sagas open now: the strict session is left open, the saga and first session ended', async () => {
    const live = await eventually(scrape, (s) => total(s, 'hypervisor_open_sessions') === 1);
    expect(total(live, 'hypervisor_open_sessions')).toBe(1);
    expect(total(live, 'hypervisor_open_sagas')).toBe(0);
  });

  it('labels only bounded values: no DID, session or saga id reaches a label', () => {
    // Ours, plus the SDK's own (namespace, task queue, workflow type, service name) and prom-client's.
    const keys = [
      'outcome',
      'reason',
      'ring',
      'transition',
      'severity',
      'event',
      'trigger',
      'status',
      'activity',
      'caller',
      'le',
      // hypervisor_build_info: one series per worker build, bounded by the builds deployed.
      'version',
      'git_sha',
      'build_id',
      'deployment',
      'versioning',
    ];
    const sdk = ['namespace', 'taskQueue', 'task_queue', 'workflowType', 'workflow_type', 'service_name', 'app'];
    const ours = samples.filter((s) => /^hypervisor_(?!process_|nodejs_)/.test(s.name));
    expect(ours.length).toBeGreaterThan(20);
    for (const s of ours) {
      expect(
        Object.keys(s.labels).filter((k) => !keys.includes(k) && !sdk.includes(k)),
        s.name,
      ).toEqual([]);
      for (const v of Object.values(s.labels)) expect(v, s.name).not.toMatch(/did:/);
    }
  });
});
