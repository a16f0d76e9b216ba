import { readFile } from 'node:fs/promises';
import { Option, type Command } from 'commander';
import { ErrorType } from '../../domain/errors.js';
import { LOCK_INTENTS } from '../../domain/enum-values.js';
import type { LockIntent } from '../../domain/intent-locks.js';
import { HypervisorError } from '../errors.js';
import { parseNumber, withSession } from './common.js';
import { emit } from './output.js';

/** `hv state …` (the shared VFS) and `hv lock …` (intent locks). */
export function registerStateCommands(program: Command): void {
  registerVfsCommands(program);
  registerLockCommands(program);
}

function registerVfsCommands(program: Command): void {
  const state = program.command('state').description('the session’s shared state (VFS)');
  state
    .command('write <sessionId> <path>')
    .requiredOption('--agent <did>')
    .option('--content <text>')
    .option('--file <file>', 'read the content from a file')
    .option('--base-version <n>', 'expected current version (optimistic concurrency)', parseNumber('--base-version'))
    .action((id: string, path: string, o: { agent: string; content?: string; file?: string; baseVersion?: number }) =>
      withSession(id, async (s) => {
        const content = o.file ? await readFile(o.file, 'utf8') : o.content;
        if (content === undefined) throw new HypervisorError(ErrorType.InvalidInput, 'give --content or --file');
        emit(await s.write({ agentDid: o.agent, path, content, baseVersion: o.baseVersion }));
      }),
    );
  state
    .command('read <sessionId> <path>')
    .requiredOption('--agent <did>')
    .action((id: string, path: string, o: { agent: string }) =>
      withSession(id, async (s) => emit(await s.read({ agentDid: o.agent, path }))),
    );
  state
    .command('delete <sessionId> <path>')
    .requiredOption('--agent <did>')
    .option('--base-version <n>', 'expected current version', parseNumber('--base-version'))
    .action((id: string, path: string, o: { agent: string; baseVersion?: number }) =>
      withSession(id, async (s) => emit(await s.delete({ agentDid: o.agent, path, baseVersion: o.baseVersion }))),
    );
  state
    .command('list <sessionId>')
    .requiredOption('--agent <did>')
    .option('--prefix <path>')
    .action((id: string, o: { agent: string; prefix?: string }) =>
      withSession(id, async (s) => emit(await s.list({ agentDid: o.agent, prefix: o.prefix }))),
    );
  state
    .command('permit <sessionId> <path>')
    .description('restrict a path to the given agents (--clear removes the restriction)')
    .requiredOption('--agent <did>', 'who sets it (the creator of the file or a ring ≤ 2 agent)')
    .option('--allow <dids...>', 'agents allowed to access the path')
    .option('--clear', 'remove the restriction')
    .action((id: string, path: string, o: { agent: string; allow?: string[]; clear?: boolean }) =>
      withSession(id, async (s) =>
        emit(await s.setPermissions({ agentDid: o.agent, path, agents: o.clear ? null : (o.allow ?? []) })),
      ),
    );
  state
    .command('snapshot <sessionId>')
    .requiredOption('--agent <did>')
    .option('--id <snapshotId>')
    .action((id: string, o: { agent: string; id?: string }) =>
      withSession(id, async (s) => emit(await s.snapshot({ agentDid: o.agent, snapshotId: o.id }))),
    );
  state
    .command('restore <sessionId> <snapshotId>')
    .requiredOption('--agent <did>')
    .action((id: string, snapshotId: string, o: { agent: string }) =>
      withSession(id, async (s) => emit(await s.restore({ agentDid: o.agent, snapshotId }))),
    );
}

function registerLockCommands(program: Command): void {
  const lock = program.command('lock').description('intent locks on shared resources');
  lock
    .command('acquire <sessionId> <path>')
    .requiredOption('--agent <did>')
    .addOption(new Option('--intent <intent>').choices(LOCK_INTENTS).default('write'))
    .option('--ttl <seconds>', 'lock TTL', parseNumber('--ttl'))
    .action((id: string, path: string, o: { agent: string; intent: LockIntent; ttl?: number }) =>
      withSession(id, async (s) =>
        emit(await s.acquireLock({ agentDid: o.agent, path, intent: o.intent, ttlSeconds: o.ttl })),
      ),
    );
  lock
    .command('release <sessionId> <lockId>')
    .requiredOption('--agent <did>')
    .action((id: string, lockId: string, o: { agent: string }) =>
      withSession(id, async (s) => emit(await s.releaseLock({ agentDid: o.agent, lockId }))),
    );
  lock
    .command('list <sessionId>')
    .option('--agent <did>')
    .option('--path <path>')
    .action((id: string, o: { agent?: string; path?: string }) => withSession(id, async (s) => emit(await s.locks(o))));
}
