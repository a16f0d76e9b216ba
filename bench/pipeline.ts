/**
 * Suite (b) of `npm run bench`: the whole governance pipeline against the substrate's cheapest workflow, on the same
 * server and worker in the same run. The pipeline is what a user's code does for one unit of agent work — create a
 * session, join, activate, three authorizes, terminate with a signed commitment — through the project's client; the
 * probe is a workflow that starts and returns. Both run closed-loop at concurrency 1, 8 and 32 for a fixed window,
 * interleaved ABAB. Reports R_b = pipelines/s ÷ empty/s, the latencies, and each pipeline's history as
 * DescribeWorkflowExecution counts it (events, bytes, state transitions), with R_b′ = R_b × ST_pipeline ÷ ST_empty, the
 * share of the server's transition capacity the pipeline uses.
 */
import { randomUUID } from 'node:crypto';
import type { HypervisorClient, SessionHandle } from '../client/hypervisor-client.js';
import { historyCounters, MANIFEST, OPERATOR, type HistoryCounters } from './sessions.js';
import {
  derivedRow,
  interleaved,
  loadWindow,
  measureTable,
  medianOf,
  quantile,
  type Goal,
  type Measure,
  type RecordMeasure,
} from './stats.js';
import type { TemporalBench } from './temporal-env.js';
import { emptyWorkflow } from './workflows.js';

const SUITE = 'pipeline';
/** Concurrency levels of the full run; `--quick` stops at 8 (a round of 32 pipelines alone takes ≈ 15 s today). */
export const PIPELINE_CONCURRENCY = [1, 8, 32] as const;
const AUTHORIZES = 3;

interface PipelineOutcome {
  handle: SessionHandle['workflow'];
  problems: string[];
}

/** One pipeline; the agent is the lane's (an agent does session after session), so identity workflows are reused. */
async function runPipeline(hv: HypervisorClient, agentDid: string): Promise<PipelineOutcome> {
  const problems: string[] = [];
  const session = await hv.createSession({ creatorDid: OPERATOR, sessionId: `pipeline-${randomUUID()}` });
  await session.join({ agentDid, sigmaRaw: 0.9, actions: MANIFEST });
  await session.activate({});
  for (let i = 0; i < AUTHORIZES; i++) {
    const decision = await session.authorize({ agentDid, actionId: 'edit' });
    if (!decision.allowed) problems.push(`authorize ${i + 1} denied (${decision.reason})`);
  }
  const commitment = await session.terminate({ reason: 'pipeline done' });
  if (!commitment.signature) problems.push('commitment not signed');
  if (commitment.entryCount < AUTHORIZES) problems.push(`commitment covers ${commitment.entryCount} entries`);
  return { handle: session.workflow, problems };
}

/** Runs the suite; pipeline failures (a denied routine authorize, an unsigned commitment) are invariant failures. */
export async function pipelineSuite(
  env: TemporalBench,
  {
    reps,
    seconds,
    levels,
    record,
  }: { reps: number; seconds: number; levels: readonly number[]; record: RecordMeasure },
): Promise<{ failures: string[] }> {
  const failures: string[] = [];
  const { client, hv } = env;
  const taskQueue = env.worker.taskQueue;
  const put = (name: string, rep: number, value: number, unit: Measure['unit']) =>
    record({ suite: SUITE, name, rep, value, unit });
  const lanes = Array.from({ length: Math.max(...levels) }, () => `did:mesh:bench-${randomUUID()}`);
  const empty = () => client.workflow.execute(emptyWorkflow, { taskQueue, workflowId: `empty-${randomUUID()}` });
  await Promise.all(lanes.map((agent) => runPipeline(hv, agent))); // warm-up: identity workflows, caches
  for (let rep = 1; rep <= reps; rep++) {
    for (const c of levels) {
      let sample: PipelineOutcome['handle'] | undefined;
      const runPipelines = () =>
        loadWindow(c, seconds, async (lane) => {
          const out = await runPipeline(hv, lanes[lane]!);
          sample ??= out.handle;
          for (const p of out.problems) failures.push(`pipeline (concurrency ${c}, rep ${rep}): ${p}`);
        });
      const [e, p] = await interleaved(rep, () => loadWindow(c, seconds, empty), runPipelines);
      if (p.latencies.length === 0) failures.push(`pipeline (concurrency ${c}, rep ${rep}): none completed`);
      await put(`empty workflows/s, concurrency ${c}`, rep, e.perSecond, 'per s');
      await put(`pipelines/s, concurrency ${c}`, rep, p.perSecond, 'per s');
      await put(`R_b pipelines/s ÷ empty/s, concurrency ${c}`, rep, p.perSecond / e.perSecond, 'ratio');
      for (const q of [0.5, 0.99]) {
        if (e.latencies.length) await put(`empty p${q * 100}, concurrency ${c}`, rep, quantile(e.latencies, q), 'ms');
        if (p.latencies.length)
          await put(`pipeline p${q * 100}, concurrency ${c}`, rep, quantile(p.latencies, q), 'ms');
      }
      if (sample) await historyOf(sample, c, rep, put);
    }
    await historyOfEmpty(env, rep, put);
  }
  return { failures };
}

type Put = (name: string, rep: number, value: number, unit: Measure['unit']) => Promise<void>;

async function putHistory(what: string, h: HistoryCounters, rep: number, put: Put): Promise<void> {
  await put(`history events per ${what}`, rep, h.events, 'events');
  await put(`history bytes per ${what}`, rep, h.bytes, 'bytes');
  await put(`state transitions per ${what}`, rep, h.transitions, 'transitions');
}

/** A pipeline's session history, once its workflow has closed (terminate answers just before the last task). */
async function historyOf(handle: PipelineOutcome['handle'], c: number, rep: number, put: Put): Promise<void> {
  await handle.result();
  await putHistory(`pipeline, concurrency ${c}`, await historyCounters(handle), rep, put);
}

async function historyOfEmpty(env: TemporalBench, rep: number, put: Put): Promise<void> {
  const handle = await env.client.workflow.start(emptyWorkflow, {
    taskQueue: env.worker.taskQueue,
    workflowId: `empty-${randomUUID()}`,
  });
  await handle.result();
  await putHistory('empty workflow', await historyCounters(handle), rep, put);
}

const GOALS: Record<string, Goal> = Object.fromEntries(
  PIPELINE_CONCURRENCY.map((c) => [`R_b pipelines/s ÷ empty/s, concurrency ${c}`, { at: 'least', value: 0.33 }]),
);

/** The suite's Markdown table, with R_b′ derived from the medians. */
export function pipelineSummary(samples: readonly Measure[]): string[] {
  const stEmpty = medianOf(samples, 'state transitions per empty workflow');
  const levels = PIPELINE_CONCURRENCY.filter((c) => samples.some((s) => s.name === `pipelines/s, concurrency ${c}`));
  const derived = levels.map((c) => {
    const rb = medianOf(samples, `R_b pipelines/s ÷ empty/s, concurrency ${c}`);
    const st = medianOf(samples, `state transitions per pipeline, concurrency ${c}`);
    return derivedRow(`R_b′ transition share (R_b × ST ÷ ST_empty), concurrency ${c}`, (rb * st) / stEmpty, 'ratio');
  });
  return measureTable('pipeline ÷ empty workflow (same server, same run)', samples, GOALS, derived);
}
