import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { SignJWT, exportJWK, generateKeyPair, type CryptoKey } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listApiKeys } from '../../store/api-keys.js';
import { testPool } from '../helpers/audit.js';
import { runHv } from '../helpers/cli.js';
import { allActions, did } from '../helpers/session.js';
import { expectProblem, startFileWorker, startTestApi, type TestApi } from '../helpers/api.js';
import { connectTestTemporal, uniqueTaskQueue, type TemporalTestContext } from '../helpers/temporal.js';

let ctx: TemporalTestContext;
let taskQueue: string;
let worker: { stop(): Promise<void> };
let jwks: http.Server;
let jwksUrl: string;
let signingKey: CryptoKey;
const issuer = 'https://idp.test';
const audience = 'agent-hypervisor';

beforeAll(async () => {
  ctx = await connectTestTemporal();
  taskQueue = uniqueTaskQueue('api-auth');
  worker = await startFileWorker(ctx, taskQueue);
  // A real JWKS endpoint, as an OIDC provider serves one.
  const { publicKey, privateKey } = await generateKeyPair('ES256');
  signingKey = privateKey;
  const jwk = { ...(await exportJWK(publicKey)), kid: 'test-key', alg: 'ES256', use: 'sig' };
  jwks = http.createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: [jwk] }));
  });
  await new Promise<void>((resolve) => jwks.listen(0, '127.0.0.1', resolve));
  jwksUrl = `http://127.0.0.1:${(jwks.address() as AddressInfo).port}/.well-known/jwks.json`;
});
afterAll(async () => {
  await worker?.stop();
  await new Promise((resolve) => jwks?.close(resolve));
  await ctx.close();
});

const jwt = (
  claims: Record<string, unknown>,
  opts: { iss?: string; aud?: string; exp?: string; key?: CryptoKey } = {},
) =>
  new SignJWT(claims)
    .setProtectedHeader({ alg: 'ES256', kid: 'test-key' })
    .setIssuer(opts.iss ?? issuer)
    .setAudience(opts.aud ?? audience)
    .setIssuedAt()
    .setExpirationTime(opts.exp ?? '5m')
    .sign(opts.key ?? signingKey);

const withApi = async <T>(fn: (api: TestApi) => Promise<T>, overrides: Parameters<typeof startTestApi>[2] = {}) => {
  const api = await startTestApi(ctx, taskQueue, overrides);
  try {
    return await fn(api);
  } finally {
    await api.close();
  }
};

describe('API authentication', () => {
  it('accepts JWTs from the configured JWKS, the DID from the configured claim, operators by role claim', () =>
    withApi(
      async (api) => {
        const agent = did('jwt-agent');
        const token = await jwt({ hv_did: agent, sub: 'user-1' });
        const created = await api.call('POST', '/sessions', { key: token, body: {} });
        expect(created.status).toBe(201);
        const id = created.body.sessionId as string;
        expect((await api.call('GET', `/sessions/${id}`, { key: token })).body.creatorDid).toBe(agent);
        const joined = await api.call('POST', `/sessions/${id}/join`, {
          key: token,
          body: { sigmaRaw: 0.9, actions: allActions },
        });
        expect(joined.body).toMatchObject({ agentDid: agent, ring: 2 });

        expectProblem(
          await api.call('POST', `/sessions/${id}/kill`, { key: token, body: { agentDid: agent, reason: 'manual' } }),
          403,
          'Forbidden',
        );
        const jwtOperator = did('jwt-operator');
        const opToken = await jwt({ hv_did: jwtOperator, hv_roles: ['operator'] });
        const killed = await api.call('POST', `/sessions/${id}/kill`, {
          key: opToken,
          body: { agentDid: agent, reason: 'manual' },
          sign: 'requestKill',
          signAs: jwtOperator,
        });
        expect(killed.status, JSON.stringify(killed.body)).toBe(200);

        // Expired, wrong audience, wrong issuer, a foreign signature, no DID claim: all 401.
        const { privateKey: foreign } = await generateKeyPair('ES256');
        for (const bad of [
          await jwt({ hv_did: agent }, { exp: '-1m' }),
          await jwt({ hv_did: agent }, { aud: 'someone-else' }),
          await jwt({ hv_did: agent }, { iss: 'https://evil.test' }),
          await jwt({ hv_did: agent }, { key: foreign }),
          await jwt({ sub: 'user-1' }),
        ])
          expectProblem(await api.call('GET', `/sessions/${id}`, { key: bad }), 401, 'Unauthenticated');
      },
      { jwt: { jwksUrl, issuer, audience, didClaim: 'hv_did', roleClaim: 'hv_roles' } },
    ));

  it('refuses JWTs when no JWKS is configured, and revoked API keys at once', () =>
    withApi(async (api) => {
      expectProblem(
        await api.call('GET', '/sessions', { key: await jwt({ hv_did: did('x') }) }),
        401,
        'Unauthenticated',
      );
      const agent = did('revoked');
      const created = await runHv(['api-keys', 'create', '--did', agent, '--label', 'cli test', '--json']);
      expect(created.code).toBe(0);
      const { key, keyId } = JSON.parse(created.stdout) as { key: string; keyId: string };
      expect(key).toMatch(/^hvk_/);
      expect((await api.call('GET', '/sessions?limit=1', { key })).status).toBe(200);
      // Only the hash is stored.
      const { rows } = await testPool().query<{ key_hash: string }>('SELECT key_hash FROM api_keys WHERE key_id = $1', [
        keyId,
      ]);
      expect(rows[0]!.key_hash).toMatch(/^[0-9a-f]{64}$/);
      expect(JSON.stringify(rows)).not.toContain(key);
      const listed = await runHv(['api-keys', 'list', '--did', agent, '--json']);
      expect(JSON.parse(listed.stdout)).toMatchObject([{ keyId, agentDid: agent, role: 'agent', revokedAtMs: null }]);
      expect(listed.stdout).not.toContain(key);

      expect((await runHv(['api-keys', 'revoke', keyId])).code).toBe(0);
      expectProblem(await api.call('GET', '/sessions?limit=1', { key }), 401, 'Unauthenticated');
      expect((await listApiKeys(testPool(), { agentDid: agent }))[0]!.revokedAtMs).toEqual(expect.any(Number));
      const again = await runHv(['api-keys', 'revoke', keyId]);
      expect(again.code).toBe(3);
      expect((await runHv(['api-keys', 'create', '--did', 'not a did'])).code).toBe(2);
    }));

  it('limits requests per credential at the edge: 429 with Retry-After, other credentials unaffected', () =>
    withApi(
      async (api) => {
        const [one, two] = [await api.key(did('busy')), await api.key(did('calm'))];
        for (let i = 0; i < 3; i++) expect((await api.call('GET', '/sessions?limit=1', { key: one })).status).toBe(200);
        const limited = await api.call('GET', '/sessions?limit=1', { key: one });
        expectProblem(limited, 429, 'EdgeRateLimited');
        expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0);
        expect((await api.call('GET', '/sessions?limit=1', { key: two })).status).toBe(200);
        // Guessing keys is limited per address: after 3 failed authentications, even a good key waits.
        for (let i = 0; i < 3; i++)
          expectProblem(await api.call('GET', '/sessions?limit=1', { key: `hvk_guess-${i}` }), 401, 'Unauthenticated');
        const guessing = await api.call('GET', '/sessions?limit=1', { key: 'hvk_guess-4' });
        expectProblem(guessing, 429, 'EdgeRateLimited');
        expect(Number(guessing.headers.get('retry-after'))).toBeGreaterThan(0);
        expectProblem(await api.call('GET', '/sessions?limit=1', { key: two }), 429, 'EdgeRateLimited');
        // Health and the OpenAPI document are neither authenticated nor limited.
        for (let i = 0; i < 5; i++) expect((await api.call('GET', '/healthz')).status).toBe(200);
        expect((await api.call('GET', '/openapi.json')).status).toBe(200);
      },
      { rateLimit: { max: 3, windowMs: 60_000 } },
    ));

  it('serves an identity’s kill switch, standing and ledger to itself or an operator only', () =>
    withApi(async (api) => {
      const agent = did('ks-agent');
      const other = did('ks-other');
      const [key, otherKey, opKey] = [
        await api.key(agent),
        await api.key(other),
        await api.key(did('ks-op'), 'operator'),
      ];
      const creatorKey = await api.key(did('ks-creator'));
      const id = (await api.call('POST', '/sessions', { key: creatorKey, body: {} })).body.sessionId as string;
      expect(
        (await api.call('POST', `/sessions/${id}/join`, { key, body: { sigmaRaw: 0.9, actions: allActions } })).status,
      ).toBe(200);

      expect((await api.call('GET', `/agents/${agent}/kill-switch`, { key })).body).toMatchObject({ blocked: null });
      expect((await api.call('GET', `/agents/${agent}/standing`, { key })).status).toBe(200);
      expect((await api.call('GET', `/agents/${agent}/ledger`, { key })).body).toEqual(expect.any(Array));
      for (const path of ['kill-switch', 'standing', 'ledger'])
        expectProblem(await api.call('GET', `/agents/${agent}/${path}`, { key: otherKey }), 403, 'PermissionDenied');
      expect((await api.call('GET', `/agents/${agent}/ledger`, { key: opKey })).status).toBe(200);

      // A disabled switch (the default) cannot be tripped: 409 IllegalTransition. An operator enables it first.
      expectProblem(
        await api.call('POST', `/agents/${agent}/kill-switch/trip`, {
          key: opKey,
          body: { reason: 'too early' },
          sign: 'tripKillSwitch',
        }),
        409,
        'IllegalTransition',
      );
      const configured = await api.call('PUT', `/agents/${agent}/kill-switch/config`, {
        key: opKey,
        body: { enabled: true, min_calls: 50 },
        sign: 'configureKillSwitch',
      });
      expect(configured.body.config, JSON.stringify(configured.body)).toMatchObject({ enabled: true, min_calls: 50 });
      expectProblem(
        await api.call('POST', `/agents/${agent}/kill-switch/trip`, { key, body: { reason: 'no' } }),
        403,
        'Forbidden',
      );
      const tripped = await api.call('POST', `/agents/${agent}/kill-switch/trip`, {
        key: opKey,
        body: { reason: 'incident' },
        sign: 'tripKillSwitch',
      });
      expect(tripped.status, JSON.stringify(tripped.body)).toBe(200);
      expect(tripped.body.blocked).toMatchObject({ trigger: 'operator' });
      expectProblem(await api.call('POST', '/sessions', { key, body: {} }), 403, 'KILL_SWITCH_TRIPPED');
      const unblocked = await api.call('POST', `/agents/${agent}/kill-switch/unblock`, {
        key: opKey,
        body: { reason: 'ok' },
        sign: 'unblockKillSwitch',
      });
      expect(unblocked.body.blocked).toBeNull();
      expectProblem(
        await api.call('PUT', `/agents/${agent}/kill-switch/config`, {
          key: opKey,
          body: { window_seconds: true },
          sign: 'configureKillSwitch',
        }),
        400,
        'InvalidInput',
      );
    }));
});
