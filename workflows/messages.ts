import { defineQuery, defineUpdate } from '@temporalio/workflow';
import type { SessionCommitment, SessionInput, SessionView, TerminateSessionInput } from '../domain/session-types.js';

/** The task queue the hypervisor worker polls unless `TEMPORAL_TASK_QUEUE` says otherwise. */
export const DEFAULT_TASK_QUEUE = 'agent-hypervisor';

export const sessionWorkflowId = (sessionId: string): string => `session:${sessionId}`;
export const sagaWorkflowId = (sagaId: string): string => `saga:${sagaId}`;
export const agentWorkflowId = (did: string): string => `agent:${did}`;

export type { SessionInput };

export const getSessionStateQuery = defineQuery<SessionView>('getSessionState');
export const terminateSessionUpdate = defineUpdate<SessionCommitment, [TerminateSessionInput]>('terminateSession');
