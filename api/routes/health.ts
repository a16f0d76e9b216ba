import { z } from 'zod';
import { databaseReachable } from '../../store/db.js';
import type { ApiDeps } from '../server.js';
import type { Api } from './index.js';

const Health = z.object({ ok: z.boolean(), postgres: z.boolean().optional(), temporal: z.boolean().optional() });

/** `/healthz` (the process answers) and `/readyz` (Postgres and Temporal answer): public, never rate limited. */
export function registerHealthRoutes(api: Api, { hv, pool }: ApiDeps): void {
  const config = { public: true };
  api.get(
    '/healthz',
    { config, schema: { tags: ['health'], summary: 'the server answers', security: [], response: { 200: Health } } },
    () => ({ ok: true }),
  );
  api.get(
    '/readyz',
    {
      config,
      schema: {
        tags: ['health'],
        summary: 'Postgres and Temporal answer',
        security: [],
        response: { 200: Health, 503: Health },
      },
    },
    async (_req, reply) => {
      const [postgres, temporal] = await Promise.all([
        databaseReachable(pool),
        hv.temporal.workflowService.getSystemInfo({}).then(
          () => true,
          () => false,
        ),
      ]);
      const ok = postgres && temporal;
      return reply.code(ok ? 200 : 503).send({ ok, postgres, temporal });
    },
  );
}
