/**
 * Suite (b′) of `npm run bench`: the cost of `authorize`, the call every agent action makes, against the substrate's
 * floor on the same server in the same run — a no-op update on a trivial workflow. Reports the round-trip ratio
 * (p50, p99; single caller, interleaved ABAB) and the history each authorize and each shared-state write adds (events
 * and bytes, one caller, and 16 concurrent callers for authorize), the figures the hot-path issue sets goals for.
 */
import { randomUUID } from 'node:crypto';
import type { Client } from '@temporalio/client';
import type { HypervisorClient } from '../client/hypervisor-client.js';
import { agentDid, historyPerCall, MANIFEST, openSession } from './sessions.js';
import { interleaved, measureTable, quantile, timed, type Goal, type Measure, type RecordMeasure } from './stats.js';
import type { TemporalBench } from './temporal-env.js';
import { probeEndSignal, probeUpdate, probeWorkflow } from './workflows.js';

const SUITE = 'governance';
const CONCURRENT_CALLERS = 16;

/** No-op update latencies (ms) on a fresh probe workflow of the shared worker. */
export async function probeLatencies(client: Client, taskQueue: string, calls: number): Promise<number[]> {
  const probe = await client.workflow.start(probeWorkflow, { taskQueue, workflowId: `probe-${randomUUID()}` });
  const xs = await timed(calls, () => probe.executeUpdate(probeUpdate));
  await probe.signal(probeEndSignal);
  return xs;
}

/** Runs the suite on the shared Temporal environment. */
export async function governanceSuite(
  env: TemporalBench,
  { reps, calls, record }: { reps: number; calls: number; record: RecordMeasure },
): Promise<{ failures: string[] }> {
  const failures: string[] = [];
  const put = (name: string, rep: number, value: number, unit: Measure['unit']) =>
    record({ suite: SUITE, name, rep, value, unit });
  for (let rep = 1; rep <= reps; rep++) {
    const runAuthorize = async () => {
      // Unthrottled: a sequential caller at the substrate's speed outruns ring 2's default 20/s bucket (burst 40), and
      // the suite measures the call, not the rate limit.
      const { session, agentDid: agent } = await openSession(env.hv, {
        maxParticipants: CONCURRENT_CALLERS + 1,
        unthrottled: true,
      });
      let denied = 0;
      const xs = await timed(calls, async () => {
        if (!(await session.authorize({ agentDid: agent, actionId: 'edit' })).allowed) denied++;
      });
      if (denied > 0) failures.push(`governance rep ${rep}: ${denied} of ${calls} routine authorizations were denied`);
      return xs;
    };
    const [probe, authorize] = await interleaved(
      rep,
      () => probeLatencies(env.client, env.worker.taskQueue, calls),
      runAuthorize,
    );
    for (const [name, xs] of [
      ['no-op update (probe)', probe],
      ['authorize', authorize],
    ] as const) {
      await put(`${name} p50`, rep, quantile(xs, 0.5), 'ms');
      await put(`${name} p99`, rep, quantile(xs, 0.99), 'ms');
    }
    for (const p of [0.5, 0.99])
      await put(`authorize ÷ no-op update, p${p * 100}`, rep, quantile(authorize, p) / quantile(probe, p), 'ratio');
    await historySamples(env.hv, rep, calls, put);
  }
  return { failures };
}

type Put = (name: string, rep: number, value: number, unit: Measure['unit']) => Promise<void>;

/** History per authorize (one caller; 16 concurrent callers, one agent each) and per state write (one caller). */
async function historySamples(hv: HypervisorClient, rep: number, calls: number, put: Put): Promise<void> {
  const single = await openSession(hv);
  const sequential = await historyPerCall(single.session.workflow, calls, async () => {
    for (let i = 0; i < calls; i++) await single.session.authorize({ agentDid: single.agentDid, actionId: 'edit' });
  });
  const { session } = await openSession(hv, { maxParticipants: CONCURRENT_CALLERS + 1 });
  const agents = Array.from({ length: CONCURRENT_CALLERS }, agentDid);
  for (const agent of agents) await session.join({ agentDid: agent, sigmaRaw: 0.9, actions: MANIFEST });
  const perCaller = Math.max(1, Math.round(calls / CONCURRENT_CALLERS));
  const concurrent = await historyPerCall(session.workflow, perCaller * CONCURRENT_CALLERS, async () => {
    await Promise.all(
      agents.map(async (agent) => {
        for (let i = 0; i < perCaller; i++) await session.authorize({ agentDid: agent, actionId: 'edit' });
      }),
    );
  });
  // An edit loop on one file: each write names the version it read, as a strong-consistency writer must.
  const writer = await openSession(hv);
  let baseVersion = 0;
  const writes = await historyPerCall(writer.session.workflow, calls, async () => {
    for (let i = 0; i < calls; i++) {
      const w = await writer.session.write({
        agentDid: writer.agentDid,
        path: '/bench/notes.md',
        content: `v${i}`,
        baseVersion,
      });
      baseVersion = w.version;
    }
  });
  for (const [label, h] of [
    ['authorize, 1 caller', sequential],
    [`authorize, ${CONCURRENT_CALLERS} callers`, concurrent],
    ['state write, 1 caller', writes],
  ] as const) {
    if (!h) continue; // the session continued as new while measured: its run's counters restarted
    await put(`history events per ${label}`, rep, h.events, 'events');
    await put(`history bytes per ${label}`, rep, h.bytes, 'bytes');
  }
}

/** Goals of the hot-path issue, by measurement name. */
const GOALS: Record<string, Goal> = {
  'authorize ÷ no-op update, p50': { at: 'most', value: 1.5 },
  'authorize ÷ no-op update, p99': { at: 'most', value: 2 },
  'history events per authorize, 1 caller': { at: 'most', value: 5 },
  [`history events per authorize, ${CONCURRENT_CALLERS} callers`]: { at: 'most', value: 3 },
  'history bytes per authorize, 1 caller': { at: 'most', value: 1024 },
  [`history bytes per authorize, ${CONCURRENT_CALLERS} callers`]: { at: 'most', value: 1024 },
};

/** The suite's Markdown table. */
export const governanceSummary = (samples: readonly Measure[]): string[] =>
  measureTable('governance (same server, same run)', samples, GOALS);
