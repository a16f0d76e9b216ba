import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { parseJson, parseNumber, withClient, withSession } from './common.js';
import { formatJoin, formatSession, paintState } from './format.js';
import { formatEvent } from './events.js';
import { c, emit, table, when } from './output.js';
import { registerWatchCommand } from './watch.js';

/** `hv session …`: create, inspect, join, end, and follow sessions. */
export function registerSessionCommands(program: Command): void {
  const session = program.command('session').description('create, inspect, follow and end sessions');
  registerInspectionCommands(session);
  registerMembershipCommands(session);
  registerWatchCommand(session);
}

function registerInspectionCommands(session: Command): void {
  session
    .command('create')
    .description('start a session workflow (state: handshaking)')
    .requiredOption('--creator <did>', 'DID of the creating agent or operator')
    .option('--id <sessionId>', 'session id (default: a random UUID)')
    .option(
      '--config <json>',
      'session config as JSON, e.g. {"maxParticipants":5,"minEffScore":0.7}',
      parseJson('--config'),
    )
    .action(async (opts: { creator: string; id?: string; config?: unknown }) => {
      await withClient(async (hv) => {
        const created = await hv.createSession({
          creatorDid: opts.creator,
          sessionId: opts.id,
          config: opts.config ?? {},
        });
        emit(await created.view(), formatSession);
      });
    });
  session
    .command('show <sessionId>')
    .description('the full session view')
    .action((id: string) => withSession(id, async (s) => emit(await s.view(), formatSession)));
  session
    .command('list')
    .description('sessions known to Temporal visibility')
    .option('--state <state>', 'handshaking | active | archived …')
    .option('--agent <did>', 'only sessions this agent joined')
    .action((opts: { state?: string; agent?: string }) =>
      withClient(async (hv) =>
        emit(await hv.listSessions(opts), (list) =>
          list.length === 0
            ? c.dim('no sessions')
            : table(
                ['SESSION', 'STATUS', 'STARTED'],
                list.map((s) => [s.sessionId, s.status, when(s.startTime.getTime())]),
              ),
        ),
      ),
    );
}

function registerMembershipCommands(session: Command): void {
  session
    .command('join <sessionId>')
    .description('join an agent; prints the ring it was given')
    .requiredOption('--agent <did>', 'agent DID')
    .option('--sigma <score>', 'raw trust score σ in [0, 1]', parseNumber('--sigma'), 0)
    .option('--actions <json-or-@file>', 'action manifest: JSON array, or @path/to/manifest.json')
    .option('--parent <did>', 'parent agent (spawned agents get at most parent ring + 1)')
    .action((id: string, opts: { agent: string; sigma: number; actions?: string; parent?: string }) =>
      withSession(id, async (s) => {
        const text = opts.actions?.startsWith('@') ? await readFile(opts.actions.slice(1), 'utf8') : opts.actions;
        const actions = text === undefined ? [] : parseJson('--actions')(text);
        emit(
          await s.join({
            agentDid: opts.agent,
            sigmaRaw: opts.sigma,
            actions: actions as never,
            parentDid: opts.parent,
          }),
          formatJoin,
        );
      }),
    );
  session
    .command('approve <sessionId>')
    .description('approve a ring-1 join (by a ring ≤ 1 participant, or an operator when there is none)')
    .requiredOption('--candidate <did>')
    .requiredOption('--approver <did>')
    .action((id: string, o: { candidate: string; approver: string }) =>
      withSession(id, async (s) => emit(await s.approveJoin({ candidateDid: o.candidate, approverDid: o.approver }))),
    );
  session
    .command('leave <sessionId>')
    .requiredOption('--agent <did>')
    .action((id: string, o: { agent: string }) =>
      withSession(id, async (s) => emit(await s.leave({ agentDid: o.agent }))),
    );
  session
    .command('activate <sessionId>')
    .option('--by <did>', 'who activates it')
    .action((id: string, o: { by?: string }) =>
      withSession(id, async (s) => emit(await s.activate({ authorizedBy: o.by }))),
    );
  session
    .command('terminate <sessionId>')
    .description('terminate and print the commitment')
    .option('--reason <text>', 'why', 'requested')
    .option('--by <did>', 'who terminates it')
    .action((id: string, o: { reason: string; by?: string }) =>
      withSession(id, async (s) =>
        emit(
          await s.terminate({ reason: o.reason, authorizedBy: o.by }),
          (t) =>
            `session ${t.sessionId} ${paintState(t.state)} (${t.reason}): ${t.entryCount} audit entries, root ${t.root}`,
        ),
      ),
    );
  session
    .command('audit <sessionId>')
    .description('the latest audit entries recorded by the session')
    .option('--limit <n>', 'how many', parseNumber('--limit'), 20)
    .action((id: string, o: { limit: number }) =>
      withSession(id, async (s) =>
        emit(await s.auditTail(o.limit), (tail) =>
          tail.map((link) => formatEvent({ ...link.entry, payload: link.payload })).join('\n'),
        ),
      ),
    );
}
