import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { Connection } from '@temporalio/client';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { TEMPORAL_DYNAMIC_CONFIG } from '../domain/limits.js';
import { hypervisorSearchAttributes, searchAttributeCliSpecs } from '../domain/search-attributes.js';
import { reapStaleProcess, stopChild, waitUntil, writePidFile } from './processes.js';
import { installHint, type TemporalCli } from './temporal-cli.js';

export interface DevServerOptions {
  cli: TemporalCli;
  port: number;
  /** Web UI port; omitted means headless. */
  uiPort?: number;
  namespace?: string;
  /** SQLite file for persistent state; omitted means in-memory. */
  dbFilename?: string;
  /** Directory for the server log and pid file. */
  stateDir: string;
  /** Extra `--dynamic-config-value KEY=JSON` settings, over {@link TEMPORAL_DYNAMIC_CONFIG} (always applied). */
  dynamicConfig?: Record<string, unknown>;
  /** Spawn in its own process group so a terminal Ctrl-C reaches us first and shutdown runs in order. */
  detached?: boolean;
  log?: (line: string) => void;
}

export interface DevServer {
  address: string;
  namespace: string;
  uiUrl?: string;
  logFile?: string;
  stop(): Promise<void>;
}

/**
 * Starts `temporal server start-dev` with the hypervisor's search attributes registered and waits until the frontend
 * answers and the attributes are visible. Falls back to the SDK's ephemeral server when no binary is available.
 */
export async function startTemporalDevServer(options: DevServerOptions): Promise<DevServer> {
  const namespace = options.namespace ?? 'default';
  if (options.cli.kind === 'sdk-download') return startViaSdkDownload(options, namespace);

  await mkdir(options.stateDir, { recursive: true });
  const pidFile = path.join(options.stateDir, 'temporal.pid');
  const log = options.log ?? (() => undefined);
  await reapStaleProcess(pidFile, 'Temporal dev server', log);

  const args = [
    'server',
    'start-dev',
    '--ip',
    '127.0.0.1',
    '--port',
    String(options.port),
    '--namespace',
    namespace,
    '--log-level',
    'warn',
    ...searchAttributeCliSpecs().flatMap((spec) => ['--search-attribute', spec]),
    ...dynamicConfigArgs(options),
    ...(options.uiPort ? ['--ui-port', String(options.uiPort)] : ['--headless']),
    ...(options.dbFilename ? ['--db-filename', options.dbFilename] : []),
  ];
  const logFile = path.join(options.stateDir, 'temporal-server.log');
  const logStream = createWriteStream(logFile, { flags: 'a' });
  let tail = '';
  const child: ChildProcess = spawn(options.cli.path, args, {
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: options.detached ?? false,
  });
  for (const stream of [child.stdout, child.stderr]) {
    stream?.on('data', (chunk: Buffer) => {
      logStream.write(chunk);
      tail = (tail + chunk.toString('utf8')).slice(-4000);
    });
  }
  if (child.pid) await writePidFile(pidFile, child.pid);

  const address = `127.0.0.1:${options.port}`;
  try {
    await waitUntil(() => searchAttributesVisible(address, namespace), {
      timeoutMs: 90_000,
      what: `Temporal dev server (${options.cli.path})`,
      child,
      logTail: () => tail,
    });
  } catch (err) {
    await stopChild(child, 'SIGKILL', 1000);
    logStream.end();
    throw err;
  }
  return {
    address,
    namespace,
    uiUrl: options.uiPort ? `http://localhost:${options.uiPort}` : undefined,
    logFile,
    async stop() {
      await stopChild(child, 'SIGTERM', 10_000);
      logStream.end();
      await reapStaleProcess(pidFile, 'Temporal dev server', () => undefined);
    },
  };
}

/**
 * The server's limits (docs/DESIGN.md §12), then the caller's settings: a message larger than the hypervisor accepts is
 * refused by the frontend, as in production.
 */
function dynamicConfigArgs(options: DevServerOptions): string[] {
  return Object.entries({ ...TEMPORAL_DYNAMIC_CONFIG, ...options.dynamicConfig }).flatMap(([key, value]) => [
    '--dynamic-config-value',
    `${key}=${JSON.stringify(value)}`,
  ]);
}

async function searchAttributesVisible(address: string, namespace: string): Promise<boolean> {
  const connection = await Connection.connect({ address, connectTimeout: 1000 });
  try {
    const { customAttributes } = await connection.operatorService.listSearchAttributes({ namespace });
    return hypervisorSearchAttributes.every((key) => customAttributes?.[key.name] !== undefined);
  } finally {
    await connection.close();
  }
}

async function startViaSdkDownload(options: DevServerOptions, namespace: string): Promise<DevServer> {
  if (options.cli.kind !== 'sdk-download') throw new Error('unreachable');
  options.log?.('Starting the Temporal dev server through the SDK download (first start downloads it).');
  try {
    const env = await TestWorkflowEnvironment.createLocal({
      server: {
        executable: { type: 'cached-download', downloadDir: options.cli.downloadDir },
        ip: '127.0.0.1',
        port: options.port,
        namespace,
        ...(options.uiPort ? { ui: true, uiPort: options.uiPort } : {}),
        ...(options.dbFilename ? { dbFilename: options.dbFilename } : {}),
        searchAttributes: [...hypervisorSearchAttributes],
        extraArgs: dynamicConfigArgs(options),
      },
    });
    return {
      address: env.address,
      namespace,
      uiUrl: options.uiPort ? `http://localhost:${options.uiPort}` : undefined,
      stop: () => env.teardown(),
    };
  } catch (err) {
    throw new Error(`Could not start a Temporal dev server: ${(err as Error).message}\n\n${installHint()}`, {
      cause: err,
    });
  }
}
