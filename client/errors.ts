// Deep imports, not the packages' index: the CLI loads this module at start, and the client package's index (gRPC,
// protobufs) costs about a second there. The classes are the very ones the indexes re-export. Even
// `@temporalio/client/lib/errors.js` loads gRPC, so its WorkflowUpdateFailedError is recognised by name (the SDK's
// errors are matched by name across copies anyway: SymbolBasedInstanceOfError).
import { WorkflowNotFoundError } from '@temporalio/common/lib/errors.js';
import { ApplicationFailure, WorkflowExecutionAlreadyStartedError } from '@temporalio/common/lib/failure.js';
import { ErrorType, hvErrorDetails, isHypervisorErrorType } from '../domain/errors.js';

/**
 * The one error type the client throws for hypervisor rejections: `type` is a member of the closed `ErrorType` set
 * (DESIGN §7), `message` says why, `details` carries the structured facts (agent, ring, limits…).
 */
export class HypervisorError extends Error {
  override name = 'HypervisorError';
  constructor(
    readonly type: ErrorType,
    message: string,
    readonly details: Record<string, unknown> = {},
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** Maps Temporal client failures to {@link HypervisorError}; anything else (network, auth) is rethrown unchanged. */
export function toHypervisorError(err: unknown, context: { sessionId?: string } = {}): unknown {
  if (err instanceof HypervisorError) return err;
  const failure =
    err instanceof Error && err.name === 'WorkflowUpdateFailedError'
      ? err.cause
      : err instanceof ApplicationFailure
        ? err
        : undefined;
  if (failure instanceof ApplicationFailure && isHypervisorErrorType(failure.type)) {
    return new HypervisorError(failure.type, failure.message, hvErrorDetails(failure), { cause: err });
  }
  if (failure instanceof ApplicationFailure) {
    return new HypervisorError(ErrorType.Internal, failure.message, {}, { cause: err });
  }
  if (err instanceof WorkflowExecutionAlreadyStartedError) {
    return new HypervisorError(
      ErrorType.SessionExists,
      `session ${context.sessionId ?? err.workflowId} already exists (session ids are never reused)`,
      { sessionId: context.sessionId },
      { cause: err },
    );
  }
  if (err instanceof WorkflowNotFoundError || isNotFound(err)) {
    return new HypervisorError(
      ErrorType.SessionNotFound,
      context.sessionId ? `session ${context.sessionId} not found (or already closed)` : 'workflow not found',
      { sessionId: context.sessionId },
      { cause: err },
    );
  }
  return err;
}

function isNotFound(err: unknown): boolean {
  // Updates and queries to a closed or missing workflow surface as gRPC NOT_FOUND (code 5) service errors.
  const code =
    (err as { code?: unknown; cause?: { code?: unknown } })?.cause?.code ?? (err as { code?: unknown })?.code;
  return code === 5 || (err instanceof Error && /workflow (execution )?not found|already completed/i.test(err.message));
}

/** Runs a client-side check (schema parsing, validation) and turns its failure into a {@link HypervisorError}. */
export function guard<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    throw toHypervisorError(err);
  }
}

/** Exit codes of the `hv` CLI, by error type: scripts can tell bad input from a policy refusal from a conflict. */
export function exitCodeFor(type: ErrorType): number {
  switch (type) {
    case ErrorType.InvalidInput:
    case ErrorType.SagaDefinitionInvalid:
      return 2;
    case ErrorType.SessionNotFound:
    case ErrorType.NotFound:
    case ErrorType.NotParticipant:
      return 3;
    case ErrorType.StaleWrite:
    case ErrorType.LockContention:
    case ErrorType.Deadlock:
    case ErrorType.ChainBroken:
    case ErrorType.SessionExists:
      return 5;
    case ErrorType.Internal:
    case ErrorType.AuditUnavailable:
      return 1;
    default:
      return 4;
  }
}
