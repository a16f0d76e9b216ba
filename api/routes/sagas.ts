import { z } from 'zod';
import { parseSagaDefinition } from '../../domain/saga-dsl.js';
import { SagaRunOptions, StartSagaInput } from '../../domain/saga-types.js';
import { guard } from '../../client/errors.js';
import { validateSaga } from '../../client/saga.js';
import { requireOperator, type Principal } from '../auth.js';
import { ApiError, ApiErrorType, problemResponses } from '../problems.js';
import { Json, SagaParams } from '../schemas.js';
import type { ApiDeps } from '../server.js';
import { caller, type Api } from './index.js';

const tags = ['sagas'];

/** An agent starts only sagas whose every step it runs itself; an operator starts any. */
function mayStart(who: Principal, definition: unknown): void {
  if (who.role === 'operator') return;
  const others = guard(() => parseSagaDefinition(definition))
    .steps.map((step) => step.agent)
    .filter((agent) => agent !== who.did);
  if (others.length > 0)
    throw new ApiError(ApiErrorType.Forbidden, 'an agent credential starts only sagas whose steps it runs itself', {
      caller: who.did,
      otherAgents: [...new Set(others)],
    });
}

/** Sagas: validate a definition, start, show, cancel, resume (client/saga.ts). */
export function registerSagaRoutes(api: Api, { hv }: ApiDeps): void {
  api.post(
    '/sagas/validate',
    {
      schema: {
        tags,
        summary: 'every problem of a saga definition, with its path (empty: valid)',
        body: z.object({ definition: z.unknown() }),
        response: { 200: z.object({ valid: z.boolean(), issues: z.array(Json) }), ...problemResponses },
      },
    },
    (req) => {
      const issues = validateSaga(req.body.definition);
      return { valid: issues.length === 0, issues };
    },
  );
  api.post(
    '/sagas',
    {
      schema: {
        tags,
        summary: 'start a saga from a definition (its session authorizes every step)',
        body: StartSagaInput.extend({ options: SagaRunOptions.unwrap().partial().optional() }),
        response: { 201: z.object({ sagaId: z.string() }), ...problemResponses },
      },
    },
    async (req, reply) => {
      mayStart(caller(req), req.body.definition);
      const handle = await hv.startSaga(req.body.definition, { sagaId: req.body.sagaId, options: req.body.options });
      return reply.code(201).send({ sagaId: handle.sagaId });
    },
  );
  api.get(
    '/sagas/:sagaId',
    {
      schema: {
        tags,
        summary: 'the saga’s progress: steps, states, errors',
        params: SagaParams,
        response: { 200: Json, ...problemResponses },
      },
    },
    (req) => hv.saga(req.params.sagaId).progress(),
  );
  api.post(
    '/sagas/:sagaId/cancel',
    {
      schema: {
        tags: ['operator'],
        summary: 'operator: cancel the saga (committed steps are compensated)',
        params: SagaParams,
        response: { 202: z.object({ sagaId: z.string(), cancelRequested: z.boolean() }), ...problemResponses },
      },
    },
    async (req, reply) => {
      requireOperator(caller(req));
      await hv.saga(req.params.sagaId).progress();
      await hv.saga(req.params.sagaId).cancel();
      return reply.code(202).send({ sagaId: req.params.sagaId, cancelRequested: true });
    },
  );
  api.post(
    '/sagas/:sagaId/resume',
    {
      schema: {
        tags: ['operator'],
        summary: 'operator: run a finished saga again; achieved checkpoints are skipped',
        params: SagaParams,
        response: { 201: z.object({ sagaId: z.string() }), ...problemResponses },
      },
    },
    async (req, reply) => {
      requireOperator(caller(req));
      const handle = await hv.resumeSaga(req.params.sagaId);
      return reply.code(201).send({ sagaId: handle.sagaId });
    },
  );
}
