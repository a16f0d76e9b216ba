import { execFile, spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { inject } from 'vitest';
import { projectRoot } from '../../store/paths.js';

export interface HvResult {
  code: number;
  stdout: string;
  stderr: string;
}

const cliArgs = (args: string[]) => ['--import', 'tsx', 'client/cli.ts', ...args];

/** The environment the CLI gets: the test servers; colour only when a test asks for it (stdout is a pipe). */
export function hvEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    TEMPORAL_ADDRESS: inject('temporalAddress'),
    DATABASE_URL: inject('databaseUrl'),
  };
  delete env.NO_COLOR;
  delete env.FORCE_COLOR;
  return { ...env, ...extra };
}

/** Runs the `hv` CLI as a user would (a child process), against the test servers. */
export function runHv(args: string[], env: NodeJS.ProcessEnv = hvEnv()): Promise<HvResult> {
  return new Promise((resolve) => {
    execFile(process.execPath, cliArgs(args), { cwd: projectRoot, env }, (err, stdout, stderr) =>
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

/** A long-running `hv` (e.g. `session watch`) whose output lines are collected as they arrive. */
export interface HvProcess {
  child: ChildProcessWithoutNullStreams;
  lines: string[];
  stderr: () => string;
  /** Resolves with the exit code once the process has ended. */
  exited: Promise<number | null>;
}

export function spawnHv(args: string[], env: NodeJS.ProcessEnv = hvEnv()): HvProcess {
  const child = spawn(process.execPath, cliArgs(args), { cwd: projectRoot, env });
  const lines: string[] = [];
  let pending = '';
  let errText = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    const parts = (pending + chunk).split('\n');
    pending = parts.pop() ?? '';
    lines.push(...parts);
  });
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (errText += chunk));
  const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
  return { child, lines, stderr: () => errText, exited };
}

/** Waits, with a deadline, until `accept` holds for the lines the process printed so far. */
export async function untilLines(p: HvProcess, accept: (lines: string[]) => boolean, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  while (!accept(p.lines)) {
    if (Date.now() > deadline)
      throw new Error(`hv output did not match within ${timeoutMs} ms:\n${p.lines.join('\n')}\n${p.stderr()}`);
    if (p.child.exitCode !== null)
      throw new Error(
        `hv exited (${p.child.exitCode}) before its output matched:\n${p.lines.join('\n')}\n${p.stderr()}`,
      );
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
