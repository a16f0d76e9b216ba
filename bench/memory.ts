/**
 * Worker memory per open session (hot-path issue, item 4), measured against a real Temporal dev server and a real
 * PostgreSQL with the production worker (`worker/main.ts`) as its own process:
 *
 *   npx tsx bench/memory.ts --sessions 1000 [--steps 250,500] [--concurrency 8] [--env HV_MAX_CACHED_WORKFLOWS=500]
 *                           [--replay] [--heap-snapshot]
 *
 * Opens idle sessions (create, join one agent, activate: two workflows each, the session and the agent's identity)
 * and reads the worker's RSS (`/proc/<pid>/status`) and the SDK's sticky-cache size (`/metrics`) at each step, once
 * the worker is quiet. The per-session figure is the RSS slope between the first and the last step. `--replay` also
 * times the replay of a short (just opened) and a long (~4,000 events) session history, the price of an eviction,
 * and an `authorize` on an evicted session against one on a cached session. `--heap-snapshot` runs the workflows on
 * the worker's main thread (TEMPORAL_DEBUG) and writes a heap snapshot at each step (SIGUSR2), for where the memory
 * goes. Servers are started for the run and stopped at the end.
 */
import { publicKeyOf } from '../domain/operator-command.js';
import { benchOperator } from './temporal-env.js';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { chmod, mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Client, Connection } from '@temporalio/client';
import { DefaultLogger, Runtime, Worker, bundleWorkflowCode } from '@temporalio/worker';
import { HypervisorClient, type SessionHandle } from '../client/hypervisor-client.js';
import { generateSigningKeyPem } from '../store/audit-crypto.js';
import { runMigrations } from '../store/migrate.js';
import { projectRoot } from '../store/paths.js';
import { workflowBundleOptions } from '../worker/bundle.js';
import { startEmbeddedPostgres } from '../worker/postgres.js';
import { freePort } from '../worker/processes.js';
import { resolveTemporalCli } from '../worker/temporal-cli.js';
import { startTemporalDevServer } from '../worker/temporal-dev-server.js';
import { generateInternalKey } from '../store/internal-crypto.js';

/** The internal key every bench worker of this process holds. */
const internalKeyPem = process.env.HV_INTERNAL_SIGNING_KEY ?? generateInternalKey().privatePem;

const { values: args } = parseArgs({
  options: {
    sessions: { type: 'string', default: '500' },
    steps: { type: 'string', default: '' },
    concurrency: { type: 'string', default: '8' },
    env: { type: 'string', multiple: true, default: [] },
    replay: { type: 'boolean', default: false },
    'heap-snapshot': { type: 'boolean', default: false },
    'long-authorizes': { type: 'string', default: '360' },
  },
});
const SESSIONS = Number(args.sessions);
const CONCURRENCY = Number(args.concurrency);
const STEPS = [
  ...new Set([0, ...args.steps.split(',').filter(Boolean).map(Number), SESSIONS].filter((n) => n <= SESSIONS)),
].sort((a, b) => a - b);
const WORKER_ENV = Object.fromEntries(
  args.env.map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]),
);
const MANIFEST = [{ actionId: 'edit', name: 'Edit', reversibility: 'full' as const, undoApi: '/undo' }];
const MiB = 1024 * 1024;
/** SIGINT/SIGTERM: stop opening sessions, report what was reached, and stop the servers. */
let stopRequested = false;
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => void (stopRequested = true));
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)]!;

/** VmRSS and VmHWM of a process, in bytes. */
async function rssOf(pid: number): Promise<{ rss: number; hwm: number }> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kb = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN) * 1024;
  return { rss: kb('VmRSS'), hwm: kb('VmHWM') };
}

/** Selected gauges from the worker's /metrics (ours and the SDK's). */
async function metricsOf(port: number): Promise<Record<string, number>> {
  let text = '';
  for (let attempt = 0; !text; attempt++) {
    text = await fetch(`http://127.0.0.1:${port}/metrics`).then(
      (r) => r.text(),
      (err: unknown) => {
        if (attempt > 30) throw err;
        return sleep(1000).then(() => '');
      },
    );
  }
  const pick = (name: string) => {
    const line = text.split('\n').find((l) => l.startsWith(name) && !l.startsWith('#'));
    return line ? Number(line.slice(line.lastIndexOf(' ') + 1)) : NaN;
  };
  return {
    stickyCache: pick('temporal_sticky_cache_size'),
    mainHeapUsed: pick('hypervisor_nodejs_heap_size_used_bytes'),
    forcedEvictions: pick('temporal_sticky_cache_total_forced_eviction'),
  };
}

async function spawnWorker(options: {
  temporalAddress: string;
  databaseUrl: string;
  taskQueue: string;
  bundlePath: string;
  root: string;
}): Promise<{ child: ChildProcess; httpPort: number }> {
  const httpPort = await freePort();
  const nodeFlags = args['heap-snapshot'] ? [`--heapsnapshot-signal=SIGUSR2`, `--diagnostic-dir=${options.root}`] : [];
  const child = spawn(process.execPath, [...nodeFlags, '--import', 'tsx', 'worker/main.ts'], {
    cwd: projectRoot,
    stdio: ['ignore', 'ignore', 'inherit'],
    env: {
      ...process.env,
      TEMPORAL_ADDRESS: options.temporalAddress,
      DATABASE_URL: options.databaseUrl,
      TEMPORAL_TASK_QUEUE: options.taskQueue,
      HV_WORKFLOW_BUNDLE: options.bundlePath,
      HV_HTTP_HOST: '127.0.0.1',
      HV_HTTP_PORT: String(httpPort),
      HV_SDK_METRICS_PORT: String(await freePort()),
      HV_MIGRATE_ON_START: 'false',
      HV_AUDIT_RETENTION_SCHEDULE: 'false',
      HV_AUDIT_SIGNING_KEY: generateSigningKeyPem().privatePem,
      HV_INTERNAL_SIGNING_KEY: internalKeyPem,
      HV_OPERATOR_BOOTSTRAP_KEY: `${benchOperator.did}=${publicKeyOf(benchOperator.privateKey)}`,
      HV_CHECKPOINT_SINK: path.join(options.root, 'checkpoints'),
      HV_LOG_LEVEL: 'WARN',
      ...(args['heap-snapshot'] ? { TEMPORAL_DEBUG: '1' } : {}),
      ...WORKER_ENV,
    },
  });
  for (let i = 0; ; i++) {
    const ok = await fetch(`http://127.0.0.1:${httpPort}/readyz`).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) return { child, httpPort };
    if (child.exitCode !== null || i > 600) throw new Error('the worker did not become ready');
    await sleep(100);
  }
}

/** Waits until the worker has had nothing to do for a while (cache size and RSS steady), then settles a bit more. */
async function quiet(pid: number, httpPort: number): Promise<void> {
  let last = '';
  for (let stable = 0; stable < 3;) {
    await sleep(1000);
    const m = await metricsOf(httpPort);
    const { rss } = await rssOf(pid);
    const key = `${m.stickyCache}|${Math.round(rss / (4 * MiB))}`;
    stable = key === last ? stable + 1 : 0;
    last = key;
  }
}

/** The snapshot file stopped growing (the worker writes it synchronously, then answers again). */
async function snapshotWritten(file: string): Promise<boolean> {
  const size = (await stat(file)).size;
  await sleep(2000);
  return size > 0 && (await stat(file)).size === size;
}

async function openSessions(hv: HypervisorClient, from: number, to: number, prefix: string): Promise<SessionHandle[]> {
  const out: SessionHandle[] = [];
  let next = from;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < to && !stopRequested) {
        const i = next++;
        const session = await hv.createSession({ creatorDid: 'did:mesh:mem-operator', sessionId: `${prefix}-${i}` });
        await session.join({ agentDid: `did:mesh:mem-agent-${prefix}-${i}`, sigmaRaw: 0.9, actions: MANIFEST });
        await session.activate({});
        out[i - from] = session;
      }
    }),
  );
  return out;
}

/** Opens sessions up to each step and reports the worker's RSS once it is quiet; returns the sessions opened. */
async function measureSteps(
  hv: HypervisorClient,
  pid: number,
  httpPort: number,
  root: string,
): Promise<SessionHandle[]> {
  console.log('| open sessions | worker RSS (MiB) | main-thread heap (MiB) | sticky cache | open rate (/s) |');
  console.log('| ---: | ---: | ---: | ---: | ---: |');
  const rows: Array<{ sessions: number; rss: number }> = [];
  const sessions: SessionHandle[] = [];
  let opened = 0;
  for (const step of STEPS) {
    const t0 = performance.now();
    const fresh = (await openSessions(hv, opened, step, 'mem')).filter(Boolean);
    sessions.push(...fresh);
    const rate = fresh.length > 0 ? fresh.length / ((performance.now() - t0) / 1000) : NaN;
    opened += fresh.length;
    await quiet(pid, httpPort);
    if (args['heap-snapshot']) {
      await heapSnapshot(pid, root, step);
      await quiet(pid, httpPort);
    }
    const { rss } = await rssOf(pid);
    const m = await metricsOf(httpPort);
    rows.push({ sessions: opened, rss });
    console.log(
      `| ${opened} | ${(rss / MiB).toFixed(0)} | ${((m.mainHeapUsed ?? NaN) / MiB).toFixed(0)} | ${m.stickyCache} | ${Number.isNaN(rate) ? '—' : rate.toFixed(1)} |`,
    );
    if (stopRequested) break;
  }
  const first = rows[0]!;
  const last = rows[rows.length - 1]!;
  if (last.sessions > first.sessions) {
    const perSession = (last.rss - first.rss) / (last.sessions - first.sessions);
    console.log(
      `\nRSS per open session (slope ${first.sessions} → ${last.sessions}): ${(perSession / 1024).toFixed(1)} KiB; ` +
        `baseline ${(first.rss / MiB).toFixed(0)} MiB; peak ${((await rssOf(pid)).hwm / MiB).toFixed(0)} MiB`,
    );
  }
  return sessions;
}

/** Asks the worker for a heap snapshot (SIGUSR2) and waits until it is written. */
async function heapSnapshot(pid: number, root: string, step: number): Promise<void> {
  const before = new Set(await readdir(root));
  process.kill(pid, 'SIGUSR2');
  for (let i = 0; i < 600; i++) {
    await sleep(500);
    const fresh = (await readdir(root)).filter((f) => f.endsWith('.heapsnapshot') && !before.has(f));
    if (fresh.length > 0 && (await snapshotWritten(path.join(root, fresh[0]!)))) {
      console.log(`heap snapshot at ${step} sessions: ${path.join(root, fresh[0]!)}`);
      return;
    }
  }
}

async function main(): Promise<void> {
  const root = await mkdtemp(path.join(os.tmpdir(), 'hv-memory-'));
  await chmod(root, 0o755);
  Runtime.install({ logger: new DefaultLogger('WARN') });
  const [pg, server, bundle] = await Promise.all([
    (async () =>
      startEmbeddedPostgres({ dataDir: path.join(root, 'pg'), port: await freePort(), persistent: false }))(),
    (async () =>
      startTemporalDevServer({
        cli: await resolveTemporalCli({ log: () => undefined }),
        port: await freePort(),
        stateDir: path.join(root, 'temporal'),
      }))(),
    bundleWorkflowCode({ ...workflowBundleOptions(), logger: new DefaultLogger('WARN') }),
  ]);
  let worker: ChildProcess | undefined;
  let connection: Connection | undefined;
  try {
    await runMigrations(pg.url, () => undefined);
    const bundlePath = path.join(root, 'workflow-bundle.js');
    await writeFile(bundlePath, bundle.code);
    const taskQueue = `mem-${randomUUID()}`;
    const spawned = await spawnWorker({
      temporalAddress: server.address,
      databaseUrl: pg.url,
      taskQueue,
      bundlePath,
      root,
    });
    worker = spawned.child;
    const pid = worker.pid!;
    connection = await Connection.connect({ address: server.address });
    const client = new Client({ connection });
    const hv = HypervisorClient.fromClient(client, taskQueue, { operator: benchOperator });
    console.log(
      `worker pid ${pid}; env ${JSON.stringify(WORKER_ENV)}; ${SESSIONS} sessions, concurrency ${CONCURRENCY}`,
    );
    const sessions = await measureSteps(hv, pid, spawned.httpPort, root);
    if (args.replay) await replayCosts(hv, client, sessions, bundle.code, root);
    if (args['heap-snapshot']) {
      console.log(`snapshots kept in ${root}; delete it when done`);
      return;
    }
  } finally {
    if (worker && worker.exitCode === null) {
      const exited = new Promise((resolve) => worker!.once('exit', resolve));
      worker.kill('SIGTERM');
      await Promise.race([exited, sleep(20_000)]);
      if (worker.exitCode === null) worker.kill('SIGKILL');
    }
    await connection?.close();
    await server.stop();
    await pg.stop();
    if (!args['heap-snapshot']) await rm(root, { recursive: true, force: true });
  }
}

/**
 * The price of an eviction: replaying a short and a long history (in this process, the same bundle), and an
 * `authorize` on the oldest sessions (evicted when the cache is smaller than the sessions open) against the newest.
 */
async function replayCosts(
  hv: HypervisorClient,
  client: Client,
  sessions: SessionHandle[],
  bundleCode: string,
  root: string,
): Promise<void> {
  const agentOf = (s: SessionHandle) => `did:mesh:mem-agent-${s.sessionId}`;
  const sample = Math.min(10, Math.floor(sessions.length / 2));
  const authorizeMs = async (s: SessionHandle) => {
    const t0 = performance.now();
    await s.authorize({ agentDid: agentOf(s), actionId: 'edit' });
    return performance.now() - t0;
  };
  if (sample > 0) {
    const newest: number[] = [];
    const oldest: number[] = [];
    for (let i = 0; i < sample; i++) {
      oldest.push(await authorizeMs(sessions[i]!));
      newest.push(await authorizeMs(sessions[sessions.length - 1 - i]!));
    }
    console.log(
      `authorize, median of ${sample}: oldest sessions ${median(oldest).toFixed(1)} ms, newest ${median(newest).toFixed(1)} ms`,
    );
  }
  const [long] = await openSessions(hv, 0, 1, 'mem-long');
  const authorizes = Number(args['long-authorizes']);
  for (let i = 0; i < authorizes; i++) await long!.authorize({ agentDid: agentOf(long!), actionId: 'edit' });
  const bundlePath = path.join(root, 'replay-bundle.js');
  await writeFile(bundlePath, bundleCode);
  for (const s of [sessions[0], long]) {
    if (!s) continue;
    const workflowId = `session:${s.sessionId}`;
    const history = await client.workflow.getHandle(workflowId).fetchHistory();
    // One replay worker for every repetition: the first result also pays for the worker's start.
    const reps = 6;
    const copies = Array.from({ length: reps }, (_, rep) => ({ workflowId: `${workflowId}#${rep}`, history }));
    const times: number[] = [];
    let t0 = performance.now();
    for await (const result of Worker.runReplayHistories({ workflowBundle: { codePath: bundlePath } }, copies)) {
      if (result.error) throw result.error;
      times.push(performance.now() - t0);
      t0 = performance.now();
    }
    console.log(
      `replay of ${workflowId}: ${history.events?.length} events, median ${median(times.slice(1)).toFixed(1)} ms ` +
        `(first ${times[0]!.toFixed(0)} ms, with the replay worker's start)`,
    );
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
