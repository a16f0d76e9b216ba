/**
 * Internal messages bound to the receiver's own state (docs/DESIGN.md §3.5): what a session accepts from a saga, and
 * from an identity's notices, given what the session itself knows. Pure; the workflows record each refusal.
 */
import { SAGA_END_KINDS } from './session/sagas.js';
import type { SagaEventKind } from './saga-types.js';

/** A saga the session launched (`startSaga`) or that registered with it (signed): its steps and the agents it may name. */
export interface KnownSaga {
  steps: string[];
  /** The steps' agents, and the substitutes this session handed steps to. */
  agents: string[];
}

/**
 * At most this many sagas, within this many bytes (JSON), are remembered per session, the oldest forgotten first: they
 * are carried through continue-as-new, whose payload has a hard limit. An ended saga is forgotten at once; a running one
 * forgotten this way has its further events refused (recorded as rejected), never its session wedged.
 */
export const MAX_KNOWN_SAGAS = 200;
export const KNOWN_SAGAS_BYTES = 64 * 1024;

/** Forgets the oldest sagas (in place) until the rest fit {@link MAX_KNOWN_SAGAS} and {@link KNOWN_SAGAS_BYTES}. */
function trimKnown(known: Record<string, KnownSaga>): void {
  const ids = Object.keys(known);
  for (const id of ids.slice(0, Math.max(0, ids.length - MAX_KNOWN_SAGAS))) delete known[id];
  let remaining = Object.keys(known);
  while (remaining.length > 1 && JSON.stringify(known).length > KNOWN_SAGAS_BYTES) {
    delete known[remaining[0]!];
    remaining = remaining.slice(1);
  }
}

/** A named value as text for a comparison or a message (a non-string never matches a string id). */
const text = (v: unknown): string => (typeof v === 'string' ? v : (JSON.stringify(v) ?? String(v))).slice(0, 200);

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Remembers a saga (in place), forgetting the oldest beyond {@link MAX_KNOWN_SAGAS}. */
export function rememberSaga(
  known: Record<string, KnownSaga>,
  sagaId: string,
  steps: ReadonlyArray<{ stepId: string; agentDid: string }>,
): void {
  delete known[sagaId];
  known[sagaId] = { steps: steps.map((s) => s.stepId), agents: [...new Set(steps.map((s) => s.agentDid))] };
  trimKnown(known);
}

/** A substitute this session handed one of the saga's steps to may appear in its later events. */
export function allowSagaAgent(known: Record<string, KnownSaga>, sagaId: string, agentDid: string): void {
  const saga = known[sagaId];
  if (saga && !saga.agents.includes(agentDid)) {
    saga.agents.push(agentDid);
    trimKnown(known);
  }
}

/**
 * Why a saga event is refused, or null: it must come from a saga this session knows, name only that saga's steps, and
 * name as agent, root cause, previous executor or Shapley share only that saga's agents.
 */
export function sagaEventProblem(known: Readonly<Record<string, KnownSaga>>, raw: unknown): string | null {
  if (!isRecord(raw) || typeof raw.sagaId !== 'string') return 'not a saga event';
  const saga = Object.hasOwn(known, raw.sagaId) ? known[raw.sagaId] : undefined;
  if (!saga) return `saga ${raw.sagaId.slice(0, 200)} was neither launched nor registered by this session`;
  if (raw.stepId !== undefined && !(typeof raw.stepId === 'string' && saga.steps.includes(raw.stepId)))
    return `step ${text(raw.stepId)} is not a step of saga ${raw.sagaId}`;
  const details = isRecord(raw.details) ? raw.details : {};
  const named = [
    raw.agentDid,
    details.rootCause,
    details.from,
    ...(isRecord(details.shares) ? Object.keys(details.shares) : []),
  ];
  for (const agent of named)
    if (agent !== undefined && agent !== null && !(typeof agent === 'string' && saga.agents.includes(agent)))
      return `agent ${text(agent)} is not an agent of saga ${raw.sagaId}`;
  return null;
}

/** After an event is recorded: a saga that has ended is forgotten, so nothing more is accepted in its name. */
export function afterSagaEvent(known: Record<string, KnownSaga>, sagaId: string, kind: SagaEventKind): void {
  if (SAGA_END_KINDS.includes(kind)) delete known[sagaId];
}

/**
 * Why an identity's notice is refused, or null: it must carry the identity's notice number, above the last one this
 * session accepted from that identity (a notice copied out of a history and sent again is refused).
 */
export function noticeOrderProblem(lastSeq: Readonly<Record<string, number>>, raw: unknown): string | null {
  if (!isRecord(raw) || typeof raw.agentDid !== 'string') return 'not a kill switch notice';
  if (typeof raw.seq !== 'number' || !Number.isSafeInteger(raw.seq) || raw.seq < 1) return 'the notice has no number';
  const last = Object.hasOwn(lastSeq, raw.agentDid) ? lastSeq[raw.agentDid]! : 0;
  return raw.seq > last ? null : `notice ${raw.seq} of ${raw.agentDid.slice(0, 200)} is not newer than ${last}`;
}
