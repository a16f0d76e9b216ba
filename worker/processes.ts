import type { ChildProcess } from 'node:child_process';
import { readFile, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';

/** True when a process with this pid exists (EPERM means it exists but belongs to someone else). */
export function isPidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Resolves when `child` has exited; sends `signal` first and SIGKILL after `graceMs` if it is still running. */
export async function stopChild(child: ChildProcess, signal: NodeJS.Signals, graceMs: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill(signal);
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  try {
    await exited;
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Kills the process recorded in `pidFile` by an earlier run that died without cleaning up (a crashed `npm run dev`
 * leaves its detached dev server behind), so a new run can take the ports and the state files.
 */
export async function reapStaleProcess(pidFile: string, what: string, log: (line: string) => void): Promise<void> {
  const pid = Number.parseInt(await readFile(pidFile, 'utf8').catch(() => ''), 10);
  if (!Number.isFinite(pid) || !isPidAlive(pid)) {
    await rm(pidFile, { force: true });
    return;
  }
  log(`Stopping the ${what} left running by an earlier run (pid ${pid}).`);
  process.kill(pid, 'SIGTERM');
  for (let waited = 0; isPidAlive(pid) && waited < 15_000; waited += 100) {
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  if (isPidAlive(pid)) process.kill(pid, 'SIGKILL');
  await rm(pidFile, { force: true });
}

export const writePidFile = (pidFile: string, pid: number): Promise<void> => writeFile(pidFile, `${pid}\n`);

/** Asks the OS for a free TCP port on loopback. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() =>
        typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port')),
      );
    });
  });
}

/** True when something already accepts connections on 127.0.0.1:`port`. */
export function portInUse(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** Polls `probe` until it succeeds, the child exits, or `timeoutMs` passes. Used only for process start-up. */
export async function waitUntil(
  probe: () => Promise<boolean>,
  options: { timeoutMs: number; what: string; child?: ChildProcess; logTail?: () => string },
): Promise<void> {
  const deadline = Date.now() + options.timeoutMs;
  for (;;) {
    if (options.child && (options.child.exitCode !== null || options.child.signalCode !== null)) {
      throw new Error(
        `${options.what} exited during start-up (code ${options.child.exitCode}).\n${options.logTail?.() ?? ''}`,
      );
    }
    if (await probe().catch(() => false)) return;
    if (Date.now() > deadline) {
      throw new Error(
        `${options.what} did not become ready within ${options.timeoutMs / 1000}s.\n${options.logTail?.() ?? ''}`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}
