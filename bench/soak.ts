/**
 * Suite `soak` of `npm run bench` (issue 17): steady load for minutes, with operators killing agents in the middle of
 * it, then every session ended and checked. On a worker process of its own (fresh cache, its own peak RSS):
 *
 * 1. Opens `sessions` sessions of `agentsPerSession` agents each (create, joins, activate; unthrottled rate limits, so
 *    a denial is never the token bucket), with progress on stderr. Before the load, a lightly loaded session (one
 *    agent, sequential calls) and a no-op update probe are timed: the baselines of the same run.
 * 2. Every agent loops `authorize` at one call per `paceMs` (phases spread at random) for `seconds`; a no-op update
 *    probe is timed every few seconds meanwhile, with progress every 30 s. Spread over the run, an operator kills
 *    `killShare` of the agents (`requestKill` through the client, one agent per session while there are enough
 *    sessions), each kill timed next to a no-op update sent at the same instant; the killed agent then sends a few
 *    calls at once, and every call it sent after the kill returned must be refused.
 * 3. The lightly loaded session is timed again, every session is terminated, every chain is verified from Postgres
 *    against its anchors (the signed commitment, the workflow's result, the checkpoints), and every workflow run of the
 *    worker's task queue is found through visibility and its history read: a session run still open, a run that
 *    failed, a workflow task that failed (history, and the worker's own counter) or a pending task older than 30 s
 *    is a stuck workflow. The histories also place each kill in the workflow task that accepted it, splitting its
 *    ack latency into waiting for the session's task in flight, waiting in the task queue, the task itself, and the
 *    answer (docs/DESIGN.md §9: is a kill's latency its own queueing?).
 *
 * Hard invariants (the run fails): any authorize, join, kill or terminate that threw; a routine authorization denied;
 * a kill not applied; a call of a killed agent sent after its kill returned that was allowed; a chain that does not
 * verify; a stuck workflow. Goals get verdicts: authorize p99 under load ≤ 2× that of the lightly loaded session.
 */
import { benchOperator } from './temporal-env.js';
import { randomUUID } from 'node:crypto';
import type { Client, WorkflowHandle } from '@temporalio/client';
import { defaultPayloadConverter } from '@temporalio/common';
import { tsToMs } from '@temporalio/common/lib/time.js';
import type { temporal } from '@temporalio/proto';
import { verifyAuditChain } from '../client/audit.js';
import { HypervisorError } from '../client/errors.js';
import { HypervisorClient, type SessionHandle } from '../client/hypervisor-client.js';
import type { SessionCommitment } from '../domain/session-types.js';
import type { Pool } from '../store/db.js';
import { requestKillUpdate } from '../workflows/messages.js';
import { agentDid, MANIFEST, OPERATOR, UNTHROTTLED } from './sessions.js';
import { measureTable, median, quantile, sleep, timed, type Goal, type Measure, type RecordMeasure } from './stats.js';
import type { TemporalBench, WorkerProcess } from './temporal-env.js';
import { probeEndSignal, probeUpdate, probeWorkflow } from './workflows.js';

const SUITE = 'soak';
const OPEN_CONCURRENCY = 16;
const CLOSE_CONCURRENCY = 16;
/** Verifications and history reads at a time: the machine is shared. */
const CHECK_CONCURRENCY = 8;
const PROGRESS_EVERY_SESSIONS = 50;
const PROGRESS_EVERY_MS = 30_000;
const PROBE_EVERY_MS = 2_000;
const RSS_EVERY_MS = 5_000;
/** Calls a killed agent sends at once after its kill returned: each must be refused. */
const CALLS_AFTER_KILL = 5;
/** Kills fall between these fractions of the run: the first after the load settled, the last with time to spare. */
const KILL_WINDOW = [0.1, 0.8] as const;
/** A running workflow whose pending workflow task is older than this is stuck (perf-reliability §5, I3). */
const STUCK_TASK_MS = 30_000;
/** How long closed sessions may take to show as closed in visibility. */
const VISIBILITY_WAIT_MS = 60_000;
const MB = 1024 * 1024;

export interface SoakOptions {
  sessions: number;
  agentsPerSession: number;
  seconds: number;
  /** One agent's interval between calls (ms): agents × 1000 ÷ paceMs is the offered load in calls per second. */
  paceMs: number;
  /** The share of all agents an operator kills during the run. */
  killShare: number;
  /** Sequential calls timed on the lightly loaded session, before and after the load. */
  baselineCalls: number;
  pool: Pool;
  record: RecordMeasure;
}

interface SoakAgent {
  did: string;
  session: SessionHandle;
  /** performance.now() when the operator sent the kill, and when it returned; null until then. */
  killSentAt: number | null;
  killAckAt: number | null;
}

/** The kill of one agent as the operator saw it; the history adds where its latency went. */
interface KillRecord {
  agent: SoakAgent;
  sentEpochMs: number;
  ackEpochMs: number;
  ackMs: number;
  /** The no-op update sent at the same instant, to the probe workflow of the same worker. */
  probeMs: number;
}

/** Everything counted while the suite runs; errors are grouped by what threw and its type. */
class Tally {
  latencies: number[] = [];
  windowLatencies: number[] = [];
  probes: number[] = [];
  kills: KillRecord[] = [];
  errors = new Map<string, { count: number; example: string }>();
  routineDenied = new Map<string, number>();
  killsNotApplied = 0;
  allowedAfterAck = 0;
  refusedAfterAck = 0;
  allowedAnsweredAfterAck = 0;

  error(op: string, err: unknown): void {
    const type = err instanceof HypervisorError ? `HypervisorError ${err.type}` : (err as Error)?.name || 'unknown';
    const key = `${op}: ${type}`;
    const seen = this.errors.get(key);
    if (seen) seen.count++;
    else this.errors.set(key, { count: 1, example: String((err as Error)?.message ?? err).slice(0, 300) });
  }

  get errorCount(): number {
    return [...this.errors.values()].reduce((a, e) => a + e.count, 0);
  }
}

/** Runs the suite on a worker process of its own; returns the invariant failures and notes. */
export async function soakSuite(
  env: TemporalBench,
  options: SoakOptions,
): Promise<{ failures: string[]; notes: string[] }> {
  const worker = await env.spawnWorker();
  const rss = startRssSampler(worker);
  try {
    return await soak(env, worker, options, rss);
  } finally {
    rss.stop();
    await worker.stop();
  }
}

async function soak(
  env: TemporalBench,
  worker: WorkerProcess,
  options: SoakOptions,
  rss: RssSampler,
): Promise<{ failures: string[]; notes: string[] }> {
  const { record } = options;
  const put = (name: string, value: number, unit: Measure['unit']) =>
    record({ suite: SUITE, name, rep: 1, value, unit });
  const hv = HypervisorClient.fromClient(env.client, worker.taskQueue, { operator: benchOperator });
  const tally = new Tally();
  const failures: string[] = [];
  const notes: string[] = [];

  const opened = await openSessions(hv, options, tally);
  await put('sessions opened', opened.sessions.length, 'count');
  await put('agents joined', opened.sessions.length * options.agentsPerSession, 'count');
  await put('open rate (sessions with their joins)', opened.sessions.length / opened.seconds, 'per s');
  const sessions = opened.sessions;
  const agents = sessions.flatMap((s) => s.agents);

  // Baselines with every session open and idle: the same cache, no load.
  const light = await openLightSession(hv);
  const lightBefore = await timed(options.baselineCalls, () => light.authorize());
  const probeIdle = await probeLatencies(env.client, worker.taskQueue, options.baselineCalls);
  const probe = await env.client.workflow.start(probeWorkflow, {
    taskQueue: worker.taskQueue,
    workflowId: `soak-probe-${randomUUID()}`,
  });

  const tasksBefore = workflowTaskTotals(await worker.metrics());
  const load = await runLoad(probe, agents, sessions.length, options, tally, rss);
  const tasks = workflowTaskTotals(await worker.metrics(), tasksBefore);
  await put('authorize calls', tally.latencies.length, 'count');
  await put('calls/s sustained', tally.latencies.length / load.seconds, 'per s');
  await put('calls/s offered (agents ÷ pace)', (agents.length * 1000) / options.paceMs, 'per s');

  if (tasks.count > 0) {
    // The worker's own view of the shared queue the kills wait in (docs/DESIGN.md §9, item 7).
    await put('workflow tasks per authorize call, during the load', tasks.count / tally.latencies.length, 'ratio');
    await put('workflow task schedule-to-start mean, during the load', tasks.scheduleToStartMs / tasks.started, 'ms');
    await put('workflow task execution mean, during the load', tasks.executionMs / tasks.count, 'ms');
  }
  const lightAfter = await timed(options.baselineCalls, () => light.authorize());
  await probe.signal(probeEndSignal);
  await putLatencies(put, tally, { lightBefore, lightAfter, probeIdle });

  const closed = await terminateAll([...sessions.map((s) => s.handle), light.session], tally);
  const chains = await verifyChains(env, options.pool, closed);
  await put('chains verified', chains.verified, 'count');
  for (const f of chains.failures) failures.push(`soak: ${f}`);

  const workflows = await checkWorkflows(env.client, worker, tally.kills);
  await put('workflow runs checked (visibility, every run of the task queue)', workflows.runs, 'count');
  await put('history events read', workflows.events, 'count');
  await put('WorkflowTaskFailed events', workflows.taskFailed, 'count');
  await put('workflow task timeouts (informational)', workflows.taskTimedOut, 'count');
  await put('workflow task failures counted by the worker', workflows.workerTaskFailures, 'count');
  await put('stuck workflows', workflows.stuck.length, 'count');
  for (const s of workflows.stuck.slice(0, 10)) failures.push(`soak: stuck workflow ${s}`);
  if (workflows.stuck.length > 10) failures.push(`soak: ${workflows.stuck.length - 10} more stuck workflows`);
  await putKillTimelines(put, workflows.timelines);
  notes.push(...workflows.notes);

  await put('worker RSS peak (sampled every 5 s)', rss.peak() / MB, 'MB');
  await put('worker VmHWM (peak RSS of the process)', (await worker.peakRssBytes()) / MB, 'MB');

  await put('errors (authorize, join, kill, terminate)', tally.errorCount, 'count');
  for (const [key, e] of tally.errors) failures.push(`soak: ${e.count} × ${key} (e.g. "${e.example}")`);
  for (const [reason, n] of tally.routineDenied) failures.push(`soak: ${n} routine authorizations denied (${reason})`);
  if (tally.killsNotApplied > 0) failures.push(`soak: ${tally.killsNotApplied} kills were not applied`);
  if (tally.allowedAfterAck > 0) failures.push(`soak: ${tally.allowedAfterAck} tool calls ALLOWED after the kill ack`);
  if (load.killsPlanned !== tally.kills.length)
    notes.push(`soak: ${tally.kills.length} of ${load.killsPlanned} planned kills returned`);
  return { failures, notes };
}

interface SoakSession {
  handle: SessionHandle;
  agents: SoakAgent[];
}

/** Opens the sessions, OPEN_CONCURRENCY at a time; a session whose open threw is counted as an error and left out. */
async function openSessions(
  hv: HypervisorClient,
  { sessions: count, agentsPerSession }: SoakOptions,
  tally: Tally,
): Promise<{ sessions: SoakSession[]; seconds: number }> {
  const t0 = performance.now();
  const out: SoakSession[] = [];
  let next = 0;
  let done = 0;
  const lane = async () => {
    while (next < count) {
      next++;
      let op = 'create';
      try {
        const handle = await hv.createSession({
          creatorDid: OPERATOR,
          sessionId: `soak-${randomUUID()}`,
          config: { maxParticipants: agentsPerSession, rateLimits: UNTHROTTLED },
        });
        const agents: SoakAgent[] = [];
        op = 'join';
        for (let a = 0; a < agentsPerSession; a++) {
          const did = agentDid();
          await handle.join({ agentDid: did, sigmaRaw: 0.9, actions: MANIFEST });
          agents.push({ did, session: handle, killSentAt: null, killAckAt: null });
        }
        op = 'activate';
        await handle.activate({});
        out.push({ handle, agents });
      } catch (err) {
        tally.error(op, err);
      }
      if (++done % PROGRESS_EVERY_SESSIONS === 0 || done === count) {
        const s = (performance.now() - t0) / 1000;
        console.error(
          `[bench] soak: ${done}/${count} sessions opened (${out.length * agentsPerSession} agents joined, ` +
            `${(done / s).toFixed(1)} sessions/s, ${tally.errorCount} errors)`,
        );
      }
    }
  };
  await Promise.all(Array.from({ length: OPEN_CONCURRENCY }, lane));
  return { sessions: out, seconds: (performance.now() - t0) / 1000 };
}

/** A session of its own with one agent calling alone: the lightly loaded baseline of issue 12. */
async function openLightSession(hv: HypervisorClient): Promise<{ session: SessionHandle; authorize(): Promise<void> }> {
  const session = await hv.createSession({
    creatorDid: OPERATOR,
    sessionId: `soak-light-${randomUUID()}`,
    config: { maxParticipants: 1, rateLimits: UNTHROTTLED },
  });
  const did = agentDid();
  await session.join({ agentDid: did, sigmaRaw: 0.9, actions: MANIFEST });
  await session.activate({});
  return {
    session,
    async authorize() {
      const d = await session.authorize({ agentDid: did, actionId: 'edit' });
      if (!d.allowed) throw new Error(`the lightly loaded session's call was denied (${d.reason})`);
    },
  };
}

async function probeLatencies(client: Client, taskQueue: string, calls: number): Promise<number[]> {
  const probe = await client.workflow.start(probeWorkflow, {
    taskQueue,
    workflowId: `soak-probe-idle-${randomUUID()}`,
  });
  const xs = await timed(calls, () => probe.executeUpdate(probeUpdate));
  await probe.signal(probeEndSignal);
  return xs;
}

/** One call of an agent's tool gate, classified against the agent's kill. */
async function authorizeOnce(agent: SoakAgent, tally: Tally, timedCall: boolean): Promise<void> {
  const sentAt = performance.now();
  let allowed: boolean;
  let reason: string;
  try {
    ({ allowed, reason } = await agent.session.authorize({ agentDid: agent.did, actionId: 'edit' }));
  } catch (err) {
    tally.error('authorize', err);
    return;
  }
  const answeredAt = performance.now();
  if (timedCall) {
    tally.latencies.push(answeredAt - sentAt);
    tally.windowLatencies.push(answeredAt - sentAt);
  }
  const { killSentAt, killAckAt } = agent;
  if (killAckAt !== null && sentAt > killAckAt) {
    if (allowed) tally.allowedAfterAck++;
    else tally.refusedAfterAck++;
  } else if (allowed) {
    if (killAckAt !== null && answeredAt > killAckAt) tally.allowedAnsweredAfterAck++;
  } else if (killSentAt === null || answeredAt < killSentAt) {
    tally.routineDenied.set(reason, (tally.routineDenied.get(reason) ?? 0) + 1);
  }
}

/** An agent's paced loop; it stops at the deadline or once the agent is killed. */
async function agentLoop(agent: SoakAgent, until: number, paceMs: number, tally: Tally): Promise<void> {
  let next = performance.now() + Math.random() * paceMs;
  for (;;) {
    await sleep(Math.max(0, Math.min(next, until) - performance.now()));
    if (agent.killSentAt !== null || performance.now() >= until) return;
    await authorizeOnce(agent, tally, true);
    next = Math.max(performance.now(), next + paceMs);
  }
}

/** The operator's kill, timed next to a no-op update sent at the same instant; then the agent tries again at once. */
async function killAgent(agent: SoakAgent, probe: WorkflowHandle<typeof probeWorkflow>, tally: Tally): Promise<void> {
  const sentEpochMs = Date.now();
  const sentAt = performance.now();
  agent.killSentAt = sentAt;
  const kill = agent.session
    .kill({ agentDid: agent.did, reason: 'manual', authorizedBy: OPERATOR })
    .then((result) => {
      // Set on the answer's own tick: a call the agent sends from here on must be refused.
      agent.killAckAt = performance.now();
      if (!result.applied) tally.killsNotApplied++;
      return Date.now();
    })
    .catch((err: unknown) => void tally.error('kill', err));
  const noop = probe.executeUpdate(probeUpdate).then(
    () => performance.now() - sentAt,
    (err: unknown) => (tally.error('no-op update', err), Number.NaN),
  );
  const [ackEpochMs, probeMs] = await Promise.all([kill, noop]);
  if (agent.killAckAt === null || ackEpochMs === undefined) return;
  tally.kills.push({ agent, sentEpochMs, ackEpochMs, ackMs: agent.killAckAt - sentAt, probeMs });
  tally.probes.push(probeMs);
  for (let i = 0; i < CALLS_AFTER_KILL; i++) await authorizeOnce(agent, tally, false);
}

/** Picks the agents to kill: one per session, sessions in random order, while there are enough sessions. */
function killPlan(agents: SoakAgent[], sessions: number, share: number): SoakAgent[] {
  const k = Math.min(agents.length, Math.round(agents.length * share));
  const perSession = agents.length / Math.max(1, sessions);
  const order = shuffled(Array.from({ length: sessions }, (_, i) => i));
  const picked: SoakAgent[] = [];
  for (let i = 0; picked.length < k; i++) {
    const s = order[i % sessions]!;
    const candidates = agents.slice(s * perSession, (s + 1) * perSession).filter((a) => !picked.includes(a));
    if (candidates.length) picked.push(candidates[Math.floor(Math.random() * candidates.length)]!);
  }
  return picked;
}

function shuffled<T>(xs: T[]): T[] {
  for (let i = xs.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [xs[i], xs[j]] = [xs[j]!, xs[i]!];
  }
  return xs;
}

/** The load window: every agent's loop, the kills at their times, the periodic probe and the progress lines. */
async function runLoad(
  probe: WorkflowHandle<typeof probeWorkflow>,
  agents: SoakAgent[],
  sessions: number,
  options: SoakOptions,
  tally: Tally,
  rss: RssSampler,
): Promise<{ seconds: number; killsPlanned: number }> {
  const { seconds, paceMs } = options;
  const start = performance.now();
  const until = start + seconds * 1000;
  const victims = killPlan(agents, sessions, options.killShare);
  const [from, to] = KILL_WINDOW;
  const kills = victims.map(async (agent, i) => {
    await sleep(start + (from + ((to - from) * (i + 0.5)) / victims.length) * seconds * 1000 - performance.now());
    await killAgent(agent, probe, tally);
  });
  let running = true;
  const probing = (async () => {
    while (running) {
      await sleep(PROBE_EVERY_MS);
      if (!running) return;
      const t0 = performance.now();
      await probe.executeUpdate(probeUpdate).then(
        () => tally.probes.push(performance.now() - t0),
        (err: unknown) => tally.error('no-op update', err),
      );
    }
  })();
  const progress = setInterval(() => {
    const s = (performance.now() - start) / 1000;
    const p99 = (xs: number[]) => (xs.length ? quantile(xs, 0.99).toFixed(0) : '—');
    console.error(
      `[bench] soak: ${s.toFixed(0)}/${seconds} s, ${tally.latencies.length.toLocaleString('en-US')} calls ` +
        `(${(tally.latencies.length / s).toFixed(1)}/s), ${tally.errorCount} errors, p99 so far ${p99(tally.latencies)} ms ` +
        `(last ${PROGRESS_EVERY_MS / 1000} s ${p99(tally.windowLatencies)} ms), kills ${tally.kills.length}/${victims.length}, ` +
        `worker RSS ${(rss.last() / MB).toFixed(0)} MB`,
    );
    tally.windowLatencies = [];
  }, PROGRESS_EVERY_MS);
  console.error(
    `[bench] soak: load for ${seconds} s: ${agents.length} agents, one call per ${paceMs} ms each ` +
      `(${((agents.length * 1000) / paceMs).toFixed(0)} calls/s offered), ${victims.length} kills`,
  );
  try {
    await Promise.all([...agents.map((a) => agentLoop(a, until, paceMs, tally)), ...kills]);
  } finally {
    clearInterval(progress);
    running = false;
  }
  const loadSeconds = (performance.now() - start) / 1000;
  await probing;
  return { seconds: loadSeconds, killsPlanned: victims.length };
}

type Put = (name: string, value: number, unit: Measure['unit']) => Promise<void>;

async function putLatencies(
  put: Put,
  tally: Tally,
  base: { lightBefore: number[]; lightAfter: number[]; probeIdle: number[] },
): Promise<void> {
  const light = [...base.lightBefore, ...base.lightAfter];
  for (const q of [0.5, 0.99]) {
    const p = `p${q * 100}`;
    if (tally.latencies.length) await put(`authorize ${p}, under load`, quantile(tally.latencies, q), 'ms');
    await put(`authorize ${p}, lightly loaded session (before + after the load)`, quantile(light, q), 'ms');
  }
  await put('authorize p99, lightly loaded session before the load', quantile(base.lightBefore, 0.99), 'ms');
  await put('authorize p99, lightly loaded session after the load', quantile(base.lightAfter, 0.99), 'ms');
  if (tally.latencies.length)
    await put(
      'authorize p99 under load ÷ lightly loaded',
      quantile(tally.latencies, 0.99) / quantile(light, 0.99),
      'ratio',
    );
  for (const q of [0.5, 0.99]) await put(`no-op update p${q * 100}, idle`, quantile(base.probeIdle, q), 'ms');
  const probes = tally.probes.filter(Number.isFinite);
  if (probes.length)
    for (const q of [0.5, 0.99]) await put(`no-op update p${q * 100}, under load`, quantile(probes, q), 'ms');
  const kills = tally.kills.map((k) => k.ackMs);
  if (kills.length === 0) return;
  await put('kills acknowledged', kills.length, 'count');
  for (const q of [0.5, 0.99]) await put(`kill ack p${q * 100}`, quantile(kills, q), 'ms');
  if (probes.length) {
    await put('kill ack ÷ no-op update under load, p50', median(kills) / median(probes), 'ratio');
    await put('kill ack ÷ no-op update under load, p99', quantile(kills, 0.99) / quantile(probes, 0.99), 'ratio');
  }
  const paired = tally.kills.filter((k) => Number.isFinite(k.probeMs)).map((k) => k.ackMs / k.probeMs);
  if (paired.length) await put('kill ack ÷ the no-op update sent with it, median of pairs', median(paired), 'ratio');
  await put('calls ALLOWED after the kill returned', tally.allowedAfterAck, 'count');
  await put('calls refused after the kill returned', tally.refusedAfterAck, 'count');
  await put('allowed calls answered after the ack (sent before it)', tally.allowedAnsweredAfterAck, 'count');
}

/** Terminates every session, CLOSE_CONCURRENCY at a time; returns each session's commitment. */
async function terminateAll(
  handles: SessionHandle[],
  tally: Tally,
): Promise<Array<{ session: SessionHandle; commitment: SessionCommitment }>> {
  const out: Array<{ session: SessionHandle; commitment: SessionCommitment }> = [];
  await pooled(handles, CLOSE_CONCURRENCY, 'sessions terminated', async (session) => {
    try {
      out.push({ session, commitment: await session.terminate({ reason: 'soak done' }) });
    } catch (err) {
      tally.error('terminate', err);
    }
  });
  return out;
}

/** Runs `fn` over `items`, `concurrency` at a time, with a progress line every PROGRESS_EVERY_SESSIONS items. */
async function pooled<T>(items: T[], concurrency: number, what: string, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  let done = 0;
  const t0 = performance.now();
  const lane = async () => {
    while (next < items.length) {
      await fn(items[next++]!);
      if (++done % PROGRESS_EVERY_SESSIONS === 0 || done === items.length)
        console.error(
          `[bench] soak: ${done}/${items.length} ${what} (${((performance.now() - t0) / 1000).toFixed(0)} s)`,
        );
    }
  };
  await Promise.all(Array.from({ length: concurrency }, lane));
}

/** Verifies every chain against its anchors, signatures required; a chain that does not verify is a failure. */
async function verifyChains(
  env: TemporalBench,
  pool: Pool,
  closed: Array<{ session: SessionHandle; commitment: SessionCommitment }>,
): Promise<{ verified: number; failures: string[] }> {
  const failures: string[] = [];
  let verified = 0;
  await pooled(closed, CHECK_CONCURRENCY, 'chains verified', async ({ session, commitment }) => {
    try {
      const report = await verifyAuditChain(session.sessionId, {
        pool,
        trustedKeys: env.trustedKeys,
        checkpointDir: env.checkpointDir,
        workflowCommitment: commitment,
        requireSignatures: true,
      });
      const mismatched = report.anchors.filter((a) => !a.matches).length;
      if (report.ok && mismatched === 0 && report.entries === commitment.entryCount) verified++;
      else
        failures.push(
          `chain of ${session.sessionId} does not verify (${report.entries} entries, commitment ${commitment.entryCount}, ` +
            `${mismatched} anchors mismatched, first problem ${JSON.stringify(report.firstBad)})`,
        );
    } catch (err) {
      failures.push(`verifying ${session.sessionId} threw: ${(err as Error).message}`);
    }
  });
  return { verified, failures };
}

/**
 * Where one kill's ack latency went, from the history of the session run that accepted it (ms); the four parts add up
 * to the ack latency. A workflow has one workflow task at a time, and an update that arrives while one is scheduled but
 * not started rides in it, so the task that accepts a kill may have been scheduled before the kill was sent.
 */
interface KillTimeline {
  /** Sent → the workflow task that accepted it was scheduled (0 when it already was): the session's task in flight. */
  sessionWaitMs: number;
  /** Sent or scheduled, whichever is later → started: waiting in the task queue for the worker to take it. */
  queueWaitMs: number;
  /** Started → completed: the activation, with every update delivered in it. */
  taskMs: number;
  /** Completed → the operator had the answer. */
  answerMs: number;
  /** Updates accepted in the same workflow task before the kill, and after it. */
  updatesAhead: number;
  updatesBehind: number;
}

interface WorkflowCheck {
  runs: number;
  events: number;
  taskFailed: number;
  taskTimedOut: number;
  workerTaskFailures: number;
  stuck: string[];
  timelines: KillTimeline[];
  notes: string[];
}

type HistoryEvent = temporal.api.history.v1.IHistoryEvent;

/**
 * Every run on the soak worker's task queue, found through visibility (each continue-as-new is a run of its own), and
 * its whole history: no session may still run, no run may have failed, timed out or been terminated, no history may
 * hold a WorkflowTaskFailed, and a running workflow (an identity) may not have a workflow task pending for more than
 * STUCK_TASK_MS. The worker's own failed-task counter is a second witness (it also sees failures on tasks the server
 * did not persist).
 */
async function checkWorkflows(client: Client, worker: WorkerProcess, kills: KillRecord[]): Promise<WorkflowCheck> {
  const out: WorkflowCheck = {
    runs: 0,
    events: 0,
    taskFailed: 0,
    taskTimedOut: 0,
    workerTaskFailures: 0,
    stuck: [],
    timelines: [],
    notes: [],
  };
  const queue = `TaskQueue = '${worker.taskQueue}'`;
  const openSessions = `${queue} AND WorkflowType = 'sessionWorkflow' AND ExecutionStatus = 'Running'`;
  const deadline = performance.now() + VISIBILITY_WAIT_MS;
  while ((await client.workflow.count(openSessions)).count > 0 && performance.now() < deadline) await sleep(1000);
  const runs: Array<{ workflowId: string; runId: string; type: string; status: string }> = [];
  for await (const w of client.workflow.list({ query: queue }))
    runs.push({ workflowId: w.workflowId, runId: w.runId, type: w.type, status: w.status.name });
  out.runs = runs.length;
  const killsBySession = new Map<string, KillRecord[]>();
  for (const k of kills)
    killsBySession.set(k.agent.session.workflow.workflowId, [
      ...(killsBySession.get(k.agent.session.workflow.workflowId) ?? []),
      k,
    ]);
  const now = Date.now();
  await pooled(runs, CHECK_CONCURRENCY, 'workflow runs checked', async (run) => {
    const name = `${run.type} ${run.workflowId} (run ${run.runId})`;
    if (run.type === 'sessionWorkflow' && run.status === 'RUNNING') out.stuck.push(`${name}: still running`);
    if (['FAILED', 'TIMED_OUT', 'TERMINATED', 'CANCELLED'].includes(run.status))
      out.stuck.push(`${name}: ${run.status}`);
    const events = (await client.workflow.getHandle(run.workflowId, run.runId).fetchHistory()).events ?? [];
    out.events += events.length;
    const failed = events.filter((e) => e.workflowTaskFailedEventAttributes).length;
    out.taskFailed += failed;
    out.taskTimedOut += events.filter((e) => e.workflowTaskTimedOutEventAttributes).length;
    if (failed > 0) out.stuck.push(`${name}: ${failed} WorkflowTaskFailed`);
    if (run.status === 'RUNNING') {
      const pendingSince = pendingTaskSince(events);
      if (pendingSince !== null && now - pendingSince > STUCK_TASK_MS)
        out.stuck.push(`${name}: a workflow task pending for ${((now - pendingSince) / 1000).toFixed(0)} s`);
    }
    for (const k of killsBySession.get(run.workflowId) ?? []) {
      const t = killTimeline(events, k);
      if (t) out.timelines.push(t);
    }
  });
  const metrics = await worker.metrics();
  // The SDK exports a counter from its first increment on: absent while the task latencies are there means none.
  const failedTasks = metricSum(metrics, 'temporal_workflow_task_execution_failed');
  if (Number.isNaN(failedTasks) && !metrics.includes('temporal_workflow_task_execution_latency'))
    out.notes.push('soak: the worker exported no workflow task metrics, so its failed-task counter was not read');
  else {
    out.workerTaskFailures = Number.isNaN(failedTasks) ? 0 : failedTasks;
    if (failedTasks > 0) out.stuck.push(`the worker counted ${failedTasks} failed workflow tasks`);
  }
  if (out.timelines.length < kills.length)
    out.notes.push(`soak: ${out.timelines.length} of ${kills.length} kills were found in their session's history`);
  return out;
}

/** When the workflow task a running workflow waits for was scheduled (epoch ms), or null when none is pending. */
function pendingTaskSince(events: HistoryEvent[]): number | null {
  for (let i = events.length - 1; i >= 0; i--) {
    const e = events[i]!;
    if (e.workflowTaskCompletedEventAttributes || e.workflowTaskFailedEventAttributes) return null;
    if (e.workflowTaskTimedOutEventAttributes) return null;
    if (e.workflowTaskScheduledEventAttributes) return tsToMs(e.eventTime);
  }
  return null;
}

/** The sum of a counter (or a histogram's _sum, _count) over its label sets in Prometheus text, or NaN when it is absent. */
function metricSum(metrics: string, name: string): number {
  const lines = metrics.split('\n').filter((l) => l.startsWith(name) && /^[a-z_]+(\{|\s)/.test(l));
  const values = lines.filter((l) => l.split(/[{\s]/)[0] === name).map((l) => Number(l.trim().split(/\s+/).at(-1)));
  return values.length ? values.reduce((a, b) => a + b, 0) : Number.NaN;
}

/** The worker's workflow tasks so far (SDK histograms): how many, and their summed latencies. */
interface TaskTotals {
  count: number;
  started: number;
  scheduleToStartMs: number;
  executionMs: number;
}

/** {@link TaskTotals} from the worker's Prometheus text, minus `since` when given. */
function workflowTaskTotals(metrics: string, since?: TaskTotals): TaskTotals {
  const sum = (name: string) => {
    const v = metricSum(metrics, name);
    return Number.isNaN(v) ? 0 : v;
  };
  const now: TaskTotals = {
    count: sum('temporal_workflow_task_execution_latency_count'),
    started: sum('temporal_workflow_task_schedule_to_start_latency_count'),
    scheduleToStartMs: sum('temporal_workflow_task_schedule_to_start_latency_sum'),
    executionMs: sum('temporal_workflow_task_execution_latency_sum'),
  };
  if (!since) return now;
  return {
    count: now.count - since.count,
    started: now.started - since.started,
    scheduleToStartMs: now.scheduleToStartMs - since.scheduleToStartMs,
    executionMs: now.executionMs - since.executionMs,
  };
}

/** Places the kill of `k` in the workflow task that accepted it, or null when this run does not hold it. */
function killTimeline(events: HistoryEvent[], k: KillRecord): KillTimeline | null {
  const at = events.findIndex((e) => {
    const req = e.workflowExecutionUpdateAcceptedEventAttributes?.acceptedRequest;
    if (req?.input?.name !== requestKillUpdate.name) return false;
    const arg = req.input.args?.payloads?.[0];
    return !!arg && defaultPayloadConverter.fromPayload<{ agentDid?: string }>(arg).agentDid === k.agent.did;
  });
  if (at < 0) return null;
  let completed = at;
  while (completed >= 0 && !events[completed]!.workflowTaskCompletedEventAttributes) completed--;
  if (completed < 0) return null;
  const attrs = events[completed]!.workflowTaskCompletedEventAttributes!;
  const byId = (id: unknown) => events.find((e) => Number(e.eventId) === Number(id));
  const scheduled = byId(attrs.scheduledEventId);
  const started = byId(attrs.startedEventId);
  if (!scheduled || !started) return null;
  let end = completed + 1;
  while (end < events.length && !events[end]!.workflowTaskScheduledEventAttributes) end++;
  const accepted = (from: number, to: number) =>
    events.slice(from, to).filter((e) => e.workflowExecutionUpdateAcceptedEventAttributes).length;
  const ms = (e: HistoryEvent) => tsToMs(e.eventTime);
  const queuedFrom = Math.max(ms(scheduled), k.sentEpochMs);
  return {
    sessionWaitMs: queuedFrom - k.sentEpochMs,
    queueWaitMs: ms(started) - queuedFrom,
    taskMs: ms(events[completed]!) - ms(started),
    answerMs: k.ackEpochMs - ms(events[completed]!),
    updatesAhead: accepted(completed + 1, at),
    updatesBehind: accepted(at + 1, end),
  };
}

async function putKillTimelines(put: Put, timelines: KillTimeline[]): Promise<void> {
  if (timelines.length === 0) return;
  await put('kills placed in their workflow task', timelines.length, 'count');
  const parts: Array<[keyof KillTimeline, string]> = [
    ['sessionWaitMs', "kill: sent → its task scheduled (the session's task in flight)"],
    ['queueWaitMs', 'kill: sent or scheduled → task started (task queue)'],
    ['taskMs', 'kill: task started → completed (the activation)'],
    ['answerMs', 'kill: task completed → ack at the operator'],
  ];
  for (const [key, label] of parts) {
    const xs = timelines.map((t) => t[key]);
    await put(`${label}, p50`, median(xs), 'ms');
    await put(`${label}, p99`, quantile(xs, 0.99), 'ms');
  }
  await put(
    'kill: updates accepted ahead of it in its task, mean',
    mean(timelines.map((t) => t.updatesAhead)),
    'count',
  );
  await put(
    'kill: updates accepted ahead of it in its task, max',
    Math.max(...timelines.map((t) => t.updatesAhead)),
    'count',
  );
  await put('kill: updates accepted behind it in its task, mean', mean(timelines.map((t) => t.updatesBehind)), 'count');
}

const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;

interface RssSampler {
  last(): number;
  peak(): number;
  stop(): void;
}

/** Samples the worker's RSS every RSS_EVERY_MS from the first session opened to the last check. */
function startRssSampler(worker: WorkerProcess): RssSampler {
  let last = 0;
  let peak = 0;
  const sample = () =>
    void worker.rssBytes().then(
      (b) => ((last = b), (peak = Math.max(peak, b))),
      () => undefined,
    );
  sample();
  const timer = setInterval(sample, RSS_EVERY_MS);
  return { last: () => last, peak: () => peak, stop: () => clearInterval(timer) };
}

const GOALS: Record<string, Goal> = {
  'authorize p99 under load ÷ lightly loaded': { at: 'most', value: 2 },
  'calls ALLOWED after the kill returned': { at: 'most', value: 0 },
  'errors (authorize, join, kill, terminate)': { at: 'most', value: 0 },
  'stuck workflows': { at: 'most', value: 0 },
  'WorkflowTaskFailed events': { at: 'most', value: 0 },
};

/** The suite's Markdown table. */
export function soakSummary(
  samples: readonly Measure[],
  options: Pick<SoakOptions, 'sessions' | 'agentsPerSession' | 'seconds' | 'paceMs'>,
): string[] {
  return measureTable(
    `soak: ${options.sessions} sessions × ${options.agentsPerSession} agents, ${options.seconds} s, ` +
      `one call per ${options.paceMs} ms per agent`,
    samples,
    GOALS,
  );
}
