import { spawn, spawnSync } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { cacheDir } from './paths.js';
import { isPidAlive } from './processes.js';

/** The newest CLI tag whose go.mod allows `go install` (later tags carry a `replace` directive). Embeds server 1.29.1. */
export const TEMPORAL_CLI_VERSION = 'v1.5.1';
export const TEMPORAL_CLI_MODULE = 'github.com/temporalio/cli/cmd/temporal';

export type TemporalCliSource = 'TEMPORAL_CLI_PATH' | 'PATH' | 'cache' | 'go install';

export type TemporalCli =
  | { kind: 'binary'; path: string; source: TemporalCliSource }
  /** Nothing local: the Temporal SDK downloads its own dev server at start (needs internet access). */
  | { kind: 'sdk-download'; downloadDir: string };

export interface ResolveOptions {
  env?: NodeJS.ProcessEnv;
  /** Progress lines for the user; building takes minutes, so silence would look like a hang. */
  log?: (line: string) => void;
  /** When false, a missing CLI is reported instead of built (used by `--check`). */
  build?: boolean;
}

const isExecutable = (file: string): boolean => {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
};

function findOnPath(name: string, env: NodeJS.ProcessEnv): string | undefined {
  for (const dir of (env.PATH ?? '').split(path.delimiter)) {
    if (!dir) continue;
    const candidate = path.join(dir, name);
    if (isExecutable(candidate)) return candidate;
  }
  return undefined;
}

export const cachedCliPath = (env: NodeJS.ProcessEnv = process.env): string =>
  path.join(cacheDir(env), 'temporal-cli', TEMPORAL_CLI_VERSION, 'temporal');

/**
 * Finds or builds the `temporal` CLI in the order of DESIGN §1: `TEMPORAL_CLI_PATH` → `temporal` on PATH → the cached
 * build → `go install` into the cache → the SDK's own download as the last resort.
 */
export async function resolveTemporalCli(options: ResolveOptions = {}): Promise<TemporalCli> {
  const env = options.env ?? process.env;
  const log = options.log ?? (() => undefined);

  if (env.TEMPORAL_CLI_PATH) {
    const explicit = path.resolve(env.TEMPORAL_CLI_PATH);
    if (!isExecutable(explicit)) {
      throw new Error(
        `TEMPORAL_CLI_PATH=${env.TEMPORAL_CLI_PATH} is not an executable file. Unset it or point it at a temporal CLI.`,
      );
    }
    return { kind: 'binary', path: explicit, source: 'TEMPORAL_CLI_PATH' };
  }
  const onPath = findOnPath('temporal', env);
  if (onPath) return { kind: 'binary', path: onPath, source: 'PATH' };

  const cached = cachedCliPath(env);
  if (isExecutable(cached)) return { kind: 'binary', path: cached, source: 'cache' };

  const go = findOnPath('go', env);
  if (go && options.build !== false) {
    await buildWithGo({ go, target: cached, env, log });
    return { kind: 'binary', path: cached, source: 'go install' };
  }
  if (options.build !== false) {
    log(
      go
        ? 'temporal CLI not built yet.'
        : `No temporal CLI and no Go toolchain found; falling back to the Temporal SDK's download (needs internet access).\n` +
            installHint(),
    );
  }
  return { kind: 'sdk-download', downloadDir: path.join(cacheDir(env), 'temporal-sdk-download') };
}

export const installHint = (): string =>
  [
    'To run the Temporal dev server the project needs one of:',
    `  - Go >= 1.25 on PATH (https://go.dev/dl): the project then runs \`go install ${TEMPORAL_CLI_MODULE}@${TEMPORAL_CLI_VERSION}\` itself and caches it;`,
    '  - the temporal CLI on PATH (https://docs.temporal.io/cli, e.g. `brew install temporal`);',
    '  - TEMPORAL_CLI_PATH=/path/to/temporal;',
    '  - internet access, so the Temporal SDK can download its dev server.',
  ].join('\n');

/**
 * Holds a directory lock so that two processes (say `npm test` and `npm run dev`) never build at once; the second waits
 * for the first and then reuses its binary. A lock left by a dead process is taken over.
 */
async function withBuildLock<T>(lockDir: string, log: (line: string) => void, fn: () => Promise<T>): Promise<T> {
  const ownerFile = path.join(lockDir, 'owner');
  let announced = false;
  for (;;) {
    try {
      await mkdir(lockDir);
      await writeFile(ownerFile, String(process.pid));
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const owner = Number.parseInt(await readFile(ownerFile, 'utf8').catch(() => ''), 10);
      if (Number.isFinite(owner) && !isPidAlive(owner)) {
        await rm(lockDir, { recursive: true, force: true });
        continue;
      }
      if (!announced) {
        log(
          `Another process (pid ${Number.isFinite(owner) ? owner : '?'}) is building the temporal CLI; waiting for it.`,
        );
        announced = true;
      }
      await new Promise((resolve) => setTimeout(resolve, 2000));
    }
  }
  try {
    return await fn();
  } finally {
    await rm(lockDir, { recursive: true, force: true });
  }
}

async function buildWithGo(args: {
  go: string;
  target: string;
  env: NodeJS.ProcessEnv;
  log: (line: string) => void;
}): Promise<void> {
  const { go, target, env, log } = args;
  const versionDir = path.dirname(target);
  await mkdir(path.dirname(versionDir), { recursive: true });
  await withBuildLock(`${versionDir}.lock`, log, async () => {
    if (isExecutable(target)) return; // built by the process we waited for
    const goVersion = spawnSync(go, ['env', 'GOVERSION'], { encoding: 'utf8', env }).stdout.trim();
    const staging = `${versionDir}.partial-${process.pid}`;
    await rm(staging, { recursive: true, force: true });
    await mkdir(staging, { recursive: true });
    log(
      `Building the temporal CLI ${TEMPORAL_CLI_VERSION} with ${goVersion || 'go'} (first run on this machine only; ` +
        `typically 3–10 minutes). It is cached in ${versionDir} and reused by every later run.`,
    );
    const started = Date.now();
    let downloaded = 0;
    let compiled = 0;
    const elapsed = () => `${Math.round((Date.now() - started) / 1000)}s`;
    const ticker = setInterval(
      () => log(`  … ${downloaded} modules downloaded, ${compiled} packages compiled, ${elapsed()} elapsed`),
      15_000,
    );
    let tail = '';
    try {
      await new Promise<void>((resolve, reject) => {
        const child = spawn(go, ['install', '-v', `${TEMPORAL_CLI_MODULE}@${TEMPORAL_CLI_VERSION}`], {
          env: { ...env, GOBIN: staging, GOFLAGS: [env.GOFLAGS, '-trimpath'].filter(Boolean).join(' ') },
          stdio: ['ignore', 'ignore', 'pipe'],
        });
        child.stderr.setEncoding('utf8');
        child.stderr.on('data', (chunk: string) => {
          for (const line of chunk.split('\n')) {
            if (!line) continue;
            if (line.startsWith('go: downloading')) downloaded += 1;
            else compiled += 1;
          }
          tail = (tail + chunk).slice(-4000);
        });
        child.on('error', reject);
        child.on('close', (code) =>
          code === 0 ? resolve() : reject(new Error(`go install exited with code ${code}:\n${tail}\n${installHint()}`)),
        );
      });
    } finally {
      clearInterval(ticker);
    }
    await mkdir(versionDir, { recursive: true });
    await rename(path.join(staging, 'temporal'), target);
    await rm(staging, { recursive: true, force: true });
    log(`Built ${target} in ${elapsed()}.`);
  });
}

/** `temporal --version` output, e.g. `temporal version 1.5.1 (Server 1.29.1, UI 2.42.1)`. */
export function temporalCliVersion(binary: string): string {
  const out = spawnSync(binary, ['--version'], { encoding: 'utf8' });
  return (out.stdout || out.stderr || '').trim();
}
