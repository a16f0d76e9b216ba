import { createServer, type AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SagaDefinitionInput } from '../../domain/saga-dsl.js';
import type { SagaView } from '../../domain/saga-types.js';
import type { Decision, SessionView } from '../../domain/session-types.js';
import { testActivities } from '../helpers/audit.js';
import { hvEnv, runHv } from '../helpers/cli.js';
import { actions, allActions, did, newSession } from '../helpers/session.js';
import { StepService } from '../helpers/step-service.js';
import { connectTestTemporal, uniqueTaskQueue, withWorker, type TemporalTestContext } from '../helpers/temporal.js';

let ctx: TemporalTestContext;
beforeAll(async () => {
  ctx = await connectTestTemporal();
});
afterAll(async () => {
  await ctx.close();
});

// eslint-disable-next-line no-control-regex
const ANSI = /\u001b\[\d+m/;

describe('hv output for people and for scripts', () => {
  it('prints sessions, decisions and errors readably, and the exact objects with --json', async () => {
    const taskQueue = uniqueTaskQueue('cli-output');
    await withWorker(ctx, { taskQueue }, async () => {
      const { session } = await newSession(ctx, taskQueue);
      const [alice, bob] = [did('alice'), did('bob')];
      await session.join({ agentDid: alice, sigmaRaw: 0.9, actions: allActions });
      await session.join({ agentDid: bob, sigmaRaw: 0.3, actions: allActions });
      await session.activate();
      const id = session.sessionId;

      const show = await runHv(['session', 'show', id]);
      expect(show.code, show.stderr).toBe(0);
      expect(show.stdout).not.toMatch(ANSI);
      expect(show.stdout).not.toContain('{');
      const lines = show.stdout.split('\n');
      expect(lines[0]).toBe(`session ${id}  active`);
      expect(lines).toContainEqual(expect.stringMatching(/^AGENT +RING +STATE +σ +EFF +ACTIONS +NOTE$/));
      expect(lines).toContainEqual(expect.stringMatching(new RegExp(`^${alice} +2 +active +0\\.90 +0\\.90 +4`)));
      expect(lines).toContainEqual(expect.stringMatching(new RegExp(`^${bob} +3 +active +0\\.30 +0\\.30 +4`)));
      expect(lines.length).toBeLessThan(20);

      for (const flag of [['--json'], ['-o', 'json']]) {
        const json = await runHv(['session', 'show', id, ...flag]);
        expect(json.code, json.stderr).toBe(0);
        const view = JSON.parse(json.stdout) as SessionView;
        const live = await session.view();
        expect(view).toEqual({ ...live, historyLength: view.historyLength });
      }

      const denied = await runHv(['authorize', id, '--agent', bob, '--action', actions.deploy.actionId]);
      expect(denied.code).toBe(4);
      expect(denied.stdout).toBe(`DENIED ${bob} → deploy: ring_violation (ring 3, needs 1)\n`);
      const allowed = await runHv(['authorize', id, '--agent', alice, '--action', actions.edit.actionId]);
      expect(allowed.code, allowed.stderr).toBe(0);
      expect(allowed.stdout).toBe(`ALLOWED ${alice} → edit-doc (ring 2, needs 2)\n`);
      const deniedJson = await runHv(['authorize', id, '--agent', bob, '--action', 'deploy', '--json']);
      expect(deniedJson.code).toBe(4);
      expect(JSON.parse(deniedJson.stdout) as Decision).toEqual({
        allowed: false,
        reason: 'ring_violation',
        requiredRing: 1,
        effectiveRing: 3,
        retryAfterMs: 0,
        breach: null,
      });

      // Colour only when asked for (stdout is a pipe here); NO_COLOR wins over FORCE_COLOR.
      const forced = await runHv(['authorize', id, '--agent', bob, '--action', 'deploy'], hvEnv({ FORCE_COLOR: '1' }));
      expect(forced.stdout).toMatch(ANSI);
      const both = await runHv(
        ['authorize', id, '--agent', bob, '--action', 'deploy'],
        hvEnv({ FORCE_COLOR: '1', NO_COLOR: '1' }),
      );
      expect(both.stdout).not.toMatch(ANSI);
    });
  });

  it('prints a typed error as one line with what to do, and its exit code', async () => {
    const missing = await runHv(['session', 'show', 'no-such-session']);
    expect(missing.code).toBe(3);
    expect(missing.stdout).toBe('');
    expect(missing.stderr.trim().split('\n')).toEqual([
      'error [SessionNotFound]: session no-such-session not found (or already closed) — check the id with ' +
        '`hv session list`; a closed session answers only `hv audit …`',
    ]);
    const json = await runHv(['session', 'show', 'no-such-session', '--json']);
    expect(json.code).toBe(3);
    expect(JSON.parse(json.stdout)).toMatchObject({ error: { type: 'SessionNotFound' } });
    const bad = await runHv(['session', 'join', 'x', '--agent', 'did:mesh:a', '--sigma', 'high']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('error [InvalidInput]: --sigma must be a number, got "high" — check the arguments');
  });

  it('gives up on an unreachable Temporal server at its connect deadline, with a hint', async () => {
    // A port nothing listens on: the SDK retries until its deadline, which `hv` takes from
    // HV_TEMPORAL_CONNECT_TIMEOUT_MS (3 s by default).
    const closed = await new Promise<number>((resolve) => {
      const server = createServer().listen(0, '127.0.0.1', () => {
        const { port } = server.address() as AddressInfo;
        server.close(() => resolve(port));
      });
    });
    const env = hvEnv({ TEMPORAL_ADDRESS: `127.0.0.1:${closed}`, HV_TEMPORAL_CONNECT_TIMEOUT_MS: '1000' });
    const started = Date.now();
    const down = await runHv(['session', 'show', 'any-session'], env);
    const elapsedMs = Date.now() - started;
    expect(down.code).toBe(1);
    expect(down.stderr).toMatch(
      /^error: .*connect before the deadline.* — is the Temporal server up\? \(TEMPORAL_ADDRESS\)$/m,
    );
    // The configured deadline applies, not the SDK's 10 s (the CLI's own start is well under a second).
    expect(elapsedMs).toBeGreaterThanOrEqual(1_000);
    expect(elapsedMs).toBeLessThan(8_000);
  });

  it("prints a saga's steps as a table, and the full view with --json", async () => {
    const taskQueue = uniqueTaskQueue('cli-saga');
    const service = await StepService.start();
    service.on('/b/do', () => ({ status: 500, body: 'down' }));
    try {
      await withWorker(ctx, { taskQueue, activities: testActivities({ stepBaseUrl: service.url }) }, async () => {
        const { session, hv } = await newSession(ctx, taskQueue);
        const agent = did('worker');
        const manifest = ['act-a', 'act-b'].map((actionId) => ({
          actionId,
          name: actionId,
          reversibility: 'full' as const,
          undoApi: '/undo',
        }));
        await session.join({ agentDid: agent, sigmaRaw: 0.9, actions: manifest });
        await session.activate();
        const steps = ['a', 'b'].map((s) => ({
          id: s,
          action_id: `act-${s}`,
          agent,
          execute_api: `/${s}/do`,
          undo_api: `/${s}/undo`,
        }));
        const definition = { name: 'cli-saga', session_id: session.sessionId, steps } as SagaDefinitionInput;
        const handle = await hv.startSaga(definition, { options: { retryInitialIntervalMs: 50 } });
        const final = await handle.result();

        const human = await runHv(['saga', 'show', handle.sagaId]);
        expect(human.code, human.stderr).toBe(0);
        const lines = human.stdout.split('\n');
        expect(lines[0]).toBe(`saga ${handle.sagaId} (cli-saga)  ${final.status}`);
        expect(lines).toContainEqual(expect.stringMatching(/^STEP +ACTION +AGENT +STATE +ATTEMPTS +ERROR$/));
        for (const s of final.steps)
          expect(lines).toContainEqual(
            expect.stringMatching(new RegExp(`^${s.stepId} +${s.actionId} +${s.agentDid} +${s.state} +${s.attempts}`)),
          );
        const json = await runHv(['saga', 'show', handle.sagaId, '--json']);
        expect(JSON.parse(json.stdout) as SagaView).toEqual(final);
      });
    } finally {
      await service.close();
    }
  });
});
