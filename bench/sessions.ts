/**
 * Sessions as the Temporal suites use them: opened through the project's client exactly as a user would (create,
 * join, activate), and the history counters Temporal keeps for a workflow.
 */
import { randomUUID } from 'node:crypto';
import type { WorkflowHandle } from '@temporalio/client';
import type { HypervisorClient, SessionHandle } from '../client/hypervisor-client.js';

export const OPERATOR = 'did:mesh:bench-operator';

/** One fully reversible action: needs ring 2, which a σ 0.9 agent gets at join. */
export const MANIFEST = [{ actionId: 'edit', name: 'Edit', reversibility: 'full' as const, undoApi: '/undo' }];

/**
 * Rate limits far above what the bench can send, for suites that measure throughput or count allowed calls: a
 * rate-limit denial there would measure the token bucket, not the system.
 */
export const UNTHROTTLED = { '2': { ratePerSecond: 100_000, burst: 100_000 } };

export const agentDid = (): string => `did:mesh:bench-${randomUUID()}`;

export interface OpenSession {
  session: SessionHandle;
  agentDid: string;
}

/** Creates a session, joins one agent (σ 0.9 → ring 2) and activates it. */
export async function openSession(
  hv: HypervisorClient,
  options: { agent?: string; maxParticipants?: number; unthrottled?: boolean; prefix?: string } = {},
): Promise<OpenSession> {
  const session = await hv.createSession({
    creatorDid: OPERATOR,
    sessionId: `${options.prefix ?? 'bench'}-${randomUUID()}`,
    config: {
      maxParticipants: options.maxParticipants ?? 2,
      ...(options.unthrottled ? { rateLimits: UNTHROTTLED } : {}),
    },
  });
  const agent = options.agent ?? agentDid();
  await session.join({ agentDid: agent, sigmaRaw: 0.9, actions: MANIFEST });
  await session.activate({});
  return { session, agentDid: agent };
}

/** The counters DescribeWorkflowExecution reports for a workflow's current run. */
export interface HistoryCounters {
  runId: string;
  events: number;
  bytes: number;
  /** Persistence state transitions (omes' `state_transitions_steady` counts the same). */
  transitions: number;
}

export async function historyCounters(handle: WorkflowHandle): Promise<HistoryCounters> {
  const d = await handle.describe();
  return {
    runId: d.runId,
    events: d.historyLength,
    bytes: d.historySize ?? 0,
    transitions: Number(d.raw.workflowExecutionInfo?.stateTransitionCount ?? 0),
  };
}

/** History events and bytes the workflow gained while `fn` ran, per call; null when it continued as new meanwhile. */
export async function historyPerCall(
  handle: WorkflowHandle,
  calls: number,
  fn: () => Promise<void>,
): Promise<{ events: number; bytes: number } | null> {
  const before = await historyCounters(handle);
  await fn();
  const after = await historyCounters(handle);
  if (after.runId !== before.runId) return null;
  return { events: (after.events - before.events) / calls, bytes: (after.bytes - before.bytes) / calls };
}
