/**
 * Suite (e) of `npm run bench`: what open sessions cost the worker. A worker process of its own (fresh task queue, so
 * nothing else is in its cache) serves idle sessions opened in steps up to each N — create, join, activate, each
 * session with its own agent, so each also starts that agent's identity workflow — with bounded concurrency and
 * progress on stderr. At each N: the open rate of the step, the worker's RSS and RSS per open session (from
 * /proc), the SDK's workflow cache size, then authorize throughput and p50/p99 on a fixed set of measured sessions,
 * interleaved with a no-op update probe; the summary gives each N's throughput and p99 as a ratio to the first N.
 * Opening stops early at a time budget or an RSS cap (the machine is shared); the table then says how far it got.
 */
import { benchOperator } from './temporal-env.js';
import { HypervisorClient } from '../client/hypervisor-client.js';
import { probeLatencies } from './governance.js';
import { openSession, type OpenSession } from './sessions.js';
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
import type { TemporalBench, WorkerProcess } from './temporal-env.js';

const SUITE = 'scaling';
const MEASURED_SESSIONS = 8;
const OPEN_CONCURRENCY = 16;
const PROGRESS_EVERY_MS = 5_000;
const MB = 1024 * 1024;

export interface ScalingOptions {
  levels: readonly number[];
  reps: number;
  seconds: number;
  /** Opening stops when the whole suite has spent this long opening sessions. */
  openBudgetSeconds: number;
  /** Opening stops when the worker's RSS passes this. */
  rssCapBytes: number;
  record: RecordMeasure;
}

interface OpenStep {
  opened: number;
  seconds: number;
  /** Why opening stopped before the target: the time budget, the RSS cap, or the first open that failed. */
  stoppedBy: string | null;
}

/** Opens `count` idle sessions, OPEN_CONCURRENCY at a time, unless the deadline or the RSS cap comes first. */
async function openIdle(
  hv: HypervisorClient,
  worker: WorkerProcess,
  count: number,
  limits: { deadline: number; rssCapBytes: number; alreadyOpen: number; target: number },
): Promise<OpenStep> {
  const t0 = performance.now();
  let next = 0;
  let opened = 0;
  let stoppedBy: OpenStep['stoppedBy'] = null;
  let lastProgress = t0;
  const lane = async () => {
    while (next < count && !stoppedBy) {
      next++;
      try {
        await openSession(hv, { prefix: 'idle' });
      } catch (err) {
        stoppedBy ??= `opening a session failed (${(err as Error).message})`;
        return;
      }
      opened++;
      if (performance.now() > limits.deadline) stoppedBy ??= 'time budget';
      if (opened % 50 === 0 && (await worker.rssBytes()) > limits.rssCapBytes) stoppedBy ??= 'RSS cap';
      if (performance.now() - lastProgress > PROGRESS_EVERY_MS) {
        lastProgress = performance.now();
        const rate = opened / ((lastProgress - t0) / 1000);
        const rss = (await worker.rssBytes()) / MB;
        console.error(
          `[bench] scaling: ${limits.alreadyOpen + opened}/${limits.target} sessions open ` +
            `(${rate.toFixed(1)}/s, worker RSS ${rss.toFixed(0)} MB)`,
        );
      }
    }
  };
  await Promise.all(Array.from({ length: OPEN_CONCURRENCY }, lane));
  return { opened, seconds: (performance.now() - t0) / 1000, stoppedBy };
}

/** The SDK's sticky workflow cache size, from the worker's Prometheus text; NaN when the gauge is absent. */
function cachedWorkflows(metrics: string): number {
  const m = /^temporal_sticky_cache_size(?:\{[^}]*\})?\s+(\S+)/m.exec(metrics);
  return m ? Number(m[1]) : Number.NaN;
}

/** Runs the suite on its own worker process; returns notes on levels not reached. */
export async function scalingSuite(env: TemporalBench, options: ScalingOptions): Promise<{ notes: string[] }> {
  const worker = await env.spawnWorker();
  try {
    return await measureLevels(env, worker, options);
  } finally {
    await worker.stop();
  }
}

async function measureLevels(env: TemporalBench, worker: WorkerProcess, options: ScalingOptions) {
  const { levels, reps, seconds, record } = options;
  const hv = HypervisorClient.fromClient(env.client, worker.taskQueue, { operator: benchOperator });
  const notes: string[] = [];
  const measured = await Promise.all(
    Array.from({ length: MEASURED_SESSIONS }, () => openSession(hv, { unthrottled: true, prefix: 'measured' })),
  );
  await authorizeWindow(measured, 1); // warm-up, discarded
  const rss0 = await worker.rssBytes();
  const deadline = performance.now() + options.openBudgetSeconds * 1000;
  let open = 0;
  for (const n of levels) {
    const put = (name: string, rep: number, value: number, unit: Measure['unit']) =>
      record({ suite: SUITE, name: `${name}, N=${n.toLocaleString('en-US')}`, rep, value, unit });
    const step = await openIdle(hv, worker, n - open, {
      deadline,
      rssCapBytes: options.rssCapBytes,
      alreadyOpen: open,
      target: n,
    });
    open += step.opened;
    const rss = await worker.rssBytes();
    await put('sessions open', 1, open, 'count');
    await put('open rate', 1, step.opened / step.seconds, 'per s');
    await put('worker RSS', 1, rss / MB, 'MB');
    await put('RSS per open session', 1, (rss - rss0) / open / 1024, 'KB');
    await put('workflows in the worker cache', 1, cachedWorkflows(await worker.metrics()), 'count');
    for (let rep = 1; rep <= reps; rep++) {
      const [probe, w] = await interleaved(
        rep,
        () => probeLatencies(env.client, worker.taskQueue, 10),
        () => authorizeWindow(measured, seconds),
      );
      await put('no-op update p50', rep, quantile(probe, 0.5), 'ms');
      await put('authorize throughput', rep, w.perSecond, 'per s');
      await put('authorize p50', rep, quantile(w.latencies, 0.5), 'ms');
      await put('authorize p99', rep, quantile(w.latencies, 0.99), 'ms');
    }
    if (step.stoppedBy) {
      notes.push(
        `scaling stopped at ${open.toLocaleString('en-US')} of ${n.toLocaleString('en-US')} sessions: ${step.stoppedBy}`,
      );
      break;
    }
  }
  return { notes };
}

/** One caller per measured session, back to back, for `seconds`. */
const authorizeWindow = (measured: OpenSession[], seconds: number) =>
  loadWindow(measured.length, seconds, (lane) =>
    measured[lane]!.session.authorize({ agentDid: measured[lane]!.agentDid, actionId: 'edit' }),
  );

/** The suite's Markdown table: the measured figures, then each N against the first. */
export function scalingSummary(samples: readonly Measure[], levels: readonly number[]): string[] {
  const label = (n: number) => `N=${n.toLocaleString('en-US')}`;
  const base = levels[0]!;
  const reached = levels.filter((n) => samples.some((s) => s.name === `authorize throughput, ${label(n)}`));
  const goals: Record<string, Goal> = {};
  for (const n of reached) {
    goals[`open rate, ${label(n)}`] = { at: 'least', value: 50 };
    goals[`RSS per open session, ${label(n)}`] = { at: 'most', value: 150 };
  }
  if (reached.includes(10_000)) goals[`worker RSS, ${label(10_000)}`] = { at: 'most', value: 2048 };
  const derived = reached
    .slice(1)
    .flatMap((n) => [
      derivedRow(
        `authorize throughput ${label(n)} ÷ ${label(base)}`,
        medianOf(samples, `authorize throughput, ${label(n)}`) /
          medianOf(samples, `authorize throughput, ${label(base)}`),
        'ratio',
        { at: 'least', value: 0.8 },
      ),
      derivedRow(
        `authorize p99 ${label(n)} ÷ ${label(base)}`,
        medianOf(samples, `authorize p99, ${label(n)}`) / medianOf(samples, `authorize p99, ${label(base)}`),
        'ratio',
        { at: 'most', value: 2 },
      ),
    ]);
  return measureTable('scaling (own worker process, same server)', samples, goals, derived);
}
