/**
 * Suite (d) of `npm run bench`: how fast an operator's kill lands while the agent keeps calling tools, and whether
 * anything slips through after it. In each trial an agent runs two concurrent loops of `authorize` calls (its tool
 * gate) on an unthrottled session; a no-op update probe is timed on the same worker meanwhile; then the operator's
 * `requestKill` update is sent. Reports kill ack latency ÷ no-op update latency (p50, p99) and counts the authorize
 * calls sent after the kill returned that were ALLOWED — the invariant: it must be 0, or the run fails. Runs unloaded
 * and under concurrent authorize load on other sessions, interleaved.
 */
import { probeLatencies } from './governance.js';
import { openSession, OPERATOR, type OpenSession } from './sessions.js';
import { derivedRow, interleaved, measureTable, median, quantile, sleep } from './stats.js';
import type { Goal, Measure, RecordMeasure } from './stats.js';
import type { TemporalBench } from './temporal-env.js';

const SUITE = 'kill';
const AGENT_LOOPS = 2;
/** Calls each loop still makes once the kill has returned: enough to see every one refused. */
const CALLS_AFTER_KILL = 5;
/** A loop never runs more calls than this, whatever happens. */
const MAX_CALLS_PER_LOOP = 400;
const WARM_CALLS = 4;
const PROBE_CALLS = 5;
const LOAD_SESSIONS = 4;
const LOAD_LOOPS_PER_SESSION = 2;

interface Trial {
  killMs: number;
  probeMs: number[];
  /** Allowed authorize calls sent after the kill update returned: must be 0. */
  allowedAfterAck: number;
  /** Allowed calls whose answer arrived after the ack (sent before it, ordered before the kill): informational. */
  allowedAnsweredAfterAck: number;
  refusedAfterAck: number;
  errors: number;
}

/** One trial: the agent's tool loops, a probe while they run, the kill, the calls after it. */
async function killTrial(env: TemporalBench): Promise<Trial> {
  const { session, agentDid } = await openSession(env.hv, { unthrottled: true, prefix: 'kill' });
  let ackAt = Number.POSITIVE_INFINITY;
  const out = { allowedAfterAck: 0, allowedAnsweredAfterAck: 0, refusedAfterAck: 0, errors: 0 };
  let callsDone = 0;
  const loop = async () => {
    let after = 0;
    for (let i = 0; i < MAX_CALLS_PER_LOOP && after < CALLS_AFTER_KILL; i++) {
      const sentAt = performance.now();
      const allowed = await session.authorize({ agentDid, actionId: 'edit' }).then(
        (d) => d.allowed,
        () => (out.errors++, false),
      );
      callsDone++;
      const answeredAt = performance.now();
      if (sentAt > ackAt) {
        after++;
        if (allowed) out.allowedAfterAck++;
        else out.refusedAfterAck++;
      } else if (allowed && answeredAt > ackAt) out.allowedAnsweredAfterAck++;
    }
  };
  const loops = Promise.all(Array.from({ length: AGENT_LOOPS }, loop));
  while (callsDone < WARM_CALLS) await sleep(5);
  const probeMs = await probeLatencies(env.client, env.worker.taskQueue, PROBE_CALLS);
  const t0 = performance.now();
  await session.kill({ agentDid, reason: 'manual', authorizedBy: OPERATOR });
  ackAt = performance.now();
  await loops;
  await session.terminate({ reason: 'kill trial done' });
  return { killMs: ackAt - t0, probeMs, ...out };
}

/**
 * Background authorize load on other sessions, started and stopped per phase. A loop whose call fails stops and
 * reports it: a load session that refuses updates is a fault of the system, not of the bench.
 */
function startLoad(sessions: OpenSession[]): { stop(): Promise<string[]> } {
  let running = true;
  const errors: string[] = [];
  const done = Promise.all(
    sessions.flatMap(({ session, agentDid }) =>
      Array.from({ length: LOAD_LOOPS_PER_SESSION }, async () => {
        while (running) {
          try {
            await session.authorize({ agentDid, actionId: 'edit' });
          } catch (err) {
            errors.push(`load session ${session.sessionId}: ${(err as Error).message}`);
            return;
          }
        }
      }),
    ),
  );
  return {
    async stop() {
      running = false;
      await done;
      return errors;
    },
  };
}

/** Runs `trials` kill trials per condition per repetition; an allowed call after the ack is an invariant failure. */
export async function killSuite(
  env: TemporalBench,
  { reps, trials, record }: { reps: number; trials: number; record: RecordMeasure },
): Promise<{ failures: string[] }> {
  const failures: string[] = [];
  // Fresh load sessions per loaded phase: each stays far below continue-as-new (≈ 4,100 events), which under steady
  // load is a problem of its own (a session's continue-as-new task can exceed the 10 s workflow task timeout).
  const openLoad = () =>
    Promise.all(
      Array.from({ length: LOAD_SESSIONS }, () => openSession(env.hv, { unthrottled: true, prefix: 'kill-load' })),
    );
  for (let rep = 1; rep <= reps; rep++) {
    const phase = async (condition: 'unloaded' | 'loaded') => {
      const loadSessions = condition === 'loaded' ? await openLoad() : [];
      const load = condition === 'loaded' ? startLoad(loadSessions) : null;
      const results: Trial[] = [];
      for (let t = 0; t < trials; t++) results.push(await killTrial(env));
      for (const e of (await load?.stop()) ?? []) failures.push(`kill (${condition}, rep ${rep}): ${e}`);
      await Promise.allSettled(loadSessions.map(({ session }) => session.terminate({ reason: 'kill load done' })));
      return { condition, results };
    };
    const phases = await interleaved(
      rep,
      () => phase('unloaded'),
      () => phase('loaded'),
    );
    for (const { condition, results } of phases) await recordPhase(condition, results, rep, record, failures);
  }
  return { failures };
}

async function recordPhase(
  condition: string,
  results: Trial[],
  rep: number,
  record: RecordMeasure,
  failures: string[],
): Promise<void> {
  const put = (name: string, value: number, unit: Measure['unit']) =>
    record({ suite: SUITE, name: `${name}, ${condition}`, rep, value, unit });
  const kills = results.map((r) => r.killMs);
  const probes = results.flatMap((r) => r.probeMs);
  const sum = (f: (r: Trial) => number) => results.reduce((a, r) => a + f(r), 0);
  await put('no-op update p50', median(probes), 'ms');
  await put('kill ack p50', median(kills), 'ms');
  await put('kill ack p99', quantile(kills, 0.99), 'ms');
  await put('kill ack ÷ no-op update, p50', median(kills) / median(probes), 'ratio');
  await put('kill ack ÷ no-op update, p99', quantile(kills, 0.99) / quantile(probes, 0.99), 'ratio');
  await put(
    'calls ALLOWED after the kill returned',
    sum((r) => r.allowedAfterAck),
    'count',
  );
  await put(
    'calls refused after the kill returned',
    sum((r) => r.refusedAfterAck),
    'count',
  );
  await put(
    'allowed calls answered after the ack (sent before it)',
    sum((r) => r.allowedAnsweredAfterAck),
    'count',
  );
  const allowed = sum((r) => r.allowedAfterAck);
  if (allowed > 0) failures.push(`kill (${condition}, rep ${rep}): ${allowed} tool calls ALLOWED after the kill ack`);
  const errors = sum((r) => r.errors);
  if (errors > 0) failures.push(`kill (${condition}, rep ${rep}): ${errors} authorize calls failed outright`);
}

const GOALS_TOTAL: Goal = { at: 'most', value: 0 };
const GOALS: Record<string, Goal> = Object.fromEntries(
  ['unloaded', 'loaded'].map((c) => [`calls ALLOWED after the kill returned, ${c}`, { at: 'most', value: 0 }]),
);

/** The suite's Markdown table, with the total of allowed-after-ack calls over every trial. */
export function killSummary(samples: readonly Measure[]): string[] {
  const total = samples.filter((s) => s.name.startsWith('calls ALLOWED')).reduce((a, s) => a + s.value, 0);
  const derived = [derivedRow('calls ALLOWED after the kill returned, all trials', total, 'count', GOALS_TOTAL)];
  return measureTable('kill ack (same server, same run)', samples, GOALS, derived);
}
