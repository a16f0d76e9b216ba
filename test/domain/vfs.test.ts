import { deepFreeze, failureOf } from '../helpers/domain.js';
import type { ApplicationFailure } from '@temporalio/common';
import { describe, expect, it } from 'vitest';
import { ErrorType, hvErrorDetails } from '../../domain/errors.js';
import type { Ring } from '../../domain/rings.js';
import { dominates } from '../../domain/vector-clock.js';
import {
  contentBytes,
  VFS_LIMITS,
  contentHash,
  createSnapshot,
  deleteFile,
  deleteSnapshot,
  emptyVfs,
  listFiles,
  normalizePath,
  readFile,
  restoreSnapshot,
  setAcl,
  vfsSummary,
  writeFile,
  type DeleteFileArgs,
  type VfsState,
  type WriteFileArgs,
} from '../../domain/vfs.js';

const A = 'did:mesh:alice';
const B = 'did:mesh:bob';
const C = 'did:mesh:carol';
const T0 = 1_700_000_000_000;

function expectFailure(fn: () => unknown, type: ErrorType, message?: RegExp): ApplicationFailure {
  const failure = failureOf(fn);
  expect(failure.type).toBe(type);
  if (message) expect(failure.message).toMatch(message);
  return failure;
}

// Every helper freezes the state it is given, so any mutation of an input throws in these (strict-mode) tests.
const write = (state: VfsState, agentDid: string, path: string, content: string, extra: Partial<WriteFileArgs> = {}) =>
  writeFile(deepFreeze(state), { agentDid, path, content, mode: 'strong', nowMs: T0, ...extra });
const read = (state: VfsState, agentDid: string, path: string) => readFile(deepFreeze(state), { agentDid, path });
const remove = (state: VfsState, agentDid: string, path: string, extra: Partial<DeleteFileArgs> = {}) =>
  deleteFile(deepFreeze(state), { agentDid, path, mode: 'strong', nowMs: T0, ...extra });
const protect = (state: VfsState, agentDid: string, actorRing: Ring, path: string, agents: string[] | null) =>
  setAcl(deepFreeze(state), { agentDid, actorRing, path, agents, nowMs: T0 });
const snapshot = (state: VfsState, agentDid: string, snapshotId: string) =>
  createSnapshot(deepFreeze(state), { agentDid, snapshotId, nowMs: T0 });
const restore = (state: VfsState, agentDid: string, snapshotId: string) =>
  restoreSnapshot(deepFreeze(state), { agentDid, snapshotId, nowMs: T0 + 1 });

/** A state where alice created /doc (version 1). */
const withDoc = (content = 'v1'): VfsState => write(emptyVfs(), A, '/doc', content).state;

describe('normalizePath', () => {
  it.each([
    ['a/b', '/a/b'],
    ['/a/b', '/a/b'],
    ['//a///b/', '/a/b'],
    ['/a/./b', '/a/b'],
    ['./a', '/a'],
    ['/a/..b', '/a/..b'],
    ['/a/b..', '/a/b..'],
    ['/~/notes', '/~/notes'],
    ['/notes/plan.md', '/notes/plan.md'],
  ])('normalises %j to %j', (raw, expected) => {
    expect(normalizePath(raw)).toBe(expected);
  });

  it.each([
    ['/a/../b', /"\.\." segments are not allowed/],
    ['..', /"\.\." segments are not allowed/],
    ['../etc/passwd', /"\.\." segments are not allowed/],
    ['/a/b/..', /"\.\." segments are not allowed/],
    ['/a//../b', /"\.\." segments are not allowed/],
    ['', /must not be empty/],
    ['   ', /must not be empty/],
    ['/a\0b', /control character/],
    ['/a\nb', /control character/],
    ['/a\tb', /control character/],
    ['/a\u007fb', /control character/],
    ['/a\u0085b', /control character/],
    ['a\\b', /backslash/],
    ['\\..\\x', /backslash/],
    ['/', /root/],
    ['///', /root/],
    ['/./', /root/],
    ['/a\uD800b', /unpaired UTF-16 surrogate/],
  ])('rejects %j', (raw, message) => {
    expectFailure(() => normalizePath(raw), ErrorType.InvalidInput, message);
  });

  it.each([[undefined], [null], [42], [['/a']], [{ path: '/a' }]])('rejects the non-string %j', (raw) => {
    expectFailure(() => normalizePath(raw), ErrorType.InvalidInput, /path must be a string/);
  });

  it('allows maxDepth segments and rejects one more', () => {
    const segments = Array.from({ length: VFS_LIMITS.maxDepth }, (_, i) => `d${i}`);
    expect(normalizePath(segments.join('/'))).toBe(`/${segments.join('/')}`);
    expectFailure(() => normalizePath([...segments, 'x'].join('/')), ErrorType.InvalidInput, /17 segments deep/);
  });

  it('measures maxPathLength on the normalised path', () => {
    const exact = `/${'a'.repeat(VFS_LIMITS.maxPathLength - 1)}`;
    expect(normalizePath(exact)).toBe(exact);
    expect(normalizePath(`//${exact}/`)).toBe(exact);
    expectFailure(() => normalizePath(`${exact}b`), ErrorType.InvalidInput, /513 characters long/);
  });

  it('gives no meaning to a /sessions/... prefix: it is a plain path inside this session', () => {
    const path = '/sessions/session:other/secret';
    expect(normalizePath(path)).toBe(path);
    const { state } = write(emptyVfs(), A, path, 'mine');
    expect(Object.keys(state.files)).toEqual([path]);
    expect(read(state, A, 'sessions/session:other/secret').result.content).toBe('mine');
  });
});

describe('writeFile and readFile', () => {
  it('creates a file at version 1 with its hash, size and clock, and records a create event', () => {
    const before = emptyVfs();
    const { state, result, events } = write(before, A, 'notes/plan.md', 'abc');
    const hash = 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad';
    expect(contentHash('abc')).toBe(hash);
    expect(result).toEqual({
      path: '/notes/plan.md',
      version: 1,
      contentHash: hash,
      clock: { [A]: 1 },
      conflict: false,
    });
    expect(events).toEqual([
      {
        kind: 'vfs_write',
        path: '/notes/plan.md',
        agentDid: A,
        operation: 'create',
        contentHash: hash,
        previousHash: null,
        version: 1,
        clock: { [A]: 1 },
      },
    ]);
    expect(state.files['/notes/plan.md']).toEqual({
      content: 'abc',
      contentHash: hash,
      bytes: 3,
      version: 1,
      clock: { [A]: 1 },
      createdBy: A,
      updatedBy: A,
      updatedAtMs: T0,
      observed: { [A]: 1 },
    });
    expect(state.totalBytes).toBe(3);
    expect(before).toEqual(emptyVfs());
  });

  it('lets the writer update its own file and links the previous hash', () => {
    const { state, result, events } = write(withDoc('v1'), A, '/doc', 'v2', { nowMs: T0 + 5 });
    expect(result.version).toBe(2);
    expect(result.clock).toEqual({ [A]: 2 });
    expect(events[0]).toMatchObject({ operation: 'update', previousHash: contentHash('v1'), version: 2 });
    expect(state.files['/doc']).toMatchObject({ content: 'v2', createdBy: A, updatedBy: A, updatedAtMs: T0 + 5 });
  });

  it('reads the content back and records the version the reader observed', () => {
    const before = withDoc('hello');
    const snapshotOfBefore = structuredClone(before);
    const { state, result } = read(before, B, '/doc');
    expect(result).toEqual({
      path: '/doc',
      content: 'hello',
      version: 1,
      contentHash: contentHash('hello'),
      clock: { [A]: 1 },
      updatedBy: A,
      updatedAtMs: T0,
    });
    expect(state.files['/doc']!.observed).toEqual({ [A]: 1, [B]: 1 });
    expect(before).toEqual(snapshotOfBefore);
  });

  it('answers NotFound for a missing unprotected file', () => {
    expectFailure(() => read(emptyVfs(), A, '/nope'), ErrorType.NotFound, /did:mesh:alice cannot read \/nope/);
  });

  it('has no DID-less read: a read without a valid agent is rejected', () => {
    const state = withDoc();
    expectFailure(() => readFile(state, { path: '/doc' } as never), ErrorType.InvalidInput, /agentDid/);
    expectFailure(() => readFile(state, { agentDid: '', path: '/doc' }), ErrorType.InvalidInput, /agentDid/);
  });

  it('counts bytes as UTF-8, so multi-byte characters count more than once', () => {
    const { state } = write(emptyVfs(), A, '/u', 'a€😀');
    expect(state.files['/u']!.bytes).toBe(1 + 3 + 4);
    expect(state.totalBytes).toBe(8);
    expect(state.files['/u']!.contentHash).toBe(contentHash('a€😀'));
  });

  it('rejects content that is not a string or not encodable as UTF-8', () => {
    expectFailure(
      () => write(emptyVfs(), A, '/x', 42 as never),
      ErrorType.InvalidInput,
      /content for \/x must be a string/,
    );
    expectFailure(() => write(emptyVfs(), A, '/x', 'a\uDC00'), ErrorType.InvalidInput, /unpaired UTF-16 surrogate/);
  });

  it('rejects a malformed baseVersion', () => {
    for (const baseVersion of [-1, 1.5, Number.NaN, '1']) {
      expectFailure(
        () => write(withDoc(), A, '/doc', 'x', { baseVersion: baseVersion as number }),
        ErrorType.InvalidInput,
        /baseVersion/,
      );
    }
  });
});

describe('stale writes', () => {
  it('rejects a blind overwrite in strong mode and leaves the state unchanged', () => {
    const before = withDoc();
    const copy = structuredClone(before);
    const failure = expectFailure(
      () => write(before, B, '/doc', 'mine'),
      ErrorType.StaleWrite,
      /stale write of \/doc by agent did:mesh:bob: it has not read the file but the current version is 1/,
    );
    expect(hvErrorDetails(failure)).toEqual({
      path: '/doc',
      agentDid: B,
      expectedVersion: 0,
      actualVersion: 1,
      clock: { [A]: 1 },
    });
    expect(before).toEqual(copy);
  });

  it('rejects a write based on a version someone else has since replaced', () => {
    const seen = read(withDoc(), B, '/doc').state;
    const moved = write(seen, A, '/doc', 'v2').state;
    const failure = expectFailure(() => write(moved, B, '/doc', 'late'), ErrorType.StaleWrite, /last saw version 1/);
    expect(hvErrorDetails(failure)).toMatchObject({ expectedVersion: 1, actualVersion: 2, clock: { [A]: 2 } });
    const refreshed = read(moved, B, '/doc').state;
    expect(write(refreshed, B, '/doc', 'now').result).toMatchObject({ version: 3, clock: { [A]: 2, [B]: 1 } });
  });

  it('accepts an explicit baseVersion equal to the current version even without a read', () => {
    expect(write(withDoc(), B, '/doc', 'mine', { baseVersion: 1 }).result.version).toBe(2);
    expectFailure(
      () => write(withDoc(), B, '/doc', 'mine', { baseVersion: 7 }),
      ErrorType.StaleWrite,
      /expected version 7 but the current version is 1/,
    );
  });

  it('treats baseVersion 0 as "create only if absent"', () => {
    expect(write(emptyVfs(), A, '/new', 'x', { baseVersion: 0 }).result.version).toBe(1);
    expectFailure(() => write(withDoc(), A, '/doc', 'x', { baseVersion: 0 }), ErrorType.StaleWrite);
  });

  it('applies a stale write in eventual mode, recording a concurrent conflict before the write', () => {
    const before = withDoc('v1');
    const { state, result, events } = write(before, B, '/doc', 'mine', { mode: 'eventual' });
    expect(result).toMatchObject({ version: 2, conflict: true, clock: { [A]: 1, [B]: 1 } });
    expect(events.map((e) => e.kind)).toEqual(['vfs_conflict', 'vfs_write']);
    expect(events[0]).toEqual({
      kind: 'vfs_conflict',
      path: '/doc',
      agentDid: B,
      expectedVersion: 0,
      actualVersion: 1,
      clock: { [A]: 1 },
      order: 'concurrent',
    });
    expect(events[1]).toMatchObject({ kind: 'vfs_write', operation: 'update', previousHash: contentHash('v1') });
    expect(state.conflicts).toBe(1);
    expect(state.files['/doc']).toMatchObject({ content: 'mine', updatedBy: B, observed: { [A]: 1, [B]: 2 } });
    expect(dominates(result.clock, { [A]: 1 })).toBe(true);
    // Alice's view is now behind: her next blind write is a conflict too.
    const again = write(state, A, '/doc', 'hers', { mode: 'eventual' });
    expect(again.result.conflict).toBe(true);
    expect(again.state.conflicts).toBe(2);
  });

  it('does not count a conflict when an eventual-mode write is current', () => {
    const { state, result, events } = write(withDoc(), A, '/doc', 'v2', { mode: 'eventual' });
    expect(result.conflict).toBe(false);
    expect(events.map((e) => e.kind)).toEqual(['vfs_write']);
    expect(state.conflicts).toBe(0);
  });

  it('checks deletes for staleness the same way', () => {
    const before = withDoc();
    expectFailure(() => remove(before, B, '/doc'), ErrorType.StaleWrite, /stale delete of \/doc by agent did:mesh:bob/);
    const { state, result, events } = remove(before, B, '/doc', { mode: 'eventual' });
    expect(result).toEqual({ path: '/doc', version: 2, conflict: true });
    expect(events.map((e) => e.kind)).toEqual(['vfs_conflict', 'vfs_delete']);
    expect(state.conflicts).toBe(1);
  });
});

describe('deleteFile and version monotonicity', () => {
  it('deletes a file, frees its bytes and keeps a version floor', () => {
    const before = withDoc('12345');
    const { state, result, events } = remove(before, A, '/doc');
    expect(result).toEqual({ path: '/doc', version: 2, conflict: false });
    expect(events).toEqual([
      { kind: 'vfs_delete', path: '/doc', agentDid: A, previousHash: contentHash('12345'), version: 2 },
    ]);
    expect(state.files).toEqual({});
    expect(state.totalBytes).toBe(0);
    expect(state.versionFloor).toEqual({ '/doc': 2 });
  });

  it('answers NotFound for a missing unprotected file', () => {
    expectFailure(() => remove(emptyVfs(), A, '/nope'), ErrorType.NotFound, /did:mesh:alice cannot delete \/nope/);
  });

  it('re-creates a deleted path above its old versions and clears the floor', () => {
    const deleted = remove(withDoc(), A, '/doc').state;
    const { state, result, events } = write(deleted, B, '/doc', 'again');
    expect(result.version).toBe(3);
    expect(result.clock).toEqual({ [B]: 1 });
    expect(events[0]).toMatchObject({ operation: 'create', previousHash: null });
    expect(state.versionFloor).toEqual({});
    expect(state.files['/doc']!.createdBy).toBe(B);
  });

  it('accepts the delete version as the base of a re-create, but not an older one', () => {
    const deleted = remove(withDoc(), A, '/doc').state;
    expect(write(deleted, A, '/doc', 'x', { baseVersion: 2 }).result.version).toBe(3);
    expectFailure(
      () => write(deleted, A, '/doc', 'x', { baseVersion: 1 }),
      ErrorType.StaleWrite,
      /expected version 1 but the file was deleted at version 2/,
    );
  });

  it('never reuses a version across repeated delete and re-create', () => {
    let state = emptyVfs();
    const versions: number[] = [];
    for (let i = 0; i < 4; i += 1) {
      const written = write(state, A, '/cycle', `c${i}`);
      versions.push(written.result.version);
      const deleted = remove(written.state, A, '/cycle');
      versions.push(deleted.result.version);
      state = deleted.state;
    }
    expect(versions).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
  });
});

describe('access lists', () => {
  const protectedDoc = (): VfsState => protect(withDoc('secret'), A, 3, '/doc', [A, C]).state;

  it('lets the creator protect its file even from ring 3 and records the change', () => {
    const { state, events } = protect(withDoc(), A, 3, 'doc', [A, C]);
    expect(state.acls['/doc']).toEqual({ agents: [A, C], setBy: A, setAtMs: T0 });
    expect(events).toEqual([{ kind: 'vfs_acl', path: '/doc', agentDid: A, agents: [A, C] }]);
  });

  it('refuses a ring-3 agent that did not create the file, but allows ring 2', () => {
    expectFailure(
      () => protect(withDoc(), B, 3, '/doc', [B]),
      ErrorType.PermissionDenied,
      /agent did:mesh:bob \(ring 3\) may not change the access list of \/doc/,
    );
    expect(protect(withDoc(), B, 2, '/doc', [B]).state.acls['/doc']!.agents).toEqual([B]);
  });

  it('lets only ring 2 or lower pre-protect a path that holds no file', () => {
    expectFailure(() => protect(emptyVfs(), A, 3, '/later', [A]), ErrorType.PermissionDenied, /\/later/);
    const { state } = protect(emptyVfs(), A, 2, '/later', [A]);
    expect(state.acls['/later']!.agents).toEqual([A]);
    expectFailure(() => write(state, B, '/later', 'squat'), ErrorType.PermissionDenied);
    expect(write(state, A, '/later', 'mine').result.version).toBe(1);
  });

  it('denies read, write, delete and ACL changes to agents not on the list, even in ring 1', () => {
    const state = protectedDoc();
    expectFailure(() => read(state, B, '/doc'), ErrorType.PermissionDenied, /did:mesh:bob may not read \/doc/);
    expectFailure(() => write(state, B, '/doc', 'x', { baseVersion: 1 }), ErrorType.PermissionDenied, /may not write/);
    expectFailure(() => remove(state, B, '/doc', { baseVersion: 1 }), ErrorType.PermissionDenied, /may not delete/);
    expectFailure(() => protect(state, B, 1, '/doc', null), ErrorType.PermissionDenied, /may not change the access/);
    expect(read(state, C, '/doc').result.content).toBe('secret');
  });

  it('checks the access list before existence, so a protected missing path is not an oracle', () => {
    const state = protect(emptyVfs(), A, 2, '/ghost', [A]).state;
    expectFailure(() => remove(state, B, '/ghost'), ErrorType.PermissionDenied);
    expectFailure(() => read(state, B, '/ghost'), ErrorType.PermissionDenied);
    const existing = protectedDoc();
    const missing = remove(existing, A, '/doc').state;
    expect(failureOf(() => remove(missing, B, '/doc')).message).toBe(
      failureOf(() => remove(existing, B, '/doc')).message,
    );
    expect(remove(existing, A, '/doc').state.acls['/doc']).toBeDefined();
  });

  it('deduplicates agents, validates them and bounds their number', () => {
    expect(protect(withDoc(), A, 3, '/doc', [A, B, A, B]).state.acls['/doc']!.agents).toEqual([A, B]);
    expectFailure(() => protect(withDoc(), A, 3, '/doc', ['not a did']), ErrorType.InvalidInput, /agents\[0\]/);
    expectFailure(() => protect(withDoc(), A, 3, '/doc', []), ErrorType.InvalidInput, /at least one agent/);
    expectFailure(() => protect(withDoc(), A, 3, '/doc', 'did:x' as never), ErrorType.InvalidInput, /array/);
    const many = Array.from({ length: VFS_LIMITS.maxAgentsPerAcl }, (_, i) => `did:mesh:a${i}`);
    expect(protect(withDoc(), A, 3, '/doc', [...many, ...many]).state.acls['/doc']!.agents).toHaveLength(100);
    expectFailure(
      () => protect(withDoc(), A, 3, '/doc', [...many, 'did:mesh:extra']),
      ErrorType.LimitExceeded,
      /names 101 agents, over the limit of 100/,
    );
  });

  it('rejects a ring outside 0..3', () => {
    expectFailure(() => protect(withDoc(), A, 4 as Ring, '/doc', [A]), ErrorType.InvalidInput, /ring/);
  });

  it('clears with null, and clearing nothing changes nothing', () => {
    const { state, events } = protect(protectedDoc(), C, 2, '/doc', null);
    expect(state.acls).toEqual({});
    expect(events).toEqual([{ kind: 'vfs_acl', path: '/doc', agentDid: C, agents: null }]);
    expect(read(state, B, '/doc').result.content).toBe('secret');
    const unprotected = withDoc();
    expect(protect(unprotected, A, 3, '/doc', null)).toEqual({ state: unprotected, events: [] });
  });
});

describe('listFiles', () => {
  const tree = (): VfsState => {
    let state = emptyVfs();
    for (const path of ['/b', '/a/x', '/ab', '/a', '/a/y/z', '/private/k']) state = write(state, A, path, path).state;
    return protect(state, A, 2, '/private/k', [A]).state;
  };

  it('lists sorted paths with metadata and omits paths whose access list excludes the agent', () => {
    const listed = listFiles(deepFreeze(tree()), { agentDid: B });
    expect(listed.map((f) => f.path)).toEqual(['/a', '/a/x', '/a/y/z', '/ab', '/b']);
    expect(listed[0]).toEqual({
      path: '/a',
      version: 1,
      bytes: 2,
      contentHash: contentHash('/a'),
      updatedBy: A,
      updatedAtMs: T0,
    });
    expect(listFiles(tree(), { agentDid: A }).map((f) => f.path)).toContain('/private/k');
  });

  it('matches a normalised prefix by whole segments', () => {
    const state = tree();
    expect(listFiles(state, { agentDid: B, prefix: '/a' }).map((f) => f.path)).toEqual(['/a', '/a/x', '/a/y/z']);
    expect(listFiles(state, { agentDid: B, prefix: 'a//y/' }).map((f) => f.path)).toEqual(['/a/y/z']);
    expect(listFiles(state, { agentDid: B, prefix: '/' })).toHaveLength(5);
    expect(listFiles(state, { agentDid: B, prefix: '' })).toHaveLength(5);
    expect(listFiles(state, { agentDid: B, prefix: '/private' })).toEqual([]);
    expectFailure(() => listFiles(state, { agentDid: B, prefix: '/a/..' }), ErrorType.InvalidInput, /invalid prefix/);
  });
});

describe('limits', () => {
  it('accepts exactly maxFileBytes and rejects one byte more', () => {
    const max = VFS_LIMITS.maxFileBytes;
    expect(write(emptyVfs(), A, '/f', 'x'.repeat(max)).state.totalBytes).toBe(max);
    expectFailure(
      () => write(emptyVfs(), A, '/f', 'x'.repeat(max + 1)),
      ErrorType.LimitExceeded,
      new RegExp(`cannot write /f: the content is ${max + 1} bytes, over the per-file limit of ${max} bytes`),
    );
  });

  it('applies the per-file limit to UTF-8 bytes, not characters', () => {
    const half = VFS_LIMITS.maxFileBytes / 2;
    expect(write(emptyVfs(), A, '/f', 'é'.repeat(half)).state.totalBytes).toBe(VFS_LIMITS.maxFileBytes);
    expectFailure(() => write(emptyVfs(), A, '/f', 'é'.repeat(half + 1)), ErrorType.LimitExceeded);
  });

  it('counts content as it weighs in the carried JSON state: escapes included', () => {
    // A control character is written \u0001 in JSON (6 bytes), a newline \n (2): the limit holds for the JSON.
    const sixth = VFS_LIMITS.maxFileBytes / 8;
    expect(contentBytes('\u0001'.repeat(sixth))).toBe(6 * sixth);
    expect(contentBytes('a\n"b')).toBe(JSON.stringify('a\n"b').length - 2);
    const written = write(emptyVfs(), A, '/f', '\u0001'.repeat(sixth));
    expect(written.state.totalBytes).toBe(JSON.stringify(written.state.files['/f']!.content).length - 2);
    expectFailure(
      () => write(emptyVfs(), A, '/f', '\u0001'.repeat(VFS_LIMITS.maxFileBytes / 6 + 1)),
      ErrorType.LimitExceeded,
    );
  });

  it('accepts exactly maxTotalBytes across files and rejects one byte more, counting replacements', () => {
    const files = VFS_LIMITS.maxTotalBytes / VFS_LIMITS.maxFileBytes;
    let state = emptyVfs();
    for (let i = 0; i < files; i += 1) state = write(state, A, `/f${i}`, 'x'.repeat(VFS_LIMITS.maxFileBytes)).state;
    expect(state.totalBytes).toBe(VFS_LIMITS.maxTotalBytes);
    expectFailure(
      () => write(state, A, '/one-more', 'x'),
      ErrorType.LimitExceeded,
      new RegExp(`would total ${VFS_LIMITS.maxTotalBytes + 1} bytes, over the limit of ${VFS_LIMITS.maxTotalBytes}`),
    );
    expect(write(state, A, '/f0', 'y'.repeat(VFS_LIMITS.maxFileBytes)).state.totalBytes).toBe(VFS_LIMITS.maxTotalBytes);
  });

  it('accepts maxFiles files and rejects one more, while updates still work', () => {
    let state = emptyVfs();
    for (let i = 0; i < VFS_LIMITS.maxFiles; i += 1) state = write(state, A, `/f${i}`, '').state;
    expect(vfsSummary(state).files).toBe(VFS_LIMITS.maxFiles);
    expectFailure(
      () => write(state, A, '/extra', ''),
      ErrorType.LimitExceeded,
      new RegExp(`already holds ${VFS_LIMITS.maxFiles} files, the limit is ${VFS_LIMITS.maxFiles}`),
    );
    expect(write(state, A, '/f0', 'changed').result.version).toBe(2);
  });

  it('bounds the number of snapshots', () => {
    let state = withDoc();
    for (let i = 0; i < VFS_LIMITS.maxSnapshots; i += 1) state = snapshot(state, A, `s${i}`).state;
    expectFailure(() => snapshot(state, A, 'one-more'), ErrorType.LimitExceeded, /already holds 10 snapshots/);
    const freed = deleteSnapshot(deepFreeze(state), { agentDid: A, snapshotId: 's3' }).state;
    expect(snapshot(freed, A, 'one-more').state.snapshots['one-more']).toBeDefined();
  });

  it('bounds the bytes all snapshots hold together, at the exact boundary', () => {
    let state = emptyVfs();
    const files = VFS_LIMITS.maxSnapshotBytes / VFS_LIMITS.maxFileBytes;
    for (let i = 0; i < files; i += 1) state = write(state, A, `/f${i}`, 'x'.repeat(VFS_LIMITS.maxFileBytes)).state;
    state = snapshot(state, A, 'full').state;
    expect(vfsSummary(state).snapshots).toEqual(['full']);
    state = write(state, A, '/f0', 'x').state;
    expect(state.totalBytes).toBe(VFS_LIMITS.maxSnapshotBytes - VFS_LIMITS.maxFileBytes + 1);
    expectFailure(
      () => snapshot(state, A, 'second'),
      ErrorType.LimitExceeded,
      new RegExp(`snapshots would total \\d+ bytes, over the limit of ${VFS_LIMITS.maxSnapshotBytes} bytes`),
    );
    const small = snapshot(emptyVfs(), A, 'empty').state;
    expect(snapshot(small, A, 'also-empty').state.snapshots['also-empty']!.bytes).toBe(0);
  });
});

describe('snapshots', () => {
  it('records a snapshot event and rejects a duplicate or malformed id', () => {
    const { state, events } = snapshot(withDoc('abc'), A, 'snap-1');
    expect(events).toEqual([{ kind: 'vfs_snapshot', snapshotId: 'snap-1', agentDid: A, files: 1, bytes: 3 }]);
    expect(state.snapshots['snap-1']).toMatchObject({ createdBy: A, createdAtMs: T0, bytes: 3 });
    expect(state.snapshots['snap-1']!.files['/doc']!.observed).toEqual({});
    expectFailure(() => snapshot(state, A, 'snap-1'), ErrorType.InvalidInput, /snapshot named snap-1 already exists/);
    expectFailure(() => snapshot(state, A, '../x'), ErrorType.InvalidInput, /snapshotId/);
  });

  it('treats prototype member names as ordinary snapshot ids', () => {
    expectFailure(() => restore(withDoc(), A, 'constructor'), ErrorType.NotFound, /no such snapshot/);
    const { state } = snapshot(withDoc(), A, 'constructor');
    expect(restore(state, A, 'constructor').state.files['/doc']!.version).toBe(2);
  });

  it('restores content and access lists with versions that keep growing and clocks that dominate', () => {
    let state = withDoc('v1');
    state = protect(state, A, 3, '/doc', [A, B]).state;
    state = snapshot(state, A, 'base').state;
    state = read(state, B, '/doc').state;
    state = write(state, B, '/doc', 'v2').state;
    state = protect(state, A, 3, '/doc', [A]).state;
    state = write(state, A, '/later', 'new').state;
    const clockBefore = state.files['/doc']!.clock;

    const { state: restored, events } = restore(state, A, 'base');
    expect(events).toEqual([{ kind: 'vfs_restore', snapshotId: 'base', agentDid: A, files: 1 }]);
    expect(restored.files['/doc']).toMatchObject({
      content: 'v1',
      version: 3,
      createdBy: A,
      updatedBy: A,
      updatedAtMs: T0 + 1,
      observed: { [A]: 3 },
    });
    expect(dominates(restored.files['/doc']!.clock, clockBefore)).toBe(true);
    expect(restored.files['/doc']!.clock).toEqual({ [A]: 2, [B]: 1 });
    expect(restored.acls['/doc']!.agents).toEqual([A, B]);
    expect(restored.files['/later']).toBeUndefined();
    expect(restored.versionFloor).toEqual({ '/later': 2 });
    expect(restored.totalBytes).toBe(2);
    expect(write(restored, A, '/later', 'again').result.version).toBe(3);
    // Bob's observation was reset, so his blind write is stale again.
    expectFailure(() => write(restored, B, '/doc', 'x'), ErrorType.StaleWrite);
  });

  it('restores a file deleted after the snapshot above its delete floor', () => {
    let state = withDoc();
    state = snapshot(state, A, 's').state;
    state = write(state, A, '/doc', 'v2').state;
    state = remove(state, A, '/doc').state;
    expect(state.versionFloor['/doc']).toBe(3);
    const restored = restore(state, A, 's').state;
    expect(restored.files['/doc']!.version).toBe(4);
    expect(restored.versionFloor).toEqual({});
  });

  it('refuses a restore that would change a path whose access list excludes the restorer', () => {
    let state = withDoc();
    state = snapshot(state, A, 's').state;
    state = protect(state, A, 3, '/doc', [A]).state;
    const copy = structuredClone(state);
    expectFailure(
      () => restore(state, B, 's'),
      ErrorType.PermissionDenied,
      /did:mesh:bob may not restore snapshot s: it would change 1 path\(s\)/,
    );
    expect(state).toEqual(copy);
    expect(restore(state, A, 's').state.acls).toEqual({});
  });

  it('answers NotFound for an unknown snapshot, on restore and delete', () => {
    expectFailure(() => restore(withDoc(), A, 'nope'), ErrorType.NotFound, /cannot restore snapshot nope/);
    expectFailure(
      () => deleteSnapshot(withDoc(), { agentDid: A, snapshotId: 'nope' }),
      ErrorType.NotFound,
      /cannot delete snapshot nope/,
    );
  });

  it('deletes a snapshot without touching files', () => {
    const state = snapshot(withDoc(), A, 's').state;
    const after = deleteSnapshot(deepFreeze(state), { agentDid: A, snapshotId: 's' }).state;
    expect(after.snapshots).toEqual({});
    expect(after.files).toBe(state.files);
  });
});

describe('state shape', () => {
  /** Exercises every kind of change so the state holds files, ACLs, floors, snapshots and conflicts. */
  const busyState = (): VfsState => {
    let state = withDoc('v1');
    state = write(state, B, '/notes/€uro.md', 'prix 5 €').state;
    state = protect(state, A, 3, '/doc', [A, B]).state;
    state = protect(state, C, 2, '/reserved', [C]).state;
    state = snapshot(state, A, 'snap:1').state;
    state = write(state, B, '/doc', 'conflicting', { mode: 'eventual' }).state;
    state = remove(state, B, '/notes/€uro.md').state;
    state = read(state, A, '/doc').state;
    return state;
  };

  it('survives a JSON round trip unchanged and keeps working afterwards', () => {
    const state = busyState();
    const roundTripped = JSON.parse(JSON.stringify(state)) as VfsState;
    expect(roundTripped).toStrictEqual(state);
    expect(restore(roundTripped, A, 'snap:1').state).toStrictEqual(restore(state, A, 'snap:1').state);
  });

  it('never mutates its inputs across a whole sequence of operations', () => {
    const state = busyState();
    const copy = structuredClone(state);
    deepFreeze(state);
    write(state, A, '/doc', 'x', { mode: 'eventual' });
    read(state, B, '/doc');
    remove(state, A, '/doc', { mode: 'eventual' });
    protect(state, A, 1, '/doc', [A]);
    snapshot(state, A, 'snap:2');
    restore(state, A, 'snap:1');
    deleteSnapshot(state, { agentDid: A, snapshotId: 'snap:1' });
    listFiles(state, { agentDid: A });
    expect(state).toStrictEqual(copy);
  });

  it('summarises counts and sorted snapshot ids', () => {
    let state = busyState();
    state = snapshot(state, A, 'a-first').state;
    expect(vfsSummary(state)).toEqual({
      files: 1,
      totalBytes: 'conflicting'.length,
      snapshots: ['a-first', 'snap:1'],
      conflicts: 1,
    });
    expect(vfsSummary(emptyVfs())).toEqual({ files: 0, totalBytes: 0, snapshots: [], conflicts: 0 });
  });
});
