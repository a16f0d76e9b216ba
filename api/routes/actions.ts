import { z } from 'zod';
import {
  AuthorizeInput,
  ElevationRequest,
  KillAgentInput,
  QuarantineInput,
  ReleaseQuarantineInput,
  RevokeElevationInput,
  VouchInput,
} from '../../domain/session-types.js';
import { actingAs, requireOperator, type Principal } from '../auth.js';
import { problemResponses } from '../problems.js';
import { Json, SessionParams, callerFilled, callerFilledSigned, operatorCommand } from '../schemas.js';
import type { ApiDeps } from '../server.js';
import { caller, type Api } from './index.js';

type SessionOf = ReturnType<ApiDeps['hv']['session']>;

/**
 * Governance on one session. Agent routes act as the caller (authorize, request an elevation, vouch); operator routes
 * (kill, revoke, quarantine, release) take the target from the body, fill `authorizedBy` from the credential and
 * forward the signed command `auth` unchanged.
 */
export function registerActionRoutes(api: Api, { hv }: ApiDeps): void {
  const route = <B extends z.ZodType<object>>(
    path: string,
    meta: { summary: string; operator: boolean },
    body: B,
    call: (session: SessionOf, body: z.output<B>, who: Principal) => Promise<unknown>,
  ) =>
    api.post(
      `/sessions/:sessionId/${path}`,
      {
        schema: {
          tags: [meta.operator ? 'operator' : 'governance'],
          summary: meta.summary,
          params: SessionParams,
          body,
          response: { 200: Json, ...problemResponses },
        },
      },
      async (req) => {
        const who = caller(req);
        if (meta.operator) requireOperator(who);
        return call(hv.session(req.params.sessionId), req.body as z.output<B>, who);
      },
    );

  route(
    'authorize',
    { summary: 'may the caller perform this action now? (ring, rate limit, breach, kill switch)', operator: false },
    callerFilled(AuthorizeInput, 'agentDid'),
    (s, body, who) => s.authorize(actingAs(who, body, 'agentDid')),
  );
  route(
    'elevations',
    {
      summary: 'request an elevation (sudo) for the caller; an operator may request one for any agent',
      operator: false,
    },
    callerFilledSigned(ElevationRequest, 'agentDid'),
    (s, body, who) =>
      s.elevate(
        who.role === 'operator' && body.agentDid
          ? { ...body, agentDid: body.agentDid }
          : actingAs(who, body, 'agentDid'),
      ),
  );
  route(
    'elevations/revoke',
    { summary: 'operator: end an agent’s elevation early', operator: true },
    operatorCommand(RevokeElevationInput),
    (s, body, who) => s.revokeElevation(actingAs(who, body, 'authorizedBy')),
  );
  route(
    'vouch',
    { summary: 'post a bond for another agent: the caller answers for it in this session', operator: false },
    callerFilled(VouchInput, 'voucherDid'),
    (s, body, who) => s.vouch(actingAs(who, body, 'voucherDid')),
  );
  route(
    'kill',
    { summary: 'operator: kill an agent in this session (idempotent by killId)', operator: true },
    operatorCommand(KillAgentInput.extend({ killId: KillAgentInput.shape.killId.optional() })),
    (s, body, who) => s.kill(actingAs(who, body, 'authorizedBy')),
  );
  route(
    'quarantine',
    { summary: 'operator: read-only isolation for a while, then release or kill', operator: true },
    // `forensic` is z.json() in the domain, a recursive schema OpenAPI tooling cannot inline: documented as an object
    // here, and checked with the domain schema (size bound included) by the client call.
    operatorCommand(
      QuarantineInput.extend({
        forensic: z.record(z.string(), z.unknown()).optional().describe('evidence kept in the audit chain (≤ 16 KiB)'),
      }),
    ),
    (s, body, who) => s.quarantine(actingAs(who, body, 'authorizedBy') as Parameters<SessionOf['quarantine']>[0]),
  );
  route(
    'quarantine/release',
    { summary: 'operator: lift a quarantine now', operator: true },
    operatorCommand(ReleaseQuarantineInput),
    (s, body, who) => s.releaseQuarantine(actingAs(who, body, 'authorizedBy')),
  );
}
