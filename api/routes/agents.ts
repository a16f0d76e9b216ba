import { z } from 'zod';
import { KillSwitchConfig } from '../../domain/kill-switch.js';
import { readLedger, readStanding } from '../../store/liability.js';
import { actingAs, requireOperator, selfOrOperator } from '../auth.js';
import { problemResponses } from '../problems.js';
import { AgentParams, Json, JsonList, OperatorAuth } from '../schemas.js';
import type { ApiDeps } from '../server.js';
import { caller, type Api } from './index.js';

const KillSwitchCommandBody = z
  .object({
    reason: z.string().trim().min(1).max(512),
    authorizedBy: z.string().optional().describe('filled from the operator credential; if given, it must be that DID'),
    auth: OperatorAuth.optional(),
  })
  .strict();

/** An identity: its kill switch (status; operator trip, unblock, configure) and its liability standing and ledger. */
export function registerAgentRoutes(api: Api, { hv, pool }: ApiDeps): void {
  api.get(
    '/agents/:did/kill-switch',
    {
      schema: {
        tags: ['kill switch'],
        summary: 'blocked or not, the deny rate over the window, the configuration (own DID, or operator)',
        params: AgentParams,
        response: { 200: Json, ...problemResponses },
      },
    },
    (req) => {
      selfOrOperator(caller(req), req.params.did);
      return hv.agent(req.params.did).status();
    },
  );
  for (const action of ['trip', 'unblock'] as const)
    api.post(
      `/agents/:did/kill-switch/${action}`,
      {
        schema: {
          tags: ['operator'],
          summary:
            action === 'trip'
              ? 'operator: block the identity everywhere (kills it in every session it is in)'
              : 'operator: lift the block (the deny-rate window starts empty)',
          params: AgentParams,
          body: KillSwitchCommandBody,
          response: { 200: Json, ...problemResponses },
        },
      },
      (req) => {
        const who = caller(req);
        requireOperator(who);
        const cmd = actingAs(who, req.body, 'authorizedBy');
        return action === 'trip' ? hv.agent(req.params.did).trip(cmd) : hv.agent(req.params.did).unblock(cmd);
      },
    );
  api.put(
    '/agents/:did/kill-switch/config',
    {
      schema: {
        tags: ['operator'],
        summary: 'operator: the identity’s kill-switch configuration',
        params: AgentParams,
        body: KillSwitchConfig.partial().extend({ auth: OperatorAuth.optional() }),
        response: { 200: Json, ...problemResponses },
      },
    },
    (req) => {
      requireOperator(caller(req));
      return hv.agent(req.params.did).configure(req.body);
    },
  );
  registerLiabilityRoutes(api, pool);
}

/** An identity's standing and ledger (store/liability.ts). */
function registerLiabilityRoutes(api: Api, pool: ApiDeps['pool']): void {
  api.get(
    '/agents/:did/standing',
    {
      schema: {
        tags: ['liability'],
        summary: 'σ after slashes, risk, admit/probation/deny (own DID, or operator)',
        params: AgentParams,
        response: { 200: Json, ...problemResponses },
      },
    },
    (req) => {
      selfOrOperator(caller(req), req.params.did);
      return readStanding(pool, req.params.did);
    },
  );
  api.get(
    '/agents/:did/ledger',
    {
      schema: {
        tags: ['liability'],
        summary: 'the liability ledger entries of the identity (own DID, or operator)',
        params: AgentParams,
        response: { 200: JsonList, ...problemResponses },
      },
    },
    (req) => {
      selfOrOperator(caller(req), req.params.did);
      return readLedger(pool, req.params.did);
    },
  );
}
