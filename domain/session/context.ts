import type { z } from 'zod';
import type { Json } from '../audit-chain.js';
import { ErrorType, hvError } from '../errors.js';
import type { SessionData, SessionEvent, SessionState } from '../session-types.js';

/** The parsed (defaults applied) form of a message schema: what every reducer receives. */
export type Parsed<S extends z.ZodType> = z.output<S>;

/** Deterministic inputs every operation needs: workflow time and a workflow-seeded id source. */
export interface OpContext {
  nowMs: number;
  newId: () => string;
}

/** What every session reducer returns: the next state, the caller's answer, and the audit events to record. */
export interface OpResult<R> {
  data: SessionData;
  result: R;
  events: SessionEvent[];
}

/** A state change without an answer for the caller (expiries, releases inside a bigger operation). */
export interface Change {
  data: SessionData;
  events: SessionEvent[];
}

/** Who the hypervisor itself acts as when it enforces a policy (breach kills, timeouts). */
export const HYPERVISOR_ACTOR = 'hypervisor';

/** An audit event of the session. */
export const event = (kind: string, agentDid: string | null, payload: Record<string, unknown>): SessionEvent => ({
  kind,
  agentDid,
  payload: payload as Json,
});

/** Refuses an operation the session's lifecycle state does not allow. */
export function assertState(data: SessionData, allowed: SessionState[], operation: string): void {
  if (!allowed.includes(data.state)) {
    throw hvError(
      ErrorType.IllegalTransition,
      `${operation} is not allowed while the session is ${data.state} (allowed in: ${allowed.join(', ')})`,
      { state: data.state, allowed, operation },
    );
  }
}

/** The states in which a session takes governance changes (joins, writes, locks, elevations…). */
export const OPEN_STATES: SessionState[] = ['handshaking', 'active'];

/** The creator and the configured operators may act for the session (approve joins, elevate, quarantine…). */
export const isOperator = (data: SessionData, did: string): boolean =>
  did === data.creatorDid || data.config.operators.includes(did);

/** The session's operators, for the authority rule of signed control commands (domain/operators.ts). */
export const sessionOperators = (data: SessionData): string[] => [data.creatorDid, ...data.config.operators];
