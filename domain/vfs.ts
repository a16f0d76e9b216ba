/**
 * The session's shared state: a small virtual file system (docs/DESIGN.md §R2), rebuilt as pure functions over plain JSON.
 *
 * Each session workflow owns exactly one `VfsState`, so paths are session-relative and carry no namespace prefix. A path
 * such as `/sessions/other/secret` is simply a file of that name inside *this* session: there is no other session's
 * data reachable by prefix, which is why the reference's namespace-prefix trick (docs/DESIGN.md §R2) cannot cross
 * sessions here.
 *
 * What this module does better than the reference (docs/DESIGN.md §R2):
 * - access control comes before existence: a path's access list is checked first for read, write, delete and ACL
 *   changes, so a protected path never reveals whether a file exists;
 * - every read names its reader, so there is no way around an access list;
 * - access lists can be changed only by the file's creator or an agent in ring 2 or lower;
 * - `..` segments are rejected, never resolved;
 * - versions, vector clocks and stale-write detection are real, and every change yields a {@link VfsEvent} for the
 *   audit trail;
 * - every size is bounded ({@link VFS_LIMITS}) so the state fits Temporal payloads.
 *
 * Functions never mutate their arguments: each returns a new state (sharing untouched parts with the old one), so the
 * session can keep the old state when a later step throws.
 */
import { sha256Hex, utf8ByteLength } from './sha256.js';
import { ErrorType, hvError } from './errors.js';
import { AgentDid, identifier } from './identifiers.js';
import { Ring } from './rings.js';
import type { ConsistencyMode } from './session-config.js';
import { parseInput } from './validation.js';
import { componentOf, compareClocks, merge, tick } from './vector-clock.js';
import type { ClockOrder, VectorClock } from './vector-clock.js';

/**
 * Size bounds of one session's VFS. The whole `VfsState`, snapshots included, is part of the session state that is
 * carried through continue-as-new and returned from queries, and Temporal fails a payload above 2 MiB. Live content
 * and snapshot content get 256 KiB each, so the VFS stays under ~0.6 MiB even with JSON escaping and leaves room for
 * participants, manifests and locks in the same payload. Snapshots share one byte cap instead of multiplying the live
 * size (the reference's snapshots are unbounded). Sizes are the bytes content takes in that JSON: UTF-8, escapes
 * included (a control character is 6 bytes there, a newline or quote 2), so no content can weigh more in the carried
 * state than it is counted for; paths, clocks and access lists are
 * bounded by the path, depth, file-count and agents-per-ACL limits.
 */
export const VFS_LIMITS = {
  maxPathLength: 512,
  maxDepth: 16,
  maxFileBytes: 64 * 1024,
  maxTotalBytes: 256 * 1024,
  maxFiles: 500,
  maxSnapshots: 10,
  maxSnapshotBytes: 256 * 1024,
  maxAgentsPerAcl: 100,
} as const;

/** One file. `version` only grows for a path, across deletes and restores (see {@link VfsState.versionFloor}). */
export interface VfsFile {
  content: string;
  /** sha256 hex of the UTF-8 content. */
  contentHash: string;
  /** UTF-8 length of `content`. */
  bytes: number;
  version: number;
  /** Ticked in the changing agent's component on every change of this file since it was (re)created. */
  clock: VectorClock;
  /** The agent that created the file; it may change the path's access list. */
  createdBy: string;
  updatedBy: string;
  updatedAtMs: number;
  /** Agent DID → the version it last read or wrote; the basis of stale-write detection. */
  observed: Record<string, number>;
}

/** An access list: when present, only these agents may read, write, delete or re-protect the path. */
export interface VfsAcl {
  agents: string[];
  setBy: string;
  setAtMs: number;
}

/** A copy of every file and access list. `bytes` is the content size it holds; `observed` maps are not kept. */
export interface VfsSnapshot {
  snapshotId: string;
  createdBy: string;
  createdAtMs: number;
  bytes: number;
  files: Record<string, VfsFile>;
  acls: Record<string, VfsAcl>;
}

/** The whole VFS of one session. Plain JSON only: it is carried through continue-as-new and returned from queries. */
export interface VfsState {
  /** Normalised path → file. */
  files: Record<string, VfsFile>;
  /** Normalised path → access list. An access list belongs to the path, so it survives deleting the file. */
  acls: Record<string, VfsAcl>;
  snapshots: Record<string, VfsSnapshot>;
  /**
   * Deleted path → the version its delete produced. A re-created file starts above it, so a version number is never
   * reused for a path and an old `baseVersion` can never match a new file. Cleared when the path holds a file again.
   */
  versionFloor: Record<string, number>;
  /** Sum of `bytes` over `files`. */
  totalBytes: number;
  /** How many eventual-mode writes or deletes overwrote changes their agent had not seen. */
  conflicts: number;
}

/**
 * One record per state change, for the audit trail (the session turns each into an audit entry). In a conflict the
 * `vfs_conflict` record precedes the `vfs_write` or `vfs_delete` that resolved it.
 */
export type VfsEvent =
  | {
      kind: 'vfs_write';
      path: string;
      agentDid: string;
      operation: 'create' | 'update';
      contentHash: string;
      previousHash: string | null;
      version: number;
      clock: VectorClock;
    }
  | { kind: 'vfs_delete'; path: string; agentDid: string; previousHash: string; version: number }
  | {
      kind: 'vfs_conflict';
      path: string;
      agentDid: string;
      expectedVersion: number;
      actualVersion: number;
      /** The path's clock before the write: the changes the writer had not seen. */
      clock: VectorClock;
      /** How the write's clock relates to `clock`; `concurrent` when another agent changed the path meanwhile. */
      order: ClockOrder;
    }
  | { kind: 'vfs_acl'; path: string; agentDid: string; agents: string[] | null }
  | { kind: 'vfs_snapshot'; snapshotId: string; agentDid: string; files: number; bytes: number }
  | { kind: 'vfs_restore'; snapshotId: string; agentDid: string; files: number };

export interface WriteFileArgs {
  agentDid: string;
  path: string;
  content: string;
  /** The version the change is based on; defaults to the version the agent last read or wrote (0 if none). */
  baseVersion?: number;
  mode: ConsistencyMode;
  nowMs: number;
}
export interface WriteFileResult {
  path: string;
  version: number;
  contentHash: string;
  clock: VectorClock;
  conflict: boolean;
}
export interface ReadFileArgs {
  agentDid: string;
  path: string;
}
export interface ReadFileResult {
  path: string;
  content: string;
  version: number;
  contentHash: string;
  clock: VectorClock;
  updatedBy: string;
  updatedAtMs: number;
}
export interface DeleteFileArgs {
  agentDid: string;
  path: string;
  baseVersion?: number;
  mode: ConsistencyMode;
  nowMs: number;
}
export interface DeleteFileResult {
  path: string;
  /** The version the delete produced; a re-created file starts above it. */
  version: number;
  conflict: boolean;
}
export interface ListFilesArgs {
  agentDid: string;
  prefix?: string;
}
export interface VfsListEntry {
  path: string;
  version: number;
  bytes: number;
  contentHash: string;
  updatedBy: string;
  updatedAtMs: number;
}
export interface SetAclArgs {
  agentDid: string;
  actorRing: Ring;
  path: string;
  /** The agents allowed on the path, or `null` to remove its access list. */
  agents: string[] | null;
  nowMs: number;
}
export interface SnapshotArgs {
  agentDid: string;
  snapshotId: string;
  nowMs: number;
}
export interface DeleteSnapshotArgs {
  agentDid: string;
  snapshotId: string;
}
export interface VfsSummary {
  files: number;
  totalBytes: number;
  snapshots: string[];
  conflicts: number;
}

export const emptyVfs = (): VfsState => ({
  files: {},
  acls: {},
  snapshots: {},
  versionFloor: {},
  totalBytes: 0,
  conflicts: 0,
});

/** sha256 hex of the UTF-8 encoding of `content`, as recorded in files and audit events. */
export const contentHash = (content: string): string => sha256Hex(content);

// C0, DEL and C1 control characters.
const CONTROL_CHARACTER = /\p{Cc}/u;
// An unpaired UTF-16 surrogate: UTF-8 cannot encode it, so two different strings would hash and count the same.
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
const PREVIEW_LENGTH = 80;

/** A short, escaped rendering of untrusted text for error messages. */
const preview = (text: string): string =>
  JSON.stringify(text.length > PREVIEW_LENGTH ? `${text.slice(0, PREVIEW_LENGTH)}…` : text);

const own = <T>(record: Record<string, T>, key: string): T | undefined =>
  Object.hasOwn(record, key) ? record[key] : undefined;

const without = <T>(record: Record<string, T>, key: string): Record<string, T> => {
  if (!Object.hasOwn(record, key)) return record;
  const { [key]: _removed, ...rest } = record;
  return rest;
};

/** Validates a raw path and returns its segments, with empty and `.` segments dropped. May be empty (the root). */
function pathSegments(path: unknown, field: 'path' | 'prefix' = 'path'): string[] {
  if (typeof path !== 'string') throw hvError(ErrorType.InvalidInput, `${field} must be a string`, {});
  const invalid = (reason: string) =>
    hvError(ErrorType.InvalidInput, `invalid ${field} ${preview(path)}: ${reason}`, { [field]: preview(path) });
  if (path.trim() === '') throw invalid('it must not be empty');
  if (CONTROL_CHARACTER.test(path)) throw invalid('it contains a control character');
  if (LONE_SURROGATE.test(path)) throw invalid('it contains an unpaired UTF-16 surrogate');
  if (path.includes('\\')) throw invalid('it contains a backslash; separate segments with /');
  const segments = path.split('/').filter((segment) => segment !== '' && segment !== '.');
  if (segments.includes('..')) throw invalid('".." segments are not allowed (parent traversal is never resolved)');
  if (segments.length > VFS_LIMITS.maxDepth) {
    throw invalid(`it is ${segments.length} segments deep; the limit is ${VFS_LIMITS.maxDepth}`);
  }
  const normalized = `/${segments.join('/')}`;
  if (normalized.length > VFS_LIMITS.maxPathLength) {
    throw invalid(
      `it is ${normalized.length} characters long once normalised; the limit is ${VFS_LIMITS.maxPathLength}`,
    );
  }
  return segments;
}

/**
 * The canonical form of a session-relative file path: one leading `/`, no repeated or trailing `/`, no `.` segments.
 * Examples: `a/b` → `/a/b`, `//a///b/` → `/a/b`, `/a/./b` → `/a/b`; `/a/..b` is kept (a name, not a traversal).
 *
 * Rejects with `InvalidInput`: non-strings, empty or whitespace-only paths, control characters (NUL included),
 * unpaired surrogates, backslashes, any `..` segment (rejected, never resolved, so no path can climb out of the tree),
 * the root `/` itself, more than `maxDepth` segments and more than `maxPathLength` characters after normalisation.
 * There is no namespace prefix to escape from: see the module comment.
 */
export function normalizePath(path: unknown): string {
  const segments = pathSegments(path);
  if (segments.length === 0) {
    throw hvError(ErrorType.InvalidInput, `invalid path ${preview(String(path))}: it names the root /, not a file`, {
      path: preview(String(path)),
    });
  }
  return `/${segments.join('/')}`;
}

const parseAgentDid = (agentDid: unknown): string => parseInput(AgentDid, agentDid, 'agentDid');
const parseSnapshotId = (snapshotId: unknown): string => parseInput(identifier('snapshotId'), snapshotId, 'snapshotId');

function parseBaseVersion(baseVersion: unknown): number | undefined {
  if (baseVersion === undefined) return undefined;
  if (typeof baseVersion !== 'number' || !Number.isSafeInteger(baseVersion) || baseVersion < 0) {
    throw hvError(ErrorType.InvalidInput, 'baseVersion must be a non-negative integer', {});
  }
  return baseVersion;
}

/** What `content` weighs in the session's JSON state: the UTF-8 bytes of its JSON string form, without the quotes. */
export const contentBytes = (content: string): number => utf8ByteLength(JSON.stringify(content)) - 2;

function parseContent(content: unknown, path: string): string {
  if (typeof content !== 'string') {
    throw hvError(ErrorType.InvalidInput, `content for ${path} must be a string`, { path });
  }
  if (LONE_SURROGATE.test(content)) {
    throw hvError(
      ErrorType.InvalidInput,
      `content for ${path} is not valid Unicode: it contains an unpaired UTF-16 surrogate, which UTF-8 cannot encode`,
      { path },
    );
  }
  return content;
}

/**
 * The access-list check, done before anything that depends on the file existing, so a protected path answers
 * `PermissionDenied` whether or not a file is there (the reference's delete leaked existence first).
 */
function assertPermitted(state: VfsState, path: string, agentDid: string, action: string): void {
  const acl = own(state.acls, path);
  if (acl !== undefined && !acl.agents.includes(agentDid)) {
    throw hvError(
      ErrorType.PermissionDenied,
      `agent ${agentDid} may not ${action} ${path}: the path's access list does not include it`,
      { path, agentDid },
    );
  }
}

/** The version a path is at now: its file's, else the version its last delete produced, else 0. */
const currentVersion = (state: VfsState, path: string): number =>
  own(state.files, path)?.version ?? own(state.versionFloor, path) ?? 0;

/**
 * Stale-change detection shared by write and delete. The expected version is `baseVersion` when given, else the
 * version the agent last read or wrote (0 when it never saw the file, so a blind overwrite is stale). An absent path
 * accepts 0 ("I expect no file") as well as the version its delete produced; so re-creating a deleted file without a
 * `baseVersion` is never stale, because a delete keeps no record of who had seen the old file.
 *
 * Strong mode throws `StaleWrite`. Eventual mode lets the change win (last writer wins) and returns the
 * `vfs_conflict` event to record. The write's clock compared there is the writer's own component advanced by this
 * change (the versions it missed are not credited to it), so a change made without seeing another agent's change
 * compares `concurrent`, the vector-clock definition of a conflict.
 */
function checkStale(
  state: VfsState,
  change: { path: string; agentDid: string; baseVersion: number | undefined; mode: ConsistencyMode; verb: string },
): Extract<VfsEvent, { kind: 'vfs_conflict' }> | null {
  const { path, agentDid, baseVersion } = change;
  const existing = own(state.files, path);
  const actualVersion = currentVersion(state, path);
  const expectedVersion = baseVersion ?? (existing ? (own(existing.observed, agentDid) ?? 0) : 0);
  if (expectedVersion === actualVersion || (existing === undefined && expectedVersion === 0)) return null;

  const clock = existing?.clock ?? {};
  if (change.mode !== 'eventual') {
    const basis =
      baseVersion !== undefined
        ? `it expected version ${expectedVersion}`
        : expectedVersion === 0
          ? 'it has not read the file'
          : `it last saw version ${expectedVersion}`;
    const actual = existing
      ? `the current version is ${actualVersion}`
      : actualVersion > 0
        ? `the file was deleted at version ${actualVersion}`
        : 'the file does not exist';
    throw hvError(
      ErrorType.StaleWrite,
      `stale ${change.verb} of ${path} by agent ${agentDid}: ${basis} but ${actual}; read the file again and retry`,
      { path, agentDid, expectedVersion, actualVersion, clock },
    );
  }
  const writeClock = tick({ [agentDid]: componentOf(clock, agentDid) }, agentDid);
  return {
    kind: 'vfs_conflict',
    path,
    agentDid,
    expectedVersion,
    actualVersion,
    clock,
    order: compareClocks(writeClock, clock),
  };
}

/**
 * Creates or replaces the file at `path`. Order of checks: input validity, the access list, size limits, then
 * staleness (see {@link checkStale}). The new version is one above the path's current version (or its delete floor),
 * and the clock is the current clock ticked for the writer, which equals the merge of the current clock with the
 * write's clock, so after a conflict the new version dominates both sides. The writer's `observed` entry becomes the
 * new version; other agents keep theirs, so their next blind change is detected as stale.
 *
 * Throws `InvalidInput`, `PermissionDenied`, `LimitExceeded` (file over `maxFileBytes`, session over `maxTotalBytes`
 * or `maxFiles`) and, in strong mode, `StaleWrite`. The caller checks rings and quarantine.
 */
export function writeFile(
  state: VfsState,
  args: WriteFileArgs,
): { state: VfsState; result: WriteFileResult; events: VfsEvent[] } {
  const path = normalizePath(args.path);
  const agentDid = parseAgentDid(args.agentDid);
  const baseVersion = parseBaseVersion(args.baseVersion);
  const content = parseContent(args.content, path);
  assertPermitted(state, path, agentDid, 'write');

  const bytes = contentBytes(content);
  if (bytes > VFS_LIMITS.maxFileBytes) {
    throw hvError(
      ErrorType.LimitExceeded,
      `agent ${agentDid} cannot write ${path}: the content is ${bytes} bytes, over the per-file limit of ${VFS_LIMITS.maxFileBytes} bytes`,
      { path, agentDid, bytes, limit: VFS_LIMITS.maxFileBytes },
    );
  }
  const existing = own(state.files, path);
  const fileCount = Object.keys(state.files).length;
  if (existing === undefined && fileCount >= VFS_LIMITS.maxFiles) {
    throw hvError(
      ErrorType.LimitExceeded,
      `agent ${agentDid} cannot create ${path}: the session already holds ${fileCount} files, the limit is ${VFS_LIMITS.maxFiles}`,
      { path, agentDid, files: fileCount, limit: VFS_LIMITS.maxFiles },
    );
  }
  const totalBytes = state.totalBytes - (existing?.bytes ?? 0) + bytes;
  if (totalBytes > VFS_LIMITS.maxTotalBytes) {
    throw hvError(
      ErrorType.LimitExceeded,
      `agent ${agentDid} cannot write ${path}: the session's files would total ${totalBytes} bytes, over the limit of ${VFS_LIMITS.maxTotalBytes} bytes`,
      { path, agentDid, totalBytes, limit: VFS_LIMITS.maxTotalBytes },
    );
  }
  const conflict = checkStale(state, { path, agentDid, baseVersion, mode: args.mode, verb: 'write' });

  const version = currentVersion(state, path) + 1;
  const file: VfsFile = {
    content,
    contentHash: sha256Hex(content),
    bytes,
    version,
    // A re-created file starts a fresh clock: a delete remembers nothing but the version floor.
    clock: tick(existing?.clock ?? {}, agentDid),
    createdBy: existing?.createdBy ?? agentDid,
    updatedBy: agentDid,
    updatedAtMs: args.nowMs,
    observed: { ...existing?.observed, [agentDid]: version },
  };
  const write: VfsEvent = {
    kind: 'vfs_write',
    path,
    agentDid,
    operation: existing ? 'update' : 'create',
    contentHash: file.contentHash,
    previousHash: existing?.contentHash ?? null,
    version,
    clock: file.clock,
  };
  return {
    state: {
      ...state,
      files: { ...state.files, [path]: file },
      versionFloor: without(state.versionFloor, path),
      totalBytes,
      conflicts: state.conflicts + (conflict ? 1 : 0),
    },
    result: { path, version, contentHash: file.contentHash, clock: file.clock, conflict: conflict !== null },
    events: conflict ? [conflict, write] : [write],
  };
}

/**
 * Reads a file. Every read names its reader and passes the access list first (the reference skipped the check when
 * no DID was given). Records the version read in `observed`, which is why a read returns a new state.
 *
 * Throws `InvalidInput`, `PermissionDenied`, then `NotFound`.
 */
export function readFile(state: VfsState, args: ReadFileArgs): { state: VfsState; result: ReadFileResult } {
  const path = normalizePath(args.path);
  const agentDid = parseAgentDid(args.agentDid);
  assertPermitted(state, path, agentDid, 'read');
  const file = own(state.files, path);
  if (file === undefined) {
    throw hvError(ErrorType.NotFound, `agent ${agentDid} cannot read ${path}: no such file in this session`, {
      path,
      agentDid,
    });
  }
  const observed = { ...file.observed, [agentDid]: file.version };
  return {
    state: { ...state, files: { ...state.files, [path]: { ...file, observed } } },
    result: {
      path,
      content: file.content,
      version: file.version,
      contentHash: file.contentHash,
      clock: file.clock,
      updatedBy: file.updatedBy,
      updatedAtMs: file.updatedAtMs,
    },
  };
}

/**
 * Deletes a file. The access list is checked before existence, so deleting a missing protected file is
 * `PermissionDenied`, not `NotFound`. The delete is a change like a write: it takes version current + 1 (kept as the
 * path's version floor) and is checked for staleness the same way. The path's access list stays: it protects the path,
 * not one file, so deleting a file never unprotects its name.
 *
 * Throws `InvalidInput`, `PermissionDenied`, `NotFound` and, in strong mode, `StaleWrite`.
 */
export function deleteFile(
  state: VfsState,
  args: DeleteFileArgs,
): { state: VfsState; result: DeleteFileResult; events: VfsEvent[] } {
  const path = normalizePath(args.path);
  const agentDid = parseAgentDid(args.agentDid);
  const baseVersion = parseBaseVersion(args.baseVersion);
  assertPermitted(state, path, agentDid, 'delete');
  const file = own(state.files, path);
  if (file === undefined) {
    throw hvError(ErrorType.NotFound, `agent ${agentDid} cannot delete ${path}: no such file in this session`, {
      path,
      agentDid,
    });
  }
  const conflict = checkStale(state, { path, agentDid, baseVersion, mode: args.mode, verb: 'delete' });
  const version = file.version + 1;
  const deletion: VfsEvent = { kind: 'vfs_delete', path, agentDid, previousHash: file.contentHash, version };
  return {
    state: {
      ...state,
      files: without(state.files, path),
      versionFloor: { ...state.versionFloor, [path]: version },
      totalBytes: state.totalBytes - file.bytes,
      conflicts: state.conflicts + (conflict ? 1 : 0),
    },
    result: { path, version, conflict: conflict !== null },
    events: conflict ? [conflict, deletion] : [deletion],
  };
}

/**
 * The files the agent may access, sorted by path (code-unit order, so it is deterministic). Paths whose access list
 * excludes the agent are left out entirely. `prefix` is normalised and matches whole segments: `/a` matches `/a` and
 * `/a/x` but not `/ab`; an omitted, empty or `/` prefix lists everything.
 */
export function listFiles(state: VfsState, args: ListFilesArgs): VfsListEntry[] {
  const agentDid = parseAgentDid(args.agentDid);
  const segments =
    args.prefix === undefined || args.prefix === '' || /^\/+$/.test(args.prefix)
      ? []
      : pathSegments(args.prefix, 'prefix');
  const prefix = segments.length === 0 ? null : `/${segments.join('/')}`;
  return Object.entries(state.files)
    .filter(([path]) => prefix === null || path === prefix || path.startsWith(`${prefix}/`))
    .filter(([path]) => {
      const acl = own(state.acls, path);
      return acl === undefined || acl.agents.includes(agentDid);
    })
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([path, file]) => ({
      path,
      version: file.version,
      bytes: file.bytes,
      contentHash: file.contentHash,
      updatedBy: file.updatedBy,
      updatedAtMs: file.updatedAtMs,
    }));
}

/**
 * Sets or (with `agents: null`) removes a path's access list. The actor must pass the current access list, and must be
 * the file's creator or in ring 2 or lower; protecting a path that holds no file needs ring 2 or lower. Both refusals
 * share one message, so the answer does not reveal whether a file exists. Agents are validated DIDs, deduplicated in
 * order, at least one (an empty list would lock everyone out for good; use `null` to clear) and at most
 * `maxAgentsPerAcl`. Removing an access list that does not exist changes nothing and records no event.
 *
 * Throws `InvalidInput`, `PermissionDenied` and `LimitExceeded`.
 */
export function setAcl(state: VfsState, args: SetAclArgs): { state: VfsState; events: VfsEvent[] } {
  const path = normalizePath(args.path);
  const agentDid = parseAgentDid(args.agentDid);
  const actorRing = parseInput(Ring, args.actorRing, 'actorRing');
  assertPermitted(state, path, agentDid, 'change the access list of');
  if (actorRing > 2 && own(state.files, path)?.createdBy !== agentDid) {
    throw hvError(
      ErrorType.PermissionDenied,
      `agent ${agentDid} (ring ${actorRing}) may not change the access list of ${path}: only the creator of the file there or an agent in ring 2 or lower may`,
      { path, agentDid, actorRing },
    );
  }

  if (args.agents === null) {
    if (!Object.hasOwn(state.acls, path)) return { state, events: [] };
    return {
      state: { ...state, acls: without(state.acls, path) },
      events: [{ kind: 'vfs_acl', path, agentDid, agents: null }],
    };
  }
  const agents = parseAclAgents(args.agents, path);
  const acl: VfsAcl = { agents, setBy: agentDid, setAtMs: args.nowMs };
  return {
    state: { ...state, acls: { ...state.acls, [path]: acl } },
    events: [{ kind: 'vfs_acl', path, agentDid, agents }],
  };
}

function parseAclAgents(agents: unknown, path: string): string[] {
  if (!Array.isArray(agents)) {
    throw hvError(ErrorType.InvalidInput, `the access list for ${path} must be an array of agent DIDs or null`, {
      path,
    });
  }
  const unique = [...new Set(agents.map((agent, index) => parseInput(AgentDid, agent, `agents[${index}]`)))];
  if (unique.length === 0) {
    throw hvError(
      ErrorType.InvalidInput,
      `the access list for ${path} must name at least one agent; pass null to remove it`,
      { path },
    );
  }
  if (unique.length > VFS_LIMITS.maxAgentsPerAcl) {
    throw hvError(
      ErrorType.LimitExceeded,
      `the access list for ${path} names ${unique.length} agents, over the limit of ${VFS_LIMITS.maxAgentsPerAcl}`,
      { path, agents: unique.length, limit: VFS_LIMITS.maxAgentsPerAcl },
    );
  }
  return unique;
}

/**
 * Records a copy of every file and access list under a caller-supplied id (the workflow passes a deterministic uuid).
 * Snapshots are bounded in number (`maxSnapshots`) and in the content they hold together (`maxSnapshotBytes`), because
 * they travel with the session state. `observed` maps are not copied: a restore resets them.
 *
 * Throws `InvalidInput` (bad or duplicate id) and `LimitExceeded`.
 */
export function createSnapshot(state: VfsState, args: SnapshotArgs): { state: VfsState; events: VfsEvent[] } {
  const agentDid = parseAgentDid(args.agentDid);
  const snapshotId = parseSnapshotId(args.snapshotId);
  if (Object.hasOwn(state.snapshots, snapshotId)) {
    throw hvError(ErrorType.InvalidInput, `a snapshot named ${snapshotId} already exists in this session`, {
      snapshotId,
    });
  }
  const held = Object.values(state.snapshots);
  if (held.length >= VFS_LIMITS.maxSnapshots) {
    throw hvError(
      ErrorType.LimitExceeded,
      `agent ${agentDid} cannot create snapshot ${snapshotId}: the session already holds ${held.length} snapshots, the limit is ${VFS_LIMITS.maxSnapshots}; delete one first`,
      { snapshotId, agentDid, snapshots: held.length, limit: VFS_LIMITS.maxSnapshots },
    );
  }
  const heldBytes = held.reduce((sum, snapshot) => sum + snapshot.bytes, 0);
  if (heldBytes + state.totalBytes > VFS_LIMITS.maxSnapshotBytes) {
    throw hvError(
      ErrorType.LimitExceeded,
      `agent ${agentDid} cannot create snapshot ${snapshotId}: it would hold ${state.totalBytes} bytes and snapshots would total ${heldBytes + state.totalBytes} bytes, over the limit of ${VFS_LIMITS.maxSnapshotBytes} bytes`,
      { snapshotId, agentDid, bytes: state.totalBytes, snapshotBytes: heldBytes, limit: VFS_LIMITS.maxSnapshotBytes },
    );
  }
  const files = Object.fromEntries(
    Object.entries(state.files).map(([path, file]) => [path, { ...file, observed: {} }]),
  );
  const snapshot: VfsSnapshot = {
    snapshotId,
    createdBy: agentDid,
    createdAtMs: args.nowMs,
    bytes: state.totalBytes,
    files,
    acls: state.acls,
  };
  return {
    state: { ...state, snapshots: { ...state.snapshots, [snapshotId]: snapshot } },
    events: [{ kind: 'vfs_snapshot', snapshotId, agentDid, files: Object.keys(files).length, bytes: state.totalBytes }],
  };
}

const sameAgents = (a: VfsAcl | undefined, b: VfsAcl | undefined): boolean =>
  a === undefined || b === undefined
    ? a === b
    : a.agents.length === b.agents.length && a.agents.every((agent) => b.agents.includes(agent));

/**
 * Replaces every file and access list with the snapshot's. Versions never go backwards: each restored file takes
 * max(current version or floor, snapshot version) + 1, its clock is the merge of the current and snapshot clocks
 * ticked for the restorer, and its `observed` map becomes `{ restorer: newVersion }`; files absent from the snapshot
 * are deleted with their floors kept. The snapshot itself is kept.
 *
 * A restore may not bypass access lists: it is refused when it would touch a path (a file there now or in the
 * snapshot, or a different access list) whose current access list excludes the restorer. The message gives only a
 * count, so it does not reveal protected paths.
 *
 * Throws `InvalidInput`, `NotFound` and `PermissionDenied`.
 */
export function restoreSnapshot(state: VfsState, args: SnapshotArgs): { state: VfsState; events: VfsEvent[] } {
  const agentDid = parseAgentDid(args.agentDid);
  const snapshotId = parseSnapshotId(args.snapshotId);
  const snapshot = own(state.snapshots, snapshotId);
  if (snapshot === undefined) {
    throw hvError(ErrorType.NotFound, `agent ${agentDid} cannot restore snapshot ${snapshotId}: no such snapshot`, {
      snapshotId,
      agentDid,
    });
  }
  const blocked = Object.entries(state.acls).filter(
    ([path, acl]) =>
      !acl.agents.includes(agentDid) &&
      (Object.hasOwn(state.files, path) ||
        Object.hasOwn(snapshot.files, path) ||
        !sameAgents(acl, own(snapshot.acls, path))),
  ).length;
  if (blocked > 0) {
    throw hvError(
      ErrorType.PermissionDenied,
      `agent ${agentDid} may not restore snapshot ${snapshotId}: it would change ${blocked} path(s) whose access list does not include the agent`,
      { snapshotId, agentDid, paths: blocked },
    );
  }

  let versionFloor = state.versionFloor;
  for (const [path, file] of Object.entries(state.files)) {
    if (!Object.hasOwn(snapshot.files, path)) versionFloor = { ...versionFloor, [path]: file.version + 1 };
  }
  const files: Record<string, VfsFile> = {};
  let totalBytes = 0;
  for (const [path, saved] of Object.entries(snapshot.files)) {
    const current = own(state.files, path);
    const version = Math.max(currentVersion(state, path), saved.version) + 1;
    files[path] = {
      ...saved,
      version,
      clock: tick(merge(current?.clock ?? {}, saved.clock), agentDid),
      updatedBy: agentDid,
      updatedAtMs: args.nowMs,
      observed: { [agentDid]: version },
    };
    totalBytes += saved.bytes;
    versionFloor = without(versionFloor, path);
  }
  return {
    state: { ...state, files, acls: snapshot.acls, versionFloor, totalBytes },
    events: [{ kind: 'vfs_restore', snapshotId, agentDid, files: Object.keys(files).length }],
  };
}

/** Drops a snapshot, freeing its share of `maxSnapshots` and `maxSnapshotBytes`. Throws `InvalidInput`, `NotFound`. */
export function deleteSnapshot(state: VfsState, args: DeleteSnapshotArgs): { state: VfsState } {
  const agentDid = parseAgentDid(args.agentDid);
  const snapshotId = parseSnapshotId(args.snapshotId);
  if (!Object.hasOwn(state.snapshots, snapshotId)) {
    throw hvError(ErrorType.NotFound, `agent ${agentDid} cannot delete snapshot ${snapshotId}: no such snapshot`, {
      snapshotId,
      agentDid,
    });
  }
  return { state: { ...state, snapshots: without(state.snapshots, snapshotId) } };
}

/** Counts for the session view; snapshot ids sorted. */
export function vfsSummary(state: VfsState): VfsSummary {
  return {
    files: Object.keys(state.files).length,
    totalBytes: state.totalBytes,
    snapshots: Object.keys(state.snapshots).sort(),
    conflicts: state.conflicts,
  };
}
