import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import rateLimit from '@fastify/rate-limit';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import {
  hasZodFastifySchemaValidationErrors,
  jsonSchemaTransform,
  jsonSchemaTransformObject,
  serializerCompiler,
  validatorCompiler,
} from 'fastify-type-provider-zod';
import { ErrorType } from '../domain/errors.js';
import { HypervisorError } from '../client/errors.js';
import type { HypervisorClient } from '../client/hypervisor-client.js';
import type { Pool } from '../store/db.js';
import { createAuthenticator, type Principal } from './auth.js';
import type { ApiConfig } from './config.js';
import { ApiError, ApiErrorType, PROBLEM_CONTENT_TYPE, problem, type ProblemDetails } from './problems.js';
import { registerRoutes } from './routes/index.js';

declare module 'fastify' {
  interface FastifyInstance {
    /** Every route the API serves (method and OpenAPI-style path), documentation routes excepted. */
    /** Every documented route as served (OpenAPI path syntax), and whether it needs no credential. */
    apiRoutes: Array<{ method: string; path: string; public: boolean }>;
  }
  interface FastifyRequest {
    principal?: Principal;
  }
  interface FastifyContextConfig {
    /** Reachable without a credential: health, the OpenAPI document and the docs. */
    public?: boolean;
  }
}

export interface ApiDeps {
  hv: HypervisorClient;
  pool: Pool;
  config: ApiConfig;
  logger?: boolean;
}

export const DOCS_PREFIX = '/docs';

const isPublic = (req: FastifyRequest): boolean =>
  req.routeOptions.config?.public === true || (req.routeOptions.url ?? '').startsWith(DOCS_PREFIX);

/**
 * Failed authentications per client address, in fixed windows of the edge limit: the per-credential limit cannot
 * apply to a request without a valid credential, so guessing keys is limited here (429 with Retry-After).
 */
function failedAuthLimiter(limit: ApiConfig['rateLimit']) {
  const windows = new Map<string, { count: number; resetAtMs: number }>();
  let sweptAtMs = 0;
  return {
    check(ip: string, reply: FastifyReply): void {
      const w = windows.get(ip);
      if (!w || w.resetAtMs <= Date.now() || w.count < limit.max) return;
      const retryAfterMs = w.resetAtMs - Date.now();
      void reply.header('retry-after', String(Math.ceil(retryAfterMs / 1000)));
      throw new ApiError(
        ApiErrorType.EdgeRateLimited,
        `more than ${limit.max} failed authentications from this address; retry after ${retryAfterMs} ms`,
        { limit: limit.max, retryAfterMs },
      );
    },
    record(ip: string): void {
      const now = Date.now();
      const w = windows.get(ip);
      if (!w || w.resetAtMs <= now) {
        // Expired windows are dropped once per window length, so the map holds only addresses that failed lately.
        if (now - sweptAtMs >= limit.windowMs) {
          sweptAtMs = now;
          for (const [key, old] of windows) if (old.resetAtMs <= now) windows.delete(key);
        }
        windows.set(ip, { count: 1, resetAtMs: now + limit.windowMs });
      } else w.count += 1;
    },
  };
}

/** Any thrown value as a problem-details body (one table: problems.ts HTTP_STATUS). */
export function toProblem(err: unknown, instance?: string): ProblemDetails {
  if (hasZodFastifySchemaValidationErrors(err)) {
    const issues = err.validation.map((v) => ({ path: v.instancePath, message: v.message }));
    const detail = `invalid ${err.validationContext ?? 'request'}: ${issues.map((i) => `${i.path || '(root)'} ${i.message}`).join('; ')}`;
    return problem(ErrorType.InvalidInput, detail, { issues }, instance);
  }
  if (err instanceof HypervisorError) return problem(err.type, err.message, err.details, instance);
  if (err instanceof ApiError) return problem(err.errorType, err.message, err.details, instance);
  const status = (err as { statusCode?: unknown }).statusCode;
  // Fastify's own 4xx (malformed JSON, wrong content type, body too large): the caller's input.
  if (typeof status === 'number' && status >= 400 && status < 500)
    return { ...problem(ErrorType.InvalidInput, (err as Error).message, {}, instance), status };
  return problem(ErrorType.Internal, 'internal error', {}, instance);
}

/** The OpenAPI 3.1 document generated from the routes' zod schemas, and Swagger UI at /docs. */
async function registerOpenApi(app: FastifyInstance): Promise<void> {
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Agent Hypervisor API',
        version: '0.1.0',
        description:
          'Sessions, authorization, elevation, shared state and locks, sagas, kills, the kill switch, liability and ' +
          'the audit trail, over HTTP. Authenticate with `Authorization: Bearer <API key or JWT>`.',
      },
      components: {
        securitySchemes: {
          bearer: {
            type: 'http',
            scheme: 'bearer',
            description: 'an API key (hvk_…) or a JWT from the configured issuer',
          },
        },
      },
      security: [{ bearer: [] }],
    },
    transform: jsonSchemaTransform,
    transformObject: jsonSchemaTransformObject,
  });
  await app.register(swaggerUi, { routePrefix: DOCS_PREFIX });
}

/**
 * The agent-facing HTTP API (DESIGN §15): routes over {@link HypervisorClient}, every body parsed with the zod schema
 * the workflows use, an OpenAPI 3.1 document at /openapi.json and docs at /docs. Every route needs a credential except
 * health, the document and the docs; requests are limited per credential before they reach the session's own buckets.
 */
export async function buildApiServer(deps: ApiDeps): Promise<FastifyInstance> {
  const app = Fastify({ logger: deps.logger ?? false });
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  const authenticate = createAuthenticator(deps.pool, deps.config);
  const apiRoutes: Array<{ method: string; path: string; public: boolean }> = [];
  app.decorate('apiRoutes', apiRoutes);
  app.addHook('onRoute', (route) => {
    const hidden = route.schema?.hide === true;
    if (hidden || route.url.startsWith(DOCS_PREFIX)) return;
    for (const method of [route.method].flat())
      if (method !== 'HEAD')
        apiRoutes.push({
          method,
          path: route.url.replace(/:(\w+)/g, '{$1}'),
          public: route.config?.public === true,
        });
  });

  app.setErrorHandler((err, req, reply) => {
    const body = toProblem(err, req.url);
    if (body.status >= 500) req.log.error(err);
    return reply.code(body.status).type(PROBLEM_CONTENT_TYPE).send(body);
  });
  app.setNotFoundHandler((req, reply) =>
    reply
      .code(404)
      .type(PROBLEM_CONTENT_TYPE)
      .send(problem(ApiErrorType.RouteNotFound, `no route ${req.method} ${req.url.split('?')[0]}`)),
  );
  const failures = failedAuthLimiter(deps.config.rateLimit);
  app.addHook('onRequest', async (req, reply) => {
    if (isPublic(req) || !req.routeOptions.url) return;
    failures.check(req.ip, reply);
    try {
      req.principal = await authenticate(req.headers.authorization);
    } catch (err) {
      failures.record(req.ip);
      throw err;
    }
  });

  await app.register(rateLimit, {
    global: true,
    // After authentication: one bucket per credential, not per address (agents behind one NAT do not share).
    hook: 'preHandler',
    max: deps.config.rateLimit.max,
    timeWindow: deps.config.rateLimit.windowMs,
    keyGenerator: (req) => req.principal?.credentialId ?? `ip:${req.ip}`,
    allowList: (req) => isPublic(req),
    errorResponseBuilder: (_req, context) =>
      Object.assign(
        new ApiError(
          ApiErrorType.EdgeRateLimited,
          `more than ${context.max} requests in ${context.after} from this credential; retry after ${context.ttl} ms`,
          { limit: context.max, retryAfterMs: context.ttl },
        ),
        { statusCode: 429 },
      ),
  });

  await registerOpenApi(app);

  app.get('/openapi.json', { schema: { hide: true }, config: { public: true } }, () => app.swagger());
  await app.register((scope) => registerRoutes(scope, deps));
  await app.ready();
  return app;
}
