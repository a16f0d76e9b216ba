import { Validator } from '@seriousme/openapi-schema-validator';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApi, type TestApi } from '../helpers/api.js';
import { connectTestTemporal, uniqueTaskQueue, type TemporalTestContext } from '../helpers/temporal.js';

let ctx: TemporalTestContext;
let api: TestApi;
beforeAll(async () => {
  ctx = await connectTestTemporal();
  api = await startTestApi(ctx, uniqueTaskQueue('api-openapi'));
});
afterAll(async () => {
  await api?.close();
  await ctx.close();
});

const METHODS = ['get', 'put', 'post', 'delete', 'patch'] as const;

describe('the OpenAPI document', () => {
  it('validates as OpenAPI 3.1 and lists exactly the routes the server serves', async () => {
    const res = await api.call('GET', '/openapi.json');
    expect(res.status).toBe(200);
    const doc = res.body as { openapi: string; paths: Record<string, Record<string, unknown>> };
    expect(doc.openapi).toBe('3.1.0');
    const validator = new Validator();
    const result = await validator.validate(doc);
    expect(result.errors ?? []).toEqual([]);
    expect(result.valid).toBe(true);
    expect(validator.version).toBe('3.1');

    const documented = Object.entries(doc.paths)
      .flatMap(([path, ops]) => METHODS.filter((m) => m in ops).map((m) => `${m.toUpperCase()} ${path}`))
      .sort();
    const served = api.app.apiRoutes.map((r) => `${r.method} ${r.path}`).sort();
    expect(documented).toEqual(served);
    expect(served.length).toBeGreaterThanOrEqual(38);
    for (const must of [
      'POST /sessions',
      'POST /sessions/{sessionId}/authorize',
      'POST /sessions/{sessionId}/kill',
      'GET /sessions/{sessionId}/events',
      'POST /sagas',
      'GET /agents/{did}/ledger',
      'GET /healthz',
    ])
      expect(served).toContain(must);
  });

  it('documents bodies with the workflows’ zod schemas, refusals as problem details, and the bearer scheme', async () => {
    const doc = (await api.call('GET', '/openapi.json')).body;
    const authorize = doc.paths['/sessions/{sessionId}/authorize'].post;
    const body = authorize.requestBody.content['application/json'].schema;
    expect(Object.keys(body.properties).sort()).toEqual(['actionId', 'agentDid', 'cost']);
    expect(body.required).toEqual(['actionId']);
    expect(body.additionalProperties).toBe(false);
    expect(JSON.stringify(authorize.responses['403'])).toContain('ProblemDetails');
    expect(doc.components.securitySchemes.bearer).toMatchObject({ type: 'http', scheme: 'bearer' });
    const kill = doc.paths['/sessions/{sessionId}/kill'].post.requestBody.content['application/json'].schema;
    expect(Object.keys(kill.properties)).toContain('auth');
    expect(doc.paths['/healthz'].get.security).toEqual([]);
  });

  it('serves interactive docs, the dashboard page and health without a credential', async () => {
    const docs = await fetch(`${api.url}/docs`, { redirect: 'follow' });
    expect(docs.status).toBe(200);
    expect(await docs.text()).toMatch(/swagger/i);
    // The dashboard's page is public but holds no data: it calls the authenticated routes with the key typed in.
    const ui = await fetch(`${api.url}/ui`);
    expect(ui.status).toBe(200);
    expect(ui.headers.get('content-type')).toMatch(/^text\/html/);
    const page = await ui.text();
    expect(page).toContain("authorization: 'Bearer '");
    expect(page).toContain('/events');
    expect((await api.call('GET', '/openapi.json')).body.paths['/ui']).toBeUndefined();
    expect((await api.call('GET', '/healthz')).body).toEqual({ ok: true });
    const ready = await api.call('GET', '/readyz');
    expect(ready).toMatchObject({ status: 200, body: { ok: true, postgres: true, temporal: true } });
  });
});
