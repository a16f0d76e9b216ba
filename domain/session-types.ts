import { z } from 'zod';
import { ActionManifest } from './actions.js';
import { KILL_REASONS, QUARANTINE_ON_TIMEOUT, QUARANTINE_REASONS } from './enum-values.js';
import type { ChainHead, Json } from './audit-chain.js';
import type { Vouch } from './liability.js';
import type { Bucket } from './token-bucket.js';
import type { BreachWindow, BreachSeverity } from './breach-detector.js';
import type { Elevation } from './elevation.js';
import type { KillSwitchBlock, KillSwitchCopy } from './kill-switch.js';
import { ElevationRequest } from './elevation.js';
import { AgentDid, MAX_IDENTIFIER_LENGTH, SessionId, identifier } from './identifiers.js';
import { KillSwitchStateSchema } from './kill-switch.js';
import { MAX_AUDIT_BACKLOG, MESSAGE_LIMITS, RECENT_ENTRIES } from './limits.js';
import { MAX_NONCES } from './operator-command.js';
import type { IntentLock, LockTable } from './intent-locks.js';
import { LockIntent } from './intent-locks.js';
import type { Ring } from './rings.js';
import { MAX_PARTICIPANTS_LIMIT, SessionConfig } from './session-config.js';
import type { VfsState } from './vfs.js';

/** A session is handshaking from its first moment (agents join), active once activated, then terminating → archived. */
export const SessionState = z.enum(['handshaking', 'active', 'terminating', 'archived']);
export type SessionState = z.infer<typeof SessionState>;

export const KillReason = z.enum(KILL_REASONS);
export type KillReason = z.infer<typeof KillReason>;

const sigma = (field: string) =>
  z
    .number({ error: `${field} must be a number` })
    .min(0, `${field} must be between 0.0 and 1.0`)
    .max(1, `${field} must be between 0.0 and 1.0`);

const shortText = (field: string, max = 512) =>
  z
    .string({ error: `${field} must be a string` })
    .trim()
    .min(1, `${field} must not be empty`)
    .max(max);

export const CreateSessionInput = z
  .object({
    sessionId: SessionId,
    creatorDid: AgentDid,
    config: SessionConfig.prefault({}),
  })
  .strict();
export type CreateSessionInput = z.input<typeof CreateSessionInput>;

const AnyObject = z.looseObject({});
const Time = z.number().finite();
const objects = (max: number) => z.array(AnyObject).max(max);
const byId = <V extends z.ZodType>(value: V) => z.record(z.string().max(MAX_IDENTIFIER_LENGTH * 2), value);

/**
 * The shape of the state a continue-as-new carries, checked before a run adopts it: every field the workflow reads
 * outside a guarded handler has its type, so a hand-made start argument is refused instead of failing the workflow
 * task. Loose (unknown keys pass) so that state carried by an older run still loads; the whole argument is bounded
 * by the server's payload limit.
 */
export const CarriedSessionData = z.looseObject({
  sessionId: SessionId,
  creatorDid: AgentDid,
  config: SessionConfig,
  state: SessionState,
  createdAtMs: Time,
  deadlineMs: Time,
  terminatedAtMs: Time.nullable(),
  terminationReason: z.string().max(MESSAGE_LIMITS.textChars).nullable(),
  participants: byId(
    z.looseObject({
      agentDid: AgentDid,
      status: z.enum(['active', 'left', 'killed']),
      ring: z.number().int().min(0).max(3),
      actions: z.record(z.string(), z.unknown()),
    }),
  ),
  approvals: byId(z.array(AgentDid).max(MAX_PARTICIPANTS_LIMIT)),
  elevations: byId(AnyObject),
  buckets: byId(AnyObject),
  breachWindows: byId(AnyObject),
  vfs: z.looseObject({ files: byId(AnyObject), acls: byId(AnyObject), snapshots: byId(AnyObject) }),
  locks: z.looseObject({ locks: byId(AnyObject), seq: z.number().int(), order: z.array(z.string()).max(100_000) }),
  killIds: z.array(z.string()).max(100_000),
  chain: z.looseObject({ seq: z.number().int().min(0), hash: z.string().max(128) }),
  stats: z.looseObject({ allowed: z.number(), denied: z.number(), breaches: z.number() }),
  vouches: objects(10_000).optional(),
  killSwitchTriggered: z.boolean().optional(),
  quarantines: byId(AnyObject).optional(),
  killSwitches: byId(KillSwitchStateSchema).optional(),
});

/**
 * The start arguments of a session workflow: a new session ({@link CreateSessionInput}), or, from continue-as-new,
 * the same plus everything the previous run hands over. Invalid ones fail the workflow at once with a non-retryable
 * `InvalidInput` failure (docs/DESIGN.md §12).
 */
/** A record keyed by bounded ids with at most `max` entries. */
const boundedRecord = <V extends z.ZodType>(value: V, max: number) =>
  z
    .record(z.string().max(MESSAGE_LIMITS.idChars), value)
    .refine((r) => Object.keys(r).length <= max, `at most ${max} entries`);

export const SessionWorkflowArgs = z.strictObject({
  ...CreateSessionInput.shape,
  carried: CarriedSessionData.optional(),
  recent: objects(RECENT_ENTRIES).optional(),
  audit: z
    .looseObject({
      pending: objects(MAX_AUDIT_BACKLOG * 2),
      persistedSeq: z.number().int().min(0),
      fault: z.string().max(MESSAGE_LIMITS.textChars).nullable(),
      decisions: objects(MESSAGE_LIMITS.decisionsPerReport).optional(),
      reported: z.number().int().min(0).optional(),
    })
    .optional(),
  followUps: z
    .array(z.looseObject({ kind: z.enum(['slash', 'handoff', 'trip']) }))
    .max(10_000)
    .optional(),
  activeSagas: z.array(z.string().max(MAX_IDENTIFIER_LENGTH)).max(10_000).optional(),
  replies: z
    .array(z.tuple([z.string().max(MESSAGE_LIMITS.idChars), z.unknown()]))
    .max(1_000)
    .optional(),
  /** Sagas the session launched or that registered, still running (internal-message binding, §3.7). */
  knownSagas: boundedRecord(z.looseObject({}), 1_000).optional(),
  /** The last kill-switch notice number accepted from each identity (replay guard). */
  noticeSeqs: boundedRecord(z.number().int().min(0), 10_000).optional(),
  /** Nonces of accepted operator commands, until they expire (domain/operator-command.ts). */
  operatorNonces: boundedRecord(z.number(), MAX_NONCES).optional(),
});

export const JoinSessionInput = z
  .object({
    agentDid: AgentDid,
    sigmaRaw: sigma('sigmaRaw').default(0),
    actions: ActionManifest.default([]),
    parentDid: AgentDid.optional(),
  })
  .strict();
export type JoinSessionInput = z.input<typeof JoinSessionInput>;

export const VouchInput = z
  .object({
    voucherDid: AgentDid,
    voucheeDid: AgentDid,
    /** Share of the voucher's σ to bond (default: the session's liability.bondPct). */
    bondPct: z.number().gt(0).max(1).optional(),
    expiresInSeconds: z.number().int().min(1).max(604_800).optional(),
  })
  .strict();
export type VouchInput = z.input<typeof VouchInput>;

/** An agent's standing from the liability ledger, as join applies it. */
export interface JoinStanding {
  sigma: number | null;
  blacklisted: boolean;
  riskScore: number;
  recommendation: 'admit' | 'probation' | 'deny';
  /** Set when the identity's deny-rate kill switch is tripped: no join anywhere until an operator unblocks it. */
  killSwitch?: Pick<KillSwitchBlock, 'atMs' | 'reason' | 'trigger'> | null;
}
export const ADMIT: JoinStanding = { sigma: null, blacklisted: false, riskScore: 0, recommendation: 'admit' };

/** Reference §5.5 reasons. */
export const QuarantineReason = z.enum(QUARANTINE_REASONS);

export const QuarantineInput = z
  .object({
    agentDid: AgentDid,
    reason: QuarantineReason,
    authorizedBy: AgentDid,
    /** Reference default: 300 s. */
    durationSeconds: z.number().int().min(1).max(86_400).default(300),
    /** At the end: lift the isolation, or kill the agent with `quarantine_timeout`. */
    onTimeout: z.enum(QUARANTINE_ON_TIMEOUT).default('release'),
    details: z.string().max(2048).default(''),
    /** Evidence kept in the audit chain (bounded). */
    forensic: z
      .record(z.string(), z.json())
      .refine((f) => JSON.stringify(f).length <= 16_384, 'forensic data exceed 16 KiB')
      .default({}),
  })
  .strict();
export type QuarantineInput = z.input<typeof QuarantineInput>;

export const ReleaseQuarantineInput = z
  .object({ agentDid: AgentDid, authorizedBy: AgentDid, reason: z.string().max(2048).default('released') })
  .strict();
export type ReleaseQuarantineInput = z.input<typeof ReleaseQuarantineInput>;

export interface Quarantine {
  quarantineId: string;
  agentDid: string;
  reason: z.infer<typeof QuarantineReason>;
  authorizedBy: string;
  startedAtMs: number;
  untilMs: number;
  onTimeout: 'release' | 'kill';
}

export const ApproveJoinInput = z.object({ candidateDid: AgentDid, approverDid: AgentDid }).strict();
export type ApproveJoinInput = z.input<typeof ApproveJoinInput>;

export const LeaveSessionInput = z.object({ agentDid: AgentDid }).strict();
export type LeaveSessionInput = z.input<typeof LeaveSessionInput>;

export const ActivateSessionInput = z.object({ authorizedBy: AgentDid.optional() }).strict();
export type ActivateSessionInput = z.input<typeof ActivateSessionInput>;

export const AuthorizeInput = z
  .object({
    agentDid: AgentDid,
    actionId: identifier('actionId'),
    cost: z.number().positive('cost must be greater than 0').finite().max(1e6).default(1),
  })
  .strict();
export type AuthorizeInput = z.input<typeof AuthorizeInput>;

export { ElevationRequest };
export type ElevateInput = z.input<typeof ElevationRequest>;

export const RevokeElevationInput = z
  .object({ agentDid: AgentDid, reason: shortText('reason').default('revoked'), authorizedBy: AgentDid.optional() })
  .strict();
export type RevokeElevationInput = z.input<typeof RevokeElevationInput>;

export const KillAgentInput = z
  .object({
    killId: identifier('killId'),
    agentDid: AgentDid,
    reason: KillReason,
    authorizedBy: AgentDid,
    details: z.string().max(2048).optional(),
    substituteDid: AgentDid.optional(),
  })
  .strict();
export type KillAgentInput = z.input<typeof KillAgentInput>;

export const WriteStateInput = z
  .object({
    agentDid: AgentDid,
    path: z.string(),
    content: z.string({ error: 'content must be a string' }),
    baseVersion: z.number().int().min(0).optional(),
  })
  .strict();
export type WriteStateInput = z.input<typeof WriteStateInput>;

export const ReadStateInput = z.object({ agentDid: AgentDid, path: z.string() }).strict();
export type ReadStateInput = z.input<typeof ReadStateInput>;

export const DeleteStateInput = z
  .object({ agentDid: AgentDid, path: z.string(), baseVersion: z.number().int().min(0).optional() })
  .strict();
export type DeleteStateInput = z.input<typeof DeleteStateInput>;

export const ListStateInput = z.object({ agentDid: AgentDid, prefix: z.string().optional() }).strict();
export type ListStateInput = z.input<typeof ListStateInput>;

export const SetPermissionsInput = z
  .object({ agentDid: AgentDid, path: z.string(), agents: z.array(AgentDid).nullable() })
  .strict();
export type SetPermissionsInput = z.input<typeof SetPermissionsInput>;

export const SnapshotInput = z.object({ agentDid: AgentDid, snapshotId: identifier('snapshotId').optional() }).strict();
export type SnapshotInput = z.input<typeof SnapshotInput>;

export const RestoreInput = z.object({ agentDid: AgentDid, snapshotId: identifier('snapshotId') }).strict();
export type RestoreInput = z.input<typeof RestoreInput>;

export const AcquireLockInput = z
  .object({
    agentDid: AgentDid,
    path: z.string(),
    intent: LockIntent,
    ttlSeconds: z.number().int().min(1).max(3600).optional(),
    sagaStepId: z.string().max(256).optional(),
  })
  .strict();
export type AcquireLockInput = z.input<typeof AcquireLockInput>;

/** The `getLocks` query's filter (both optional). */
export const LocksFilter = z.strictObject({ agentDid: AgentDid.optional(), path: z.string().max(1024).optional() });
export type LocksFilter = z.input<typeof LocksFilter>;

/** The `getAuditTail` query's argument: how many of the recent entries (at most `RECENT_ENTRIES`). */
export const AuditTailInput = z.strictObject({ limit: z.number().int().min(1).max(RECENT_ENTRIES).optional() });
export type AuditTailInput = z.input<typeof AuditTailInput>;

export const ReleaseLockInput = z.object({ agentDid: AgentDid, lockId: z.string().min(1).max(128) }).strict();
export type ReleaseLockInput = z.input<typeof ReleaseLockInput>;

export const TerminateSessionInput = z
  .object({ reason: shortText('reason', 256).default('requested'), authorizedBy: AgentDid.optional() })
  .strict();
export type TerminateSessionInput = z.input<typeof TerminateSessionInput>;

export type ParticipantStatus = 'active' | 'left' | 'killed';

export interface Participant {
  agentDid: string;
  status: ParticipantStatus;
  /** The ring earned at join (or imposed by a demotion); elevation is layered on top, never written here. */
  ring: Ring;
  sigmaRaw: number;
  effScore: number;
  hasConsensus: boolean;
  parentDid: string | null;
  joinedAtMs: number;
  leftAtMs: number | null;
  /**
   * The ring each action of the agent's manifest requires, by action id: all the session needs of a manifest, so
   * 2,000 registered actions stay small in the carried state. State carried from before held whole descriptors; read
   * it through `actionRing` (domain/session/participants.ts).
   */
  actions: Record<string, Ring>;
  kill: { killId: string; reason: KillReason; authorizedBy: string; atMs: number } | null;
}

export interface Decision {
  allowed: boolean;
  reason: DecisionReason;
  requiredRing: Ring | null;
  effectiveRing: Ring;
  /** Milliseconds until the bucket holds enough tokens; -1 when the cost can never fit; 0 when not rate-limited. */
  retryAfterMs: number;
  breach: { severity: BreachSeverity; score: number; action: 'none' | 'demote' | 'kill' } | null;
}

export type DecisionReason =
  'allowed' | 'unknown_action' | 'ring_violation' | 'rate_limited' | 'agent_killed' | 'agent_left' | 'ring_breach';

/** The session's whole governance state. JSON only: it is carried through continue-as-new and returned by queries. */
export interface SessionData {
  sessionId: string;
  creatorDid: string;
  config: SessionConfig;
  state: SessionState;
  createdAtMs: number;
  deadlineMs: number;
  terminatedAtMs: number | null;
  terminationReason: string | null;
  participants: Record<string, Participant>;
  /** Ring-1 approvals waiting for the candidate's join: candidate → approvers. */
  approvals: Record<string, string[]>;
  elevations: Record<string, Elevation>;
  buckets: Record<string, Bucket>;
  breachWindows: Record<string, BreachWindow>;
  vfs: VfsState;
  locks: LockTable;
  /** Kill ids already applied, so a re-delivered kill signal is a no-op (bounded; oldest dropped). */
  killIds: string[];
  chain: ChainHead;
  stats: { allowed: number; denied: number; breaches: number };
  /** Session-scoped bonds (joint liability); released when the session ends. Absent in state carried from before. */
  vouches?: Vouch[];
  /** A participant's kill switch tripped at a decision of this session (or an operator tripped it while here). */
  killSwitchTriggered?: boolean;
  /** Agents in read-only isolation, by DID. */
  quarantines?: Record<string, Quarantine>;
  /** The session's copies of its participants' armed kill switches, by DID (domain/session/kill-switch.ts). */
  killSwitches?: Record<string, KillSwitchCopy>;
}

/** A governance event the session turns into an audit entry. */
export interface SessionEvent {
  kind: string;
  agentDid: string | null;
  payload: Json;
}

export interface ParticipantView extends Omit<Participant, 'actions'> {
  effectiveRing: Ring;
  elevation: Elevation | null;
  actions: string[];
}

export interface SessionView {
  sessionId: string;
  creatorDid: string;
  state: SessionState;
  config: SessionConfig;
  createdAtMs: number;
  deadlineMs: number;
  terminatedAtMs: number | null;
  terminationReason: string | null;
  participants: ParticipantView[];
  approvals: Record<string, string[]>;
  locks: IntentLock[];
  vfs: { files: number; totalBytes: number; snapshots: string[]; conflicts: number };
  audit: {
    entries: number;
    head: string;
    /** Highest seq the audit store has acknowledged; entries above it wait in the workflow's outbox. */
    persistedSeq: number;
    pending: number;
    fault: string | null;
  };
  stats: SessionData['stats'];
  runId: string;
  historyLength: number;
}

export interface JoinResult {
  agentDid: string;
  ring: Ring;
  effScore: number;
  /** The ledger's verdict: `probation` caps the ring at 3. */
  standing: 'admit' | 'probation';
  sandboxed: boolean;
}

export interface SessionCommitment {
  sessionId: string;
  state: SessionState;
  reason: string;
  root: string;
  entryCount: number;
  /** Every agent that ever joined, not only those still active (the reference drops the rest). */
  participants: string[];
  killSwitchTriggered: boolean;
  terminatedAtMs: number;
  /** Ed25519 signature over the commitment statement (DESIGN §5), when the worker has a signing key. */
  keyId?: string | null;
  signature?: string | null;
  /** How much of the chain reached the audit store, and why not all of it, if not. */
  audit?: { persistedSeq: number; fault: string | null };
}
