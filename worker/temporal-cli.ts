import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { findOnPath, goToolPath, isExecutable, provisionGoTool, type GoTool } from './go-tools.js';
import { cacheDir } from './paths.js';

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

const TEMPORAL_CLI: GoTool = {
  name: 'temporal-cli',
  module: TEMPORAL_CLI_MODULE,
  version: TEMPORAL_CLI_VERSION,
  binary: 'temporal',
};

export const cachedCliPath = (env: NodeJS.ProcessEnv = process.env): string => goToolPath(TEMPORAL_CLI, env);

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
    await provisionGoTool({ ...TEMPORAL_CLI, hint: installHint() }, { env, log });
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

/** `temporal --version` output, e.g. `temporal version 1.5.1 (Server 1.29.1, UI 2.42.1)`. */
export function temporalCliVersion(binary: string): string {
  const out = spawnSync(binary, ['--version'], { encoding: 'utf8' });
  return (out.stdout || out.stderr || '').trim();
}
