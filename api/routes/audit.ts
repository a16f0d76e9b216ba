import { Readable } from 'node:stream';
import { z } from 'zod';
import { exportAuditEntries } from '../../client/audit.js';
import { loadTrustedKeys } from '../../store/audit-crypto.js';
import { problemResponses } from '../problems.js';
import { Json, JsonList, SessionParams } from '../schemas.js';
import type { ApiDeps } from '../server.js';
import { followSessionEvents } from '../events.js';
import type { Api } from './index.js';

const tags = ['audit'];

/** The session's audit trail: the recent tail, verification, a JSON Lines export, and the live event stream. */
export function registerAuditRoutes(api: Api, deps: ApiDeps): void {
  const { hv, pool, config } = deps;
  api.get(
    '/sessions/:sessionId/audit',
    {
      schema: {
        tags,
        summary: 'the most recent audit entries the session holds (a workflow query)',
        params: SessionParams,
        querystring: z.object({ limit: z.coerce.number().int().min(1).max(1000).default(20) }),
        response: { 200: JsonList, ...problemResponses },
      },
    },
    (req) => hv.session(req.params.sessionId).auditTail(req.query.limit),
  );
  api.get(
    '/sessions/:sessionId/audit/verify',
    {
      schema: {
        tags,
        summary: 'recompute the chain from Postgres and check it against every anchor (commitment, checkpoints)',
        params: SessionParams,
        response: { 200: Json, ...problemResponses },
      },
    },
    async (req) =>
      hv.session(req.params.sessionId).verifyAudit({
        pool,
        trustedKeys: await loadTrustedKeys(config.audit.publicKeyFiles),
        checkpointDir: config.audit.checkpointDir,
      }),
  );
  api.get(
    '/sessions/:sessionId/audit/export',
    {
      schema: {
        tags,
        summary: 'every stored entry, in seq order, as JSON Lines (application/x-ndjson), streamed',
        params: SessionParams,
        querystring: z.object({ afterSeq: z.coerce.number().int().min(0).default(0) }),
        produces: ['application/x-ndjson'],
      },
    },
    async (req, reply) => {
      const entries = exportAuditEntries(pool, req.params.sessionId, { afterSeq: req.query.afterSeq });
      async function* lines() {
        for await (const entry of entries) yield `${JSON.stringify(entry)}\n`;
      }
      return reply.type('application/x-ndjson').send(Readable.from(lines()));
    },
  );
  api.get(
    '/sessions/:sessionId/events',
    {
      schema: {
        tags,
        summary:
          'Server-Sent Events: the session’s audit entries as they are persisted (event id = seq; resume with Last-Event-ID)',
        params: SessionParams,
        headers: z.object({ 'last-event-id': z.coerce.number().int().min(0).optional() }),
        querystring: z.object({ fromSeq: z.coerce.number().int().min(1).optional() }),
        produces: ['text/event-stream'],
        response: { ...problemResponses },
      },
    },
    async (req, reply) => {
      const session = hv.session(req.params.sessionId);
      await session.view();
      const afterSeq = req.headers['last-event-id'] ?? (req.query.fromSeq ? req.query.fromSeq - 1 : 0);
      followSessionEvents(reply, { pool, session, afterSeq, pollMs: config.eventsPollMs });
      return reply;
    },
  );
}
