/**
 * The Temporal side of `npm run bench`: one dev server for every Temporal suite, the bench's workflow bundle (the
 * production workflows plus the probes of bench/workflows.ts) written to a file, and the production worker entry point
 * (worker/main.ts) run as its own process on that bundle, so the client's load and the worker do not share a V8 heap
 * and the worker's RSS can be read from /proc.
 */
import { publicKeyOf } from '../domain/operator-command.js';
import { kidOf } from '../domain/operators.js';
import { OPERATOR } from './sessions.js';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client, Connection } from '@temporalio/client';
import { DefaultLogger, bundleWorkflowCode } from '@temporalio/worker';
import { workflowBundleOptions } from '../worker/bundle.js';
import { tracingClientInterceptors, tracingEnabled } from '../client/tracing.js';
import { HypervisorClient } from '../client/hypervisor-client.js';
import { generateSigningKeyPem, TrustedKeys } from '../store/audit-crypto.js';
import { projectRoot } from '../store/paths.js';
import { freePort, stopChild, waitUntil } from '../worker/processes.js';
import { resolveTemporalCli } from '../worker/temporal-cli.js';
import { startTemporalDevServer } from '../worker/temporal-dev-server.js';
import { generateInternalKey } from '../store/internal-crypto.js';

/** The internal key every bench worker of this process holds. */
const internalKeyPem = process.env.HV_INTERNAL_SIGNING_KEY ?? generateInternalKey().privatePem;

/** A worker process polling one task queue. */
/** The operator every bench client signs control commands with (activate, kill, terminate): the bootstrap admin. */
const benchPrivateKey = randomBytes(32).toString('hex');
export const benchOperator = {
  did: OPERATOR,
  kid: kidOf(publicKeyOf(benchPrivateKey)),
  privateKey: benchPrivateKey,
};

export interface WorkerProcess {
  taskQueue: string;
  pid: number;
  /** Resident set size of the worker process, from /proc/<pid>/status. */
  rssBytes(): Promise<number>;
  /** The process's peak resident set size since it started (VmHWM). */
  peakRssBytes(): Promise<number>;
  /** The worker's `/metrics` text (prom-client and the SDK's exporter). */
  metrics(): Promise<string>;
  stop(): Promise<void>;
}

export interface TemporalBench {
  client: Client;
  /** The hypervisor client on the shared worker's task queue. */
  hv: HypervisorClient;
  worker: WorkerProcess;
  /** Starts another worker process on a fresh task queue (a suite that measures the worker itself needs its own). */
  spawnWorker(): Promise<WorkerProcess>;
  /** The public half of the key every worker signs commitments and checkpoints with, for verifying chains. */
  trustedKeys: TrustedKeys;
  /** Where the workers' checkpoint sink writes (one more anchor when verifying a chain). */
  checkpointDir: string;
  stop(): Promise<void>;
}

/**
 * Starts the dev server, bundles the bench's workflows and starts the shared worker process. Each worker's stderr goes
 * to `<logPrefix>-worker-<n>.log`, kept with the results: a failing workflow task is explained there.
 */
export async function startTemporalBench(databaseUrl: string, logPrefix: string): Promise<TemporalBench> {
  const root = await mkdtemp(path.join(os.tmpdir(), 'hv-bench-temporal-'));
  const [server, bundle] = await Promise.all([
    (async () =>
      startTemporalDevServer({
        cli: await resolveTemporalCli({ log: () => undefined }),
        port: await freePort(),
        stateDir: root,
      }))(),
    // Built as production builds it (the shared domain modules preloaded), with the bench's probe workflows added.
    // Traced when the OTel variables turn tracing on (the worker processes inherit them), like a production worker.
    bundleWorkflowCode({
      ...workflowBundleOptions({ traced: tracingEnabled() }),
      workflowsPath: fileURLToPath(new URL('./workflows.ts', import.meta.url)),
      logger: new DefaultLogger('WARN'),
    }),
  ]);
  const bundlePath = path.join(root, 'workflow-bundle.js');
  await writeFile(bundlePath, bundle.code);
  const { privatePem: signingKey, publicPem } = generateSigningKeyPem();
  const operatorBootstrap = `${benchOperator.did}=${publicKeyOf(benchOperator.privateKey)}`;
  const checkpointDir = path.join(root, 'checkpoints');
  const workers: WorkerProcess[] = [];
  const spawnWorker = async () => {
    const w = await spawnWorkerProcess({
      temporalAddress: server.address,
      databaseUrl,
      bundlePath,
      signingKey,
      operatorBootstrap,
      checkpointDir,
      logFile: `${logPrefix}-worker-${workers.length + 1}.log`,
    });
    workers.push(w);
    return w;
  };
  const connection = await Connection.connect({ address: server.address });
  const client = new Client({ connection, interceptors: await tracingClientInterceptors() });
  const worker = await spawnWorker();
  return {
    client,
    hv: HypervisorClient.fromClient(client, worker.taskQueue, { operator: benchOperator }),
    worker,
    spawnWorker,
    trustedKeys: TrustedKeys.fromPems([publicPem]),
    checkpointDir,
    async stop() {
      await Promise.allSettled(workers.map((w) => w.stop()));
      await connection.close();
      await server.stop();
      await rm(root, { recursive: true, force: true });
    },
  };
}

interface WorkerProcessOptions {
  temporalAddress: string;
  databaseUrl: string;
  bundlePath: string;
  signingKey: string;
  /** `HV_OPERATOR_BOOTSTRAP_KEY`: the bench operator is the registry's bootstrap admin. */
  operatorBootstrap: string;
  checkpointDir: string;
  logFile: string;
}

/** worker/main.ts as a child process on a fresh task queue; resolves once its /readyz answers. */
async function spawnWorkerProcess(options: WorkerProcessOptions): Promise<WorkerProcess> {
  const taskQueue = `bench-${randomUUID()}`;
  const httpPort = await freePort();
  let tail = '';
  const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', 'worker/main.ts'], {
    cwd: projectRoot,
    stdio: ['ignore', 'ignore', 'pipe'],
    env: {
      ...process.env,
      TEMPORAL_ADDRESS: options.temporalAddress,
      TEMPORAL_NAMESPACE: 'default',
      TEMPORAL_TASK_QUEUE: taskQueue,
      DATABASE_URL: options.databaseUrl,
      HV_WORKFLOW_BUNDLE: options.bundlePath,
      HV_HTTP_HOST: '127.0.0.1',
      HV_HTTP_PORT: String(httpPort),
      HV_SDK_METRICS_PORT: String(await freePort()),
      HV_MIGRATE_ON_START: 'false',
      HV_AUDIT_RETENTION_SCHEDULE: 'false',
      HV_AUDIT_SIGNING_KEY: options.signingKey,
      HV_INTERNAL_SIGNING_KEY: internalKeyPem,
      HV_OPERATOR_BOOTSTRAP_KEY: options.operatorBootstrap,
      HV_CHECKPOINT_SINK: options.checkpointDir,
      HV_LOG_LEVEL: 'WARN',
    },
  });
  const log = createWriteStream(options.logFile, { flags: 'a' });
  child.stderr?.on('data', (chunk: Buffer) => {
    log.write(chunk);
    tail = (tail + chunk.toString('utf8')).slice(-4000);
  });
  child.once('exit', () => log.end());
  const base = `http://127.0.0.1:${httpPort}`;
  await waitUntil(() => fetch(`${base}/readyz`).then((res) => res.status === 200), {
    timeoutMs: 60_000,
    what: 'bench worker',
    child,
    logTail: () => tail,
  });
  return {
    taskQueue,
    pid: child.pid!,
    rssBytes: () => statusBytes(child.pid!, 'VmRSS'),
    peakRssBytes: () => statusBytes(child.pid!, 'VmHWM'),
    metrics: () => fetch(`${base}/metrics`).then((res) => res.text()),
    stop: () => stopChild(child, 'SIGTERM', 10_000),
  };
}

/** A memory figure of /proc/<pid>/status, in bytes. */
async function statusBytes(pid: number, key: 'VmRSS' | 'VmHWM'): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kb = new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)?.[1];
  if (!kb) throw new Error(`no ${key} for the bench worker (pid ${pid})`);
  return Number(kb) * 1024;
}
