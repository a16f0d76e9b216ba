import type { AddressInfo } from 'node:net';
import { Worker } from '@temporalio/worker';
import type { FastifyInstance } from 'fastify';
import { expect, inject } from 'vitest';
import { HypervisorClient } from '../../client/hypervisor-client.js';
import { SIGNABLE_COMMANDS, signBody, type SignableCommand } from '../../client/signed-bodies.js';
import { agentWorkflowId, sessionWorkflowId } from '../../workflows/messages.js';
import type { ApiConfig } from '../../api/config.js';
import { buildApiServer } from '../../api/server.js';
import { createApiKey, type ApiKeyRole } from '../../store/api-keys.js';
import { testActivities, testPool } from './audit.js';
import type { TemporalTestContext } from './temporal.js';
import { testKeyring } from './operators.js';

export interface TestApi {
  url: string;
  app: FastifyInstance;
  /** A fresh API key acting as `did`. */
  key(did: string, role?: ApiKeyRole): Promise<string>;
  /** fetch against the API with a bearer credential (or none) and a JSON body. */
  call(
    method: string,
    path: string,
    opts?: {
      key?: string;
      body?: unknown;
      headers?: Record<string, string>;
      sign?: SignableCommand;
      signAs?: string;
    },
  ): Promise<ApiResponse>;
  close(): Promise<void>;
}

/** The target workflow of an API path: `/sessions/<id>/…` or `/agents/<did>/…`. */
function targetOf(path: string): string {
  const [, area, id] = path.split('/');
  if (area === 'sessions') return sessionWorkflowId(decodeURIComponent(id!));
  if (area === 'agents') return agentWorkflowId(decodeURIComponent(id!));
  throw new Error(`no signed commands on ${path}`);
}

/** `body` as `did` signs it for `cmd` on the path's workflow, as an operator's tool (`hv keys sign`) would. */
async function signedBody(cmd: SignableCommand, path: string, did: string, body: unknown): Promise<object> {
  const signer = await testKeyring.signerFor(did);
  if (!signer) throw new Error(`no test key for ${did}`);
  return signBody(signer, cmd, targetOf(path), { ...(body as Record<string, unknown>), ...actorOf(cmd, did) });
}
const actorOf = (cmd: SignableCommand, did: string) => {
  const { actor } = SIGNABLE_COMMANDS[cmd];
  return actor ? { [actor]: did } : {};
};

export interface ApiResponse {
  status: number;
  headers: Headers;
  body: any;
}

export const testApiConfig = (taskQueue: string, overrides: Partial<ApiConfig> = {}): ApiConfig => ({
  taskQueue,
  rateLimit: { max: 10_000, windowMs: 60_000 },
  eventsPollMs: 50,
  audit: { publicKeyFiles: [], checkpointDir: null },
  ...overrides,
});

/** The real API server on a free loopback port, over the test Temporal server and database. */
export async function startTestApi(
  ctx: TemporalTestContext,
  taskQueue: string,
  overrides: Partial<ApiConfig> = {},
): Promise<TestApi> {
  const hv = HypervisorClient.fromClient(ctx.client, taskQueue);
  const app = await buildApiServer({ hv, pool: testPool(), config: testApiConfig(taskQueue, overrides) });
  await app.listen({ port: 0, host: '127.0.0.1' });
  const url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
  const keyDids = new Map<string, string>();
  return {
    url,
    app,
    async key(did, role = 'agent') {
      const { key } = await createApiKey(testPool(), { agentDid: did, role, label: 'test' });
      keyDids.set(key, did);
      return key;
    },
    async call(method, path, opts = {}) {
      if (opts.sign) {
        const did = opts.signAs ?? (opts.key && keyDids.get(opts.key));
        if (!did) throw new Error('a signed call needs a key made by api.key()');
        opts = { ...opts, body: await signedBody(opts.sign, path, did, opts.body ?? {}) };
      }
      const res = await fetch(`${url}${path}`, {
        method,
        headers: {
          ...(opts.key ? { authorization: `Bearer ${opts.key}` } : {}),
          ...(opts.body !== undefined ? { 'content-type': 'application/json' } : {}),
          ...opts.headers,
        },
        body: opts.body !== undefined ? JSON.stringify(opts.body) : undefined,
      });
      const text = await res.text();
      let body: unknown = text;
      try {
        body = text ? JSON.parse(text) : null;
      } catch {
        // not JSON (an NDJSON export, an event stream): the text itself
      }
      return { status: res.status, headers: res.headers, body };
    },
    close: () => app.close(),
  };
}

/** A worker for a whole test file: started in `beforeAll`, stopped in `afterAll`. */
export async function startFileWorker(
  ctx: TemporalTestContext,
  taskQueue: string,
  overrides: Parameters<typeof testActivities>[0] = {},
): Promise<{ stop(): Promise<void> }> {
  const worker = await Worker.create({
    connection: ctx.nativeConnection,
    workflowBundle: { codePath: inject('workflowBundlePath') },
    activities: testActivities({ taskQueue, ...overrides }),
    taskQueue,
  });
  const running = worker.run();
  return {
    async stop() {
      worker.shutdown();
      await running;
    },
  };
}

/** A problem-details response of `status` and hypervisor error type `errorType`. */
export function expectProblem(res: ApiResponse, status: number, errorType: string): void {
  expect({ status: res.status, errorType: res.body?.errorType }).toEqual({ status, errorType });
  expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
  expect(res.body.type).toBe(`urn:agent-hypervisor:error:${errorType}`);
}
