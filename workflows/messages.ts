import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { ChainedEntry } from '../domain/audit-chain.js';
import type { Elevation } from '../domain/elevation.js';
import type { IntentLock } from '../domain/intent-locks.js';
import type { KillResult, StepHandOff } from '../domain/session/index.js';
import type {
  AcquireLockInput,
  ActivateSessionInput,
  ApproveJoinInput,
  AuditTailInput,
  AuthorizeInput,
  Decision,
  DeleteStateInput,
  ElevateInput,
  JoinResult,
  JoinSessionInput,
  VouchInput,
  Quarantine,
  QuarantineInput,
  ReleaseQuarantineInput,
  KillAgentInput,
  LeaveSessionInput,
  ListStateInput,
  LocksFilter,
  ReadStateInput,
  ReleaseLockInput,
  RestoreInput,
  RevokeElevationInput,
  SessionCommitment,
  SessionState,
  SessionView,
  SetPermissionsInput,
  SnapshotInput,
  TerminateSessionInput,
  WriteStateInput,
} from '../domain/session-types.js';
import type { ReadFileResult, VfsListEntry, WriteFileResult } from '../domain/vfs.js';
import type { HandOffStepsInput, RecordSagaEventInput, SagaView, StartSagaInput } from '../domain/saga-types.js';
import type { InternalAuth } from '../domain/internal-signature.js';
import type { Vouch } from '../domain/liability.js';
import type {
  KillSwitchCommand,
  KillSwitchNotice,
  KillSwitchView,
  RecordDecisionSignalInput,
  RegisterSessionInput,
  ReportDecisionsInput,
  ReportKillSwitchTripInput,
} from '../domain/kill-switch.js';
import type { OperatorDirectory, OperatorEntry } from '../domain/operators.js';
import type { RegisterOperatorKeyInput, RevokeOperatorKeyInput } from '../domain/operator-registry.js';
import type * as workflows from './index.js';

export type { KillSwitchCommand, KillSwitchNotice, StepHandOff };

/** A saga's steps and their agents, as it registers with its session. */
export interface RegisterSagaInput {
  sagaId: string;
  steps: Array<{ stepId: string; agentDid: string }>;
  auth?: InternalAuth;
}

/** The task queue the hypervisor worker polls unless `TEMPORAL_TASK_QUEUE` says otherwise. */
export const DEFAULT_TASK_QUEUE = 'agent-hypervisor';

export const sessionWorkflowId = (sessionId: string): string => `session:${sessionId}`;
export const sagaWorkflowId = (sagaId: string): string => `saga:${sagaId}`;
export const agentWorkflowId = (did: string): string => `agent:${did}`;

/** Workflow types, for starting and listing by name: each is the name of a function exported by workflows/index.ts. */
type WorkflowType = keyof typeof workflows;
export const SESSION_WORKFLOW_TYPE = 'sessionWorkflow' satisfies WorkflowType;
export const SAGA_WORKFLOW_TYPE = 'sagaWorkflow' satisfies WorkflowType;
export const AGENT_WORKFLOW_TYPE = 'agentWorkflow' satisfies WorkflowType;
export const AUDIT_RETENTION_WORKFLOW_TYPE = 'auditRetentionWorkflow' satisfies WorkflowType;
export const OPERATOR_REGISTRY_WORKFLOW_TYPE = 'operatorRegistryWorkflow' satisfies WorkflowType;
/** The namespace's one operator registry (docs/DESIGN.md §13). */
export const OPERATOR_REGISTRY_WORKFLOW_ID = 'operator-registry';

// Lifecycle and membership (updates: the caller needs an answer, and a rejection leaves no trace in history).
export const joinSessionUpdate = defineUpdate<JoinResult, [JoinSessionInput]>('joinSession');
export const approveJoinUpdate = defineUpdate<{ approvals: string[] }, [ApproveJoinInput]>('approveJoin');
export const leaveSessionUpdate = defineUpdate<{ agentDid: string }, [LeaveSessionInput]>('leaveSession');
export const activateSessionUpdate = defineUpdate<{ state: SessionState }, [ActivateSessionInput]>('activateSession');
export const terminateSessionUpdate = defineUpdate<SessionCommitment, [TerminateSessionInput]>('terminateSession');

// The enforcement point.
export const authorizeActionUpdate = defineUpdate<Decision, [AuthorizeInput]>('authorizeAction');

// Elevation (sudo) and kill: signals are durable even with no worker running; the update variants return the outcome.
export const elevateAgentSignal = defineSignal<[ElevateInput]>('elevateAgent');
export const requestElevationUpdate = defineUpdate<Elevation, [ElevateInput]>('requestElevation');
export const revokeElevationSignal = defineSignal<[RevokeElevationInput]>('revokeElevation');
export const requestRevocationUpdate = defineUpdate<{ revoked: Elevation | null }, [RevokeElevationInput]>(
  'requestRevocation',
);
export const killAgentSignal = defineSignal<[KillAgentInput]>('killAgent');
export const requestKillUpdate = defineUpdate<KillResult, [KillAgentInput]>('requestKill');

// Shared state (VFS).
export const writeStateUpdate = defineUpdate<WriteFileResult, [WriteStateInput]>('writeState');
export const readStateUpdate = defineUpdate<ReadFileResult, [ReadStateInput]>('readState');
export const deleteStateUpdate = defineUpdate<{ path: string; version: number }, [DeleteStateInput]>('deleteState');
export const setStatePermissionsUpdate = defineUpdate<{ path: string; agents: string[] | null }, [SetPermissionsInput]>(
  'setStatePermissions',
);
export const snapshotStateUpdate = defineUpdate<{ snapshotId: string }, [SnapshotInput]>('snapshotState');
export const restoreStateUpdate = defineUpdate<{ snapshotId: string; files: number }, [RestoreInput]>('restoreState');

// Intent locks.
export const acquireLockUpdate = defineUpdate<IntentLock, [AcquireLockInput]>('acquireLock');
export const releaseLockUpdate = defineUpdate<IntentLock, [ReleaseLockInput]>('releaseLock');

// Inspection.
// Agent identity (kill switch)
/** Signed by the worker that sends it (the internal key, docs/DESIGN.md §3.7); the schema checks the rest. */
type Signed<T> = T & { auth?: InternalAuth };
/** A session joined by the identity (sent, signed, by the activity `admitAgent`; see docs/DESIGN.md §3.5). */
export type RegisterSession = Signed<RegisterSessionInput>;
export const registerSessionSignal = defineSignal<[RegisterSession]>('registerSession');
export const recordDecisionSignal = defineSignal<[RecordDecisionSignalInput]>('recordDecision');
/** A session's decisions, in a batch with its audit flush (sent by the audit activity). */
export const reportDecisionsSignal = defineSignal<[Signed<ReportDecisionsInput>]>('reportDecisions');
/** A session's own decision crossed the threshold in its copy of the window: the identity blocks it everywhere. */
export const reportKillSwitchTripSignal = defineSignal<[Signed<ReportKillSwitchTripInput>]>('reportKillSwitchTrip');
export const tripKillSwitchUpdate = defineUpdate<KillSwitchView, [KillSwitchCommand]>('tripKillSwitch');
export const unblockKillSwitchUpdate = defineUpdate<KillSwitchView, [KillSwitchCommand]>('unblockKillSwitch');
export const configureKillSwitchUpdate = defineUpdate<KillSwitchView, [Record<string, unknown>]>('configureKillSwitch');
/** The switch, and the messages the identity refused (forged, unbound or invalid: `rejected`). */
export const getKillSwitchStatusQuery = defineQuery<KillSwitchView>('getKillSwitchStatus');
/** The sessions the identity joined, oldest first (the latest 500). */
export const getSessionsQuery = defineQuery<string[]>('getSessions');
export const killSwitchNoticeSignal = defineSignal<[KillSwitchNotice]>('killSwitchNotice');

// Quarantine
export const quarantineAgentUpdate = defineUpdate<Quarantine, [QuarantineInput]>('quarantineAgent');
export const releaseQuarantineUpdate = defineUpdate<{ released: boolean }, [ReleaseQuarantineInput]>(
  'releaseQuarantine',
);

// Joint liability
export const vouchUpdate = defineUpdate<Vouch, [VouchInput]>('vouch');

// Sagas
/** Sent (through an activity) by a session that killed an agent: its in-flight steps are cancelled and handed off. */
export const handOffStepsUpdate = defineUpdate<StepHandOff[], [Signed<HandOffStepsInput>]>('handOffSteps');
export const getSagaProgressQuery = defineQuery<SagaView>('getSagaProgress');
/** Sent by a saga to its session: the session records it in the audit chain (it is the chain's single writer). */
export const recordSagaEventSignal = defineSignal<[RecordSagaEventInput]>('recordSagaEvent');
/** A saga started outside its session (`hv saga start`) names its steps and agents to it (signed, by an activity). */
export const registerSagaSignal = defineSignal<[RegisterSagaInput]>('registerSaga');
export const startSagaUpdate = defineUpdate<{ sagaId: string; workflowId: string }, [StartSagaInput]>('startSaga');

export const getSessionStateQuery = defineQuery<SessionView>('getSessionState');
export const listStateQuery = defineQuery<VfsListEntry[], [ListStateInput]>('listState');
export const getLocksQuery = defineQuery<IntentLock[], [LocksFilter?]>('getLocks');
export const getAuditTailQuery = defineQuery<ChainedEntry[], [AuditTailInput?]>('getAuditTail');

// Operator authority (docs/DESIGN.md §13)
/** Anyone may send it (it has no arguments): the workflow re-reads the operator directory from the trusted store. */
export const refreshOperatorKeysUpdate = defineUpdate<{ keys: number; complete: boolean }, []>('refreshOperatorKeys');
/** Signed: adds a key (and, by an admin, an operator); by the key's own operator, a rotation. */
export const registerOperatorKeyUpdate = defineUpdate<OperatorEntry, [RegisterOperatorKeyInput]>('registerOperatorKey');
/** Signed: revokes a key (by an admin or by the key's own operator). */
export const revokeOperatorKeyUpdate = defineUpdate<OperatorEntry, [RevokeOperatorKeyInput]>('revokeOperatorKey');
export const getOperatorDirectoryQuery = defineQuery<OperatorDirectory>('getOperatorDirectory');
