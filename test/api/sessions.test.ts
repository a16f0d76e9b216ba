import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { actions, allActions, did, eventually } from '../helpers/session.js';
import { expectProblem, startFileWorker, startTestApi, type TestApi } from '../helpers/api.js';
import { connectTestTemporal, uniqueTaskQueue, type TemporalTestContext } from '../helpers/temporal.js';

let ctx: TemporalTestContext;
let api: TestApi;
let worker: { stop(): Promise<void> };
let operatorKey: string;
const operator = did('operator');

beforeAll(async () => {
  ctx = await connectTestTemporal();
  const taskQueue = uniqueTaskQueue('api-sessions');
  worker = await startFileWorker(ctx, taskQueue);
  api = await startTestApi(ctx, taskQueue);
  operatorKey = await api.key(operator, 'operator');
});
afterAll(async () => {
  await api?.close();
  await worker?.stop();
  await ctx.close();
});

/** A created and activated session with `names` joined at σ 0.9 with every action, each with its own key. */
async function activeSession(names: string[]) {
  const creator = did('creator');
  const creatorKey = await api.key(creator);
  const created = await api.call('POST', '/sessions', { key: creatorKey, body: {} });
  expect(created.status).toBe(201);
  const id = created.body.sessionId as string;
  const agents: Record<string, { did: string; key: string }> = {};
  for (const name of names) {
    const agentDid = did(name);
    const key = await api.key(agentDid);
    agents[name] = { did: agentDid, key };
    const joined = await api.call('POST', `/sessions/${id}/join`, {
      key,
      body: { sigmaRaw: 0.9, actions: allActions },
    });
    expect(joined).toMatchObject({ status: 200, body: { agentDid, ring: 2 } });
  }
  expect((await api.call('POST', `/sessions/${id}/activate`, { key: creatorKey, body: {} })).status).toBe(200);
  return { id, creator, creatorKey, agents };
}

describe('sessions over HTTP', () => {
  it('creates, shows, lists, approves, joins, activates, leaves and terminates, acting as the credential’s DID', async () => {
    const creator = did('creator');
    const creatorKey = await api.key(creator);
    const created = await api.call('POST', '/sessions', { key: creatorKey, body: { config: { maxParticipants: 5 } } });
    expect(created.status).toBe(201);
    const id = created.body.sessionId as string;
    const shown = await api.call('GET', `/sessions/${id}`, { key: creatorKey });
    expect(shown.body).toMatchObject({ sessionId: id, creatorDid: creator, state: 'handshaking' });

    // The creator approves the first ring-1 candidate, who then joins at ring 1.
    const lead = did('lead');
    const leadKey = await api.key(lead);
    const approved = await api.call('POST', `/sessions/${id}/approve`, {
      key: creatorKey,
      body: { candidateDid: lead },
      // Approving as the creator (a session operator) is an operator command: the creator signs it.
      sign: 'approveJoin',
    });
    expect(approved.status).toBe(200);
    const joined = await api.call('POST', `/sessions/${id}/join`, { key: leadKey, body: { sigmaRaw: 0.97 } });
    expect(joined.body).toMatchObject({ agentDid: lead, ring: 1 });
    expect((await api.call('POST', `/sessions/${id}/activate`, { key: creatorKey, body: {} })).status).toBe(200);
    expect((await api.call('GET', `/sessions/${id}`, { key: leadKey })).body.state).toBe('active');

    const listed = await eventually(
      () => api.call('GET', `/sessions?agent=${encodeURIComponent(lead)}`, { key: leadKey }),
      (r) => r.status === 200 && (r.body as Array<{ sessionId: string }>).some((s) => s.sessionId === id),
    );
    expect(listed.body[0]).toMatchObject({ sessionId: id, status: 'RUNNING' });

    const left = await api.call('POST', `/sessions/${id}/leave`, { key: leadKey, body: {} });
    expect(left.status).toBe(200);
    const view = (await api.call('GET', `/sessions/${id}`, { key: creatorKey })).body;
    expect(view.participants.find((p: { agentDid: string }) => p.agentDid === lead).status).toBe('left');

    // Terminating is an operator's command: an agent credential is refused, the operator's is not.
    expectProblem(await api.call('POST', `/sessions/${id}/terminate`, { key: creatorKey, body: {} }), 403, 'Forbidden');
    const terminated = await api.call('POST', `/sessions/${id}/terminate`, {
      key: operatorKey,
      body: { reason: 'done' },
      sign: 'terminateSession',
    });
    expect(terminated.status).toBe(200);
    expect(terminated.body).toMatchObject({ sessionId: id, root: expect.any(String) });
  });

  it('authorizes, elevates, revokes, vouches, quarantines, releases and kills', async () => {
    const { id, agents, creator } = await activeSession(['alice', 'bob']);
    const { alice, bob } = agents as Record<'alice' | 'bob', { did: string; key: string }>;
    const authorize = (key: string, actionId: string) =>
      api.call('POST', `/sessions/${id}/authorize`, { key, body: { actionId } });
    expect((await authorize(alice.key, actions.read.actionId)).body).toMatchObject({ allowed: true });
    // A denied action is an answer, not an error: 200 with allowed false and the reason.
    const denied = await authorize(alice.key, actions.deploy.actionId);
    expect(denied).toMatchObject({ status: 200, body: { allowed: false, reason: 'ring_violation', requiredRing: 1 } });

    const noApproval = await api.call('POST', `/sessions/${id}/elevations`, {
      key: alice.key,
      body: { targetRing: 1, reason: 'deploy the fix' },
    });
    expectProblem(noApproval, 403, 'ElevationDenied');
    const elevated = await api.call('POST', `/sessions/${id}/elevations`, {
      key: alice.key,
      // The approval is the creator's signed command; alice relays it with her own credential.
      body: { agentDid: alice.did, targetRing: 1, reason: 'deploy the fix', approvedBy: creator },
      sign: 'requestElevation',
      signAs: creator,
    });
    expect(elevated.body).toMatchObject({ agentDid: alice.did, toRing: 1 });
    expect((await authorize(alice.key, actions.deploy.actionId)).body.allowed).toBe(true);
    expectProblem(
      await api.call('POST', `/sessions/${id}/elevations/revoke`, { key: alice.key, body: { agentDid: alice.did } }),
      403,
      'Forbidden',
    );
    const revoked = await api.call('POST', `/sessions/${id}/elevations/revoke`, {
      key: operatorKey,
      body: { agentDid: alice.did, reason: 'incident over' },
      sign: 'requestRevocation',
    });
    expect(revoked.status).toBe(200);
    expect((await authorize(alice.key, actions.deploy.actionId)).body.allowed).toBe(false);

    const vouched = await api.call('POST', `/sessions/${id}/vouch`, { key: alice.key, body: { voucheeDid: bob.did } });
    expect(vouched.body).toMatchObject({ voucherDid: alice.did, voucheeDid: bob.did });

    const quarantined = await api.call('POST', `/sessions/${id}/quarantine`, {
      key: operatorKey,
      body: { agentDid: bob.did, reason: 'behavioral_drift' },
      sign: 'quarantineAgent',
    });
    expect(quarantined.body).toMatchObject({ agentDid: bob.did, authorizedBy: operator });
    const released = await api.call('POST', `/sessions/${id}/quarantine/release`, {
      key: operatorKey,
      body: { agentDid: bob.did },
      sign: 'releaseQuarantine',
    });
    expect(released.status).toBe(200);

    expectProblem(
      await api.call('POST', `/sessions/${id}/kill`, { key: alice.key, body: { agentDid: bob.did, reason: 'manual' } }),
      403,
      'Forbidden',
    );
    const killed = await api.call('POST', `/sessions/${id}/kill`, {
      key: operatorKey,
      body: { agentDid: bob.did, reason: 'manual', details: 'over HTTP' },
      sign: 'requestKill',
    });
    expect(killed.status).toBe(200);
    const view = (await api.call('GET', `/sessions/${id}`, { key: alice.key })).body;
    expect(view.participants.find((p: { agentDid: string }) => p.agentDid === bob.did).status).toBe('killed');
    expect((await authorize(bob.key, actions.read.actionId)).body).toMatchObject({ allowed: false });
  });

  it('writes, reads, lists and deletes shared state, and takes and releases locks, as the caller', async () => {
    const { id, agents } = await activeSession(['writer', 'other']);
    const { writer, other } = agents as Record<'writer' | 'other', { did: string; key: string }>;
    const written = await api.call('POST', `/sessions/${id}/state/write`, {
      key: writer.key,
      body: { path: '/plan.md', content: 'step 1' },
    });
    expect(written.body).toMatchObject({ path: '/plan.md', version: 1 });
    const read = await api.call('POST', `/sessions/${id}/state/read`, { key: other.key, body: { path: '/plan.md' } });
    expect(read.body).toMatchObject({ content: 'step 1' });
    const listed = await api.call('GET', `/sessions/${id}/state?prefix=/`, { key: other.key });
    expect(listed.body.map((f: { path: string }) => f.path)).toEqual(['/plan.md']);

    const lock = await api.call('POST', `/sessions/${id}/locks`, {
      key: writer.key,
      body: { path: '/plan.md', intent: 'write' },
    });
    expect(lock.body).toMatchObject({ agentDid: writer.did, path: '/plan.md', status: 'granted' });
    const contended = await api.call('POST', `/sessions/${id}/locks`, {
      key: other.key,
      body: { path: '/plan.md', intent: 'write' },
    });
    // A conflicting request waits in the queue behind the writer (it is granted when the writer releases).
    expect(contended.body).toMatchObject({ agentDid: other.did, status: 'queued' });
    const locks = await api.call('GET', `/sessions/${id}/locks?agentDid=${encodeURIComponent(writer.did)}`, {
      key: other.key,
    });
    expect(locks.body.map((l: { lockId: string }) => l.lockId)).toEqual([lock.body.lockId]);
    // Another agent cannot release the writer's lock: the API releases as the caller.
    const notMine = await api.call('DELETE', `/sessions/${id}/locks/${lock.body.lockId}`, { key: other.key });
    expectProblem(notMine, 403, 'PermissionDenied');
    expect((await api.call('DELETE', `/sessions/${id}/locks/${lock.body.lockId}`, { key: writer.key })).status).toBe(
      200,
    );
    const deleted = await api.call('POST', `/sessions/${id}/state/delete`, {
      key: writer.key,
      body: { path: '/plan.md' },
    });
    expect(deleted.status).toBe(200);
    expect((await api.call('GET', `/sessions/${id}/state`, { key: writer.key })).body).toEqual([]);
  });

  it('refuses: no credential 401, another DID in the body 403, bad input 400, unknown session 404', async () => {
    const { id, agents } = await activeSession(['mallory', 'victim']);
    const { mallory, victim } = agents as Record<'mallory' | 'victim', { did: string; key: string }>;
    const routes: Array<[string, string]> = [
      ['POST', '/sessions'],
      ['GET', '/sessions'],
      ['GET', `/sessions/${id}`],
      ['POST', `/sessions/${id}/authorize`],
      ['GET', `/agents/${mallory.did}/ledger`],
      ['GET', `/sessions/${id}/events`],
    ];
    for (const [method, path] of routes) {
      expectProblem(await api.call(method, path, { body: method === 'POST' ? {} : undefined }), 401, 'Unauthenticated');
      expectProblem(await api.call(method, path, { key: 'hvk_not-a-key' }), 401, 'Unauthenticated');
    }
    expectProblem(await api.call('GET', '/sessions', { key: 'a.b.c' }), 401, 'Unauthenticated');

    // The acting DID comes from the credential: naming another agent's DID in the body is refused, whatever the route.
    const impersonations: Array<[string, Record<string, unknown>]> = [
      ['authorize', { agentDid: victim.did, actionId: actions.read.actionId }],
      ['leave', { agentDid: victim.did }],
      ['state/write', { agentDid: victim.did, path: '/x', content: 'y' }],
      ['vouch', { voucherDid: victim.did, voucheeDid: mallory.did }],
      ['elevations', { agentDid: victim.did, targetRing: 1, reason: 'r' }],
      ['approve', { approverDid: victim.did, candidateDid: mallory.did }],
    ];
    for (const [path, body] of impersonations)
      expectProblem(
        await api.call('POST', `/sessions/${id}/${path}`, { key: mallory.key, body }),
        403,
        'PermissionDenied',
      );
    expectProblem(
      await api.call('POST', '/sessions', { key: mallory.key, body: { creatorDid: victim.did } }),
      403,
      'PermissionDenied',
    );
    // …and so is an operator's command naming another authorizer.
    expectProblem(
      await api.call('POST', `/sessions/${id}/kill`, {
        key: operatorKey,
        body: { agentDid: victim.did, reason: 'manual', authorizedBy: victim.did },
      }),
      403,
      'PermissionDenied',
    );
    // The operator's signed command (`auth`) passes the API's own validation and reaches the hypervisor unchanged,
    // which judges it: a bogus one is never accepted (and the API's body check is not what refused it).
    const signed = await api.call('POST', `/sessions/${id}/kill`, {
      key: operatorKey,
      body: { agentDid: victim.did, reason: 'manual', auth: { kid: 'k', iat: 1, exp: 2, nonce: 'n', sig: 'bogus' } },
    });
    expect(signed.status).toBeGreaterThanOrEqual(400);
    expect(signed.body.detail).not.toMatch(/^invalid body/);
    const view = (await api.call('GET', `/sessions/${id}`, { key: victim.key })).body;
    expect(view.participants.find((p: { agentDid: string }) => p.agentDid === victim.did).status).toBe('active');

    const bad = await api.call('POST', `/sessions/${id}/authorize`, {
      key: mallory.key,
      body: { actionId: 'x', cost: -1 },
    });
    expectProblem(bad, 400, 'InvalidInput');
    expect(bad.body.detail).toMatch(/cost/);
    expectProblem(
      await api.call('POST', `/sessions/${id}/authorize`, { key: mallory.key, body: { actionId: 'x', extra: 1 } }),
      400,
      'InvalidInput',
    );
    expectProblem(await api.call('GET', '/sessions/..%2F..', { key: mallory.key }), 400, 'InvalidInput');
    const malformed = await fetch(`${api.url}/sessions/${id}/authorize`, {
      method: 'POST',
      headers: { authorization: `Bearer ${mallory.key}`, 'content-type': 'application/json' },
      body: '{not json',
    });
    expect(malformed.status).toBe(400);
    expect(((await malformed.json()) as { errorType: string }).errorType).toBe('InvalidInput');
    expectProblem(await api.call('GET', '/sessions/no-such-session', { key: mallory.key }), 404, 'SessionNotFound');
    expectProblem(await api.call('GET', '/nowhere', { key: mallory.key }), 404, 'RouteNotFound');
  });
});
