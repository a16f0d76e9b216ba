import { describe, expect, it } from 'vitest';
import { ErrorType, hvErrorDetails } from '../../../domain/errors.js';
import {
  beginTermination,
  deleteSharedState,
  listSharedState,
  readSharedState,
  restoreSharedState,
  setStatePermissions,
  snapshotSharedState,
  writeSharedState,
} from '../../../domain/session/index.js';
import type { SessionConfigInput } from '../../../domain/session-config.js';
import {
  DeleteStateInput,
  ReadStateInput,
  RestoreInput,
  SetPermissionsInput,
  SnapshotInput,
  WriteStateInput,
  type SessionData,
} from '../../../domain/session-types.js';
import { contentHash } from '../../../domain/vfs.js';
import { deepFreeze, failureOf } from '../../helpers/domain.js';
import { NOW, ctx, did, joined, newSession, parse, quarantined } from '../../helpers/session-data.js';

const [A, B, SANDBOX] = [did('a'), did('b'), did('sandbox')];
const session = (config: SessionConfigInput = {}) =>
  joined(joined(joined(newSession(config), A, 0.8), B, 0.8), SANDBOX, 0.3);
const write = (data: SessionData, agentDid: string, path: string, content: string, nowMs = NOW) =>
  writeSharedState(deepFreeze(data), parse(WriteStateInput, { agentDid, path, content }), ctx(nowMs));
const read = (data: SessionData, agentDid: string, path: string) =>
  readSharedState(deepFreeze(data), parse(ReadStateInput, { agentDid, path }));
const snapshot = (data: SessionData, agentDid: string, snapshotId?: string) =>
  snapshotSharedState(
    deepFreeze(data),
    parse(SnapshotInput, { agentDid, ...(snapshotId ? { snapshotId } : {}) }),
    ctx(),
  );
const restore = (data: SessionData, agentDid: string, snapshotId: string) =>
  restoreSharedState(deepFreeze(data), parse(RestoreInput, { agentDid, snapshotId }), ctx(NOW + 50));
const permit = (data: SessionData, agentDid: string, path: string, agents: string[] | null) =>
  setStatePermissions(deepFreeze(data), parse(SetPermissionsInput, { agentDid, path, agents }), ctx());
const remove = (data: SessionData, agentDid: string, path: string) =>
  deleteSharedState(deepFreeze(data), parse(DeleteStateInput, { agentDid, path }), ctx(NOW + 20));

describe('ring 3 is read-only', () => {
  it('refuses writes, deletes, snapshots and restores from the sandbox and from quarantine', () => {
    const data = write(session(), A, '/shared', 'one').data;
    const refusals = [
      () => write(data, SANDBOX, '/x', 'nope'),
      () => remove(data, SANDBOX, '/shared'),
      () => snapshot(data, SANDBOX),
      () => restore(data, SANDBOX, 'any'),
      () => write(quarantined(data, B), B, '/x', 'nope'),
    ];
    for (const refused of refusals) expect(failureOf(refused).type).toBe(ErrorType.RingViolation);
    expect(hvErrorDetails(failureOf(refusals[0]!))).toEqual({ agentDid: SANDBOX, effectiveRing: 3, requiredRing: 2 });
    expect(failureOf(refusals[0]!).message).toMatch(/Ring 3 \(Sandbox\), which is read-only/);
    expect(read(data, SANDBOX, '/shared').result.content).toBe('one');
  });

  it('refuses changes in a closing session', () => {
    const closing = beginTermination(session(), { reason: 'x' }, ctx()).data;
    expect(failureOf(() => write(closing, A, '/x', 'y')).type).toBe(ErrorType.IllegalTransition);
  });
});

describe('write, read, list, delete', () => {
  it('round-trips a file with versions, hashes and vfs events', () => {
    const written = write(session(), A, 'plans//q3/./draft.md', 'v1');
    const path = '/plans/q3/draft.md';
    const hash = contentHash('v1');
    expect(written.result).toEqual({ path, version: 1, contentHash: hash, clock: { [A]: 1 }, conflict: false });
    expect(written.events).toEqual([
      {
        kind: 'vfs_write',
        agentDid: A,
        payload: { path, operation: 'create', contentHash: hash, previousHash: null, version: 1, clock: { [A]: 1 } },
      },
    ]);

    const seen = read(written.data, B, path);
    expect(seen.result).toEqual({
      path,
      content: 'v1',
      version: 1,
      contentHash: hash,
      clock: { [A]: 1 },
      updatedBy: A,
      updatedAtMs: NOW,
    });
    expect(seen.events).toEqual([]);
    expect(seen.data.vfs.files[path]!.observed).toEqual({ [A]: 1, [B]: 1 });
    expect(listSharedState(seen.data, { agentDid: SANDBOX })).toEqual([
      { path, version: 1, bytes: 2, contentHash: hash, updatedBy: A, updatedAtMs: NOW },
    ]);

    const updated = write(seen.data, B, path, 'v2', NOW + 10);
    expect(updated.events[0]!.payload).toMatchObject({ operation: 'update', previousHash: hash, version: 2 });
    const deleted = remove(updated.data, B, path);
    expect(deleted.result).toEqual({ path, version: 3, conflict: false });
    expect(deleted.events).toEqual([
      { kind: 'vfs_delete', agentDid: B, payload: { path, previousHash: contentHash('v2'), version: 3 } },
    ]);
    expect(deleted.data.vfs).toMatchObject({ files: {}, totalBytes: 0, versionFloor: { [path]: 3 } });
    expect(failureOf(() => read(deleted.data, A, path)).type).toBe(ErrorType.NotFound);
  });

  it('records a conflict in eventual mode and refuses the stale write in strong mode', () => {
    const eventual = write(write(session(), A, '/notes', 'a').data, B, '/notes', 'b');
    expect(eventual.result).toMatchObject({ version: 2, conflict: true });
    expect(eventual.events.map((e) => e.kind)).toEqual(['vfs_conflict', 'vfs_write']);
    expect(eventual.events[0]!.payload).toMatchObject({ path: '/notes', expectedVersion: 0, actualVersion: 1 });
    expect(eventual.data.vfs.conflicts).toBe(1);

    const strong = write(session({ consistencyMode: 'strong' }), A, '/notes', 'a').data;
    const stale = failureOf(() => write(strong, B, '/notes', 'b'));
    expect(stale.type).toBe(ErrorType.StaleWrite);
    expect(hvErrorDetails(stale)).toMatchObject({ expectedVersion: 0, actualVersion: 1 });
  });
});

describe('permissions', () => {
  it('restricts a path to its access list, and lifts it with null', () => {
    const data = write(session(), A, '/secret', 's3cr3t').data;
    const locked = permit(data, A, 'secret', [A]);
    expect(locked.result).toEqual({ path: '/secret', agents: [A] });
    expect(locked.events).toEqual([{ kind: 'vfs_acl', agentDid: A, payload: { path: '/secret', agents: [A] } }]);
    expect(locked.data.vfs.acls['/secret']).toEqual({ agents: [A], setBy: A, setAtMs: NOW });
    expect(failureOf(() => read(locked.data, B, '/secret')).type).toBe(ErrorType.PermissionDenied);
    expect(listSharedState(locked.data, { agentDid: B })).toEqual([]);

    const open = permit(locked.data, A, '/secret', null);
    expect(open.events).toEqual([{ kind: 'vfs_acl', agentDid: A, payload: { path: '/secret', agents: null } }]);
    expect(read(open.data, B, '/secret').result.content).toBe('s3cr3t');
  });

  it('lets only the file’s creator or a ring ≤ 2 agent change the access list', () => {
    const data = write(session(), A, '/doc', 'x').data;
    const refused = failureOf(() => permit(data, SANDBOX, '/doc', [SANDBOX]));
    expect(refused.type).toBe(ErrorType.PermissionDenied);
    expect(hvErrorDetails(refused)).toMatchObject({ agentDid: SANDBOX, actorRing: 3 });
    expect(permit(data, B, '/doc', [A, B]).result.agents).toEqual([A, B]);
  });
});

describe('snapshot and restore', () => {
  it('snapshots under a given or drawn id and restores content without moving versions back', () => {
    const one = write(session(), A, '/shared', 'one').data;
    const named = snapshot(one, A, 'before');
    expect(named.result).toEqual({ snapshotId: 'before' });
    expect(named.events).toEqual([
      { kind: 'vfs_snapshot', agentDid: A, payload: { snapshotId: 'before', files: 1, bytes: 3 } },
    ]);
    expect(snapshot(one, A).result).toEqual({ snapshotId: 'snap:id-1' });

    const two = write(named.data, A, '/shared', 'two, longer').data;
    const restored = restore(two, B, 'before');
    expect(restored.result).toEqual({
      snapshotId: 'before',
      files: 1,
      totalBytes: 3,
      snapshots: ['before'],
      conflicts: 0,
    });
    expect(restored.events).toEqual([
      { kind: 'vfs_restore', agentDid: B, payload: { snapshotId: 'before', files: 1 } },
    ]);
    expect(read(restored.data, A, '/shared').result).toMatchObject({
      content: 'one',
      version: 3,
      updatedBy: B,
      updatedAtMs: NOW + 50,
    });
    expect(failureOf(() => restore(two, B, 'missing')).type).toBe(ErrorType.NotFound);
  });
});
