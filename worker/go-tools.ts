import { spawn, spawnSync } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { cacheDir } from './paths.js';
import { isPidAlive } from './processes.js';

/**
 * Go tools the project builds itself with `go install`, pinned and cached in `~/.cache/agent-hypervisor/<name>/<version>/`
 * (the Temporal CLI, and the validators and servers the tests use). One build per machine; later runs reuse it.
 */
export interface GoTool {
  /** Cache folder name and what progress lines call it, e.g. `temporal-cli`. */
  name: string;
  /** The package to `go install`, e.g. `github.com/temporalio/cli/cmd/temporal`. */
  module: string;
  version: string;
  /** The binary `go install` writes: the last element of `module` unless it ends in a major-version suffix. */
  binary: string;
  /** What to tell the user when the build fails or Go is missing. */
  hint?: string;
}

export interface GoToolOptions {
  env?: NodeJS.ProcessEnv;
  /** Progress lines for the user; building takes minutes, so silence would look like a hang. */
  log?: (line: string) => void;
}

export const isExecutable = (file: string): boolean => {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
};

export function findOnPath(name: string, env: NodeJS.ProcessEnv): string | undefined {
  for (const dir of (env.PATH ?? '').split(path.delimiter)) {
    if (!dir) continue;
    const candidate = path.join(dir, name);
    if (isExecutable(candidate)) return candidate;
  }
  return undefined;
}

/** Where the cached build of `tool` lives (it may not exist yet). */
export const goToolPath = (tool: GoTool, env: NodeJS.ProcessEnv = process.env): string =>
  path.join(cacheDir(env), tool.name, tool.version, tool.binary);

/** The cached binary of `tool`, building it with `go install` first if it is not there. Fails if Go is missing. */
export async function provisionGoTool(tool: GoTool, options: GoToolOptions = {}): Promise<string> {
  const env = options.env ?? process.env;
  const target = goToolPath(tool, env);
  if (isExecutable(target)) return target;
  const go = findOnPath('go', env);
  if (!go) {
    throw new Error(
      `${tool.name} ${tool.version} is not built yet and no Go toolchain is on PATH. ` +
        (tool.hint ?? `Install Go >= 1.25, or build it with \`go install ${tool.module}@${tool.version}\`.`),
    );
  }
  await buildWithGo({ go, tool, target, env, log: options.log ?? (() => undefined) });
  return target;
}

/**
 * Holds a directory lock so that two processes (say `npm test` and `npm run dev`) never build at once; the second waits
 * for the first and then reuses its binary. A lock left by a dead process is taken over.
 */
async function withBuildLock<T>(
  lockDir: string,
  what: string,
  log: (line: string) => void,
  fn: () => Promise<T>,
): Promise<T> {
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
        log(`Another process (pid ${Number.isFinite(owner) ? owner : '?'}) is building ${what}; waiting for it.`);
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
  tool: GoTool;
  target: string;
  env: NodeJS.ProcessEnv;
  log: (line: string) => void;
}): Promise<void> {
  const { go, tool, target, env, log } = args;
  const versionDir = path.dirname(target);
  const what = `${tool.name} ${tool.version}`;
  await mkdir(path.dirname(versionDir), { recursive: true });
  await withBuildLock(`${versionDir}.lock`, what, log, async () => {
    if (isExecutable(target)) return; // built by the process we waited for
    const goVersion = spawnSync(go, ['env', 'GOVERSION'], { encoding: 'utf8', env }).stdout.trim();
    const staging = `${versionDir}.partial-${process.pid}`;
    await rm(staging, { recursive: true, force: true });
    await mkdir(staging, { recursive: true });
    log(
      `Building ${what} with ${goVersion || 'go'} (first run on this machine only; typically minutes). ` +
        `It is cached in ${versionDir} and reused by every later run.`,
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
        const child = spawn(go, ['install', '-v', `${tool.module}@${tool.version}`], {
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
          code === 0
            ? resolve()
            : reject(new Error(`go install exited with code ${code}:\n${tail}${tool.hint ? `\n${tool.hint}` : ''}`)),
        );
      });
    } finally {
      clearInterval(ticker);
    }
    await mkdir(versionDir, { recursive: true });
    await rename(path.join(staging, tool.binary), target);
    await rm(staging, { recursive: true, force: true });
    log(`Built ${target} in ${elapsed()}.`);
  });
}
