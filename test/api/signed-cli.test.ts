import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeOperatorDirectory } from '../../store/operators.js';
import { testPool } from '../helpers/audit.js';
import { runHv } from '../helpers/cli.js';
import { expectProblem, startFileWorker, startTestApi, type TestApi } from '../helpers/api.js';
import { did } from '../helpers/session.js';
import { connectTestTemporal, uniqueTaskQueue, type TemporalTestContext } from '../helpers/temporal.js';

let ctx: TemporalTestContext;
let api: TestApi;
let worker: { stop(): Promise<void> };
beforeAll(async () => {
  ctx = await connectTestTemporal();
  const taskQueue = uniqueTaskQueue('api-signed');
  worker = await startFileWorker(ctx, taskQueue);
  api = await startTestApi(ctx, taskQueue);
});
afterAll(async () => {
  await api?.close();
  await worker?.stop();
  await ctx.close();
});

describe('an operator signs with hv, the API relays', () => {
  it('kills with a body from `hv keys sign` (the README walk-through), refuses it unsigned or edited', async () => {
    // The operator's own key file, registered (as an admin would) in the registry's mirror.
    const operator = did('cli-operator');
    const file = path.join(await mkdtemp(path.join(tmpdir(), 'hv-key-')), 'operator-key.json');
    const created = await runHv(['keys', 'create', '--did', operator, '--file', file, '--json']);
    expect(created.code, created.stderr).toBe(0);
    const key = JSON.parse(created.stdout) as { kid: string; publicKey: string };
    await writeOperatorDirectory(testPool(), {
      operators: [
        {
          did: operator,
          role: 'operator',
          keys: [{ kid: key.kid, publicKey: key.publicKey, addedAtMs: 0, revokedAtMs: null }],
        },
      ],
    });

    const creator = did('cli-creator');
    const creatorKey = await api.key(creator);
    const id = (await api.call('POST', '/sessions', { key: creatorKey, body: { config: { operators: [operator] } } }))
      .body.sessionId as string;
    const agent = did('cli-agent');
    const agentKey = await api.key(agent);
    expect((await api.call('POST', `/sessions/${id}/join`, { key: agentKey, body: { sigmaRaw: 0.8 } })).status).toBe(
      200,
    );
    const operatorKey = await api.key(operator, 'operator');

    const body = { agentDid: agent, reason: 'manual', details: 'signed with hv' };
    const signed = await runHv(['keys', 'sign', 'requestKill', `session:${id}`, JSON.stringify(body), '--file', file]);
    expect(signed.code, signed.stderr).toBe(0);
    const signedBody = JSON.parse(signed.stdout) as Record<string, unknown>;
    expect(signedBody).toMatchObject({ ...body, authorizedBy: operator, auth: { kid: key.kid } });

    // Unsigned, or signed and then edited (another agent): the session refuses it.
    expectProblem(await api.call('POST', `/sessions/${id}/kill`, { key: operatorKey, body }), 403, 'PermissionDenied');
    const edited = { ...signedBody, agentDid: did('innocent') };
    expectProblem(
      await api.call('POST', `/sessions/${id}/kill`, { key: operatorKey, body: edited }),
      403,
      'PermissionDenied',
    );
    const killed = await api.call('POST', `/sessions/${id}/kill`, { key: operatorKey, body: signedBody });
    expect(killed.status, JSON.stringify(killed.body)).toBe(200);
    expect(killed.body).toMatchObject({ agentDid: agent, applied: true });
    // Replayed: refused.
    expectProblem(
      await api.call('POST', `/sessions/${id}/kill`, { key: operatorKey, body: signedBody }),
      403,
      'PermissionDenied',
    );
  });
});
