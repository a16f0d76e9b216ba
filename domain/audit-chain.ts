import { sha256Hex } from './sha256.js';

/**
 * Version tags hashed into every entry, so two formats can never produce the same hashed text. v1 hashed the run id
 * of the Temporal run that recorded the entry; v2 records it beside the entry instead (docs/DESIGN.md §5.1), so a run
 * that replays another run's history (a reset) reproduces that run's entries exactly.
 */
export const AUDIT_FORMAT_V1 = 'hv-audit-v1';
export const AUDIT_FORMAT_V2 = 'hv-audit-v2';
/** The format new runs write. */
export const AUDIT_FORMAT = AUDIT_FORMAT_V2;
export type AuditFormat = typeof AUDIT_FORMAT_V1 | typeof AUDIT_FORMAT_V2;
export const isAuditFormat = (format: unknown): format is AuditFormat =>
  format === AUDIT_FORMAT_V1 || format === AUDIT_FORMAT_V2;
export const COMMITMENT_FORMAT = 'hv-commitment-v1';
export const CHECKPOINT_FORMAT = 'hv-checkpoint-v1';
export const GENESIS_HASH = '0'.repeat(64);

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/**
 * Canonical JSON: object keys sorted by code unit at every level, no whitespace, `undefined` members omitted.
 * Non-finite numbers have no JSON form and are refused rather than silently turned into `null`.
 *
 * Every link hashes two canonical texts, so this is on the workflow's hot path. It builds a sorted view of the value
 * (sharing every object or array that is already in canonical order) and lets the engine's native `JSON.stringify`
 * write it, which is 2–3× faster than concatenating strings in JavaScript; the output is byte for byte the same as
 * the plain recursive definition, which `test/domain/canonical-json.test.ts` keeps as its reference.
 */
export function canonicalJson(value: unknown): string {
  try {
    return JSON.stringify(sortedView(value));
  } catch (err) {
    if (err === NEEDS_STRING_PATH) return canonicalText(value);
    throw err;
  }
}

/**
 * Thrown by {@link sortedView} for an object that a fresh plain object cannot reproduce in sorted order: one with an
 * array-index key ("0", "17"), which engines enumerate before every other key whatever the insertion order, or with
 * a `__proto__` key, which an assignment would turn into a prototype.
 */
const NEEDS_STRING_PATH = new Error('canonical JSON: string path');

const unencodable = (value: unknown): TypeError =>
  typeof value === 'number'
    ? new TypeError(`canonical JSON cannot encode ${value}`)
    : new TypeError(`canonical JSON cannot encode a ${typeof value}`);

/** Whether `JSON.stringify` writes `value` as its own enumerable keys, in the order `Object.keys` lists them. */
function isPlainObject(value: object): boolean {
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/**
 * A value that `JSON.stringify` writes as the canonical text of `value`: objects with their keys in sorted order, no
 * `undefined` array items, no `toJSON` to call, no boxed primitives. Parts already in that form are returned as they
 * are, so a canonical input costs one walk and no copy.
 */
function sortedView(value: unknown): unknown {
  if (value === null) return null;
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return value;
    case 'number':
      if (!Number.isFinite(value)) throw unencodable(value);
      return value;
    case 'object':
      return Array.isArray(value) ? sortedArray(value) : sortedObject(value);
    default:
      throw unencodable(value);
  }
}

function sortedArray(array: readonly unknown[]): readonly unknown[] {
  // An array of another realm or class is copied, so nothing but Array.prototype is ever consulted.
  let out: unknown[] | undefined = Object.getPrototypeOf(array) === Array.prototype ? undefined : [];
  for (let i = 0; i < array.length; i++) {
    const item = array[i];
    const view = item == null ? null : sortedView(item);
    if (out === undefined && view !== item) out = array.slice(0, i);
    if (out !== undefined) out.push(view);
  }
  return out ?? array;
}

function sortedObject(object: object): object {
  const record = object as Record<string, unknown>;
  const keys = Object.keys(record);
  let sorted = isPlainObject(object);
  for (let i = 1; sorted && i < keys.length; i++) sorted = keys[i - 1]! < keys[i]!;
  // Kept as it is only when plain and already sorted: JSON.stringify then lists the same keys in the same order (and
  // drops `undefined` members as canonical JSON does). Anything else becomes a fresh plain object, even when empty,
  // so a Date or a Map never reaches its toJSON.
  if (!sorted) keys.sort();
  let out: Record<string, unknown> | undefined = sorted ? undefined : {};
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i]!;
    const item = record[key];
    const view = item === undefined ? undefined : sortedView(item);
    if (out === undefined && view !== item) out = copyPrefix(record, keys, i);
    if (out !== undefined && view !== undefined) addKey(out, key, view);
  }
  return out ?? object;
}

/** A fresh object holding `keys[0..end)` of `record`, whose values are already in canonical form. */
function copyPrefix(record: Record<string, unknown>, keys: readonly string[], end: number): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (let i = 0; i < end; i++) {
    const key = keys[i]!;
    const item = record[key];
    if (item !== undefined) addKey(out, key, item);
  }
  return out;
}

function addKey(out: Record<string, unknown>, key: string, value: unknown): void {
  const first = key.charCodeAt(0);
  if ((first >= 0x30 && first <= 0x39) || key === '__proto__') throw NEEDS_STRING_PATH;
  out[key] = value;
}

/** The plain recursive definition, for the rare object {@link sortedView} cannot reorder. */
function canonicalText(value: unknown): string {
  if (value === null) return 'null';
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return JSON.stringify(value);
    case 'number':
      if (!Number.isFinite(value)) throw unencodable(value);
      return JSON.stringify(value);
    case 'object': {
      if (Array.isArray(value)) {
        let out = '[';
        for (let i = 0; i < value.length; i++) {
          const item: unknown = value[i];
          out += `${i === 0 ? '' : ','}${item == null ? 'null' : canonicalText(item)}`;
        }
        return `${out}]`;
      }
      const record = value as Record<string, unknown>;
      let out = '';
      for (const key of Object.keys(record).sort()) {
        const item = record[key];
        if (item !== undefined) out += `${out === '' ? '' : ','}${JSON.stringify(key)}:${canonicalText(item)}`;
      }
      return `{${out}}`;
    }
    default:
      throw unencodable(value);
  }
}

export { sha256Hex } from './sha256.js';

/** Link hash: SHA-256 over the previous hash, a newline, and the canonical entry. */
export const chainHash = (prevHash: string, canonicalEntry: string): string =>
  sha256Hex(`${prevHash}\n${canonicalEntry}`);

/** The fields every format hashes. */
export interface HashedFields {
  sessionId: string;
  seq: number;
  kind: string;
  agentDid: string | null;
  payloadHash: string;
  recordedAtMs: number;
  workflowId: string;
}

/** A v1 entry also hashes the run id of the Temporal run that recorded it. */
export interface AuditEntryV1 extends HashedFields {
  format: typeof AUDIT_FORMAT_V1;
  runId: string;
}

export interface AuditEntryV2 extends HashedFields {
  format: typeof AUDIT_FORMAT_V2;
}

/**
 * The hashed part of one audit entry: exactly these fields, nothing else, so the canonical text the writer hashed is
 * the one the verifier rebuilds from a stored row. The payload is bound through its own hash, so retention can delete
 * the payload after its period while the chain (and every link after it) still verifies.
 */
export type AuditEntry = AuditEntryV1 | AuditEntryV2;

/**
 * One link as the writer hands it to the store: the hashed entry, its payload, the two hashes, and the run that
 * recorded it. The run id is provenance kept in the store's `run_id` column; a v2 entry does not hash it (a v1 entry
 * carries it inside `entry` too, hashed).
 */
export interface ChainedEntry {
  entry: AuditEntry;
  payload: Json;
  prevHash: string;
  hash: string;
  runId: string;
}

/** A link as runs before v2 kept it (carried through continue-as-new): its run id only inside a v1 entry. */
export type StoredLink = Omit<ChainedEntry, 'runId'> & { runId?: string };

/** The link with its run id beside the entry, whether it was kept that way or only inside its v1 entry. */
export const withRunId = (link: StoredLink): ChainedEntry =>
  link.runId !== undefined
    ? (link as ChainedEntry)
    : { ...link, runId: link.entry.format === AUDIT_FORMAT_V1 ? link.entry.runId : '' };

/**
 * The hashed entry of `format` built from its fields (a stored row, a packed link): the one place that decides which
 * fields a format hashes. Null for a format this code does not know.
 */
export function hashedEntry(
  sessionId: string,
  fields: Omit<HashedFields, 'sessionId'> & { format: string; runId: string },
): AuditEntry | null {
  // Written in sorted key order, the entry is already canonical and canonicalJson serialises it without a copy.
  if (fields.format === AUDIT_FORMAT_V2)
    return {
      agentDid: fields.agentDid,
      format: AUDIT_FORMAT_V2,
      kind: fields.kind,
      payloadHash: fields.payloadHash,
      recordedAtMs: fields.recordedAtMs,
      seq: fields.seq,
      sessionId,
      workflowId: fields.workflowId,
    };
  if (fields.format === AUDIT_FORMAT_V1)
    return {
      agentDid: fields.agentDid,
      format: AUDIT_FORMAT_V1,
      kind: fields.kind,
      payloadHash: fields.payloadHash,
      recordedAtMs: fields.recordedAtMs,
      runId: fields.runId,
      seq: fields.seq,
      sessionId,
      workflowId: fields.workflowId,
    };
  return null;
}

export interface ChainHead {
  seq: number;
  hash: string;
}

export const genesisHead = (): ChainHead => ({ seq: 0, hash: GENESIS_HASH });

/**
 * A SHA-256 of the UTF-8 bytes of a string, as lower-case hex. Inside workflows it is {@link sha256Hex} (the sandbox has
 * no node:crypto); node-side callers may pass node:crypto's, which computes the same digests faster.
 */
export type Sha256Hex = (text: string) => string;

export const payloadDigest = (payload: Json, hash: Sha256Hex = sha256Hex): string => hash(canonicalJson(payload));

/** The link hash of `entry` after `prevHash`. Writers, the store and the verifier all go through this one function. */
export const entryHash = (prevHash: string, entry: AuditEntry, hash: Sha256Hex = sha256Hex): string =>
  hash(`${prevHash}\n${canonicalJson(entry)}`);

export interface NewEntry {
  sessionId: string;
  kind: string;
  agentDid: string | null;
  payload: Json;
  recordedAtMs: number;
  workflowId: string;
  /** Hashed in v1, recorded beside the entry in v2. */
  runId: string;
  /** The format to write: {@link AUDIT_FORMAT} unless a run that started before v2 still writes v1. */
  format?: AuditFormat;
}

/**
 * Appends one entry to the chain: the next seq, linked to the head. Pure; the caller keeps the returned head. `hash`
 * changes only the speed, never the link: workflows use the default, node-side builders may pass a native SHA-256.
 */
export function appendEntry(
  head: ChainHead,
  input: NewEntry,
  hash: Sha256Hex = sha256Hex,
): { head: ChainHead; chained: ChainedEntry } {
  const { payload, runId } = input;
  // Written in sorted key order, the entry is already canonical and canonicalJson serialises it without a copy. Only
  // the AuditEntry fields are hashed: they are all the store keeps and the verifier can recompute.
  const entry: AuditEntry =
    input.format === AUDIT_FORMAT_V1
      ? {
          agentDid: input.agentDid,
          format: AUDIT_FORMAT_V1,
          kind: input.kind,
          payloadHash: payloadDigest(payload, hash),
          recordedAtMs: input.recordedAtMs,
          runId,
          seq: head.seq + 1,
          sessionId: input.sessionId,
          workflowId: input.workflowId,
        }
      : {
          agentDid: input.agentDid,
          format: AUDIT_FORMAT_V2,
          kind: input.kind,
          payloadHash: payloadDigest(payload, hash),
          recordedAtMs: input.recordedAtMs,
          seq: head.seq + 1,
          sessionId: input.sessionId,
          workflowId: input.workflowId,
        };
  const linkHash = entryHash(head.hash, entry, hash);
  return {
    head: { seq: entry.seq, hash: linkHash },
    chained: { entry, payload, prevHash: head.hash, hash: linkHash, runId },
  };
}

/**
 * Re-checks a batch handed over by the writer: each payload matches its hash, each link recomputes, and the links
 * follow each other. Returns the first problem, or null. The store runs it before writing anything, with `hash` set
 * to a native SHA-256 (node:crypto computes the same digests as the pure-JS one, faster).
 */
export function batchProblem(
  sessionId: string,
  batch: readonly ChainedEntry[],
  hash: Sha256Hex = sha256Hex,
): string | null {
  let previous: ChainedEntry | undefined;
  for (const link of batch) {
    const { entry } = link;
    if (!isAuditFormat(entry.format)) return `entry ${entry.seq} has unknown format ${String(entry.format)}`;
    if (entry.sessionId !== sessionId) return `entry ${entry.seq} belongs to session ${entry.sessionId}`;
    if (hash(canonicalJson(link.payload)) !== entry.payloadHash)
      return `entry ${entry.seq}: payload does not match its hash`;
    // Rebuilt from its fields, as the verifier will from the stored row: a field the format does not hash, smuggled
    // into the entry object, must not make a link that only the writer can recompute.
    if (entry.format === AUDIT_FORMAT_V1 && entry.runId !== link.runId)
      return `entry ${entry.seq}: its hashed run id is not the run id recorded beside it`;
    const hashed = hashedEntry(entry.sessionId, { ...entry, runId: link.runId });
    if (hash(`${link.prevHash}\n${canonicalJson(hashed)}`) !== link.hash)
      return `entry ${entry.seq}: hash does not recompute`;
    if (previous && (entry.seq !== previous.entry.seq + 1 || link.prevHash !== previous.hash))
      return `entry ${entry.seq} does not follow entry ${previous.entry.seq}`;
    previous = link;
  }
  return null;
}

/** What a session commits to when it ends; the signature (when a key is configured) covers exactly these fields. */
export interface CommitmentStatement {
  format: typeof COMMITMENT_FORMAT;
  sessionId: string;
  root: string;
  entryCount: number;
  participants: string[];
  killSwitchTriggered: boolean;
  terminatedAtMs: number;
}

/** The statement a commitment's signature covers, from any record that carries its fields. */
export const commitmentStatement = (
  c: Pick<
    CommitmentStatement,
    'sessionId' | 'root' | 'entryCount' | 'participants' | 'killSwitchTriggered' | 'terminatedAtMs'
  >,
): CommitmentStatement => ({
  format: COMMITMENT_FORMAT,
  sessionId: c.sessionId,
  root: c.root,
  entryCount: c.entryCount,
  participants: c.participants,
  killSwitchTriggered: c.killSwitchTriggered,
  terminatedAtMs: c.terminatedAtMs,
});

/** A signed statement "the chain of `sessionId` had `size` entries with head `root`", kept outside the audit table. */
export interface CheckpointStatement {
  format: typeof CHECKPOINT_FORMAT;
  sessionId: string;
  size: number;
  root: string;
  final: boolean;
  atMs: number;
}

/** The exact bytes a signature covers. */
export const statementBytes = (statement: CommitmentStatement | CheckpointStatement): string =>
  canonicalJson(statement);
