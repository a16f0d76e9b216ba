import { z } from 'zod';
import { ErrorType } from '../domain/errors.js';

/** Errors the API raises itself, at the edge, before any hypervisor call: no credential, or a limit per credential. */
export const ApiErrorType = {
  Unauthenticated: 'Unauthenticated',
  Forbidden: 'Forbidden',
  RouteNotFound: 'RouteNotFound',
  EdgeRateLimited: 'EdgeRateLimited',
} as const;
export type ApiErrorType = (typeof ApiErrorType)[keyof typeof ApiErrorType];

/**
 * THE mapping from error type to HTTP status (DESIGN §15.3). Typed as a total record, so a new `ErrorType` does not
 * compile until it has a status here. Refusals by policy are 403, conflicts with the current state 409, limits 429.
 */
export const HTTP_STATUS: Record<ErrorType | ApiErrorType, number> = {
  [ErrorType.InvalidInput]: 400,
  [ErrorType.SagaDefinitionInvalid]: 400,
  [ApiErrorType.Unauthenticated]: 401,
  [ApiErrorType.Forbidden]: 403,
  [ErrorType.PermissionDenied]: 403,
  [ErrorType.NotParticipant]: 403,
  [ErrorType.AgentKilled]: 403,
  [ErrorType.AgentQuarantined]: 403,
  [ErrorType.KillSwitchTripped]: 403,
  [ErrorType.TrustTooLow]: 403,
  [ErrorType.ConsensusRequired]: 403,
  [ErrorType.RingViolation]: 403,
  [ErrorType.ElevationDenied]: 403,
  [ErrorType.VouchRejected]: 403,
  [ErrorType.StandingDenied]: 403,
  [ErrorType.SessionNotFound]: 404,
  [ErrorType.NotFound]: 404,
  [ApiErrorType.RouteNotFound]: 404,
  [ErrorType.IllegalTransition]: 409,
  [ErrorType.SessionFull]: 409,
  [ErrorType.AlreadyParticipant]: 409,
  [ErrorType.SessionExists]: 409,
  [ErrorType.LockContention]: 409,
  [ErrorType.Deadlock]: 409,
  [ErrorType.StaleWrite]: 409,
  [ErrorType.ChainBroken]: 409,
  [ErrorType.LimitExceeded]: 422,
  [ErrorType.RateLimited]: 429,
  [ApiErrorType.EdgeRateLimited]: 429,
  [ErrorType.Internal]: 500,
  [ErrorType.AuditUnavailable]: 503,
};

/** An RFC 9457 problem-details body (`application/problem+json`), with the hypervisor's error type as `errorType`. */
export const ProblemDetails = z
  .object({
    type: z.string().describe('a URN naming the error type: urn:agent-hypervisor:error:<errorType>'),
    title: z.string(),
    status: z.number().int(),
    detail: z.string(),
    errorType: z.string().describe("the hypervisor's error type (DESIGN §7) or the API's own (Unauthenticated, …)"),
    details: z.record(z.string(), z.unknown()).optional(),
    instance: z.string().optional(),
  })
  .meta({ id: 'ProblemDetails' });
export type ProblemDetails = z.infer<typeof ProblemDetails>;

export const PROBLEM_CONTENT_TYPE = 'application/problem+json';

export function problem(
  errorType: ErrorType | ApiErrorType,
  detail: string,
  details?: Record<string, unknown>,
  instance?: string,
): ProblemDetails {
  const status = HTTP_STATUS[errorType];
  return {
    type: `urn:agent-hypervisor:error:${errorType}`,
    title: errorType,
    status,
    detail,
    errorType,
    ...(details && Object.keys(details).length > 0 ? { details } : {}),
    ...(instance ? { instance } : {}),
  };
}

/** An error the API throws at the edge; rendered by the error handler like a HypervisorError. */
export class ApiError extends Error {
  override name = 'ApiError';
  constructor(
    readonly errorType: ApiErrorType | ErrorType,
    message: string,
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
  }
}

/** The response schemas every route shares: its refusals. */
export const problemResponses = {
  400: ProblemDetails,
  401: ProblemDetails,
  403: ProblemDetails,
  404: ProblemDetails,
  409: ProblemDetails,
  429: ProblemDetails,
} as const;
