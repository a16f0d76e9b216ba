import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectProblem, startTestApi, type TestApi } from '../helpers/api.js';
import { did } from '../helpers/session.js';
import { connectTestTemporal, uniqueTaskQueue, type TemporalTestContext } from '../helpers/temporal.js';

/*
 * Checks over the server's own route table (`app.apiRoutes`, what the OpenAPI document is compared with), so a route
 * added later is covered without editing this file: every route but the public ones refuses a request without a
 * credential or with a made-up one, and every route that takes a JSON body refuses one with an unknown field as
 * InvalidInput before it reaches a workflow.
 */

let ctx: TemporalTestContext;
let api: TestApi;
let agentKey: string;
beforeAll(async () => {
  ctx = await connectTestTemporal();
  api = await startTestApi(ctx, uniqueTaskQueue('api-inventory'));
  agentKey = await api.key(did('inventory-agent'));
});
afterAll(async () => {
  await api?.close();
  await ctx.close();
});

/** A concrete path for a route: every `{param}` filled with a well-formed id that names nothing. */
const concrete = (path: string): string => path.replace(/\{(\w+)\}/g, (_, name: string) => `no-such-${name}`);

describe('every route of the API', () => {
  it('needs a credential, except the public ones: 401 with problem details without one or with a made-up key', async () => {
    const routes = api.app.apiRoutes;
    const guarded = routes.filter((r) => !r.public);
    expect(guarded.length).toBeGreaterThanOrEqual(35);
    expect(routes.filter((r) => r.public).map((r) => `${r.method} ${r.path}`)).toEqual(
      expect.arrayContaining(['GET /healthz', 'GET /readyz']),
    );
    for (const route of guarded) {
      const path = concrete(route.path);
      const body = route.method === 'GET' || route.method === 'DELETE' ? undefined : {};
      const none = await api.call(route.method, path, { body });
      expect({ route: `${route.method} ${route.path}`, status: none.status }).toEqual({
        route: `${route.method} ${route.path}`,
        status: 401,
      });
      expectProblem(none, 401, 'Unauthenticated');
      const forged = await api.call(route.method, path, { body, headers: { authorization: 'Bearer hvk_made-up' } });
      expect({ route: `${route.method} ${route.path}`, status: forged.status }).toEqual({
        route: `${route.method} ${route.path}`,
        status: 401,
      });
    }
    for (const route of routes.filter((r) => r.public && r.method === 'GET'))
      expect((await api.call('GET', concrete(route.path))).status, route.path).toBeLessThan(400);
  });

  it('refuses a body with an unknown field as InvalidInput (400) on every route that takes one', async () => {
    const doc = (await api.call('GET', '/openapi.json')).body as {
      paths: Record<string, Record<string, { requestBody?: unknown }>>;
    };
    const withBody = Object.entries(doc.paths).flatMap(([path, ops]) =>
      Object.entries(ops)
        .filter(([, op]) => op.requestBody !== undefined)
        .map(([method]) => ({ method: method.toUpperCase(), path })),
    );
    expect(withBody.length).toBeGreaterThanOrEqual(20);
    for (const route of withBody) {
      const res = await api.call(route.method, concrete(route.path), {
        key: agentKey,
        body: { 'not-a-field': 1 },
      });
      expect({ route: `${route.method} ${route.path}`, status: res.status }).toEqual({
        route: `${route.method} ${route.path}`,
        status: 400,
      });
      expect(res.body.errorType).toMatch(/^(InvalidInput|SagaDefinitionInvalid)$/);
    }
  });
});
