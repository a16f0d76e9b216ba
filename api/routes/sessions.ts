import { z } from 'zod';
import {
  ActivateSessionInput,
  ApproveJoinInput,
  CreateSessionInput,
  JoinSessionInput,
  LeaveSessionInput,
  SessionState,
  TerminateSessionInput,
} from '../../domain/session-types.js';
import { AgentDid } from '../../domain/identifiers.js';
import { actingAs, requireOperator } from '../auth.js';
import { problemResponses } from '../problems.js';
import { Json, SessionParams, callerFilled, callerFilledSigned, operatorCommand } from '../schemas.js';
import type { ApiDeps } from '../server.js';
import { caller, type Api } from './index.js';

const tags = ['sessions'];
const SessionSummary = z.object({ sessionId: z.string(), status: z.string(), startTime: z.string() });

/** Sessions: create, list, show, join, leave, approve, activate, terminate. */
export function registerSessionRoutes(api: Api, { hv }: ApiDeps): void {
  api.post(
    '/sessions',
    {
      schema: {
        tags,
        summary: 'create a session (the caller is its creator); it is in handshaking until activated',
        body: callerFilled(
          CreateSessionInput.extend({ sessionId: CreateSessionInput.shape.sessionId.optional() }),
          'creatorDid',
        ),
        response: { 201: z.object({ sessionId: z.string() }), ...problemResponses },
      },
    },
    async (req, reply) => {
      const session = await hv.createSession(actingAs(caller(req), req.body, 'creatorDid'));
      return reply.code(201).send({ sessionId: session.sessionId });
    },
  );
  api.get(
    '/sessions',
    {
      schema: {
        tags,
        summary: 'sessions, newest first, optionally by state and by agent',
        querystring: z.object({
          state: SessionState.optional(),
          agent: AgentDid.optional(),
          limit: z.coerce.number().int().min(1).max(1000).default(100),
        }),
        response: { 200: z.array(SessionSummary), ...problemResponses },
      },
    },
    async (req) => (await hv.listSessions(req.query)).map((s) => ({ ...s, startTime: s.startTime.toISOString() })),
  );
  api.get(
    '/sessions/:sessionId',
    {
      schema: {
        tags,
        summary: 'the session: state, participants with rings, locks, audit position',
        params: SessionParams,
        response: { 200: Json, ...problemResponses },
      },
    },
    (req) => hv.session(req.params.sessionId).view(),
  );
  registerMembershipRoutes(api, hv);
}

/** Join, leave, approve, activate (as the caller) and terminate (operator). */
function registerMembershipRoutes(api: Api, hv: ApiDeps['hv']): void {
  const agentStep = <S extends z.ZodObject>(
    path: string,
    summary: string,
    schema: S,
    field: string,
    call: (sessionId: string, input: z.output<S>) => Promise<unknown>,
    signed = false,
  ) =>
    api.post(
      `/sessions/:sessionId/${path}`,
      {
        schema: {
          tags,
          summary,
          params: SessionParams,
          body: signed ? callerFilledSigned(schema, field) : callerFilled(schema, field),
          response: { 200: Json, ...problemResponses },
        },
      },
      async (req) => call(req.params.sessionId, actingAs(caller(req), req.body as object, field) as z.output<S>),
    );
  agentStep(
    'join',
    'join the session as the caller (ring from σ, manifest, standing)',
    JoinSessionInput,
    'agentDid',
    (id, input) => hv.session(id).join(input),
  );
  agentStep('leave', 'leave the session (releases the caller’s locks)', LeaveSessionInput, 'agentDid', (id, input) =>
    hv.session(id).leave(input),
  );
  agentStep(
    'approve',
    'approve a pending candidate’s join (consensus), as the caller',
    ApproveJoinInput,
    'approverDid',
    (id, input) => hv.session(id).approveJoin(input),
    true,
  );
  agentStep(
    'activate',
    'activate the session (handshaking → active), authorized by the caller',
    ActivateSessionInput,
    'authorizedBy',
    (id, input) => hv.session(id).activate(input),
  );
  api.post(
    '/sessions/:sessionId/terminate',
    {
      schema: {
        tags: ['operator'],
        summary: 'operator: terminate the session; returns the commitment over its audit chain',
        params: SessionParams,
        body: operatorCommand(TerminateSessionInput),
        response: { 200: Json, ...problemResponses },
      },
    },
    async (req) => {
      const who = caller(req);
      requireOperator(who);
      return hv.session(req.params.sessionId).terminate(actingAs(who, req.body, 'authorizedBy'));
    },
  );
}
