import type { IncomingMessage, ServerResponse } from 'node:http';
import type { FastifyBaseLogger, FastifyInstance, FastifyRequest, RawServerDefault } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import type { Principal } from '../auth.js';
import { ApiError, ApiErrorType } from '../problems.js';
import type { ApiDeps } from '../server.js';
import { registerActionRoutes } from './actions.js';
import { registerAgentRoutes } from './agents.js';
import { registerAuditRoutes } from './audit.js';
import { registerHealthRoutes } from './health.js';
import { registerSagaRoutes } from './sagas.js';
import { registerSessionRoutes } from './sessions.js';
import { registerStateRoutes } from './state.js';
import { registerUiRoute } from '../ui.js';

export type Api = FastifyInstance<
  RawServerDefault,
  IncomingMessage,
  ServerResponse,
  FastifyBaseLogger,
  ZodTypeProvider
>;

/** The caller, as the onRequest hook authenticated it (every non-public route has one). */
export function caller(req: FastifyRequest): Principal {
  if (!req.principal) throw new ApiError(ApiErrorType.Unauthenticated, 'a credential is required');
  return req.principal;
}

export async function registerRoutes(scope: FastifyInstance, deps: ApiDeps): Promise<void> {
  const api = scope.withTypeProvider<ZodTypeProvider>();
  registerHealthRoutes(api, deps);
  registerSessionRoutes(api, deps);
  registerActionRoutes(api, deps);
  registerStateRoutes(api, deps);
  registerSagaRoutes(api, deps);
  registerAgentRoutes(api, deps);
  registerAuditRoutes(api, deps);
  registerUiRoute(api, deps.config.temporalUi);
  await Promise.resolve();
}
