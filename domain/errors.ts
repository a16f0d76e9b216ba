// The deep import, not the package index: the `hv` CLI loads this module at start (see client/errors.ts).
import { ApplicationFailure } from '@temporalio/common/lib/failure.js';

/**
 * The closed set of error types the hypervisor raises (DESIGN §7). Each travels as an `ApplicationFailure` whose
 * `type` is one of these names, so clients, the CLI and retry policies can match on it without parsing messages.
 */
export const ErrorType = {
  InvalidInput: 'InvalidInput',
  SessionNotFound: 'SessionNotFound',
  IllegalTransition: 'IllegalTransition',
  SessionFull: 'SessionFull',
  NotParticipant: 'NotParticipant',
  AlreadyParticipant: 'AlreadyParticipant',
  AgentKilled: 'AgentKilled',
  AgentQuarantined: 'AgentQuarantined',
  KillSwitchTripped: 'KILL_SWITCH_TRIPPED',
  TrustTooLow: 'TrustTooLow',
  ConsensusRequired: 'ConsensusRequired',
  RingViolation: 'RingViolation',
  RateLimited: 'RateLimited',
  ElevationDenied: 'ElevationDenied',
  PermissionDenied: 'PermissionDenied',
  NotFound: 'NotFound',
  LockContention: 'LockContention',
  Deadlock: 'Deadlock',
  StaleWrite: 'StaleWrite',
  LimitExceeded: 'LimitExceeded',
  VouchRejected: 'VouchRejected',
  StandingDenied: 'StandingDenied',
  SagaDefinitionInvalid: 'SagaDefinitionInvalid',
  ChainBroken: 'ChainBroken',
  /** A session id that already has (or had) a workflow: ids are never reused, so chains never mix. */
  SessionExists: 'SessionExists',
  /** The audit store cannot take the session's entries (outage backlog full, or a conflicting chain): fail closed. */
  AuditUnavailable: 'AuditUnavailable',
  /** A bug, not bad input: surfaced as a failed update instead of a stuck workflow task. */
  Internal: 'InternalError',
} as const;
export type ErrorType = (typeof ErrorType)[keyof typeof ErrorType];

const knownTypes = new Set<string>(Object.values(ErrorType));

/** True when `type` names one of the hypervisor's own error types. */
export const isHypervisorErrorType = (type: string | undefined | null): type is ErrorType =>
  type != null && knownTypes.has(type);

/**
 * Builds the non-retryable failure for a business rejection. Business rejections never succeed on retry, and throwing a
 * plain `Error` from a workflow would fail the task and retry it forever instead of failing the update (docs/DESIGN.md §7).
 */
export function hvError(type: ErrorType, message: string, details: Record<string, unknown> = {}): ApplicationFailure {
  return ApplicationFailure.create({ type, message, nonRetryable: true, details: [details] });
}

/** The structured details attached by {@link hvError}, or an empty object for foreign failures. */
export function hvErrorDetails(failure: ApplicationFailure): Record<string, unknown> {
  const first: unknown = failure.details?.[0];
  return typeof first === 'object' && first !== null ? (first as Record<string, unknown>) : {};
}
