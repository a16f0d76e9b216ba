import type { ApplicationFailure } from '@temporalio/common';
import { z } from 'zod';
import { ErrorType, hvError } from './errors.js';
import type { InternalAuth, RejectedLog } from './internal-signature.js';
import { AgentDid } from './identifiers.js';
import { MESSAGE_LIMITS } from './limits.js';
import { MAX_NONCES } from './operator-command.js';
import { parseInput } from './validation.js';

/**
 * The deny-rate kill switch for ONE agent identity, ported from cMCP (docs/DESIGN.md §R9). Pure and
 * JSON-serialisable, so a per-identity control workflow can hold it as state and carry it across continue-as-new. Time
 * always comes in as an argument (workflow time); nothing here reads a clock.
 *
 * What counts (written down because cMCP's own tutorial got it wrong): `allow` counts as allowed, `deny` and
 * `advisory_deny` count as denied, and every other decision kind (`fault`, `redact`, `step_up`, `defer`, …) is left
 * out of BOTH the numerator and the denominator.
 */

// ---------------------------------------------------------------------------------------------------------------------
// Configuration.

export const KILL_SWITCH_CONFIG_KEYS = ['enabled', 'window_seconds', 'deny_rate_threshold', 'min_calls'] as const;

const validKeysText = `Valid keys: [${KILL_SWITCH_CONFIG_KEYS.join(', ')}]`;

/**
 * The `kill_switch` configuration block. Strict: an unknown key is rejected with the valid keys listed. Unlike cMCP
 * (whose `isinstance(x, int)` lets `window_seconds: true` load as 1), booleans are never numbers here.
 */
export const KillSwitchConfig = z.strictObject(
  {
    enabled: z.boolean({ error: 'enabled must be a boolean' }).default(false),
    window_seconds: z
      .number({ error: 'window_seconds must be an integer number of seconds' })
      .int('window_seconds must be an integer number of seconds')
      .positive('window_seconds must be greater than 0')
      .default(300),
    deny_rate_threshold: z
      .number({ error: 'deny_rate_threshold must be a number in (0, 1]' })
      .gt(0, 'deny_rate_threshold must be greater than 0')
      .lte(1, 'deny_rate_threshold must be at most 1')
      .default(0.9),
    min_calls: z
      .number({ error: 'min_calls must be an integer' })
      .int('min_calls must be an integer')
      .positive('min_calls must be greater than 0')
      .default(10),
  },
  {
    error: (issue) =>
      issue.code === 'unrecognized_keys'
        ? `Unknown kill_switch key${issue.keys.length === 1 ? '' : 's'} ${issue.keys.map((key) => `'${key}'`).join(', ')}. ${validKeysText}`
        : 'kill_switch must be an object',
  },
);
export type KillSwitchConfig = z.output<typeof KillSwitchConfig>;

/**
 * Parses a `kill_switch` block. `null` and `undefined` mean `{}` (all defaults, which leave the switch disabled), as
 * `kill_switch: null` does in cMCP. Throws `InvalidInput` otherwise, naming the valid keys for an unknown one.
 */
export function parseKillSwitchConfig(input: unknown): KillSwitchConfig {
  return parseInput(KillSwitchConfig, input ?? {}, 'kill_switch config');
}

// ---------------------------------------------------------------------------------------------------------------------
// State.

/** At most this many counted events are kept per identity (oldest dropped first), so an idle identity stays bounded. */
export const MAX_EVENTS = 10_000;

/** The `reason` strings of the `break_glass_used` audit entries, exactly as cMCP writes them. */
export const BREAK_GLASS = {
  triggered: 'kill_switch_triggered',
  unblocked: 'kill_switch_unblocked',
  operatorTrip: 'kill_switch_operator_trip',
} as const;

/** Any decision kind; see {@link decisionClass} for which ones count. */
export type DecisionKind = string;

export interface KillSwitchEvent {
  atMs: number;
  denied: boolean;
}

export interface KillSwitchBlock {
  atMs: number;
  /** {@link BREAK_GLASS.triggered} for a deny-rate trip, the operator's own reason for an operator trip. */
  reason: string;
  trigger: 'deny_rate' | 'operator';
  authorizedBy: string | null;
  sessionId: string | null;
  decisionId: string | null;
}

/** The block as Postgres mirrors it for admission (the tripping decision stays in the workflow). */
export type MirroredKillSwitchBlock = Omit<KillSwitchBlock, 'decisionId'>;

export interface KillSwitchState {
  agentDid: string;
  config: KillSwitchConfig;
  /** Counted decisions, oldest first, `atMs` never decreasing. Not pruned on read: prune happens on record. */
  events: KillSwitchEvent[];
  /** The latched block, or `null`. Only {@link unblock} lifts it; the window never does. */
  blocked: KillSwitchBlock | null;
  /** How many times this identity has been blocked (deny-rate and operator trips alike). */
  trips: number;
}

/** True for identities that are never evaluated or blocked: empty, `anonymous`, or `anon:…`. */
export function isAnonymous(agentDid: string): boolean {
  return agentDid === '' || agentDid === 'anonymous' || agentDid.startsWith('anon:');
}

/** `'allowed'`, `'denied'`, or `null` for a kind that is excluded from both sides of the rate. */
export function decisionClass(kind: DecisionKind): 'allowed' | 'denied' | null {
  if (kind === 'allow') return 'allowed';
  if (kind === 'deny' || kind === 'advisory_deny') return 'denied';
  return null;
}

function assertTime(atMs: unknown, what = 'atMs'): asserts atMs is number {
  if (typeof atMs !== 'number' || !Number.isFinite(atMs)) {
    throw hvError(ErrorType.InvalidInput, `${what} must be a finite number, got ${String(atMs)}`, {});
  }
}

/** A fresh switch for `agentDid`; `config` is re-validated, so a hand-built config cannot bypass the ranges. */
export function newKillSwitch(agentDid: string, config: KillSwitchConfig): KillSwitchState {
  if (typeof agentDid !== 'string') {
    throw hvError(ErrorType.InvalidInput, 'agentDid must be a string', {});
  }
  return { agentDid, config: parseKillSwitchConfig(config), events: [], blocked: null, trips: 0 };
}

/** The events still inside the window ending at `nowMs`: an event exactly at the cutoff stays. */
function inWindow(events: readonly KillSwitchEvent[], config: KillSwitchConfig, nowMs: number): KillSwitchEvent[] {
  const cutoff = nowMs - config.window_seconds * 1000;
  return events.filter((event) => event.atMs >= cutoff);
}

function countDenies(events: readonly KillSwitchEvent[]): number {
  return events.reduce((sum, event) => sum + (event.denied ? 1 : 0), 0);
}

/** `denies / total >= threshold`, with a tolerance so 9/10 at 0.9 trips despite floating point. */
function atOrAboveThreshold(denies: number, total: number, threshold: number): boolean {
  return denies >= threshold * total - 1e-9;
}

export interface RecordDecisionInput {
  kind: DecisionKind;
  atMs: number;
  sessionId?: string;
  decisionId?: string;
}

export interface RecordDecisionResult {
  state: KillSwitchState;
  /** True only at the decision that crosses the threshold: exactly once per block. */
  tripped: boolean;
  /** False for anonymous identities and excluded kinds; then `state` is returned unchanged. */
  counted: boolean;
  /** The window's deny rate after this decision, or `null` when the decision was not counted. */
  rate: number | null;
}

/**
 * Counts one completed decision and evaluates the switch at that decision (v0.6.0 "trip in mid-session"). Events are
 * stored even while the switch is disabled, so the window is already full when it is armed later, and even while
 * blocked, so the window keeps the evidence; but only an enabled, unblocked switch can trip, so a trip is reported once.
 *
 * Workflow time never goes backwards; should `atMs` be older than the newest event anyway, it is taken as that newest
 * time, so the window never moves back and the events stay ordered.
 */
export function recordDecision(state: KillSwitchState, input: RecordDecisionInput): RecordDecisionResult {
  assertTime(input.atMs);
  if (typeof input.kind !== 'string') {
    throw hvError(ErrorType.InvalidInput, 'kind must be a string', {});
  }
  const cls = decisionClass(input.kind);
  if (isAnonymous(state.agentDid) || cls === null) return { state, tripped: false, counted: false, rate: null };

  const newest = state.events[state.events.length - 1];
  const nowMs = newest ? Math.max(input.atMs, newest.atMs) : input.atMs;
  let events = inWindow([...state.events, { atMs: nowMs, denied: cls === 'denied' }], state.config, nowMs);
  if (events.length > MAX_EVENTS) events = events.slice(events.length - MAX_EVENTS);

  const total = events.length;
  const denies = countDenies(events);
  const rate = denies / total;
  const { enabled, min_calls, deny_rate_threshold } = state.config;
  const trips =
    enabled && state.blocked === null && total >= min_calls && atOrAboveThreshold(denies, total, deny_rate_threshold);
  if (!trips) return { state: { ...state, events }, tripped: false, counted: true, rate };

  const blocked: KillSwitchBlock = {
    atMs: nowMs,
    reason: BREAK_GLASS.triggered,
    trigger: 'deny_rate',
    authorizedBy: null,
    sessionId: input.sessionId ?? null,
    decisionId: input.decisionId ?? null,
  };
  return { state: { ...state, events, blocked, trips: state.trips + 1 }, tripped: true, counted: true, rate };
}

/** One decision a session reports to its identity's window, batched with the session's audit flush. */
export interface ReportedDecision {
  /** The session's decision counter: reports are deduplicated by it, so a retried flush never counts twice. */
  n: number;
  kind: DecisionKind;
  /** Workflow time of the decision in its session (not of the report's arrival). */
  atMs: number;
  decisionId: string;
}

/**
 * Counts a session's batch of decisions in order, skipping any already counted (`n` at or below `lastN`). The first
 * decision that crosses the threshold is the tripping one; later ones are still counted as evidence.
 */
export function recordReportedDecisions(
  state: KillSwitchState,
  sessionId: string,
  decisions: readonly ReportedDecision[],
  lastN: number,
): { state: KillSwitchState; lastN: number; tripped: ReportedDecision | null } {
  let current = state;
  let seen = lastN;
  let tripped: ReportedDecision | null = null;
  for (const d of decisions) {
    if (d.n <= seen) continue;
    seen = d.n;
    const out = recordDecision(current, { kind: d.kind, atMs: d.atMs, sessionId, decisionId: d.decisionId });
    current = out.state;
    if (out.tripped) tripped ??= d;
  }
  return { state: current, lastN: seen, tripped };
}

/**
 * A session tripped the identity's switch at one of its own decisions (it keeps a copy of the window, see
 * {@link KillSwitchCopy}): the identity adopts the block unless it is already blocked or the switch is off.
 */
export function adoptSessionTrip(
  state: KillSwitchState,
  trip: { sessionId: string; decisionId: string; atMs: number },
): { state: KillSwitchState; changed: boolean } {
  if (state.blocked !== null || !state.config.enabled || isAnonymous(state.agentDid)) return { state, changed: false };
  const blocked: KillSwitchBlock = {
    atMs: trip.atMs,
    reason: BREAK_GLASS.triggered,
    trigger: 'deny_rate',
    authorizedBy: null,
    sessionId: trip.sessionId,
    decisionId: trip.decisionId,
  };
  return { state: { ...state, blocked, trips: state.trips + 1 }, changed: true };
}

/** A decision of one agent, on its way from a session to its identity's window. */
export type AgentDecision = ReportedDecision & { agentDid: string };

/** A flush's decisions grouped by identity, in order: one report per identity. */
export function decisionsByAgent(
  decisions: readonly AgentDecision[],
): { agentDid: string; decisions: ReportedDecision[] }[] {
  const grouped = new Map<string, ReportedDecision[]>();
  for (const { agentDid, ...d } of decisions) {
    const list = grouped.get(agentDid);
    if (list) list.push(d);
    else grouped.set(agentDid, [d]);
  }
  return [...grouped].map(([agentDid, list]) => ({ agentDid, decisions: list }));
}

/** Events a session's copy of the window starts from (the most recent), so a copy stays small. */
export const COPY_EVENTS = 2_000;

/**
 * What a session keeps of its participant's kill switch so it can trip at the crossing decision without asking: the
 * identity's window as of the last snapshot (at join, or when an operator reconfigures or unblocks it), plus the
 * session's own decisions since. The identity's own evaluation of every session's decisions stays the authority; this
 * copy only makes the crossing session act at once.
 */
export type KillSwitchCopy = KillSwitchState;

/** The identity's window as a session starts its copy from it. */
export function killSwitchCopy(state: KillSwitchState, nowMs: number): KillSwitchCopy {
  const events = inWindow(state.events, state.config, nowMs);
  return { ...state, events: events.slice(Math.max(0, events.length - COPY_EVENTS)) };
}

// ---------------------------------------------------------------------------------------------------------------------
// Operator actions.

const OperatorInput = z.strictObject({
  reason: z
    .string({ error: 'reason is required' })
    .trim()
    .min(1, 'reason must not be empty')
    .max(1000, 'reason must be at most 1000 characters'),
  authorizedBy: z
    .string({ error: 'authorizedBy is required' })
    .trim()
    .min(1, 'authorizedBy must not be empty')
    .max(500, 'authorizedBy must be at most 500 characters'),
  atMs: z.number({ error: 'atMs must be a finite number' }),
});
export type OperatorInput = z.input<typeof OperatorInput>;

/**
 * An operator blocks the identity by hand (`POST /kill-switch/trip`). `reason` and `authorizedBy` are required
 * (`InvalidInput`). Like cMCP v0.6.0, refused with `IllegalTransition` code `NO_AGENT_IDENTITY` for an anonymous
 * identity and `KILL_SWITCH_DISABLED` when the switch is not armed. A trip while already blocked is idempotent where
 * cMCP answers 409: `changed` is false and the first block is kept.
 */
export function operatorTrip(
  state: KillSwitchState,
  input: OperatorInput,
): { state: KillSwitchState; changed: boolean } {
  const { reason, authorizedBy, atMs } = parseInput(OperatorInput, input, 'kill switch trip');
  if (isAnonymous(state.agentDid)) {
    throw hvError(ErrorType.IllegalTransition, 'an anonymous identity cannot be tripped', {
      code: 'NO_AGENT_IDENTITY',
      agentId: state.agentDid,
    });
  }
  if (!state.config.enabled) {
    throw hvError(ErrorType.IllegalTransition, `the kill switch is disabled for agent ${state.agentDid}`, {
      code: 'KILL_SWITCH_DISABLED',
      agentId: state.agentDid,
    });
  }
  if (state.blocked !== null) return { state, changed: false };
  const blocked: KillSwitchBlock = {
    atMs,
    reason,
    trigger: 'operator',
    authorizedBy,
    sessionId: null,
    decisionId: null,
  };
  return { state: { ...state, blocked, trips: state.trips + 1 }, changed: true };
}

/**
 * An operator lifts the block (`POST /kill-switch/unblock`). `reason` and `authorizedBy` are required (`InvalidInput`);
 * `NotFound` code `NOT_BLOCKED` when there is no block. Clears the events too, as cMCP does, so the identity starts
 * again below `min_calls` instead of re-tripping on the evidence that blocked it. Allowed while disabled: a block
 * must always be liftable. The caller writes the `break_glass_used` entry ({@link BREAK_GLASS.unblocked}).
 */
export function unblock(state: KillSwitchState, input: OperatorInput): { state: KillSwitchState; changed: true } {
  parseInput(OperatorInput, input, 'kill switch unblock');
  if (state.blocked === null) {
    throw hvError(ErrorType.NotFound, `agent ${state.agentDid} is not blocked by the kill switch`, {
      code: 'NOT_BLOCKED',
      agentId: state.agentDid,
    });
  }
  return { state: { ...state, blocked: null, events: [] }, changed: true };
}

// ---------------------------------------------------------------------------------------------------------------------
// Reads.

/** Throws `KILL_SWITCH_TRIPPED` (HTTP 403 in cMCP) when the identity is blocked; the window is not consulted. */
/** The refusal a blocked identity gets wherever it tries to act: join, session creation. */
export function killSwitchTripped(
  agentDid: string,
  blocked: Pick<KillSwitchBlock, 'reason' | 'trigger'> & { atMs: number },
): ApplicationFailure {
  return hvError(
    ErrorType.KillSwitchTripped,
    `agent ${agentDid} has tripped the kill switch. Contact the platform operator to unblock.`,
    { agentId: agentDid, blockedAtMs: blocked.atMs, reason: blocked.reason, trigger: blocked.trigger },
  );
}

export function assertNotBlocked(state: KillSwitchState): void {
  if (state.blocked !== null) throw killSwitchTripped(state.agentDid, state.blocked);
}

/** An operator's trip or unblock of an identity's kill switch (the `tripKillSwitch` / `unblockKillSwitch` updates). */
export const KillSwitchCommand = z.strictObject({
  reason: OperatorInput.shape.reason,
  authorizedBy: OperatorInput.shape.authorizedBy,
});
export type KillSwitchCommand = z.input<typeof KillSwitchCommand>;

// ---------------------------------------------------------------------------------------------------------------------
// Messages between sessions and identities: every one is parsed by its receiver (docs/DESIGN.md §12).

/** A DID as an identity workflow knows it: any bounded string (anonymous identities included, see {@link isAnonymous}). */
const IdentityDid = z.string().max(MESSAGE_LIMITS.idChars);
const MessageId = z.string().min(1).max(MESSAGE_LIMITS.idChars);
const Time = z.number().finite();

const KillSwitchBlockSchema = z.strictObject({
  atMs: Time,
  reason: z.string().max(MESSAGE_LIMITS.textChars),
  trigger: z.enum(['deny_rate', 'operator']),
  authorizedBy: z.string().max(MESSAGE_LIMITS.idChars).nullable(),
  sessionId: MessageId.nullable(),
  decisionId: MessageId.nullable(),
});

/** A kill-switch state as it travels (a session's copy, or an identity's state across continue-as-new). */
export const KillSwitchStateSchema = z.strictObject({
  agentDid: IdentityDid,
  config: KillSwitchConfig,
  events: z.array(z.strictObject({ atMs: Time, denied: z.boolean() })).max(MAX_EVENTS),
  blocked: KillSwitchBlockSchema.nullable(),
  trips: z.number().int().min(0),
});

/** An operator's trip or unblock as the identity workflow parses it, once `authorizedBy` is the command's signer. */
export const KillSwitchCommandInput = z.strictObject({
  reason: z.string().trim().min(1, 'reason is required').max(512),
  authorizedBy: AgentDid,
});

/** What an agent workflow tells each session the identity is in when its kill switch trips or is lifted. */
export const KillSwitchNotice = z.strictObject({
  agentDid: IdentityDid,
  /** `configured`: the operator changed the switch's settings; the session refreshes its copy from `copy`. */
  event: z.enum(['tripped', 'unblocked', 'configured']),
  trigger: z.enum(['deny_rate', 'operator']),
  reason: z.string().max(MESSAGE_LIMITS.textChars),
  authorizedBy: z.string().max(MESSAGE_LIMITS.idChars).nullable(),
  trippingSessionId: MessageId.nullable(),
  decisionId: MessageId.nullable(),
  windowSeconds: z.number().int().positive(),
  /** The operator whose signed command (docs/DESIGN.md §13) the identity verified, for the session's audit entry. */
  signedBy: z
    .strictObject({
      did: z.string().max(MESSAGE_LIMITS.idChars),
      kid: z.string().max(MESSAGE_LIMITS.idChars),
      sig: z.string().max(MESSAGE_LIMITS.idChars),
    })
    .optional(),
  /** The identity's window after the change, for the session's copy (see {@link KillSwitchCopy}). */
  copy: KillSwitchStateSchema.extend({
    events: KillSwitchStateSchema.shape.events.max(COPY_EVENTS),
  }).optional(),
});
/**
 * A notice as sent: the identity's notice counter `seq` (a session accepts each identity's notices in increasing
 * order only, a replay guard) and the internal signature `auth` (domain/internal-signature.ts, required since
 * `hv-internal-auth`) ride beside the fields the schema checks; the session verifies and strips them first.
 */
export type KillSwitchNotice = z.output<typeof KillSwitchNotice> & { seq?: number; auth?: InternalAuth };

/** `registerSession`: a session the identity joined (sent by the `admitAgent` activity). */
export const RegisterSessionInput = z.strictObject({ sessionId: MessageId });
export type RegisterSessionInput = z.input<typeof RegisterSessionInput>;

export const ReportedDecisionSchema = z.strictObject({
  n: z.number().int().min(0),
  kind: z.string().max(MESSAGE_LIMITS.kindChars),
  atMs: Time,
  decisionId: MessageId,
});

/** `reportDecisions`: a session's decisions, in a batch with its audit flush (sent by the audit activity). */
export const ReportDecisionsInput = z.strictObject({
  sessionId: MessageId,
  decisions: z.array(ReportedDecisionSchema).max(MESSAGE_LIMITS.decisionsPerReport),
});
export type ReportDecisionsInput = z.input<typeof ReportDecisionsInput>;

/** `reportKillSwitchTrip`: a session's own decision crossed the threshold in its copy of the window. */
export const ReportKillSwitchTripInput = z.strictObject({ sessionId: MessageId, decisionId: MessageId, atMs: Time });
export type ReportKillSwitchTripInput = z.input<typeof ReportKillSwitchTripInput>;

/** `recordDecision`: one decision at a time, as sessions sent them before decisions were batched. */
export const RecordDecisionSignalInput = z.strictObject({
  kind: z.string().max(MESSAGE_LIMITS.kindChars),
  sessionId: MessageId,
  decisionId: MessageId,
});
export type RecordDecisionSignalInput = z.input<typeof RecordDecisionSignalInput>;

/** `configureKillSwitch`: a `kill_switch` block, parsed by {@link parseKillSwitchConfig} (`null` means defaults). */
export const ConfigureKillSwitchInput = z.record(z.string().max(64), z.unknown()).nullable();

export interface KillSwitchView {
  agentDid: string;
  enabled: boolean;
  blocked: KillSwitchBlock | null;
  windowCalls: number;
  windowDenies: number;
  /** `windowDenies / windowCalls`, or `null` for an empty window. */
  rate: number | null;
  config: KillSwitchConfig;
  /** Internal messages the identity's workflow refused (forged, unsigned, from an unregistered session), if any. */
  rejected?: RejectedLog;
}

/** A read-only summary for queries and the CLI: the window as seen at `nowMs` (the state itself is not pruned). */
export function killSwitchView(state: KillSwitchState, nowMs: number): KillSwitchView {
  assertTime(nowMs, 'nowMs');
  const events = inWindow(state.events, state.config, nowMs);
  const windowDenies = countDenies(events);
  return {
    agentDid: state.agentDid,
    enabled: state.config.enabled,
    blocked: state.blocked === null ? null : { ...state.blocked },
    windowCalls: events.length,
    windowDenies,
    rate: events.length === 0 ? null : windowDenies / events.length,
    config: { ...state.config },
  };
}

/** The start arguments of an identity workflow: the identity and its config, or the state continue-as-new carried. */
export const AgentWorkflowInput = z.strictObject({
  agentDid: IdentityDid,
  config: ConfigureKillSwitchInput.optional(),
  carried: z
    .strictObject({
      state: KillSwitchStateSchema,
      sessions: z.array(MessageId).max(MESSAGE_LIMITS.sessionsPerIdentity),
      fed: z
        .record(MessageId, z.number().int().min(0))
        .refine((fed) => Object.keys(fed).length <= MESSAGE_LIMITS.sessionsPerIdentity, 'too many sessions in fed')
        .optional(),
      /** The last notice number given (internal-message replay guard). */
      noticeSeq: z.number().int().min(0).optional(),
      /** Nonces of accepted operator commands, until they expire (operator-command.ts). */
      nonces: z
        .record(z.string().max(MESSAGE_LIMITS.idChars), z.number())
        .refine((nonces) => Object.keys(nonces).length <= MAX_NONCES, 'too many nonces')
        .optional(),
    })
    .optional(),
});
export type AgentWorkflowInput = z.input<typeof AgentWorkflowInput>;
