import { ErrorType, hvError } from '../errors.js';
import { RING_LABELS } from '../rings.js';
import type {
  DeleteStateInput,
  ListStateInput,
  ReadStateInput,
  RestoreInput,
  SessionData,
  SessionEvent,
  SetPermissionsInput,
  SnapshotInput,
  WriteStateInput,
} from '../session-types.js';
import {
  createSnapshot,
  deleteFile,
  listFiles,
  normalizePath,
  readFile,
  restoreSnapshot,
  setAcl,
  vfsSummary,
  writeFile,
  type DeleteFileResult,
  type VfsEvent,
  type VfsState,
  type WriteFileResult,
} from '../vfs.js';
import type { ConsistencyMode } from '../session-config.js';

type VfsOutcome<R> = { state: VfsState; result: R; events: VfsEvent[] };
import { assertState, event, OPEN_STATES, type OpContext, type Parsed } from './context.js';
import { effectiveRingOf, requireActive } from './participants.js';

/** Agents in ring 3 (the sandbox) are read-only: they may read shared state but never change it. */
function requireWriter(data: SessionData, agentDid: string, nowMs: number): void {
  assertState(data, OPEN_STATES, 'changing shared state');
  const participant = requireActive(data, agentDid);
  const ring = effectiveRingOf(data, participant, nowMs);
  if (ring > 2) {
    throw hvError(ErrorType.RingViolation, `agent ${agentDid} is in ${RING_LABELS[ring]}, which is read-only`, {
      agentDid,
      effectiveRing: ring,
      requiredRing: 2,
    });
  }
}

const vfsEvents = (events: VfsEvent[]): SessionEvent[] =>
  events.map(({ kind, agentDid, ...payload }) => event(kind, agentDid, payload));

/** A file change by a writer, under the session's consistency mode (write and delete). */
function changeFile<I extends { agentDid: string }, R>(
  change: (vfs: VfsState, args: I & { mode: ConsistencyMode; nowMs: number }) => VfsOutcome<R>,
) {
  return (data: SessionData, input: I, ctx: OpContext) => {
    requireWriter(data, input.agentDid, ctx.nowMs);
    const out = change(data.vfs, { ...input, mode: data.config.consistencyMode, nowMs: ctx.nowMs });
    return { data: { ...data, vfs: out.state }, result: out.result, events: vfsEvents(out.events) };
  };
}

/** Writes a file of the session's shared state. */
export const writeSharedState = changeFile<Parsed<typeof WriteStateInput>, WriteFileResult>(writeFile);

/** Reads a file; any active participant may, subject to the file's ACL. */
export function readSharedState(data: SessionData, input: Parsed<typeof ReadStateInput>) {
  requireActive(data, input.agentDid);
  const out = readFile(data.vfs, input);
  return { data: { ...data, vfs: out.state }, result: out.result, events: [] as SessionEvent[] };
}

/** Deletes a file of the session's shared state. */
export const deleteSharedState = changeFile<Parsed<typeof DeleteStateInput>, DeleteFileResult>(deleteFile);

/** Lists the files an active participant may see (a query: no state change). */
export function listSharedState(data: SessionData, input: Parsed<typeof ListStateInput>) {
  requireActive(data, input.agentDid);
  return listFiles(data.vfs, input);
}

/** Sets (or clears, with `null`) the agents allowed on a path; the VFS checks the actor's ring. */
export function setStatePermissions(data: SessionData, input: Parsed<typeof SetPermissionsInput>, ctx: OpContext) {
  assertState(data, OPEN_STATES, 'changing permissions');
  const participant = requireActive(data, input.agentDid);
  const out = setAcl(data.vfs, {
    ...input,
    actorRing: effectiveRingOf(data, participant, ctx.nowMs),
    nowMs: ctx.nowMs,
  });
  return {
    data: { ...data, vfs: out.state },
    result: { path: normalizePath(input.path), agents: input.agents },
    events: vfsEvents(out.events),
  };
}

/** Snapshots the whole shared state under an id (given, or drawn from the workflow's id source). */
export function snapshotSharedState(data: SessionData, input: Parsed<typeof SnapshotInput>, ctx: OpContext) {
  requireWriter(data, input.agentDid, ctx.nowMs);
  const snapshotId = input.snapshotId ?? `snap:${ctx.newId()}`;
  const out = createSnapshot(data.vfs, { agentDid: input.agentDid, snapshotId, nowMs: ctx.nowMs });
  return { data: { ...data, vfs: out.state }, result: { snapshotId }, events: vfsEvents(out.events) };
}

/** Restores the shared state to a snapshot. */
export function restoreSharedState(data: SessionData, input: Parsed<typeof RestoreInput>, ctx: OpContext) {
  requireWriter(data, input.agentDid, ctx.nowMs);
  const out = restoreSnapshot(data.vfs, { ...input, nowMs: ctx.nowMs });
  return {
    data: { ...data, vfs: out.state },
    result: { snapshotId: input.snapshotId, ...vfsSummary(out.state) },
    events: vfsEvents(out.events),
  };
}
