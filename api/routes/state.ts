import { z } from 'zod';
import { AcquireLockInput, DeleteStateInput, ReadStateInput, WriteStateInput } from '../../domain/session-types.js';
import { AgentDid } from '../../domain/identifiers.js';
import { actingAs } from '../auth.js';
import { problemResponses } from '../problems.js';
import { Json, JsonList, SessionParams, callerFilled } from '../schemas.js';
import type { ApiDeps } from '../server.js';
import { caller, type Api } from './index.js';

const tags = ['shared state'];

/** The session's shared state (a versioned file tree) and its intent locks, always as the caller. */
export function registerStateRoutes(api: Api, { hv }: ApiDeps): void {
  const step = <S extends z.ZodObject>(
    path: string,
    summary: string,
    schema: S,
    call: (sessionId: string, input: Omit<z.output<S>, 'agentDid'> & { agentDid: string }) => Promise<unknown>,
  ) =>
    api.post(
      `/sessions/:sessionId/${path}`,
      {
        schema: {
          tags,
          summary,
          params: SessionParams,
          body: callerFilled(schema, 'agentDid'),
          response: { 200: Json, ...problemResponses },
        },
      },
      async (req) => call(req.params.sessionId, actingAs(caller(req), req.body as object, 'agentDid') as never),
    );
  step('state/write', 'write a file (optimistic: baseVersion must match when given)', WriteStateInput, (id, input) =>
    hv.session(id).write(input),
  );
  step('state/read', 'read a file (recorded in the audit trail)', ReadStateInput, (id, input) =>
    hv.session(id).read(input),
  );
  step('state/delete', 'delete a file', DeleteStateInput, (id, input) => hv.session(id).delete(input));
  api.get(
    '/sessions/:sessionId/state',
    {
      schema: {
        tags,
        summary: 'the files the caller may see, optionally under a prefix',
        params: SessionParams,
        querystring: z.object({ prefix: z.string().optional() }),
        response: { 200: JsonList, ...problemResponses },
      },
    },
    (req) => hv.session(req.params.sessionId).list({ agentDid: caller(req).did, prefix: req.query.prefix }),
  );
  step('locks', 'acquire an intent lock (read, write or exclusive) on a path', AcquireLockInput, (id, input) =>
    hv.session(id).acquireLock(input),
  );
  api.delete(
    '/sessions/:sessionId/locks/:lockId',
    {
      schema: {
        tags,
        summary: 'release one of the caller’s locks',
        params: SessionParams.extend({ lockId: z.string().min(1).max(128) }),
        response: { 200: Json, ...problemResponses },
      },
    },
    (req) => hv.session(req.params.sessionId).releaseLock({ agentDid: caller(req).did, lockId: req.params.lockId }),
  );
  api.get(
    '/sessions/:sessionId/locks',
    {
      schema: {
        tags,
        summary: 'the session’s locks, optionally of one agent or on one path',
        params: SessionParams,
        querystring: z.object({ agentDid: AgentDid.optional(), path: z.string().optional() }),
        response: { 200: JsonList, ...problemResponses },
      },
    },
    (req) => hv.session(req.params.sessionId).locks(req.query),
  );
}
