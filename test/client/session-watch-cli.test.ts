import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ExportedEntry } from '../../client/audit.js';
import { runHv, spawnHv, untilLines } from '../helpers/cli.js';
import { actions, allActions, auditSettled, did, historyLength, newSession } from '../helpers/session.js';
import { connectTestTemporal, uniqueTaskQueue, withWorker, type TemporalTestContext } from '../helpers/temporal.js';

let ctx: TemporalTestContext;
beforeAll(async () => {
  ctx = await connectTestTemporal();
});
afterAll(async () => {
  await ctx.close();
});

const parsed = (lines: string[]) => lines.filter(Boolean).map((l) => JSON.parse(l) as ExportedEntry);
const seqs = (entries: ExportedEntry[]) => entries.map((e) => e.seq);
const oneToN = (n: number) => Array.from({ length: n }, (_, i) => i + 1);

describe('hv session watch', () => {
  it('follows decisions and a kill live, resumes by seq, and ends when the session closes', async () => {
    const taskQueue = uniqueTaskQueue('cli-watch');
    await withWorker(ctx, { taskQueue }, async () => {
      const { session } = await newSession(ctx, taskQueue);
      const [alice, mallory] = [did('alice'), did('mallory')];
      const id = session.sessionId;
      const watch = spawnHv(['session', 'watch', id, '--json', '--interval', '100']);
      const human = spawnHv(['session', 'watch', id, '--interval', '100']);
      try {
        await untilLines(watch, (l) => parsed(l).some((e) => e.kind === 'session_created'));
        await session.join({ agentDid: alice, sigmaRaw: 0.9, actions: allActions });
        await session.join({ agentDid: mallory, sigmaRaw: 0.9, actions: allActions });
        await session.activate();
        await session.authorize({ agentDid: mallory, actionId: actions.deploy.actionId });
        await untilLines(watch, (l) => parsed(l).some((e) => e.kind === 'decision'));
        await session.kill({ agentDid: mallory, reason: 'manual', authorizedBy: did('operator') });
        await untilLines(watch, (l) => parsed(l).some((e) => e.kind === 'kill'));
        await untilLines(human, (l) => l.some((line) => line.includes('KILLED')));

        // Reading the store costs the session nothing: a third watcher catches up on the whole chain (while the two
        // others keep polling) and the session's history stays as long as it was.
        await auditSettled(session);
        const before = await historyLength(session);
        const { entries } = (await session.view()).audit;
        const third = spawnHv(['session', 'watch', id, '--json', '--interval', '100']);
        await untilLines(third, (l) => parsed(l).length === entries).finally(() => third.child.kill('SIGINT'));
        expect(await third.exited).toBe(0);
        expect(await historyLength(session)).toBe(before);

        await session.terminate({ reason: 'done' });
        expect(await watch.exited).toBe(0);
        expect(await human.exited).toBe(0);
      } finally {
        watch.child.kill('SIGKILL');
        human.child.kill('SIGKILL');
      }

      const live = parsed(watch.lines);
      expect(seqs(live)).toEqual(oneToN(live.length));
      expect(live.at(-1)?.kind).toBe('session_archived');
      const exported = await runHv(['audit', 'export', id]);
      expect(live).toEqual(parsed(exported.stdout.split('\n')));
      expect(watch.stderr()).toContain(
        `session closed after entry ${live.length}; resume with --from-seq ${live.length + 1}`,
      );

      const decision = live.find((e) => e.kind === 'decision')!;
      const kill = live.find((e) => e.kind === 'kill')!;
      const line = (seq: number) => human.lines.find((l) => l.startsWith(`#${String(seq).padStart(4)} `)) ?? '';
      expect(human.lines.filter(Boolean)).toHaveLength(live.length);
      expect(line(decision.seq)).toMatch(new RegExp(`decision +${mallory} +DENIED deploy: ring_violation`));
      expect(line(kill.seq)).toMatch(new RegExp(`kill +${mallory} +KILLED manual by did:mesh:operator`));

      // Resuming from a seq prints exactly the rest, then ends (the session is closed).
      const from = kill.seq;
      const resumed = await runHv(['session', 'watch', id, '--json', '--from-seq', String(from)]);
      expect(resumed.code, resumed.stderr).toBe(0);
      expect(parsed(resumed.stdout.split('\n'))).toEqual(live.filter((e) => e.seq >= from));
    });
  });

  it('stops cleanly on Ctrl-C and says where to resume', async () => {
    const taskQueue = uniqueTaskQueue('cli-watch-int');
    await withWorker(ctx, { taskQueue }, async () => {
      const { session } = await newSession(ctx, taskQueue);
      const watch = spawnHv(['session', 'watch', session.sessionId, '--interval', '100']);
      try {
        await untilLines(watch, (l) => l.some((line) => line.includes('session_created')));
        watch.child.kill('SIGINT');
        expect(await watch.exited).toBe(0);
        expect(watch.stderr()).toContain('stopped after entry 1; resume with --from-seq 2');
      } finally {
        watch.child.kill('SIGKILL');
        await session.terminate();
      }
    });
  });
});
