import type { z } from 'zod';
import type { ActionDescriptorInput } from '../../domain/actions.js';
import { ElevationRequest, type ElevationRequestInput } from '../../domain/elevation.js';
import {
  activateSession,
  acquireLock,
  approveJoin,
  createSessionData,
  elevateAgent,
  joinSession,
  killAgent,
  leaveSession,
  quarantineAgent,
  type OpContext,
} from '../../domain/session/index.js';
import type { SessionConfigInput } from '../../domain/session-config.js';
import {
  ADMIT,
  AcquireLockInput,
  CreateSessionInput,
  JoinSessionInput,
  KillAgentInput,
  QuarantineInput,
  type JoinStanding,
  type Participant,
  type SessionData,
  type SessionEvent,
} from '../../domain/session-types.js';
import { parseInput } from '../../domain/validation.js';

/** Literal workflow time of every test, unless a test moves it on. */
export const NOW = 1_000;
export const SESSION_ID = 'ss-unit';
export const CREATOR = 'did:mesh:creator';
export const did = (name: string): string => `did:mesh:${name}`;

/** One action per required ring: read → 3, edit → 2, deploy → 1, admin → 0. */
export const actions = {
  read: { actionId: 'read-docs', name: 'read docs', reversibility: 'full', isReadOnly: true },
  edit: { actionId: 'edit-doc', name: 'edit doc', reversibility: 'full', undoApi: '/undo/edit' },
  deploy: { actionId: 'deploy', name: 'deploy to prod', reversibility: 'none' },
  admin: { actionId: 'rotate-keys', name: 'rotate keys', reversibility: 'partial', isAdmin: true },
} satisfies Record<string, ActionDescriptorInput>;
export const allActions: ActionDescriptorInput[] = Object.values(actions);

/** Deterministic context: time `nowMs`, ids `id-1`, `id-2`, … (a fresh counter per context). */
export function ctx(nowMs = NOW): OpContext {
  let n = 0;
  return { nowMs, newId: () => `id-${++n}` };
}

/** A message as the workflow hands it to a reducer: parsed, defaults applied. */
export const parse = <S extends z.ZodType>(schema: S, input: z.input<S>): z.output<S> =>
  parseInput(schema, input, 'test input');

/** A new (handshaking) session created by {@link CREATOR} at {@link NOW}. */
export const newSession = (config: SessionConfigInput = {}, nowMs = NOW): SessionData =>
  createSessionData(parse(CreateSessionInput, { sessionId: SESSION_ID, creatorDid: CREATOR, config }), nowMs);

export interface JoinOptions {
  parentDid?: string;
  standing?: JoinStanding;
  nowMs?: number;
}

/** `data` after `agentDid` joined with σ `sigmaRaw` and `manifest`. */
export function joined(
  data: SessionData,
  agentDid: string,
  sigmaRaw: number,
  manifest: ActionDescriptorInput[] = [],
  options: JoinOptions = {},
): SessionData {
  const input = parse(JoinSessionInput, {
    agentDid,
    sigmaRaw,
    actions: manifest,
    ...(options.parentDid ? { parentDid: options.parentDid } : {}),
  });
  return joinSession(data, input, ctx(options.nowMs), options.standing ?? ADMIT).data;
}

/** `data` after `agentDid` joined at ring 1: approved by `approvers` (default the creator), σ 0.99. */
export function ringOne(
  data: SessionData,
  agentDid: string,
  approvers: string[] = [CREATOR],
  manifest: ActionDescriptorInput[] = [],
): SessionData {
  const approved = approvers.reduce(
    (d, approverDid) => approveJoin(d, { candidateDid: agentDid, approverDid }, ctx()).data,
    data,
  );
  return joined(approved, agentDid, 0.99, manifest);
}

/** `data` activated (it needs an active participant). */
export const active = (data: SessionData): SessionData => activateSession(data, {}).data;

/** A session with `agents` joined at σ 0.9 (ring 2, eligible for elevation) with every action, activated. */
export function activeWith(config: SessionConfigInput, ...agents: string[]): SessionData {
  return active(agents.reduce((d, agentDid) => joined(d, agentDid, 0.9, allActions), newSession(config)));
}

export const left = (data: SessionData, agentDid: string, nowMs = NOW): SessionData =>
  leaveSession(data, { agentDid }, ctx(nowMs)).data;

export const killed = (data: SessionData, agentDid: string, killId = `kill-${agentDid}`): SessionData =>
  killAgent(data, parse(KillAgentInput, { killId, agentDid, reason: 'manual', authorizedBy: CREATOR }), ctx()).data;

export const elevated = (data: SessionData, request: ElevationRequestInput, nowMs = NOW): SessionData =>
  elevateAgent(data, parse(ElevationRequest, request), ctx(nowMs)).data;

export const quarantined = (
  data: SessionData,
  agentDid: string,
  extra: Partial<z.input<typeof QuarantineInput>> = {},
): SessionData =>
  quarantineAgent(data, parse(QuarantineInput, { agentDid, reason: 'manual', authorizedBy: CREATOR, ...extra }), {
    nowMs: NOW,
    newId: () => `q-${agentDid}`,
  }).data;

/** `data` after the lock request; lock ids follow the table's own count (`lock:1`, `lock:2`, …). */
export const locked = (data: SessionData, request: z.input<typeof AcquireLockInput>, nowMs = NOW): SessionData =>
  acquireLock(data, parse(AcquireLockInput, request), { nowMs, newId: () => String(data.locks.seq + 1) }).data;

export const participant = (data: SessionData, agentDid: string): Participant => {
  const p = data.participants[agentDid];
  if (!p) throw new Error(`${agentDid} is not a participant`);
  return p;
};

export const kinds = (events: SessionEvent[]): string[] => events.map((e) => e.kind);
