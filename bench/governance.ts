/**
 * Suite (b′) of `npm run bench`: the cost of `authorize`, the call every agent action makes, against the substrate's
 * floor on the same server in the same run — a no-op update on a trivial workflow. Reports the round-trip ratio
 * (p50, p99; single caller, interleaved ABAB) and the history each authorize adds (events and bytes, one caller and
 * 16 concurrent callers), the figures the hot-path issue sets goals for.
 */
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client, Connection, type WorkflowHandle } from '@temporalio/client';
import { DefaultLogger, NativeConnection, Runtime, Worker, bundleWorkflowCode } from '@temporalio/worker';
import { createActivities } from '../activities/index.js';
import { HypervisorClient, type SessionHandle } from '../client/hypervisor-client.js';
import { generateSigningKeyPem, signerFromPem } from '../store/audit-crypto.js';
import { createCheckpointSink } from '../store/checkpoint-sink.js';
import type { Pool } from '../store/db.js';
import { freePort } from '../worker/processes.js';
import { resolveTemporalCli } from '../worker/temporal-cli.js';
import { startTemporalDevServer } from '../worker/temporal-dev-server.js';
import { probeEndSignal, probeUpdate, probeWorkflow } from './workflows.js';

/** One measured figure of this suite. */
export interface GovernanceSample {
  suite: 'governance';
  name: string;
  rep: number;
  value: number;
  unit: 'ms' | 'events' | 'bytes' | 'ratio';
}

const CONCURRENT_CALLERS = 16;
const percentile = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.floor(p * (xs.length - 1))]!;
const MANIFEST = [{ actionId: 'edit', name: 'Edit', reversibility: 'full' as const, undoApi: '/undo' }];

async function timed(n: number, call: () => Promise<unknown>): Promise<number[]> {
  await call(); // warm-up: the first call pays for the workflow's cache entry
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await call();
    out.push(performance.now() - t0);
  }
  return out;
}

async function openSession(hv: HypervisorClient): Promise<{ session: SessionHandle; agentDid: string }> {
  const session = await hv.createSession({
    creatorDid: 'did:mesh:bench-operator',
    sessionId: `bench-${randomUUID()}`,
    config: { maxParticipants: CONCURRENT_CALLERS + 1 },
  });
  const agentDid = `did:mesh:bench-${randomUUID()}`;
  await session.join({ agentDid, sigmaRaw: 0.9, actions: MANIFEST });
  await session.activate({});
  return { session, agentDid };
}

/** History events and bytes the workflow gained while `fn` ran, per call; null when it continued as new meanwhile. */
async function historyPerCall(handle: WorkflowHandle<never>, calls: number, fn: () => Promise<void>) {
  const before = await handle.describe();
  await fn();
  const after = await handle.describe();
  if (after.runId !== before.runId) return null;
  return {
    events: (after.historyLength - before.historyLength) / calls,
    bytes: ((after.historySize ?? 0) - (before.historySize ?? 0)) / calls,
  };
}

/** Runs the suite on its own dev server; `pool` is the bench's database (migrated). */
export async function governanceSuite(
  pool: Pool,
  options: { reps: number; calls: number; record: (s: GovernanceSample) => Promise<void> },
): Promise<{ failures: string[] }> {
  const root = await mkdtemp(path.join(os.tmpdir(), 'hv-bench-temporal-'));
  Runtime.install({ logger: new DefaultLogger('WARN') });
  const server = await startTemporalDevServer({
    cli: await resolveTemporalCli({ log: () => undefined }),
    port: await freePort(),
    stateDir: root,
  });
  const connection = await Connection.connect({ address: server.address });
  const client = new Client({ connection });
  const native = await NativeConnection.connect({ address: server.address });
  const taskQueue = `bench-${randomUUID()}`;
  const bundle = await bundleWorkflowCode({
    workflowsPath: fileURLToPath(new URL('./workflows.ts', import.meta.url)),
    logger: new DefaultLogger('WARN'),
  });
  const worker = await Worker.create({
    connection: native,
    taskQueue,
    workflowBundle: bundle,
    activities: createActivities({
      pool,
      signer: signerFromPem(generateSigningKeyPem().privatePem),
      checkpointSink: createCheckpointSink(path.join(root, 'checkpoints')),
      temporal: () => Promise.resolve(client),
      taskQueue,
    }),
  });
  const failures: string[] = [];
  try {
    await worker.runUntil(() => measure(client, taskQueue, options, failures));
  } finally {
    await native.close();
    await connection.close();
    await server.stop();
    await rm(root, { recursive: true, force: true });
  }
  return { failures };
}

async function measure(
  client: Client,
  taskQueue: string,
  { reps, calls, record }: { reps: number; calls: number; record: (s: GovernanceSample) => Promise<void> },
  failures: string[],
): Promise<void> {
  const hv = HypervisorClient.fromClient(client, taskQueue);
  for (let rep = 1; rep <= reps; rep++) {
    // ABAB: the probe and authorize alternate, starting with the other one every second repetition.
    const runProbe = async () => {
      const probe = await client.workflow.start(probeWorkflow, { taskQueue, workflowId: `probe-${randomUUID()}` });
      const xs = await timed(calls, () => probe.executeUpdate(probeUpdate));
      await probe.signal(probeEndSignal);
      return xs;
    };
    const runAuthorize = async () => {
      const { session, agentDid } = await openSession(hv);
      let denied = 0;
      const xs = await timed(calls, async () => {
        if (!(await session.authorize({ agentDid, actionId: 'edit' })).allowed) denied++;
      });
      if (denied > 0) failures.push(`rep ${rep}: ${denied} of ${calls} routine authorizations were denied`);
      return xs;
    };
    let probe: number[];
    let authorize: number[];
    if (rep % 2) {
      probe = await runProbe();
      authorize = await runAuthorize();
    } else {
      authorize = await runAuthorize();
      probe = await runProbe();
    }
    for (const [name, xs] of [
      ['no-op update (probe)', probe],
      ['authorize', authorize],
    ] as const) {
      await record({ suite: 'governance', name: `${name} p50`, rep, value: percentile(xs, 0.5), unit: 'ms' });
      await record({ suite: 'governance', name: `${name} p99`, rep, value: percentile(xs, 0.99), unit: 'ms' });
    }
    for (const p of [0.5, 0.99]) {
      const ratio = percentile(authorize, p) / percentile(probe, p);
      await record({
        suite: 'governance',
        name: `authorize ÷ no-op update, p${p * 100}`,
        rep,
        value: ratio,
        unit: 'ratio',
      });
    }
    await historySamples(hv, rep, calls, record);
  }
}

/** History per authorize, from one caller and from 16 concurrent callers (one agent each) in one session. */
async function historySamples(
  hv: HypervisorClient,
  rep: number,
  calls: number,
  record: (s: GovernanceSample) => Promise<void>,
): Promise<void> {
  const single = await openSession(hv);
  const sequential = await historyPerCall(single.session.workflow, calls, async () => {
    for (let i = 0; i < calls; i++) await single.session.authorize({ agentDid: single.agentDid, actionId: 'edit' });
  });
  const { session } = await openSession(hv);
  const agents = Array.from({ length: CONCURRENT_CALLERS }, () => `did:mesh:bench-${randomUUID()}`);
  for (const agentDid of agents) await session.join({ agentDid, sigmaRaw: 0.9, actions: MANIFEST });
  const perCaller = Math.max(1, Math.round(calls / CONCURRENT_CALLERS));
  const concurrent = await historyPerCall(session.workflow, perCaller * CONCURRENT_CALLERS, async () => {
    await Promise.all(
      agents.map(async (agentDid) => {
        for (let i = 0; i < perCaller; i++) await session.authorize({ agentDid, actionId: 'edit' });
      }),
    );
  });
  for (const [label, h] of [
    ['1 caller', sequential],
    [`${CONCURRENT_CALLERS} callers`, concurrent],
  ] as const) {
    if (!h) continue; // the session continued as new while measured: its run's counters restarted
    await record({
      suite: 'governance',
      name: `history events per authorize, ${label}`,
      rep,
      value: h.events,
      unit: 'events',
    });
    await record({
      suite: 'governance',
      name: `history bytes per authorize, ${label}`,
      rep,
      value: h.bytes,
      unit: 'bytes',
    });
  }
}

/** Goals of the hot-path issue, by measurement name: the figure passes when its median is at most this. */
const GOALS: Record<string, number> = {
  'authorize ÷ no-op update, p50': 1.5,
  'authorize ÷ no-op update, p99': 2,
  'history events per authorize, 1 caller': 5,
  [`history events per authorize, ${CONCURRENT_CALLERS} callers`]: 3,
  'history bytes per authorize, 1 caller': 1024,
  [`history bytes per authorize, ${CONCURRENT_CALLERS} callers`]: 1024,
};

/** The suite's Markdown table: median and spread of each figure, and its verdict against the goal where one is set. */
export function governanceSummary(samples: GovernanceSample[]): string[] {
  const names = [...new Set(samples.map((s) => s.name))];
  const row = (name: string) => {
    const xs = samples.filter((s) => s.name === name).map((s) => s.value);
    const med = percentile(xs, 0.5);
    const spread = `${Math.min(...xs).toFixed(2)}–${Math.max(...xs).toFixed(2)}`;
    const goal = GOALS[name];
    const verdict = goal === undefined ? '' : med <= goal ? `≤ ${goal}: pass` : `≤ ${goal}: FAIL`;
    return `| ${name} | ${med.toFixed(2)} ${samples.find((s) => s.name === name)!.unit} | ${spread} | ${verdict} |`;
  };
  return [
    '| governance (same server, same run) | median | min–max | goal |',
    '| --- | ---: | ---: | --- |',
    ...names.map(row),
    '',
  ];
}
